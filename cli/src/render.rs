//! Rendering diagnostics the way rustc does, with annotate-snippets.
//!
//! ```text
//! error[syntax]: expected `;` after the `let` statement
//!  --> prog.cdy:2:14
//!   |
//! 2 |     let x = 1
//!   |              ^
//! ```
//!
//! Colour only when writing to a terminal; golden tests and pipes get plain text.

use annotate_snippets::{AnnotationKind, Level, Snippet};
use custody_syntax::{LineIndex, TextRange};
use std::io::IsTerminal;
use std::path::Path;

/// A line longer than this many bytes is shown through a window around the spans.
const LONG_LINE: usize = 2048;
/// How many bytes of a long line are kept on each side of the spans: more than any
/// terminal shows.
const WINDOW: u32 = 256;

/// The offset, moved back to the start of the character it falls in.
fn char_floor(text: &str, offset: custody_syntax::TextSize) -> custody_syntax::TextSize {
    let mut o = usize::from(offset).min(text.len());
    while !text.is_char_boundary(o) {
        o -= 1;
    }
    custody_syntax::TextSize::from(o as u32)
}

/// The offset, moved forward to the end of the character it falls in.
fn char_ceil(text: &str, offset: custody_syntax::TextSize) -> custody_syntax::TextSize {
    let mut o = usize::from(offset).min(text.len());
    while !text.is_char_boundary(o) {
        o += 1;
    }
    custody_syntax::TextSize::from(o as u32)
}

/// A source file prepared for rendering: its display name, text and line index.
pub(crate) struct SourceFile<'a> {
    name: String,
    text: &'a str,
    index: LineIndex,
}

impl<'a> SourceFile<'a> {
    pub(crate) fn new(path: &Path, text: &'a str) -> SourceFile<'a> {
        SourceFile { name: path.display().to_string(), text, index: LineIndex::new(text) }
    }
}

/// Renders diagnostics, plain or coloured.
pub(crate) struct Renderer {
    inner: annotate_snippets::Renderer,
}

impl Renderer {
    /// Coloured if standard error is a terminal, plain otherwise.
    pub(crate) fn for_stderr() -> Renderer {
        if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Renderer { inner: annotate_snippets::Renderer::styled() }
        } else {
            Renderer::plain()
        }
    }

    /// Coloured if standard output is a terminal, plain otherwise.
    pub(crate) fn for_stdout() -> Renderer {
        if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Renderer { inner: annotate_snippets::Renderer::styled() }
        } else {
            Renderer::plain()
        }
    }

    /// Plain text, for pipes and golden tests.
    pub(crate) fn plain() -> Renderer {
        Renderer { inner: annotate_snippets::Renderer::plain() }
    }

    /// One error with its code, location line and the source line(s) underlined.
    pub(crate) fn error(&self, file: &SourceFile<'_>, range: TextRange, message: &str, code: &str) -> String {
        self.render(file, Level::ERROR, code, message, range, &[])
    }

    /// A diagnostic with its severity, code, primary span and related spans.
    pub(crate) fn diagnostic(&self, file: &SourceFile<'_>, d: &custody_analysis::Diagnostic) -> String {
        let level = match d.severity {
            custody_analysis::Severity::Error => Level::ERROR,
            custody_analysis::Severity::Warning => Level::WARNING,
            custody_analysis::Severity::Note => Level::NOTE,
        };
        self.render(file, level, d.code, &d.message, d.range, &d.related)
    }

    fn render(
        &self,
        file: &SourceFile<'_>,
        level: Level<'_>,
        code: &str,
        message: &str,
        range: TextRange,
        related: &[(TextRange, String)],
    ) -> String {
        // annotate-snippets shows the lines the spans touch; give it only those lines so
        // huge files stay cheap to render.
        let mut all = vec![range];
        all.extend(related.iter().map(|(r, _)| *r));
        let start_line = all.iter().map(|r| file.index.line_col(r.start()).line).min().unwrap_or(1);
        let end_line = all.iter().map(|r| file.index.line_col(r.end()).line).max().unwrap_or(1);
        let text_len = custody_syntax::TextSize::of(file.text);
        let mut first = file.index.line_range(start_line).map_or(0.into(), |r| r.start());
        // A byte-order mark takes no column (spec/language.md, 1): not shown.
        if first == 0.into() && file.text.starts_with(custody_syntax::lexer::BOM) {
            first = custody_syntax::TextSize::of(custody_syntax::lexer::BOM);
        }
        let mut last = file.index.line_range(end_line).map_or(text_len, |r| r.end());
        // annotate-snippets scans every line it is given, so a diagnostic on a very long
        // line (thousands of errors on one generated line) would cost the whole line each:
        // quadratic. It shows only a terminal's width around the span anyway, so a long
        // one-line excerpt is cut to a window around the spans, at character boundaries,
        // and the column of the location line is put back from the line index.
        let mut relocated = None;
        if start_line == end_line && usize::from(last - first) > LONG_LINE {
            let lo = all.iter().map(|r| r.start()).min().unwrap_or(first);
            let hi = all.iter().map(|r| r.end()).max().unwrap_or(last);
            let window = custody_syntax::TextSize::from(WINDOW);
            let window_start = char_floor(file.text, lo.max(first + window) - window).max(first);
            let window_end = char_ceil(file.text, (hi + window).min(last)).min(last);
            if window_start > first || window_end < last {
                relocated = Some(file.index.line_col(range.start()));
                first = window_start;
                last = window_end;
            }
        }
        let excerpt = &file.text[TextRange::new(first, last)];
        let local = |r: TextRange| {
            let clamp = |o: custody_syntax::TextSize| usize::from(o.clamp(first, last) - first);
            clamp(r.start())..clamp(r.end())
        };
        let mut snippet = Snippet::source(excerpt)
            .line_start(start_line as usize)
            .path(file.name.as_str())
            .fold(true)
            .annotation(AnnotationKind::Primary.span(local(range)));
        for (r, label) in related {
            snippet = snippet.annotation(AnnotationKind::Context.span(local(*r)).label(label.as_str()));
        }
        let report = &[level.primary_title(message).id(code).element(snippet)];
        let mut out = self.inner.render(report);
        if let Some(pos) = relocated {
            // annotate-snippets counted the column from the window's start: put the
            // line's real column into the location line.
            let shown = excerpt[..local(range).start].chars().count() + 1;
            let wrong = format!("{}:{}:{shown}", file.name, pos.line);
            let right = format!("{}:{}:{}", file.name, pos.line, pos.col);
            out = out.replacen(&wrong, &right, 1);
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    #[test]
    fn renders_like_rustc() {
        let text = "fn main() {\n    let x = 1\n    print(x);\n}\n";
        let parse = custody_syntax::parse(text);
        let file = SourceFile::new(Path::new("prog.cdy"), text);
        let error = &parse.errors()[0];
        let out = Renderer::plain().error(&file, error.range, &error.message, "syntax");
        expect![[r#"
            error[syntax]: expected `;` after the `let` statement
             --> prog.cdy:2:14
              |
            2 |     let x = 1
              |              ^
        "#]]
        .assert_eq(&out);
    }
}
