//! Speed of checking and lowering a large program, from scratch and after an edit.
//!
//! The program is generated: `FUNCTIONS` functions of about 15 lines each (locals, a loop,
//! a closure, objects, method calls, calls of the previous function), one class per 20
//! functions. `cargo bench -p custody-analysis` reports:
//! - `check_from_scratch`: parse, item tree, item scope, type check of every body;
//! - `lower_from_scratch`: the same plus lowering every body to IR;
//! - `recheck_after_edit`: a one-body edit in the middle, then check and lower again
//!   (only the edited body is re-checked and re-lowered);
//! - `own_arguments`: one function with a `borrow` parameter and `CALLS` calls that hand
//!   fresh values to an `own` parameter, each behind a branch (the declared-mode check asks,
//!   at every call, which definitions of each argument reach it: linear in the calls).

use custody_analysis::{AnalysisDatabase, SourceFile, check_file, program_ir};
use salsa::Setter;

mod common;

fn main() {
    divan::main();
}

const FUNCTIONS: usize = 4000;

#[divan::bench(sample_count = 5)]
fn check_from_scratch(bencher: divan::Bencher<'_, '_>) {
    let text = common::program(FUNCTIONS);
    bencher.counter(divan::counter::BytesCount::of_str(&text)).bench(|| {
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, "bench.cdy".into(), text.clone());
        assert!(check_file(&db, file).is_empty());
    });
}

#[divan::bench(sample_count = 5)]
fn lower_from_scratch(bencher: divan::Bencher<'_, '_>) {
    let text = common::program(FUNCTIONS);
    bencher.counter(divan::counter::BytesCount::of_str(&text)).bench(|| {
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, "bench.cdy".into(), text.clone());
        assert!(check_file(&db, file).is_empty());
        program_ir(&db, file).functions.len()
    });
}

#[divan::bench(sample_count = 5)]
fn recheck_after_edit(bencher: divan::Bencher<'_, '_>) {
    let text = common::program(FUNCTIONS);
    let edited = edit_one_body(&text, FUNCTIONS / 2);
    let mut db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, "bench.cdy".into(), text.clone());
    check_file(&db, file);
    program_ir(&db, file);
    let mut flip = false;
    bencher.bench_local(move || {
        flip = !flip;
        file.set_text(&mut db).to(if flip { edited.clone() } else { text.clone() });
        assert!(check_file(&db, file).is_empty());
        program_ir(&db, file).functions.len()
    });
}

#[divan::bench(args = [2000, 4000, 8000], sample_count = 3)]
fn own_arguments(bencher: divan::Bencher<'_, '_>, calls: usize) {
    let mut text = String::from(
        "class Node {\n    name: string,\n}\n\nfn take(own n: Node) -> int {\n    return len(n.name);\n}\n\n\
         fn user(borrow p: Node) -> int {\n    let s = len(p.name);\n",
    );
    for i in 0..calls {
        text.push_str(&format!(
            "    let n{i} = Node {{ name: \"x\" }};\n    if s > {i} {{ n{i} = Node {{ name: p.name }}; }}\n    s = s + take(n{i});\n"
        ));
    }
    text.push_str("    return s;\n}\n\nfn main() {\n    print(user(Node { name: \"a\" }));\n}\n");
    bencher.counter(divan::counter::BytesCount::of_str(&text)).bench(|| {
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, "bench.cdy".into(), text.clone());
        assert!(check_file(&db, file).is_empty());
    });
}

/// The text with one function's body changed (and made longer): the `n`th `let total = 0;`.
fn edit_one_body(text: &str, n: usize) -> String {
    let (at, _) = text.match_indices("let total = 0;").nth(n).expect("enough functions");
    format!("{}let total = 0 + 1;{}", &text[..at], &text[at + "let total = 0;".len()..])
}
