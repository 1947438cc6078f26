//! Calls on files rather than maps: reserving blocks, durable syncs, positional writes,
//! write-back and cache eviction of ranges, the page size, and the memory file behind
//! anonymous shared maps. Each asks the platform file (`os`) and says here what it
//! promises everywhere.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::os;

/// Grows `file` from `from` to `to` bytes and reserves the new blocks on disk, so that
/// writing through a map of them cannot fail with `SIGBUS` when the disk fills up: the
/// full disk is reported here instead, as [`io::ErrorKind::StorageFull`].
///
/// Where the file system cannot reserve blocks, the file is only extended.
pub(crate) fn reserve(file: &File, from: u64, to: u64) -> io::Result<()> {
    reserve_range(file, from, from, to)
}

/// Reserves on disk every block of `file` in `start..end` that has none yet (the holes of
/// a sparse file, and bytes past its end, `len`), keeping every byte already there, so
/// that writing through a map of that range cannot fail with `SIGBUS` when the disk fills
/// up; the file grows to `end` if it was shorter. The range is widened to whole pages
/// (within the file), since the kernel writes a dirty page whole.
///
/// How, per platform: Linux `fallocate` (on an already allocated range this only walks
/// the file's extent map); FreeBSD `posix_fallocate`; macOS `F_PREALLOCATE` for the bytes
/// past the end (holes inside a sparse file stay holes); Windows extends the file, which
/// NTFS allocates whole. A full disk is [`io::ErrorKind::StorageFull`], and the file keeps
/// its length and bytes. Where the file system cannot reserve blocks (ZFS, tmpfs without
/// room accounting), the file is only extended.
pub(crate) fn reserve_range(file: &File, len: u64, start: u64, end: u64) -> io::Result<()> {
    let page = page_size() as u64;
    let start = start - start % page;
    let end = end.max(end.next_multiple_of(page).min(len));
    if end <= start {
        return Ok(());
    }
    os::reserve(file, len, start, end)
}

/// After a map's flush (which waits for the kernel to write its pages), whatever the
/// platform needs for them to reach stable storage: nothing on Linux, FreeBSD and Windows
/// (memmap2's flush is `msync(MS_SYNC)`, or `FlushViewOfFile` and `FlushFileBuffers`);
/// `F_FULLFSYNC` on macOS, whose `msync` and `fsync` leave the bytes in the drive's cache.
pub(crate) fn make_durable(file: &File) -> io::Result<()> {
    os::make_durable(file)
}

/// Waits until the folder holding `path` has its entries on disk (a rename into it, say).
/// Windows cannot open a folder to sync it: there the rename is as durable as NTFS's
/// journal makes it.
pub(crate) fn sync_folder_of(path: &Path) -> io::Result<()> {
    os::sync_folder(path)
}

/// Writes all of `bytes` into `file` at `offset`, without moving the file's cursor where
/// the platform can (`pwrite`; on Windows the cursor moves, which nothing here relies on).
pub(crate) fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    os::write_all_at(file, bytes, offset)
}

/// How [`copy_range`] copied: in the kernel (`copy_file_range`, a reflink on XFS and
/// btrfs), or by reading and writing, where the system refused the pair of files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Copied {
    /// The kernel copied every byte.
    InKernel,
    /// The kernel refused (across file systems, say): the bytes were read and written.
    ReadWrite,
}

