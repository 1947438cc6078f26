//! Files on disk, before and beside any map: opening, creating all or nothing (a new file
//! of a given length, or a whole file written under a temporary name and renamed into
//! place), writing a new file's ranges back behind its writer, and advisory locks.

use std::collections::VecDeque;
use std::fs::{File, Metadata, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::map;
use crate::options::{Lock, OnConflict};

/// A file being created, all or nothing: until [`publish`](Self::publish)ed, dropping it
/// removes the new file, and the file it is to replace (if any) stays as it was.
#[derive(Debug)]
pub(crate) struct Creating {
    /// The path asked for, for messages (and the new file's name, if it replaces none).
    path: PathBuf,
    /// The new file's temporary name beside `target`, if it is to replace the file there;
    /// `None` for a new file made at `path` itself.
    temp: Option<PathBuf>,
    /// Where a replacing file is renamed to: `path`, or the file its symbolic links lead to.
    target: PathBuf,
    /// The identity of the file being replaced, as it was when the replace started: the
    /// rename checks that it is still the one at `target`.
    old_id: Option<map::file::FileId>,
    /// The file being replaced, open with the lock asked for, held until it is replaced.
    locked: Option<File>,
    /// Whether publishing may replace a file at `path` (else a file that appeared there
    /// meanwhile makes it fail with [`Error::AlreadyExists`]).
    replace: bool,
    published: bool,
}

impl Creating {
    /// Makes the new file, open as `file`, the file at `path`: a replacing file is synced
    /// to disk, renamed into place, and the folder synced, so that after `Ok` even a power
    /// loss leaves the new file there, whole. On an error the file stays unpublished: the
    /// caller drops `file` (and any map of it) first, then this, which removes it (Windows
    /// removes no file that a live map holds).
    ///
    /// A file that replaced the old one meanwhile is an [`Error::FileReplaced`]: its
    /// permissions, and the lock taken, were the old one's. Where the system refuses to
    /// rename over a file that a live map holds (Windows), the refusal is an [`Error::Io`]
    /// ("replace"), and the old file stays as it was.
    pub(crate) fn publish(&mut self, file: &File) -> Result<()> {
        let Some(temp) = self.temp.clone() else {
            self.published = true;
            return Ok(());
        };
        let path = self.path.clone();
        file.sync_all().map_err(|e| Error::io(&path, "write", 0, e))?;
        if self.replace {
            // (A file gone meanwhile has nothing to keep. The check narrows the window to
            // the rename's own; no portable call closes it.) Both identities are dropped
            // before the rename: on Windows each holds the file open.
            if let Some(old) = self.old_id.take()
                && let Ok(meta) = std::fs::metadata(&self.target)
            {
                let now = map::file::file_id(&self.target, &meta)
                    .map_err(|e| Error::io(&path, "stat", 0, e))?;
                if now != old {
                    return Err(Error::FileReplaced { path });
                }
            }
            let mut renamed = std::fs::rename(&temp, &self.target);
            // Windows without POSIX rename semantics (before Windows 10 1607, and Wine)
            // refuses to rename over a file that any handle holds open, the lock's too: the
            // lock is let go and the rename tried once more. (A live map of the old file is
            // refused either way.)
            if renamed.as_ref().is_err_and(|e| e.kind() == io::ErrorKind::PermissionDenied)
                && self.locked.take().is_some()
            {
                renamed = std::fs::rename(&temp, &self.target);
            }
            renamed.map_err(|e| Error::io(&path, "replace", 0, e))?;
        } else {
            // A hard link fails if `path` appeared meanwhile: never replaces a file.
            std::fs::hard_link(&temp, &path).map_err(|e| Error::from_open(&path, true, e))?;
            let _ = std::fs::remove_file(&temp);
        }
        self.published = true;
        // The lock on the replaced file is no longer needed.
        self.locked = None;
        map::file::sync_folder_of(&self.target)
            .map_err(|e| Error::io(&path, "sync the folder of", 0, e))
    }
}

impl Drop for Creating {
    fn drop(&mut self) {
        if !self.published {
            // Best effort: the file is ours, and holds nothing of the caller's yet.
            let _ = std::fs::remove_file(self.temp.as_ref().unwrap_or(&self.path));
        }
    }
}

/// The file a replace of `path` replaces: `path` itself, or, if it is a symbolic link, the
/// file its links lead to (which need not exist), as NumPy's `np.save` writes through a
/// link: the link stays a link.
fn final_target(path: &Path) -> Result<PathBuf> {
    let mut target = path.to_path_buf();
    // As many links as Linux follows before `ELOOP`.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&target)
                    .map_err(|e| Error::io(path, "follow the link", 0, e))?;
                // A relative link is relative to its own folder; `join` keeps an absolute one.
                target = target.parent().map_or_else(|| link.clone(), |folder| folder.join(&link));
            }
            _ => return Ok(target),
        }
    }
    // A loop of links: the operating system's own error names it.
    match std::fs::metadata(path) {
        Err(e) => Err(Error::from_open(path, false, e)),
        Ok(_) => Ok(target),
    }
}

