//! The IR of every program in `test-data/programs/`: it passes the validator (the lowering
//! and the validator agree on what well-formed IR is), survives a JSON round trip
//! unchanged, and matches its golden text in `test-data/golden/ir/NAME.ir`.

use custody_analysis::{AnalysisDatabase, SourceFile, check_file, program_ir};
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
fn every_program_lowers_to_valid_ir_that_round_trips() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-data/golden/ir");
    let mut problems = Vec::new();
    for path in programs() {
        let text = std::fs::read_to_string(&path).unwrap();
        let db = AnalysisDatabase::default();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let file = SourceFile::new(&db, format!("{name}.cdy"), text);
        let errors =
            check_file(&db, file).iter().filter(|d| d.severity == custody_analysis::Severity::Error).count();
        assert_eq!(errors, 0, "{name} has errors");
        let program = program_ir(&db, file);
        if let Err(errors) = custody_ir::validate(program) {
            problems.push(format!(
                "{name}:\n  {}",
                errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  ")
            ));
        }
        let json = serde_json::to_string(program).unwrap();
        let back: custody_ir::Program = serde_json::from_str(&json).unwrap();
        assert!(&back == program, "{name}: the JSON round trip changed the program");
        expect_file![golden.join(format!("{name}.ir"))].assert_eq(&custody_ir::print_program(program));
    }
    assert!(problems.is_empty(), "invalid IR:\n{}", problems.join("\n"));
}
