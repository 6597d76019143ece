//! `custody-analysis`: custody's incremental analysis, on a salsa database.
//!
//! Every fact custody derives is a salsa query over the inputs, so that after an edit only
//! what depends on the edited text is recomputed. The pipeline, as later issues fill it in:
//!
//! ```text
//! SourceFile ─► parse ─► item_tree ─► lower_fn ─► escape_summary ─► fn_plan ─► program_plan
//! ```
//!
//! Today the database has its input ([`SourceFile`]) and its first query ([`parse`]).
//! Diagnostics are returned as values from queries, never through salsa accumulators
//! (they panic inside fixpoint cycles, which the escape analysis needs).

// salsa's macros generate public methods (constructors, setters, ingredient hooks) without
// documentation; the items written here are documented by hand.
pub mod check;
#[allow(missing_docs)]
mod db;
pub mod diagnostic;
pub mod escape;
pub mod explain;
pub mod freed;
#[allow(missing_docs)]
pub mod hir;
pub mod inferred;
pub mod lifetime;
pub mod manual;
pub mod modes;
pub mod naive;
pub mod plan;
pub mod program;
mod scc;

pub use check::check_file;
pub use db::{AnalysisDatabase, IrProgram, SourceFile, parse, validate_ir};
pub use diagnostic::{Diagnostic, Severity};
pub use program::program_ir;
