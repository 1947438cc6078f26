//! Growable arrays: [`MmapArrayMut::append`], [`push`](MmapArrayMut::push),
//! [`resize_outer`](MmapArrayMut::resize_outer), [`reserve`](MmapArrayMut::reserve),
//! [`capacity`](MmapArrayMut::capacity), [`shrink_to_fit`](MmapArrayMut::shrink_to_fit) and
//! [`truncate_file_to_array`](MmapArrayMut::truncate_file_to_array) on read-write maps of raw and `.npy` files.
//!
//! # How it works
//!
//! An array grows along its outermost axis in memory: axis 0 in C order, the last axis in
//! Fortran order, so that new elements go at the end of the file and nothing moves. The
//! file grows geometrically (by half the mapped length, at least 1 MiB and at most 1 GiB at
//! a time); the new blocks are reserved on disk (`fallocate`), so a full disk is an
//! [`Error::NoSpace`] from the call that grows, never a `SIGBUS` later. The map follows the
//! file with `mremap` on Linux (no copy, the pages stay where they are) and is mapped again
//! elsewhere. Views see the logical shape only; the capacity beyond it exists while the guard
//! lives, and `close` and drop cut the file back to the array's end.
//!
//! For `.npy` files the header's shape is rewritten in place (it keeps its length: NumPy pads
//! headers for growth) only after the data it covers is on disk, as a database's group
//! commit: appended rows are committed by `flush`, `close`, drop, and each growth that
//! reserves capacity (so a run of appends syncs a logarithmic number of times), each commit
//! an `fdatasync` of the data, then the header. A reader, or a crash at any moment, sees a
//! file that NumPy loads, holding a prefix of the rows; after `flush` returns even a power
//! loss loses nothing. Trailing capacity after the data is ignored by NumPy's reader.
//!
//! Raw files have no header: their length is the array's length. A crash (not a clean drop
//! or `close`) can leave the capacity beyond the array's end in the file, as zeros (or as
//! the rows of an earlier shrink).

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use bytemuck::Pod;
use ndarray::{ArrayView, Axis, Dimension, Order, RemoveAxis, ShapeBuilder, Slice, StrideShape};

use super::{Backing, MmapArrayMut};
use crate::error::{Error, HeaderError, Result};
use crate::fs::{read_prefix, write_prefix};
use crate::layout::{ArrayLayout, Elem, is_contiguous, outer_axis_of, signed_strides};
use crate::map;
use crate::map::MmapMut;
use crate::options::Mode;

/// The least a file grows by, in bytes (when the array needs less).
const MIN_STEP: usize = 1 << 20;
/// The most a file grows by beyond what the array needs, in bytes.
const MAX_STEP: usize = 1 << 30;

/// A header before the data that states the array's shape (a `.npy` header), which growth
/// rewrites once the data it covers is written. The format implements it, so that the
/// guard never depends on a format.
pub(crate) trait ShapeHeader: fmt::Debug + Send + Sync {
    /// Reads `header`, the file's bytes before the data: the shape it states.
    ///
    /// # Errors
    ///
    /// What is wrong with the header.
    fn read(&self, header: &[u8]) -> Result<StatedShape, HeaderError>;

    /// Rewrites the shape that `header` states as `shape`, keeping the header's length.
    ///
    /// # Errors
    ///
    /// [`HeaderError::ShapeDoesNotFit`] if the new shape needs a longer header,
    /// [`HeaderError::ShapeOverflow`] if its data length overflows.
    fn rewrite_shape(&self, header: &mut Vec<u8>, shape: &[usize]) -> Result<(), HeaderError>;
}

/// What a [`ShapeHeader`] states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StatedShape {
    /// The axis lengths.
    pub(crate) shape: Vec<usize>,
    /// Whether the data is in Fortran order.
    pub(crate) fortran_order: bool,
    /// Where the data starts: the header's length.
    pub(crate) data_offset: usize,
}

/// What states the array's shape on disk.
#[derive(Debug)]
enum ShapeOnDisk {
    /// Nothing: a raw file, whose length is the array's length.
    Raw,
    /// A header of `len` bytes at the start of the file (where the data starts).
    Header {
        /// The header's length.
        len: usize,
        /// The header's bytes as last written, once read.
        bytes: Option<Vec<u8>>,
        /// What `bytes` state, parsed once and then kept in step (a header is not parsed
        /// again for every append).
        stated: Option<StatedShape>,
        /// The format that reads and rewrites it.
        format: &'static dyn ShapeHeader,
    },
}

