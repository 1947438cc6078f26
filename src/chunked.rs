//! The out-of-core engine: [`Zip`] runs element-wise work over mapped arrays one chunk
//! at a time, so that arrays larger than RAM are processed at the speed of the disk with
//! a small, fixed resident set.
//!
//! A plain [`ndarray::Zip`] over mapped arrays works, but on arrays larger than RAM every
//! page it touches stays in the process's resident set, the kernel reads ahead only as far
//! as its own heuristics go, and the written pages pile up dirty until the final flush.
//! This module's [`Zip`] has the same shape as ndarray's (`from`, `and`, `for_each`,
//! `par_for_each`, `fold`) and walks the arrays in slabs along their outermost memory axis
//! (axis 0 for C order, the last axis for Fortran order). Around each chunk it
//!
//! - asks the kernel to read the *next* chunk of every mapped input ahead
//!   (`MADV_WILLNEED`, after `MADV_SEQUENTIAL` on the input's map), on a helper thread;
//! - starts writing back the finished chunk of every output on the same helper thread
//!   (`sync_file_range` on Linux, a range flush elsewhere), so that write-back runs behind
//!   the computation and the computation never waits to queue I/O;
//! - drops the finished chunk's pages from the process's resident set (`MADV_DONTNEED`,
//!   which for shared maps loses nothing), so that peak RSS stays near a few chunks
//!   whatever the size of the arrays;
//! - a few chunks later, once a finished output chunk is on disk, drops it from the page
//!   cache too (`POSIX_FADV_DONTNEED`, see [`Zip::evict_written`]), so that the output's
//!   page cache stays bounded and new chunks reuse its memory;
//! - reports progress to an optional callback;
//!
//! and it flushes every output before returning, so that write errors (a full disk, an I/O
//! error) come back as an [`Error`] instead of being lost.
//!
//! Shapes are checked before anything is read or written ([`Error::ShapeMismatch`]), and
//! so are layouts: operands whose outermost memory axes differ (a C-order array with a
//! Fortran-order one) cannot be walked in slabs of all of them and give
//! [`Error::LayoutMismatch`].
//!
//! # Example
//!
//! The seed's `Numeric.add(a, b, c)`, in bounded memory, on every core with the `rayon`
//! feature (`for_each` without it):
//!
//! ```
//! use ndmmap::prelude::*;
//!
//! let dir = tempfile::tempdir()?;
//! let (a_path, b_path, c_path) =
//!     (dir.path().join("a.bin"), dir.path().join("b.bin"), dir.path().join("c.bin"));
//! let n: u64 = 100_000;
//! let values: Vec<f64> = (0..n).map(|i| i as f64).collect();
//! std::fs::write(&a_path, bytemuck::cast_slice(&values))?;
//! std::fs::write(&b_path, bytemuck::cast_slice(&values))?;
//!
//! // SAFETY: no other process touches files in this fresh temporary folder.
//! let a = unsafe { Array2::<f64>::map_file_with(&a_path, &MapOptions::new().shape((1000, 100)))? };
//! // SAFETY: as above.
//! let b = unsafe { Array2::<f64>::map_file_with(&b_path, &MapOptions::new().shape((1000, 100)))? };
//! // SAFETY: as above.
//! let mut c = unsafe { Array2::<f64>::create_file(&c_path, a.raw_dim())? };
//!
//! let mut reports = 0;
//! ndmmap::chunked::Zip::from(&mut c)
//!     .and(&a)
//!     .and(&b)
//!     .chunk_bytes(64 << 10) // 64 KiB chunks, to show several on a small array
//!     .progress(|done, total| { reports += 1; assert!(done <= total) })
//!     .for_each(|c, &a, &b| *c = a + b)?; // flushed when it returns
//! assert_eq!(c[[999, 99]], 2.0 * 99_999.0);
//! assert!(reports > 1);
//!
//! // A reduction, chunk by chunk: each call gets a whole chunk as an ndarray view.
//! let total = ndmmap::chunked::Zip::from(&c).fold(0.0, |acc, chunk| acc + chunk.sum())?;
//! assert_eq!(total, 2.0 * (n * (n - 1) / 2) as f64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Memory and I/O
//!
//! The resident set holds about two chunks per mapped operand (the current one, and the
//! next one being read ahead). The page cache, which is not part of the resident set, is
//! left to the kernel for inputs: finished input pages stay cached (clean, so the kernel
//! can drop them at once when memory runs short). Finished output pages are written back
//! as the computation goes and, by default, evicted once written (a few chunks stay in flight,
//! see [`Zip::evict_written`]), so that writing a large
//! output neither crowds the inputs out of the cache nor waits at the end for a pile of
//! dirty pages. Only shared maps are released: a copy-on-write output keeps its
//! changed pages, which exist nowhere else.
//!
//! Plain ndarray views (`ArrayView`, `&Array`, `&mut Array`, ...) may be mixed with the
//! mapped guards; they are chunked the same way and get no kernel hints.

use std::fmt;
use std::ops::Range;
use std::sync::mpsc;

use bytemuck::{AnyBitPattern, Pod};
use memmap2::MmapMut;
use ndarray::{
    ArrayBase, ArrayRef, ArrayView, ArrayViewMut, Axis, Data, DataMut, Dimension, NdProducer, Order,
};

use crate::error::{Error, Result};
use crate::guard::{MmapArray, MmapArrayMut, Source};
use crate::options::{Access, Mode};

/// Default chunk size in bytes of the widest operand; see [`Zip::chunk_bytes`].
pub const DEFAULT_CHUNK_BYTES: usize = 8 << 20;

/// With [`Zip::evict_written`], how many finished chunks of each output may be in flight
/// (dirty or being written back) before the helper thread waits for the oldest and drops
/// it from the page cache.
const EVICT_LAG: usize = 4;

