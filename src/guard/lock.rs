//! The guards' `lock`, `try_lock` and `unlock`: advisory [`Lock`]s on the mapped file, held
//! for as long as the guard lives or until unlocked.

use std::fs::File;

use ndarray::Dimension;

use super::{Backing, MmapArray, MmapArrayMut, for_each_guard};
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

/// `lock`, `try_lock` and `unlock` on one guard type (see `guard::for_each_guard`).
macro_rules! locks {
    ($guard:ident, setup: $setup:literal, map: $map:literal, map_with: $map_with:literal, mode: $mode:literal) => {
        impl<A: 'static, D: Dimension> $guard<A, D> {
            /// Takes an advisory `lock` on the mapped file, waiting until no other process
            /// holds a conflicting one; the guard holds it until [`unlock`](Self::unlock) or
            /// drop. See [`Lock`] for what advisory locks do and do not promise.
            ///
            /// If the guard holds a lock already, [`unlock`](Self::unlock) it first: std
            /// leaves relocking unspecified (on Unix the lock is converted, on Windows it can
            /// deadlock).
            ///
            /// # Errors
            ///
            /// [`Error::Io`] if the operating system refuses the lock (e.g. a file system
            /// without locks); [`Error::InvalidOption`] for a map without a file
            /// ([`MmapArrayMut::anonymous`]).
            ///
            /// # Example
            ///
            #[doc = concat!("```\n", $setup, "
// SAFETY: every program that opens this file takes a lock first.
let a = unsafe { ", $map, "? };
a.lock(Lock::Shared)?;
let b = unsafe { ", $map, "? };
b.lock(Lock::Shared)?; // shared locks coexist
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
            pub fn lock(&self, lock: Lock) -> Result<()> {
                lock_source(&self.backing, lock, OnConflict::Wait)
            }

            /// Takes an advisory `lock` on the mapped file if no other process holds a
            /// conflicting one, and fails at once otherwise.
            ///
            /// # Errors
            ///
            /// [`Error::Locked`] if another process (or another guard in this one) holds a
            /// conflicting lock; [`Error::Io`] if the operating system refuses the lock;
            /// [`Error::InvalidOption`] for a map without a file
            /// ([`MmapArrayMut::anonymous`]).
            ///
            /// # Example
            ///
            #[doc = concat!("```\n", $setup, "
// SAFETY: every program that opens this file takes a lock first.
let a = unsafe { ", $map, "? };
a.try_lock(Lock::Exclusive)?;
let b = unsafe { ", $map, "? };
assert!(matches!(b.try_lock(Lock::Shared), Err(ndmmap::Error::Locked { .. })));
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
            pub fn try_lock(&self, lock: Lock) -> Result<()> {
                lock_source(&self.backing, lock, OnConflict::Fail)
            }

            /// Releases the advisory lock this guard holds, if any.
            ///
            /// # Errors
            ///
            /// [`Error::Io`] if the operating system reports an error;
            /// [`Error::InvalidOption`] for a map without a file
            /// ([`MmapArrayMut::anonymous`]).
            ///
            /// # Example
            ///
            #[doc = concat!("```\n", $setup, "
let options = MapOptions::new().lock(Lock::Exclusive);
// SAFETY: every program that opens this file takes a lock first.
let a = unsafe { ", $map_with, "? };
a.unlock()?;
let b = unsafe { ", $map, "? };
b.try_lock(Lock::Exclusive)?;
# Ok::<(), Box<dyn std::error::Error>>(())
```")]
            pub fn unlock(&self) -> Result<()> {
                unlock_source(&self.backing)
            }
        }
    };
}

for_each_guard!(locks);