/// A writable guard's growth state: the kind of file, the memory order and the capacity.
#[derive(Debug)]
pub(crate) struct Growth {
    on_disk: ShapeOnDisk,
    /// `None` for layouts that cannot grow: custom strides, or no axis at all.
    order: Option<Order>,
    /// Bytes mapped from the data offset: the capacity, at least the array's span.
    map_len: usize,
    /// Bytes of the map from here on hold zeros (freshly reserved and never written).
    zero_from: usize,
    /// The file extends past the array's data and the guard owns that tail: growth reserved
    /// it, or a shrink left it. Drop and `close` cut it off.
    tail: bool,
    /// Whether the header of a `.npy` file is rewritten only after the data it covers is on
    /// disk, at the next commit ([`MmapArrayMut::set_sync_on_grow`]).
    sync: bool,
    /// The header's bytes (`ShapeOnDisk::Header::bytes`) state rows that the file's header
    /// does not yet: they are written at the next commit (flush, close, drop, or growth that
    /// reserves capacity), once the data they cover is on disk.
    pending: AtomicBool,
    /// The decimal digits of the growth axis's length in the last header built: a header
    /// whose length has as many digits has the same length, so it fits too.
    built_digits: Option<usize>,
    /// Whether bytes were written through the file (a header, or rows with `pwrite`) since
    /// the guard last synced it: `msync` of the map does not write those.
    unsynced: bool,
}

impl Growth {
    /// The state of a guard just made over exactly `layout` (the file may be longer).
    pub(crate) fn new<D: Dimension>(layout: &ArrayLayout<D>) -> Self {
        let (dims, strides) = (layout.dim.slice(), signed_strides(&layout.strides));
        let c = is_contiguous(dims, &strides, Order::RowMajor);
        let f = is_contiguous(dims, &strides, Order::ColumnMajor);
        // A layout in both orders (one row, one column) grows the way its shape was built:
        // with `.f()`, along the last axis. (A header, read later, has the last word.)
        let built_f = layout.strides.slice() == layout.dim.fortran_strides().slice()
            && layout.strides.slice() != layout.dim.default_strides().slice();
        let order = match (c, f) {
            _ if layout.dim.ndim() == 0 => None,
            (true, true) if built_f => Some(Order::ColumnMajor),
            (true, _) => Some(Order::RowMajor),
            (false, true) => Some(Order::ColumnMajor),
            (false, false) => None,
        };
        Growth {
            on_disk: ShapeOnDisk::Raw,
            order,
            map_len: layout.span,
            zero_from: layout.span,
            tail: false,
            sync: true,
            pending: AtomicBool::new(false),
            built_digits: None,
            unsynced: false,
        }
    }

    /// Records that the file starts with a header of `len` bytes in `format`.
    fn set_header(&mut self, len: usize, format: &'static dyn ShapeHeader) {
        self.on_disk = ShapeOnDisk::Header { len, bytes: None, stated: None, format };
    }

    /// Waits until what growth wrote through the file (not the map) is on disk, for
    /// `flush` and `close`: commits pending rows first (see [`commit`](Self::commit)).
    pub(crate) fn sync_file_writes(&self, source: &Backing) -> io::Result<()> {
        let header_written = self.commit(source)?;
        match &source.file {
            Some(file) if self.unsynced || header_written => file.sync_data(),
            _ => Ok(()),
        }
    }

    /// Records that the array now has `shape`, for a header built at the next commit.
    fn set_stated_shape(&mut self, shape: &[usize]) {
        if let ShapeOnDisk::Header { stated: Some(stated), .. } = &mut self.on_disk {
            stated.shape.clear();
            stated.shape.extend_from_slice(shape);
        }
    }

    /// Keeps `header`, which states `shape`, as the header's bytes.
    fn set_header_bytes(&mut self, header: Vec<u8>, shape: &[usize]) {
        if let ShapeOnDisk::Header { bytes, stated, .. } = &mut self.on_disk {
            *bytes = Some(header);
            if let Some(stated) = stated {
                stated.shape.clear();
                stated.shape.extend_from_slice(shape);
            }
        }
    }

    /// Commits rows appended since the header was last written: waits until every byte
    /// written to the file is on disk (`fdatasync`: the map's dirty pages and rows written
    /// to the file), then rewrites the header to state them. Returns whether it wrote a
    /// header, which is not yet synced: the caller syncs it, or the next commit does.
    pub(crate) fn commit(&self, source: &Backing) -> io::Result<bool> {
        let (Some(file), ShapeOnDisk::Header { bytes: Some(template), stated, format, .. }) =
            (&source.file, &self.on_disk)
        else {
            return Ok(false);
        };
        if !self.pending.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        // The header of the shape the array has now (its length has been checked to fit).
        let mut header = template.clone();
        let built = match stated {
            Some(stated) => {
                format.rewrite_shape(&mut header, &stated.shape).map_err(io::Error::other)
            }
            None => Ok(()),
        };
        let written =
            built.and_then(|()| file.sync_data()).and_then(|()| write_prefix(file, &header));
        if written.is_err() {
            self.pending.store(true, Ordering::Release);
        }
        written.map(|()| true)
    }

