//! The operating-system boundary: the only code that calls memmap2, rustix or libc.
//!
//! This file maps, remaps, advises and releases ranges of maps (memmap2, which stays a
//! private dependency); [`file`] holds the calls on files: reserving blocks, write-back,
//! the page size and the memory file behind anonymous maps. Everything above asks the
//! guard, which asks here.
#![allow(unsafe_code)]

pub(crate) mod file;

use std::fs::File;
use std::io;
use std::ops::Range;

use memmap2::{Mmap, MmapMut, MmapOptions, MmapRaw};

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
    #[cfg(target_os = "linux")]
    {
        let _ = (file, offset);
        // SAFETY: the caller guarantees that the file reaches past the new end, so every
        // byte of the resized map is backed by the file, and that nothing borrows the map,
        // so its moving invalidates no reference.
        unsafe { map.remap(len, memmap2::RemapOptions::new().may_move(true)) }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: forwarded: the caller upholds `map_read_write`'s contract for the file,
        // which is long enough; the old map is unmapped when replaced, and nothing borrows it.
        *map = unsafe { map_read_write(file, Region { offset, len, populate: false }) }?;
        Ok(())
    }
}

/// `madvise` for a whole map; a no-op where `madvise` does not exist.
pub(crate) trait Advise {
    /// Passes `advice` to the kernel for every page of the map.
    fn advise_all(&self, advice: Advice) -> io::Result<()>;
    /// Passes `advice` to the kernel for the pages of `bytes` (offsets into the map).
    fn advise_range_of(&self, advice: Advice, bytes: Range<usize>) -> io::Result<()>;
    /// Prefaults the pages of `bytes`; see [`populate`].
    fn populate_range_of(&self, writable: bool, bytes: Range<usize>) -> io::Result<()>;
}

/// The same `Advise` for every kind of map: memmap2 gives them the same methods.
macro_rules! impl_advise {
    ($($map:ty),*) => {$(
        impl Advise for $map {
            fn advise_all(&self, advice: Advice) -> io::Result<()> {
                #[cfg(unix)]
                return self.advise(memmap2_advice(advice));
                #[cfg(not(unix))]
                {
                    let _ = advice;
                    Ok(())
                }
            }

            fn advise_range_of(&self, advice: Advice, bytes: Range<usize>) -> io::Result<()> {
                #[cfg(unix)]
                return self.advise_range(memmap2_advice(advice), bytes.start, bytes.len());
                #[cfg(not(unix))]
                {
                    let _ = (advice, bytes);
                    Ok(())
                }
            }

            fn populate_range_of(&self, writable: bool, bytes: Range<usize>) -> io::Result<()> {
                #[cfg(target_os = "linux")]
                return self.advise_range(populate_advice(writable), bytes.start, bytes.len());
                #[cfg(not(target_os = "linux"))]
                {
                    let _ = (writable, bytes);
                    Ok(())
                }
            }
        }
    )*};
}

impl_advise!(Mmap, MmapMut, MmapRaw);

/// `MADV_POPULATE_WRITE` for `writable`, else `MADV_POPULATE_READ`: both fault pages in
/// without changing their contents.
#[cfg(target_os = "linux")]
fn populate_advice(writable: bool) -> memmap2::Advice {
    if writable { memmap2::Advice::PopulateWrite } else { memmap2::Advice::PopulateRead }
}

/// memmap2's safe advice for `advice`: only advice that never changes the map's contents.
#[cfg(unix)]
fn memmap2_advice(advice: Advice) -> memmap2::Advice {
    match advice {
        Advice::Normal => memmap2::Advice::Normal,
        Advice::Sequential => memmap2::Advice::Sequential,
        Advice::Random => memmap2::Advice::Random,
        Advice::WillNeed => memmap2::Advice::WillNeed,
    }
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
/// fault, so ask for the range with `MADV_WILLNEED` first); a no-op where the advice does
/// not exist. A kernel without it (before Linux 5.14) gets `MADV_WILLNEED` for readable pages
/// instead. A page that cannot be faulted in (past the end of a file that shrank) is an
/// error, not a `SIGBUS`.
pub(crate) fn populate(map: &impl Advise, writable: bool, bytes: Range<usize>) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    match map.populate_range_of(writable, bytes.clone()) {
        Err(e) if e.raw_os_error() == Some(EINVAL) && !writable => {
            map.advise_range_of(Advice::WillNeed, bytes)
        }
        Err(e) if e.raw_os_error() == Some(EINVAL) => Ok(()),
        other => other,
    }
}

/// `EINVAL`: what `madvise` answers for advice the kernel does not know.
#[cfg(unix)]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(unix))]
const EINVAL: i32 = 22;

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

/// Drops `bytes` (offsets into a shared read-only `map`) from the resident set.
pub(crate) fn release_read_only(map: &Mmap, bytes: Range<usize>) -> io::Result<()> {
    if !release_range_is_inside(&bytes, map.len())? {
        return Ok(());
    }
    #[cfg(unix)]
    // SAFETY: `map` is a shared, file-backed, read-only map, and `bytes` lies inside it
    // (checked above). `MADV_DONTNEED` only drops this process's page-table entries; the
    // next access faults the same bytes back in from the page cache or the file, which
    // nothing modifies non-atomically while the map lives (the contract of every mapping
    // constructor; a read-only guard never makes atomic views). So live references observe
    // no change.
    return unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, bytes.start, bytes.len())
    };
    #[cfg(not(unix))]
    return Ok(());
}

/// Drops `bytes` (offsets into a shared read-write `map`) from the resident set.
///
/// Must not be used on a copy-on-write map: there it would discard private changes.
/// `map_len` is the map's length (at most; `MmapMut::len` would go through `Deref`, which
/// must not happen while a guard's view borrows the bytes).
pub(crate) fn release_shared(map: &MmapMut, map_len: usize, bytes: Range<usize>) -> io::Result<()> {
    if !release_range_is_inside(&bytes, map_len)? {
        return Ok(());
    }
    #[cfg(unix)]
    // SAFETY: `map` is a shared (`MAP_SHARED`) file-backed map, never a private one (the
    // caller's duty, checked by the guard's mode), and `bytes` lies inside it (checked
    // above). For shared maps `MADV_DONTNEED` drops only
    // this process's page-table entries: changed pages stay dirty in the page cache and the
    // next access faults in exactly the bytes that were there, so live references observe
    // no change.
    return unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, bytes.start, bytes.len())
    };
    #[cfg(not(unix))]
    return Ok(());
}
