//! FreeBSD: `posix_fallocate` (refused by ZFS, where the file is only extended),
//! `posix_fadvise` for eviction, `mincore`, `memfd_create` (FreeBSD 13), and `sysctl` for
//! memory. No `sync_file_range` or `mremap`.

use std::fs::File;
use std::io;

use rustix::io::Errno;

pub(crate) use super::absent::{
    copy_file_range, finish_write_back, make_durable, name_of, read_cached_at, read_through_fault,
    start_write_back,
};
pub(crate) use super::unix::{
    FileId, cached, evict, file_id, memory_file, open_options, page_size, read_at,
    release_read_only, release_shared, set_len_under_map, sync_folder, take_access, unlock,
    will_need, write_all_at,
};
pub(crate) use crate::map::map_again as remap;

/// `posix_fallocate` of `start..end`. ZFS (copy-on-write: no block can be reserved ahead)
/// answers `EINVAL`, as do other file systems without it (`EOPNOTSUPP`): the file is only
/// extended, and a full disk can then still surface as `SIGBUS` on a write through a map.
pub(crate) fn reserve(file: &File, len: u64, start: u64, end: u64) -> io::Result<()> {
    super::unix::fallocate(file, len, start, end, &[Errno::INVAL, Errno::OPNOTSUPP, Errno::NOSYS])
}

/// Prefaulting is `MADV_WILLNEED` here (no `MADV_POPULATE_*`).
pub(crate) fn populate_advice(writable: bool) -> memmap2::Advice {
    let _ = writable;
    memmap2::Advice::WillNeed
}

/// The free and inactive pages (`vm.stats.vm.v_free_count`, `v_inactive_count`), which
/// the system hands out without swapping; `hw.physmem` where those are unknown.
pub(crate) fn available_memory() -> Option<u64> {
    let total = super::unix::sysctl_number(c"hw.physmem")?;
    let page = page_size() as u64;
    let free = super::unix::sysctl_number(c"vm.stats.vm.v_free_count");
    let inactive = super::unix::sysctl_number(c"vm.stats.vm.v_inactive_count");
    match (free, inactive) {
        (Some(free), Some(inactive)) => {
            Some(free.saturating_add(inactive).saturating_mul(page).min(total))
        }
        _ => Some(total),
    }
}
