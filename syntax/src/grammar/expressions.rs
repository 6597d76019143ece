//! Expressions, by precedence climbing (a Pratt parser over `precede`).

use super::*;
use crate::parser::CompletedMarker;

/// Tokens that can start an expression.
pub(crate) const EXPR_FIRST: TokenSet = TokenSet::new(&[
    INT_NUMBER,
    FLOAT_NUMBER,
    STRING,
    T![true],
    T![false],
    T![null],
    IDENT,
    T![self],
    T!['('],
    T!['['],
    T![fn],
    T![-],
    T![!],
]);

/// Tokens an expression that went wrong must not swallow: an enclosing rule needs them.
const EXPR_RECOVERY: TokenSet = TokenSet::new(&[T![;], T![,], T![')'], T![']'], T!['{'], T![=], T![..]])
    .union(STMT_KEYWORDS)
    .union(ITEM_ONLY_KEYWORDS);

/// Where a too-deep expression is skipped to.
const EXPR_STOP: TokenSet = TokenSet::new(&[T![;], T![,], T![..], T![=]]);

/// Where the parser may not take a `Name {` as a record literal: the head of `if`, `while`
/// and `for`, where `{` opens the body.
#[derive(Clone, Copy, Default)]
struct Restrictions {
    no_record: bool,
}

pub(crate) fn expr(p: &mut Parser<'_>) -> Option<CompletedMarker> {
    expr_bp(p, 0, Restrictions::default())
}

/// An expression in the head of `if`, `while` or `for`.
pub(crate) fn expr_no_record(p: &mut Parser<'_>) -> Option<CompletedMarker> {
    expr_bp(p, 0, Restrictions { no_record: true })
}

/// Binding power of a binary operator; all are left-associative.
fn infix_binding_power(kind: crate::SyntaxKind) -> Option<u8> {
    let bp = match kind {
        T![||] => 1,
        T![&&] => 2,
        T![==] | T![!=] => 3,
        T![<] | T![<=] | T![>] | T![>=] => 4,
        T![+] | T![-] => 5,
        T![*] | T![/] | T![%] => 6,
        _ => return None,
    };
    Some(bp)
}

/// Prefix operators bind tighter than every binary operator.
const PREFIX_BP: u8 = 6;

fn expr_bp(p: &mut Parser<'_>, min_bp: u8, r: Restrictions) -> Option<CompletedMarker> {
    if p.too_deep(0) {
        p.skip_balanced(EXPR_STOP);
        return None;
    }
    let mut lhs = prefix_or_postfix(p, r)?;
    while let Some(bp) = infix_binding_power(p.current()) {
        if bp <= min_bp {
            break;
        }
        if p.too_deep(lhs.depth()) {
            p.skip_balanced(EXPR_STOP);
            break;
        }
        // A run of operators of one precedence (`a + b - c + ...`) is one flat node with
        // all its operands: left-associative in meaning, but not nesting, so a generated
        // chain of 100,000 terms is neither "nested too deeply" nor a deep tree that every
        // later pass would recurse down.
        let m = lhs.precede(p);
        loop {
            p.bump_any();
            if !p.at_ts(EXPR_FIRST) {
                let found = p.describe_current();
                p.err_recover(
                    format!("expected an expression after the operator, found {found}"),
                    EXPR_RECOVERY,
                );
            } else {
                expr_bp(p, bp, r);
            }
            if infix_binding_power(p.current()) != Some(bp) {
                break;
            }
        }
        lhs = m.complete(p, BIN_EXPR);
    }
    Some(lhs)
}

/// `PrefixExpr = ('-' | '!') Expr`, or a postfix expression.
fn prefix_or_postfix(p: &mut Parser<'_>, r: Restrictions) -> Option<CompletedMarker> {
    if p.at(T![-]) || p.at(T![!]) {
        let m = p.start();
        p.bump_any();
        expr_bp(p, PREFIX_BP, r);
        return Some(m.complete(p, PREFIX_EXPR));
    }
    let mut lhs = primary(p, r)?;
    loop {
        let kind = p.current();
        if !matches!(kind, T!['('] | T![.] | T!['[']) {
            break;
        }
        if p.too_deep(lhs.depth()) {
            p.skip_balanced(EXPR_STOP);
            break;
        }
        let m = lhs.precede(p);
        lhs = match kind {
            T!['('] => {
                arg_list(p);
                m.complete(p, CALL_EXPR)
            }
            T![.] => {
                p.bump(T![.]);
                if p.at(IDENT) {
                    name_ref(p);
                    if p.at(T!['(']) {
                        arg_list(p);
                        m.complete(p, METHOD_CALL_EXPR)
                    } else {
                        m.complete(p, FIELD_EXPR)
                    }
                } else {
                    p.error_expected("a field or method name", "after `.`");
                    m.complete(p, FIELD_EXPR)
                }
            }
            _ => {
                p.bump(T!['[']);
                expr(p);
                p.expect(T![']'], "to close the index");
                m.complete(p, INDEX_EXPR)
            }
        };
    }
    Some(lhs)
}