/// Starts a new file that is to replace `path` (which need not exist): a temporary file
/// beside the file `path` leads to (see [`final_target`]), already given that file's
/// permissions and owner (see [`map::file::take_access`]). With `lock`, the lock is first
/// taken on the file being replaced: a holder of a conflicting lock on it is never replaced
/// under its feet ([`Error::Locked`] leaves it untouched).
fn start_replace(
    path: &Path,
    lock_kind: Option<Lock>,
    on_conflict: OnConflict,
) -> Result<(File, Creating)> {
    let target = final_target(path)?;
    let (old, locked) = match lock_kind {
        Some(_) => match map::file::open_options().read(true).open(&target) {
            Ok(old) => {
                lock(&old, path, lock_kind, on_conflict)?;
                (Some(old.metadata().map_err(|e| Error::io(path, "stat", 0, e))?), Some(old))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (None, None),
            // A folder cannot be opened for reading on Windows; it is reported below.
            Err(_) if target.is_dir() => (None, None),
            Err(e) => return Err(Error::from_open(path, false, e)),
        },
        None => match std::fs::metadata(&target) {
            Ok(meta) => (Some(meta), None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (None, None),
            Err(e) => return Err(Error::from_open(path, false, e)),
        },
    };
    if old.as_ref().is_some_and(Metadata::is_dir) || target.is_dir() {
        return Err(Error::IsADirectory { path: path.to_path_buf() });
    }
    let old_id = match &old {
        Some(meta) => {
            Some(map::file::file_id(&target, meta).map_err(|e| Error::io(path, "stat", 0, e))?)
        }
        None => None,
    };
    let (temp, file) = create_temp_beside(&target, path)?;
    let creating = Creating {
        path: path.to_path_buf(),
        temp: Some(temp),
        target,
        old_id,
        locked,
        replace: true,
        published: false,
    };
    if let Some(old) = &old {
        map::file::take_access(&file, old)
            .map_err(|e| Error::io(path, "give the old permissions to", 0, e))?;
    }
    Ok((file, creating))
}

/// Creates the file at `path` with `len` bytes reserved on disk, starting with `prefix`
/// (a header, say; zeros after it), takes `lock` on it (as `on_conflict` says), and returns
/// it open for reading and writing, with the [`Creating`] that makes it the file at `path`.
///
/// Without `overwrite`, an existing file is an [`Error::AlreadyExists`]. With it, the new
/// file replaces the old one as [`start_replace`] says: `lock` is first taken on the old
/// file, and the new file is built under a temporary name in the same folder, with the old
/// file's permissions, to be renamed over the old one by [`Creating::publish`]: the old
/// file stays whole until the new one is ready, and live maps of it never see it truncated.
/// On any failure, and if the [`Creating`] is dropped unpublished, nothing is left behind.
pub(crate) fn create(
    path: &Path,
    len: u64,
    overwrite: bool,
    prefix: &[u8],
    lock_kind: Option<Lock>,
    on_conflict: OnConflict,
) -> Result<(File, Creating)> {
    let reserve_and_prefix = |new: &File| -> io::Result<()> {
        map::file::reserve(new, 0, len)?;
        write_prefix(new, prefix)
    };
    if !overwrite {
        let file = map::file::open_options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| create_error(path, e))?;
        let creating = Creating {
            path: path.to_path_buf(),
            temp: None,
            target: path.to_path_buf(),
            old_id: None,
            locked: None,
            replace: false,
            published: false,
        };
        lock(&file, path, lock_kind, on_conflict)?;
        reserve_and_prefix(&file).map_err(|e| Error::io(path, "reserve space for", len, e))?;
        return Ok((file, creating));
    }
    let (file, creating) = start_replace(path, lock_kind, on_conflict)?;
    lock(&file, path, lock_kind, on_conflict)?;
    reserve_and_prefix(&file).map_err(|e| Error::io(path, "write", len, e))?;
    Ok((file, creating))
}

/// Writes a whole new file with `write` under a temporary name beside `path` (see
/// [`start_replace`]), syncs it, renames it over `path` and syncs the folder: readers see
/// the old file or the new one, never a part, and after `Ok` the new one survives a power
/// loss. `len` is the expected length, for error messages.
pub(crate) fn write_atomically(
    path: &Path,
    len: u64,
    write: impl FnOnce(&File) -> io::Result<()>,
) -> Result<()> {
    let (file, mut creating) = start_replace(path, None, OnConflict::Fail)?;
    write(&file).map_err(|e| Error::io(path, "write", len, e))?;
    let published = creating.publish(&file);
    // On an error the new file is closed before `creating` removes it.
    drop(file);
    published
}

/// A whole new file built under a temporary name beside its destination, written in
/// several steps, then published by [`commit`](Self::commit) as [`Creating::publish`]
/// does (synced, renamed over the destination, the folder synced). Dropped without a
/// commit, it removes the temporary file: nothing is left behind.
#[cfg(feature = "npz")]
#[derive(Debug)]
pub(crate) struct NewFile {
    file: File,
    creating: Creating,
}

#[cfg(feature = "npz")]
impl NewFile {
    /// Starts a new file that will replace `path` (which need not exist), as
    /// [`start_replace`] says.
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let (file, creating) = start_replace(path, None, OnConflict::Fail)?;
        Ok(NewFile { file, creating })
    }

    /// The file being written.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Syncs the file, renames it over the destination and syncs the folder.
    pub(crate) fn commit(mut self) -> Result<()> {
        let published = self.creating.publish(&self.file);
        // On an error the new file is closed before `creating` removes it.
        drop(self.file);
        published
    }
}

