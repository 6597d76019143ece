//! Issue 16, item 7: IR from outside custody that fails validation never makes a library
//! entry point panic or return a meaningless plan: the entry points that plan or analyse
//! IR validate it first and hand back the validator's errors.

use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, SourceFile, program_ir};
use serde_json::{Value, json};

const SOURCE: &str =
    "class C { x: int }\nfn main() {\n    let c = C { x: 1 };\n    let n = c.x;\n    print(n);\n}\n";

fn program_json() -> Value {
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, "small.cdy".to_string(), SOURCE.to_string());
    serde_json::to_value(program_ir(&db, file)).unwrap()
}

/// The instruction of `main` whose `inst` is `kind`.
fn inst<'v>(program: &'v mut Value, kind: &str) -> &'v mut Value {
    let insts = program["functions"][0]["blocks"][0]["insts"].as_array_mut().unwrap();
    insts.iter_mut().find(|i| i["inst"] == kind).unwrap()
}

/// The mutations of the issue, each with a word the validator's message must contain.
fn mutations() -> Vec<(&'static str, Value, &'static str)> {
    let mut out = Vec::new();
    let mut p = program_json();
    inst(&mut p, "load_field")["object"] = json!(99);
    out.push(("a local id out of range", p, "%99"));
    let mut p = program_json();
    inst(&mut p, "load_field")["field"] = json!(7);
    out.push(("field index 7 of a one-field class", p, "field"));
    let mut p = program_json();
    inst(&mut p, "new_object")["dest"] = json!(2);
    out.push(("an object stored into an int local", p, "int"));
    let mut p = program_json();
    inst(&mut p, "scope_enter")["locals"] = json!([0, 99]);
    out.push(("a scope of a local out of range", p, "%99"));
    let mut p = program_json();
    inst(&mut p, "print")["value"] = json!(4_000_000_000u64);
    out.push(("a huge local id", p, "%4000000000"));
    let mut p = program_json();
    p["main"] = json!(5);
    out.push(("main out of range", p, "main"));
    let mut p = program_json();
    inst(&mut p, "new_object")["class"] = json!(3);
    out.push(("a class out of range", p, "class"));
    let mut p = program_json();
    inst(&mut p, "new_object")["fields"] = json!([1, 1, 1]);
    out.push(("too many field values", p, "field"));
    let mut p = program_json();
    inst(&mut p, "scope_exit")["scope"] = json!(9);
    out.push(("a scope that is never entered", p, "scope"));
    let mut p = program_json();
    p["functions"][0]["locals"][1]["ty"] = json!({"class": 0});
    out.push(("an int constant in an object local", p, "int"));
    out
}

#[test]
fn the_validator_rejects_each_mutation() {
    for (what, json, word) in mutations() {
        let program: custody_ir::Program = serde_json::from_value(json).unwrap();
        let errors = custody_ir::validate(&program).expect_err(what);
        assert!(errors.iter().any(|e| e.to_string().contains(word)), "{what}: {errors:?}");
    }
}

#[test]
fn planning_invalid_ir_returns_the_validation_errors() {
    for (what, json, _) in mutations() {
        let program: custody_ir::Program = serde_json::from_value(json).unwrap();
        let expected: Vec<String> =
            custody_ir::validate(&program).unwrap_err().iter().map(|e| e.to_string()).collect();
        let spans = SpanMap::new(None);
        for (plan_kind, plan) in [
            (
                "naive",
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    custody_analysis::naive::naive_plan(&program, "x.json", &spans)
                })),
            ),
            (
                "inferred",
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    custody_analysis::inferred::inferred_plan(&program, "x.json", &spans, &|_| String::new())
                        .0
                })),
            ),
        ] {
            let plan = plan.unwrap_or_else(|_| panic!("{what}: the {plan_kind} plan panicked"));
            assert!(plan.functions.is_empty(), "{what}: a {plan_kind} plan of invalid IR");
            let messages: Vec<&str> = plan.diagnostics.iter().map(|d| d.message.as_str()).collect();
            assert_eq!(messages, expected, "{what}: {plan_kind}");
            assert!(plan.diagnostics.iter().all(|d| d.severity == "error" && d.code == "invalid-ir"));
        }
    }
}

/// Every number of the IR of a few test programs, replaced in turn by a few others (the
/// mutated `custody ir --format json` output of the issue): whatever the validator says,
/// planning never panics, and invalid IR gets its errors instead of a plan.
#[test]
fn every_single_number_mutation_is_validated_or_planned() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-data/programs");
    for name in ["contract_example", "closures", "dream_circular_nodes"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.cdy"))).unwrap();
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, format!("{name}.cdy"), text);
        let original = serde_json::to_value(program_ir(&db, file)).unwrap();
        let mut paths = Vec::new();
        numbers(&original, &mut Vec::new(), &mut paths);
        // Every number is mutated where it is cheap; otherwise a spread-out sample.
        let step = paths.len().div_ceil(300).max(1);
        for path in paths.iter().step_by(step) {
            for value in [0u64, 1, 2, 7, 1_000] {
                let mut mutated = original.clone();
                let slot = path.iter().fold(&mut mutated, |v, key| match key {
                    Key::Field(k) => &mut v[k.as_str()],
                    Key::Index(i) => &mut v[*i],
                });
                if slot.as_u64() == Some(value) {
                    continue;
                }
                *slot = json!(value);
                let Ok(program) = serde_json::from_value::<custody_ir::Program>(mutated) else {
                    continue;
                };
                let valid = custody_ir::validate(&program).is_ok();
                let spans = SpanMap::new(None);
                let plan = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    custody_analysis::inferred::inferred_plan(&program, "x.json", &spans, &|_| String::new())
                        .0
                }))
                .unwrap_or_else(|_| panic!("{name}: {path:?} = {value} (valid: {valid}): planning panicked"));
                assert_eq!(plan.functions.is_empty(), !valid, "{name}: {path:?} = {value}");
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Key {
    Field(String),
    Index(usize),
}

/// The paths of every unsigned number in `value` (spans excepted: they only move text).
fn numbers(value: &Value, path: &mut Vec<Key>, out: &mut Vec<Vec<Key>>) {
    // A work list, not recursion: IR JSON can be deep.
    let mut work = vec![(value, path.clone())];
    while let Some((v, p)) = work.pop() {
        match v {
            Value::Number(n) if n.is_u64() => out.push(p),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let mut q = p.clone();
                    q.push(Key::Index(i));
                    work.push((item, q));
                }
            }
            Value::Object(fields) => {
                for (k, item) in fields {
                    if k == "span" {
                        continue;
                    }
                    let mut q = p.clone();
                    q.push(Key::Field(k.clone()));
                    work.push((item, q));
                }
            }
            _ => {}
        }
    }
    path.clear();
}