/// Copies `len` bytes of `src` at `src_offset` into `dst` at `dst_offset`: in the kernel
/// where the system offers it for these two files (`copy_file_range` on Linux, which makes
/// a reflink on file systems that share blocks), else by positional reads and writes
/// through a buffer of at most [`COPY_BUFFER`] bytes. A source shorter than asked is an
/// [`io::ErrorKind::UnexpectedEof`].
pub(crate) fn copy_range(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: u64,
) -> io::Result<Copied> {
    let mut done = 0;
    while done < len {
        // At most 1 GiB per call: the kernel caps a call near 2 GiB anyway.
        let step = usize::try_from((len - done).min(1 << 30)).unwrap_or(1 << 30);
        match os::copy_file_range(src, src_offset + done, dst, dst_offset + done, step)? {
            Some(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Some(n) => done += n as u64,
            None if done == 0 => {
                copy_by_reading(src, src_offset, dst, dst_offset, len)?;
                return Ok(Copied::ReadWrite);
            }
            // Refused part way (a file system that copies only some ranges): read the rest.
            None => {
                copy_by_reading(src, src_offset + done, dst, dst_offset + done, len - done)?;
                return Ok(Copied::ReadWrite);
            }
        }
    }
    Ok(Copied::InKernel)
}

/// The largest buffer [`copy_range`] reads into when the kernel does not copy.
pub(crate) const COPY_BUFFER: usize = 4 << 20;

/// Fills `buf` from `file` at `offset` by positional reads; a file that ends first is an
/// [`io::ErrorKind::UnexpectedEof`].
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match read_at(file, &mut buf[filled..], offset + filled as u64) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Fills `buf` from `file` at `offset` if the page cache holds all of it, without waiting
/// for the disk (`preadv2(RWF_NOWAIT)` on Linux); `false` otherwise, and where the system
/// cannot read that way: the caller then asks for the pages and reads the usual way.
pub(crate) fn read_cached_at(file: &File, buf: &mut [u8], offset: u64) -> bool {
    os::read_cached_at(file, buf, offset)
}

/// [`copy_range`] by positional reads and writes.
fn copy_by_reading(
    src: &File,
    src_offset: u64,
    dst: &File,
    dst_offset: u64,
    len: u64,
) -> io::Result<()> {
    let mut buffer = vec![0u8; usize::try_from(len).unwrap_or(COPY_BUFFER).min(COPY_BUFFER)];
    let mut done = 0;
    while done < len {
        let step = usize::try_from(len - done).unwrap_or(COPY_BUFFER).min(buffer.len());
        let part = &mut buffer[..step];
        read_exact_at(src, part, src_offset + done)?;
        write_all_at(dst, part, dst_offset + done)?;
        done += step as u64;
    }
    Ok(())
}

/// Starts writing back the dirty pages of `file` in `offset..offset + len` without waiting
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that write-back runs behind a
/// computation instead of piling up for the final flush. Returns `Ok(false)` where the
/// call does not exist (not Linux); callers then flush the range instead.
pub(crate) fn start_write_back(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    os::start_write_back(file, offset, len)
}

/// Waits until the pages of `file` in `offset..offset + len` are written back (starting
/// the write-back of any still dirty), then asks the kernel to drop them from the page
/// cache (`POSIX_FADV_DONTNEED`), so that their memory is reused at once. Returns
/// `Ok(false)` where `sync_file_range` does not exist (not Linux): nothing is done.
pub(crate) fn finish_write_back(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    os::finish_write_back(file, offset, len)
}

/// Asks the kernel to start reading the pages of `file` in `offset..offset + len` into the
/// page cache, and returns without waiting (`POSIX_FADV_WILLNEED` on Linux and FreeBSD):
/// cheaper than `MADV_WILLNEED` on a map of them, which takes the map's lock first.
/// Returns `Ok(false)` where the call does not exist (macOS, Windows): nothing is done, and
/// the caller asks with `Advice::WillNeed` on its map instead.
pub(crate) fn will_need(file: &File, offset: u64, len: u64) -> io::Result<bool> {
    os::will_need(file, offset, len)
}

/// Asks the kernel to drop the pages of `file` in `offset..offset + len` from the page
/// cache (`POSIX_FADV_DONTNEED` on Linux and FreeBSD): clean, unmapped pages only, so
/// nothing is lost. A no-op where the call does not exist (macOS, Windows).
pub(crate) fn evict(file: &File, offset: u64, len: u64) -> io::Result<()> {
    os::evict(file, offset, len)
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
    os::read_through_fault(file, offset, len)
}

/// The byte ranges of `file` within `offset..offset + len` whose pages are in the page
/// cache now (`mincore` on a short-lived map of the range, on Linux, macOS and FreeBSD),
/// widened to whole pages and clipped to the range, in order. `None` where this cannot be
/// told (Windows; no room for another map; `mincore` failed): the engine then takes the
/// file as all cached.
pub(crate) fn cached(file: &File, offset: u64, len: u64) -> Option<Vec<Range<u64>>> {
    os::cached(file, offset, len)
}

/// The size of a memory page, the unit of mapping, flushing and releasing, read at run
/// time (4 KiB on x86-64, 16 KiB on Apple silicon, up to 64 KiB on ARM Linux).
pub(crate) fn page_size() -> usize {
    os::page_size()
}

/// Reads into `buf` from `file` at `offset`, returning how many bytes were read (0 at the
/// end of the file), by a positional read: whatever else reads the same open file (another
/// thread, a duplicate of the handle) reads where it asks too, which a shared cursor moved
/// by `seek` would not let it.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    os::read_at(file, buf, offset)
}