    /// Cuts the file back to the end of the array's `len` bytes of data, if the guard left a
    /// tail past it; with `sync`, waits until the new length is on disk. The map may still
    /// span the cut-off bytes: the caller must not touch them (views cover `len` bytes only).
    /// Where the system refuses to cut a mapped file (Windows), `map` is unmapped first and
    /// mapped again with `keep` bytes, if given, else left empty.
    ///
    /// # Safety
    ///
    /// Nothing may borrow `map`'s bytes: they may move to another address, or go. `keep`
    /// must not pass `len`.
    pub(crate) unsafe fn trim_file(
        &mut self,
        source: &Backing,
        map: &mut MmapMut,
        len: usize,
        sync: bool,
        keep: Option<usize>,
    ) -> io::Result<()> {
        let Some(file) = source.file.as_ref().filter(|_| self.tail) else {
            return Ok(());
        };
        let end = source.offset + len as u64;
        // SAFETY: forwarded: the caller upholds this function's contract (see `# Safety`).
        unsafe { map::set_len_under_map(map, file, source.offset, end, keep) }?;
        self.tail = false;
        self.map_len = self.map_len.min(len);
        self.zero_from = self.zero_from.min(len);
        if sync { file.sync_data() } else { Ok(()) }
    }
}

/// A new shape: its layout and, for files with a header, the header that states it.
struct NewShape<D> {
    layout: ArrayLayout<D>,
    header: Option<Vec<u8>>,
    /// For a `.npy` file whose header is committed later: the header was not built, since
    /// it fits as the last one built did (the growth axis's length has as many digits);
    /// the commit builds it.
    deferred: bool,
    /// The decimal digits of the growth axis's new length.
    digits: usize,
}

impl<A: Pod, D: Dimension> MmapArrayMut<A, D> {
    /// Records that the mapped file starts with a header of `len` bytes in `format` (the
    /// data starts after it), which growth rewrites.
    pub(crate) fn set_shape_header(&mut self, len: usize, format: &'static dyn ShapeHeader) {
        self.growth.set_header(len, format);
    }

    /// Appends `rows` at the end of the growth axis: axis 0 for C-order arrays, the last
    /// axis for Fortran-order ones (ndarray's [`Array::append`](ndarray::Array::append) with
    /// the axis that keeps the data in place). `rows` must match the array's shape on every
    /// other axis; any layout will do.
    ///
    /// The file grows geometrically and its new blocks are reserved on disk, so a run of
    /// appends costs amortized constant time per element and no data is ever copied (the map
    /// is resized with `mremap` on Linux). For `.npy` files the header states the new rows
    /// once they are on disk (at the next [`flush`](Self::flush), [`close`](Self::close),
    /// drop or reservation of capacity; see [`set_sync_on_grow`](Self::set_sync_on_grow)),
    /// so the file holds a valid prefix of the rows at every moment.
    ///
    /// Only read-write maps of files can grow; read-only guards ([`MmapArray`](crate::MmapArray))
    /// have no such method. Appending takes `&mut self`, so no view of the array can be
    /// alive while the map moves:
    ///
    /// ```compile_fail,E0502
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut log = unsafe { Array2::<f32>::create_npy(dir.path().join("log.npy"), (1, 4)) }.unwrap();
    /// let first = log.row(0);
    /// log.append(Array2::<f32>::ones((2, 4)).view()).unwrap(); // error: `log` is borrowed
    /// assert_eq!(first.sum(), 0.0);
    /// ```
    ///
    /// # Errors
    ///
    /// - [`Error::AppendShape`] if `rows` does not match the array on the other axes.
    /// - [`Error::NotGrowable`] for copy-on-write and anonymous maps, arrays with custom
    ///   strides or no axis, and files with bytes after the array's data (a map of part of a
    ///   file, or a `.npy` file followed by something else).
    /// - [`Error::NpyHeaderFull`] if a `.npy` header has no room for the new shape.
    /// - [`Error::Overflow`] if the new shape's byte length overflows `isize::MAX`.
    /// - [`Error::NoSpace`] if the disk is full; [`Error::Io`] for other I/O errors.
    ///
    /// On error the array and the file keep their shape.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("log.npy");
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut log = unsafe { Array2::<f32>::create_npy(&path, (0, 3))? };
    /// log.append(array![[1.0, 2.0, 3.0]].view())?;
    /// log.append(Array2::from_elem((2, 3), 7.0).view())?;
    /// assert_eq!(log.shape(), &[3, 3]);
    /// log.close()?;
    /// let back: Array2<f32> = ndmmap::npy::read_npy(&path)?;
    /// assert_eq!(back.row(0), array![1.0, 2.0, 3.0]);
    /// assert_eq!(back.sum(), 6.0 + 6.0 * 7.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::needless_pass_by_value, reason = "as ndarray's `Array::append`")]
    pub fn append(&mut self, rows: ArrayView<'_, A, D>) -> Result<()> {
        let axis = self.growth_axis()?;
        self.check_rows(axis, rows.shape())?;
        let old = self.len_of(axis);
        let added = rows.len_of(axis);
        if added == 0 {
            return Ok(());
        }
        let new = old.checked_add(added).ok_or_else(|| self.overflow(axis, usize::MAX))?;
        let plan = self.new_shape(axis, new, true)?;
        let old_layout = self.current_layout(axis)?;
        self.ensure_capacity(axis, plan.layout.span)?;
        let written = self.write_beyond_view(axis, old_layout.span, &rows)?;
        self.growth_mut().unsynced |= written;
        self.remap_view(None, &plan.layout)?;
        if !written {
            self.view_mut().slice_axis_mut(axis, Slice::from(old..)).assign(&rows);
        }
        self.publish(&old_layout, plan)
    }

