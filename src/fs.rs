//! Files on disk, before and beside any map: opening, creating all or nothing (a new file
//! of a given length, or a whole file written under a temporary name and renamed into
//! place), and advisory locks.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::map;
use crate::options::{Lock, OnConflict};

/// Creates the file at `path` with `len` bytes reserved on disk, starting with `prefix`
/// (a header, say; zeros after it), and returns it open for reading and writing.
///
/// Without `overwrite`, an existing file is an [`Error::AlreadyExists`]. With it, the new
/// file is built under a temporary name in the same folder and renamed over the old one,
/// so the old file stays whole until the new one is ready, and live maps of it never see
/// it truncated. On any failure nothing is left behind.
pub(crate) fn create(path: &Path, len: u64, overwrite: bool, prefix: &[u8]) -> Result<File> {
    let reserve_and_prefix = |new: &File| -> io::Result<()> {
        map::file::reserve(new, 0, len)?;
        write_prefix(new, prefix)
    };
    if !overwrite {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| create_error(path, e))?;
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

/// A whole new file built under a temporary name beside its destination, written in
/// several steps, then synced and renamed into place by [`commit`](Self::commit). Dropped
/// without a commit, it removes the temporary file: nothing is left behind.
#[cfg(feature = "npz")]
#[derive(Debug)]
pub(crate) struct NewFile {
    path: PathBuf,
    temp: PathBuf,
    file: Option<File>,
}

#[cfg(feature = "npz")]
impl NewFile {
    /// Starts a new file that will replace `path` (which need not exist).
    pub(crate) fn create(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Err(Error::IsADirectory { path: path.to_path_buf() });
        }
        let (temp, file) = create_temp_beside(path)?;
        Ok(NewFile { path: path.to_path_buf(), temp, file: Some(file) })
    }

    /// The file being written, or `None` once taken back by [`commit`](Self::commit).
    pub(crate) fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    /// Syncs the file and renames it over the destination.
    pub(crate) fn commit(mut self) -> Result<()> {
        let file = self.file.take();
        let synced = file.as_ref().map_or(Ok(()), File::sync_all);
        synced.and_then(|()| std::fs::rename(&self.temp, &self.path)).map_err(|e| {
            let _ = std::fs::remove_file(&self.temp);
            Error::io(&self.path, "write", 0, e)
        })?;
        self.temp = PathBuf::new();
        Ok(())
    }
}

#[cfg(feature = "npz")]
impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            // Best effort: the temporary file is ours and holds nothing of the caller's yet.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
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
            Err(e) => return Err(create_error(path, e)),
        }
    }
}

/// The error for a failed create of `path`: a missing folder on the way is named.
fn create_error(path: &Path, source: io::Error) -> Error {
    let missing_folder = if source.kind() == io::ErrorKind::NotFound {
        // The outermost folder that does not exist: the one the caller has to make.
        let mut missing = None;
        let mut folder = path.parent();
        while let Some(f) = folder.filter(|f| !f.as_os_str().is_empty() && !f.exists()) {
            missing = Some(f.to_path_buf());
            folder = f.parent();
        }
        missing
    } else {
        None
    };
    Error::from_create(path, missing_folder, source)
}

/// The path of an open file, for messages: where `/proc/self/fd` says it is on Linux, else
/// `<open file>`.
pub(crate) fn name_of(file: &File) -> PathBuf {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(path) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return path;
        }
    }
    let _ = file;
    PathBuf::from("<open file>")
}

/// Opens `path` for reading, and for writing too if `writable`.
pub(crate) fn open(path: &Path, writable: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(writable)
        .open(path)
        .map_err(|e| Error::from_open(path, writable, e))
}

/// The length of the open file `file` at `path`; a folder is an [`Error::IsADirectory`].
pub(crate) fn file_len(path: &Path, file: &File) -> Result<u64> {
    let meta = file.metadata().map_err(|e| Error::io(path, "stat", 0, e))?;
    if meta.is_dir() {
        return Err(Error::IsADirectory { path: path.to_path_buf() });
    }
    Ok(meta.len())
}

/// Takes `lock` (if any) on `file`, the open file at `path`: waits for it, or fails with
/// [`Error::Locked`] at once, as `on_conflict` says.
pub(crate) fn lock(
    file: &File,
    path: &Path,
    lock: Option<Lock>,
    on_conflict: OnConflict,
) -> Result<()> {
    let Some(lock) = lock else {
        return Ok(());
    };
    let io_error = |e| Error::io(path, "lock", 0, e);
    if on_conflict == OnConflict::Wait {
        return match lock {
            Lock::Shared => file.lock_shared(),
            Lock::Exclusive => file.lock(),
        }
        .map_err(io_error);
    }
    let attempt = match lock {
        Lock::Shared => file.try_lock_shared(),
        Lock::Exclusive => file.try_lock(),
    };
    match attempt {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(Error::Locked { path: path.to_path_buf(), lock }),
        Err(TryLockError::Error(e)) => Err(io_error(e)),
    }
}

/// Releases the lock this open file holds, if any.
pub(crate) fn unlock(file: &File, path: &Path) -> Result<()> {
    file.unlock().map_err(|e| Error::io(path, "unlock", 0, e))
}
