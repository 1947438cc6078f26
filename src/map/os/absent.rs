//! The hooks a platform lacks, each doing what the interface says it does where the call
//! does not exist: platform files take the ones they need by name.
#![allow(dead_code, reason = "each platform takes only the hooks it lacks")]

use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::PathBuf;

use memmap2::{Mmap, MmapMut};

/// Nothing beyond the map's flush is needed for durability.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn make_durable(file: &File) -> io::Result<()> {
    let _ = file;
    Ok(())
}

/// No `sync_file_range`: `Ok(false)`, and the caller starts write-back with the map's
/// asynchronous flush instead.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn start_write_back(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let _ = (file, offset, len);
    Ok(false)
}

/// No `sync_file_range`: `Ok(false)`, nothing done.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn finish_write_back(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let _ = (file, offset, len);
    Ok(false)
}

/// No call starts reading a file's range ahead: `Ok(false)`, and the caller asks with
/// `Advice::WillNeed` on its map instead.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn will_need(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let _ = (file, offset, len);
    Ok(false)
}

/// No read that fails rather than waits for the disk: `false`, and the caller reads the
/// usual way (after asking for the pages ahead).
pub(crate) fn read_cached_at(file: &File, buf: &mut [u8], offset: u64) -> bool {
    let _ = (file, buf, offset);
    false
}

/// No in-kernel copy between files: `None`, and the caller reads and writes.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn copy_file_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: usize,
) -> io::Result<Option<usize>> {
    let _ = (src, src_offset, dst, dst_offset, len);
    Ok(None)
}

/// No call drops a file's pages from the cache: the system reuses them when it needs to.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn evict(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let _ = (file, offset, len);
    Ok(())
}

/// No read-ahead through the fault path: `Ok(false)`, and the caller asks with
/// `Advice::WillNeed` instead.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn read_through_fault(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    let _ = (file, offset, len);
    Ok(false)
}

/// No `mincore`: unknown, and the engine takes every file as cached.
pub(crate) fn cached(file: &File, offset: u64, len: u64) -> Option<Vec<Range<u64>>> {
    let _ = (file, offset, len);
    None
}

/// No `madvise(MADV_DONTNEED)`: the system trims resident sets by itself.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn release_read_only(map: &Mmap, bytes: Range<usize>) -> io::Result<()> {
    let _ = (map, bytes);
    Ok(())
}

/// As [`release_read_only`].
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn release_shared(map: &MmapMut, bytes: Range<usize>) -> io::Result<()> {
    let _ = (map, bytes);
    Ok(())
}

/// The system keeps no path for an open file that ndmmap asks for.
pub(crate) fn name_of(file: &File) -> Option<PathBuf> {
    let _ = file;
    None
}

/// `impl Advise` that asks nothing of the system, for maps on platforms (or of kinds)
/// without advice: every hint accepted and ignored (Windows' writable maps, the fallback).
#[cfg(not(any(target_vendor = "apple", target_os = "freebsd")))]
macro_rules! impl_no_advise {
    ($($map:ty),*) => {$(
        impl crate::map::Advise for $map {
            fn advise_all(&self, advice: crate::options::Advice) -> std::io::Result<()> {
                let _ = advice;
                Ok(())
            }

            fn advise_range_of(
                &self,
                advice: crate::options::Advice,
                bytes: std::ops::Range<usize>,
            ) -> std::io::Result<()> {
                let _ = (advice, bytes);
                Ok(())
            }

            fn populate_range_of(
                &self,
                writable: bool,
                bytes: std::ops::Range<usize>,
            ) -> std::io::Result<()> {
                let _ = (writable, bytes);
                Ok(())
            }
        }
    )*};
}
#[cfg(not(any(target_vendor = "apple", target_os = "freebsd")))]
pub(crate) use impl_no_advise;
