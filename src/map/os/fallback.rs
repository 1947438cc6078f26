//! Any other system (Android, NetBSD, OpenBSD, illumos, ...): std only. Files are
//! extended rather than reserved, flushes are memmap2's, and every page-cache hint is a
//! no-op; results are the same, only speed (and `SIGBUS` on a full disk) differ.

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut, MmapRaw};

pub(crate) use super::absent::{
    cached, copy_file_range, evict, finish_write_back, make_durable, name_of, read_cached_at,
    read_through_fault, release_read_only, release_shared, start_write_back, will_need,
};
use crate::map::Advise;
pub(crate) use crate::map::map_again as remap;
use crate::options::Advice;

/// The page size where the system can be asked (`sysconf` on Unix), else 4 KiB, the
/// smallest page of any system memmap2 maps on.
pub(crate) fn page_size() -> usize {
    #[cfg(unix)]
    return rustix::param::page_size();
    #[cfg(not(unix))]
    return 4096;
}

/// Plain options.
pub(crate) fn open_options() -> OpenOptions {
    OpenOptions::new()
}

/// Extends the file; no blocks are reserved.
pub(crate) fn reserve(file: &File, len: u64, start: u64, end: u64) -> io::Result<()> {
    let _ = start;
    if end > len { file.set_len(end) } else { Ok(()) }
}

/// The folder's `fsync` where a folder opens as a file (Unix); else nothing.
pub(crate) fn sync_folder(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(folder)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Seeks and writes through a second handle of the file.
pub(crate) fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom, Write};
    let mut handle = file.try_clone()?;
    handle.seek(SeekFrom::Start(offset))?;
    handle.write_all(bytes)
}

/// Changes the length with the map in place.
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

/// No hints here.
super::absent::impl_no_advise!(Mmap, MmapMut, MmapRaw);

/// Not known: the engine plans as for a large machine.
pub(crate) fn available_memory() -> Option<u64> {
    None
}

/// A positional read where std has one (Unix), else an `Unsupported` error.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    return std::os::unix::fs::FileExt::read_at(file, buf, offset);
    #[cfg(not(unix))]
    {
        let _ = (file, buf, offset);
        Err(io::Error::new(io::ErrorKind::Unsupported, "no positional read here"))
    }
}

/// The old file's permissions, as std gives them.
pub(crate) fn take_access(new: &File, old: &std::fs::Metadata) -> io::Result<()> {
    new.set_permissions(old.permissions())
}

/// The device and inode on Unix; elsewhere (no identity std can read), the length and
/// the modification time.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FileId {
    #[cfg(unix)]
    dev_ino: (u64, u64),
    #[cfg(not(unix))]
    len_modified: (u64, Option<std::time::SystemTime>),
}

/// The identity `meta` (of the file at `path`) holds.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn file_id(path: &Path, meta: &std::fs::Metadata) -> io::Result<FileId> {
    let _ = path;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(FileId { dev_ino: (meta.dev(), meta.ino()) })
    }
    #[cfg(not(unix))]
    {
        Ok(FileId { len_modified: (meta.len(), meta.modified().ok()) })
    }
}

/// std's `File::unlock`.
pub(crate) fn unlock(file: &File) -> io::Result<()> {
    file.unlock()
}
