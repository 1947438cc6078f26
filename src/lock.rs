//! Advisory file locks: [`Lock`], taken by [`MapOptions::lock`](crate::MapOptions::lock)
//! or by the guards' `lock`, `try_lock` and `unlock`.

use std::fs::{File, TryLockError};
use std::path::Path;

use ndarray::Dimension;

use crate::error::{Error, Result};
use crate::guard::{MmapArray, MmapArrayMut, Source};
use crate::options::MapOptions;

/// An advisory lock on a mapped file (`flock` on Unix, `LockFileEx` on Windows), through
/// std's [`File::lock`] and friends.
///
/// Many processes may hold a [`Shared`](Lock::Shared) lock on a file at once; an
/// [`Exclusive`](Lock::Exclusive) lock excludes every other lock. A guard holds its lock
/// until it is dropped (or [`unlock`](MmapArrayMut::unlock)ed); a process that dies releases
/// its locks with it.
///
/// # Locks bind only cooperating processes
///
/// The locks are advisory: they stop only processes that ask for a lock too. A program that
/// opens the file without asking, `cp`, an editor, or `truncate`, is not stopped. That is
/// why mapping stays `unsafe` with a lock as without one: the lock is a tool for keeping
/// the mapping contract among your own processes, not a guarantee the operating system
/// gives. Locks are per open file: two guards in one process that map the same file hold
/// separate locks and exclude each other too.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.bin");
/// std::fs::write(&path, [0u8; 8])?;
/// let writer = MapOptions::new().lock(Lock::Exclusive);
/// // SAFETY: every program that opens this file takes a lock first.
/// let a = unsafe { Array1::<u8>::map_file_mut_with(&path, &writer)? };
/// let shared = MapOptions::new().lock(Lock::Shared);
/// // SAFETY: as above.
/// let second = unsafe { Array1::<u8>::map_file_with(&path, &shared) };
/// assert!(matches!(second, Err(Error::Locked { lock: Lock::Shared, .. })));
/// drop(a);
/// // SAFETY: as above.
/// let reader = unsafe { Array1::<u8>::map_file_with(&path, &shared)? };
/// assert_eq!(reader.len(), 8);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lock {
    /// A lock many processes may hold at once, e.g. readers; it excludes exclusive locks.
    Shared,
    /// A lock only one process may hold, e.g. a writer; it excludes every other lock.
    Exclusive,
}

impl Lock {
    /// The lock's kind in words, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Lock::Shared => "shared",
            Lock::Exclusive => "exclusive",
        }
    }
}

/// What taking a lock does when another process holds a conflicting one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnConflict {
    /// Fail with [`Error::Locked`].
    Fail,
    /// Wait until the conflicting lock is released.
    Wait,
}

/// Takes the lock `options` ask for, if any, on a file just opened (before it is mapped).
pub(crate) fn take_for<D: Dimension>(
    file: &File,
    path: &Path,
    options: &MapOptions<D>,
) -> Result<()> {
    match options.lock {
        Some(lock) => acquire(file, path, lock, options.on_conflict),
        None => Ok(()),
    }
}

