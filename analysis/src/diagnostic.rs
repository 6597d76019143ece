//! Diagnostics as values: what every query that can find a problem returns.

use custody_syntax::{SyntaxKind, SyntaxNode, TextRange};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The program is wrong.
    Error,
    /// The program is probably not what its author meant.
    Warning,
    /// Extra information.
    Note,
}

impl Severity {
    /// `error`, `warning` or `note`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A problem found in a program, with the stable code of `spec/language.md` Appendix A.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Error, warning or note.
    pub severity: Severity,
    /// The stable kebab-case code: `type-mismatch`, `unresolved-name`, ...
    pub code: &'static str,
    /// What is wrong: what was expected and what was found.
    pub message: String,
    /// The place a reader must fix (byte range of the file).
    pub range: TextRange,
    /// Other places that explain it.
    pub related: Vec<(TextRange, String)>,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: &'static str, range: TextRange, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Error, code, message: message.into(), range, related: Vec::new() }
    }

    /// A warning.
    pub fn warning(code: &'static str, range: TextRange, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, code, message: message.into(), range, related: Vec::new() }
    }

    /// Adds a related place.
    pub fn with_related(mut self, range: TextRange, message: impl Into<String>) -> Diagnostic {
        self.related.push((range, message.into()));
        self
    }

    /// The same diagnostic, `offset` bytes further into the file (diagnostics of a body are
    /// computed relative to its item, which keeps them valid when text before it changes).
    pub fn shifted(&self, offset: custody_syntax::TextSize) -> Diagnostic {
        Diagnostic {
            range: self.range + offset,
            related: self.related.iter().map(|(r, m)| (*r + offset, m.clone())).collect(),
            ..self.clone()
        }
    }
}

/// The stable diagnostic codes.
pub mod codes {
    /// Lexical and grammar errors.
    pub const SYNTAX: &str = "syntax";
    /// A name that resolves to nothing.
    pub const UNRESOLVED_NAME: &str = "unresolved-name";
    /// A type rule is broken.
    pub const TYPE_MISMATCH: &str = "type-mismatch";
    /// Two definitions with one name, or a definition named after a built-in.
    pub const DUPLICATE_DEFINITION: &str = "duplicate-definition";
    /// Too few or too many arguments or fields.
    pub const ARGUMENT_COUNT: &str = "argument-count";
    /// A function with a result type can reach its end.
    pub const MISSING_RETURN: &str = "missing-return";
    /// `break`/`continue` outside a loop, a misplaced `return` value, `spawn` of a non-call.
    pub const INVALID_CONTROL_FLOW: &str = "invalid-control-flow";
    /// A variable read after `free` ended it (on some path, before it was assigned again).
    pub const USE_AFTER_FREE: &str = "use-after-free";
    /// A second `free` of a variable that an earlier `free` already ended.
    pub const DOUBLE_FREE: &str = "double-free";
    /// A manual allocation neither freed nor returned (nor handed over) on some path.
    pub const LEAK: &str = "leak";
    /// A `free` of something the function does not control.
    pub const FREE_BORROWED: &str = "free-borrowed";
    /// A `borrow` parameter (or a `drop` block's `self`) that escapes, is passed to an
    /// `own` parameter, or is changed where only an owned one could be.
    pub const MODE_VIOLATION: &str = "mode-violation";
    /// Objects that may form a reference cycle the plan frees with the cycle collector.
    pub const CYCLE: &str = "cycle";
}

/// The byte range of an IR span, as diagnostics carry it.
pub(crate) fn span_range(span: custody_ir::Span) -> TextRange {
    TextRange::new(span.start.into(), span.end.into())
}

/// The name references inside `range` of the tree under `root` (empty if `range` lies
/// outside it), in order: where a diagnostic about a variable points within a statement.
pub(crate) fn name_refs_within(root: &SyntaxNode, range: TextRange) -> Vec<SyntaxNode> {
    if range.is_empty() || !root.text_range().contains_range(range) {
        return Vec::new();
    }
    let around = match root.covering_element(range) {
        custody_syntax::NodeOrToken::Node(n) => n,
        custody_syntax::NodeOrToken::Token(t) => match t.parent() {
            Some(p) => p,
            None => return Vec::new(),
        },
    };
    around
        .descendants()
        .filter(|n| n.kind() == SyntaxKind::NAME_REF && range.contains_range(n.text_range()))
        .collect()
}
