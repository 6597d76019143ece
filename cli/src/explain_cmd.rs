//! `custody explain`: why the allocation or parameter at a source position escapes.

use crate::check;
use custody_analysis::escape::analyze;
use custody_analysis::explain::explain_at;
use custody_analysis::{AnalysisDatabase, program_ir};
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
    let db = AnalysisDatabase::default();
    let (file, text) = match check::load_checked(&db, path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
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
