//! What the Unix families share: POSIX calls that each platform file takes by name.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::path::Path;

use memmap2::{Mmap, MmapMut, MmapRaw};

use crate::map::Advise;
use crate::options::Advice;

/// The size of a memory page (`sysconf(_SC_PAGESIZE)`): 4 KiB on x86-64, 16 KiB on Apple
/// silicon, 4 or 64 KiB on other ARM kernels.
pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// Options for opening files: Unix lets a file be renamed over while open, as is.
pub(crate) fn open_options() -> OpenOptions {
    OpenOptions::new()
}

/// Waits until the folder holding `path` has its entries on disk (`fsync` of the folder).
#[cfg(not(target_vendor = "apple"))]
pub(crate) fn sync_folder(path: &Path) -> io::Result<()> {
    File::open(folder_of(path))?.sync_all()
}

/// The folder holding `path` (`.` for a bare name).
pub(crate) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes all of `bytes` at `offset` (`pwrite`, repeated until all is written).
pub(crate) fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

/// Changes the length of `file`; a map of it may stay (Unix allows it: the caller never
/// touches the map's bytes past the new end).
///
/// # Safety
///
/// None beyond the caller's: nothing here touches the map.
pub(crate) unsafe fn set_len_under_map(
    map: &mut MmapMut,
    file: &File,
    offset: u64,
    len: u64,
    keep: Option<usize>,
) -> io::Result<()> {
    let _ = (map, offset, keep);
    file.set_len(len)
}

/// `fallocate` (Linux) or `posix_fallocate` (FreeBSD) of `start..end`, keeping every byte
/// already there; where the file system cannot (`unsupported` errors), the file is only
/// extended. A failure gives the file back its old length `len`.
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(crate) fn fallocate(
    file: &File,
    len: u64,
    start: u64,
    end: u64,
    unsupported: &[rustix::io::Errno],
) -> io::Result<()> {
    use rustix::fs::FallocateFlags;
    match rustix::fs::fallocate(file, FallocateFlags::empty(), start, end - start) {
        Ok(()) => return Ok(()),
        Err(errno) if unsupported.contains(&errno) => {}
        Err(errno) => {
            // A file system may have grown the file before it ran out of blocks; give
            // the file back its old length, so that a failure changes nothing.
            if end > len {
                let _ = file.set_len(len);
            }
            return Err(errno.into());
        }
    }
    if end > len { file.set_len(end) } else { Ok(()) }
}

/// Asks the kernel to start reading the pages of `file` in `offset..offset + len` into the
/// page cache and returns at once (`POSIX_FADV_WILLNEED`; safe, rustix's wrapper).
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(crate) fn will_need(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::WillNeed,
    )?;
    Ok(true)
}

/// Asks the kernel to drop the pages of `file` in `offset..offset + len` from the page
/// cache (`POSIX_FADV_DONTNEED`): clean, unmapped pages only, so nothing is lost, and it
/// is safe (rustix's wrapper).
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(crate) fn evict(file: &File, offset: u64, len: u64) -> io::Result<()> {
    rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    )?;
    Ok(())
}

/// A new, unnamed memory file (`memfd_create`, close-on-exec) of `len` zero bytes.
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(crate) fn memory_file(len: u64) -> io::Result<File> {
    let memfd = rustix::fs::memfd_create("ndmmap-anonymous", rustix::fs::MemfdFlags::CLOEXEC)?;
    let file = File::from(memfd);
    file.set_len(len)?;
    Ok(file)
}

/// A number from `sysctlbyname(name)`, of 4 or 8 bytes as the kernel keeps it.
#[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
pub(crate) fn sysctl_number(name: &std::ffi::CStr) -> Option<u64> {
    let mut value = [0u8; 8];
    let mut len = value.len();
    // SAFETY: `name` is a NUL-terminated string; `value` is writable for `len` bytes, and
    // `len` is a valid place for the kernel to store the length it wrote. Nothing is set
    // (null new value, length 0).
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            value.as_mut_ptr().cast(),
            &raw mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    match (rc, len) {
        (0, 4) => Some(u64::from(u32::from_ne_bytes([value[0], value[1], value[2], value[3]]))),
        (0, 8) => Some(u64::from_ne_bytes(value)),
        _ => None,
    }
}

