//! `custody verify` on mutated plans: the input is a plan (JSON, seeded with the plans of
//! `test-data/programs/contract_example.cdy`) checked against that program. The verifier
//! may accept or reject it, but never panics.
#![no_main]

use custody_analysis::{AnalysisDatabase, SourceFile, program_ir};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn program() -> &'static custody_ir::Program {
    static PROGRAM: OnceLock<custody_ir::Program> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let text = include_str!("../../../test-data/programs/contract_example.cdy");
        let db = AnalysisDatabase::default();
        let file = SourceFile::new(&db, "contract_example.cdy".into(), text.to_string());
        program_ir(&db, file).clone()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(plan) = serde_json::from_slice::<custody_ir::plan::MemoryPlan>(data) else {
        return;
    };
    let _ = custody_ir::verify::verify_plan(program(), &plan);
});