    /// Appends one row (a subview along the growth axis, of one dimension less): ndarray's
    /// [`Array::push`](ndarray::Array::push) with the axis of [`append`](Self::append).
    ///
    /// In a Fortran-order array the growth axis is the last one, so what is pushed is a
    /// column (its length is the array's first axis), not a row as NumPy users might expect
    /// from C order.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut log = unsafe { Array2::<u16>::create_file(dir.path().join("log.bin"), (0, 2))? };
    /// log.push(array![1, 2].view())?;
    /// log.push(array![3, 4].view())?;
    /// assert_eq!(*log, array![[1, 2], [3, 4]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::needless_pass_by_value, reason = "as ndarray's `Array::push`")]
    pub fn push(&mut self, row: ArrayView<'_, A, D::Smaller>) -> Result<()>
    where
        D: RemoveAxis,
    {
        let axis = self.growth_axis()?;
        let found = row.shape().to_vec();
        let mismatch = |this: &Self| {
            let mut found = found.clone();
            found.insert(axis.index().min(found.len()), 1);
            this.append_shape_error(axis, found)
        };
        if row.ndim() + 1 != self.ndim() {
            return Err(mismatch(self));
        }
        let rows = row.insert_axis(axis).into_dimensionality::<D>().map_err(|_| mismatch(self))?;
        self.append(rows)
    }

    /// Sets the length of the growth axis (axis 0 in C order, the last axis in Fortran
    /// order) to `len`: new elements are zeros, and a shrink drops the elements past `len`
    /// (the file keeps them as capacity until `close` or drop cuts it). A shrink then a grow
    /// reads zeros, never the dropped elements.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append), without [`Error::AppendShape`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut a = unsafe { Array2::<i32>::create_npy(&path, (2, 2).f())? };
    /// a.fill(5);
    /// a.resize_outer(1)?; // Fortran order: the last axis grows and shrinks
    /// a.resize_outer(3)?;
    /// assert_eq!(*a, array![[5, 0, 0], [5, 0, 0]]);
    /// a.close()?;
    /// assert_eq!(ndmmap::npy::inspect(&path)?.shape, [2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resize_outer(&mut self, len: usize) -> Result<()> {
        let axis = self.growth_axis()?;
        let old = self.len_of(axis);
        if len == old {
            return Ok(());
        }
        let plan = self.new_shape(axis, len, len > old)?;
        let old_layout = self.current_layout(axis)?;
        if len < old {
            // The header first: until it is written the old, longer data is still valid. Rows
            // not yet committed that the new header states go to disk before it.
            let sync = self.growth().sync;
            if sync && self.growth().pending.load(Ordering::Acquire) {
                self.sync_file()?;
            }
            self.write_header(plan.header.as_deref(), plan.layout.dim.slice(), sync)?;
            self.growth_mut().tail = true;
            return self.remap_view(None, &plan.layout);
        }
        self.ensure_capacity(axis, plan.layout.span)?;
        let (old_span, new_span) = (old_layout.span, plan.layout.span);
        let zero_from = self.growth_mut().zero_from;
        self.remap_view(None, &plan.layout)?;
        if old_span < zero_from {
            // Elements dropped by an earlier shrink: zero the ones now back in the array.
            let row_bytes = row_bytes(self.shape(), axis, size_of::<A>());
            let dirty = (zero_from.min(new_span) - old_span).div_ceil(row_bytes);
            let range = Slice::from(old..old + dirty);
            self.view_mut().slice_axis_mut(axis, range).fill(A::zeroed());
        }
        self.publish(&old_layout, plan)
    }

