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

/// Where each line of a text starts. Built once per file in linear time; each lookup is a
/// binary search plus a scan of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIndex {
    text_len: TextSize,
    /// Byte offset at which each line starts; `line_starts[0] == 0`.
    line_starts: Vec<TextSize>,
    /// Per line: whether it is pure ASCII (then columns are byte offsets).
    ascii: Vec<bool>,
    /// The text of non-ASCII lines, to count characters in.
    text: String,
}

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![TextSize::from(0)];
        let mut ascii = Vec::new();
        let mut line_ascii = true;
        for (i, b) in text.bytes().enumerate() {
            line_ascii &= b.is_ascii();
            if b == b'\n' {
                line_starts.push(TextSize::from(i as u32 + 1));
                ascii.push(line_ascii);
                line_ascii = true;
            }
        }
        ascii.push(line_ascii);
        let any_unicode = ascii.iter().any(|a| !a);
        LineIndex {
            text_len: TextSize::of(text),
            line_starts,
            ascii,
            text: if any_unicode { text.to_owned() } else { String::new() },
        }
    }

    /// The line and column of a byte offset (clamped to the text; an offset inside a
    /// multi-byte character counts as that character).
    pub fn line_col(&self, offset: TextSize) -> LineCol {
        let offset = offset.min(self.text_len);
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let start = self.line_starts[line];
        let col = if self.ascii[line] {
            u32::from(offset - start)
        } else {
            let (start, offset) = (usize::from(start), usize::from(offset));
            let mut end = offset;
            while !self.text.is_char_boundary(end) {
                end -= 1;
            }
            self.text[start..end].chars().count() as u32
        };
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
        let range = self.line_range(pos.line)?;
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
}