/// An array a chunked [`Zip`] can run over: a guard (`&MmapArray`, `&MmapArrayMut` to read,
/// `&mut MmapArrayMut` to write) or a plain ndarray array (`ArrayView`, `ArrayViewMut`,
/// `&ArrayRef`, `&mut ArrayRef`, `&Array`, `&mut Array`).
///
/// Guards get the engine's kernel hints (read-ahead, write-behind, release); plain arrays
/// are only chunked.
///
/// This trait is sealed: it is implemented for the types above only.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("c.bin");
/// // SAFETY: no other process touches files in this fresh temporary folder.
/// let mut c = unsafe { Array1::<i64>::create_file(&path, 5)? };
/// let a = array![1i64, 2, 3, 4, 5]; // in memory
/// ndmmap::chunked::Zip::from(&mut c).and(&a).for_each(|c, &a| *c = 10 * a)?;
/// assert_eq!(std::fs::read(&path)?, bytemuck::cast_slice(&[10i64, 20, 30, 40, 50]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Operand<'a>: seal::IntoChunks<'a> {}

impl<'a, T: seal::IntoChunks<'a>> Operand<'a> for T {}

/// The engine's machinery, public only inside the crate's sealed traits.
mod seal {
    use super::{Axis, Dimension, Hooks, NdProducer, Order};

    /// Turns an operand into its whole view and the hooks for the map behind it.
    pub trait IntoChunks<'a> {
        /// The operand's dimension type.
        type Dim: Dimension;
        /// The view that is split into chunks.
        type View: ChunkView<Self::Dim>;
        /// The whole view and the map hooks.
        fn into_chunks(self) -> (Self::View, Hooks<'a>);
    }

    /// An ndarray view the engine can split.
    pub trait ChunkView<D: Dimension>: NdProducer<Dim = D> + Sized {
        /// Splits at `index` along `axis` (as ndarray's `split_at`).
        fn split(self, axis: Axis, index: usize) -> (Self, Self);
        /// The view's shape.
        fn dims(&self) -> &[usize];
        /// The view's strides, in elements.
        fn steps(&self) -> &[isize];
        /// Address of the first element.
        fn origin(&self) -> usize;
        /// Element size in bytes.
        fn elem_size(&self) -> usize;
        /// Whether the view is contiguous in `order`.
        fn contiguous(&self, order: Order) -> bool;
        /// Reshapes a view contiguous in `order` so that all its elements lie along
        /// `axis` (0 for C order, the last for Fortran order).
        fn flatten(self, order: Order) -> Self;
    }

    /// A tuple of [`ChunkView`]s, split and inspected together.
    pub(super) trait Parts<D: Dimension>: Sized {
        /// Splits every view at `index` along `axis`.
        fn split(self, axis: Axis, index: usize) -> (Self, Self);
        /// Calls `f` with each view's layout.
        fn layouts(&self) -> Vec<super::Layout>;
        /// Flattens every view (all contiguous in `order`).
        fn flatten(self, order: Order) -> Self;
        /// Whether every view is contiguous in `order`.
        fn contiguous(&self, order: Order) -> bool;
    }
}

use seal::{ChunkView, IntoChunks, Parts};

/// The kernel hooks of one operand: what the engine may ask of the map behind it.
#[derive(Default)]
pub struct Hooks<'a> {
    map: MapRef<'a>,
    /// Whether the operand is written.
    writes: bool,
}

#[derive(Default)]
enum MapRef<'a> {
    /// A plain array: no hooks.
    #[default]
    None,
    /// A guard borrowed shared: advice and release through its own methods.
    Shared { guard: &'a (dyn SharedHooks + Sync), addresses: Range<usize> },
    /// A guard borrowed uniquely, whose whole view the engine holds: its map and source,
    /// handed only to the kernel (see [`MmapArrayMut::view_mut_and_map`]).
    Unique { map: &'a MmapMut, source: &'a Source, addresses: Range<usize> },
}

impl fmt::Debug for Hooks<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = match &self.map {
            MapRef::None => "none",
            MapRef::Shared { .. } => "shared",
            MapRef::Unique { .. } => "unique",
        };
        f.debug_struct("Hooks").field("map", &map).field("writes", &self.writes).finish()
    }
}

/// Advice and release on a guard borrowed shared.
trait SharedHooks {
    fn advise_bytes(&self, access: Access, bytes: Range<usize>) -> Result<()>;
    fn release_bytes(&self, bytes: Range<usize>) -> Result<()>;
}

impl<A: 'static, D: Dimension> SharedHooks for MmapArray<A, D> {
    fn advise_bytes(&self, access: Access, bytes: Range<usize>) -> Result<()> {
        MmapArray::advise_bytes(self, access, bytes)
    }
    fn release_bytes(&self, bytes: Range<usize>) -> Result<()> {
        MmapArray::release_bytes(self, bytes)
    }
}

impl<A: 'static, D: Dimension> SharedHooks for MmapArrayMut<A, D> {
    fn advise_bytes(&self, access: Access, bytes: Range<usize>) -> Result<()> {
        MmapArrayMut::advise_bytes(self, access, bytes)
    }
    fn release_bytes(&self, bytes: Range<usize>) -> Result<()> {
        MmapArrayMut::release_bytes(self, bytes)
    }
}