    /// Makes room for at least `additional` more elements along the growth axis without
    /// growing the file again: the file grows (and its blocks are reserved) now. Like
    /// [`Vec::reserve`], it may reserve more.
    ///
    /// # Errors
    ///
    /// As [`resize_outer`](Self::resize_outer).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut log = unsafe { Array2::<f64>::create_file(dir.path().join("log.bin"), (0, 8))? };
    /// log.reserve(1000)?;
    /// assert!(log.capacity() >= 1000);
    /// assert_eq!(log.shape(), &[0, 8]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve(&mut self, additional: usize) -> Result<()> {
        let axis = self.growth_axis()?;
        let old = self.len_of(axis);
        let want = old.checked_add(additional).ok_or_else(|| self.overflow(axis, usize::MAX))?;
        let layout = self.layout_for(axis, want)?;
        self.ensure_capacity(axis, layout.span)
    }

    /// Gives back the capacity past the array's end that this guard reserved: the map and
    /// the file shrink to the array's data, so a raw file's length is again the array's
    /// length.
    ///
    /// Only capacity this guard reserved (by growing, or left by its own shrink) is given
    /// back. Bytes that were in the file past the array's data when it was mapped (the rest
    /// of a file mapped in part, the capacity a killed process left) belong to someone else:
    /// they are refused, not cut. [`truncate_file_to_array`](Self::truncate_file_to_array)
    /// cuts them, when that is what you mean.
    ///
    /// # Errors
    ///
    /// [`Error::NotGrowable`] as for [`append`](Self::append), including for bytes after the
    /// data that this guard did not reserve; [`Error::Io`] if the map or the file cannot
    /// shrink.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("log.bin");
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut log = unsafe { Array1::<u8>::create_file(&path, 0)? };
    /// log.append(array![1, 2, 3].view())?;
    /// assert!(std::fs::metadata(&path)?.len() > 3); // capacity
    /// log.shrink_to_fit()?;
    /// assert_eq!(std::fs::read(&path)?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shrink_to_fit(&mut self) -> Result<()> {
        let axis = self.check_growable(false)?;
        self.cut_tail(axis)
    }

    /// Cuts the file right after the array's data, discarding every byte that follows it:
    /// this guard's capacity and whatever else the file held there.
    ///
    /// Growth refuses to overwrite bytes past the array's data that it did not reserve
    /// ([`Error::NotGrowable`]), such as the capacity a growing guard left behind when its
    /// process was killed. Call this to make such a file growable again, and never on a map
    /// of part of a file whose rest you (or another map of it) want to keep.
    ///
    /// # Errors
    ///
    /// [`Error::NotGrowable`] as for [`append`](Self::append) (but not for bytes after the
    /// data); [`Error::Io`] if the map or the file cannot shrink.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("log.bin");
    /// std::fs::write(&path, [1u8, 2, 3, 0, 0, 0, 0, 0])?; // a crash left 5 bytes of capacity
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut log =
    ///     unsafe { Array1::<u8>::map_file_mut_with(&path, &MapOptions::new().len(3))? };
    /// assert!(log.shrink_to_fit().is_err()); // not this guard's capacity
    /// log.truncate_file_to_array()?;
    /// assert_eq!(std::fs::read(&path)?, [1, 2, 3]);
    /// log.append(array![4].view())?; // growable again
    /// log.close()?;
    /// assert_eq!(std::fs::read(&path)?, [1, 2, 3, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn truncate_file_to_array(&mut self) -> Result<()> {
        let axis = self.check_growable(true)?;
        self.cut_tail(axis)
    }

    /// Shrinks the map and the file to the array's data, if the guard owns a tail.
    fn cut_tail(&mut self, axis: Axis) -> Result<()> {
        if !self.growth().tail {
            return Ok(());
        }
        let span = self.len;
        let layout = self.current_layout(axis)?;
        // The map first, so that no map reaches past the file's new end.
        self.remap_view(Some(span), &layout)?;
        self.growth_mut().map_len = span;
        self.drop_view()?;
        // SAFETY: the view was just replaced by one of no bytes, and `&mut self` rules out
        // any other borrow of the map; the map keeps `span` bytes, which is `self.len`.
        let cut = unsafe {
            self.growth.trim_file(&self.backing, &mut self.map, self.len, false, Some(span))
        };
        self.view_map_prefix(&layout)?;
        cut.map_err(|e| Error::io(&self.backing.path, "truncate", 0, e))
    }

    /// Chooses when growing a `.npy` file rewrites its header: `true` (the default) or
    /// `false`. Raw files have no header and are not affected.
    ///
    /// With `true`, appended rows are committed in groups: the header is rewritten to state
    /// them at the next [`flush`](Self::flush), [`close`](Self::close), drop, or growth that
    /// reserves capacity, each time after the data it covers is on disk (`fdatasync`). A
    /// run of appends is as fast as appending to a raw file (a logarithmic number of syncs),
    /// and a reader (NumPy included) or a killed process sees a file holding a prefix of the
    /// rows at every moment; even a power loss after `flush` returned loses nothing, and
    /// one before it loses at most the rows since the last commit, never the file's
    /// validity.
    ///
    /// With `false`, the header is rewritten right after each growth, without waiting for
    /// the disk: other readers see every row at once. A killed process still leaves a file
    /// that loads with the old or the new shape (both writes are in the kernel's cache, in
    /// that order), but after a power loss or an operating-system crash the header may state
    /// elements whose data never reached the disk: they read as zeros. [`flush`](Self::flush)
    /// and [`close`](Self::close) make everything durable.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("fast.npy");
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut log = unsafe { Array2::<f32>::create_npy(&path, (0, 4))? };
    /// log.set_sync_on_grow(false);
    /// for _ in 0..100 {
    ///     log.append(Array2::ones((10, 4)).view())?;
    /// }
    /// log.flush()?; // durable from here on
    /// assert_eq!(ndmmap::npy::inspect(&path)?.shape, [1000, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_sync_on_grow(&mut self, sync: bool) {
        self.growth_mut().sync = sync;
    }

    /// The length the growth axis can reach without growing the file (for arrays that
    /// cannot grow, their current length along axis 0).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut log = unsafe { Array2::<f32>::create_file(dir.path().join("log.bin"), (0, 256))? };
    /// assert_eq!(log.capacity(), 0);
    /// log.append(Array2::zeros((1, 256)).view())?;
    /// assert!(log.capacity() >= 1024); // the file grows by at least 1 MiB at a time
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn capacity(&self) -> usize {
        let (growth, ndim) = (self.growth(), self.ndim());
        let axis = match growth.order {
            None if ndim == 0 => return 1,
            Some(order) => Axis(outer_axis_of(order, ndim)),
            None => Axis(0),
        };
        let len = self.len_of(axis);
        let row = row_bytes(self.shape(), axis, size_of::<A>());
        if growth.order.is_none() || row == 0 { len } else { len.max(growth.map_len / row) }
    }

    /// Checks that this guard can grow and returns its growth axis; reads a `.npy` header
    /// the first time.
    fn growth_axis(&mut self) -> Result<Axis> {
        self.check_growable(false)
    }

    /// As [`growth_axis`](Self::growth_axis); with `claim_tail`, bytes after the array's data
    /// become the guard's tail (to be cut off) instead of an error.
    fn check_growable(&mut self, claim_tail: bool) -> Result<Axis> {
        let ndim = self.ndim();
        let shape = self.shape().to_vec();
        let span = self.len;
        // `DerefMut` lends `&mut ArrayRef`, whose in-place methods (`slice_axis_inplace`,
        // `invert_axis`, `swap_axes`, ...) can leave the guard's view a sub-view or a
        // permutation of its map. Growth rebuilds the view from its dimensions at the map's
        // start, which would silently move such a view onto other bytes: refuse instead.
        let strides = self.strides().to_vec();
        // An empty view's pointer is dangling, not the map's start.
        let anchored = (self.is_empty() || self.as_ptr() as usize == self.base)
            && self.len() * size_of::<A>() == span;
        let (growth, source, _) = self.growth_parts();
        let refuse = |reason| Err(Error::NotGrowable { path: source.path.clone(), reason });
        if source.mode != Mode::ReadWrite {
            return refuse("a copy-on-write map never changes its file");
        }
        let Some(file) = &source.file else {
            return refuse("an anonymous map has no file to grow");
        };
        let Some(mut order) = growth.order else {
            return refuse(if ndim == 0 {
                "a 0-dimensional array has no axis to grow"
            } else {
                "only C- and Fortran-order arrays can grow, not custom strides"
            });
        };
        if !growth.tail {
            let file_len =
                file.metadata().map_err(|e| Error::io(&source.path, "stat", 0, e))?.len();
            let end = source.offset + span as u64;
            if file_len > end && claim_tail {
                growth.tail = true;
            } else if file_len != end {
                return refuse(
                    "the file holds bytes after the array's data that this guard did not \
                     reserve, which growth would overwrite (truncate_file_to_array cuts them off)",
                );
            }
        }
        if let ShapeOnDisk::Header { len, bytes, stated, format } = &mut growth.on_disk {
            let stated = if let Some(stated) = stated {
                stated
            } else {
                let header = match bytes {
                    Some(header) => header,
                    None => bytes.insert(
                        read_prefix(file, *len)
                            .map_err(|e| Error::io(&source.path, "read", *len as u64, e))?,
                    ),
                };
                let parsed = format
                    .read(header)
                    .map_err(|e| Error::Npy { path: source.path.clone(), detail: e })?;
                stated.insert(parsed)
            };
            if stated.data_offset != *len || stated.shape != shape {
                return refuse("the .npy header no longer describes the mapped array");
            }
            // The header decides for the layouts that are both C and F (empty, all ones).
            order = if stated.fortran_order { Order::ColumnMajor } else { Order::RowMajor };
            growth.order = Some(order);
        }
        if !anchored || !is_contiguous(&shape, &strides, order) {
            return refuse(
                "the guard's view was changed in place (sliced, inverted or its axes swapped); \
                 map the file again to grow it",
            );
        }
        Ok(Axis(outer_axis_of(order, ndim)))
    }
}

