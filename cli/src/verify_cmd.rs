//! `custody verify`: check a memory plan with the independent verifier of
//! `custody_ir::verify`, and the pieces `run --plan-file` and `plan --verify` share with it.
//!
//! The plan verified is FILE's inferred (or `--plan naive`) plan, or the one a
//! `--plan-file` gives. FILE is a `.cdy` source, or with `--ir` an IR program in JSON.
//! Exit codes: 0 the plan is proven consistent (notes aside); 1 the program has errors;
//! 2 bad usage or unreadable input (a missing file, a plan file that is not a custody
//! plan); 3 the verifier rejects the plan, with a report naming for each error the
//! function, a path of blocks to it and the operation.

use crate::check;
use crate::plan_cmd::PlanChoice;
use crate::render;
use crate::source::read_source;
use custody_analysis::inferred::inferred_plan;
use custody_analysis::naive::naive_plan;
use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, Diagnostic, IrProgram, Severity, program_ir, validate_ir};
use custody_ir::plan::{MemoryPlan, PLAN_FORMAT, PLAN_VERSION};
use custody_ir::verify::{self, Finding, VerifyReport};
use custody_syntax::{LineIndex, TextRange, TextSize};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How `verify` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Rendered like every diagnostic, with the source line underlined.
    Human,
    /// The report as JSON.
    Json,
}

/// The options of `custody verify`.
pub(crate) struct VerifyArgs {
    pub(crate) file: PathBuf,
    pub(crate) plan_file: Option<PathBuf>,
    pub(crate) plan: PlanChoice,
    pub(crate) ir: bool,
    pub(crate) format: Format,
}

pub(crate) fn run(args: &VerifyArgs) -> ExitCode {
    let db = AnalysisDatabase::default();
    let name = args.file.display().to_string();
    // The program, and its source text when there is one.
    let (program, text): (custody_ir::Program, Option<String>) = if args.ir {
        let text = match read_source(&args.file) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        };
        let program: custody_ir::Program = match serde_json::from_str(&text) {
            Ok(p) => p,
            Err(err) => {
                eprintln!("error: `{name}` is not an IR program in JSON: {err}");
                return ExitCode::from(2);
            }
        };
        let problems = validate_ir(&db, IrProgram::new(&db, name.clone(), program.clone()));
        if !problems.is_empty() {
            for p in problems {
                eprintln!("error[invalid-ir]: {name}: {p}");
            }
            return ExitCode::from(1);
        }
        (program, None)
    } else {
        let (file, text) = match check::load_checked(&db, &args.file) {
            Ok(loaded) => loaded,
            Err(code) => return code,
        };
        (program_ir(&db, file).clone(), Some(text))
    };
    let plan = match &args.plan_file {
        Some(path) => match load_plan_file(path) {
            Ok(plan) => plan,
            Err(code) => return code,
        },
        None => {
            let index = text.as_deref().map(LineIndex::new);
            let spans = SpanMap::new(index.as_ref());
            let position = |span: custody_ir::Span| match &index {
                Some(index) => {
                    let pos = index.line_col(TextSize::from(span.start));
                    format!("{}:{}", pos.line, pos.col)
                }
                None => format!("@{}..{}", span.start, span.end),
            };
            match args.plan {
                PlanChoice::Naive => naive_plan(&program, &name, &spans),
                PlanChoice::Inferred => inferred_plan(&program, &name, &spans, &position).0,
            }
        }
    };
    let report = verify::verify_plan(&program, &plan);
    match args.format {
        Format::Human => {
            let source = text.as_deref().map(|t| (args.file.as_path(), t));
            let mut out = render_report(&report, source, render::Renderer::for_stdout());
            out.push_str(&summary(&name, &report));
            out.push('\n');
            crate::write_stdout(&out);
        }
        Format::Json => crate::write_stdout(&(report_json(&name, &report, text.as_deref()) + "\n")),
    }
    if report.is_proven() { ExitCode::SUCCESS } else { ExitCode::from(3) }
}

