//! `custody plan --format text`, the source with the plan written into it, against golden
//! files: the inferred plan of every test program (`test-data/golden/plan/NAME.txt`) and
//! the naive plan of one (`test-data/golden/plan/naive/`). The plans change with the
//! analysis; bless with `UPDATE_EXPECT=1 cargo test -p custody --test plan_text` and read
//! the diff.

use expect_test::expect_file;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// `custody plan --format text ARGS... PROGRAM` from the workspace root, which must exit 0.
fn plan_text(args: &[&str], program: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_custody"))
        .args(["plan", "--format", "text"])
        .args(args)
        .arg(program)
        .current_dir(workspace_root())
        .output()
        .expect("the custody binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{program}: {stderr}");
    assert_eq!(stderr, "", "{program}");
    String::from_utf8(out.stdout).unwrap()
}

/// The names of the test programs, sorted.
fn program_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("test-data/programs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "cdy"))
        .map(|path| path.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_program_has_its_inferred_text_plan() {
    let golden = workspace_root().join("test-data/golden/plan");
    let names = program_names();
    assert!(names.len() >= 30, "only {} programs", names.len());
    for name in &names {
        let text = plan_text(&[], &format!("test-data/programs/{name}.cdy"));
        expect_file![golden.join(format!("{name}.txt"))].assert_eq(&text);
    }
    // A golden whose program is gone would never be checked again.
    for entry in std::fs::read_dir(&golden).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            let stem = path.file_stem().unwrap().to_str().unwrap();
            assert!(names.iter().any(|n| n == stem), "{} has no program", path.display());
        }
    }
}

#[test]
fn the_naive_plan_prints_as_text_too() {
    let text = plan_text(&["--plan", "naive"], "test-data/programs/contract_example.cdy");
    expect_file!["../../test-data/golden/plan/naive/contract_example.txt"].assert_eq(&text);
}
