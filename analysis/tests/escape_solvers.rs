//! The fast escape solver agrees with the reference solver (plain iteration to a
//! fixpoint) on every function of every test program: same points-to facts, same
//! summaries, same verdicts.

use custody_analysis::escape::{analyze, analyze_reference};
use custody_analysis::{AnalysisDatabase, SourceFile, program_ir};
use std::path::{Path, PathBuf};

/// The test programs, and the clean cases of the checker's spec (more shapes of code).
fn programs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for (dir, prefix) in [("test-data/programs", ""), ("spec/cases/check", "ok_")] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.ends_with(".cdy") && name.starts_with(prefix) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn fast_and_reference_solvers_agree() {
    let mut checked = 0;
    for path in programs() {
        let text = std::fs::read_to_string(&path).unwrap();
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, path.display().to_string(), text);
        let program = program_ir(&db, file);
        let fast = analyze(program);
        let slow = analyze_reference(program);
        for (i, f) in program.functions.iter().enumerate() {
            let (a, b) = (&fast.functions[i], &slow.functions[i]);
            assert_eq!(
                a.solution.facts(&a.graph),
                b.solution.facts(&b.graph),
                "{}: {}",
                path.display(),
                f.name
            );
            assert_eq!(a.summary, b.summary, "{}: {}", path.display(), f.name);
            for (at, inst) in f.insts() {
                if inst.kind.is_allocation() {
                    assert_eq!(
                        a.allocation_escape(at),
                        b.allocation_escape(at),
                        "{}: {} {at}",
                        path.display(),
                        f.name
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} functions");
}
