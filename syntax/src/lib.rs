//! `custody-syntax`: the lossless syntax of custody's input language (`.cdy`).
//!
//! ```text
//! text ──lexer──► tokens ──parser──► events ──builder──► rowan GreenNode ──► typed AST
//! ```
//!
//! - [`parse`] never fails and never panics: any input, however broken or deeply nested,
//!   gives a tree whose text is exactly the input, and a list of [`SyntaxError`]s with byte
//!   ranges and messages meant for people.
//! - The tree is a rowan tree ([`SyntaxNode`]); [`ast`] gives it types, with an
//!   `Option`-returning accessor for every child, because a tree with errors has holes.
//! - [`LineIndex`] turns byte offsets into 1-based lines and columns.
//!
//! The grammar is written down in `custody.ungram` beside this crate, and described for
//! people in `spec/language.md`.

#[macro_use]
mod syntax_kind;
pub mod ast;
mod builder;
mod grammar;
pub mod lexer;
mod line_index;
mod parser;

pub use line_index::{LineCol, LineIndex};
pub use parser::{MAX_DEPTH, SyntaxError};
pub use rowan::{GreenNode, NodeOrToken, TextRange, TextSize, WalkEvent};
pub use syntax_kind::{CustodyLanguage, SyntaxKind};

/// A node of a custody syntax tree.
pub type SyntaxNode = rowan::SyntaxNode<CustodyLanguage>;
/// A token of a custody syntax tree.
pub type SyntaxToken = rowan::SyntaxToken<CustodyLanguage>;
/// A node or a token.
pub type SyntaxElement = rowan::SyntaxElement<CustodyLanguage>;

/// The result of parsing a file: a lossless green tree and the syntax errors, in source
/// order. Cheap to clone, `Send` and `Sync` (the green tree is immutable and shared), so it
/// can be stored in an incremental database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Parse {
    green: GreenNode,
    errors: Vec<SyntaxError>,
}

impl Parse {
    /// The immutable tree, for storage.
    pub fn green(&self) -> &GreenNode {
        &self.green
    }

    /// The root of the tree, as a navigable node.
    pub fn syntax_node(&self) -> SyntaxNode {
        SyntaxNode::new_root(self.green.clone())
    }

    /// The root as a typed [`ast::SourceFile`].
    pub fn tree(&self) -> ast::SourceFile {
        ast::SourceFile { syntax: self.syntax_node() }
    }

    /// The lexer's and the parser's errors, ordered by position.
    pub fn errors(&self) -> &[SyntaxError] {
        &self.errors
    }

    /// The tree in the indented form used by golden tests and `custody parse`: one line
    /// per node and token, `KIND@start..end`, tokens with their text.
    pub fn debug_tree(&self) -> String {
        let mut out = format!("{:#?}", self.syntax_node());
        // rowan ends the dump with a newline already; keep exactly one.
        while out.ends_with('\n') {
            out.pop();
        }
        out.push('\n');
        out
    }
}

/// Parses `text` as a custody source file.
pub fn parse(text: &str) -> Parse {
    let (tokens, lex_errors) = lexer::lex(text);
    let lex_ranges = lex_errors.iter().map(|e| e.range).collect();
    let mut parser = parser::Parser::new(text, &tokens, lex_ranges);
    grammar::source_file(&mut parser);
    let (events, parse_errors) = parser.finish();
    let green = builder::build_tree(text, &tokens, events);
    let mut errors: Vec<SyntaxError> = lex_errors
        .into_iter()
        .map(|e| SyntaxError { range: e.range, message: e.message })
        .chain(parse_errors)
        .collect();
    errors.sort_by_key(|e| (e.range.start(), e.range.end()));
    Parse { green, errors }
}

#[cfg(test)]
mod tests;
