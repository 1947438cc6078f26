//! Calls on files rather than maps: reserving blocks, write-back and cache eviction of
//! ranges, the page size, and the memory file behind anonymous shared maps.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Range;

#[cfg(target_os = "linux")]
use super::Advise;

/// Grows `file` from `from` to `to` bytes and reserves the new blocks on disk, so that
/// writing through a map of them cannot fail with `SIGBUS` when the disk fills up: the
/// full disk is reported here instead, as [`io::ErrorKind::StorageFull`].
///
/// Where the file system cannot reserve blocks (`EOPNOTSUPP`), the file is only extended.
pub(crate) fn reserve(file: &File, from: u64, to: u64) -> io::Result<()> {
    reserve_range(file, from, from, to)
}

/// Reserves on disk every block of `file` in `start..end` that has none yet (the holes of
/// a sparse file, and bytes past its end, `len`), keeping every byte already there
/// (`fallocate` mode 0), so that writing through a map of that range cannot fail with
/// `SIGBUS` when the disk fills up; the file grows to `end` if it was shorter. The range is
/// widened to whole pages (within the file), since the kernel writes a dirty page whole.
///
/// On an already allocated range this only walks the file's extent map. A full disk is
/// [`io::ErrorKind::StorageFull`], and the file keeps its length and bytes. Where the file
/// system cannot reserve blocks (`EOPNOTSUPP`), the file is only extended.
pub(crate) fn reserve_range(file: &File, len: u64, start: u64, end: u64) -> io::Result<()> {
    let page = page_size() as u64;
    let start = start - start % page;
    let end = end.max(end.next_multiple_of(page).min(len));
    if end <= start {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use rustix::fs::{FallocateFlags, fallocate};
        match fallocate(file, FallocateFlags::empty(), start, end - start) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::OPNOTSUPP | rustix::io::Errno::NOSYS) => {}
            Err(errno) => {
                // A file system may have grown the file before it ran out of blocks; give
                // the file back its old length, so that a failure changes nothing.
                if end > len {
                    let _ = file.set_len(len);
                }
                return Err(errno.into());
            }
        }
    }
    if end > len { file.set_len(end) } else { Ok(()) }
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
        evict(file, offset, len)?;
        Ok(true)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, len);
        Ok(false)
    }
}

/// Asks the kernel to drop the pages of `file` in `offset..offset + len` from the page
/// cache (`POSIX_FADV_DONTNEED`): clean, unmapped pages only, so nothing is lost, and it
/// is safe (rustix's wrapper). A no-op off Linux.
pub(crate) fn evict(file: &File, offset: u64, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    rustix::fs::fadvise(
        file,
        offset,
        std::num::NonZeroU64::new(len),
        rustix::fs::Advice::DontNeed,
    )?;
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
    Ok(())
}

/// Reads `len` bytes of `file` from `offset` into the page cache the way a process that
/// touches them in a map with `MADV_HUGEPAGE` would, without mapping them into any map of
/// the caller's: through a short-lived map of the range of its own (`MADV_HUGEPAGE`,
/// `MADV_SEQUENTIAL`, then `MADV_POPULATE_READ`), unmapped before returning, once the
/// pages are read. Returns `Ok(false)`, having read nothing, where this cannot be done
/// (not Linux; no room for another map; a kernel before 5.14, without
/// `MADV_POPULATE_READ`): the caller then asks with `MADV_WILLNEED`. A range past the end
/// of the file (one that shrank) is an [`io::ErrorKind::UnexpectedEof`] error.
///
/// Why not `MADV_WILLNEED` (or `posix_fadvise`, `readahead`): those fill the page cache
/// with single pages, which the block layer sends in requests of at most `max_segments`
/// pages (254 on a virtio disk: under 1 MiB). On a file system with large folios (ext4
/// and XFS on Linux 6.x) and transparent huge pages on (`madvise` or `always`), the fault
/// path of a huge-page map reads 2 MiB folios in requests of up to `max_sectors_kb` (4 MiB
/// here). Elsewhere it reads single pages, as `MADV_WILLNEED` does, but waits for them.
pub(crate) fn read_through_fault(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
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
        match map.populate_range_of(false, 0..len) {
            Ok(()) => Ok(true),
            // A page past the end of the file: where a read would raise SIGBUS.
            Err(e) if e.raw_os_error() == Some(libc::EFAULT) => {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, e))
            }
            Err(_) => Ok(false),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, len);
        Ok(false)
    }
}

