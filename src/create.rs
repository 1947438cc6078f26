//! Creating files all or nothing: a new file of a given length, or a whole file written
//! under a temporary name and renamed into place.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
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
    create_with_prefix(path, len, overwrite, &[])
}

/// As [`create`], with `prefix` written at the start of the file before it appears under
/// its name (a `.npy` header, say).
pub(crate) fn create_with_prefix(
    path: &Path,
    len: u64,
    overwrite: bool,
    prefix: &[u8],
) -> Result<File> {
    let reserve_and_prefix = |new: &File| -> io::Result<()> {
        map::grow_and_reserve(new, 0, len)?;
        write_prefix(new, prefix)
    };
    if !overwrite {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::from_open(path, true, e))?;
        return match reserve_and_prefix(&file) {
            Ok(()) => Ok(file),
            Err(e) => {
                // Best effort: the file is ours, and holds nothing of the caller's yet.
                let _ = std::fs::remove_file(path);
                Err(Error::io(path, "reserve space for", len, e))
            }
        };
    }
    replace(path, len, reserve_and_prefix)
}

/// Writes a whole new file with `write` under a temporary name beside `path`, syncs it,
/// and renames it over `path`: readers see the old file or the new one, never a part.
/// `len` is the expected length, for error messages.
pub(crate) fn write_atomically(
    path: &Path,
    len: u64,
    write: impl FnOnce(&File) -> io::Result<()>,
) -> Result<()> {
    replace(path, len, |file| {
        write(file)?;
        file.sync_all()
    })
    .map(drop)
}

/// Builds a file with `fill` under a temporary name beside `path`, then renames it into
/// place; removes the temporary file on any failure.
fn replace(path: &Path, len: u64, build: impl FnOnce(&File) -> io::Result<()>) -> Result<File> {
    if path.is_dir() {
        return Err(Error::IsADirectory { path: path.to_path_buf() });
    }
    let (temp, file) = create_temp_beside(path)?;
    let ready = build(&file).map_err(|e| Error::io(path, "write", len, e)).and_then(|()| {
        std::fs::rename(&temp, path).map_err(|e| Error::io(path, "replace", len, e))
    });
    match ready {
        Ok(()) => Ok(file),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

fn write_prefix(mut file: &File, prefix: &[u8]) -> io::Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    file.seek(SeekFrom::Start(0))?;
    file.write_all(prefix)
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
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            // Named after the file asked for: the temporary name means nothing to the caller.
            Err(e) => return Err(Error::from_open(path, true, e)),
        }
    }
}
