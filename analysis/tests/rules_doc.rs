//! `spec/rules.md` and the code agree: every rule a constraint can carry is documented,
//! and every rule documented there is cited (by name) in the code that implements it.

use custody_analysis::escape::graph::Rule;
use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).unwrap()
}

#[test]
fn every_rule_is_documented_and_cited() {
    let doc = read("spec/rules.md");
    let all = [
        Rule::ParamEntry,
        Rule::Alloc,
        Rule::AllocField,
        Rule::Copy,
        Rule::FieldLoad,
        Rule::FieldStore,
        Rule::ElemLoad,
        Rule::ElemStore,
        Rule::ParamContent,
        Rule::GlobalLoad,
        Rule::GlobalStore,
        Rule::Return,
        Rule::CallSummary,
        Rule::CallFresh,
        Rule::Extern,
        Rule::ClosureCall,
        Rule::UnknownCall,
        Rule::Spawn,
        Rule::ClosureCapture,
        Rule::Cow,
        Rule::StructCopy,
        Rule::Merge,
    ];
    for rule in all {
        assert!(doc.contains(&format!("`{}`", rule.name())), "{} is not in spec/rules.md", rule.name());
    }
    // Every source file of the analysis (a rule moves with the code that implements it).
    let mut code = String::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                code.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let named: Vec<&str> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            [
                "esc-", "sum-", "naive-", "free-", "own-", "life-", "place-", "cow-", "arena-", "cyc-",
                "mode-", "thread-", "manual-",
            ]
            .iter()
            .any(|p| w.starts_with(p))
                && w.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .collect();
    assert!(named.len() >= 25, "only {} rules documented", named.len());
    for rule in named {
        assert!(code.contains(rule), "rule `{rule}` of spec/rules.md is cited nowhere in the code");
    }
}