impl<A: Pod, D: Dimension> MmapArrayMut<A, D> {
    /// The error for an appended array of shape `found`.
    fn append_shape_error(&self, axis: Axis, found: Vec<usize>) -> Error {
        Error::AppendShape {
            path: self.path().to_path_buf(),
            axis: axis.index(),
            expected: self.shape().to_vec(),
            found,
        }
    }

    /// Checks that an array of shape `found` matches this one on every axis but `axis`.
    fn check_rows(&self, axis: Axis, found: &[usize]) -> Result<()> {
        let shape = self.shape();
        let fits = found.len() == shape.len()
            && shape.iter().zip(found).enumerate().all(|(i, (a, b))| i == axis.index() || a == b);
        if fits { Ok(()) } else { Err(self.append_shape_error(axis, found.to_vec())) }
    }

    /// The overflow error for `len` elements along `axis`.
    fn overflow(&self, axis: Axis, len: usize) -> Error {
        let mut shape = self.shape().to_vec();
        shape[axis.index()] = len;
        Error::Overflow { path: Some(self.path().to_path_buf()), shape, elem_size: size_of::<A>() }
    }

    /// The layout of this array with `len` elements along `axis`, in its growth order.
    fn layout_for(&self, axis: Axis, len: usize) -> Result<ArrayLayout<D>> {
        let mut dim = self.raw_dim();
        dim[axis.index()] = len;
        let fortran = self.growth().order == Some(Order::ColumnMajor);
        let shape: StrideShape<D> = dim.set_f(fortran).into();
        let layout =
            ArrayLayout::new(&shape, Elem::of::<A>(), true).map_err(|e| e.at_path(self.path()))?;
        if self.offset().checked_add(layout.span as u64).is_none() {
            return Err(self.overflow(axis, len));
        }
        Ok(layout)
    }