fn primary(p: &mut Parser<'_>, r: Restrictions) -> Option<CompletedMarker> {
    let m = p.start();
    let done = match p.current() {
        INT_NUMBER | FLOAT_NUMBER | STRING | T![true] | T![false] | T![null] => {
            p.bump_any();
            m.complete(p, LITERAL)
        }
        IDENT if p.nth(1) == T!['{'] && !r.no_record => {
            name_ref(p);
            record_field_list(p);
            m.complete(p, RECORD_EXPR)
        }
        // `if p == Point { x: 1 } { ... }`: a record literal where the body's `{` belongs.
        // Say so once and parse it as the literal the author meant.
        IDENT if p.nth(1) == T!['{'] && p.nth(2) == IDENT && p.nth(3) == T![:] => {
            let start = p.current_range().start();
            name_ref(p);
            record_field_list(p);
            let end = p.previous_end();
            p.error_at(
                rowan::TextRange::new(start, end),
                "a struct or class literal cannot stand directly in the head of `if`, `while` or `for`: \
                 put it in parentheses",
            );
            m.complete(p, RECORD_EXPR)
        }
        IDENT => {
            m.abandon(p);
            let n = p.start();
            p.bump(IDENT);
            return Some(n.complete(p, NAME_REF));
        }
        T![self] => {
            p.bump(T![self]);
            m.complete(p, SELF_EXPR)
        }
        T!['('] => {
            p.bump(T!['(']);
            expr(p);
            p.expect(T![')'], "to close the parenthesis");
            m.complete(p, PAREN_EXPR)
        }
        T!['['] => array(p, m),
        T![fn] => {
            p.bump(T![fn]);
            if p.at(T!['(']) {
                items::param_list(p);
            } else {
                p.error_expected("`(` and the parameters", "of the closure");
            }
            if p.at(T![->]) {
                items::ret_type(p);
            }
            if p.at(T!['{']) {
                statements::block(p);
            } else {
                p.error_expected("`{`", "to start the closure's body");
            }
            m.complete(p, CLOSURE_EXPR)
        }
        _ => {
            m.abandon(p);
            let found = p.describe_current();
            p.err_recover(format!("expected an expression, found {found}"), EXPR_RECOVERY);
            return None;
        }
    };
    Some(done)
}

/// `ArrayExpr = '[' (Expr (',' Expr)* ','?)? ']'`, `ArrayRepeatExpr = '[' Expr ';' Expr ']'`
fn array(p: &mut Parser<'_>, m: crate::parser::Marker) -> CompletedMarker {
    p.bump(T!['[']);
    if p.eat(T![']']) {
        return m.complete(p, ARRAY_EXPR);
    }
    expr(p);
    if p.eat(T![;]) {
        expr(p);
        p.expect(T![']'], "to close the array");
        return m.complete(p, ARRAY_REPEAT_EXPR);
    }
    loop {
        if p.at(T![']']) || p.at(EOF) {
            break;
        }
        if p.eat(T![,]) {
            if p.at(T![']']) {
                break;
            }
            if p.at_ts(EXPR_FIRST) {
                expr(p);
                continue;
            }
        } else if p.at_ts(EXPR_FIRST) && !p.at_line_start() {
            p.error_expected("`,`", "between array elements");
            expr(p);
            continue;
        }
        break;
    }
    p.expect(T![']'], "to close the array");
    m.complete(p, ARRAY_EXPR)
}

/// `RecordFieldList = '{' (RecordField (',' RecordField)* ','?)? '}'`
fn record_field_list(p: &mut Parser<'_>) {
    let m = p.start();
    delimited(p, (T!['{'], T!['}']), TokenSet::new(&[IDENT]), "a field", "to close the literal", |p| {
        let f = p.start();
        name_ref(p);
        if p.expect(T![:], "after the field name") {
            expr(p);
        }
        f.complete(p, RECORD_FIELD);
    });
    m.complete(p, RECORD_FIELD_LIST);
}

/// `ArgList = '(' (Expr (',' Expr)* ','?)? ')'`
fn arg_list(p: &mut Parser<'_>) {
    let m = p.start();
    delimited(p, (T!['('], T![')']), EXPR_FIRST, "an argument", "to close the arguments", |p| {
        expr(p);
    });
    m.complete(p, ARG_LIST);
}
