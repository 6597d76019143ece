//! The grammar: one function per rule of `custody.ungram`, emitting parser events.
//!
//! Recovery follows one principle: a rule that does not find what it expects reports it
//! once and leaves the surprising token alone if an enclosing rule can use it (a `;`, a
//! `}`, a keyword that starts a statement or an item); otherwise it wraps that single token
//! in an `ERROR` node and carries on. So a typo costs one error, and the rest of the file
//! still parses into the right shape.

mod expressions;
mod items;
mod statements;
mod types;

use crate::SyntaxKind::*;
use crate::parser::{Parser, TokenSet};

pub(crate) use items::source_file;

/// Keywords that can only start an item: seeing one inside a block means the block was
/// not closed.
pub(crate) const ITEM_ONLY_KEYWORDS: TokenSet =
    TokenSet::new(&[T![class], T![struct], T![global], T![extern]]);

/// Tokens that start a statement (other than an expression statement).
pub(crate) const STMT_KEYWORDS: TokenSet = TokenSet::new(&[
    T![let],
    T![if],
    T![while],
    T![for],
    T![return],
    T![break],
    T![continue],
    T![spawn],
    T![arena],
]);

/// `Name = 'ident'`: a name being defined.
pub(crate) fn name(p: &mut Parser<'_>, context: &str) -> bool {
    if p.at(IDENT) {
        let m = p.start();
        p.bump(IDENT);
        m.complete(p, NAME);
        true
    } else if p.current().is_keyword() && NAME_FOLLOW.contains(p.nth(1)) && !p.at_line_start() {
        // `let fn = 1;`: a keyword where a name belongs. Take it as the name, so the rest
        // of the statement still parses.
        let found = p.describe_current();
        p.error(format!("expected a name {context}, found {found}: keywords cannot be names"));
        let m = p.start();
        p.bump_any();
        m.complete(p, NAME);
        true
    } else {
        p.error_expected("a name", context);
        false
    }
}

/// Tokens that follow a name being defined.
const NAME_FOLLOW: TokenSet = TokenSet::new(&[T![=], T![:], T!['('], T![,], T![')'], T![;], T![in], T!['{']]);

/// `NameRef = 'ident'`: a name being used.
pub(crate) fn name_ref(p: &mut Parser<'_>) {
    let m = p.start();
    p.bump(IDENT);
    m.complete(p, NAME_REF);
}

/// Does the current token close a block that was opened on a line indented more than
/// this `}`? Then the `}` belongs to an enclosing block and the inner one is unclosed.
pub(crate) fn closes_outer_block(p: &mut Parser<'_>, open_indent: usize) -> bool {
    p.at(T!['}']) && p.at_line_start() && p.current_indent() < open_indent
}

/// A comma-separated list between `open` and `close` (trailing comma allowed).
/// `first` is the set of tokens that can start an element; `element` must consume at
/// least one token when called on one of them.
pub(crate) fn delimited(
    p: &mut Parser<'_>,
    (open, close): (crate::SyntaxKind, crate::SyntaxKind),
    first: TokenSet,
    what: &str,
    close_context: &str,
    mut element: impl FnMut(&mut Parser<'_>),
) {
    p.bump(open);
    loop {
        if p.at(close) || p.at(EOF) {
            break;
        }
        if !p.at_ts(first) {
            if p.at_ts(LIST_STOP) {
                break;
            }
            let found = p.describe_current();
            p.err_recover(format!("expected {what}, found {found}"), LIST_STOP);
            continue;
        }
        element(p);
        if p.at(close) {
            break;
        }
        if p.eat(T![,]) {
            continue;
        }
        if p.at_ts(first) && !p.at_line_start() {
            let plural = what.trim_start_matches("a ").trim_start_matches("an ");
            p.error_expected("`,`", &format!("between {plural}s"));
            continue;
        }
        break;
    }
    p.expect(close, close_context);
}

/// Tokens at which a list stops looking for more elements.
const LIST_STOP: TokenSet =
    TokenSet::new(&[T![;], T!['{'], T!['}'], T![=], T![->]]).union(STMT_KEYWORDS).union(ITEM_ONLY_KEYWORDS);
