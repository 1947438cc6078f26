//! Flushing a read-write guard to disk: the whole map, a byte range, or exactly the pages
//! of a sub-view; and `close`, which flushes and reports.

use std::ops::Range;

use ndarray::{ArrayRef, Dimension};

use super::MmapArrayMut;
use crate::error::{Error, Result};
use crate::layout::address_span;
use crate::map;
use crate::map::file::{page_size, start_write_back};
use crate::options::Mode;

impl<A: 'static, D: Dimension> MmapArrayMut<A, D> {
    /// Writes every changed page of the array to disk and waits until it is there
    /// (`msync(MS_SYNC)`); for a `.npy` file that grew, then commits the new rows: the
    /// header is rewritten to state them and synced (see
    /// [`set_sync_on_grow`](Self::set_sync_on_grow)). Does nothing for copy-on-write maps.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] (or [`Error::NoSpace`]) if the kernel reports a write error.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// let mut c = unsafe { Array1::<u8>::create_file(&path, 2)? };
    /// c[1] = 37;
    /// c.flush()?;
    /// assert_eq!(std::fs::read(&path)?, [0, 37]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) -> Result<()> {
        if self.backing.mode == Mode::CopyOnWrite {
            return Ok(());
        }
        self.map.flush_range(0, self.len).map_err(|e| self.flush_error(e))?;
        self.make_durable()?;
        // What growth wrote through the file rather than the map (see `guard::grow`).
        self.growth.sync_file_writes(&self.backing).map_err(|e| self.flush_error(e))
    }

    /// Starts writing every changed page of the array to disk and returns without waiting.
    /// Does nothing for copy-on-write maps.
    ///
    /// On Linux the kernel is asked to start write-back of the file's dirty pages at once
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, as the chunked engine does for finished
    /// chunks): `msync(MS_ASYNC)` alone does nothing there. Elsewhere it is
    /// `msync(MS_ASYNC)`, which the system may honour in its own time. Either way, nothing is
    /// known to be on disk until [`flush`](Self::flush) returns; use this to let write-back
    /// overlap other work before a `flush` that then has less to wait for.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the kernel refuses.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut c = unsafe { Array1::<u8>::create_file(dir.path().join("c.bin"), 2)? };
    /// c.fill(1);
    /// c.flush_async()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_async(&self) -> Result<()> {
        if self.backing.mode == Mode::CopyOnWrite {
            return Ok(());
        }
        self.map.flush_async_range(0, self.len).map_err(|e| self.flush_error(e))?;
        if let Some(file) = &self.backing.file {
            // From the file's start: a header growth rewrote, and rows it wrote to the file.
            let end = self.backing.offset + self.len as u64;
            start_write_back(file, 0, end).map_err(|e| self.flush_error(e))?;
        }
        Ok(())
    }

    /// Writes the changed pages among `bytes` (counted from the array's lowest element) to
    /// disk and waits until they are there.
    ///
    /// # Errors
    ///
    /// [`Error::OffsetPastEnd`] if the range reaches past the array's bytes,
    /// [`Error::InvalidOption`] if it starts after its end; [`Error::Io`] if the kernel
    /// reports a write error.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let mut c = unsafe { Array1::<u64>::create_file(dir.path().join("c.bin"), 1024)? };
    /// c[3] = 1;
    /// c.flush_range(24..32)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_range(&self, bytes: Range<usize>) -> Result<()> {
        let len = self.len;
        if bytes.start > bytes.end {
            return Err(Error::InvalidOption {
                path: Some(self.backing.path.clone()),
                message: "flush_range needs a range whose start is not after its end",
            });
        }
        if bytes.end > len {
            return Err(Error::OffsetPastEnd {
                path: Some(self.backing.path.clone()),
                offset: bytes.end as u64,
                len: len as u64,
            });
        }
        self.flush_bytes(bytes)
    }

    /// Writes to disk exactly the pages that hold the elements of `view`, a view of this
    /// guard's array (a slice, a column, any strided sub-view), and waits until they are
    /// there. Pages between far-apart elements of a strided view are not written.
    ///
    /// # Errors
    ///
    /// [`Error::ViewNotInMap`] if `view` is not part of this guard's map; [`Error::Io`] if
    /// the kernel reports a write error.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// let mut c = unsafe { Array2::<f64>::create_file(&path, (1000, 100))? };
    /// c.column_mut(7).fill(2.0);
    /// c.flush_view(&c.column(7))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_view<E: Dimension>(&self, view: &ArrayRef<A, E>) -> Result<()> {
        if view.is_empty() {
            return Ok(());
        }
        let elem = size_of::<A>();
        let (lo, hi) = address_hull(view);
        let end = self.base + self.len;
        if lo < self.base || hi > end {
            return Err(Error::ViewNotInMap { path: Some(self.backing.path.clone()) });
        }
        if self.backing.mode == Mode::CopyOnWrite {
            return Ok(());
        }
        let origin = view.as_ptr() as usize;
        for_each_page_run(origin, elem, view.shape(), view.strides(), page_size(), |run| {
            self.flush_bytes(run.start - self.base..run.end - self.base)
        })?;
        Ok(())
    }

    /// Flushes and unmaps the array, reporting any write error that a plain drop would
    /// have to ignore.
    ///
    /// # Errors
    ///
    /// As [`flush`](Self::flush).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// let mut c = unsafe { Array1::<u8>::create_file(&path, 1)? };
    /// c[0] = 1;
    /// c.close()?;
    /// assert_eq!(std::fs::read(&path)?, [1]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(mut self) -> Result<()> {
        self.flush()?;
        let end = self.backing.offset + self.len as u64;
        // SAFETY: `close` consumes the guard: no view lent out lives (they borrow it), and
        // its own view is dropped with it without touching a byte (it holds a pointer, not
        // a reference). So nothing uses the map's bytes again.
        unsafe { self.growth.trim_file(&self.backing, &mut self.map, self.len, true, None) }
            .map_err(|e| Error::io(&self.backing.path, "truncate", end, e))
    }

    fn flush_bytes(&self, bytes: Range<usize>) -> Result<()> {
        if self.backing.mode == Mode::CopyOnWrite || bytes.is_empty() {
            return Ok(());
        }
        self.map.flush_range(bytes.start, bytes.len()).map_err(|e| self.flush_error(e))?;
        self.make_durable()
    }

    /// After the map's flush, what the platform needs for the bytes to reach stable
    /// storage (`F_FULLFSYNC` on macOS; nothing elsewhere).
    fn make_durable(&self) -> Result<()> {
        match &self.backing.file {
            Some(file) => map::file::make_durable(file).map_err(|e| self.flush_error(e)),
            None => Ok(()),
        }
    }

    fn flush_error(&self, e: std::io::Error) -> Error {
        Error::io(&self.backing.path, "flush", self.backing.offset + self.len as u64, e)
    }
}

