//! `custody ir` (print a file's IR) and `custody check --ir` (validate IR from outside).

use crate::check;
use crate::source::read_source;
use custody_analysis::{AnalysisDatabase, IrProgram, program_ir, validate_ir};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How `ir` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// The readable text form.
    Text,
    /// JSON, readable by `custody check --ir`.
    Json,
}

pub(crate) fn run(path: &Path, format: Format) -> ExitCode {
    let db = AnalysisDatabase::default();
    let (file, _text) = match check::load_checked(&db, path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let program = program_ir(&db, file);
    let out = match format {
        Format::Text => custody_ir::print_program(program),
        Format::Json => match serde_json::to_string_pretty(program) {
            Ok(json) => json + "\n",
            Err(err) => {
                eprintln!("error: cannot write the IR as JSON: {err}");
                return ExitCode::from(2);
            }
        },
    };
    crate::write_stdout(&out);
    ExitCode::SUCCESS
}

/// Reads IR programs in JSON and validates them. A file that is not JSON of an IR program
/// is unreadable input (2); a program that breaks the IR's rules has errors (1).
pub(crate) fn check_ir(paths: &[PathBuf], format: check::Format) -> ExitCode {
    let db = AnalysisDatabase::default();
    let mut unreadable = false;
    let mut errors = 0usize;
    let mut report = Vec::new();
    for path in paths {
        let text = match read_source(path) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("error: {err}");
                unreadable = true;
                continue;
            }
        };
        let program: custody_ir::Program = match serde_json::from_str(&text) {
            Ok(p) => p,
            Err(err) => {
                eprintln!("error: `{}` is not an IR program in JSON: {err}", path.display());
                unreadable = true;
                continue;
            }
        };
        let input = IrProgram::new(&db, path.display().to_string(), program);
        let problems = validate_ir(&db, input);
        errors += problems.len();
        report.extend(problems.iter().map(|p| (path.display().to_string(), p.to_string())));
    }
    match format {
        check::Format::Human => {
            let text: String = report
                .iter()
                .map(|(path, message)| format!("error[invalid-ir]: {path}: {message}\n"))
                .collect();
            crate::write_stdout(&text);
        }
        check::Format::Json | check::Format::Sarif => {
            let json: Vec<serde_json::Value> = report
                .iter()
                .map(|(path, message)| serde_json::json!({ "source": path, "severity": "error", "code": "invalid-ir", "message": message }))
                .collect();
            crate::write_stdout(&(serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"));
        }
    }
    if unreadable {
        ExitCode::from(2)
    } else if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
