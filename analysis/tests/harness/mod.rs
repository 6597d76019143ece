//! What the generated-program property tests (`plan_soundness.rs`, `typed_programs.rs`)
//! share: checking and planning a program both ways, running a plan on the checked
//! interpreter and describing the outcome.

use custody_analysis::inferred::inferred_plan;
use custody_analysis::naive::naive_plan;
use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, Severity, SourceFile, check_file, program_ir};
use custody_ir::exec::{self, RunOptions, RunReport};
use custody_ir::plan::MemoryPlan;
use custody_syntax::LineIndex;

/// A program that checks clean, with both of its plans.
pub(crate) struct Planned {
    /// The lowered program.
    pub(crate) program: custody_ir::Program,
    /// Its naive plan.
    pub(crate) naive: MemoryPlan,
    /// Its inferred plan.
    pub(crate) inferred: MemoryPlan,
    /// Whether it spawns (threads start at seeded points: worth more than one seed).
    pub(crate) spawns: bool,
    index: LineIndex,
}

impl Planned {
    /// `line:col` of a span, for run reports.
    pub(crate) fn position(&self, span: custody_ir::Span) -> String {
        let pos = self.index.line_col(span.start.into());
        format!("{}:{}", pos.line, pos.col)
    }
}

/// Checks `text` and plans it both ways; its errors (`{:#?}`) if it does not check clean.
pub(crate) fn check_and_plan(text: &str) -> Result<Planned, String> {
    let name = "gen.cdy";
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, name.into(), text.to_string());
    let errors: Vec<_> =
        check_file(&db, file).iter().filter(|d| d.severity == Severity::Error).cloned().collect();
    if !errors.is_empty() {
        return Err(format!("{errors:#?}"));
    }
    let program = program_ir(&db, file).clone();
    let index = LineIndex::new(text);
    let position = |span: custody_ir::Span| {
        let pos = index.line_col(span.start.into());
        format!("{}:{}", pos.line, pos.col)
    };
    let spans = SpanMap::new(Some(&index));
    let naive = naive_plan(&program, name, &spans);
    let (inferred, _) = inferred_plan(&program, name, &spans, &position);
    let spawns = program
        .functions
        .iter()
        .any(|f| f.insts().any(|(_, i)| matches!(i.kind, custody_ir::InstKind::Spawn { .. })));
    Ok(Planned { program, naive, inferred, spawns, index })
}

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
