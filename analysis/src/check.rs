//! `check`: every diagnostic of a file, in file coordinates and source order.
//!
//! Syntax errors, then what the item scope found, then each body's name-resolution and
//! type errors (computed relative to the body, shifted here). A semantic diagnostic inside
//! a statement or item that has a syntax error is dropped: the broken syntax is the one
//! thing to fix there, and whatever the checker says about a half-parsed construct is noise.
//! Only a file without any of those errors is lowered and checked for uses after `free` and
//! double frees ([`crate::freed`]), then as a whole program for hand-managed memory in
//! `@manual` functions ([`crate::manual`]) and declared modes ([`crate::modes`]): those
//! rules read the lowered code, which is meaningful only for a well-typed program.

use crate::db::{SourceFile, parse};
use crate::diagnostic::{Diagnostic, Severity, codes};
use crate::freed::free_diagnostics;
use crate::hir::infer::infer_body;
use crate::hir::item_tree::{Body, body_offset};
use crate::hir::scope::{item_diagnostics, item_scope};
use custody_syntax::{SyntaxKind, SyntaxNode, TextRange};

/// All diagnostics of a file, sorted by position.
#[salsa::tracked(returns(ref))]
pub fn check_file(db: &dyn salsa::Database, file: SourceFile) -> Vec<Diagnostic> {
    let parse = parse(db, file);
    let syntax_errors: Vec<TextRange> = parse.errors().iter().map(|e| e.range).collect();
    let mut out: Vec<Diagnostic> =
        parse.errors().iter().map(|e| Diagnostic::error(codes::SYNTAX, e.range, e.message.clone())).collect();
    let root = parse.syntax_node();
    let mut semantic: Vec<Diagnostic> = item_diagnostics(db, file).clone();
    let scope = item_scope(db, file);
    let mut bodies = Vec::with_capacity(scope.bodies.len());
    for (path, index) in &scope.bodies {
        let body = Body::new(db, file, path.clone(), *index);
        let offset = *body_offset(db, body);
        semantic.extend(infer_body(db, body).diagnostics.iter().map(|d| d.shifted(offset)));
        bodies.push((body, offset));
    }
    out.extend(semantic.into_iter().filter(|d| !in_broken_construct(&root, d.range, &syntax_errors)));
    if !out.iter().any(|d| d.severity == Severity::Error) {
        for (body, offset) in bodies {
            out.extend(free_diagnostics(db, body).iter().map(|d| d.shifted(offset)));
        }
        out.extend(crate::manual::file_manual_diagnostics(db, file));
        out.extend(crate::modes::file_mode_diagnostics(db, file));
    }
    out.sort_by(|a, b| {
        (a.range.start(), a.range.end(), a.code).cmp(&(b.range.start(), b.range.end(), b.code))
    });
    out.dedup();
    out
}

/// Whether the statement (or, outside bodies, the item) around `range` has a syntax error.
fn in_broken_construct(root: &SyntaxNode, range: TextRange, syntax_errors: &[TextRange]) -> bool {
    if syntax_errors.is_empty() {
        return false;
    }
    let range = range.intersect(root.text_range()).unwrap_or(range);
    let element = root.covering_element(range);
    let node = match element {
        custody_syntax::NodeOrToken::Node(n) => n,
        custody_syntax::NodeOrToken::Token(t) => match t.parent() {
            Some(p) => p,
            None => return false,
        },
    };
    let construct = node
        .ancestors()
        .find(|n| is_statement(n.kind()) || is_item(n.kind()))
        .unwrap_or_else(|| root.clone());
    let r = construct.text_range();
    // Errors are sorted by start: look only at those starting inside the construct.
    let first = syntax_errors.partition_point(|e| e.start() < r.start());
    syntax_errors[first..]
        .iter()
        .take_while(|e| e.start() <= r.end())
        .any(|e| r.contains_range(*e) || (e.is_empty() && r.contains_inclusive(e.start())))
}

fn is_statement(kind: SyntaxKind) -> bool {
    use SyntaxKind::*;
    matches!(
        kind,
        LET_STMT
            | ASSIGN_STMT
            | EXPR_STMT
            | RETURN_STMT
            | BREAK_STMT
            | CONTINUE_STMT
            | SPAWN_STMT
            | FIELD
            | PARAM
    )
}

fn is_item(kind: SyntaxKind) -> bool {
    use SyntaxKind::*;
    matches!(kind, FN_ITEM | EXTERN_FN | GLOBAL_ITEM | STRUCT_ITEM | CLASS_ITEM | SOURCE_FILE)
}
