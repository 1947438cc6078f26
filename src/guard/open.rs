//! The guards' constructors, which the formats call: a file opened (or created) and locked
//! as the [`Settings`] ask, then mapped over a [`Placement`] that `layout` has checked.
//!
//! The order is the crate's promise that nothing changes before every argument is valid:
//! a format opens, reads what it needs (a header) and places the array first; only
//! [`OpenFile::map_read_write`] may then grow a short file, when asked to.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use bytemuck::{AnyBitPattern, Pod};
use ndarray::Dimension;

use super::{Backing, MmapArray, MmapArrayMut};
use crate::error::{Error, Result};
use crate::fs;
use crate::layout::Placement;
use crate::map::{self, Advise, Region};
use crate::options::{Mode, Settings};

/// A file opened to be mapped, locked as the settings asked; consumed by mapping it.
#[derive(Debug)]
pub(crate) struct OpenFile {
    path: PathBuf,
    file: File,
    /// For a file being created: what makes it the file at `path` once it is mapped.
    creating: Option<fs::Creating>,
}

impl OpenFile {
    /// Opens `path` (for writing too, if `writable`) and takes the settings' lock, before
    /// anything is read from it: a cooperating writer may be changing it under its own.
    pub(crate) fn open(path: &Path, writable: bool, settings: Settings) -> Result<Self> {
        let file = fs::open(path, writable)?;
        fs::lock(&file, path, settings.lock, settings.on_conflict)?;
        Ok(OpenFile { path: path.to_path_buf(), file, creating: None })
    }

    /// Creates `path` with `len` bytes reserved on disk, starting with `prefix` (a header;
    /// zeros after it), and takes the settings' lock (on the file it replaces, too), all or
    /// nothing (see `fs::create`): the new file takes its place at `path` only once
    /// [`map_read_write`](Self::map_read_write) has mapped it; until then, and on any
    /// error, nothing changed.
    pub(crate) fn create(path: &Path, len: u64, prefix: &[u8], settings: Settings) -> Result<Self> {
        let (file, creating) =
            fs::create(path, len, settings.overwrite, prefix, settings.lock, settings.on_conflict)?;
        Ok(OpenFile { path: path.to_path_buf(), file, creating: Some(creating) })
    }

    /// A file the caller opened, kept open for the guard (a duplicate of its descriptor),
    /// and locked as the settings ask; named after its path as far as it can be known.
    pub(crate) fn adopt(file: &File, settings: Settings) -> Result<Self> {
        Self::adopt_as(file, fs::name_of(file), settings)
    }

    /// As [`adopt`](Self::adopt), for a file this crate opened at `path` earlier (an archive
    /// it holds open): named after that path on every platform.
    pub(crate) fn adopt_as(file: &File, path: PathBuf, settings: Settings) -> Result<Self> {
        let file = file.try_clone().map_err(|e| Error::io(&path, "duplicate", 0, e))?;
        fs::lock(&file, &path, settings.lock, settings.on_conflict)?;
        Ok(OpenFile { path, file, creating: None })
    }

    /// The path, as given.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, for reading what precedes the array (a header).
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// The file's length now.
    pub(crate) fn len(&self) -> Result<u64> {
        fs::file_len(&self.path, &self.file)
    }

    /// Maps `placement` read-only.
    ///
    /// # Safety
    ///
    /// The mapping contract of [`MapFile`](crate::MapFile#safety-of-the-mapping-functions):
    /// nothing but the returned guard modifies or truncates the mapped bytes while it lives.
    pub(crate) unsafe fn map_read_only<A: AnyBitPattern, D: Dimension>(
        self,
        placement: &Placement<D>,
        settings: Settings,
    ) -> Result<MmapArray<A, D>> {
        // SAFETY: forwarded: the caller upholds the mapping contract (see `# Safety`).
        let map = unsafe { self.map_with(map::map_read_only, placement, settings) }?;
        MmapArray::new(map, &placement.layout, self.backing(placement, Mode::ReadOnly))
    }

