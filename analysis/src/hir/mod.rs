//! High-level IR: what a program means, between the syntax tree and `custody_ir`.
//!
//! - [`item_tree`]: the file's items, and the stable identity of every body;
//! - [`scope`]: names and signatures of all items, resolved to semantic types;
//! - [`infer`]: name resolution and type checking of one body;
//! - [`lower`]: one checked body to IR functions.

pub mod infer;
pub mod item_tree;
pub mod lower;
pub mod scope;
pub mod ty;
