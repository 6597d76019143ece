//! Types: `int`, `[T]`, `T?`, `fn(T) -> R`, `(T)`.

use super::*;
use crate::parser::CompletedMarker;

pub(crate) const TYPE_FIRST: TokenSet = TokenSet::new(&[IDENT, T!['['], T![fn], T!['(']]);

/// Where a skipped type stops.
const TYPE_STOP: TokenSet = TokenSet::new(&[T![,], T![=], T![;], T!['{']]);

/// `Type = NameType | ArrayType | NullableType | FnType | ParenType`
pub(crate) fn type_(p: &mut Parser<'_>) -> Option<CompletedMarker> {
    if p.too_deep(0) {
        p.skip_balanced(TYPE_STOP);
        return None;
    }
    let mut ty = match p.current() {
        IDENT => {
            let m = p.start();
            name_ref(p);
            m.complete(p, NAME_TYPE)
        }
        T!['['] => {
            let m = p.start();
            p.bump(T!['[']);
            type_(p);
            p.expect(T![']'], "to close the array type");
            m.complete(p, ARRAY_TYPE)
        }
        T![fn] => {
            let m = p.start();
            p.bump(T![fn]);
            if p.at(T!['(']) {
                delimited(p, (T!['('], T![')']), TYPE_FIRST, "a type", "to close the parameter types", |p| {
                    type_(p);
                });
            } else {
                p.error_expected("`(`", "after `fn` in a closure type");
            }
            if p.at(T![->]) {
                items::ret_type(p);
            }
            m.complete(p, FN_TYPE)
        }
        T!['('] => {
            let m = p.start();
            p.bump(T!['(']);
            type_(p);
            p.expect(T![')'], "to close the parenthesised type");
            m.complete(p, PAREN_TYPE)
        }
        _ => {
            let found = p.describe_current();
            p.err_recover(
                format!("expected a type, found {found}"),
                TYPE_STOP.union(TokenSet::new(&[T![')'], T![']']])),
            );
            return None;
        }
    };
    while p.at(T![?]) {
        if p.too_deep(ty.depth()) {
            p.skip_balanced(TYPE_STOP);
            break;
        }
        let m = ty.precede(p);
        p.bump(T![?]);
        ty = m.complete(p, NULLABLE_TYPE);
    }
    Some(ty)
}
