//! Page hooks: what the out-of-core engine asks of a guard's pages while it walks the
//! array (advice, release from the resident set, write-back and eviction of finished
//! ranges, a final flush). Ranges are given as addresses, so that the engine never sees a
//! map; each rule about which pages may be touched how lives here, once.

use std::fs::File;
use std::ops::Range;
use std::path::Path;

use bytemuck::Pod;
use ndarray::{ArrayViewMut, Dimension};

use super::{Backing, MmapArray, MmapArrayMut};
use crate::error::{Error, Result};
use crate::layout::ranges::{near, without};
use crate::map::{self, Mmap, MmapMut};
use crate::options::{Advice, Mode};

/// Kernel calls on the pages of one guard's map, by address.
///
/// Made by [`MmapArray::pages`], [`MmapArrayMut::pages`] and
/// [`MmapArrayMut::view_mut_and_pages`]. It hands the map only to the kernel, never
/// dereferences it, so it may live beside a view that borrows the bytes uniquely.
#[derive(Clone, Debug)]
pub(crate) struct Pages<'a> {
    map: MapRef<'a>,
    backing: &'a Backing,
    /// The addresses of the map's bytes; the array's elements all lie inside.
    addresses: Range<usize>,
}

#[derive(Clone, Copy, Debug)]
enum MapRef<'a> {
    ReadOnly(&'a Mmap),
    Writable(&'a MmapMut),
}

impl<A: 'static, D: Dimension> MmapArray<A, D> {
    /// Hooks on this guard's pages.
    pub(crate) fn pages(&self) -> Pages<'_> {
        let base = self.map.as_ptr() as usize;
        Pages {
            map: MapRef::ReadOnly(&self.map),
            backing: &self.backing,
            addresses: base..base + self.map.len(),
        }
    }
}

impl<A: 'static, D: Dimension> MmapArrayMut<A, D> {
    /// Hooks on this guard's pages.
    pub(crate) fn pages(&self) -> Pages<'_> {
        Pages {
            map: MapRef::Writable(&self.map),
            backing: &self.backing,
            addresses: self.base..self.base + self.len,
        }
    }
}

impl<A: Pod, D: Dimension> MmapArrayMut<A, D> {
    /// Lends the whole array mutably together with hooks on its pages, so that the engine
    /// can write through the view while the kernel writes finished ranges back. The view
    /// holds the only reference to the bytes; the hooks only pass the map's address to the
    /// kernel (as the guard's own flushes do), which creates no reference.
    pub(crate) fn view_mut_and_pages(&mut self) -> (ArrayViewMut<'_, A, D>, Pages<'_>) {
        let addresses = self.base..self.base + self.len;
        let pages = Pages { map: MapRef::Writable(&self.map), backing: &self.backing, addresses };
        (self.view.view_mut(), pages)
    }
}

impl<'a> Pages<'a> {
    /// The open file behind the map, the offset in it of the byte at address `at`
    /// (inside the map) and the file's path, when the file holds what the map shows: a shared map of a file
    /// (not a copy-on-write one, whose changed pages exist only in memory, nor an
    /// anonymous one). For copies that read the file rather than the map.
    pub(crate) fn file_at(&self, at: usize) -> Option<(&'a File, u64, &'a Path)> {
        let backing: &'a Backing = self.backing;
        let file = backing.file.as_ref()?;
        let shared = matches!(backing.mode, Mode::ReadOnly | Mode::ReadWrite);
        let inside = self.addresses.contains(&at) || at == self.addresses.end;
        if !(shared && inside) {
            return None;
        }
        let offset = backing.offset + (at - self.addresses.start) as u64;
        Some((file, offset, backing.path.as_path()))
    }
}

