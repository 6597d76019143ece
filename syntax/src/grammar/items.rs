//! Items: the source file, functions, externs, globals, structs and classes.

use super::*;
use crate::parser::CompletedMarker;

const ITEM_FIRST: TokenSet = TokenSet::new(&[T![fn], T![@]]).union(ITEM_ONLY_KEYWORDS);

/// `SourceFile = Item*`
pub(crate) fn source_file(p: &mut Parser<'_>) {
    let m = p.start();
    while !p.at(EOF) {
        item(p);
    }
    m.complete(p, SOURCE_FILE);
}

fn item(p: &mut Parser<'_>) {
    match p.current() {
        T![@] | T![fn] => {
            fn_item(p);
        }
        T![extern] => extern_fn(p),
        T![global] => global(p),
        T![class] => record_item(p, CLASS_ITEM),
        T![struct] => record_item(p, STRUCT_ITEM),
        _ => {
            let found = p.describe_current();
            p.error(format!(
                "expected an item (`fn`, `class`, `struct`, `global` or `extern fn`), found {found}"
            ));
            // Skip to the next thing that starts an item, whatever the brackets say:
            // garbage at the top level may be unbalanced.
            let m = p.start();
            while !p.at(EOF) && !p.at_ts(ITEM_FIRST) {
                p.bump_any();
            }
            m.complete(p, ERROR);
        }
    }
}

/// `Attr = '@' Name`
fn attr(p: &mut Parser<'_>) {
    let m = p.start();
    p.bump(T![@]);
    // `arena` is a keyword, but `@arena` is an attribute: take any word as its name.
    if p.at(IDENT) || p.at(T![arena]) {
        let n = p.start();
        p.bump_any();
        n.complete(p, NAME);
    } else {
        p.error_expected("an attribute name", "after `@` (the attributes are `@arena` and `@manual`)");
    }
    m.complete(p, ATTR);
}

/// `FnItem = Attr* 'fn' Name ParamList RetType? Block`
pub(super) fn fn_item(p: &mut Parser<'_>) -> CompletedMarker {
    let m = p.start();
    let mut seen: Vec<String> = Vec::new();
    while p.at(T![@]) {
        let range_start = p.current_range().start();
        attr(p);
        let range = rowan::TextRange::new(range_start, p.previous_end());
        let name = p.text_of(range)[1..].trim_start().to_owned();
        if !matches!(name.as_str(), "arena" | "manual" | "") {
            p.error_at(
                range,
                format!("unknown attribute `@{name}`: the attributes are `@arena` and `@manual`"),
            );
        } else if seen.contains(&name) {
            p.error_at(range, format!("`@{name}` is written twice"));
        } else if !seen.is_empty() && !name.is_empty() {
            p.error_at(range, "a function is either `@arena` or `@manual`, not both");
        }
        seen.push(name);
    }
    p.expect(T![fn], "after the attributes");
    name(p, "after `fn`");
    signature(p, "after the function name");
    if p.at(T!['{']) {
        statements::block(p);
    } else {
        p.error_expected("the function body `{ ... }`", "");
    }
    m.complete(p, FN_ITEM)
}

/// `ParamList RetType?`, with a friendly error for a return type without `->`.
fn signature(p: &mut Parser<'_>, context: &str) {
    if p.at(T!['(']) {
        param_list(p);
    } else {
        p.error_expected("`(` and the parameters", context);
    }
    if p.at(T![->]) {
        ret_type(p);
    } else if (p.at(IDENT) || p.at(T!['['])) && !p.at_line_start() {
        p.error("expected `->` before the return type");
        let m = p.start();
        types::type_(p);
        m.complete(p, RET_TYPE);
    }
}

/// `ExternFn = 'extern' 'fn' Name ParamList RetType? ';'`
fn extern_fn(p: &mut Parser<'_>) {
    let m = p.start();
    p.bump(T![extern]);
    p.expect(T![fn], "after `extern`");
    name(p, "after `fn`");
    signature(p, "after the function name");
    if p.at(T!['{']) {
        p.error("an `extern fn` has no body: end its declaration with `;`");
        let e = p.start();
        statements::block(p);
        e.complete(p, ERROR);
    } else {
        p.expect(T![;], "after the `extern fn` declaration");
    }
    m.complete(p, EXTERN_FN);
}

/// `GlobalItem = 'global' Name ':' Type '=' Expr ';'`
fn global(p: &mut Parser<'_>) {
    let m = p.start();
    p.bump(T![global]);
    name(p, "after `global`");
    if p.expect(T![:], "after the global's name: a global needs a type") {
        types::type_(p);
    }
    if p.expect(T![=], "and an initial value: every global needs one") {
        expressions::expr(p);
    }
    p.expect(T![;], "after the global");
    m.complete(p, GLOBAL_ITEM);
}

