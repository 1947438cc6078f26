//! Windows: `PrefetchVirtualMemory` for read-ahead, `GlobalMemoryStatusEx` and job limits
//! for memory, share modes that let an open file be renamed over, and Windows' rule that
//! a mapped file cannot change its length. Durability needs nothing more: memmap2's flush
//! is `FlushViewOfFile` then `FlushFileBuffers`, and `File::sync_all`/`sync_data` are
//! `FlushFileBuffers`. No `posix_fadvise`, `sync_file_range`, `mincore`, `madvise` or
//! `mremap`: those hooks do nothing here.
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::windows::ffi::OsStringExt;
use std::os::windows::fs::{FileExt, OpenOptionsExt};
use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut, MmapRaw};
use windows_sys::Win32::Foundation::{ERROR_LOCK_VIOLATION, ERROR_NOT_LOCKED};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_BACKUP_SEMANTICS, FILE_NAME_NORMALIZED, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, GetFinalPathNameByHandleW, UnlockFile, VOLUME_NAME_DOS,
};
use windows_sys::Win32::System::JobObjects::{
    JOB_OBJECT_LIMIT_JOB_MEMORY, JOB_OBJECT_LIMIT_PROCESS_MEMORY,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
    QueryInformationJobObject,
};
use windows_sys::Win32::System::Memory::{PrefetchVirtualMemory, WIN32_MEMORY_RANGE_ENTRY};
use windows_sys::Win32::System::SystemInformation::{
    GetSystemInfo, GlobalMemoryStatusEx, MEMORYSTATUSEX, SYSTEM_INFO,
};
use windows_sys::Win32::System::Threading::GetCurrentProcess;

pub(crate) use super::absent::{
    cached, copy_file_range, evict, finish_write_back, make_durable, read_cached_at,
    read_through_fault, release_read_only, release_shared, start_write_back, will_need,
};
pub(crate) use crate::map::map_again as remap;
use crate::map::{Advise, Region};
use crate::options::Advice;

/// `dwPageSize` of `GetSystemInfo` (4 KiB on x86-64 and ARM64). Map offsets follow the
/// allocation granularity (64 KiB), which memmap2 handles.
pub(crate) fn page_size() -> usize {
    let mut info = SYSTEM_INFO::default();
    // SAFETY: `GetSystemInfo` writes the `SYSTEM_INFO` it is given, which lives for the call.
    unsafe { GetSystemInfo(&raw mut info) };
    usize::try_from(info.dwPageSize).unwrap_or(4096).max(1)
}

/// Files open with every share mode, as Unix files are: another handle (a lock holder, a
/// reader) does not stop a rename over the file or its removal.
pub(crate) fn open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE);
    options
}

/// Extends `file` to `end`: NTFS allocates (and zeroes, lazily, through the valid data
/// length) every cluster of a file that is not sparse, so a full disk is reported here
/// (`ERROR_DISK_FULL`, [`io::ErrorKind::StorageFull`]), never later through the map.
pub(crate) fn reserve(file: &File, len: u64, start: u64, end: u64) -> io::Result<()> {
    let _ = start;
    if end > len { file.set_len(end) } else { Ok(()) }
}

/// A folder cannot be opened as a file to sync it: a rename is as durable as NTFS's
/// journal makes it, which commits it within seconds.
#[allow(clippy::unnecessary_wraps)]
pub(crate) fn sync_folder(path: &Path) -> io::Result<()> {
    let _ = path;
    Ok(())
}

