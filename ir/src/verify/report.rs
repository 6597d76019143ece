//! What the verifier finds: named rules, findings with their function, path and operation,
//! and the report that gathers them.

use crate::{InstAddr, Span};
use serde::Serialize;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The plan is wrong on the path shown: a backend running it is unsound there.
    Error,
    /// Something the verifier cannot prove locally (aliasing through the heap, code it
    /// cannot see); the checked interpreter stays the judge.
    Note,
}

/// The checks, each a named rule of `spec/rules.md` (section "Plan verification").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Rule {
    /// The plan does not fit the program (an operation on something that does not exist).
    InvalidPlan,
    /// An owned reference is lost: its last name is overwritten or ended, or the function
    /// returns, while the function still owns it.
    Leak,
    /// A value is released (dropped, freed, destroyed) after it was already released.
    DoubleRelease,
    /// A value is released although the function owns no reference to it.
    ReleaseUnowned,
    /// A value is read, dup'd or moved after it was released, handed over or freed.
    UseAfterRelease,
    /// A value is stored, captured or passed to an `own` parameter without a reference
    /// of its own.
    HandoverUnowned,
    /// Two paths reach a block owning different numbers of references to one value.
    PathMismatch,
    /// A field is taken (`move` on a field) twice out of one object.
    DoubleTake,
    /// A place is released before the value about to be stored into it is secured.
    StoreOrder,
    /// A value is released with an operation its placement ignores (a `drop` of a
    /// `heap_unique` value), or destroyed while counted.
    ReleaseKind,
    /// `cow_in_place` on an array that may be shared or is constant data.
    CowShared,
    /// An array that may be shared or constant is written without a copy-on-write
    /// operation before the write.
    CowMissing,
    /// Arenas are not opened and freed in step: an `arena_exit` of an arena that is not
    /// open, an `arena_enter` of one already open, an arena still open at `return`, an
    /// arena allocation with its arena closed, or paths that disagree on what is open.
    ArenaBalance,
    /// An object with a `drop` block is released where plain counting would not let it
    /// die (not at its scope's end, its reassignment or its `free`).
    ObservableEarly,
    /// A function returns an owned reference on one path and a borrowed one on another.
    ReturnMixed,
    /// A property the verifier cannot prove from the function alone (a note).
    Unproven,
}

impl Rule {
    /// Every rule, in the order of `spec/rules.md`.
    pub const ALL: [Rule; 16] = [
        Rule::InvalidPlan,
        Rule::Leak,
        Rule::DoubleRelease,
        Rule::ReleaseUnowned,
        Rule::UseAfterRelease,
        Rule::HandoverUnowned,
        Rule::PathMismatch,
        Rule::DoubleTake,
        Rule::StoreOrder,
        Rule::ReleaseKind,
        Rule::CowShared,
        Rule::CowMissing,
        Rule::ArenaBalance,
        Rule::ObservableEarly,
        Rule::ReturnMixed,
        Rule::Unproven,
    ];

    /// The rule's stable name: `verify-leak`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::InvalidPlan => "verify-invalid-plan",
            Rule::Leak => "verify-leak",
            Rule::DoubleRelease => "verify-double-release",
            Rule::ReleaseUnowned => "verify-release-unowned",
            Rule::UseAfterRelease => "verify-use-after-release",
            Rule::HandoverUnowned => "verify-handover-unowned",
            Rule::PathMismatch => "verify-path-mismatch",
            Rule::DoubleTake => "verify-double-take",
            Rule::StoreOrder => "verify-store-order",
            Rule::ReleaseKind => "verify-release-kind",
            Rule::CowShared => "verify-cow-shared",
            Rule::CowMissing => "verify-cow-missing",
            Rule::ArenaBalance => "verify-arena-balance",
            Rule::ObservableEarly => "verify-observable-early",
            Rule::ReturnMixed => "verify-return-mixed",
            Rule::Unproven => "verify-unproven",
        }
    }
}

impl Serialize for RuleName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

/// A rule serialised by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleName(pub Rule);

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or note.
    pub severity: Severity,
    /// The rule that found it.
    pub rule: RuleName,
    /// The IR function (empty for a finding about the whole plan).
    pub function: String,
    /// The blocks of a path from the function's entry to the finding, in order.
    pub path: Vec<u32>,
    /// The instruction the finding is at, if any.
    pub inst: Option<InstAddr>,
    /// The plan operation concerned, as text (`drop %3 before b0.5`), if any.
    pub op: Option<String>,
    /// The instruction's source span (empty without source).
    pub span: Span,
    /// What is wrong, in words.
    pub message: String,
}

impl Finding {
    /// The path as text: `b0 -> b2 -> b3`.
    pub fn path_text(&self) -> String {
        self.path.iter().map(|b| format!("b{b}")).collect::<Vec<_>>().join(" -> ")
    }

    /// The finding on one line, for test output and logs: `verify-leak in `main` at b2.6
    /// (drop x after b2.6): message; path b0 -> b2`.
    pub fn one_line(&self) -> String {
        format!(
            "{} in `{}` at {} ({}): {}; path {}",
            self.rule.0.name(),
            self.function,
            self.inst.map_or_else(String::new, |i| i.to_string()),
            self.op.clone().unwrap_or_default(),
            self.message,
            self.path_text()
        )
    }
}

/// Everything the verifier found about one plan.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct VerifyReport {
    /// The findings, errors and notes, by function in program order, then by position.
    pub findings: Vec<Finding>,
    /// Functions verified.
    pub functions: u32,
    /// Plan operations verified.
    pub ops: u32,
}

impl VerifyReport {
    /// The number of errors.
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Error).count()
    }

    /// The number of notes.
    pub fn notes(&self) -> usize {
        self.findings.iter().filter(|f| f.severity == Severity::Note).count()
    }

    /// Whether no error was found: the plan is proven consistent (notes aside).
    pub fn is_proven(&self) -> bool {
        self.errors() == 0
    }
}