impl Pages<'_> {
    /// The addresses of the map's bytes.
    pub(crate) fn addresses(&self) -> Range<usize> {
        self.addresses.clone()
    }

    /// The part of `span` (addresses) inside the map, as offsets into it; `None` if none.
    fn offsets(&self, span: &Range<usize>) -> Option<Range<usize>> {
        let map = &self.addresses;
        let (start, end) = (span.start.max(map.start), span.end.min(map.end));
        (start < end).then(|| start - map.start..end - map.start)
    }

    fn io(&self, action: &'static str, bytes: u64) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |e| Error::io(&self.backing.path, action, bytes, e)
    }

    /// Gives the kernel `advice` for the pages of `span`.
    pub(crate) fn advise(&self, advice: Advice, span: &Range<usize>) -> Result<()> {
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        match self.map {
            MapRef::ReadOnly(map) => map::advise_range(map, advice, bytes),
            MapRef::Writable(map) => map::advise_range(map, advice, bytes),
        }
        .map_err(self.io("advise", 0))
    }

    /// Reads the pages of `span` into the page cache now, as large folios where the file
    /// system and kernel make them, without mapping them into this map: through a
    /// short-lived map of the file's range of its own
    /// ([`map::file::read_through_fault`]; the resident set grows by that range while it
    /// is read). The computation's own faults then find them. Where that cannot be done
    /// (an anonymous map has no file; not Linux), the kernel is asked with
    /// `MADV_WILLNEED`. A range past the end of a file that shrank is
    /// [`Error::TooShort`].
    pub(crate) fn read_ahead(&self, span: &Range<usize>) -> Result<()> {
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        if let Some(file) = &self.backing.file {
            let offset = self.backing.offset + bytes.start as u64;
            let len = bytes.len() as u64;
            match map::file::read_through_fault(file, offset, len) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    let available = file.metadata().map_or(0, |m| m.len());
                    let path = Some(self.backing.path.clone());
                    return Err(Error::TooShort { path, needed: offset + len, available });
                }
                Err(e) => return Err(self.io("read ahead", offset)(e)),
            }
        }
        self.advise(Advice::WillNeed, span)
    }

    /// Asks the kernel to start reading the pages of `span` into the page cache, and
    /// returns without waiting: on the file (`POSIX_FADV_WILLNEED`) where the platform can,
    /// else on the map ([`Advice::WillNeed`]).
    pub(crate) fn will_need(&self, span: &Range<usize>) -> Result<()> {
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        if let Some(file) = &self.backing.file {
            let offset = self.backing.offset + bytes.start as u64;
            let given = map::file::will_need(file, offset, bytes.len() as u64)
                .map_err(self.io("read ahead", offset))?;
            if given {
                return Ok(());
            }
        }
        self.advise(Advice::WillNeed, span)
    }

    /// Drops the clean pages of `span` from the page cache, where no map holds them (the
    /// kernel keeps any other), except those in `kept` (addresses, sorted and disjoint):
    /// for input pages used once, so that their memory is reused at once, while pages that
    /// were cached before the walk stay cached. The kernel drops a large folio (2 MiB, from
    /// [`read_ahead`](Self::read_ahead)) only when the range covers all of it; with
    /// `from_huge_page`, the range reaches back to the start of the 2 MiB of the file it
    /// starts in (but never before the map's start), so that a walk up through the file,
    /// whose chunks rarely fall on 2 MiB boundaries, drops each folio once it is past it.
    /// Only a read-only or read-write map's pages: a copy-on-write map keeps its own (as
    /// [`release`](Self::release) does), and a map without a file has no page cache.
    pub(crate) fn evict(
        &self,
        span: &Range<usize>,
        from_huge_page: bool,
        kept: &[Range<usize>],
    ) -> Result<()> {
        let (Some(file), Some(bytes)) = (&self.backing.file, self.offsets(span)) else {
            return Ok(());
        };
        if self.backing.mode == Mode::CopyOnWrite {
            return Ok(());
        }
        let base = self.backing.offset;
        let back = if from_huge_page {
            // Offsets into the map fit in `usize`; the reach-back stays inside the map.
            let at = base + bytes.start as u64;
            usize::try_from(at % HUGE_PAGE).unwrap_or(0).min(bytes.start)
        } else {
            0
        };
        let map = self.addresses.start;
        let span = map + bytes.start - back..map + bytes.end;
        for part in without(span.clone(), near(kept, &span)) {
            let offset = base + (part.start - map) as u64;
            map::file::evict(file, offset, part.len() as u64).map_err(self.io("evict", offset))?;
        }
        Ok(())
    }

    /// The pages of `span` (addresses) that are in the page cache now, as sorted ranges
    /// of addresses, clipped to `span`; `None` where this cannot be told (a map without a
    /// file; see [`map::file::cached`]).
    pub(crate) fn cached(&self, span: &Range<usize>) -> Option<Vec<Range<usize>>> {
        let Some(bytes) = self.offsets(span) else { return Some(Vec::new()) };
        let offset = self.backing.offset + bytes.start as u64;
        let ranges = map::file::cached(self.backing.file.as_ref()?, offset, bytes.len() as u64)?;
        // Each range lies inside `offset..offset + bytes.len()`, whose length is a `usize`.
        let first = self.addresses.start + bytes.start;
        let into =
            |at: u64| usize::try_from(at - offset).map_or(bytes.len(), |d| d.min(bytes.len()));
        let address = |at: u64| first + into(at);
        Some(ranges.into_iter().map(|r| address(r.start)..address(r.end)).collect())
    }

    /// Faults the pages of `span` into the map now (readable; writable for a read-write
    /// map's pages when `write`), through the kernel's own fault path, so that the
    /// computation that touches them next finds them mapped. A copy-on-write map's pages
    /// are only ever faulted in readable: a writable fault would copy them.
    pub(crate) fn prefault(&self, span: &Range<usize>, write: bool) -> Result<()> {
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        match (&self.map, self.backing.mode) {
            (MapRef::Writable(map), Mode::ReadWrite) => map::populate(*map, write, bytes),
            (MapRef::Writable(map), _) => map::populate(*map, false, bytes),
            (MapRef::ReadOnly(map), _) => map::populate(*map, false, bytes),
        }
        .map_err(self.io("fault in", 0))
    }

    /// Drops the pages of `span` from this process's resident set; the next touch reads
    /// them again from the page cache or the file. Changed pages of a shared map stay in
    /// the page cache, so nothing is lost. A copy-on-write map's changed pages exist
    /// nowhere else, so they are never released: this does nothing there.
    pub(crate) fn release(&self, span: &Range<usize>) -> Result<()> {
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        match (&self.map, self.backing.mode) {
            (_, Mode::CopyOnWrite) => Ok(()),
            (MapRef::ReadOnly(map), _) => map::release_read_only(map, bytes),
            (MapRef::Writable(map), _) => map::release_shared(map, self.addresses.len(), bytes),
        }
        .map_err(self.io("release", 0))
    }

    /// Starts writing the changed pages of `span` back to the file without waiting, where
    /// the platform can (else flushes them). Only read-write maps have anything to write.
    pub(crate) fn start_write_back(&self, span: &Range<usize>) -> Result<()> {
        let (MapRef::Writable(map), Mode::ReadWrite) = (&self.map, self.backing.mode) else {
            return Ok(());
        };
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        let offset = self.backing.offset + bytes.start as u64;
        let started = match &self.backing.file {
            Some(file) => map::file::start_write_back(file, offset, bytes.len() as u64)
                .map_err(self.io("write back", offset))?,
            None => false,
        };
        if started {
            return Ok(());
        }
        // Where the kernel cannot start write-back of a file range: `msync(MS_ASYNC)`
        // (`FlushViewOfFile` on Windows), which starts it or leaves it to the system.
        let end = self.backing.offset + bytes.end as u64;
        map.flush_async_range(bytes.start, bytes.len()).map_err(self.io("flush", end))
    }

    /// Waits until the pages of `span` are written back, then evicts them from the page
    /// cache, so that a large output does not crowd out the inputs. Read-write maps only.
    pub(crate) fn finish_write_back(&self, span: &Range<usize>) -> Result<()> {
        let (MapRef::Writable(_), Mode::ReadWrite, Some(file)) =
            (&self.map, self.backing.mode, &self.backing.file)
        else {
            return Ok(());
        };
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        let offset = self.backing.offset + bytes.start as u64;
        map::file::finish_write_back(file, offset, bytes.len() as u64)
            .map_err(self.io("write back", offset))?;
        Ok(())
    }

    /// Writes every changed page of a read-write map to disk and waits until it is there.
    pub(crate) fn flush(&self) -> Result<()> {
        let (MapRef::Writable(map), Mode::ReadWrite) = (&self.map, self.backing.mode) else {
            return Ok(());
        };
        let len = self.addresses.len();
        if len == 0 {
            return Ok(());
        }
        let end = self.backing.offset + len as u64;
        map.flush_range(0, len).map_err(self.io("flush", end))?;
        match &self.backing.file {
            Some(file) => map::file::make_durable(file).map_err(self.io("flush", end)),
            None => Ok(()),
        }
    }
}

/// The size of the large folios that read-ahead through the fault path makes: a PMD huge
/// page on x86-64 and on arm64 with 4 KiB pages.
const HUGE_PAGE: u64 = 2 << 20;

/// The size of a memory page, the unit the engine's hints work in.
pub(crate) fn page_size() -> usize {
    map::file::page_size()
}