/// Gives `new`, a file about to replace the one `old` describes, that file's permissions,
/// and on Unix its owner and group where the process may set them (as root, say), as
/// writing the old file in place would keep them. A group that cannot be kept takes the
/// group's permission bits with it: the new file's group is not the old one's, and must
/// not read what only the old group could.
pub(crate) fn take_access(new: &File, old: &std::fs::Metadata) -> io::Result<()> {
    os::take_access(new, old)
}

/// What tells one file from another: two `FileId`s are equal if and only if they are of the
/// same file (where the platform can tell). On Unix the device and inode, from the
/// metadata; on Windows the volume serial number and file index (through the `same-file`
/// crate), which needs the file open: the `FileId` keeps it open (sharing reading, writing
/// and deleting) until dropped, and Windows may refuse to rename over a file while any
/// handle of it is open, so drop it before such a rename.
pub(crate) use os::FileId;

/// The identity of the file at `path`, whose metadata is `meta`.
pub(crate) fn file_id(path: &Path, meta: &std::fs::Metadata) -> io::Result<FileId> {
    os::file_id(path, meta)
}

/// Releases the advisory lock `file` holds, if any (none is no error).
pub(crate) fn unlock(file: &File) -> io::Result<()> {
    os::unlock(file)
}

/// A new, unnamed memory file (`memfd_create`, close-on-exec) of `len` zero bytes: the
/// shmem object behind `MAP_SHARED | MAP_ANONYMOUS`, which, unlike memmap2's private
/// anonymous maps, stays shared across `fork`. Linux and FreeBSD only.
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(crate) fn memory_file(len: u64) -> io::Result<File> {
    os::memory_file(len)
}

/// The path of an open file, for messages: where the system can tell (`/proc/self/fd` on
/// Linux, `F_GETPATH` on macOS, `GetFinalPathNameByHandleW` on Windows), else
/// `<open file>`.
pub(crate) fn name_of(file: &File) -> PathBuf {
    os::name_of(file).unwrap_or_else(|| PathBuf::from("<open file>"))
}

/// Options for opening the files ndmmap maps and replaces: on Windows they share
/// reading, writing and deleting, so that a file another handle holds open can still be
/// renamed over (as on Unix; Windows 10 1607 and later, whose rename std asks for POSIX
/// semantics: Wine and older Windows refuse while any handle is open).
pub(crate) fn open_options() -> OpenOptions {
    os::open_options()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel copies between two files of one file system on Linux; across file
    /// systems (a disk and a tmpfs) it refuses, and the bytes are read and written: both
    /// give the same file.
    #[test]
    #[cfg_attr(miri, ignore = "miri cannot open files")]
    fn copy_range_in_kernel_and_across_file_systems() {
        let disk = tempfile::tempdir().expect("temporary folder");
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let src = disk.path().join("src");
        std::fs::write(&src, &bytes).expect("write");
        let source = File::open(&src).expect("open");
        let copy = |folder: &Path| -> (Copied, Vec<u8>) {
            let path = folder.join("dst");
            let dst = File::create(&path).expect("create");
            write_all_at(&dst, &[9; 10], 0).expect("write");
            let copied = copy_range(&source, 1000, &dst, 10, 90_000).expect("copy");
            (copied, std::fs::read(&path).expect("read"))
        };
        let mut want = vec![9; 10];
        want.extend_from_slice(&bytes[1000..91_000]);
        let (copied, got) = copy(disk.path());
        assert_eq!(got, want);
        if cfg!(target_os = "linux") {
            assert_eq!(copied, Copied::InKernel);
        }
        let shm = Path::new("/dev/shm");
        let device = |p: &Path| std::fs::metadata(p).ok().map(|m| same_device_key(&m));
        if cfg!(target_os = "linux") && shm.is_dir() && device(shm) != device(disk.path()) {
            let other = tempfile::tempdir_in(shm).expect("folder in /dev/shm");
            let (copied, got) = copy(other.path());
            assert_eq!(got, want);
            assert_eq!(copied, Copied::ReadWrite);
        }
        let short =
            copy_range(&source, 99_000, &File::create(disk.path().join("s")).unwrap(), 0, 2000);
        assert_eq!(short.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    /// What tells two file systems apart: the device number where there is one.
    fn same_device_key(meta: &std::fs::Metadata) -> u64 {
        #[cfg(unix)]
        {
            std::os::unix::fs::MetadataExt::dev(meta)
        }
        #[cfg(not(unix))]
        {
            let _ = meta;
            0
        }
    }
}
