//! Writing an output file the user named (`plan --output`, `run --stats-json`).
//!
//! A regular file (or a path that does not exist yet) is written whole or not at all: the
//! text goes to a new temporary file beside it, which is then renamed over it, so a
//! failure never leaves half a plan. Anything else is written directly and never replaced:
//! a device (`/dev/null`, `/dev/stdout`), a pipe, or a symlink, which is followed (a
//! symlink to a regular file has its target replaced whole; the link itself stays).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` as described in the module documentation.
pub(crate) fn write_output(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return write_whole(path, bytes, None),
        Err(err) => return Err(err),
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
            // A symlink to a regular file: replace the file it points to, not the link.
            Ok(real) => real,
            // A dangling symlink: writing through it creates its target.
            Err(_) => return write_directly(path, bytes),
        },
        Ok(_) => path.to_path_buf(),
    };
    let meta = std::fs::metadata(&target)?;
    if meta.is_file() {
        write_whole(&target, bytes, Some(meta.permissions()))
    } else {
        write_directly(&target, bytes)
    }
}

/// Writes through an existing non-regular file (a device, a pipe) without replacing it.
fn write_directly(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(path)?;
    file.write_all(bytes)?;
    file.flush()
}

/// Writes a new temporary file beside `path` and renames it over `path`.
fn write_whole(path: &Path, bytes: &[u8], permissions: Option<std::fs::Permissions>) -> std::io::Result<()> {
    let (tmp, mut file) = temporary_beside(path)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| match permissions {
            Some(permissions) => std::fs::set_permissions(&tmp, permissions),
            None => Ok(()),
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A new file `PATH.tmp-custody` (or `PATH.tmp-custody.N` if that exists): never an
/// existing file, which would then be lost.
fn temporary_beside(path: &Path) -> std::io::Result<(PathBuf, File)> {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp-custody");
    let base = PathBuf::from(name);
    let mut candidate = base.clone();
    for n in 1..=100u32 {
        match OpenOptions::new().write(true).create_new(true).open(&candidate) {
            Ok(file) => return Ok((candidate, file)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut name = base.as_os_str().to_owned();
                name.push(format!(".{n}"));
                candidate = PathBuf::from(name);
            }
            Err(err) => return Err(err),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free temporary file name"))
}