/// Reads a plan written by `custody plan` (or by hand). Anything else is unreadable input:
/// a one-line error and exit 2.
pub(crate) fn load_plan_file(path: &Path) -> Result<MemoryPlan, ExitCode> {
    let text = read_source(path).map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::from(2)
    })?;
    let plan: MemoryPlan = serde_json::from_str(&text).map_err(|err| {
        eprintln!("error: `{}` is not a custody plan: {err}", path.display());
        ExitCode::from(2)
    })?;
    if plan.format != PLAN_FORMAT || plan.version != PLAN_VERSION {
        eprintln!(
            "error: `{}` is a plan of format `{}` version {}; this custody reads `{PLAN_FORMAT}` version {PLAN_VERSION}",
            path.display(),
            plan.format,
            plan.version
        );
        return Err(ExitCode::from(2));
    }
    Ok(plan)
}

/// `verified `f.cdy`: 12 functions, 40 operations: proven (2 notes)`, or the rejection.
pub(crate) fn summary(name: &str, report: &VerifyReport) -> String {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let notes =
        if report.notes() > 0 { format!(" ({})", plural(report.notes(), "note")) } else { String::new() };
    if report.is_proven() {
        format!(
            "verified `{name}`: {}, {}: proven{notes}",
            plural(report.functions as usize, "function"),
            plural(report.ops as usize, "operation")
        )
    } else {
        format!("error: the plan of `{name}` is rejected: {}{notes}", plural(report.errors(), "error"))
    }
}

/// Every finding rendered as a diagnostic: its rule as the code, the instruction's source
/// underlined, the function, the operation and the path of blocks in the message.
pub(crate) fn render_report(
    report: &VerifyReport,
    source: Option<(&Path, &str)>,
    renderer: render::Renderer,
) -> String {
    let mut out = String::new();
    let file = source.map(|(path, text)| (render::SourceFile::new(path, text), text.len()));
    for f in &report.findings {
        let message = finding_message(f);
        match &file {
            // An empty span (a finding about a function, or IR without source) has no
            // line worth showing.
            Some((file, len)) if f.span.end as usize <= *len && f.span.start < f.span.end => {
                let range = TextRange::new(f.span.start.into(), f.span.end.into());
                let severity = match f.severity {
                    verify::Severity::Error => Severity::Error,
                    verify::Severity::Note => Severity::Note,
                };
                let d = Diagnostic { severity, code: f.rule.0.name(), message, range, related: Vec::new() };
                out.push_str(&renderer.diagnostic(file, &d));
            }
            _ => {
                let level = match f.severity {
                    verify::Severity::Error => "error",
                    verify::Severity::Note => "note",
                };
                out.push_str(&format!("{level}[{}]: {message}\n", f.rule.0.name()));
            }
        }
        out.push('\n');
    }
    out
}

/// `in `main`, b0.5 `drop x before b0.5` (path b0 -> b2): MESSAGE`.
fn finding_message(f: &Finding) -> String {
    let mut at = String::new();
    if !f.function.is_empty() {
        at.push_str(&format!("in `{}`", f.function));
    }
    if let Some(op) = &f.op {
        at.push_str(&format!(", `{op}`"));
    } else if let Some(inst) = f.inst {
        at.push_str(&format!(", at {inst}"));
    }
    if !f.path.is_empty() {
        at.push_str(&format!(" (path {})", f.path_text()));
    }
    if at.is_empty() { f.message.clone() } else { format!("{at}: {}", f.message) }
}

/// The report as JSON: the source, the verdict, the counts, and every finding (with the
/// line and column of its span when there is source).
pub(crate) fn report_json(name: &str, report: &VerifyReport, text: Option<&str>) -> String {
    let index = text.map(LineIndex::new);
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or(serde_json::Value::Null);
            if let (Some(index), Some(obj)) = (&index, v.as_object_mut())
                && text.is_some_and(|t| f.span.end as usize <= t.len())
            {
                let pos = index.line_col(TextSize::from(f.span.start));
                obj.insert("line".into(), pos.line.into());
                obj.insert("col".into(), pos.col.into());
            }
            v
        })
        .collect();
    let json = serde_json::json!({
        "source": name,
        "proven": report.is_proven(),
        "errors": report.errors(),
        "notes": report.notes(),
        "functions": report.functions,
        "ops": report.ops,
        "findings": findings,
    });
    serde_json::to_string_pretty(&json).unwrap_or_default()
}
