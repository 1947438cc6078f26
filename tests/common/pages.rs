//! What the kernel knows about the pages of a map in this process: whether each is mapped
//! (resident) and whether it is dirty (changed in the page cache and not yet written
//! back). A flush that does its job leaves the pages it wrote clean; reading the file back
//! cannot tell, since `read` goes through the same page cache as the map.
//!
//! Two probes, the precise one first:
//!
//! - per page: the page frame from `/proc/self/pagemap`, then its flags from
//!   `/proc/kpageflags` (bit 4 is `DIRTY`); both need root (`CAP_SYS_ADMIN`);
//! - per mapping: the `Shared_Dirty` and `Private_Dirty` of the mapping in
//!   `/proc/self/smaps`, readable by anyone, which counts pages but does not name them.
//!
//! Neither works on tmpfs, whose pages are dirty for ever (there is no disk to write them
//! to): use [`super::disk_tempdir`]. Neither exists off Linux: there the probes see
//! nothing, and a test that needs them gives up through the skip policy.

use std::ops::Range;

use ndarray::{ArrayRef, Dimension};

pub(crate) use super::page_size;

/// `buf.len()` bytes of `file` at `offset`.
fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

/// The pagemap entries of the pages of `range`, or `None` if pagemap cannot be read.
fn pagemap(range: &Range<usize>) -> Option<Vec<u64>> {
    let page = page_size();
    let first = range.start / page;
    let count = range.end.div_ceil(page) - first;
    let file = std::fs::File::open("/proc/self/pagemap").ok()?;
    let mut raw = vec![0u8; count * 8];
    read_exact_at(&file, &mut raw, (first * 8) as u64).ok()?;
    Some(raw.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
}

const PRESENT: u64 = 1 << 63;
const PFN_MASK: u64 = (1 << 55) - 1;
const KPF_DIRTY: u64 = 1 << 4;

/// Whether each page of `range` (addresses in this process) is mapped here.
pub(crate) fn resident_pages(range: Range<usize>) -> Vec<bool> {
    let entries = pagemap(&range).expect("/proc/self/pagemap is readable on Linux");
    entries.iter().map(|e| e & PRESENT != 0).collect()
}

/// Whether each page of `range` is dirty; a page not mapped here counts as clean. `None`
/// where this process may not see page frames (not root).
pub(crate) fn dirty_pages(range: Range<usize>) -> Option<Vec<bool>> {
    // The page frames are hidden (reported as 0) without CAP_SYS_ADMIN; a page of this
    // stack, which is surely mapped, tells before any page of `range` is mapped.
    let here = 0u8;
    let own = std::ptr::from_ref(&here) as usize;
    if pagemap(&(own..own + 1))?.first().is_none_or(|e| e & PFN_MASK == 0) {
        return None;
    }
    let entries = pagemap(&range)?;
    let flags = std::fs::File::open("/proc/kpageflags").ok()?;
    let mut dirty = Vec::with_capacity(entries.len());
    for entry in entries {
        if entry & PRESENT == 0 {
            dirty.push(false);
            continue;
        }
        let pfn = entry & PFN_MASK;
        if pfn == 0 {
            return None; // hidden: no CAP_SYS_ADMIN
        }
        let mut raw = [0u8; 8];
        read_exact_at(&flags, &mut raw, pfn * 8).ok()?;
        dirty.push(u64::from_le_bytes(raw) & KPF_DIRTY != 0);
    }
    Some(dirty)
}

/// Kibibytes of dirty pages in this process's mapping that contains `addr`, from
/// `/proc/self/smaps`; `None` if that file cannot be read or no mapping contains `addr`.
pub(crate) fn mapping_dirty_kib(addr: usize) -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    let mut found = false;
    let mut dirty = 0;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if let Some(field) = first.strip_suffix(':') {
            if inside && (field == "Shared_Dirty" || field == "Private_Dirty") {
                dirty += line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
            }
        } else if let Some((lo, hi)) = first.split_once('-') {
            let lo = usize::from_str_radix(lo, 16).ok()?;
            let hi = usize::from_str_radix(hi, 16).ok()?;
            inside = (lo..hi).contains(&addr);
            found |= inside;
        }
    }
    found.then_some(dirty)
}

