//! The operating-system boundary: the only code that calls memmap2, rustix, libc or
//! windows-sys, and the only code that knows which system it runs on.
//!
//! This file maps, remaps, advises and releases ranges of maps (memmap2, which stays a
//! private dependency); [`file`] holds the calls on files: reserving blocks, durable syncs,
//! write-back, the page size and the memory file behind anonymous maps. Both are the same
//! on every platform; what differs lives in `os`, one file per platform family, behind
//! one interface. Everything above asks the guard, which asks here.
#![allow(unsafe_code)]

pub(crate) mod file;
mod os;

use std::fs::File;
use std::io;
use std::ops::Range;

use memmap2::MmapOptions;
pub(crate) use memmap2::{Mmap, MmapMut};

pub(crate) use self::os::available_memory;
use crate::options::Advice;

/// The byte range of a file to map and how.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Region {
    pub(crate) offset: u64,
    pub(crate) len: usize,
    pub(crate) populate: bool,
}

impl Region {
    fn options(self) -> MmapOptions {
        let mut options = MmapOptions::new();
        options.offset(self.offset).len(self.len);
        if self.populate {
            options.populate();
        }
        options
    }
}

/// Maps `region` of `file` read-only and shared.
///
/// # Safety
///
/// The caller must ensure that the mapped bytes are not modified or truncated, by this or
/// any other process, while the map lives (memmap2's contract for [`Mmap`]).
pub(crate) unsafe fn map_read_only(file: &File, region: Region) -> io::Result<Mmap> {
    // SAFETY: forwarded: the caller upholds `Mmap`'s contract (see `# Safety`).
    unsafe { region.options().map(file) }
}

/// Maps `region` of `file` read-write and shared: writes reach the file.
///
/// # Safety
///
/// As [`map_read_only`]: nothing but this map may modify the mapped bytes (except
/// atomically, through atomic views), and nobody may truncate them, while the map lives. `file` must be open for reading and writing.
pub(crate) unsafe fn map_read_write(file: &File, region: Region) -> io::Result<MmapMut> {
    // SAFETY: forwarded: the caller upholds `MmapMut`'s contract (see `# Safety`).
    unsafe { region.options().map_mut(file) }
}

/// Maps `region` of `file` copy-on-write: writes stay private to this map.
///
/// # Safety
///
/// As [`map_read_only`]: a private map does not protect against other processes' writes
/// to the file (POSIX leaves their visibility unspecified), so the same contract holds.
pub(crate) unsafe fn map_copy_on_write(file: &File, region: Region) -> io::Result<MmapMut> {
    // SAFETY: forwarded: the caller upholds `map_copy`'s contract (see `# Safety`).
    unsafe { region.options().map_copy(file) }
}

