//! `custody check`: diagnostics for one or more files, as text, JSON or SARIF.

use crate::render;
use crate::source::read_source;
use custody_analysis::{AnalysisDatabase, Diagnostic, Severity, SourceFile, check_file};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How `check` prints its findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Rendered like rustc, with the source line underlined.
    Human,
    /// The `diagnostics` array of the plan format.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// One checked file: its path, text and diagnostics.
pub(crate) struct Checked {
    pub(crate) path: PathBuf,
    pub(crate) text: String,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

pub(crate) fn run(paths: &[PathBuf], format: Format) -> ExitCode {
    let db = AnalysisDatabase::default();
    let mut checked = Vec::new();
    let mut unreadable = false;
    for path in paths {
        match read_source(path) {
            Ok(text) => {
                let file = SourceFile::new(&db, path.display().to_string(), text.clone());
                let diagnostics = check_file(&db, file).clone();
                checked.push(Checked { path: path.clone(), text, diagnostics });
            }
            Err(err) => {
                eprintln!("error: {err}");
                unreadable = true;
            }
        }
    }
    let errors =
        checked.iter().flat_map(|c| &c.diagnostics).filter(|d| d.severity == Severity::Error).count();
    match format {
        Format::Human => crate::write_stdout(&human(&checked, render::Renderer::for_stdout())),
        Format::Json => crate::write_stdout(&(crate::diagnostics_json::to_json(&checked) + "\n")),
        Format::Sarif => crate::write_stdout(&(crate::diagnostics_json::to_sarif(&checked) + "\n")),
    }
    if unreadable {
        ExitCode::from(2)
    } else if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Every diagnostic rendered, then a summary line per file with errors.
pub(crate) fn human(checked: &[Checked], renderer: render::Renderer) -> String {
    let mut out = String::new();
    for c in checked {
        let file = render::SourceFile::new(&c.path, &c.text);
        for d in &c.diagnostics {
            out.push_str(&renderer.diagnostic(&file, d));
            out.push('\n');
        }
        let errors = c.diagnostics.iter().filter(|d| d.severity == Severity::Error).count();
        let warnings = c.diagnostics.len() - errors;
        if errors + warnings > 0 {
            let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            let mut parts = Vec::new();
            if errors > 0 {
                parts.push(count(errors, "error"));
            }
            if warnings > 0 {
                parts.push(count(warnings, "warning"));
            }
            out.push_str(&format!("{}: {}\n", c.path.display(), parts.join(", ")));
        }
    }
    out
}

/// Reads and checks one file for a command that needs an error-free program: on a read
/// error prints it and gives exit 2, on error diagnostics renders them to stderr and
/// gives exit 1; otherwise the file and its text.
pub(crate) fn load_checked(db: &AnalysisDatabase, path: &Path) -> Result<(SourceFile, String), ExitCode> {
    let text = read_source(path).map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::from(2)
    })?;
    let file = SourceFile::new(db, path.display().to_string(), text.clone());
    let diagnostics = check_file(db, file).clone();
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        let checked = [Checked { path: path.to_owned(), text, diagnostics }];
        eprint!("{}", human(&checked, render::Renderer::for_stderr()));
        return Err(ExitCode::from(1));
    }
    Ok((file, text))
}