/// The pages (indices from the page that holds `base`) that hold `view`'s elements.
pub(crate) fn view_pages<A, D: Dimension>(base: usize, view: &ArrayRef<A, D>) -> Vec<usize> {
    let (page, size) = (page_size(), size_of::<A>());
    let mut pages: Vec<usize> = view
        .iter()
        .flat_map(|x| {
            let addr = std::ptr::from_ref(x) as usize;
            (addr / page - base / page)..=((addr + size - 1) / page - base / page)
        })
        .collect();
    pages.sort_unstable();
    pages.dedup();
    pages
}

/// How a [`DirtyModel`] sees the kernel's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Probe {
    /// Page by page (root).
    Frames,
    /// A count for the whole mapping (the model must span the whole mapping).
    Smaps,
}

/// Which pages of a map should be dirty after the test's writes and flushes, checked
/// against the kernel's own state.
///
/// A page the model says is clean but the kernel says is dirty is a flush that did not
/// write it: [`check`](Self::check) panics. The other way round (the model says dirty,
/// the kernel says clean) is the kernel writing back on its own, which it may do at any
/// moment (an ext4 journal commit, memory pressure): the check is inconclusive and returns
/// `Err`, and the caller runs its scenario again (see [`retry`]).
#[derive(Debug)]
pub(crate) struct DirtyModel {
    start: usize,
    dirty: Vec<bool>,
    probe: Probe,
}

impl DirtyModel {
    /// A model of the map at `range` (addresses), all pages clean. `None` (through the
    /// skip policy) if no probe works here.
    #[track_caller]
    pub(crate) fn new(range: Range<usize>) -> Option<DirtyModel> {
        let page = page_size();
        let start = range.start / page * page;
        let pages = range.end.div_ceil(page) - range.start / page;
        let probe = if dirty_pages(range.clone()).is_some() {
            Probe::Frames
        } else if mapping_dirty_kib(range.start).is_some() {
            Probe::Smaps
        } else {
            super::skip("neither /proc/kpageflags (root) nor /proc/self/smaps is readable");
            return None;
        };
        Some(DirtyModel { start, dirty: vec![false; pages], probe })
    }

    /// Records that the test wrote the bytes at `range` (addresses).
    pub(crate) fn wrote(&mut self, range: Range<usize>) {
        self.set(&range, true);
    }

    /// Records that the test wrote every element of `view`.
    pub(crate) fn wrote_view<A, D: Dimension>(&mut self, view: &ArrayRef<A, D>) {
        for p in view_pages(self.start, view) {
            self.dirty[p] = true;
        }
    }

    /// Records a flush of exactly the pages of `range` (addresses).
    pub(crate) fn flushed(&mut self, range: Range<usize>) {
        self.set(&range, false);
    }

    /// Records a flush of exactly the pages that hold `view`'s elements.
    pub(crate) fn flushed_view<A, D: Dimension>(&mut self, view: &ArrayRef<A, D>) {
        for p in view_pages(self.start, view) {
            self.dirty[p] = false;
        }
    }

    fn set(&mut self, range: &Range<usize>, dirty: bool) {
        if range.is_empty() {
            return;
        }
        let page = page_size();
        let (first, last) = (range.start / page * page, (range.end - 1) / page * page);
        for p in (first - self.start) / page..=(last - self.start) / page {
            self.dirty[p] = dirty;
        }
    }

    /// The number of pages the model says are dirty.
    pub(crate) fn expected_dirty(&self) -> usize {
        self.dirty.iter().filter(|&&d| d).count()
    }