/// The `madvise` hints of memmap2, the same for every kind of map.
macro_rules! impl_advise {
    ($($map:ty),*) => {$(
        impl Advise for $map {
            fn advise_all(&self, advice: Advice) -> io::Result<()> {
                self.advise(memmap2_advice(advice))
            }

            fn advise_range_of(&self, advice: Advice, bytes: Range<usize>) -> io::Result<()> {
                self.advise_range(memmap2_advice(advice), bytes.start, bytes.len())
            }

            fn populate_range_of(&self, writable: bool, bytes: Range<usize>) -> io::Result<()> {
                let advice = super::populate_advice(writable);
                match self.advise_range(advice, bytes.start, bytes.len()) {
                    // A kernel without the advice (Linux before 5.14): readable pages are
                    // asked for with `MADV_WILLNEED` instead, writable ones not at all.
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) && !writable => {
                        self.advise_range(memmap2::Advice::WillNeed, bytes.start, bytes.len())
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
                    other => other,
                }
            }
        }
    )*};
}

impl_advise!(Mmap, MmapMut, MmapRaw);

/// memmap2's safe advice for `advice`: only advice that never changes the map's contents.
fn memmap2_advice(advice: Advice) -> memmap2::Advice {
    match advice {
        Advice::Normal => memmap2::Advice::Normal,
        Advice::Sequential => memmap2::Advice::Sequential,
        Advice::Random => memmap2::Advice::Random,
        Advice::WillNeed => memmap2::Advice::WillNeed,
    }
}

/// Drops `bytes` (offsets into a shared read-only `map`, inside it) from the resident set.
pub(crate) fn release_read_only(map: &Mmap, bytes: Range<usize>) -> io::Result<()> {
    // SAFETY: `map` is a shared, file-backed, read-only map, and `bytes` lies inside it
    // (checked by the caller, `map::release_read_only`). `MADV_DONTNEED` only drops this
    // process's page-table entries; the next access faults the same bytes back in from the
    // page cache or the file, which nothing modifies non-atomically while the map lives
    // (the contract of every mapping constructor; a read-only guard never makes atomic
    // views). So live references observe no change.
    unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, bytes.start, bytes.len())
    }
}

/// Drops `bytes` (offsets into a shared read-write `map`, inside it) from the resident set.
pub(crate) fn release_shared(map: &MmapMut, bytes: Range<usize>) -> io::Result<()> {
    // SAFETY: `map` is a shared (`MAP_SHARED`) file-backed map, never a private one (the
    // caller's duty, checked by the guard's mode), and `bytes` lies inside it (checked by
    // `map::release_shared`). For shared maps `MADV_DONTNEED` drops only this process's
    // page-table entries: changed pages stay dirty in the page cache and the next access
    // faults in exactly the bytes that were there, so live references observe no change.
    unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, bytes.start, bytes.len())
    }
}

/// The byte ranges of `file` within `offset..offset + len` whose pages are in the page
/// cache now (`mincore` on a short-lived map of the range, which touches no page), widened
/// to whole pages and clipped to the range, in order. `None` where this cannot be told (no
/// room for another map; `mincore` failed). Since Linux 5.2 `mincore` reports every page
/// of a file that the process neither owns nor may write as cached, so such a file seems
/// all cached.
///
/// Asking costs about 25 ms per GiB, so a large range is sampled first ([`SAMPLES`] pages
/// spread evenly): if every sampled page is cached, the whole range counts as cached. A
/// range cached but for holes between the samples is then taken as cached.
pub(crate) fn cached(file: &File, offset: u64, len: u64) -> Option<Vec<Range<u64>>> {
    let page = page_size();
    let start = offset - offset % page as u64;
    let span = usize::try_from(offset.checked_add(len)? - start).ok()?;
    if len == 0 {
        return Some(Vec::new());
    }
    // A raw map hands out no slice of its bytes, so mapping it is safe; mapped from a
    // page boundary, its address is one too, as `mincore` requires.
    let map = memmap2::MmapOptions::new().offset(start).len(span).map_raw_read_only(file).ok()?;
    let pages = span.div_ceil(page);
    let mut one = [0u8];
    let mut sample_cached = |k: usize| {
        let first = k * pages / SAMPLES * page;
        resident(&map, first, page, &mut one) == Some(true) && one[0] & 1 == 1
    };
    if pages >= 4 * SAMPLES && (0..SAMPLES).all(&mut sample_cached) {
        return Some(std::iter::once(offset..offset + len).collect());
    }
    // One byte per page, asked for a window of pages at a time so that a large file
    // needs no large vector.
    let mut flags = vec![0u8; WINDOW_PAGES.min(pages)];
    let mut ranges: Vec<Range<u64>> = Vec::new();
    let window = WINDOW_PAGES.saturating_mul(page);
    for first in (0..span).step_by(window) {
        let bytes = (span - first).min(window);
        if !resident(&map, first, bytes, &mut flags)? {
            return None;
        }
        let each = flags.iter().take(bytes.div_ceil(page)).enumerate();
        for (k, _) in each.filter(|(_, r)| **r & 1 == 1) {
            let at = start + (first + k * page) as u64;
            let (page_start, page_end) = (at.max(offset), (at + page as u64).min(offset + len));
            match ranges.last_mut() {
                Some(last) if last.end == page_start => last.end = page_end,
                _ => ranges.push(page_start..page_end),
            }
        }
    }
    Some(ranges)
}

