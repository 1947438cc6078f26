//! Flushing a read-write guard to disk: the whole map, a byte range, or exactly the pages
//! of a sub-view; and `close`, which flushes and reports.

use std::ops::Range;

use ndarray::{ArrayRef, Axis, Dimension};

use super::MmapArrayMut;
use crate::error::{Error, Result};
use crate::layout::address_span;
use crate::map::file::page_size;
use crate::options::Mode;

impl<A: 'static, D: Dimension> MmapArrayMut<A, D> {
    /// Writes every changed page of the array to disk and waits until it is there
    /// (`msync(MS_SYNC)`). Does nothing for copy-on-write maps.
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
        // What growth wrote through the file rather than the map (see `guard::grow`).
        self.growth.sync_file_writes(&self.backing).map_err(|e| self.flush_error(e))
    }

    /// Starts writing every changed page to disk and returns without waiting
    /// (`msync(MS_ASYNC)`). Does nothing for copy-on-write maps.
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
        self.map.flush_async_range(0, self.len).map_err(|e| self.flush_error(e))
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
        let page = page_size();
        let mut runs = contiguous_runs(view, elem);
        runs.sort_unstable_by_key(|r| r.start);
        // Merge runs that share or touch a page: one msync per run of pages.
        let mut merged: Vec<Range<usize>> = Vec::new();
        for run in runs {
            match merged.last_mut() {
                Some(last) if run.start / page <= last.end.div_ceil(page) => {
                    last.end = last.end.max(run.end);
                }
                _ => merged.push(run),
            }
        }
        for run in merged {
            self.flush_bytes(run.start - self.base..run.end - self.base)?;
        }
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
        self.growth
            .trim_file(&self.backing, self.len, true)
            .map_err(|e| Error::io(&self.backing.path, "truncate", end, e))
    }

    fn flush_bytes(&self, bytes: Range<usize>) -> Result<()> {
        if self.backing.mode == Mode::CopyOnWrite || bytes.is_empty() {
            return Ok(());
        }
        self.map.flush_range(bytes.start, bytes.len()).map_err(|e| self.flush_error(e))
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

/// The byte ranges that a non-empty view's elements occupy: whole lanes along a unit-stride
/// axis, else single elements.
fn contiguous_runs<A, E: Dimension>(view: &ArrayRef<A, E>, elem: usize) -> Vec<Range<usize>> {
    if view.as_slice_memory_order().is_some() {
        let (lo, hi) = address_hull(view);
        return std::iter::once(lo..hi).collect();
    }
    let unit_axis = (0..view.ndim()).find(|&k| view.stride_of(Axis(k)).unsigned_abs() == 1);
    match unit_axis {
        Some(k) => view
            .lanes(Axis(k))
            .into_iter()
            .map(|lane| {
                let (lo, hi) = address_hull(&lane);
                lo..hi
            })
            .collect(),
        None => view
            .iter()
            .map(|x| {
                let addr = std::ptr::from_ref(x) as usize;
                addr..addr + elem
            })
            .collect(),
    }
}
