//! Speed of the escape analysis on a large program.
//!
//! `cargo bench -p custody-analysis --bench escape` generates a program of 20,000
//! functions (the generator of the `check` benchmark: locals, loops, closures, objects,
//! method calls, a call chain through all functions), lowers it once, and measures
//! `escape::analyze` (constraints, solving, summaries bottom-up over the call graph,
//! verdicts) on the whole program.

use custody_analysis::{AnalysisDatabase, SourceFile, check_file, program_ir};

mod common;

fn main() {
    divan::main();
}

const FUNCTIONS: usize = 20_000;

#[divan::bench(sample_count = 3)]
fn escape_analysis_20k_functions(bencher: divan::Bencher<'_, '_>) {
    let text = common::program(FUNCTIONS);
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, "bench.cdy".into(), text);
    assert!(check_file(&db, file).is_empty());
    let program = program_ir(&db, file).clone();
    bencher
        .counter(divan::counter::ItemsCount::new(program.functions.len()))
        .bench(|| custody_analysis::escape::analyze(divan::black_box(&program)).functions.len());
}