impl Hooks<'_> {
    /// The map's address range, if there is a map.
    fn addresses(&self) -> Option<Range<usize>> {
        match &self.map {
            MapRef::None => None,
            MapRef::Shared { addresses, .. } | MapRef::Unique { addresses, .. } => {
                Some(addresses.clone())
            }
        }
    }

    /// Offsets into the map of the addresses `span`, clipped to the map.
    fn offsets(&self, span: &Range<usize>) -> Option<Range<usize>> {
        let map = self.addresses()?;
        let (start, end) = (span.start.max(map.start), span.end.min(map.end));
        (start < end).then(|| start - map.start..end - map.start)
    }

    fn advise(&self, access: Access, span: &Range<usize>) -> Result<()> {
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        match &self.map {
            MapRef::None => Ok(()),
            MapRef::Shared { guard, .. } => guard.advise_bytes(access, bytes),
            MapRef::Unique { map, source, .. } => crate::map::advise_range(*map, access, bytes)
                .map_err(|e| Error::io(&source.path, "advise", 0, e)),
        }
    }

    fn release(&self, span: &Range<usize>) -> Result<()> {
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        match &self.map {
            MapRef::None => Ok(()),
            MapRef::Shared { guard, .. } => guard.release_bytes(bytes),
            MapRef::Unique { map, source, addresses } => {
                if source.mode != Mode::ReadWrite {
                    return Ok(()); // a private map's changed pages exist nowhere else
                }
                crate::map::release_shared(map, addresses.len(), bytes)
                    .map_err(|e| Error::io(&source.path, "release", 0, e))
            }
        }
    }

    /// Starts writing back the pages of `span` that this operand wrote.
    fn write_behind(&self, span: &Range<usize>) -> Result<()> {
        let MapRef::Unique { map, source, .. } = &self.map else { return Ok(()) };
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        if !self.writes || source.mode != Mode::ReadWrite {
            return Ok(());
        }
        let started = match &source.file {
            Some(file) => {
                let offset = source.offset + bytes.start as u64;
                crate::map::start_write_back(file, offset, bytes.len() as u64)
                    .map_err(|e| Error::io(&source.path, "write back", offset, e))?
            }
            None => false,
        };
        if started {
            return Ok(());
        }
        map.flush_range(bytes.start, bytes.len())
            .map_err(|e| Error::io(&source.path, "flush", source.offset + bytes.end as u64, e))
    }

    /// Waits for the write-back of the pages of `span` that this operand wrote, then drops
    /// them from the page cache, so that the next chunks reuse their memory.
    fn settle(&self, span: &Range<usize>) -> Result<()> {
        let MapRef::Unique { source, .. } = &self.map else { return Ok(()) };
        let Some(bytes) = self.offsets(span) else { return Ok(()) };
        if !self.writes || source.mode != Mode::ReadWrite {
            return Ok(());
        }
        if let Some(file) = &source.file {
            let offset = source.offset + bytes.start as u64;
            crate::map::finish_write_back(file, offset, bytes.len() as u64)
                .map_err(|e| Error::io(&source.path, "write back", offset, e))?;
        }
        Ok(())
    }

    /// Writes every changed page to disk and waits (`msync(MS_SYNC)`), reporting errors
    /// of the earlier write-behind too.
    fn flush(&self) -> Result<()> {
        let MapRef::Unique { map, source, addresses } = &self.map else { return Ok(()) };
        if !self.writes || source.mode != Mode::ReadWrite || addresses.is_empty() {
            return Ok(());
        }
        let len = addresses.len();
        map.flush_range(0, len)
            .map_err(|e| Error::io(&source.path, "flush", source.offset + len as u64, e))
    }
}

/// Where a view's elements lie: enough to compute the address span of any slab.
#[derive(Debug)]
struct Layout {
    origin: usize,
    elem: usize,
    dims: Vec<usize>,
    steps: Vec<isize>,
}

impl Layout {
    fn of<D: Dimension, V: ChunkView<D>>(view: &V) -> Self {
        Layout {
            origin: view.origin(),
            elem: view.elem_size(),
            dims: view.dims().to_vec(),
            steps: view.steps().to_vec(),
        }
    }

    /// The addresses spanned by the elements `rows` along `axis` (empty if none).
    fn span(&self, axis: usize, rows: Range<usize>) -> Range<usize> {
        if rows.is_empty() || self.dims.iter().enumerate().any(|(k, &d)| k != axis && d == 0) {
            return 0..0;
        }
        let elem = self.elem.cast_signed();
        // Fits: the elements lie inside one allocation of at most isize::MAX bytes.
        let mut lo = self.origin.cast_signed() + rows.start.cast_signed() * self.steps[axis] * elem;
        let mut hi = lo + elem;
        for (k, (&d, &s)) in self.dims.iter().zip(&self.steps).enumerate() {
            let d = if k == axis { rows.len() } else { d };
            let reach = (d - 1).cast_signed() * s * elem;
            if reach < 0 {
                lo += reach;
            } else {
                hi += reach;
            }
        }
        lo.cast_unsigned()..hi.cast_unsigned()
    }

    /// The axis with the largest stride among those longer than one, if any.
    fn outer_axis(&self) -> Option<usize> {
        (0..self.dims.len())
            .filter(|&k| self.dims[k] > 1)
            .max_by_key(|&k| (self.steps[k].unsigned_abs(), std::cmp::Reverse(k)))
    }
}

/// The same `ChunkView` for shared and mutable views: ndarray gives both the same methods.
macro_rules! chunk_view {
    ($($view:ident),*) => {$(
        impl<'a, A: 'a, D: Dimension> ChunkView<D> for $view<'a, A, D> {
            fn split(self, axis: Axis, index: usize) -> (Self, Self) {
                self.split_at(axis, index)
            }
            fn dims(&self) -> &[usize] {
                self.shape()
            }
            fn steps(&self) -> &[isize] {
                self.strides()
            }
            fn origin(&self) -> usize {
                self.as_ptr() as usize
            }
            fn elem_size(&self) -> usize {
                size_of::<A>()
            }
            fn contiguous(&self, order: Order) -> bool {
                if order == Order::RowMajor {
                    self.is_standard_layout()
                } else {
                    self.t().is_standard_layout()
                }
            }
            fn flatten(self, order: Order) -> Self {
                let dim = flat_dim(&self.raw_dim(), order);
                self.into_shape_with_order((dim, order)).expect("contiguous in the given order")
            }
        }
    )*};
}

chunk_view!(ArrayView, ArrayViewMut);

/// `dim` with every element along the outermost memory axis of `order` (axis 0 for C,
/// the last for Fortran) and every other axis of length one.
fn flat_dim<D: Dimension>(dim: &D, order: Order) -> D {
    let mut flat = dim.clone();
    let len = dim.size();
    let outer = outer_axis_of(order, dim.ndim());
    for (k, d) in flat.slice_mut().iter_mut().enumerate() {
        *d = if k == outer { len } else { 1 };
    }
    flat
}

fn outer_axis_of(order: Order, ndim: usize) -> usize {
    if order == Order::RowMajor { 0 } else { ndim.saturating_sub(1) }
}

macro_rules! impl_parts {
    ($($p:ident $x:ident $i:tt),+) => {
        impl<D: Dimension, $($p: ChunkView<D>),+> Parts<D> for ($($p,)+) {
            fn split(self, axis: Axis, index: usize) -> (Self, Self) {
                $(let $x = self.$i.split(axis, index);)+
                (($($x.0,)+), ($($x.1,)+))
            }
            fn layouts(&self) -> Vec<Layout> {
                vec![$(Layout::of(&self.$i)),+]
            }
            fn flatten(self, order: Order) -> Self {
                ($(self.$i.flatten(order),)+)
            }
            fn contiguous(&self, order: Order) -> bool {
                $(self.$i.contiguous(order))&&+
            }
        }
    };
}

