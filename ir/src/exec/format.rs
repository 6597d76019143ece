//! Text: how values print (`print` and `str`, spec/language.md 6.10) and how source
//! positions appear in messages and traces.

use crate::Span;

/// The text of a float: the shortest decimal form that reads back as the same number,
/// always with a `.` or an exponent (`3.0`, `0.1`, `-0.0`, `1e16`, `1.5e-7`, `inf`, `NaN`).
/// This is exactly what Rust's `{:?}` gives an `f64`.
pub(super) fn float_text(value: f64) -> String {
    format!("{value:?}")
}

/// Renders spans for people: through the caller's function (`12:9`) if it gave one,
/// as byte ranges (`@30..58`) otherwise.
#[derive(Clone, Copy, Default)]
pub(super) struct Positions<'a> {
    render: Option<&'a dyn Fn(Span) -> String>,
}

impl<'a> Positions<'a> {
    /// Positions rendered by `render`, or byte ranges.
    pub(super) fn new(render: Option<&'a dyn Fn(Span) -> String>) -> Positions<'a> {
        Positions { render }
    }

    /// The position of `span`.
    pub(super) fn render(&self, span: Span) -> String {
        match self.render {
            Some(render) => render(span),
            None => format!("@{}..{}", span.start, span.end),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_the_spec_says() {
        let cases = [
            (3.0, "3.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (0.0001, "0.0001"),
            (1e15, "1000000000000000.0"),
            (-0.0, "-0.0"),
            (1e16, "1e16"),
            (1.5e-7, "1.5e-7"),
            (1e300, "1e300"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "NaN"),
        ];
        for (value, text) in cases {
            assert_eq!(float_text(value), text);
        }
    }

    #[test]
    fn positions_are_rendered_by_the_caller_or_as_byte_ranges() {
        let lines = |span: Span| format!("line {}", span.start / 10 + 1);
        assert_eq!(Positions::new(Some(&lines)).render(Span::new(25, 30)), "line 3");
        assert_eq!(Positions::new(None).render(Span::new(4, 9)), "@4..9");
    }
}