/// `mincore` for `bytes` of `map` from offset `first`, into one flag byte per page of
/// `flags`: `Some(true)` if it answered, `Some(false)` if it failed; `None` (asking nothing)
/// if the window does not start on a page, does not lie inside the map, or `flags` is too
/// short for it.
fn resident(map: &MmapRaw, first: usize, bytes: usize, flags: &mut [u8]) -> Option<bool> {
    let page = page_size();
    let inside = first.checked_add(bytes).is_some_and(|end| end <= map.len());
    let aligned = (map.as_ptr() as usize).is_multiple_of(page) && first.is_multiple_of(page);
    if !aligned || !inside || flags.len() < bytes.div_ceil(page) {
        return None;
    }
    let address = map.as_mut_ptr().wrapping_add(first).cast::<libc::c_void>();
    // SAFETY: `map` is a live map; the window `first..first + bytes` starts on a page and
    // lies inside it, and `flags` has a byte for each of the window's pages, which is all
    // `mincore` writes (all checked above). `mincore` reads no byte of the map and faults
    // nothing in.
    let rc = unsafe { libc::mincore(address, bytes, flags.as_mut_ptr().cast()) };
    Some(rc == 0)
}

/// How many pages [`cached`] asks `mincore` about at once (256 MiB of 4 KiB pages).
const WINDOW_PAGES: usize = 1 << 16;

/// How many pages [`cached`] samples in a range of at least four times as many.
pub(crate) const SAMPLES: usize = 256;

/// A positional read (`pread`).
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

/// The old file's owner and group where the process may set them (`fchown`), then its
/// permission bits; a group that cannot be kept takes the group's bits with it.
pub(crate) fn take_access(new: &File, old: &std::fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let ours = new.metadata()?;
    let mut group_kept = true;
    if (ours.uid(), ours.gid()) != (old.uid(), old.gid()) {
        let uid = (ours.uid() != old.uid()).then_some(old.uid());
        match std::os::unix::fs::fchown(new, uid, Some(old.gid())) {
            Ok(()) => {}
            // Not allowed to give the file away: keep the group if that is allowed.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                group_kept = std::os::unix::fs::fchown(new, None, Some(old.gid())).is_ok();
            }
            Err(e) => return Err(e),
        }
    }
    let mode = old.mode() & if group_kept { 0o7777 } else { 0o7707 };
    // After the owner: changing the owner clears the set-user-ID and set-group-ID bits.
    new.set_permissions(std::fs::Permissions::from_mode(mode))
}

/// A file's device and inode, from its metadata: nothing is opened (a FIFO, or a file
/// this process may not read, is identified all the same).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
}

/// The device and inode that `meta` (of the file at `path`) holds.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn file_id(path: &Path, meta: &std::fs::Metadata) -> io::Result<FileId> {
    use std::os::unix::fs::MetadataExt;
    let _ = path;
    Ok(FileId { dev: meta.dev(), ino: meta.ino() })
}

/// `flock(LOCK_UN)` (std's `File::unlock`): nothing held is no error.
pub(crate) fn unlock(file: &File) -> io::Result<()> {
    file.unlock()
}