    /// The layout of this array as it is.
    fn current_layout(&self, axis: Axis) -> Result<ArrayLayout<D>> {
        self.layout_for(axis, self.len_of(axis))
    }

    /// The layout for `len` elements along `axis` and, for `.npy` files, the header that
    /// states it; with `may_defer`, a header that the next commit writes (sync on grow) is
    /// only built when it may not fit as the last one did. Nothing is written.
    fn new_shape(&self, axis: Axis, len: usize, may_defer: bool) -> Result<NewShape<D>> {
        let layout = self.layout_for(axis, len)?;
        let digits = len.checked_ilog10().map_or(1, |d| d as usize + 1);
        let growth = self.growth();
        let deferred = may_defer
            && growth.sync
            && growth.built_digits == Some(digits)
            && matches!(growth.on_disk, ShapeOnDisk::Header { stated: Some(_), .. });
        if deferred {
            return Ok(NewShape { layout, header: None, deferred, digits });
        }
        let header = match &growth.on_disk {
            ShapeOnDisk::Raw => None,
            ShapeOnDisk::Header { bytes, format, .. } => {
                let path = || self.path().to_path_buf();
                let mut header = bytes.clone().unwrap_or_default();
                format.rewrite_shape(&mut header, layout.dim.slice()).map_err(|e| match e {
                    HeaderError::ShapeDoesNotFit { needed, available } => Error::NpyHeaderFull {
                        path: path(),
                        shape: layout.dim.slice().to_vec(),
                        needed,
                        available,
                    },
                    HeaderError::ShapeOverflow { .. } => self.overflow(axis, len),
                    detail => Error::Npy { path: path(), detail },
                })?;
                Some(header)
            }
        };
        Ok(NewShape { layout, header, deferred, digits })
    }

