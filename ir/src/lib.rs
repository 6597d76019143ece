//! `custody-ir`: the contract between custody and the compilers around it.
//!
//! Everything that crosses custody's boundary lives here, with no dependency on the parser
//! or the incremental database, so a compiler written in any language can use it through
//! JSON and a Rust compiler can use it directly:
//!
//! - [`Program`]: classes and structs with their field layouts, globals, externs with
//!   parameter modes, and functions as control-flow graphs of basic blocks over typed
//!   locals, each instruction carrying the [`Span`] of the source it came from;
//! - [`ProgramBuilder`] and [`FunctionBuilder`] (module [`builder`]), to construct a
//!   program without source text;
//! - [`validate()`] (module [`validate`](mod@validate)), which checks IR that comes from
//!   outside: ids, block structure, operand and call types;
//! - [`print_program`] (module [`print`](mod@print)), the stable text form, for people
//!   and golden tests;
//! - [`plan`]: the memory plan custody produces, which backends execute;
//! - [`exec`]: the checked interpreter, which runs a program under a plan and reports
//!   every way the plan is unsound.

pub mod builder;
pub mod exec;
mod local_set;
pub mod plan;
pub mod print;
mod program;
mod span;
mod types;
pub mod validate;
pub mod verify;

pub use builder::{FunctionBuilder, ProgramBuilder};
pub use local_set::LocalSet;
pub use print::{TypeDisplay, print_function, print_inst, print_program};
pub use program::*;
pub use span::Span;
pub use types::*;
pub use validate::{Location, ValidationError, validate};
