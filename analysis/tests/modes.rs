//! Declared modes (`analysis/src/modes.rs`, `spec/rules.md` "Declared modes"): the
//! witness a `mode-violation` carries as related spans, and what the plan does with the
//! modes of programs that check clean (rule mode-own-honoured): a declared mode is the
//! plan's mode, and an argument to an `own` parameter moves at its last use.

mod corpus;

use custody_analysis::inferred::inferred_plan;
use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, Diagnostic, SourceFile, check_file, program_ir};
use custody_ir::Mode;
use custody_ir::plan::{MemoryPlan, OpKind};
use custody_syntax::LineIndex;

fn check(text: &str) -> Vec<Diagnostic> {
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, "modes.cdy".into(), text.into());
    check_file(&db, file).clone()
}

/// The 1-based lines of a diagnostic's related spans, with their messages.
fn related(text: &str, d: &Diagnostic) -> Vec<(u32, String)> {
    let index = LineIndex::new(text);
    d.related.iter().map(|(r, m)| (index.line_col(r.start()).line, m.clone())).collect()
}

fn plan(text: &str) -> (MemoryPlan, custody_ir::Program) {
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, "modes.cdy".into(), text.into());
    assert!(check_file(&db, file).is_empty(), "{:?}", check_file(&db, file));
    let program = program_ir(&db, file).clone();
    let index = LineIndex::new(text);
    let position = |span: custody_ir::Span| {
        let pos = index.line_col(span.start.into());
        format!("{}:{}", pos.line, pos.col)
    };
    let (plan, _) = inferred_plan(&program, "modes.cdy", &SpanMap::new(Some(&index)), &position);
    (plan, program)
}

#[test]
fn the_witness_follows_the_chain_of_calls() {
    let text = "\
class Node { value: int }
global kept: [Node] = [];
fn keep_it(n: Node) {
    push(kept, n);
}
fn middle(m: Node) {
    keep_it(m);
}
fn outer(borrow n: Node) {
    let alias = n;
    middle(alias);
}
fn main() {
    outer(Node { value: 1 });
}
";
    let diagnostics = check(text);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let d = &diagnostics[0];
    assert_eq!(d.code, "mode-violation");
    assert_eq!(&text[d.range.start().into()..d.range.end().into()], "n");
    assert!(d.message.contains("global `kept` keeps it"), "{}", d.message);
    let lines: Vec<u32> = related(text, d).iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [10, 11, 7, 4], "{:#?}", related(text, d));
    assert!(related(text, d)[1].1.contains("passed to `middle`"));
}

#[test]
fn passing_to_own_points_at_the_call_and_the_declaration() {
    let text = "\
class Node { value: int }
fn take(own n: Node) -> int {
    return n.value;
}
fn lend(borrow n: Node) -> int {
    return take(n);
}
fn main() {
    print(lend(Node { value: 1 }));
}
";
    let diagnostics = check(text);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let rel = related(text, &diagnostics[0]);
    assert_eq!(rel.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [6, 2], "{rel:#?}");
    assert!(rel[1].1.contains("declared `own` here"));
}

#[test]
fn extern_parameters_are_trusted() {
    // rule mode-extern-trusted: an extern's `borrow` is believed, its other parameters
    // are where a `borrow` argument escapes; the extern itself is never diagnosed.
    let text = "\
class Node { value: int }
extern fn look(borrow n: Node) -> int;
extern fn keep(own n: Node);
fn lend(borrow n: Node) -> int {
    return look(n);
}
fn main() {
    print(lend(Node { value: 1 }));
}
";
    assert!(check(text).is_empty(), "{:#?}", check(text));
    let escaping = text.replace("return look(n);", "keep(n);\n    return 0;");
    let diagnostics = check(&escaping);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert_eq!(
        diagnostics[0].range.start(),
        escaping.find("n: Node) -> int {\n    keep").unwrap().try_into().unwrap()
    );
}

#[test]
fn declared_modes_are_the_plans_modes() {
    // rule mode-own-honoured (and the reason for rule mode-borrow-needs-own): on every
    // program that checks clean, a declared mode on a parameter that can hold a
    // reference is the mode the plan gives it.
    let mut checked = 0;
    let mut failures = Vec::new();
    for path in corpus::repository_programs() {
        let text = std::fs::read_to_string(&path).unwrap();
        if !check(&text).is_empty() {
            continue;
        }
        let (plan, program) = plan(&text);
        for (fp, f) in plan.functions.iter().zip(&program.functions) {
            for (pp, &local) in fp.params.iter().zip(&f.params) {
                let decl = f.local(local);
                let Some(mode) = decl.mode else { continue };
                // rule own-borrow-param: a closure body owns its parameters whatever they
                // declare (a call through a closure value cannot see the body).
                if matches!(f.kind, custody_ir::FunctionKind::Closure { .. }) {
                    continue;
                }
                if !custody_analysis::plan::type_holds_references(&program, &decl.ty) {
                    continue;
                }
                checked += 1;
                if pp.mode != mode {
                    failures.push(format!(
                        "{}: {}({}) declared {mode:?}, planned {:?}",
                        path.display(),
                        f.name,
                        pp.name,
                        pp.mode
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 20, "only {checked} declared modes");
}

#[test]
fn an_argument_to_an_own_parameter_moves_at_its_last_use() {
    let text = "\
class Node { value: int }
fn take(own n: Node) -> int {
    return n.value;
}
fn look(borrow n: Node) -> int {
    return n.value;
}
fn main() {
    let a = Node { value: 1 };
    print(look(a));
    print(take(a));
    let b = Node { value: 2 };
    print(take(b));
    print(b.value);
}
";
    let (plan, _) = plan(text);
    let modes = |name: &str| {
        plan.functions
            .iter()
            .find(|f| f.name == name)
            .unwrap()
            .params
            .iter()
            .map(|p| p.mode)
            .collect::<Vec<_>>()
    };
    assert_eq!(modes("take"), [Mode::Own]);
    assert_eq!(modes("look"), [Mode::Borrow]);
    let main = plan.functions.iter().find(|f| f.name == "main").unwrap();
    let ops_on = |line: u32| -> Vec<(OpKind, String)> {
        main.ops
            .iter()
            .filter(|o| o.at.line == line)
            .map(|o| (o.op, o.value.clone().unwrap_or_default()))
            .collect()
    };
    // `a`'s last use hands it over; `b` is used again, so `take` gets a reference of its own.
    assert!(ops_on(11).contains(&(OpKind::Move, "a".into())), "{:?}", ops_on(11));
    assert!(!ops_on(11).iter().any(|(op, v)| *op == OpKind::Dup && v == "a"), "{:?}", ops_on(11));
    assert!(ops_on(13).contains(&(OpKind::Dup, "b".into())), "{:?}", ops_on(13));
    // Lending to a `borrow` parameter counts nothing.
    assert!(ops_on(10).is_empty(), "{:?}", ops_on(10));
}
