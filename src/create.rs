//! Creating a file of a given length, all or nothing.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::map;

/// Creates the file at `path` with `len` zero bytes, reserved on disk, and returns it open
/// for reading and writing.
///
/// Without `overwrite`, an existing file is an [`Error::AlreadyExists`]. With it, the new
/// file is built under a temporary name in the same folder and renamed over the old one,
/// so the old file stays whole until the new one is ready, and live maps of it never see
/// it truncated. On any failure nothing is left behind.
pub(crate) fn create(path: &Path, len: u64, overwrite: bool) -> Result<File> {
    if !overwrite {
        let file = create_new(path)?;
        return reserve(file, path, len).inspect_err(|_| {
            // Best effort: the file is ours and empty of anything the caller wrote.
            let _ = std::fs::remove_file(path);
        });
    }
    if path.is_dir() {
        return Err(Error::IsADirectory { path: path.to_path_buf() });
    }
    let (temp, file) = create_temp_beside(path)?;
    let ready = reserve(file, path, len).and_then(|file| {
        std::fs::rename(&temp, path).map_err(|e| Error::io(path, "replace", len, e))?;
        Ok(file)
    });
    if ready.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    ready
}

fn create_new(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::from_open(path, true, e))
}

/// Grows a new, empty file to `len` reserved bytes; errors name `path`, the file the
/// caller asked for (even while the file still has a temporary name).
fn reserve(file: File, path: &Path, len: u64) -> Result<File> {
    map::grow_and_reserve(&file, 0, len)
        .map_err(|e| Error::io(path, "reserve space for", len, e))?;
    Ok(file)
}

/// A new file next to `path`, named `.NAME.ndmmap-PID-N`.
fn create_temp_beside(path: &Path) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = path.with_file_name(format!(".{name}.ndmmap-{}-{n}", std::process::id()));
        match OpenOptions::new().read(true).write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            // Named after the file asked for: the temporary name means nothing to the caller.
            Err(e) => return Err(Error::from_open(path, true, e)),
        }
    }
}
