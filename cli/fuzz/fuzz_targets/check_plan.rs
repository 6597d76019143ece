//! `custody check`, then both plans and `explain`, on any text (seeded with the test
//! programs; libFuzzer's mutations stand in for token and line edits). Nothing may panic.
#![no_main]

use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, Severity, SourceFile, check_file, program_ir};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, "fuzz.cdy".into(), text.to_string());
    if check_file(&db, file).iter().any(|d| d.severity == Severity::Error) {
        return;
    }
    let program = program_ir(&db, file);
    let index = custody_syntax::LineIndex::new(text);
    let spans = SpanMap::new(Some(&index));
    let position = |span: custody_ir::Span| format!("{}", span.start);
    let _ = custody_analysis::naive::naive_plan(program, "fuzz.cdy", &spans);
    let (_, escape) = custody_analysis::inferred::inferred_plan(program, "fuzz.cdy", &spans, &position);
    for line in 1..=index.line_count().min(8) {
        let _ = custody_analysis::explain::explain_at(program, &escape, &index, text, line, None, &position);
    }
});
