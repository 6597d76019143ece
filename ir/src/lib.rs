//! `custody-ir`: the contract between custody and the compilers around it.
//!
//! Everything that crosses custody's boundary lives here, with no dependency on the parser
//! or the incremental database, so a compiler written in any language can use it through
//! JSON and a Rust compiler can use it directly:
//!
//! - the program as custody analyses it: classes and structs with their field layouts,
//!   globals, functions as control-flow graphs of basic blocks over typed locals, each
//!   instruction carrying the [`Span`] of the source it came from (the IR itself, its
//!   builder, validator, printer and JSON form arrive with issue 3);
//! - the memory plan custody produces (`plan`, issue 4);
//! - the checked interpreter that runs a program under a plan (`exec`, issue 4).
//!
//! Today it holds the one type every later piece shares: [`Span`].

mod span;

pub use span::Span;
