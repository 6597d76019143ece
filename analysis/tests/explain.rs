//! `explain` for every allocation and parameter of every test program that is not
//! `contained`: the chain from it to where its bound was lost. Snapshotted in
//! `test-data/golden/explain/NAME.txt`; every chain must end where the verdict says.

use custody_analysis::escape::analyze;
use custody_analysis::explain::explain_at;
use custody_analysis::{AnalysisDatabase, SourceFile, program_ir};
use custody_ir::plan::Escape;
use custody_syntax::LineIndex;
use expect_test::expect_file;
use std::path::{Path, PathBuf};

fn programs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-data/programs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cdy"))
        .collect();
    files.sort();
    files
}

#[test]
fn explain_every_escaping_allocation_and_parameter() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-data/golden/explain");
    for path in programs() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, format!("{name}.cdy"), text.clone());
        let program = program_ir(&db, file);
        let escape = analyze(program);
        let index = LineIndex::new(&text);
        let position = |span: custody_ir::Span| {
            let pos = index.line_col(span.start.into());
            format!("{}:{}", pos.line, pos.col)
        };
        let mut out = String::new();
        for line in 1..=index.line_count() {
            for e in explain_at(program, &escape, &index, &text, line, None, &position) {
                if e.escape == Escape::Contained {
                    continue;
                }
                // A verdict without a chain would be an unexplained claim.
                assert!(!e.steps.is_empty(), "{name}: {} is {:?} without a witness", e.id, e.escape);
                let last = &e.steps.last().unwrap().rule;
                let expected = match e.escape {
                    Escape::Binding => "esc-state-binding",
                    Escape::Uncontained => "esc-state-uncontained",
                    Escape::Thread => "esc-state-thread",
                    Escape::Contained => unreachable!(),
                };
                assert_eq!(last, &expected, "{name}: {}", e.id);
                out.push_str(&e.text(&text, &position));
            }
        }
        expect_file![golden.join(format!("{name}.txt"))].assert_eq(&out);
    }
}