impl_parts!(P1 p1 0);
impl_parts!(P1 p1 0, P2 p2 1);
impl_parts!(P1 p1 0, P2 p2 1, P3 p3 2);
impl_parts!(P1 p1 0, P2 p2 1, P3 p3 2, P4 p4 3);
impl_parts!(P1 p1 0, P2 p2 1, P3 p3 2, P4 p4 3, P5 p5 4);
impl_parts!(P1 p1 0, P2 p2 1, P3 p3 2, P4 p4 3, P5 p5 4, P6 p6 5);

impl<'a, A: AnyBitPattern + Sync, D: Dimension> IntoChunks<'a> for &'a MmapArray<A, D> {
    type Dim = D;
    type View = ArrayView<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        let map = MapRef::Shared { guard: self, addresses: self.byte_addresses() };
        (self.view(), Hooks { map, writes: false })
    }
}

impl<'a, A: Pod + Sync, D: Dimension> IntoChunks<'a> for &'a MmapArrayMut<A, D> {
    type Dim = D;
    type View = ArrayView<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        let map = MapRef::Shared { guard: self, addresses: self.byte_addresses() };
        (self.view(), Hooks { map, writes: false })
    }
}

impl<'a, A: Pod, D: Dimension> IntoChunks<'a> for &'a mut MmapArrayMut<A, D> {
    type Dim = D;
    type View = ArrayViewMut<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        let addresses = self.byte_addresses();
        let (view, map, source) = self.view_mut_and_map();
        (view, Hooks { map: MapRef::Unique { map, source, addresses }, writes: true })
    }
}

impl<'a, A, D: Dimension> IntoChunks<'a> for ArrayView<'a, A, D> {
    type Dim = D;
    type View = ArrayView<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        (self, Hooks::default())
    }
}

impl<'a, A, D: Dimension> IntoChunks<'a> for ArrayViewMut<'a, A, D> {
    type Dim = D;
    type View = ArrayViewMut<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        (self, Hooks::default())
    }
}

impl<'a, A, D: Dimension> IntoChunks<'a> for &'a ArrayRef<A, D> {
    type Dim = D;
    type View = ArrayView<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        (self.view(), Hooks::default())
    }
}

impl<'a, A, D: Dimension> IntoChunks<'a> for &'a mut ArrayRef<A, D> {
    type Dim = D;
    type View = ArrayViewMut<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        (self.view_mut(), Hooks::default())
    }
}

impl<'a, A, S: Data<Elem = A>, D: Dimension> IntoChunks<'a> for &'a ArrayBase<S, D> {
    type Dim = D;
    type View = ArrayView<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        (self.view(), Hooks::default())
    }
}

impl<'a, A, S: DataMut<Elem = A>, D: Dimension> IntoChunks<'a> for &'a mut ArrayBase<S, D> {
    type Dim = D;
    type View = ArrayViewMut<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        (self.view_mut(), Hooks::default())
    }
}

/// The engine's settings.
#[derive(Clone, Copy, Debug)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one switch per builder method, as ndarray-style options"
)]
struct Settings {
    chunk_bytes: usize,
    read_ahead: bool,
    write_behind: bool,
    release: bool,
    evict_written: bool,
}

/// A chunked, bounded-memory [`ndarray::Zip`] over mapped arrays (and plain ones): see the
/// [module documentation](self).
///
/// Build it with [`Zip::from`] and [`and`](Zip::and) (one to six operands of one shape),
/// set options, then run [`for_each`](Zip::for_each), [`par_for_each`](Zip::par_for_each)
/// (`rayon` feature), [`try_for_each`](Zip::try_for_each), [`fold`](Zip::fold) or
/// [`par_fold`](Zip::par_fold).
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("c.bin");
/// // A Fortran-order output: chunks are slabs of columns.
/// // SAFETY: no other process touches files in this fresh temporary folder.
/// let mut c = unsafe {
///     Array2::<f32>::create_file_with(&path, &MapOptions::new().shape((300, 400).f()))?
/// };
/// let a = Array2::<f32>::ones((300, 400).f());
/// ndmmap::chunked::Zip::from(&mut c)
///     .and(&a)
///     .chunk_bytes(4096)
///     .for_each(|c, &a| *c = 2.0 * a)?;
/// assert!(c.iter().all(|&x| x == 2.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Zip<'a, P, D> {
    parts: P,
    hooks: Vec<Hooks<'a>>,
    dim: D,
    /// The first shape mismatch found while adding operands, reported when the Zip runs.
    mismatch: Option<Error>,
    settings: Settings,
    progress: Option<Box<dyn FnMut(usize, usize) + Send + 'a>>,
}

impl<P, D: Dimension> fmt::Debug for Zip<'_, P, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zip")
            .field("shape", &self.dim.slice())
            .field("operands", &self.hooks.len())
            .field("chunk_bytes", &self.settings.chunk_bytes)
            .field("read_ahead", &self.settings.read_ahead)
            .field("write_behind", &self.settings.write_behind)
            .field("release", &self.settings.release)
            .field("evict_written", &self.settings.evict_written)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a, P1: ChunkView<D>, D: Dimension> Zip<'a, (P1,), D> {
    /// Starts a chunked Zip over one operand (see [`Operand`]): `&mut guard` to write,
    /// `&guard` to read, or a plain ndarray array.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut c = unsafe { Array1::<u16>::create_file(&path, 3)? };
    /// ndmmap::chunked::Zip::from(&mut c).for_each(|c| *c = 7)?;
    /// assert_eq!(std::fs::read(&path)?, bytemuck::cast_slice(&[7u16, 7, 7]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::should_implement_trait, reason = "ndarray's `Zip::from`, by design")]
    pub fn from<O: Operand<'a, Dim = D, View = P1>>(operand: O) -> Self {
        let (view, hooks) = operand.into_chunks();
        Zip {
            dim: view.raw_dim(),
            parts: (view,),
            hooks: vec![hooks],
            mismatch: None,
            settings: Settings {
                chunk_bytes: DEFAULT_CHUNK_BYTES,
                read_ahead: true,
                write_behind: true,
                release: true,
                evict_written: true,
            },
            progress: None,
        }
    }
}

