//! The repository's programs that the whole-corpus tests (`escape_consistency.rs`,
//! `modes.rs`) read: the test programs and every annotated case.

use std::path::{Path, PathBuf};

/// Every `.cdy` file of `test-data/programs` and `spec/cases/{check,escape,lifetime}`,
/// sorted.
pub(crate) fn repository_programs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["test-data/programs", "spec/cases/check", "spec/cases/escape", "spec/cases/lifetime"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
        files
            .extend(entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "cdy")));
    }
    files.sort();
    files
}
