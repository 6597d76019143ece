//! The annotated cases of `spec/cases/check/`, checked the way Go checks its `// ERROR`
//! comments: every `//~ ERROR code` (or `//~ WARNING code`, optionally `: substring`)
//! must be matched by a diagnostic of that severity and code starting on that line, and
//! every diagnostic must be annotated. Each case's diagnostics are also snapshotted with
//! their columns and messages in `NAME.diagnostics` (`UPDATE_EXPECT=1` to bless).

use custody_analysis::{AnalysisDatabase, Severity, SourceFile, check_file};
use custody_syntax::LineIndex;
use expect_test::expect_file;
use std::fmt::Write;
use std::path::{Path, PathBuf};

#[derive(Debug)]
struct Annotation {
    line: u32,
    severity: Severity,
    code: String,
    substring: Option<String>,
}

fn annotations(text: &str) -> Vec<Annotation> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for part in line.split("//~").skip(1) {
            let part = part.trim();
            let (severity, rest) = if let Some(rest) = part.strip_prefix("ERROR") {
                (Severity::Error, rest)
            } else if let Some(rest) = part.strip_prefix("WARNING") {
                (Severity::Warning, rest)
            } else {
                panic!("line {}: unknown annotation `//~ {part}`", i + 1);
            };
            let rest = rest.trim();
            let (code, substring) = match rest.split_once(':') {
                Some((code, sub)) => (code.trim().to_string(), Some(sub.trim().to_string())),
                None => (rest.to_string(), None),
            };
            out.push(Annotation { line: i as u32 + 1, severity, code, substring });
        }
    }
    out
}

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/cases/check");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("spec/cases/check exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cdy"))
        .collect();
    files.sort();
    files
}

#[test]
fn spec_cases_check() {
    let files = case_files();
    assert!(files.len() >= 30, "only {} cases", files.len());
    let mut failures = Vec::new();
    let mut codes_seen = std::collections::BTreeSet::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, path.display().to_string(), text.clone());
        let diagnostics = check_file(&db, file);
        let index = LineIndex::new(&text);
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let expected = annotations(&text);
        let mut matched = vec![false; diagnostics.len()];
        for a in &expected {
            let hit = diagnostics.iter().enumerate().find(|(i, d)| {
                !matched[*i]
                    && d.severity == a.severity
                    && d.code == a.code
                    && index.line_col(d.range.start()).line == a.line
                    && a.substring.as_ref().is_none_or(|s| d.message.contains(s.as_str()))
            });
            match hit {
                Some((i, _)) => matched[i] = true,
                None => failures.push(format!(
                    "{name}:{}: expected {:?} {}{} but got none",
                    a.line,
                    a.severity,
                    a.code,
                    a.substring.as_ref().map(|s| format!(" containing `{s}`")).unwrap_or_default()
                )),
            }
        }
        for (d, m) in diagnostics.iter().zip(&matched) {
            codes_seen.insert(d.code);
            if !m {
                let pos = index.line_col(d.range.start());
                failures.push(format!(
                    "{name}:{}:{}: unannotated {} {}: {}",
                    pos.line,
                    pos.col,
                    d.severity.as_str(),
                    d.code,
                    d.message
                ));
            }
        }
        let mut snapshot = String::new();
        for d in diagnostics {
            let pos = index.line_col(d.range.start());
            writeln!(snapshot, "{}:{} {} {}: {}", pos.line, pos.col, d.severity.as_str(), d.code, d.message)
                .unwrap();
        }
        expect_file![path.with_extension("diagnostics")].assert_eq(&snapshot);
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    for code in [
        "syntax",
        "unresolved-name",
        "type-mismatch",
        "duplicate-definition",
        "argument-count",
        "missing-return",
        "invalid-control-flow",
        "use-after-free",
        "double-free",
        "mode-violation",
    ] {
        assert!(codes_seen.contains(code), "no case produces `{code}`");
    }
}

#[test]
fn every_test_program_checks_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-data/programs");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "cdy") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, path.display().to_string(), text);
        // Clean: no diagnostic but the `cycle` warnings of plain counting's limits.
        let diagnostics: Vec<_> =
            check_file(&db, file).iter().filter(|d| d.code != "cycle").cloned().collect();
        assert!(diagnostics.is_empty(), "{}: {diagnostics:#?}", path.display());
        count += 1;
    }
    assert!(count >= 20);
}