/// `StructItem = 'struct' Name MemberList`, `ClassItem = 'class' Name MemberList`
fn record_item(p: &mut Parser<'_>, kind: crate::SyntaxKind) {
    let m = p.start();
    let keyword = if kind == CLASS_ITEM { "after `class`" } else { "after `struct`" };
    p.bump_any();
    name(p, keyword);
    if p.at(T!['{']) {
        member_list(p, kind);
    } else {
        p.error_expected("`{` and the fields", "");
    }
    m.complete(p, kind);
}

/// `MemberList = '{' Member* '}'`, `Member = Field ','? | DropBlock | FnItem`
fn member_list(p: &mut Parser<'_>, kind: crate::SyntaxKind) {
    let m = p.start();
    let open = p.current_range();
    let open_indent = p.current_indent();
    p.bump(T!['{']);
    let is_struct = kind == STRUCT_ITEM;
    // Members come in a fixed order: fields, at most one `drop` block, methods.
    let mut seen_drop = false;
    let mut seen_method = false;
    loop {
        match p.current() {
            T!['}'] => {
                if closes_outer_block(p, open_indent) {
                    p.error_at(open, "unclosed `{`: this class or struct body has no closing `}`");
                } else {
                    p.bump(T!['}']);
                }
                break;
            }
            EOF => {
                p.error_at(open, "unclosed `{`: this class or struct body has no closing `}`");
                break;
            }
            IDENT => {
                if seen_drop || seen_method {
                    p.error("fields come first: declare this field before the `drop` block and the methods");
                }
                field(p);
                if !p.eat(T![,]) && p.at(IDENT) {
                    p.error_expected("`,`", "between fields");
                }
            }
            T![drop] => {
                if is_struct {
                    p.error("a struct has only fields: `drop` blocks belong to classes");
                } else if seen_drop {
                    p.error("a class has at most one `drop` block");
                } else if seen_method {
                    p.error("the `drop` block comes before the methods");
                }
                seen_drop = true;
                let d = p.start();
                p.bump(T![drop]);
                if p.at(T!['{']) {
                    statements::block(p);
                } else {
                    p.error_expected("`{`", "to start the `drop` block");
                }
                d.complete(p, DROP_BLOCK);
            }
            T![fn] | T![@] => {
                if is_struct {
                    p.error("a struct has only fields: methods belong to classes");
                }
                seen_method = true;
                fn_item(p);
            }
            kind if ITEM_ONLY_KEYWORDS.contains(kind) => {
                p.error_at(open, "unclosed `{`: this class or struct body has no closing `}`");
                break;
            }
            _ => {
                let found = p.describe_current();
                p.err_recover(
                    format!("expected a field, a `drop` block or a method, found {found}"),
                    TokenSet::EMPTY,
                );
            }
        }
    }
    m.complete(p, MEMBER_LIST);
}

/// `Field = Name ':' Type`
fn field(p: &mut Parser<'_>) {
    let m = p.start();
    name(p, "");
    // `name int`: report the missing `:` and still read the type.
    if p.expect(T![:], "after the field name") || (p.at_ts(types::TYPE_FIRST) && !p.at_line_start()) {
        types::type_(p);
    }
    m.complete(p, FIELD);
}

const PARAM_FIRST: TokenSet = TokenSet::new(&[IDENT, T![self], T![own], T![borrow]]);

/// `ParamList = '(' (AnyParam (',' AnyParam)* ','?)? ')'`
pub(super) fn param_list(p: &mut Parser<'_>) {
    let m = p.start();
    delimited(p, (T!['('], T![')']), PARAM_FIRST, "a parameter", "to close the parameter list", param);
    m.complete(p, PARAM_LIST);
}

/// `Param = ParamMode? Name ':' Type`, `SelfParam = ParamMode? 'self'`
fn param(p: &mut Parser<'_>) {
    let m = p.start();
    if p.at(T![own]) || p.at(T![borrow]) {
        let mode = p.start();
        p.bump_any();
        mode.complete(p, PARAM_MODE);
    }
    if p.eat(T![self]) {
        m.complete(p, SELF_PARAM);
        return;
    }
    name(p, "for the parameter");
    if p.expect(T![:], "after the parameter name: every parameter needs a type")
        || (p.at_ts(types::TYPE_FIRST) && !p.at(T![,]) && !p.at_line_start())
    {
        types::type_(p);
    }
    m.complete(p, PARAM);
}

/// `RetType = '->' Type`
pub(super) fn ret_type(p: &mut Parser<'_>) {
    let m = p.start();
    p.bump(T![->]);
    types::type_(p);
    m.complete(p, RET_TYPE);
}
