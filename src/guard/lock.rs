//! The guards' `lock`, `try_lock` and `unlock`: advisory [`Lock`]s on the mapped file, held
//! for as long as the guard lives or until unlocked.

use std::fs::File;

use ndarray::Dimension;

use super::{Backing, MmapArray, MmapArrayMut};
use crate::error::{Error, Result};
use crate::fs;
use crate::options::{Lock, OnConflict};

/// The guard's open file, or an error for an anonymous map.
fn file_of(source: &Backing) -> Result<&File> {
    source.file.as_ref().ok_or_else(|| Error::InvalidOption {
        path: Some(source.path.clone()),
        message: "an anonymous map has no file to lock",
    })
}

fn lock_source(source: &Backing, lock: Lock, on_conflict: OnConflict) -> Result<()> {
    fs::lock(file_of(source)?, &source.path, Some(lock), on_conflict)
}

fn unlock_source(source: &Backing) -> Result<()> {
    fs::unlock(file_of(source)?, &source.path)
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
    /// let b = unsafe { Array1::<u8>::map_file(&path)? };
    /// b.lock(Lock::Shared)?; // shared locks coexist
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self, lock: Lock) -> Result<()> {
        lock_source(&self.backing, lock, OnConflict::Wait)
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
    /// let b = unsafe { Array1::<u8>::map_file(&path)? };
    /// assert!(matches!(b.try_lock(Lock::Shared), Err(ndmmap::Error::Locked { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_lock(&self, lock: Lock) -> Result<()> {
        lock_source(&self.backing, lock, OnConflict::Fail)
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
    /// let b = unsafe { Array1::<u8>::map_file(&path)? };
    /// b.try_lock(Lock::Exclusive)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlock(&self) -> Result<()> {
        unlock_source(&self.backing)
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
        lock_source(&self.backing, lock, OnConflict::Wait)
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
    /// let d = unsafe { Array1::<u32>::map_file_mut(&path)? };
    /// assert!(matches!(d.try_lock(Lock::Exclusive), Err(ndmmap::Error::Locked { .. })));
    /// d.try_lock(Lock::Shared)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_lock(&self, lock: Lock) -> Result<()> {
        lock_source(&self.backing, lock, OnConflict::Fail)
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
    /// let options = MapOptions::new().lock(Lock::Exclusive);
    /// // SAFETY: every program that opens this file takes a lock first.
    /// let c = unsafe { Array1::<u32>::create_file_with(&path, 4, &options)? };
    /// c.unlock()?;
    /// let shared = MapOptions::new().lock(Lock::Shared);
    /// let d = unsafe { Array1::<u32>::map_file_with(&path, &shared)? };
    /// assert_eq!(d.len(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlock(&self) -> Result<()> {
        unlock_source(&self.backing)
    }
}
