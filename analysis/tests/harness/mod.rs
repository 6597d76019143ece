//! What the generated-program property tests (`plan_soundness.rs`, `typed_programs.rs`)
//! share: running a plan on the checked interpreter and describing the outcome.

use custody_ir::exec::{self, RunOptions, RunReport};
use custody_ir::plan::MemoryPlan;

/// Runs `program` under `plan` with at most `max_steps` steps; the report and what it
/// printed.
pub(crate) fn run_plan(
    program: &custody_ir::Program,
    plan: &MemoryPlan,
    seed: u64,
    max_steps: u64,
    position: &dyn Fn(custody_ir::Span) -> String,
) -> (RunReport, Vec<u8>) {
    let mut stdout = Vec::new();
    let options = RunOptions { seed, max_steps, position: Some(position), ..RunOptions::default() };
    let report = exec::run(program, plan, &options, &mut stdout, &mut std::io::sink());
    (report, stdout)
}

/// A run's outcome, violations and program error, one per line.
pub(crate) fn describe(report: &RunReport) -> String {
    let mut out = format!("{:?}", report.outcome);
    for v in &report.violations {
        out.push_str(&format!("\n  {}: {}", v.kind.as_str(), v.message));
    }
    if let Some(e) = &report.program_error {
        out.push_str(&format!("\n  program error: {}", e.message));
    }
    out
}
