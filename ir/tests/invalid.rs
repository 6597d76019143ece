//! Malformed IR, as a foreign frontend might send it: every `tests/invalid/NAME.json` is
//! either JSON that deserialises into a `Program` that the validator must reject, or not a
//! `Program` at all. What custody says about it is kept in `tests/invalid/NAME.expected`
//! (bless with `UPDATE_EXPECT=1 cargo test -p custody-ir --test invalid`, then read every
//! message: each must name the function, block and instruction, and say what is wrong).

use custody_ir::{Program, print_program, validate};
use expect_test::expect_file;
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
}

/// What custody reports for one fixture: the serde error, or every validation error
/// followed by the program as the printer shows it (to read the messages against).
fn report(json: &str) -> Result<String, String> {
    let program: Program = match serde_json::from_str(json) {
        Ok(program) => program,
        Err(error) => return Ok(format!("not a program: {error}\n")),
    };
    let errors = match validate(&program) {
        Ok(()) => return Err("the validator accepts it".to_string()),
        Err(errors) => errors,
    };
    let mut out = String::new();
    for error in &errors {
        out.push_str(&format!("error: {error}\n"));
    }
    out.push_str("\n---- the program ----\n");
    out.push_str(&print_program(&program));
    Ok(out)
}

#[test]
fn invalid_fixtures() {
    let paths = fixtures();
    assert!(paths.len() >= 14, "only {} fixtures", paths.len());
    let mut not_programs = 0;
    for path in &paths {
        let json = std::fs::read_to_string(path).unwrap();
        let actual = match report(&json) {
            Ok(actual) => actual,
            Err(why) => panic!("{}: {why}", path.display()),
        };
        if actual.starts_with("not a program") {
            not_programs += 1;
        }
        expect_file![path.with_extension("expected")].assert_eq(&actual);
    }
    assert!(not_programs >= 2, "only {not_programs} fixtures are not programs");
    assert!(paths.len() - not_programs >= 12);
}

/// Every `.expected` file belongs to a fixture (no stale snapshots).
#[test]
fn no_stale_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "expected") {
            assert!(path.with_extension("json").exists(), "{} has no fixture", path.display());
        }
    }
}
