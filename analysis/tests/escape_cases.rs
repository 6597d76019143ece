//! The annotated escape cases of `spec/cases/escape/`, checked like Go's `// ERROR`
//! comments: every annotation must hold, and every allocation or parameter that is not
//! `contained` must be annotated.
//!
//! - `//@ escape: S1, S2` — the allocations starting on this line, in source order
//!   (outer before inner at the same position), have these states;
//! - `//@ param NAME: S` — the parameter NAME declared on this line has this state;
//! - `//@ returns: B` — the function declared on this line has this return binding.

mod common;

use custody_analysis::inferred::inferred_plan;
use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, SourceFile, check_file, program_ir};
use custody_ir::plan::{Escape, ReturnBound};
use custody_syntax::LineIndex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn parse_state(s: &str) -> Option<Escape> {
    Some(match s.trim() {
        "contained" => Escape::Contained,
        "binding" => Escape::Binding,
        "uncontained" => Escape::Uncontained,
        "thread" => Escape::Thread,
        _ => return None,
    })
}

fn parse_bound(s: &str) -> Option<ReturnBound> {
    Some(match s.trim() {
        "callee" => ReturnBound::Callee,
        "parameter" => ReturnBound::Parameter,
        "parent" => ReturnBound::Parent,
        "mixed" => ReturnBound::Mixed,
        "none" => ReturnBound::None,
        _ => return None,
    })
}

#[derive(Default)]
struct Expected {
    allocs: BTreeMap<u32, Vec<Escape>>,
    params: BTreeMap<(u32, String), Escape>,
    returns: BTreeMap<u32, ReturnBound>,
}

fn annotations(text: &str, file: &str, errors: &mut Vec<String>) -> Expected {
    let mut e = Expected::default();
    for (i, line) in text.lines().enumerate() {
        let n = i as u32 + 1;
        for part in line.split("//@").skip(1) {
            let part = part.trim();
            if let Some(rest) = part.strip_prefix("escape:") {
                let states: Option<Vec<Escape>> = rest.split(',').map(parse_state).collect();
                match states {
                    Some(s) => e.allocs.insert(n, s),
                    None => {
                        errors.push(format!("{file}:{n}: bad annotation `{part}`"));
                        None
                    }
                };
            } else if let Some(rest) = part.strip_prefix("param") {
                match rest.split_once(':') {
                    Some((name, state)) if parse_state(state).is_some() => {
                        e.params.insert((n, name.trim().to_string()), parse_state(state).unwrap());
                    }
                    _ => errors.push(format!("{file}:{n}: bad annotation `{part}`")),
                }
            } else if let Some(rest) = part.strip_prefix("returns:") {
                match parse_bound(rest) {
                    Some(b) => {
                        e.returns.insert(n, b);
                    }
                    None => errors.push(format!("{file}:{n}: bad annotation `{part}`")),
                }
            } else {
                errors.push(format!("{file}:{n}: unknown annotation `//@ {part}`"));
            }
        }
    }
    e
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/cases/escape");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "cdy")).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn escape_cases_hold() {
    let files = cases();
    let mut errors = Vec::new();
    let mut count = 0;
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, name.clone(), text.clone());
        let failed =
            check_file(&db, file).iter().filter(|d| d.severity == custody_analysis::Severity::Error).count();
        assert_eq!(failed, 0, "{name} does not check clean");
        let program = program_ir(&db, file);
        let index = LineIndex::new(&text);
        let position = |span: custody_ir::Span| format!("{}..{}", span.start, span.end);
        let (plan, _) = inferred_plan(program, &name, &SpanMap::new(Some(&index)), &position);
        let expected = annotations(&text, &name, &mut errors);
        count += expected.allocs.values().map(Vec::len).sum::<usize>()
            + expected.params.len()
            + expected.returns.len();

        // Allocations by line, in source order (outer first at the same start).
        let mut actual: BTreeMap<u32, Vec<(u32, i64, Escape, String)>> = BTreeMap::new();
        for f in &plan.functions {
            for a in &f.allocations {
                let len = i64::from(a.span.end) - i64::from(a.span.start);
                actual.entry(a.span.line).or_default().push((a.span.start, -len, a.escape, a.id.clone()));
            }
        }
        let mut lines: BTreeSet<u32> = actual.keys().copied().collect();
        lines.extend(expected.allocs.keys().copied());
        for line in lines {
            let mut got = actual.get(&line).cloned().unwrap_or_default();
            got.sort();
            let got_states: Vec<Escape> = got.iter().map(|g| g.2).collect();
            match expected.allocs.get(&line) {
                Some(want) if *want != got_states => {
                    errors.push(format!("{name}:{line}: expected allocations {want:?}, found {got_states:?}"))
                }
                None if got_states.iter().any(|s| *s != Escape::Contained) => {
                    errors.push(format!("{name}:{line}: unannotated allocations {got_states:?}"))
                }
                _ => {}
            }
        }
        // Parameters by (line, name).
        let mut seen_params = BTreeSet::new();
        for (line, _, p, _) in common::declared_params(&plan, program, &index) {
            let key = (line, p.name.clone());
            seen_params.insert(key.clone());
            match expected.params.get(&key) {
                Some(want) if *want != p.escape => errors.push(format!(
                    "{name}:{line}: expected param `{}` {want:?}, found {:?}",
                    p.name, p.escape
                )),
                None if p.escape != Escape::Contained => {
                    errors.push(format!("{name}:{line}: unannotated param `{}`: {:?}", p.name, p.escape))
                }
                _ => {}
            }
        }
        for f in &plan.functions {
            if f.span.line != 0
                && let Some(want) = expected.returns.get(&f.span.line)
                && *want != f.returns.bound
            {
                errors.push(format!(
                    "{name}:{}: expected returns {want:?}, found {:?}",
                    f.span.line, f.returns.bound
                ));
            }
        }
        for key in expected.params.keys() {
            if !seen_params.contains(key) {
                errors.push(format!("{name}:{}: no parameter `{}` declared here", key.0, key.1));
            }
        }
    }
    assert!(errors.is_empty(), "{} problems:\n{}", errors.len(), errors.join("\n"));
    if !files.is_empty() {
        assert!(count >= 60, "only {count} annotations");
    }
}