/// Changes the length of `map`, a read-write shared map of `file` from byte `offset`, to
/// `len` bytes, without copying the data: `mremap` on Linux (the map may move), else a new
/// map of the same bytes in place of the old one.
///
/// # Safety
///
/// As [`map_read_write`], and: `file` must hold at least `offset + len` bytes, and no
/// reference into `map` may be alive, since its bytes may move to another address.
pub(crate) unsafe fn remap(
    map: &mut MmapMut,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<()> {
    // SAFETY: forwarded: the caller upholds this function's contract (see `# Safety`).
    unsafe { os::remap(map, file, offset, len) }
}

/// [`remap`] where the system cannot resize a map: a new map of the same bytes replaces
/// the old one, which is unmapped once the new one exists.
///
/// # Safety
///
/// As [`remap`].
#[allow(dead_code, reason = "Linux resizes maps in place (mremap)")]
pub(crate) unsafe fn map_again(
    map: &mut MmapMut,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<()> {
    // SAFETY: forwarded: the caller upholds `map_read_write`'s contract for the file,
    // which is long enough; the old map is unmapped when replaced, and nothing borrows it.
    *map = unsafe { map_read_write(file, Region { offset, len, populate: false }) }?;
    Ok(())
}

/// Changes the length of `file`, which `map` maps read-write and shared from byte
/// `offset`, to `len` bytes. Where a mapped file cannot change its length (Windows refuses
/// with `ERROR_USER_MAPPED_FILE`), `map` is unmapped first and then, if `keep` says how
/// many bytes, mapped again (else left empty); elsewhere `map` stays as it is, and the
/// caller touches none of its bytes past the file's new end.
///
/// A refusal (another map of the file, in this process or another, on Windows) is an
/// error, and the file keeps its length.
///
/// # Safety
///
/// As [`remap`]: no reference into `map` may be alive, and `offset + keep` must not pass
/// `len`.
pub(crate) unsafe fn set_len_under_map(
    map: &mut MmapMut,
    file: &File,
    offset: u64,
    len: u64,
    keep: Option<usize>,
) -> io::Result<()> {
    // SAFETY: forwarded: the caller upholds this function's contract (see `# Safety`).
    unsafe { os::set_len_under_map(map, file, offset, len, keep) }
}

/// `madvise` for a whole map, or its nearest equivalent (`PrefetchVirtualMemory` for
/// [`Advice::WillNeed`] on Windows); a no-op where none exists. Each platform file
/// implements it for memmap2's maps.
pub(crate) trait Advise {
    /// Passes `advice` to the kernel for every page of the map.
    fn advise_all(&self, advice: Advice) -> io::Result<()>;
    /// Passes `advice` to the kernel for the pages of `bytes` (offsets into the map).
    fn advise_range_of(&self, advice: Advice, bytes: Range<usize>) -> io::Result<()>;
    /// Prefaults the pages of `bytes`; see [`populate`].
    fn populate_range_of(&self, writable: bool, bytes: Range<usize>) -> io::Result<()>;
}

/// `madvise` for `bytes` (offsets into `map`); a no-op where `madvise` does not exist.
pub(crate) fn advise_range(
    map: &impl Advise,
    advice: Advice,
    bytes: Range<usize>,
) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    map.advise_range_of(advice, bytes)
}

/// Faults the pages of `bytes` (offsets into `map`) into the map now, readable
/// (`MADV_POPULATE_READ`) or, for `writable`, writable (`MADV_POPULATE_WRITE`), as the
/// process's own accesses would (with the map's advice: under `MADV_RANDOM`, one page per
/// fault, so ask for the range with `MADV_WILLNEED` first). A Linux kernel without it
/// (before 5.14) gets `MADV_WILLNEED` for readable pages instead, as do macOS and FreeBSD;
/// Windows prefetches readable pages (`PrefetchVirtualMemory`). A page that cannot be
/// faulted in (past the end of a file that shrank) is an error, not a `SIGBUS`.
pub(crate) fn populate(map: &impl Advise, writable: bool, bytes: Range<usize>) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    map.populate_range_of(writable, bytes)
}

/// Whether `bytes` is a non-empty range inside a map of `map_len` bytes: `Ok(false)` for an
/// empty one (nothing to release), an `InvalidInput` error for one that reaches outside.
/// memmap2 does not check that an advised range ends inside the map (0.9.12 `advise`), and
/// `MADV_DONTNEED` on the memory next to it could discard private pages.
fn release_range_is_inside(bytes: &Range<usize>, map_len: usize) -> io::Result<bool> {
    if bytes.is_empty() {
        Ok(false)
    } else if bytes.end > map_len {
        Err(io::Error::from(io::ErrorKind::InvalidInput))
    } else {
        Ok(true)
    }
}

/// Drops `bytes` (offsets into a shared read-only `map`) from the resident set
/// (`MADV_DONTNEED` on Unix; a no-op on Windows, whose working-set manager trims by
/// itself).
pub(crate) fn release_read_only(map: &Mmap, bytes: Range<usize>) -> io::Result<()> {
    if !release_range_is_inside(&bytes, map.len())? {
        return Ok(());
    }
    os::release_read_only(map, bytes)
}

/// Drops `bytes` (offsets into a shared read-write `map`) from the resident set, as
/// [`release_read_only`].
///
/// Must not be used on a copy-on-write map: there it would discard private changes.
/// `map_len` is the map's length (at most; `MmapMut::len` would go through `Deref`, which
/// must not happen while a guard's view borrows the bytes).
pub(crate) fn release_shared(map: &MmapMut, map_len: usize, bytes: Range<usize>) -> io::Result<()> {
    if !release_range_is_inside(&bytes, map_len)? {
        return Ok(());
    }
    os::release_shared(map, bytes)
}