    /// Compares the model with the kernel after `step`. Panics if a page is dirty that
    /// should be clean (a flush missed it); `Err` if the kernel wrote back a page itself.
    #[track_caller]
    pub(crate) fn check(&self, step: &str) -> Result<(), String> {
        let page = page_size();
        match self.probe {
            Probe::Frames => {
                let range = self.start..self.start + self.dirty.len() * page;
                let seen = dirty_pages(range).expect("the probe worked a moment ago");
                let should_be_clean: Vec<usize> =
                    (0..seen.len()).filter(|&p| seen[p] && !self.dirty[p]).collect();
                assert!(
                    should_be_clean.is_empty(),
                    "{step}: pages {should_be_clean:?} are still dirty but were flushed \
                     (dirty now: {:?})",
                    (0..seen.len()).filter(|&p| seen[p]).collect::<Vec<_>>()
                );
                let cleaned: Vec<usize> =
                    (0..seen.len()).filter(|&p| !seen[p] && self.dirty[p]).collect();
                if cleaned.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{step}: the kernel wrote back pages {cleaned:?} itself"))
                }
            }
            Probe::Smaps => {
                let kib = (page / 1024) as u64;
                let seen = mapping_dirty_kib(self.start).expect("smaps was readable");
                let expected = self.expected_dirty() as u64 * kib;
                assert!(
                    seen <= expected,
                    "{step}: {seen} KiB of the map are dirty, expected {expected} KiB"
                );
                if seen < expected {
                    Err(format!("{step}: the kernel wrote back {} KiB itself", expected - seen))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// Runs `attempt` until it is conclusive (returns `Ok`), at most five times: the kernel
/// writing pages back on its own makes a run inconclusive, never wrong. Panics if no
/// attempt was conclusive, since then nothing was observed.
#[track_caller]
pub(crate) fn retry(what: &str, mut attempt: impl FnMut() -> Result<(), String>) {
    for n in 1..=5 {
        match attempt() {
            Ok(()) => return,
            Err(why) => eprintln!("{what}, attempt {n}: {why}; again"),
        }
    }
    panic!("{what}: the kernel wrote pages back on its own in every attempt; nothing observed");
}

/// The number of dirty pages of the file at `path` in the page cache, seen through a
/// read-only map of it made here (with memmap2, not ndmmap: the observer is independent
/// of the code under test), whose every page is read first so that it is mapped. `None`
/// (through the skip policy) where no probe works, or on tmpfs.
#[track_caller]
pub(crate) fn file_dirty_pages(path: &std::path::Path) -> Option<usize> {
    if super::memory_backed(path.parent().unwrap_or(path)) {
        super::skip(format!(
            "{} is in memory (tmpfs), whose pages are never clean",
            path.display()
        ));
        return None;
    }
    let file = std::fs::File::open(path).expect("open the file to observe");
    if file.metadata().expect("stat").len() == 0 {
        return Some(0);
    }
    // SAFETY: the tests call this between their own writes: nothing changes the file or
    // truncates it while this read-only map lives.
    let map = unsafe { memmap2::Mmap::map(&file) }.expect("map the file to observe");
    let page = page_size();
    let touched: u64 = map.iter().step_by(page).map(|&b| u64::from(b)).sum();
    std::hint::black_box(touched);
    let range = map.as_ptr() as usize..map.as_ptr() as usize + map.len();
    if let Some(dirty) = dirty_pages(range.clone()) {
        return Some(dirty.iter().filter(|&&d| d).count());
    }
    let Some(kib) = mapping_dirty_kib(range.start) else {
        super::skip("neither /proc/kpageflags (root) nor /proc/self/smaps is readable");
        return None;
    };
    Some(usize::try_from(kib).expect("small") * 1024 / page)
}

/// Checks that `flush` writes the file at `path` back to disk: after `write`, some page of
/// the file is dirty (if the kernel wrote them all back first, `write` and the check run
/// again, up to five times), and after `flush` none is. Both get `state` (say, the guard).
/// Returns `false` if skipped.
#[track_caller]
pub(crate) fn assert_flush_writes_back<T>(
    path: &std::path::Path,
    what: &str,
    state: &mut T,
    mut write: impl FnMut(&mut T),
    flush: impl FnOnce(&mut T),
) -> bool {
    for attempt in 1..=5 {
        write(state);
        let Some(dirty) = file_dirty_pages(path) else { return false };
        if dirty == 0 {
            eprintln!("{what}, attempt {attempt}: the kernel wrote the pages back itself; again");
            continue;
        }
        flush(state);
        let after = file_dirty_pages(path).expect("the probe worked a moment ago");
        assert_eq!(after, 0, "{what}: {after} of {dirty} dirty pages are still dirty after it");
        return true;
    }
    panic!("{what}: the kernel wrote the pages back on its own in every attempt; nothing observed");
}
