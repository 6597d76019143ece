//! The naive plan of every test program: well-formed, faithful to its rules, and stable
//! through JSON.

use custody_analysis::naive::naive_plan;
use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, SourceFile, program_ir};
use custody_ir::plan::{MemoryPlan, OpKind, Placement};
use custody_syntax::LineIndex;
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

fn plan_of(path: &Path) -> (custody_ir::Program, MemoryPlan) {
    let text = std::fs::read_to_string(path).unwrap();
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, path.display().to_string(), text.clone());
    let program = program_ir(&db, file).clone();
    let index = LineIndex::new(&text);
    let plan = naive_plan(&program, &path.display().to_string(), &SpanMap::new(Some(&index)));
    (program, plan)
}

#[test]
fn naive_plans_round_trip_through_json() {
    for path in programs() {
        let (_, plan) = plan_of(&path);
        let json = serde_json::to_string_pretty(&plan).unwrap();
        let back: MemoryPlan = serde_json::from_str(&json).unwrap();
        assert!(back == plan, "{}: the plan changed through JSON", path.display());
    }
}

#[test]
fn naive_plans_count_everything() {
    for path in programs() {
        let (program, plan) = plan_of(&path);
        assert_eq!(plan.format, "custody-plan");
        assert_eq!(plan.functions.len(), program.functions.len());
        let spawns = program
            .functions
            .iter()
            .any(|f| f.insts().any(|(_, i)| matches!(i.kind, custody_ir::InstKind::Spawn { .. })));
        for f in &plan.functions {
            for a in &f.allocations {
                let expected = if spawns { Placement::HeapAtomicRc } else { Placement::HeapRc };
                assert_eq!(a.placement, expected, "{}: {}", path.display(), a.id);
            }
        }
        assert_eq!(plan.stats.rc_ops, plan.stats.rc_ops_naive);
        // Every array write is checked for sharing.
        for (f, fp) in program.functions.iter().zip(&plan.functions) {
            for (at, inst) in f.insts() {
                if matches!(
                    inst.kind,
                    custody_ir::InstKind::StoreElem { .. }
                        | custody_ir::InstKind::Push { .. }
                        | custody_ir::InstKind::Pop { .. }
                ) {
                    assert!(
                        fp.ops.iter().any(|o| o.inst == at && o.op == OpKind::CowCheck),
                        "{}: {} {at}",
                        path.display(),
                        f.name
                    );
                }
            }
        }
    }
}