    /// Grows the file and the map so that they hold at least `span` bytes of data.
    fn ensure_capacity(&mut self, axis: Axis, span: usize) -> Result<()> {
        let layout = self.current_layout(axis)?;
        let row = row_bytes(self.shape(), axis, size_of::<A>()).max(1);
        let (growth, source, _) = self.growth_parts();
        let Some(file) = source.file.as_ref().filter(|_| span > growth.map_len) else {
            return Ok(());
        };
        // Rows appended since the last commit become visible in the header now, once on disk:
        // a commit per reservation, so a logarithmic number of syncs for a run of appends.
        if growth.commit(source).map_err(|e| Error::io(&source.path, "commit", 0, e))? {
            growth.unsynced = true;
        }
        let old = growth.map_len;
        // Whole steps along the growth axis, so that a raw file left at its capacity (by a
        // crash) still holds a whole number of them.
        let limit = isize::MAX.unsigned_abs() / row * row;
        let roomy = old.saturating_add((old / 2).clamp(MIN_STEP, MAX_STEP)).min(limit);
        let roomy = roomy.div_ceil(row).saturating_mul(row).min(limit).max(span);
        let from = source.offset + old as u64;
        let end = |cap: usize| source.offset.saturating_add(cap as u64);
        let mut cap = roomy;
        let mut reserved = map::file::reserve(file, from, end(cap));
        if let Err(e) = &reserved
            && e.kind() == io::ErrorKind::StorageFull
            && roomy > span
        {
            // A disk too full for the spare room may still hold what the array needs.
            let _ = file.set_len(from);
            cap = span;
            reserved = map::file::reserve(file, from, end(cap));
        }
        if let Err(e) = reserved {
            // fallocate may have grown the file before failing: give the bytes back.
            let _ = file.set_len(from);
            return Err(Error::io(&source.path, "reserve space for", end(cap), e));
        }
        growth.tail = true;
        self.remap_view(Some(cap), &layout)?;
        self.growth_mut().map_len = cap;
        Ok(())
    }

    /// Writes `rows` (if laid out in the file's order) with a positional write into the
    /// capacity just past the view's `span` bytes, where no reference reaches; returns
    /// whether it did. Writing through the map instead would fault in every page first.
    fn write_beyond_view(
        &self,
        axis: Axis,
        span: usize,
        rows: &ArrayView<'_, A, D>,
    ) -> Result<bool> {
        let contiguous = if axis.index() == 0 {
            rows.to_slice()
        } else {
            rows.view().reversed_axes().to_slice()
        };
        let (Some(elements), Some(file)) = (contiguous, &self.backing.file) else {
            return Ok(false);
        };
        let at = self.offset() + span as u64;
        map::file::write_all_at(file, bytemuck::cast_slice(elements), at)
            .map_err(|e| Error::io(self.path(), "write", at, e))?;
        Ok(true)
    }

    /// Makes a grown shape visible in the file. For `.npy` files with sync on grow (the
    /// default), the new header waits for the next commit (group commit: flush, close,
    /// drop, or the next reservation of capacity), which writes it once the data is on
    /// disk; without, the header is rewritten now. On error the array goes back to the
    /// `old` layout.
    fn publish(&mut self, old: &ArrayLayout<D>, plan: NewShape<D>) -> Result<()> {
        let new_span = plan.layout.span;
        let growth = self.growth_mut();
        growth.zero_from = growth.zero_from.max(new_span);
        let shape = plan.layout.dim.slice();
        let header = match plan.header {
            Some(header) => header,
            None if plan.deferred => {
                growth.set_stated_shape(shape);
                growth.pending.store(true, Ordering::Release);
                return Ok(());
            }
            None => return Ok(()),
        };
        growth.built_digits = Some(plan.digits);
        if growth.sync {
            growth.set_header_bytes(header, shape);
            growth.pending.store(true, Ordering::Release);
            return Ok(());
        }
        match self.write_header(Some(&header), plan.layout.dim.slice(), false) {
            Ok(()) => Ok(()),
            Err(e) => self.remap_view(None, old).and(Err(e)),
        }
    }

    /// Waits until what was written to the file is on disk (`fdatasync`), an earlier
    /// header included.
    fn sync_file(&mut self) -> Result<()> {
        let (growth, source, _) = self.growth_parts();
        if let Some(file) = &source.file {
            file.sync_data().map_err(|e| Error::io(&source.path, "sync", 0, e))?;
            growth.unsynced = false;
        }
        Ok(())
    }

    /// Writes `header` (if any) at the start of the file; with `sync`, waits until it is on
    /// disk. (Otherwise it gets there with the next sync: the next growth's, `flush`'s or
    /// `close`'s, or the kernel's own write-back.)
    fn write_header(&mut self, header: Option<&[u8]>, shape: &[usize], sync: bool) -> Result<()> {
        let Some(header) = header else {
            return Ok(());
        };
        let (growth, source, _) = self.growth_parts();
        if let Some(file) = &source.file {
            write_prefix(file, header)
                .and_then(|()| if sync { file.sync_data() } else { Ok(()) })
                .map_err(|e| Error::io(&source.path, "write the header of", 0, e))?;
            growth.unsynced |= !sync;
        }
        growth.set_header_bytes(header.to_vec(), shape);
        growth.pending.store(false, Ordering::Release);
        Ok(())
    }
}

/// Bytes of one step along `axis`: the product of the other axes and the element size
/// (`usize::MAX` if it overflows; such an array cannot grow).
fn row_bytes(shape: &[usize], axis: Axis, elem: usize) -> usize {
    shape
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != axis.index())
        .try_fold(elem, |acc, (_, &d)| acc.checked_mul(d))
        .unwrap_or(usize::MAX)
}
