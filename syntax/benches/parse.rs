//! Parsing throughput on a generated corpus of at least 5 MB.
//!
//! The corpus is every program in `test-data/programs/` concatenated and repeated until it
//! passes 5 MB: real code in this language, with every construct, comments and all. Run
//! with `cargo bench -p custody-syntax`; divan reports time and bytes per second for
//! lexing alone, the full parse (lex, parse, build the tree), and the line index.

use divan::counter::BytesCount;
use std::path::Path;

fn main() {
    divan::main();
}

const TARGET_BYTES: usize = 5 * 1024 * 1024;

fn corpus() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-data/programs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("test-data/programs")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cdy"))
        .collect();
    files.sort();
    let programs: String = files.iter().map(|f| std::fs::read_to_string(f).expect("program")).collect();
    let mut text = String::with_capacity(TARGET_BYTES + programs.len());
    while text.len() < TARGET_BYTES {
        text.push_str(&programs);
    }
    text
}

#[divan::bench(sample_count = 10)]
fn lex(bencher: divan::Bencher<'_, '_>) {
    let text = corpus();
    bencher.counter(BytesCount::of_str(&text)).bench(|| custody_syntax::lexer::lex(divan::black_box(&text)));
}

#[divan::bench(sample_count = 10)]
fn parse(bencher: divan::Bencher<'_, '_>) {
    let text = corpus();
    assert!(custody_syntax::parse(&text).errors().is_empty(), "the corpus must be valid");
    bencher.counter(BytesCount::of_str(&text)).bench(|| custody_syntax::parse(divan::black_box(&text)));
}

#[divan::bench(sample_count = 10)]
fn line_index(bencher: divan::Bencher<'_, '_>) {
    let text = corpus();
    bencher
        .counter(BytesCount::of_str(&text))
        .bench(|| custody_syntax::LineIndex::new(divan::black_box(&text)));
}