/// The byte ranges of `file` within `offset..offset + len` whose pages are in the page
/// cache now (`mincore` on a short-lived map of the range, which touches no page), widened
/// to whole pages and clipped to the range, in order. `None` where this cannot be told
/// (not Linux; no room for another map; `mincore` failed). Since Linux 5.2 `mincore`
/// reports every page of a file that the process neither owns nor may write as cached,
/// so such a file seems all cached.
///
/// Asking costs about 25 ms per GiB, so a large range is sampled first ([`SAMPLES`] pages
/// spread evenly): if every sampled page is cached, the whole range counts as cached. A
/// range cached but for holes between the samples is then taken as cached.
pub(crate) fn cached(file: &File, offset: u64, len: u64) -> Option<Vec<Range<u64>>> {
    #[cfg(target_os = "linux")]
    {
        let page = page_size();
        let start = offset - offset % page as u64;
        let span = usize::try_from(offset.checked_add(len)? - start).ok()?;
        if len == 0 {
            return Some(Vec::new());
        }
        // A raw map hands out no slice of its bytes, so mapping it is safe; mapped from a
        // page boundary, its address is one too, as `mincore` requires.
        let map =
            memmap2::MmapOptions::new().offset(start).len(span).map_raw_read_only(file).ok()?;
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
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, len);
        None
    }
}

/// `mincore` for `bytes` of `map` from offset `first`, into one flag byte per page of
/// `flags`: `Some(true)` if it answered, `Some(false)` if it failed; `None` (asking nothing)
/// if the window does not start on a page, does not lie inside the map, or `flags` is too
/// short for it.
#[cfg(target_os = "linux")]
fn resident(map: &memmap2::MmapRaw, first: usize, bytes: usize, flags: &mut [u8]) -> Option<bool> {
    let page = page_size();
    let inside = first.checked_add(bytes).is_some_and(|end| end <= map.len());
    let aligned = (map.as_ptr() as usize).is_multiple_of(page) && first.is_multiple_of(page);
    if !aligned || !inside || flags.len() < bytes.div_ceil(page) {
        return None;
    }
    // SAFETY: `map` is a live map; the window `first..first + bytes` starts on a page and
    // lies inside it, and `flags` has a byte for each of the window's pages, which is all
    // `mincore` writes (all checked above). `mincore` reads no byte of the map and faults
    // nothing in.
    let rc = unsafe {
        libc::mincore(map.as_mut_ptr().wrapping_add(first).cast(), bytes, flags.as_mut_ptr())
    };
    Some(rc == 0)
}

/// How many pages [`cached`] asks `mincore` about at once (256 MiB of 4 KiB pages).
#[cfg(target_os = "linux")]
const WINDOW_PAGES: usize = 1 << 16;

/// How many pages [`cached`] samples in a range of at least four times as many.
#[cfg(target_os = "linux")]
const SAMPLES: usize = 256;

/// The size of a memory page, the unit of mapping, flushing and releasing.
pub(crate) fn page_size() -> usize {
    #[cfg(unix)]
    return rustix::param::page_size();
    #[cfg(not(unix))]
    return 4096;
}

/// Gives `new`, a file about to replace the one `old` describes, that file's permissions,
/// and on Unix its owner and group where the process may set them (as root, say), as
/// writing the old file in place would keep them. A group that cannot be kept takes the
/// group's permission bits with it: the new file's group is not the old one's, and must
/// not read what only the old group could.
pub(crate) fn take_access(new: &File, old: &std::fs::Metadata) -> io::Result<()> {
    #[cfg(unix)]
    let permissions = {
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
        std::fs::Permissions::from_mode(mode)
    };
    #[cfg(not(unix))]
    let permissions = old.permissions();
    // After the owner: changing the owner clears the set-user-ID and set-group-ID bits.
    new.set_permissions(permissions)
}