/// Takes `lock` on `file`: waits for it, or fails with [`Error::Locked`] at once.
fn acquire(file: &File, path: &Path, lock: Lock, on_conflict: OnConflict) -> Result<()> {
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

/// The guard's open file, or an error for an anonymous map.
fn file_of(source: &Source) -> Result<&File> {
    source.file.as_ref().ok_or_else(|| Error::InvalidOption {
        path: Some(source.path.clone()),
        message: "an anonymous map has no file to lock",
    })
}

fn lock_source(source: &Source, lock: Lock, on_conflict: OnConflict) -> Result<()> {
    acquire(file_of(source)?, &source.path, lock, on_conflict)
}

fn unlock_source(source: &Source) -> Result<()> {
    file_of(source)?.unlock().map_err(|e| Error::io(&source.path, "unlock", 0, e))
}

impl<A: 'static, D: Dimension> MmapArray<A, D> {
    /// Takes an advisory `lock` on the mapped file, waiting until no other process holds a
    /// conflicting one; the guard holds it until [`unlock`](Self::unlock) or drop. See
    /// [`Lock`] for what advisory locks do and do not promise.
    ///
    /// If the guard holds a lock already, [`unlock`](Self::unlock) it first: std leaves
    /// relocking unspecified (on Unix the lock is converted, on Windows it can deadlock).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the operating system refuses the lock (e.g. a file system without
    /// locks).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, [0u8; 4])?;
    /// // SAFETY: every program that opens this file takes a lock first.
    /// let a = unsafe { Array1::<u8>::map_file(&path)? };
    /// a.lock(Lock::Shared)?;
    /// // SAFETY: as above.
    /// let b = unsafe { Array1::<u8>::map_file(&path)? };
    /// b.lock(Lock::Shared)?; // shared locks coexist
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self, lock: Lock) -> Result<()> {
        lock_source(self.source(), lock, OnConflict::Wait)
    }

    /// Takes an advisory `lock` on the mapped file if no other process holds a conflicting
    /// one, and fails at once otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if another process (or another guard in this one) holds a
    /// conflicting lock; [`Error::Io`] if the operating system refuses the lock.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, [0u8; 4])?;
    /// // SAFETY: every program that opens this file takes a lock first.
    /// let a = unsafe { Array1::<u8>::map_file(&path)? };
    /// a.try_lock(Lock::Exclusive)?;
    /// // SAFETY: as above.
    /// let b = unsafe { Array1::<u8>::map_file(&path)? };
    /// assert!(matches!(b.try_lock(Lock::Shared), Err(Error::Locked { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_lock(&self, lock: Lock) -> Result<()> {
        lock_source(self.source(), lock, OnConflict::Fail)
    }

    /// Releases the advisory lock this guard holds, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the operating system reports an error.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, [0u8; 4])?;
    /// let exclusive = MapOptions::new().lock(Lock::Exclusive);
    /// // SAFETY: every program that opens this file takes a lock first.
    /// let a = unsafe { Array1::<u8>::map_file_with(&path, &exclusive)? };
    /// a.unlock()?;
    /// // SAFETY: as above.
    /// let b = unsafe { Array1::<u8>::map_file(&path)? };
    /// b.try_lock(Lock::Exclusive)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlock(&self) -> Result<()> {
        unlock_source(self.source())
    }
}

impl<A: 'static, D: Dimension> MmapArrayMut<A, D> {
    /// Takes an advisory `lock` on the mapped file, waiting until no other process holds a
    /// conflicting one; the guard holds it until [`unlock`](Self::unlock) or drop. See
    /// [`Lock`] for what advisory locks do and do not promise.
    ///
    /// If the guard holds a lock already, [`unlock`](Self::unlock) it first: std leaves
    /// relocking unspecified (on Unix the lock is converted, on Windows it can deadlock).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for an [anonymous](Self::anonymous) map, which has no file;
    /// [`Error::Io`] if the operating system refuses the lock.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// // SAFETY: every program that opens this file takes a lock first.
    /// let mut c = unsafe { Array1::<u32>::create_file(dir.path().join("c.bin"), 4)? };
    /// c.lock(Lock::Exclusive)?;
    /// c.fill(7);
    /// c.unlock()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self, lock: Lock) -> Result<()> {
        lock_source(self.source(), lock, OnConflict::Wait)
    }

    /// Takes an advisory `lock` on the mapped file if no other process holds a conflicting
    /// one, and fails at once otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::Locked`] if another process (or another guard in this one) holds a
    /// conflicting lock; [`Error::InvalidOption`] for an anonymous map; [`Error::Io`] if
    /// the operating system refuses the lock.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// // SAFETY: every program that opens this file takes a lock first.
    /// let c = unsafe { Array1::<u32>::create_file(&path, 4)? };
    /// c.try_lock(Lock::Shared)?;
    /// // SAFETY: as above.
    /// let d = unsafe { Array1::<u32>::map_file_mut(&path)? };
    /// assert!(matches!(d.try_lock(Lock::Exclusive), Err(Error::Locked { .. })));
    /// d.try_lock(Lock::Shared)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_lock(&self, lock: Lock) -> Result<()> {
        lock_source(self.source(), lock, OnConflict::Fail)
    }

    /// Releases the advisory lock this guard holds, if any.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for an anonymous map; [`Error::Io`] if the operating system
    /// reports an error.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// let options = MapOptions::new().shape(4).lock(Lock::Exclusive);
    /// // SAFETY: every program that opens this file takes a lock first.
    /// let c = unsafe { Array1::<u32>::create_file_with(&path, &options)? };
    /// c.unlock()?;
    /// let shared = MapOptions::new().lock(Lock::Shared);
    /// // SAFETY: as above.
    /// let d = unsafe { Array1::<u32>::map_file_with(&path, &shared)? };
    /// assert_eq!(d.len(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlock(&self) -> Result<()> {
        unlock_source(self.source())
    }
}
