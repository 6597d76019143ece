//! `custody plan`: the memory plan of one or more files, as JSON.
//!
//! The inferred plan carries the escape analysis's verdicts; its placements and
//! operations are the naive plan's (always correct) until the lifetime analysis refines
//! them. `--output PATH` writes the file whole or not at all.

use crate::check::{self, Checked};
use crate::render;
use crate::source::read_source;
use custody_analysis::inferred::inferred_plan;
use custody_analysis::naive::naive_plan;
use custody_analysis::plan::SpanMap;
use custody_analysis::{AnalysisDatabase, Severity, SourceFile, check_file, program_ir};
use custody_syntax::LineIndex;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Which plan to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PlanChoice {
    /// The plan custody infers.
    Inferred,
    /// The baseline: everything reference counted.
    Naive,
}

/// How `plan` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// The JSON plan of `spec/plan-format.md`.
    Json,
    /// The source, with each line's decisions and operations beside it.
    Text,
}

pub(crate) fn run(files: &[PathBuf], plan: PlanChoice, format: Format, output: Option<&Path>) -> ExitCode {
    let db = AnalysisDatabase::default();
    let mut plans = Vec::new();
    let mut texts = Vec::new();
    let mut status = ExitCode::SUCCESS;
    for path in files {
        let text = match read_source(path) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        };
        let name = path.display().to_string();
        let file = SourceFile::new(&db, name.clone(), text.clone());
        let diagnostics = check_file(&db, file).clone();
        if diagnostics.iter().any(|d| d.severity == Severity::Error) {
            let checked = [Checked { path: path.clone(), text, diagnostics }];
            eprint!("{}", check::human(&checked, render::Renderer::for_stderr()));
            status = ExitCode::from(1);
            continue;
        }
        let index = LineIndex::new(&text);
        texts.push(text.clone());
        let spans = SpanMap::new(Some(&index));
        let program = program_ir(&db, file);
        let position = |span: custody_ir::Span| {
            let pos = index.line_col(span.start.into());
            format!("{}:{}", pos.line, pos.col)
        };
        plans.push(match plan {
            PlanChoice::Naive => naive_plan(program, &name, &spans),
            PlanChoice::Inferred => inferred_plan(program, &name, &spans, &position).0,
        });
    }
    if format == Format::Text {
        let out: String = plans.iter().zip(&texts).map(|(plan, text)| plan_text(plan, text)).collect();
        return finish(out, output, status);
    }
    // One file: the plan itself; several: an array of plans.
    let json = match plans.as_slice() {
        [one] => serde_json::to_string_pretty(one),
        many => serde_json::to_string_pretty(many),
    };
    let json = match json {
        Ok(json) => json + "\n",
        Err(err) => {
            eprintln!("error: cannot write the plan as JSON: {err}");
            return ExitCode::from(2);
        }
    };
    finish(json, output, status)
}

/// Writes the output (to a file whole or not at all, or to standard output).
fn finish(out: String, output: Option<&Path>, status: ExitCode) -> ExitCode {
    let json = out;
    match output {
        Some(path) => {
            let tmp = path.with_extension("tmp-custody");
            if let Err(err) = std::fs::write(&tmp, &json).and_then(|()| std::fs::rename(&tmp, path)) {
                let _ = std::fs::remove_file(&tmp);
                eprintln!("error: cannot write `{}`: {err}", path.display());
                return ExitCode::from(2);
            }
        }
        None => crate::write_stdout(&json),
    }
    status
}

/// The source of a file with, under each line, what the plan decided there: the
/// allocations that start on it (escape, placement, control, reason), the parameters
/// declared on it, and the memory operations at its instructions.
fn plan_text(plan: &custody_ir::plan::MemoryPlan, text: &str) -> String {
    use custody_ir::plan::{Escape, Placement};
    use std::collections::BTreeMap;
    use std::fmt::Write;
    let escape = |e: Escape| match e {
        Escape::Contained => "contained",
        Escape::Binding => "binding",
        Escape::Uncontained => "uncontained",
        Escape::Thread => "thread",
    };
    let control = |c: custody_ir::plan::Control| format!("{c:?}").to_lowercase();
    let mut notes: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for f in &plan.functions {
        for p in &f.params {
            let flows: Vec<String> = p
                .flows_to
                .iter()
                .map(|t| match t {
                    custody_ir::plan::FlowTarget::Return => "the result".to_string(),
                    custody_ir::plan::FlowTarget::Param { index, path } => {
                        format!("parameter {index} at `{path}`")
                    }
                    custody_ir::plan::FlowTarget::Global { name } => format!("global `{name}`"),
                    custody_ir::plan::FlowTarget::Thread => "another thread".to_string(),
                    custody_ir::plan::FlowTarget::Unknown => "unknown code".to_string(),
                })
                .collect();
            let mode = format!("{:?}", p.mode).to_lowercase();
            notes.entry(f.span.line).or_default().push(format!(
                "param `{}` of `{}`: {}, {mode}{}",
                p.name,
                f.name,
                escape(p.escape),
                if flows.is_empty() { String::new() } else { format!(", flows to {}", flows.join(", ")) }
            ));
        }
        for a in &f.allocations {
            let reason = if a.reason.is_empty() { String::new() } else { format!(" ({})", a.reason) };
            notes.entry(a.span.line).or_default().push(format!(
                "{} {} `{}`: {}, {}, control {}{reason}",
                a.id,
                format!("{:?}", a.kind).to_lowercase(),
                a.ty,
                escape(a.escape),
                Placement::as_str(a.placement),
                control(a.control),
            ));
        }
        let mut ops_by_line: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for op in &f.ops {
            let value = op.value.clone().unwrap_or_default();
            let place = match (op.field, op.index) {
                (Some(field), _) => format!(".{field}"),
                (_, Some(_)) => "[i]".to_string(),
                _ => String::new(),
            };
            ops_by_line.entry(op.at.line).or_default().push(format!("{} {value}{place}", op.op.as_str()));
        }
        for (line, ops) in ops_by_line {
            notes.entry(line).or_default().push(format!("ops: {}", ops.join(", ")));
        }
    }
    let mut out = format!("plan of {}\n", plan.source);
    let width = text.lines().count().to_string().len();
    for (i, line) in text.lines().enumerate() {
        let n = i as u32 + 1;
        let _ = writeln!(out, "{n:>width$} | {line}");
        for note in notes.get(&n).into_iter().flatten() {
            let _ = writeln!(out, "{:>width$} = {note}", "");
        }
    }
    out
}