/// Whether `a` and `b` describe the same file: the same device and inode on Unix. Where
/// std cannot tell files apart by an identity (Windows), files of equal length and
/// modification time are taken for the same.
pub(crate) fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (a.dev(), a.ino()) == (b.dev(), b.ino())
    }
    #[cfg(not(unix))]
    {
        a.len() == b.len() && a.modified().ok() == b.modified().ok()
    }
}

/// A new, unnamed memory file (`memfd_create`, close-on-exec) of `len` zero bytes: the
/// shmem object behind `MAP_SHARED | MAP_ANONYMOUS`, which, unlike memmap2's private
/// anonymous maps, stays shared across `fork`.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub(crate) fn memory_file(len: u64) -> io::Result<File> {
    let memfd = rustix::fs::memfd_create("ndmmap-anonymous", rustix::fs::MemfdFlags::CLOEXEC)?;
    let file = File::from(memfd);
    file.set_len(len)?;
    Ok(file)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Write;

    use super::{cached, evict, page_size, read_through_fault};

    #[test]
    fn reading_through_the_fault_path_reads_the_range_and_stops_at_the_end_of_the_file() {
        let mut file = tempfile::tempfile().unwrap();
        let page = page_size();
        file.write_all(&vec![7u8; 4 * page]).unwrap();
        // Inside the file, at an offset that is not page-aligned: read.
        assert!(read_through_fault(&file, 100, 2 * page as u64).unwrap());
        // Past its end (a file that shrank under a map): an error, not SIGBUS.
        let err = read_through_fault(&file, 2 * page as u64, 4 * page as u64).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(read_through_fault(&file, 0, 0).unwrap());
    }

    #[test]
    fn cached_ranges_are_the_pages_in_the_page_cache_clipped_to_the_range() {
        // On the crate's own disk: a tmpfs (often /tmp) keeps its pages whatever is asked.
        let mut file = tempfile::tempfile_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let p = page_size() as u64;
        // A page per write: one large write may make one large folio, which the kernel
        // evicts only whole.
        for _ in 0..8 {
            file.write_all(&vec![7u8; page_size()]).unwrap();
        }
        file.sync_all().unwrap();
        evict(&file, 2 * p, 3 * p).unwrap();
        assert_eq!(cached(&file, 0, 8 * p), Some(vec![0..2 * p, 5 * p..8 * p]));
        // A range that starts inside a page and ends inside another: clipped to it.
        assert_eq!(cached(&file, 100, 6 * p), Some(vec![100..2 * p, 5 * p..6 * p + 100]));
        assert_eq!(cached(&file, 3 * p, p), Some(vec![]));
        assert_eq!(cached(&file, 5, 0), Some(vec![]));
    }

    #[test]
    fn a_large_range_whose_sampled_pages_are_cached_counts_as_cached() {
        let mut file = tempfile::tempfile_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let p = page_size() as u64;
        let pages = 4 * super::SAMPLES as u64;
        for _ in 0..pages {
            file.write_all(&vec![7u8; page_size()]).unwrap();
        }
        file.sync_all().unwrap();
        // Page 5 lies between samples (every fourth page): not seen.
        evict(&file, 5 * p, p).unwrap();
        let whole: Vec<_> = std::iter::once(0..pages * p).collect();
        assert_eq!(cached(&file, 0, pages * p), Some(whole));
        // Page 8 is sampled: the whole range is asked, page by page.
        evict(&file, 8 * p, p).unwrap();
        assert_eq!(
            cached(&file, 0, pages * p),
            Some(vec![0..5 * p, 6 * p..8 * p, 9 * p..pages * p])
        );
    }
}
