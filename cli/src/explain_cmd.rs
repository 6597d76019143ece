//! `custody explain`: why the allocation or parameter at a source position escapes.

use crate::check::{self, Checked};
use crate::render;
use crate::source::read_source;
use custody_analysis::escape::analyze;
use custody_analysis::explain::explain_at;
use custody_analysis::{AnalysisDatabase, Severity, SourceFile, check_file, program_ir};
use custody_syntax::LineIndex;
use std::path::Path;
use std::process::ExitCode;

/// How `explain` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// A headline and numbered steps.
    Text,
    /// The explanations as JSON.
    Json,
}

pub(crate) fn run(path: &Path, line: u32, col: Option<u32>, format: Format) -> ExitCode {
    let text = match read_source(path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let db = AnalysisDatabase::default();
    let file = SourceFile::new(&db, path.display().to_string(), text.clone());
    let diagnostics = check_file(&db, file).clone();
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        let checked = [Checked { path: path.to_owned(), text, diagnostics }];
        eprint!("{}", check::human(&checked, render::Renderer::for_stderr()));
        return ExitCode::from(1);
    }
    let program = program_ir(&db, file);
    let escape = analyze(program);
    let index = LineIndex::new(&text);
    let position = |span: custody_ir::Span| {
        let pos = index.line_col(span.start.into());
        format!("{}:{}", pos.line, pos.col)
    };
    let found = explain_at(program, &escape, &index, &text, line, col, &position);
    if found.is_empty() {
        let at = col.map_or(format!("line {line}"), |c| format!("{line}:{c}"));
        eprintln!("error: there is no allocation or parameter at {at} of `{}`", path.display());
        return ExitCode::from(1);
    }
    let out = match format {
        Format::Text => found.iter().map(|e| e.text(&text, &position)).collect::<Vec<_>>().join("\n"),
        Format::Json => serde_json::to_string_pretty(&found).unwrap_or_default() + "\n",
    };
    crate::write_stdout(&out);
    ExitCode::SUCCESS
}
