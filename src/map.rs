//! The memmap2 boundary: map, reserve, advise. memmap2 stays a private dependency.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Range;

use memmap2::{Mmap, MmapMut, MmapOptions};

use crate::options::Access;

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

/// Grows `file` from `from` to `to` bytes and reserves the new blocks on disk, so that
/// writing through a map of them cannot fail with `SIGBUS` when the disk fills up: the
/// full disk is reported here instead, as [`io::ErrorKind::StorageFull`].
///
/// Where the file system cannot reserve blocks (`EOPNOTSUPP`), the file is only extended.
pub(crate) fn grow_and_reserve(file: &File, from: u64, to: u64) -> io::Result<()> {
    if to <= from {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use rustix::fs::{FallocateFlags, fallocate};
        match fallocate(file, FallocateFlags::empty(), from, to - from) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {}
            Err(errno) => {
                // A file system may have grown the file before it ran out of blocks; give
                // the file back its old length, so that a failure changes nothing.
                let _ = file.set_len(from);
                return Err(errno.into());
            }
        }
    }
    file.set_len(to)
}

/// `madvise` for a whole map; a no-op where `madvise` does not exist.
pub(crate) trait Advise {
    /// Passes `access` to the kernel for every page of the map.
    fn advise_all(&self, access: Access) -> io::Result<()>;
    /// Passes `access` to the kernel for the pages of `bytes` (offsets into the map).
    fn advise_range_of(&self, access: Access, bytes: Range<usize>) -> io::Result<()>;
}

impl Advise for Mmap {
    fn advise_all(&self, access: Access) -> io::Result<()> {
        #[cfg(unix)]
        return self.advise(advice(access));
        #[cfg(not(unix))]
        return Ok(());
    }

    fn advise_range_of(&self, access: Access, bytes: Range<usize>) -> io::Result<()> {
        #[cfg(unix)]
        return self.advise_range(advice(access), bytes.start, bytes.len());
        #[cfg(not(unix))]
        return Ok(());
    }
}

impl Advise for MmapMut {
    fn advise_all(&self, access: Access) -> io::Result<()> {
        #[cfg(unix)]
        return self.advise(advice(access));
        #[cfg(not(unix))]
        return Ok(());
    }

    fn advise_range_of(&self, access: Access, bytes: Range<usize>) -> io::Result<()> {
        #[cfg(unix)]
        return self.advise_range(advice(access), bytes.start, bytes.len());
        #[cfg(not(unix))]
        return Ok(());
    }
}

/// memmap2's safe advice for `access`: only advice that never changes the map's contents.
#[cfg(unix)]
fn advice(access: Access) -> memmap2::Advice {
    match access {
        Access::Normal => memmap2::Advice::Normal,
        Access::Sequential => memmap2::Advice::Sequential,
        Access::Random => memmap2::Advice::Random,
        Access::WillNeed => memmap2::Advice::WillNeed,
    }
}

/// `madvise` for `bytes` (offsets into `map`); a no-op where `madvise` does not exist.
pub(crate) fn advise_range(
    map: &impl Advise,
    access: Access,
    bytes: Range<usize>,
) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    map.advise_range_of(access, bytes)
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

/// Starts writing back the dirty pages of `file` in `offset..offset + len` without waiting
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that write-back runs behind a
/// computation instead of piling up for the final flush. Returns `Ok(false)` where the
/// call does not exist (not Linux); callers then flush the range instead.
pub(crate) fn start_write_back(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len))
        else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        // SAFETY: `sync_file_range` reads no memory of ours; it takes a file descriptor,
        // which `file` keeps open for this call, and two integers. It only starts I/O on
        // the file's page cache, so it cannot change any bytes a map or reference observes.
        let rc = unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
        };
        if rc == 0 { Ok(true) } else { Err(io::Error::last_os_error()) }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, len);
        Ok(false)
    }
}

/// Waits until the pages of `file` in `offset..offset + len` are written back (starting
/// the write-back of any still dirty), then asks the kernel to drop them from the page
/// cache (`POSIX_FADV_DONTNEED`), so that their memory is reused at once. Returns
/// `Ok(false)` where `sync_file_range` does not exist (not Linux): nothing is done.
pub(crate) fn finish_write_back(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(start), Ok(count)) =
            (libc::off64_t::try_from(offset), libc::off64_t::try_from(len))
        else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        // SAFETY: as in `start_write_back`: a file descriptor that `file` keeps open and two
        // integers; it only writes back and waits, changing no bytes anyone observes.
        let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), start, count, flags) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // Clean pages only, and none mapped: the kernel keeps any other. Losing nothing,
        // it is safe (rustix's wrapper).
        rustix::fs::fadvise(
            file,
            offset,
            std::num::NonZeroU64::new(len),
            rustix::fs::Advice::DontNeed,
        )?;
        Ok(true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, len);
        Ok(false)
    }
}
