//! The platform files: every call that differs between operating systems, behind one
//! interface, one file per platform family (as memmap2's `unix.rs`/`windows.rs`/`stub.rs`).
//!
//! | file | platforms |
//! | --- | --- |
//! | `linux.rs` | Linux |
//! | `apple.rs` | macOS, iOS and the other Apple systems |
//! | `bsd.rs` | FreeBSD |
//! | `windows.rs` | Windows |
//! | `fallback.rs` | any other system (Android, NetBSD, OpenBSD, illumos, ...): std only, every hint a no-op |
//!
//! `unix.rs` holds what the Unix families share (POSIX calls), and `absent.rs` what a
//! platform does where a call does not exist; each platform file takes what it needs from
//! them by name. Every platform file offers the same items, each documented once here:
//!
//! - `page_size()`: the size of a memory page, read at run time.
//! - `reserve(file, len, start, end)`: gives `file` (now `len` bytes) blocks on disk for
//!   `start..end` (page-aligned), growing it to `end` if shorter; a full disk is
//!   `StorageFull`, and leaves the file as it was.
//! - `make_durable(file)`: after the map's flush (`msync(MS_SYNC)`, or on Windows
//!   `FlushViewOfFile` and `FlushFileBuffers`), whatever else the platform needs for the
//!   bytes to reach stable storage (macOS: `F_FULLFSYNC`).
//! - `sync_data(file)`, `sync_all(file)`: the file's data (and metadata) on stable storage.
//! - `sync_folder(path)`: the entries of the folder holding `path` on stable storage.
//! - `write_all_at(file, bytes, offset)`: a positional write of all of `bytes`.
//! - `copy_file_range(src, src_offset, dst, dst_offset, len)`: an in-kernel copy between
//!   files (Linux; a reflink on XFS and btrfs); `None` where the system refuses it.
//! - `start_write_back`, `finish_write_back`, `evict`, `read_through_fault`, `cached`,
//!   `will_need`: the engine's page-cache hooks on file ranges (see `map::file`).
//! - `remap(map, file, offset, len)`: resizes a read-write shared map.
//! - `set_len_under_map(map, file, offset, len, keep)`: changes the length of a file that
//!   `map` maps, unmapping it first where the platform refuses otherwise.
//! - `release_read_only`, `release_shared`: drop a range of a map from the resident set.
//! - `impl Advise` for memmap2's maps: `madvise` or its nearest equivalent.
//! - `memory_file(len)` (Linux, FreeBSD): an unnamed memory file for anonymous
//!   maps shared across `fork`.
//! - `name_of(file)`: the path of an open file, where the system can tell.
//! - `open_options()`: `OpenOptions` whose files can be renamed over while open.
//! - `read_at(file, buf, offset)`: a positional read.
//! - `read_cached_at(file, buf, offset)`: a positional read of all of `buf` that fails
//!   rather than waits for the disk (Linux's `RWF_NOWAIT`); `false` where that cannot be
//!   done, and elsewhere.
//! - `take_access(new, old)`: gives a file that replaces another the old one's permissions
//!   (and owner, where the platform has one and the process may set it).
//! - `FileId`, `file_id(path, meta)`: what tells one file from another (see
//!   `map::file::FileId`).
//! - `unlock(file)`: releases the advisory lock `file` holds, if any; none is no error.
//! - `available_memory()`: the memory this process may use, where the system can tell.

#[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd"))]
mod unix;

#[cfg(not(target_os = "linux"))]
mod absent;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(target_vendor = "apple")]
mod apple;
#[cfg(target_vendor = "apple")]
pub(crate) use apple::*;

#[cfg(target_os = "freebsd")]
mod bsd;
#[cfg(target_os = "freebsd")]
pub(crate) use bsd::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;

#[cfg(not(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd", windows)))]
mod fallback;
#[cfg(not(any(
    target_os = "linux",
    target_vendor = "apple",
    target_os = "freebsd",
    windows
)))]
pub(crate) use fallback::*;
