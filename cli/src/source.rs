//! Reading input files, with a clear one-line reason when that is impossible.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a source file could not be read.
#[derive(Debug)]
pub(crate) enum SourceError {
    /// The file could not be opened or read.
    Io { path: PathBuf, error: std::io::Error },
    /// The file is not UTF-8; `line` and `col` locate the first bad byte.
    NotUtf8 { path: PathBuf, line: usize, col: usize },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Io { path, error } => {
                let reason = match error.kind() {
                    std::io::ErrorKind::NotFound => "no such file".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
                    _ => error.to_string(),
                };
                write!(f, "cannot read `{}`: {reason}", path.display())
            }
            SourceError::NotUtf8 { path, line, col } => write!(
                f,
                "cannot read `{}`: it is not valid UTF-8 (first invalid byte at {line}:{col})",
                path.display()
            ),
        }
    }
}

/// Reads a whole source file as UTF-8 text.
pub(crate) fn read_source(path: &Path) -> Result<String, SourceError> {
    let bytes = std::fs::read(path).map_err(|error| {
        // `read` on a directory fails with an unhelpful "Is a directory (os error 21)" on
        // some systems and a generic error on others: say it plainly.
        let error = if path.is_dir() {
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory")
        } else {
            error
        };
        SourceError::Io { path: path.to_owned(), error }
    })?;
    String::from_utf8(bytes).map_err(|err| {
        let valid = err.utf8_error().valid_up_to();
        let before = &err.as_bytes()[..valid];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        // The prefix is valid UTF-8, so counting characters is exact.
        let col = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        SourceError::NotUtf8 { path: path.to_owned(), line, col }
    })
}
