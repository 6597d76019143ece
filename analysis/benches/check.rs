//! Speed of checking and lowering a large program, from scratch and after an edit.
//!
//! The program is generated: `FUNCTIONS` functions of about 15 lines each (locals, a loop,
//! a closure, objects, method calls, calls of the previous function), one class per 20
//! functions. `cargo bench -p custody-analysis` reports:
//! - `check_from_scratch`: parse, item tree, item scope, type check of every body;
//! - `lower_from_scratch`: the same plus lowering every body to IR;
//! - `recheck_after_edit`: a one-body edit in the middle, then check and lower again
//!   (only the edited body is re-checked and re-lowered).

use custody_analysis::{AnalysisDatabase, SourceFile, check_file, program_ir};
use salsa::Setter;
use std::fmt::Write;

fn main() {
    divan::main();
}

const FUNCTIONS: usize = 4000;

fn program() -> String {
    let mut out = String::new();
    for c in 0..FUNCTIONS / 20 {
        writeln!(
            out,
            "class Box{c} {{\n    value: int,\n    label: string,\n    next: Box{c}?,\n    fn get(self) -> int {{ return self.value; }}\n}}\n"
        )
        .unwrap();
    }
    for f in 0..FUNCTIONS {
        let c = f / 20;
        let prev = if f == 0 { "0".to_string() } else { format!("f{}(n - 1)", f - 1) };
        writeln!(
            out,
            "fn f{f}(n: int) -> int {{
    let total = 0;
    let b = Box{c} {{ value: n, label: \"x\" + str(n), next: null }};
    let xs: [int] = [];
    for i in 0..n {{
        push(xs, i * 2);
        total = total + xs[i] + b.get();
    }}
    let add = fn(k: int) -> int {{ return k + total; }};
    if n > 0 && total >= 0 {{
        return add({prev});
    }}
    return total;
}}
"
        )
        .unwrap();
    }
    out.push_str("fn main() { print(f3(3)); }\n");
    out
}

#[divan::bench(sample_count = 5)]
fn check_from_scratch(bencher: divan::Bencher<'_, '_>) {
    let text = program();
    bencher.counter(divan::counter::BytesCount::of_str(&text)).bench(|| {
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, "bench.cdy".into(), text.clone());
        assert!(check_file(&db, file).is_empty());
    });
}

#[divan::bench(sample_count = 5)]
fn lower_from_scratch(bencher: divan::Bencher<'_, '_>) {
    let text = program();
    bencher.counter(divan::counter::BytesCount::of_str(&text)).bench(|| {
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, "bench.cdy".into(), text.clone());
        assert!(check_file(&db, file).is_empty());
        program_ir(&db, file).functions.len()
    });
}

#[divan::bench(sample_count = 5)]
fn recheck_after_edit(bencher: divan::Bencher<'_, '_>) {
    let text = program();
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

/// The text with one function's body changed (and made longer): the `n`th `let total = 0;`.
fn edit_one_body(text: &str, n: usize) -> String {
    let (at, _) = text.match_indices("let total = 0;").nth(n).expect("enough functions");
    format!("{}let total = 0 + 1;{}", &text[..at], &text[at + "let total = 0;".len()..])
}