/// Builds a new file at `path` of `len` bytes (reserved on disk) starting with `prefix`:
/// `build` fills it under a temporary name beside `path`; then it is synced and put in
/// place, refusing an existing file unless `overwrite` ([`Error::AlreadyExists`]; a
/// replace is as [`start_replace`] says). On any failure, and if `build` panics, the
/// temporary file is removed, so no file at `path` is ever half-written; after `Ok` the
/// folder is synced, so the file survives a power loss.
pub(crate) fn build_new(
    path: &Path,
    len: u64,
    overwrite: bool,
    prefix: &[u8],
    build: impl FnOnce(&File) -> Result<()>,
) -> Result<()> {
    // Dropped on any error, and while unwinding from a panic in `build`: the temporary file
    // goes with it.
    let (file, mut creating) = if overwrite {
        start_replace(path, None, OnConflict::Fail)?
    } else {
        if path.is_dir() {
            return Err(Error::IsADirectory { path: path.to_path_buf() });
        }
        if path.exists() {
            return Err(Error::AlreadyExists { path: path.to_path_buf() });
        }
        let (temp, file) = create_temp_beside(path, path)?;
        let creating = Creating {
            path: path.to_path_buf(),
            temp: Some(temp),
            target: path.to_path_buf(),
            old_id: None,
            locked: None,
            replace: false,
            published: false,
        };
        (file, creating)
    };
    map::file::reserve(&file, 0, len)
        .and_then(|()| write_prefix(&file, prefix))
        .map_err(|e| Error::io(path, "reserve space for", len, e))?;
    build(&file)?;
    let published = creating.publish(&file);
    // On an error the new file is closed before `creating` removes it.
    drop(file);
    published
}

