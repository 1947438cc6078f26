//! Linux: `fallocate`, `sync_file_range`, `copy_file_range`, `posix_fadvise`, `mremap`, `MADV_POPULATE_*`,
//! `memfd_create`, `/proc/self/fd` for names, and cgroups and `/proc/meminfo` for memory.
#![allow(unsafe_code)]

mod memory;

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use memmap2::MmapMut;

pub(crate) use self::memory::available_memory;
pub(crate) use super::unix::{
    FileId, cached, evict, file_id, memory_file, open_options, page_size, read_at,
    release_read_only, release_shared, set_len_under_map, sync_folder, take_access, unlock,
    will_need, write_all_at,
};

/// `fallocate` mode 0 of `start..end`; where the file system cannot reserve blocks
/// (`EOPNOTSUPP`), the file is only extended.
pub(crate) fn reserve(file: &File, len: u64, start: u64, end: u64) -> io::Result<()> {
    use rustix::io::Errno;
    super::unix::fallocate(file, len, start, end, &[Errno::OPNOTSUPP, Errno::NOSYS])
}

/// `msync(MS_SYNC)` reaches the disk on Linux: nothing more to do.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn make_durable(file: &File) -> io::Result<()> {
    let _ = file;
    Ok(())
}

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: starts write-back without waiting.
pub(crate) fn start_write_back(file: &File, offset: u64, len: u64) -> io::Result<bool> {
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

/// `sync_file_range` that waits, then `POSIX_FADV_DONTNEED`.
pub(crate) fn finish_write_back(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let (Ok(start), Ok(count)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len))
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
    evict(file, offset, len)?;
    Ok(true)
}

/// Reads through the fault path of a short-lived huge-page map: see
/// `map::file::read_through_fault`.
pub(crate) fn read_through_fault(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let Ok(len) = usize::try_from(len) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    if len == 0 {
        return Ok(true);
    }
    // A raw map hands out no slice of its bytes, so mapping it is safe: only the kernel
    // touches its pages, through `madvise`.
    let options = memmap2::MmapOptions::new().offset(offset).len(len).map_raw_read_only(file);
    let Ok(map) = options else { return Ok(false) };
    // Hints: a kernel without transparent huge pages refuses the first; neither
    // changes any data.
    let _ = map.advise(memmap2::Advice::HugePage);
    let _ = map.advise(memmap2::Advice::Sequential);
    match map.advise_range(memmap2::Advice::PopulateRead, 0, len) {
        Ok(()) => Ok(true),
        // A page past the end of the file: where a read would raise SIGBUS.
        Err(e) if e.raw_os_error() == Some(libc::EFAULT) => {
            Err(io::Error::new(io::ErrorKind::UnexpectedEof, e))
        }
        Err(_) => Ok(false),
    }
}

/// `copy_file_range`: the kernel copies `len` bytes from `src` at `src_offset` to `dst` at
/// `dst_offset` (a reflink where the file system shares blocks, XFS and btrfs). Returns how
/// many bytes it copied (0 at the end of `src`), or `None` where it refuses the pair of
/// files (across file systems, `EXDEV`; a kernel or file system without it, `ENOSYS`,
/// `EOPNOTSUPP`, `EINVAL`): the caller then copies by reading and writing.
pub(crate) fn copy_file_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: usize,
) -> io::Result<Option<usize>> {
    use rustix::io::Errno;
    let (mut from, mut to) = (src_offset, dst_offset);
    match rustix::fs::copy_file_range(src, Some(&mut from), dst, Some(&mut to), len) {
        Ok(n) => Ok(Some(n)),
        Err(Errno::XDEV | Errno::NOSYS | Errno::OPNOTSUPP | Errno::INVAL | Errno::PERM) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `preadv2(RWF_NOWAIT)`: fills `buf` from `file` at `offset` if the page cache holds all
/// of it, without waiting for the disk. `false` if some of it is not cached (`EAGAIN`), the
/// file system cannot tell (`EOPNOTSUPP`), or the file ends first: the caller then reads
/// the usual way, which reports any real error.
pub(crate) fn read_cached_at(file: &File, buf: &mut [u8], offset: u64) -> bool {
    use rustix::io::{Errno, ReadWriteFlags};
    let mut filled = 0;
    while filled < buf.len() {
        let mut parts = [io::IoSliceMut::new(&mut buf[filled..])];
        let at = offset + filled as u64;
        match rustix::io::preadv2(file, &mut parts, at, ReadWriteFlags::NOWAIT) {
            Ok(0) => return false,
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// `mremap`: the map may move, and no byte is copied.
///
/// # Safety
///
/// As `map::remap`.
pub(crate) unsafe fn remap(
    map: &mut MmapMut,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<()> {
    let _ = (file, offset);
    // SAFETY: the caller guarantees that the file reaches past the new end, so every
    // byte of the resized map is backed by the file, and that nothing borrows the map,
    // so its moving invalidates no reference.
    unsafe { map.remap(len, memmap2::RemapOptions::new().may_move(true)) }
}

/// `MADV_POPULATE_WRITE` for `writable`, else `MADV_POPULATE_READ`: both fault pages in
/// without changing their contents.
pub(crate) fn populate_advice(writable: bool) -> memmap2::Advice {
    if writable { memmap2::Advice::PopulateWrite } else { memmap2::Advice::PopulateRead }
}

/// Where `/proc/self/fd` says the open file is.
pub(crate) fn name_of(file: &File) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(test)]
mod tests;