impl<'a, P, D: Dimension> Zip<'a, P, D> {
    /// Sets the chunk size: how many bytes of the widest operand each chunk spans
    /// (default [`DEFAULT_CHUNK_BYTES`], 8 MiB). A chunk is at least one slab along the
    /// outermost memory axis, or one element when every operand is contiguous.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let mut a = Array1::<f64>::zeros(10);
    /// let mut chunks = 0;
    /// ndmmap::chunked::Zip::from(&mut a)
    ///     .chunk_bytes(32) // 4 f64 per chunk: 3 chunks for 10 elements
    ///     .progress(|_, _| chunks += 1)
    ///     .for_each(|x| *x = 1.0)?;
    /// assert_eq!(chunks, 3);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[must_use]
    pub fn chunk_bytes(mut self, bytes: usize) -> Self {
        self.settings.chunk_bytes = bytes;
        self
    }

    /// Whether to ask the kernel to read the next chunk of every mapped input while the
    /// current one is computed (`MADV_WILLNEED`, after `MADV_SEQUENTIAL` on the input's
    /// map; default `true`). Outputs (`&mut` guards) get neither hint: on a new file both
    /// cost more than they save.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let mut a = Array1::<u8>::zeros(4);
    /// ndmmap::chunked::Zip::from(&mut a).read_ahead(false).for_each(|x| *x = 1)?;
    /// assert_eq!(a.sum(), 4);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[must_use]
    pub fn read_ahead(mut self, yes: bool) -> Self {
        self.settings.read_ahead = yes;
        self
    }

    /// Whether to start writing back each finished chunk of every mapped output
    /// (`sync_file_range` on Linux, a range flush elsewhere; default `true`). Without it
    /// the kernel writes in its own time, and the final flush does the rest.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut c = unsafe { Array1::<u8>::create_file(dir.path().join("c.bin"), 4)? };
    /// ndmmap::chunked::Zip::from(&mut c).write_behind(false).for_each(|x| *x = 1)?;
    /// assert_eq!(c.sum(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn write_behind(mut self, yes: bool) -> Self {
        self.settings.write_behind = yes;
        self
    }

    /// Whether to drop each finished chunk of every mapped operand from the process's
    /// resident set (`MADV_DONTNEED` on shared maps, which loses nothing; default `true`).
    /// Without it, the resident set grows with the arrays, as under a plain `Zip`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let mut a = Array1::<u8>::zeros(4);
    /// ndmmap::chunked::Zip::from(&mut a).release(false).for_each(|x| *x = 1)?;
    /// assert_eq!(a.sum(), 4);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[must_use]
    pub fn release(mut self, yes: bool) -> Self {
        self.settings.release = yes;
        self
    }

    /// Whether to drop each finished chunk of every mapped output from the page cache once
    /// it is on disk (default `true`): the helper thread keeps the last few chunks in
    /// flight, waits for the write-back of older ones (`sync_file_range` with
    /// `WAIT_BEFORE | WRITE | WAIT_AFTER`) and then evicts them (`POSIX_FADV_DONTNEED`,
    /// which keeps dirty and mapped pages). Linux only; elsewhere it does nothing. It acts
    /// only with [`write_behind`](Self::write_behind) and [`release`](Self::release) on.
    ///
    /// The output's page cache then stays at a few chunks instead of growing with the
    /// array, and new chunks reuse the memory of evicted ones instead of taking fresh pages
    /// (whose first touch is the main cost of writing a new file through a map). The price:
    /// reading the output back afterwards reads the disk. Turn it off when the output is
    /// read again soon and fits in RAM. Measured in `benches/RESULTS.md`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let mut c = unsafe { Array1::<u8>::create_file(&path, 100_000)? };
    /// ndmmap::chunked::Zip::from(&mut c)
    ///     .chunk_bytes(4096)
    ///     .evict_written(true)
    ///     .for_each(|x| *x = 3)?;
    /// drop(c);
    /// assert!(std::fs::read(&path)?.iter().all(|&x| x == 3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn evict_written(mut self, yes: bool) -> Self {
        self.settings.evict_written = yes;
        self
    }

    /// Calls `progress(done, total)` after each chunk, with the number of elements (per
    /// operand) finished so far and in all. It runs between chunks, on the thread that runs
    /// the Zip (it is `Send` so that the Zip can move into a thread pool's `install`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let mut a = Array2::<f64>::zeros((100, 10));
    /// let mut seen = Vec::new();
    /// ndmmap::chunked::Zip::from(&mut a)
    ///     .chunk_bytes(4000) // 500 f64 per chunk
    ///     .progress(|done, total| seen.push((done, total)))
    ///     .for_each(|x| *x = 1.0)?;
    /// assert_eq!(seen, [(500, 1000), (1000, 1000)]);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[must_use]
    pub fn progress(mut self, progress: impl FnMut(usize, usize) + Send + 'a) -> Self {
        self.progress = Some(Box::new(progress));
        self
    }

    /// The checks done before anything runs: shapes, then layouts.
    fn plan(&mut self, layouts: &[Layout], contiguous: Option<Order>) -> Result<Plan> {
        if let Some(err) = self.mismatch.take() {
            return Err(err);
        }
        let ndim = self.dim.ndim();
        let size = self.dim.size();
        if ndim == 0 || size == 0 {
            return Ok(Plan { axis: 0, len: usize::from(size > 0), per_row: size });
        }
        let axis = match contiguous {
            Some(order) => outer_axis_of(order, ndim),
            None => self.common_outer_axis(layouts)?,
        };
        let len = self.dim[axis];
        Ok(Plan { axis, len, per_row: size / len })
    }

    /// The outermost memory axis of the mapped operands (or, if none is mapped, of the
    /// first), which must agree.
    fn common_outer_axis(&self, layouts: &[Layout]) -> Result<usize> {
        let mapped: Vec<usize> =
            (0..layouts.len()).filter(|&i| self.hooks[i].addresses().is_some()).collect();
        let judged = if mapped.is_empty() { vec![0] } else { mapped };
        let mut first: Option<(usize, usize)> = None;
        for i in judged {
            let Some(axis) = layouts[i].outer_axis() else { continue };
            match first {
                None => first = Some((i, axis)),
                Some((_, expected)) if expected != axis => {
                    return Err(Error::LayoutMismatch { operand: i, expected, actual: axis });
                }
                Some(_) => {}
            }
        }
        Ok(first.map_or(0, |(_, axis)| axis))
    }

    /// Runs `work` on each chunk in order (with the chunk axis), with the kernel hints
    /// around it, then flushes. `flat`: whether `work` is element-wise, so that operands
    /// all contiguous in one order may be flattened.
    fn run<E: From<Error>>(
        mut self,
        flat: bool,
        mut work: impl FnMut(P, Axis) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E>
    where
        P: Parts<D>,
    {
        let contiguous = [Order::RowMajor, Order::ColumnMajor]
            .into_iter()
            .find(|&order| flat && self.dim.ndim() > 0 && self.parts.contiguous(order));
        let plan = self.plan(&self.parts.layouts(), contiguous)?;
        let Zip { parts, hooks, settings, mut progress, dim, .. } = self;
        if dim.ndim() == 0 {
            // One element, no axis to cut along.
            work(parts, Axis(0))?;
            if let Some(progress) = progress.as_mut() {
                progress(1, 1);
            }
            return flush_all(&hooks).map_err(E::from);
        }
        let (mut rest, len, per_row) = match contiguous {
            Some(order) => (parts.flatten(order), plan.len * plan.per_row, 1),
            None => (parts, plan.len, plan.per_row),
        };
        let layouts = rest.layouts();
        let widest = layouts.iter().map(|l| l.elem).max().unwrap_or(1).max(1);
        let rows = (settings.chunk_bytes / per_row.saturating_mul(widest).max(1)).max(1);
        let total = len * per_row;
        let axis = plan.axis;
        let spans = |start: usize, end: usize| -> Vec<Range<usize>> {
            layouts.iter().map(|l| l.span(axis, start..end)).collect()
        };

        if settings.read_ahead && len > 0 {
            for hook in &hooks {
                // Inputs only: measured, `MADV_SEQUENTIAL` on a new output file made the add
                // two to three times slower on cached data (1 GiB arrays).
                if let (Some(all), false) = (hook.addresses(), hook.writes) {
                    hook.advise(Access::Sequential, &all)?;
                }
            }
        }
        // Read-ahead and write-behind run on a helper thread, so that the computation never
        // waits for the kernel to queue I/O. The channel holds two jobs: if the disk falls
        // behind, the computation waits for it, and dirty pages stay bounded.
        let background = (settings.read_ahead || settings.write_behind) && len > 0;
        std::thread::scope(|scope| {
            let (sender, receiver) = mpsc::sync_channel::<Job>(2);
            let io = background.then(|| {
                let hooks = &hooks;
                scope.spawn(move || run_io(hooks, &receiver, settings.evict_written))
            });
            let outcome = (|| {
                if settings.read_ahead
                    && len > 0
                    && sender.send(Job::ReadAhead(spans(0, rows.min(len)))).is_err()
                {
                    return Ok(());
                }
                let mut done = 0;
                while done < len {
                    let n = rows.min(len - done);
                    if settings.read_ahead
                        && done + n < len
                        && sender
                            .send(Job::ReadAhead(spans(done + n, (done + n + rows).min(len))))
                            .is_err()
                    {
                        return Ok(()); // the helper stopped on an error, reported below
                    }
                    let (chunk, tail) = rest.split(Axis(axis), n);
                    rest = tail;
                    work(chunk, Axis(axis))?;
                    let this = spans(done, done + n);
                    done += n;
                    if settings.release {
                        for ((hook, span), later) in hooks.iter().zip(&this).zip(spans(done, len)) {
                            for piece in pages_outside(span, &later) {
                                hook.release(&piece)?;
                            }
                        }
                    }
                    if settings.write_behind && sender.send(Job::WriteBehind(this)).is_err() {
                        return Ok(());
                    }
                    if let Some(progress) = progress.as_mut() {
                        progress(done * per_row, total);
                    }
                }
                Ok(())
            })();
            drop(sender);
            let helper = io.map_or(Ok(()), |io| {
                io.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            });
            outcome.and(helper.map_err(E::from))
        })?;
        flush_all(&hooks).map_err(E::from)
    }
}