/// Writes the ranges of a file being written back to disk behind its writer, and drops
/// them from the page cache once they are on disk, so that a large new file neither piles
/// up dirty pages for its final sync nor crowds other data out of the page cache: for
/// files written with `write_at`, what the engine does for mapped outputs, but on the
/// writer's own thread.
pub(crate) struct WriteBehind<'f> {
    file: &'f File,
    path: &'f Path,
    /// The latest writes, oldest first, whose write-back may still be running.
    in_flight: VecDeque<Vec<Range<u64>>>,
}

impl<'f> WriteBehind<'f> {
    /// How many writes stay in flight before the oldest is waited for and evicted: as the
    /// engine's `lag` for its mapped outputs.
    const LAG: usize = 4;

    pub(crate) fn new(file: &'f File, path: &'f Path) -> Self {
        Self { file, path, in_flight: VecDeque::new() }
    }

    /// `ranges` (byte offsets) were just written: starts the write-back of their whole
    /// pages, then waits for the oldest writes beyond [`LAG`](Self::LAG) and evicts them.
    /// Does nothing where the platform cannot write back a range (the final sync writes
    /// everything).
    pub(crate) fn written(&mut self, ranges: &[Range<u64>]) -> Result<()> {
        // Whole pages only: a page a range shares with the next write would be written
        // twice, or read back from disk to be written again; the final sync takes them.
        let page = map::file::page_size() as u64;
        let whole = |r: &Range<u64>| r.start.div_ceil(page) * page..r.end / page * page;
        let ranges: Vec<Range<u64>> =
            ranges.iter().map(whole).filter(|r| r.start < r.end).collect();
        for range in &ranges {
            let started =
                map::file::start_write_back(self.file, range.start, range.end - range.start)
                    .map_err(|e| Error::io(self.path, "write back", range.start, e))?;
            if !started {
                return Ok(());
            }
        }
        self.in_flight.push_back(ranges);
        while self.in_flight.len() > Self::LAG {
            for range in self.in_flight.pop_front().unwrap_or_default() {
                map::file::finish_write_back(self.file, range.start, range.end - range.start)
                    .map_err(|e| Error::io(self.path, "write back", range.start, e))?;
            }
        }
        Ok(())
    }
}

/// The first `len` bytes of `file` (a header).
pub(crate) fn read_prefix(mut file: &File, len: usize) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0; len];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}

/// Overwrites the first bytes of `file` with `prefix` (a header).
pub(crate) fn write_prefix(mut file: &File, prefix: &[u8]) -> io::Result<()> {
    if prefix.is_empty() {
        return Ok(());
    }
    file.seek(SeekFrom::Start(0))?;
    file.write_all(prefix)
}

/// A new file next to `path`, named `.NAME.ndmmap-PID-N`; errors name `asked`, the path the
/// caller gave.
fn create_temp_beside(path: &Path, asked: &Path) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = path.with_file_name(format!(".{name}.ndmmap-{}-{n}", std::process::id()));
        match map::file::open_options().read(true).write(true).create_new(true).open(&temp) {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            // Named after the file asked for: the temporary name means nothing to the caller.
            Err(e) => return Err(create_error(asked, e)),
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

/// The path of an open file, for messages: where the system can tell, else `<open file>`.
pub(crate) fn name_of(file: &File) -> PathBuf {
    map::file::name_of(file)
}

/// Opens `path` for reading, and for writing too if `writable`.
pub(crate) fn open(path: &Path, writable: bool) -> Result<File> {
    map::file::open_options()
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
    map::file::unlock(file).map_err(|e| Error::io(path, "unlock", 0, e))
}