    /// Maps `placement` read-write and shared. A file shorter than the placement grows to
    /// fit: the caller has checked that this was asked for (`extend_file`), or made the
    /// file long enough. Every block of the mapped range is reserved on disk first (the
    /// holes of a sparse file too, keeping the data), so that writing through the map never
    /// meets a full disk as `SIGBUS`: a full disk is [`Error::NoSpace`] here, the file
    /// unchanged.
    ///
    /// # Safety
    ///
    /// As [`map_read_only`](Self::map_read_only); the file must be open for writing.
    pub(crate) unsafe fn map_read_write<A: Pod, D: Dimension>(
        mut self,
        placement: &Placement<D>,
        settings: Settings,
    ) -> Result<MmapArrayMut<A, D>> {
        let end = placement.end();
        let len = self.len()?;
        let action = if end > len { "extend" } else { "reserve space for" };
        map::file::reserve_range(&self.file, len, placement.offset, end)
            .map_err(|e| Error::io(&self.path, action, end, e))?;
        // SAFETY: forwarded: the caller upholds the mapping contract (see `# Safety`).
        let map = unsafe { self.map_with(map::map_read_write, placement, settings) }?;
        let creating = self.creating.take();
        let guard =
            MmapArrayMut::new(map, &placement.layout, self.backing(placement, Mode::ReadWrite))?;
        if let (Some(mut creating), Some(file)) = (creating, &guard.backing.file)
            && let Err(e) = creating.publish(file)
        {
            // The map and the file go first: Windows removes no file a live map holds.
            drop(guard);
            drop(creating);
            return Err(e);
        }
        Ok(guard)
    }

    /// Maps `placement` copy-on-write: writes stay in this process.
    ///
    /// # Safety
    ///
    /// As [`map_read_only`](Self::map_read_only).
    pub(crate) unsafe fn map_copy_on_write<A: Pod, D: Dimension>(
        self,
        placement: &Placement<D>,
        settings: Settings,
    ) -> Result<MmapArrayMut<A, D>> {
        // SAFETY: forwarded: the caller upholds the mapping contract (see `# Safety`).
        let map = unsafe { self.map_with(map::map_copy_on_write, placement, settings) }?;
        MmapArrayMut::new(map, &placement.layout, self.backing(placement, Mode::CopyOnWrite))
    }

    /// Maps `placement` with `map_file` (one of `map`'s mapping functions) and passes it
    /// the settings' advice.
    ///
    /// # Safety
    ///
    /// As [`map_read_only`](Self::map_read_only), and as `map_file` asks of the file.
    unsafe fn map_with<D, M: Advise>(
        &self,
        map_file: unsafe fn(&File, Region) -> io::Result<M>,
        placement: &Placement<D>,
        settings: Settings,
    ) -> Result<M> {
        // SAFETY: forwarded: the caller upholds the mapping contract (see `# Safety`).
        let map = unsafe { map_file(&self.file, region(placement, settings)) }
            .map_err(|e| Error::io(&self.path, "map", placement.end(), e))?;
        advise(&map, &self.path, settings)?;
        Ok(map)
    }

    fn backing<D>(self, placement: &Placement<D>, mode: Mode) -> Backing {
        Backing { path: self.path, offset: placement.offset, mode, file: Some(self.file) }
    }
}

fn region<D>(placement: &Placement<D>, settings: Settings) -> Region {
    Region { offset: placement.offset, len: placement.layout.span, populate: settings.populate }
}

/// Passes the settings' advice, if any, to the kernel for the whole new map.
fn advise(map: &impl Advise, path: &Path, settings: Settings) -> Result<()> {
    match settings.advice {
        Some(advice) => map.advise_all(advice).map_err(|e| Error::io(path, "advise", 0, e)),
        None => Ok(()),
    }
}
