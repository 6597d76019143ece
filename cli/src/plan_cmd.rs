//! `custody plan`: the memory plan of one or more files, as JSON or as the source with the
//! plan written into it (`--format text`, see [`crate::plan_text`]).
//!
//! The inferred plan carries the escape analysis's verdicts and the lifetime analysis's
//! placements and operations. `--output PATH` writes the file whole or not at all.

use crate::check::{self, Checked};
use crate::plan_text::plan_text;
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
    /// The source, with the plan's decisions and operations written into it as comments.
    Text,
}

pub(crate) fn run(
    files: &[PathBuf],
    plan: PlanChoice,
    format: Format,
    output: Option<&Path>,
    verify: bool,
) -> ExitCode {
    let db = AnalysisDatabase::default();
    let mut plans = Vec::new();
    let mut text_out = String::new();
    let mut status = ExitCode::SUCCESS;
    let mut rejected = false;
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
        let spans = SpanMap::new(Some(&index));
        let program = program_ir(&db, file);
        let position = |span: custody_ir::Span| {
            let pos = index.line_col(span.start.into());
            format!("{}:{}", pos.line, pos.col)
        };
        let plan = match plan {
            PlanChoice::Naive => naive_plan(program, &name, &spans),
            PlanChoice::Inferred => inferred_plan(program, &name, &spans, &position).0,
        };
        if verify {
            let report = custody_ir::verify::verify_plan(program, &plan);
            let renderer = render::Renderer::for_stderr();
            let mut out = crate::verify_cmd::render_report(&report, Some((path.as_path(), &text)), renderer);
            out.push_str(&crate::verify_cmd::summary(&name, &report));
            eprintln!("{out}");
            if !report.is_proven() && status == ExitCode::SUCCESS {
                rejected = true;
            }
        }
        match format {
            Format::Json => plans.push(plan),
            Format::Text => text_out.push_str(&plan_text(&plan, program, &text)),
        }
    }
    // A file with errors (1) outranks a rejected plan (3), as in `custody run`.
    if rejected && status == ExitCode::SUCCESS {
        status = ExitCode::from(3);
    }
    if format == Format::Text {
        return finish(text_out, output, status);
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

/// Writes the output (to a file, whole or not at all if it is a regular one, see
/// [`crate::output`]; or to standard output).
fn finish(out: String, output: Option<&Path>, status: ExitCode) -> ExitCode {
    match output {
        Some(path) => {
            if let Err(err) = crate::output::write_output(path, out.as_bytes()) {
                eprintln!("error: cannot write `{}`: {err}", path.display());
                return ExitCode::from(2);
            }
        }
        None => crate::write_stdout(&out),
    }
    status
}
