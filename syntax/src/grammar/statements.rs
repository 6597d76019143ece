//! Blocks and statements.

use super::*;
use crate::parser::CompletedMarker;

/// Where a too-deep statement or block is skipped to.
const STMT_STOP: TokenSet = TokenSet::new(&[T![;]]);

/// `Block = '{' Stmt* '}'`
pub(crate) fn block(p: &mut Parser<'_>) -> Option<CompletedMarker> {
    if p.too_deep(0) {
        p.skip_balanced(STMT_STOP);
        return None;
    }
    let m = p.start();
    let open = p.current_range();
    let open_indent = p.current_indent();
    p.bump(T!['{']);
    loop {
        match p.current() {
            T!['}'] => {
                if closes_outer_block(p, open_indent) {
                    p.error_at(open, "unclosed `{`: this block has no matching `}`");
                } else {
                    p.bump(T!['}']);
                }
                break;
            }
            EOF => {
                p.error_at(open, "unclosed `{`: this block has no matching `}`");
                break;
            }
            // An item inside a block: the block was not closed.
            kind if ITEM_ONLY_KEYWORDS.contains(kind) => {
                p.error_at(open, "unclosed `{`: this block has no matching `}`");
                break;
            }
            T![fn] | T![@] if p.nth(1) != T!['('] => {
                p.error_at(open, "unclosed `{`: this block has no matching `}`");
                break;
            }
            _ => stmt(p),
        }
    }
    Some(m.complete(p, BLOCK))
}

/// `Stmt = LetStmt | AssignStmt | ExprStmt | IfStmt | ...`
fn stmt(p: &mut Parser<'_>) {
    if p.too_deep(0) {
        p.skip_balanced(STMT_STOP);
        p.eat(T![;]);
        return;
    }
    match p.current() {
        T![let] => let_stmt(p),
        T![if] => if_stmt(p),
        T![while] => {
            let m = p.start();
            p.bump(T![while]);
            expressions::expr_no_record(p);
            body(p, "of the `while` loop");
            m.complete(p, WHILE_STMT);
        }
        T![for] => for_stmt(p),
        T![return] => {
            let m = p.start();
            p.bump(T![return]);
            if p.at_ts(expressions::EXPR_FIRST) {
                expressions::expr(p);
            }
            semicolon(p, "after `return`");
            m.complete(p, RETURN_STMT);
        }
        T![break] | T![continue] => {
            let m = p.start();
            let kind = if p.at(T![break]) { BREAK_STMT } else { CONTINUE_STMT };
            let context = if kind == BREAK_STMT { "after `break`" } else { "after `continue`" };
            p.bump_any();
            semicolon(p, context);
            m.complete(p, kind);
        }
        T!['{'] => {
            block(p);
        }
        T![arena] => {
            let m = p.start();
            p.bump(T![arena]);
            body(p, "of the `arena` scope");
            m.complete(p, ARENA_STMT);
        }
        T![spawn] => {
            let m = p.start();
            p.bump(T![spawn]);
            expressions::expr(p);
            semicolon(p, "after the `spawn` statement");
            m.complete(p, SPAWN_STMT);
        }
        T![')'] | T![']'] => stray_closer(p),
        _ if p.at_ts(expressions::EXPR_FIRST) => expr_or_assign_stmt(p),
        _ => {
            let found = p.describe_current();
            let m = p.start();
            p.error(format!("expected a statement, found {found}"));
            p.bump_any();
            p.eat(T![;]);
            m.complete(p, ERROR);
        }
    }
}

/// A `)` or `]` that closes nothing: one error, and the token (with a `;` right after it)
/// goes into an `ERROR` node.
fn stray_closer(p: &mut Parser<'_>) {
    let found = p.describe_current();
    p.error(format!("unmatched {found}: it closes nothing"));
    let m = p.start();
    p.bump_any();
    p.eat(T![;]);
    m.complete(p, ERROR);
}

/// The `;` that ends a statement. A stray `)` or `]` right before it is reported as
/// such (not as a missing `;`) and skipped.
fn semicolon(p: &mut Parser<'_>, context: &str) {
    if p.eat(T![;]) {
        return;
    }
    if (p.at(T![')']) || p.at(T![']'])) && !p.at_line_start() {
        stray_closer(p);
        return;
    }
    p.error_expected("`;`", context);
}

/// The `{ ... }` body of a compound statement.
fn body(p: &mut Parser<'_>, context: &str) {
    if p.at(T!['{']) {
        block(p);
    } else {
        p.error_expected("`{`", &format!("to start the body {context}"));
    }
}

/// `LetStmt = 'let' Name (':' Type)? '=' Expr ';'`
fn let_stmt(p: &mut Parser<'_>) {
    let m = p.start();
    p.bump(T![let]);
    name(p, "after `let`");
    if p.eat(T![:]) {
        types::type_(p);
    }
    if p.at(T![=]) {
        p.bump(T![=]);
        expressions::expr(p);
    } else {
        p.error_expected("`=` and an initial value", "(every `let` needs one)");
    }
    semicolon(p, "after the `let` statement");
    m.complete(p, LET_STMT);
}

/// `IfStmt = 'if' Expr Block ('else' (IfStmt | Block))?`
fn if_stmt(p: &mut Parser<'_>) {
    let m = p.start();
    p.bump(T![if]);
    expressions::expr_no_record(p);
    body(p, "of the `if`");
    if p.eat(T![else]) {
        if p.at(T![if]) {
            if p.too_deep(0) {
                p.skip_balanced(STMT_STOP);
            } else {
                if_stmt(p);
            }
        } else {
            body(p, "of the `else`");
        }
    }
    m.complete(p, IF_STMT);
}

/// `ForStmt = 'for' Name 'in' (RangeClause | Expr) Block`,
/// `RangeClause = Expr '..' Expr`
fn for_stmt(p: &mut Parser<'_>) {
    let m = p.start();
    p.bump(T![for]);
    name(p, "after `for`");
    p.expect(T![in], "after the loop variable");
    let range = p.start();
    expressions::expr_no_record(p);
    if p.eat(T![..]) {
        expressions::expr_no_record(p);
        range.complete(p, RANGE_CLAUSE);
    } else {
        range.abandon(p);
    }
    body(p, "of the `for` loop");
    m.complete(p, FOR_STMT);
}

/// `AssignStmt = Expr '=' Expr ';'` or `ExprStmt = Expr ';'`
fn expr_or_assign_stmt(p: &mut Parser<'_>) {
    let m = p.start();
    let start = p.current_range().start();
    let lhs = expressions::expr(p);
    if p.at(T![=]) {
        if let Some(lhs) = lhs
            && !matches!(lhs.kind(), NAME_REF | FIELD_EXPR | INDEX_EXPR | ERROR)
        {
            let range = rowan::TextRange::new(start, p.previous_end().max(start));
            p.error_at(
                range,
                "cannot assign to this expression: the left side of `=` must be a variable, a field or an element",
            );
        }
        p.bump(T![=]);
        expressions::expr(p);
        semicolon(p, "after the assignment");
        m.complete(p, ASSIGN_STMT);
    } else {
        semicolon(p, "after the expression");
        m.complete(p, EXPR_STMT);
    }
}
