//! macOS and the other Apple systems: `F_FULLFSYNC` for durability (their `fsync` and
//! `msync` leave data in the drive's cache), `F_PREALLOCATE` to reserve blocks, `mincore`
//! for the page-cache snapshot, `F_GETPATH` for names, and `sysctl` for memory. No
//! `posix_fadvise`, `sync_file_range` or `mremap`: those hooks do nothing here.
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

pub(crate) use super::absent::{
    copy_file_range, evict, finish_write_back, read_cached_at, read_through_fault,
    start_write_back, will_need,
};
pub(crate) use super::unix::{
    FileId, cached, file_id, open_options, page_size, read_at, release_read_only, release_shared,
    set_len_under_map, take_access, unlock, write_all_at,
};
pub(crate) use crate::map::map_again as remap;

/// Reserves `start..end` of `file` (now `len` bytes long): the bytes past its end with
/// `F_PREALLOCATE` (all or nothing), then the file is extended to `end`. Holes inside a
/// sparse file (which ndmmap never makes) are not filled: APFS has no call for that. Where
/// the file system cannot preallocate, the file is only extended.
pub(crate) fn reserve(file: &File, len: u64, start: u64, end: u64) -> io::Result<()> {
    let _ = start;
    if end <= len {
        return Ok(());
    }
    // From the physical end of the file, which is at least the allocated bytes: asking
    // for `end` less those reaches at least `end`.
    let allocated = std::os::unix::fs::MetadataExt::blocks(&file.metadata()?) * 512;
    let Ok(length) = libc::off_t::try_from(end.saturating_sub(allocated)) else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    let store = libc::fstore_t {
        fst_flags: libc::F_ALLOCATEALL,
        fst_posmode: libc::F_PEOFPOSMODE,
        fst_offset: 0,
        fst_length: length,
        fst_bytesalloc: 0,
    };
    // SAFETY: `F_PREALLOCATE` reads the `fstore_t` it is given (and writes its
    // `fst_bytesalloc`), which lives for the call; `file` keeps its descriptor open. It
    // allocates blocks past the end of the file and changes no byte of it.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_PREALLOCATE, &raw const store) };
    if rc == -1 {
        let e = io::Error::last_os_error();
        let unsupported = [Errno::OPNOTSUPP, Errno::INVAL, Errno::NOTSUP];
        if !unsupported.iter().any(|u| e.raw_os_error() == Some(u.raw_os_error())) {
            return Err(e);
        }
    }
    file.set_len(end)
}

/// `F_FULLFSYNC`: asks the drive to write its cache to stable storage, as the
/// `fullfsync` setting of `SQLite` does.
pub(crate) fn make_durable(file: &File) -> io::Result<()> {
    Ok(rustix::fs::fcntl_fullfsync(file)?)
}

/// `F_FULLFSYNC` of the folder holding `path` (plain `fsync` where the file system cannot).
pub(crate) fn sync_folder(path: &Path) -> io::Result<()> {
    let folder = File::open(super::unix::folder_of(path))?;
    match rustix::fs::fcntl_fullfsync(&folder) {
        Err(Errno::OPNOTSUPP | Errno::INVAL | Errno::NOTTY | Errno::NOTSUP) => {
            Ok(rustix::fs::fsync(&folder)?)
        }
        other => Ok(other?),
    }
}

/// Prefaulting is `MADV_WILLNEED` here (no `MADV_POPULATE_*`).
pub(crate) fn populate_advice(writable: bool) -> memmap2::Advice {
    let _ = writable;
    memmap2::Advice::WillNeed
}

/// `F_GETPATH`: the path the file has now.
pub(crate) fn name_of(file: &File) -> Option<PathBuf> {
    let path = rustix::fs::getpath(file).ok()?;
    Some(PathBuf::from(OsString::from_vec(path.into_bytes())))
}

/// `hw.memsize` times the share of it the system reports available
/// (`kern.memorystatus_level`, in percent); the whole memory where that is unknown.
pub(crate) fn available_memory() -> Option<u64> {
    let total = super::unix::sysctl_number(c"hw.memsize")?;
    match super::unix::sysctl_number(c"kern.memorystatus_level") {
        Some(percent @ 1..=100) => Some(total / 100 * percent),
        _ => Some(total),
    }
}
