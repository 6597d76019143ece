//! Source spans: where in the input an instruction, an allocation or a diagnostic is.

use serde::{Deserialize, Serialize};

/// A byte range `start..end` of a source file. Frontends that have no source text (IR
/// built through the builder API) use [`Span::NONE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset just past the last byte.
    pub end: u32,
}

impl Span {
    /// The empty span of IR that has no source.
    pub const NONE: Span = Span { start: 0, end: 0 };

    /// `start..end`; the bounds are swapped if given in the wrong order.
    pub fn new(start: u32, end: u32) -> Span {
        Span { start: start.min(end), end: start.max(end) }
    }

    /// Length in bytes.
    pub fn len(self) -> u32 {
        // Spans read from JSON skip `Span::new`; an inverted one (which the validator
        // rejects) must still not underflow here.
        self.end.saturating_sub(self.start)
    }

    /// Whether the span covers no bytes (a position, or no source at all).
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The smallest span covering both.
    pub fn cover(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// Whether `other` lies within this span.
    pub fn contains(self, other: Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_and_contain() {
        let a = Span::new(10, 4);
        assert_eq!(a, Span { start: 4, end: 10 });
        assert_eq!(a.len(), 6);
        let b = Span::new(8, 20);
        assert_eq!(a.cover(b), Span::new(4, 20));
        assert!(a.cover(b).contains(a) && !a.contains(b));
        assert!(Span::NONE.is_empty());
        assert_eq!(a.to_string(), "4..10");
    }

    #[test]
    fn spans_are_json_objects() {
        let json = serde_json::to_string(&Span::new(3, 7)).unwrap();
        assert_eq!(json, r#"{"start":3,"end":7}"#);
        assert_eq!(serde_json::from_str::<Span>(&json).unwrap(), Span::new(3, 7));
    }
}
