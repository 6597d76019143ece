//! `custody run`: execute a program under a memory plan on the checked heap.
//!
//! `--plan-file PLAN.json` runs a given plan (as `custody plan` wrote it, or edited by hand)
//! instead of computing one; the interpreter reports whatever in it does not fit the
//! program as `invalid-plan` violations.
//!
//! Exit codes (plan-format contract): 0 the run was clean; 2 the program does not compile
//! (or cannot be read); 3 the plan was unsound (a use after free, a double free, a
//! reference to a freed stack or arena object, a non-atomic count shared between threads,
//! anything still allocated when `main` returned); 4 the program failed (null access,
//! index out of range, division by zero, an extern call, a resource limit).

use crate::check::{self, Checked};
use crate::render;
use crate::source::read_source;
use custody_analysis::inferred::inferred_plan;
use custody_analysis::naive::naive_plan;
use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, Diagnostic, Severity, SourceFile, check_file, program_ir};
use custody_ir::exec::{self, Outcome, RunOptions};
use custody_syntax::{LineIndex, TextRange, TextSize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::plan_cmd::PlanChoice;

/// The options of `custody run`.
pub(crate) struct RunArgs {
    pub(crate) file: PathBuf,
    pub(crate) plan: PlanChoice,
    pub(crate) plan_file: Option<PathBuf>,
    pub(crate) seed: u64,
    pub(crate) trace: bool,
    pub(crate) stats_json: Option<PathBuf>,
    pub(crate) max_steps: u64,
    pub(crate) max_heap: u64,
}

pub(crate) fn run(args: &RunArgs) -> ExitCode {
    let text = match read_source(&args.file) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let db = AnalysisDatabase::default();
    let name = args.file.display().to_string();
    let file = SourceFile::new(&db, name.clone(), text.clone());
    let diagnostics = check_file(&db, file).clone();
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        let checked = [Checked { path: args.file.clone(), text, diagnostics }];
        eprint!("{}", check::human(&checked, render::Renderer::for_stderr()));
        eprintln!("error: `{name}` does not compile, so it cannot run");
        return ExitCode::from(2);
    }
    let program = program_ir(&db, file);
    let index = LineIndex::new(&text);
    let position = |span: custody_ir::Span| {
        let pos = index.line_col(TextSize::from(span.start));
        format!("{}:{}", pos.line, pos.col)
    };
    let spans = SpanMap::new(Some(&index));
    let plan = match (&args.plan_file, args.plan) {
        (Some(path), _) => match crate::verify_cmd::load_plan_file(path) {
            Ok(plan) => plan,
            Err(code) => return code,
        },
        (None, PlanChoice::Naive) => naive_plan(program, &name, &spans),
        (None, PlanChoice::Inferred) => inferred_plan(program, &name, &spans, &position).0,
    };
    let options = RunOptions {
        seed: args.seed,
        trace: args.trace,
        max_steps: args.max_steps,
        max_heap_bytes: args.max_heap,
        position: Some(&position),
        ..RunOptions::default()
    };
    let mut stdout = crate::StdoutSink;
    let mut stderr = std::io::stderr().lock();
    let report = exec::run(program, &plan, &options, &mut stdout, &mut stderr);
    drop(stderr);

    let renderer = render::Renderer::for_stderr();
    let source = render::SourceFile::new(&args.file, &text);
    let to_range = |span: custody_ir::Span| TextRange::new(span.start.into(), span.end.into());
    let mut message = String::new();
    for v in &report.violations {
        let at = v.use_span.or(v.free_span).unwrap_or(v.alloc_span);
        // The code is the violation's kind (`use-after-free`, `leaked-cycle`, ...).
        let mut d = Diagnostic::error(v.kind.as_str(), to_range(at), v.message.clone());
        if at != v.alloc_span {
            d = d.with_related(to_range(v.alloc_span), format!("allocated here (`{}`)", v.alloc_site));
        }
        if let Some(free) = v.free_span
            && free != at
        {
            d = d.with_related(to_range(free), "freed here");
        }
        message.push_str(&renderer.diagnostic(&source, &d));
        message.push('\n');
    }
    if let Some(err) = &report.program_error {
        let d = Diagnostic::error(
            "program-error",
            to_range(err.span),
            format!("the program failed: {}", err.message),
        );
        message.push_str(&renderer.diagnostic(&source, &d));
        message.push('\n');
    }
    eprint!("{message}");
    if let Some(path) = &args.stats_json
        && let Err(err) = write_atomically(path, &report)
    {
        eprintln!("error: cannot write `{}`: {err}", path.display());
        return ExitCode::from(2);
    }
    match report.outcome {
        Outcome::Completed => ExitCode::SUCCESS,
        Outcome::Unsound => {
            let n = report.violations.len();
            eprintln!("error: the plan is unsound: {n} violation{}", if n == 1 { "" } else { "s" });
            ExitCode::from(3)
        }
        Outcome::ProgramError(_) => ExitCode::from(4),
    }
}

/// Writes the stats JSON whole or not at all (to a regular file; see [`crate::output`]).
fn write_atomically(path: &Path, report: &exec::RunReport) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    crate::output::write_output(path, (json + "\n").as_bytes())
}