/// The addresses of a view's elements, lowest to one past the highest.
fn address_hull<A, E: Dimension>(view: &ArrayRef<A, E>) -> (usize, usize) {
    let span = address_span(view.as_ptr() as usize, size_of::<A>(), view.shape(), view.strides());
    (span.start, span.end)
}

/// Calls `flush` with byte ranges that together cover exactly the pages holding the
/// elements of a non-empty view (`origin` is the address of its first element, `elem` the
/// element size, `strides` in elements), in address order for views whose elements do not
/// interleave, merging ranges that share or touch a page.
///
/// The work and memory are independent of the number of elements: axes of one element or
/// of stride 0 (broadcast) add no addresses and are dropped; inner axes whose elements
/// leave no whole page between them are covered as one range (every page of their span
/// holds an element); only the outer axes whose steps skip whole pages are walked, one
/// range per step, so the walk takes at most one step per page of the view's span.
fn for_each_page_run(
    origin: usize,
    elem: usize,
    dims: &[usize],
    strides: &[isize],
    page: usize,
    mut flush: impl FnMut(Range<usize>) -> Result<()>,
) -> Result<()> {
    // (length, stride in bytes) of the axes that add addresses, strides made positive (the
    // set of addresses is the same, starting from the lowest element).
    let mut lowest = origin;
    let mut axes: Vec<(usize, usize)> = Vec::with_capacity(dims.len());
    for (&len, &stride) in dims.iter().zip(strides) {
        if len > 1 && stride != 0 {
            let step = stride.unsigned_abs() * elem;
            if stride < 0 {
                lowest -= (len - 1) * step;
            }
            axes.push((len, step));
        }
    }
    axes.sort_unstable_by_key(|&(_, step)| std::cmp::Reverse(step));
    // Fold inner axes into one block while the gap between its copies is under a page.
    let mut block = elem;
    while let Some(&(len, step)) = axes.last() {
        if step >= block + page {
            break;
        }
        block += (len - 1) * step;
        axes.pop();
    }
    let mut index = vec![0usize; axes.len()];
    let mut pending: Option<Range<usize>> = None;
    loop {
        let start =
            lowest + index.iter().zip(&axes).map(|(&i, &(_, step))| i * step).sum::<usize>();
        let run = start..start + block;
        pending = match pending {
            Some(last)
                if run.start >= last.start && run.start / page <= last.end.div_ceil(page) =>
            {
                Some(last.start..last.end.max(run.end))
            }
            Some(last) => {
                flush(last)?;
                Some(run)
            }
            None => Some(run),
        };
        // The next index, last axis fastest.
        let mut k = axes.len();
        loop {
            if k == 0 {
                return pending.map_or(Ok(()), &mut flush);
            }
            k -= 1;
            index[k] += 1;
            if index[k] < axes[k].0 {
                break;
            }
            index[k] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::for_each_page_run;

    /// The pages holding the elements of a view, element by element (the oracle).
    fn pages_of_elements(
        origin: usize,
        elem: usize,
        dims: &[usize],
        strides: &[isize],
        page: usize,
    ) -> BTreeSet<usize> {
        let mut pages = BTreeSet::new();
        let count: usize = dims.iter().product();
        for flat in 0..count {
            let (mut rest, mut addr) = (flat, origin.cast_signed());
            for (&d, &s) in dims.iter().zip(strides).rev() {
                addr += (rest % d).cast_signed() * s * elem.cast_signed();
                rest /= d;
            }
            let addr = addr.cast_unsigned();
            pages.extend(addr / page..(addr + elem).div_ceil(page));
        }
        pages
    }

    #[test]
    fn runs_cover_exactly_the_pages_of_the_elements() {
        let page = 64;
        let cases: &[(&[usize], &[isize])] = &[
            (&[10], &[1]),
            (&[10], &[9]),
            (&[10], &[-9]),
            (&[10], &[0]),
            (&[7, 5], &[40, 1]),
            (&[7, 5], &[1, 7]),
            (&[7, 5], &[-40, 3]),
            (&[3, 4, 5], &[200, 0, 16]),
            (&[3, 4, 5], &[0, 50, -1]),
            (&[6, 6], &[16, 17]),
            (&[2, 3, 2], &[-500, 30, -7]),
            (&[1, 1], &[0, 0]),
        ];
        for &(dims, strides) in cases {
            for elem in [1, 4, 8] {
                let origin = 100_000;
                let expected = pages_of_elements(origin, elem, dims, strides, page);
                let mut runs = Vec::new();
                for_each_page_run(origin, elem, dims, strides, page, |r| {
                    runs.push(r);
                    Ok(())
                })
                .unwrap();
                let covered: BTreeSet<usize> =
                    runs.iter().flat_map(|r| r.start / page..r.end.div_ceil(page)).collect();
                assert_eq!(covered, expected, "{dims:?} {strides:?} elem {elem}");
                // Steps that interleave ([6, 6] by [16, 17]) are walked out of order.
                let interleaved = strides == [16, 17];
                assert!(
                    interleaved
                        || runs.windows(2).all(|w| w[0].end.div_ceil(page) < w[1].start / page),
                    "{dims:?} {strides:?}: runs not merged or out of order: {runs:?}"
                );
            }
        }
    }

    #[test]
    fn a_broadcast_of_more_elements_than_addresses_is_one_run() {
        // 2^36 elements where an address has 64 bits, 2^28 where it has 32: far more than
        // the map's bytes, all on one page.
        let many = 1 << (usize::BITS / 2 + 4);
        let mut runs = Vec::new();
        for_each_page_run(4096, 8, &[many, 1], &[0, 1], 4096, |r| {
            runs.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(runs, vec![4096..4104]);
    }
}