/// `WriteFile` at an offset (`seek_write`), repeated until all of `bytes` is written.
pub(crate) fn write_all_at(file: &File, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        match file.seek_write(bytes, offset) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                bytes = &bytes[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Windows refuses to change the length of a file while any map of it exists
/// (`ERROR_USER_MAPPED_FILE`): `map` is unmapped first, then mapped again with `keep`
/// bytes (if any). If another map of the file lives (another guard, another process),
/// the refusal stands and is returned; the file keeps its length, and `map` is mapped
/// again all the same.
///
/// # Safety
///
/// As `map::set_len_under_map`: nothing borrows `map`, and `offset + keep` does not pass
/// `len`.
pub(crate) unsafe fn set_len_under_map(
    map: &mut MmapMut,
    file: &File,
    offset: u64,
    len: u64,
    keep: Option<usize>,
) -> io::Result<()> {
    // An anonymous map of no bytes (one page underneath) stands in while the file's is gone.
    *map = MmapMut::map_anon(0)?;
    let cut = file.set_len(len);
    if let Some(bytes) = keep {
        let region = Region { offset, len: bytes, populate: false };
        // SAFETY: the caller upholds `map_read_write`'s contract for the file; the file
        // holds `offset + bytes` bytes (the new length after a cut, which the caller keeps
        // within, or the old, longer one after a refusal), and nothing borrows `map`.
        *map = unsafe { crate::map::map_read_write(file, region) }?;
    }
    cut
}

/// `PrefetchVirtualMemory` of `len` bytes from `address`: reads them into memory with
/// large, concurrent requests; the process's accesses then fault without waiting.
fn prefetch(address: *const u8, len: usize) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let range =
        WIN32_MEMORY_RANGE_ENTRY { VirtualAddress: address.cast_mut().cast(), NumberOfBytes: len };
    // SAFETY: `GetCurrentProcess` only returns the pseudo-handle of this process.
    let process = unsafe { GetCurrentProcess() };
    // SAFETY: `PrefetchVirtualMemory` reads the one range entry it is given, which lives
    // for the call, and only reads the pages of that range (inside a live map, the
    // caller's duty) into memory: no byte changes.
    let ok = unsafe { PrefetchVirtualMemory(process, 1, &raw const range, 0) };
    if ok == 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Prefetches `bytes` of the map at `base` (of `len` bytes) for [`Advice::WillNeed`]; other
/// advice has no Windows equivalent for a map.
fn advise_at(base: *const u8, len: usize, advice: Advice, bytes: Range<usize>) -> io::Result<()> {
    if advice != Advice::WillNeed || bytes.end > len || bytes.is_empty() {
        return Ok(());
    }
    prefetch(base.wrapping_add(bytes.start), bytes.len())
}

/// Read-only maps (and the engine's raw ones) ask Windows to read ahead
/// (`PrefetchVirtualMemory`) for `WillNeed` and for a populate.
macro_rules! impl_prefetch_advise {
    ($($map:ty),*) => {$(
        impl Advise for $map {
            fn advise_all(&self, advice: Advice) -> io::Result<()> {
                advise_at(self.as_ptr(), self.len(), advice, 0..self.len())
            }

            fn advise_range_of(&self, advice: Advice, bytes: Range<usize>) -> io::Result<()> {
                advise_at(self.as_ptr(), self.len(), advice, bytes)
            }

            fn populate_range_of(&self, writable: bool, bytes: Range<usize>) -> io::Result<()> {
                let _ = writable;
                advise_at(self.as_ptr(), self.len(), Advice::WillNeed, bytes)
            }
        }
    )*};
}

impl_prefetch_advise!(Mmap, MmapRaw);

// A writable map's address is reachable only through `Deref`, which must not happen
// while a guard's view borrows its bytes: no hints for writable maps on Windows.
super::absent::impl_no_advise!(MmapMut);

/// `ullAvailPhys` of `GlobalMemoryStatusEx`, or less under a job object's memory limit.
pub(crate) fn available_memory() -> Option<u64> {
    let mut status =
        MEMORYSTATUSEX { dwLength: byte_size::<MEMORYSTATUSEX>(), ..Default::default() };
    // SAFETY: `GlobalMemoryStatusEx` writes the `MEMORYSTATUSEX` it is given, whose
    // `dwLength` says its size, and which lives for the call.
    if unsafe { GlobalMemoryStatusEx(&raw mut status) } == 0 {
        return None;
    }
    Some(job_limit().map_or(status.ullAvailPhys, |limit| limit.min(status.ullAvailPhys)))
}

/// The memory limit of the job object this process runs in (job-wide or per process),
/// if any.
fn job_limit() -> Option<u64> {
    let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
    let size = byte_size::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>();
    // SAFETY: a null job handle asks about the job of the calling process; the call
    // writes at most `size` bytes into `info`, which lives for the call.
    let ok = unsafe {
        QueryInformationJobObject(
            std::ptr::null_mut(),
            JobObjectExtendedLimitInformation,
            (&raw mut info).cast(),
            size,
            std::ptr::null_mut(),
        )
    };
    let flags = info.BasicLimitInformation.LimitFlags;
    let limits = [
        (flags & JOB_OBJECT_LIMIT_JOB_MEMORY != 0).then_some(info.JobMemoryLimit),
        (flags & JOB_OBJECT_LIMIT_PROCESS_MEMORY != 0).then_some(info.ProcessMemoryLimit),
    ];
    let limit = limits.into_iter().flatten().min()?;
    (ok != 0).then_some(limit as u64)
}

/// The size of a Windows structure, as the `u32` the calls take (they are all small).
fn byte_size<T>() -> u32 {
    u32::try_from(size_of::<T>()).unwrap_or(u32::MAX)
}

/// The path of an open file (`GetFinalPathNameByHandleW`, as `std::fs::canonicalize`
/// gives it: `\\?\C:\...`), where the system can tell.
pub(crate) fn name_of(file: &File) -> Option<PathBuf> {
    let mut buf = vec![0u16; 512];
    loop {
        let capacity = u32::try_from(buf.len()).ok()?;
        // SAFETY: the call writes at most `capacity` UTF-16 units into `buf`, which lives
        // for the call, and reads the raw handle of `file`, which is open.
        let n = unsafe {
            GetFinalPathNameByHandleW(
                file.as_raw_handle(),
                buf.as_mut_ptr(),
                capacity,
                FILE_NAME_NORMALIZED | VOLUME_NAME_DOS,
            )
        };
        let n = usize::try_from(n).ok()?;
        if n == 0 {
            return None;
        }
        // Too small: `n` is the size needed, with the terminating zero.
        if n >= buf.len() {
            buf.resize(n, 0);
            continue;
        }
        return Some(PathBuf::from(OsString::from_wide(&buf[..n])));
    }
}

/// A positional read (`ReadFile` at an offset).
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// The old file's permissions (its read-only flag: Windows' access lists are inherited
/// from the folder, as the old file's were).
pub(crate) fn take_access(new: &File, old: &std::fs::Metadata) -> io::Result<()> {
    new.set_permissions(old.permissions())
}

/// The volume serial number and file index of a file (`GetFileInformationByHandle`,
/// through the `same-file` crate), which std does not offer on stable; it keeps the file
/// open (with every share mode) while it lives.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FileId(same_file::Handle);

/// Opens the file at `path` without asking for any access (as `std::fs::metadata` does, so
/// a file this process may not read is identified too; a folder as well) and reads its
/// identity.
pub(crate) fn file_id(path: &Path, meta: &std::fs::Metadata) -> io::Result<FileId> {
    let _ = meta;
    let file = open_options().access_mode(0).custom_flags(FILE_FLAG_BACKUP_SEMANTICS).open(path)?;
    same_file::Handle::from_file(file).map(FileId)
}

/// `UnlockFile` of the whole file, twice: a handle may hold a shared and an exclusive lock
/// at once, and each unlock releases one. A range that holds no lock is no error, whether
/// the system says so with `ERROR_NOT_LOCKED` (Windows) or `ERROR_LOCK_VIOLATION` (Wine).
/// std's `File::unlock` fails when the handle holds no lock at all.
pub(crate) fn unlock(file: &File) -> io::Result<()> {
    for _ in 0..2 {
        // SAFETY: `UnlockFile` takes the raw handle of `file`, which is open for the call,
        // and only numbers besides.
        let ok = unsafe { UnlockFile(file.as_raw_handle(), 0, 0, u32::MAX, u32::MAX) };
        if ok == 0 {
            let error = io::Error::last_os_error();
            let not_locked = [ERROR_NOT_LOCKED, ERROR_LOCK_VIOLATION]
                .iter()
                .any(|&code| error.raw_os_error() == i32::try_from(code).ok());
            return if not_locked { Ok(()) } else { Err(error) };
        }
    }
    Ok(())
}
