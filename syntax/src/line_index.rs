//! Byte offsets to 1-based line and column numbers.
//!
//! Columns count Unicode characters (scalar values), not bytes, so a caret under `é`
//! lands where a person expects. Lines end at `\n`; a `\r` before it belongs to the line.

use rowan::TextSize;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineCol {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
}

/// Where each line of a text starts, and where its multi-byte characters are. Built once
/// per file in linear time; each lookup is two binary searches, however long the line (a
/// generated file with thousands of errors on one line must not cost a scan of the line
/// per error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIndex {
    text_len: TextSize,
    /// Byte offset at which each line starts; `line_starts[0] == 0`.
    line_starts: Vec<TextSize>,
    /// The start of every character longer than one byte, in order, with its length.
    wide: Vec<(TextSize, u8)>,
    /// `extra[i]`: how many bytes beyond one per character the first `i` wide characters
    /// take (`extra.len() == wide.len() + 1`).
    extra: Vec<u32>,
    /// Whether the text starts with a byte-order mark, which takes no column.
    bom: bool,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![TextSize::from(0)];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(TextSize::from(i as u32 + 1));
            }
        }
        let mut wide = Vec::new();
        let mut extra = vec![0];
        if !text.is_ascii() {
            let mut total = 0;
            for (i, c) in text.char_indices() {
                let len = c.len_utf8();
                if len > 1 {
                    wide.push((TextSize::from(i as u32), len as u8));
                    total += len as u32 - 1;
                    extra.push(total);
                }
            }
        }
        let bom = text.starts_with(crate::lexer::BOM);
        LineIndex { text_len: TextSize::of(text), line_starts, wide, extra, bom }
    }

    /// The line and column of a byte offset (clamped to the text; an offset inside a
    /// multi-byte character counts as that character).
    pub fn line_col(&self, offset: TextSize) -> LineCol {
        let offset = offset.min(self.text_len);
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        // The wide characters starting in `start..offset`; one that `offset` falls inside
        // counts as its start.
        let first = self.wide.partition_point(|&(at, _)| at < start);
        let mut last = self.wide.partition_point(|&(at, _)| at < offset);
        let mut end = offset;
        if last > first {
            let (at, len) = self.wide[last - 1];
            if at + TextSize::from(u32::from(len)) > offset {
                end = at;
                last -= 1;
            }
        }
        let mut col = u32::from(end - start) - (self.extra[last] - self.extra[first]);
        if self.bom && line == 0 && end > start {
            col -= 1;
        }
        LineCol { line: line as u32 + 1, col: col + 1 }
    }

    /// The byte range of a 1-based line, without its line break; `None` past the end.
    pub fn line_range(&self, line: u32) -> Option<rowan::TextRange> {
        let idx = (line as usize).checked_sub(1)?;
        let start = *self.line_starts.get(idx)?;
        let end = self.line_starts.get(idx + 1).map_or(self.text_len, |next| *next - TextSize::from(1));
        Some(rowan::TextRange::new(start, end))
    }

    /// The byte offset of a 1-based line and column, if it lies inside the text.
    pub fn offset(&self, pos: LineCol, text: &str) -> Option<TextSize> {
        let mut range = self.line_range(pos.line)?;
        if self.bom && pos.line == 1 {
            range = rowan::TextRange::new(TextSize::of(crate::lexer::BOM), range.end());
        }
        let line = &text[range];
        let col = (pos.col as usize).checked_sub(1)?;
        if col == line.chars().count() {
            return Some(range.end());
        }
        line.char_indices().nth(col).map(|(i, _)| range.start() + TextSize::from(i as u32))
    }

    /// How many lines the text has.
    pub fn line_count(&self) -> u32 {
        self.line_starts.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_unicode_lines() {
        let text = "ab\nçé x\n\nlast";
        let index = LineIndex::new(text);
        let at = |i: u32| index.line_col(TextSize::from(i));
        assert_eq!(at(0), LineCol { line: 1, col: 1 });
        assert_eq!(at(2), LineCol { line: 1, col: 3 });
        assert_eq!(at(3), LineCol { line: 2, col: 1 });
        // `x` is after two 2-byte characters and a space.
        assert_eq!(at(8), LineCol { line: 2, col: 4 });
        assert_eq!(at(10), LineCol { line: 3, col: 1 });
        assert_eq!(at(11), LineCol { line: 4, col: 1 });
        assert_eq!(at(999), LineCol { line: 4, col: 5 });
        assert_eq!(index.line_count(), 4);
        assert_eq!(index.offset(LineCol { line: 2, col: 4 }, text), Some(TextSize::from(8)));
        assert_eq!(&text[index.line_range(2).unwrap()], "çé x");
    }

    #[test]
    fn a_byte_order_mark_takes_no_column() {
        let text = "\u{feff}fn main() {}\nx";
        let index = LineIndex::new(text);
        assert_eq!(index.line_col(TextSize::from(0)), LineCol { line: 1, col: 1 });
        assert_eq!(index.line_col(TextSize::from(3)), LineCol { line: 1, col: 1 });
        assert_eq!(index.line_col(TextSize::from(6)), LineCol { line: 1, col: 4 });
        assert_eq!(index.line_col(TextSize::from(16)), LineCol { line: 2, col: 1 });
        assert_eq!(index.offset(LineCol { line: 1, col: 4 }, text), Some(TextSize::from(6)));
    }

    #[test]
    fn offsets_inside_characters_and_after_wide_lines() {
        let text = "é€😀x\nab€\n";
        let index = LineIndex::new(text);
        let naive = |offset: usize| {
            let mut end = offset;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            let line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
            let line = text[..line_start].matches('\n').count() as u32 + 1;
            LineCol { line, col: text[line_start..end].chars().count() as u32 + 1 }
        };
        for offset in 0..=text.len() {
            assert_eq!(index.line_col(TextSize::from(offset as u32)), naive(offset), "offset {offset}");
        }
    }
}