/// Work for the I/O helper thread: spans of each operand, in operand order.
enum Job {
    /// Ask the kernel to read these spans (`MADV_WILLNEED`).
    ReadAhead(Vec<Range<usize>>),
    /// Start writing back these spans of the outputs.
    WriteBehind(Vec<Range<usize>>),
}

/// The I/O helper: runs jobs until the channel closes or one fails.
///
/// With `evict`, write-behind keeps the last [`EVICT_LAG`] chunks in flight and settles the
/// older ones: waits for their write-back and drops them from the page cache.
fn run_io(hooks: &[Hooks<'_>], jobs: &mpsc::Receiver<Job>, evict: bool) -> Result<()> {
    let lag = if evict { EVICT_LAG } else { 0 };
    let mut pending = std::collections::VecDeque::new();
    for job in jobs {
        match job {
            Job::ReadAhead(spans) => {
                // Outputs are not read ahead: measured, `MADV_WILLNEED` on a new file's
                // unwritten blocks costs more than the faults it saves (zeroed pages made
                // twice as slow a job), and the fault path reads what an output does need.
                for (hook, span) in hooks.iter().zip(&spans).filter(|(hook, _)| !hook.writes) {
                    hook.advise(Access::WillNeed, span)?;
                }
            }
            Job::WriteBehind(spans) => {
                for (hook, span) in hooks.iter().zip(&spans) {
                    hook.write_behind(span)?;
                }
                if lag > 0 {
                    pending.push_back(spans);
                    while pending.len() > lag {
                        let old = pending.pop_front().expect("not empty");
                        for (hook, span) in hooks.iter().zip(&old) {
                            hook.settle(span)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Flushes every output.
fn flush_all(hooks: &[Hooks<'_>]) -> Result<()> {
    hooks.iter().try_for_each(Hooks::flush)
}

/// How a run walks the arrays: `len` rows along `axis`, each of `per_row` elements.
struct Plan {
    axis: usize,
    len: usize,
    per_row: usize,
}

/// The pages of `span` that hold no byte of `later` (the part still to be processed), in
/// at most two pieces: those may leave the resident set.
fn pages_outside(span: &Range<usize>, later: &Range<usize>) -> Vec<Range<usize>> {
    if span.is_empty() {
        return Vec::new();
    }
    let page = page_size();
    let start = span.start / page * page;
    let end = span.end.div_ceil(page) * page;
    if later.is_empty() {
        return std::iter::once(start..end).collect();
    }
    let (later_start, later_end) = (later.start / page * page, later.end.div_ceil(page) * page);
    let mut pieces = Vec::with_capacity(2);
    if start < later_start {
        pieces.push(start..end.min(later_start));
    }
    if end > later_end {
        pieces.push(start.max(later_end)..end);
    }
    pieces
}

fn page_size() -> usize {
    #[cfg(unix)]
    return rustix::param::page_size();
    #[cfg(not(unix))]
    return 4096;
}

/// ndarray's `Zip` over the given producers.
macro_rules! nd_zip {
    ($first:ident $(, $rest:ident)*) => { ndarray::Zip::from($first)$(.and($rest))* };
}

macro_rules! impl_zip {
    ($($p:ident $x:ident),+ ; $($next:ident)?) => {
        impl<'a, D: Dimension, $($p: ChunkView<D>),+> Zip<'a, ($($p,)+), D> {
            impl_zip!(@and $($p $x)+ ; $($next)?);

            /// Calls `f` on every element (in lock step over the operands, as
            /// [`ndarray::Zip::for_each`]), chunk by chunk, then flushes the outputs.
            ///
            /// # Errors
            ///
            /// [`Error::ShapeMismatch`] or [`Error::LayoutMismatch`] before anything runs;
            /// [`Error::Io`] or [`Error::NoSpace`] if advice, write-back or the final flush
            /// fails.
            ///
            /// # Panics
            ///
            /// If `f` panics, the panic propagates; chunks already done stay written (in the
            /// page cache) but are not flushed.
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let dir = tempfile::tempdir()?;
            /// let path = dir.path().join("c.bin");
            /// // SAFETY: no other process touches files in this fresh temporary folder.
            /// let mut c = unsafe { Array2::<f64>::create_file(&path, (4, 3))? };
            /// let a = Array2::from_shape_fn((4, 3), |(i, j)| (3 * i + j) as f64);
            /// ndmmap::chunked::Zip::from(&mut c).and(&a).for_each(|c, &a| *c = a * a)?;
            /// assert_eq!(c[[3, 2]], 121.0);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn for_each<F>(self, mut f: F) -> Result<()>
            where
                F: FnMut($($p::Item),+),
            {
                self.run(true, |($($x,)+), _| {
                    nd_zip!($($x),+).for_each(&mut f);
                    Ok(())
                })
            }

            /// Calls the fallible `f` on every element, chunk by chunk, and stops at the
            /// first error, which it returns (`E` may be any error type that an
            /// [`Error`] converts into, e.g. `Box<dyn Error>`). On success the outputs are
            /// flushed; after an error, the elements done stay written (in the page cache)
            /// but are not flushed.
            ///
            /// # Errors
            ///
            /// The first error of `f`, or those of [`for_each`](Self::for_each).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let mut a: Array1<f64> = array![1.0, 4.0, -1.0, 9.0];
            /// let err = ndmmap::chunked::Zip::from(&mut a)
            ///     .try_for_each(|x| {
            ///         if *x < 0.0 {
            ///             return Err(format!("negative input {x}").into());
            ///         }
            ///         *x = x.sqrt();
            ///         Ok::<(), Box<dyn std::error::Error>>(())
            ///     })
            ///     .unwrap_err();
            /// assert_eq!(err.to_string(), "negative input -1");
            /// assert_eq!(a, array![1.0, 2.0, -1.0, 9.0]); // stopped at the bad element
            /// ```
            pub fn try_for_each<F, E>(self, mut f: F) -> std::result::Result<(), E>
            where
                F: FnMut($($p::Item),+) -> std::result::Result<(), E>,
                E: From<Error>,
            {
                self.run(true, |($($x,)+), _| {
                    nd_zip!($($x),+)
                        .fold_while(Ok(()), |_, $($x),+| match f($($x),+) {
                            Ok(()) => ndarray::FoldWhile::Continue(Ok(())),
                            Err(e) => ndarray::FoldWhile::Done(Err(e)),
                        })
                        .into_inner()
                })
            }

            /// Calls `f` on every element on rayon's thread pool, chunk after chunk (each
            /// chunk is split among the threads), then flushes the outputs.
            ///
            /// # Errors
            ///
            /// As [`for_each`](Self::for_each).
            ///
            /// # Panics
            ///
            /// As [`for_each`](Self::for_each).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let mut c = Array1::<u32>::zeros(1000);
            /// let a = Array1::from_shape_fn(1000, |i| i as u32);
            /// ndmmap::chunked::Zip::from(&mut c).and(&a).par_for_each(|c, &a| *c = a + 1)?;
            /// assert_eq!(c.sum(), 500_500);
            /// # Ok::<(), ndmmap::Error>(())
            /// ```
            #[cfg(feature = "rayon")]
            #[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
            pub fn par_for_each<F>(self, f: F) -> Result<()>
            where
                F: Fn($($p::Item),+) + Sync + Send,
                $($p: Send, $p::Item: Send,)+
            {
                self.run(true, |($($x,)+), _| {
                    nd_zip!($($x),+).par_for_each(&f);
                    Ok(())
                })
            }

            /// Folds whole chunks: `f(acc, chunk, ...)` gets the accumulator and each
            /// operand's chunk as an ndarray view (a slab along the outermost memory axis:
            /// whole rows for C order, whole columns for Fortran order), in order. Outputs
            /// written through mutable chunk views are flushed at the end.
            ///
            /// # Errors
            ///
            /// As [`for_each`](Self::for_each).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let a = Array2::from_shape_fn((1000, 8), |(i, j)| (i * 8 + j) as f64);
            /// let (min, max) = ndmmap::chunked::Zip::from(&a)
            ///     .chunk_bytes(4096)
            ///     .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), chunk| {
            ///         chunk.fold((lo, hi), |(lo, hi), &x| (lo.min(x), hi.max(x)))
            ///     })?;
            /// assert_eq!((min, max), (0.0, 7999.0));
            /// # Ok::<(), ndmmap::Error>(())
            /// ```
            pub fn fold<T, F>(self, init: T, mut f: F) -> Result<T>
            where
                F: FnMut(T, $($p),+) -> T,
            {
                let mut acc = Some(init);
                self.run(false, |($($x,)+), _| {
                    let value = acc.take().expect("the accumulator is put back after each chunk");
                    acc = Some(f(value, $($x),+));
                    Ok::<(), Error>(())
                })?;
                Ok(acc.expect("the accumulator is put back after each chunk"))
            }

            /// Folds whole chunks on rayon's thread pool: each chunk is cut into pieces
            /// along the same axis, each piece is folded from `identity()` by `f`, and the
            /// results are merged with `combine` (which must be associative, as with
            /// rayon's `reduce`). Chunks run one after another, so memory stays bounded.
            ///
            /// # Errors
            ///
            /// As [`for_each`](Self::for_each).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let a = Array1::from_shape_fn(10_000, |i| (i % 10) as u8);
            /// // A histogram of the values.
            /// let counts = ndmmap::chunked::Zip::from(&a).par_fold(
            ///     || [0usize; 10],
            ///     |mut counts, chunk| {
            ///         chunk.for_each(|&x| counts[usize::from(x)] += 1);
            ///         counts
            ///     },
            ///     |mut x, y| {
            ///         x.iter_mut().zip(y).for_each(|(x, y)| *x += y);
            ///         x
            ///     },
            /// )?;
            /// assert_eq!(counts, [1000; 10]);
            /// # Ok::<(), ndmmap::Error>(())
            /// ```
            #[cfg(feature = "rayon")]
            #[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
            pub fn par_fold<T, I, F, C>(self, identity: I, f: F, combine: C) -> Result<T>
            where
                T: Send,
                I: Fn() -> T + Sync + Send,
                F: Fn(T, $($p),+) -> T + Sync + Send,
                C: Fn(T, T) -> T + Sync + Send,
                $($p: Send,)+
            {
                use ndarray::parallel::prelude::*;
                let mut acc = Some(identity());
                self.run_pieces(|pieces: Vec<($($p,)+)>| {
                    let value = pieces
                        .into_par_iter()
                        .map(|($($x,)+)| f(identity(), $($x),+))
                        .reduce(&identity, &combine);
                    let before = acc.take().expect("the accumulator is put back after each chunk");
                    acc = Some(combine(before, value));
                })?;
                Ok(acc.expect("the accumulator is put back after each chunk"))
            }
        }
    };
    (@and $($p:ident $x:ident)+ ; $next:ident) => {
        /// Adds an operand (see [`Operand`]) of the same shape as the first.
        ///
        /// A shape mismatch is reported, as [`Error::ShapeMismatch`], when the Zip runs,
        /// before anything is read or written.
        ///
        /// # Example
        ///
        /// ```
        /// use ndmmap::prelude::*;
        ///
        /// let mut c = Array1::<i32>::zeros(3);
        /// let (a, b) = (array![1, 2, 3], array![10, 20]);
        /// let err = ndmmap::chunked::Zip::from(&mut c).and(&a).and(&b)
        ///     .for_each(|c, &a, &b| *c = a + b)
        ///     .unwrap_err();
        /// assert!(matches!(err, ndmmap::Error::ShapeMismatch { operand: 2, .. }));
        /// assert_eq!(c, array![0, 0, 0]);
        /// ```
        pub fn and<O: Operand<'a, Dim = D>>(self, operand: O) -> Zip<'a, ($($p,)+ O::View,), D> {
            let (view, hooks) = operand.into_chunks();
            let Zip { parts: ($($x,)+), hooks: mut all, dim, mut mismatch, settings, progress } = self;
            if mismatch.is_none() && view.raw_dim() != dim {
                mismatch = Some(Error::ShapeMismatch {
                    operand: all.len(),
                    expected: dim.slice().to_vec(),
                    actual: view.raw_dim().slice().to_vec(),
                });
            }
            all.push(hooks);
            Zip { parts: ($($x,)+ view,), hooks: all, dim, mismatch, settings, progress }
        }
    };
    (@and $($p:ident $x:ident)+ ; ) => {};
}

impl_zip!(P1 p1; P2);
impl_zip!(P1 p1, P2 p2; P3);
impl_zip!(P1 p1, P2 p2, P3 p3; P4);
impl_zip!(P1 p1, P2 p2, P3 p3, P4 p4; P5);
impl_zip!(P1 p1, P2 p2, P3 p3, P4 p4, P5 p5; P6);
impl_zip!(P1 p1, P2 p2, P3 p3, P4 p4, P5 p5, P6 p6;);

impl<P, D: Dimension> Zip<'_, P, D> {
    /// As [`run`](Self::run) without flattening, handing `work` each chunk cut into up to
    /// [`PIECES`] pieces along the chunk axis, for a parallel fold.
    #[cfg(feature = "rayon")]
    fn run_pieces(self, mut work: impl FnMut(Vec<P>)) -> Result<()>
    where
        P: Parts<D>,
    {
        let ndim = self.dim.ndim();
        self.run(false, |chunk: P, axis| {
            if ndim == 0 {
                work(vec![chunk]);
                return Ok::<(), Error>(());
            }
            let mut left = chunk.layouts()[0].dims[axis.index()];
            let pieces = PIECES.min(left).max(1);
            let mut out = Vec::with_capacity(pieces);
            let mut rest = chunk;
            for k in (2..=pieces).rev() {
                let take = left.div_ceil(k);
                let (piece, tail) = rest.split(axis, take);
                out.push(piece);
                rest = tail;
                left -= take;
            }
            out.push(rest);
            work(out);
            Ok(())
        })
    }
}

/// How many pieces [`Zip::par_fold`] cuts each chunk into: enough to balance any pool.
#[cfg(feature = "rayon")]
const PIECES: usize = 64;
