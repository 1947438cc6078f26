//! What the engine runs over: the operands (guards and plain arrays), their views, how a
//! tuple of them is split into chunks, and the page hooks of the guards behind them.

use std::fs::File;
use std::ops::Range;
use std::path::Path;

use bytemuck::{AnyBitPattern, Pod};
use ndarray::iter::Indices;
use ndarray::{
    ArrayBase, ArrayRef, ArrayView, ArrayViewMut, Axis, Data, DataMut, Dimension, NdProducer, Order,
};

use crate::error::Result;
use crate::guard::pages::Pages;
use crate::guard::{MmapArray, MmapArrayMut};
use crate::layout::{address_span, outer_axis_of, outermost_axis};
use crate::options::Advice;

/// Turns an operand into its whole view and the hooks for the map behind it.
pub trait IntoChunks<'a> {
    /// The operand's dimension type.
    type Dim: Dimension;
    /// The view that is split into chunks.
    type View: ChunkView<Self::Dim>;
    /// The whole view and the map hooks.
    fn into_chunks(self) -> (Self::View, Hooks<'a>);
}

/// An ndarray producer the engine can split: a view, or the element indices of
/// [`Zip::indexed`](super::Zip::indexed).
pub trait ChunkView<D: Dimension>: NdProducer<Dim = D> + Sized {
    /// Splits at `index` along `axis` (as ndarray's `split_at`).
    fn split(self, axis: Axis, index: usize) -> (Self, Self);
    /// Where the elements lie.
    #[doc(hidden)]
    fn footprint(&self) -> Footprint;
    /// Whether the view is contiguous in `order` (never, for indices: their values depend
    /// on the shape, so they cannot be flattened).
    fn contiguous(&self, order: Order) -> bool;
    /// Reshapes a view contiguous in `order` so that all its elements lie along
    /// `axis` (0 for C order, the last for Fortran order).
    fn flatten(self, order: Order) -> Self;
}

/// A tuple of [`ChunkView`]s, split and inspected together.
pub(super) trait Parts<D: Dimension>: Sized {
    /// Splits every view at `index` along `axis`.
    fn split(self, axis: Axis, index: usize) -> (Self, Self);
    /// Where each view's elements lie.
    fn footprints(&self) -> Vec<Footprint>;
    /// Flattens every view (all contiguous in `order`).
    fn flatten(self, order: Order) -> Self;
    /// Whether every view is contiguous in `order`.
    fn contiguous(&self, order: Order) -> bool;
}

/// The kernel hooks of one operand: the pages of the guard behind it (none for a plain
/// array), and whether the engine writes it.
#[derive(Debug, Default)]
pub struct Hooks<'a> {
    pages: Option<Pages<'a>>,
    writes: bool,
}

impl<'a> Hooks<'a> {
    /// The hooks of a guard's pages that the engine only reads: for operands built from a
    /// guard's view changed in shape (an axis inserted or the axes reversed).
    pub(super) fn reading(pages: Pages<'a>) -> Self {
        Hooks { pages: Some(pages), writes: false }
    }
}

impl Hooks<'_> {
    /// The addresses of the map behind the operand, if it is mapped.
    pub(super) fn addresses(&self) -> Option<Range<usize>> {
        self.pages.as_ref().map(Pages::addresses)
    }

    /// The open file behind the map at address `at`, the offset of that byte in it and
    /// the file's path, where the file holds what the map shows (a shared map of a file):
    /// see `Pages::file_at`.
    pub(super) fn file_at(&self, at: usize) -> Option<(&File, u64, &Path)> {
        self.pages.as_ref().and_then(|pages| pages.file_at(at))
    }

    /// Whether the engine writes this operand.
    pub(super) fn writes(&self) -> bool {
        self.writes
    }

    /// Passes `advice` for the pages of `span` (addresses) to the kernel.
    pub(super) fn advise(&self, advice: Advice, span: &Range<usize>) -> Result<()> {
        self.pages.as_ref().map_or(Ok(()), |pages| pages.advise(advice, span))
    }

    /// The pages of `span` (addresses) in the page cache now, as sorted address ranges;
    /// all of `span` where that cannot be told (a plain array, a map without a file, not
    /// Linux), so that they are treated as cached.
    pub(super) fn cached(&self, span: &Range<usize>) -> Vec<Range<usize>> {
        let cached = self.pages.as_ref().and_then(|pages| pages.cached(span));
        cached.unwrap_or_else(|| vec![span.clone()])
    }

    /// Reads the pages of `span` (addresses) into the page cache now, without mapping them.
    pub(super) fn read_ahead(&self, span: &Range<usize>) -> Result<()> {
        self.pages.as_ref().map_or(Ok(()), |pages| pages.read_ahead(span))
    }

    /// Asks for the pages of `span` (addresses) to be read into the page cache, without
    /// waiting.
    pub(super) fn will_need(&self, span: &Range<usize>) -> Result<()> {
        self.pages.as_ref().map_or(Ok(()), |pages| pages.will_need(span))
    }

    /// Faults the pages of `span` (addresses) in now; writable if the engine writes them.
    pub(super) fn prefault(&self, span: &Range<usize>) -> Result<()> {
        self.pages.as_ref().map_or(Ok(()), |pages| pages.prefault(span, self.writes))
    }

    /// Drops the pages of `span` (addresses) from the resident set.
    pub(super) fn release(&self, span: &Range<usize>) -> Result<()> {
        self.pages.as_ref().map_or(Ok(()), |pages| pages.release(span))
    }

    /// Starts writing `span` back, if the engine wrote it.
    pub(super) fn write_behind(&self, span: &Range<usize>) -> Result<()> {
        match &self.pages {
            Some(pages) if self.writes => pages.start_write_back(span),
            _ => Ok(()),
        }
    }

    /// Waits for `span`'s write-back and evicts it from the page cache, if the engine
    /// wrote it; if it only read it, evicts it as `eviction` says.
    pub(super) fn settle(&self, span: &Range<usize>, eviction: Eviction<'_>) -> Result<()> {
        match &self.pages {
            Some(pages) if self.writes => pages.finish_write_back(span),
            Some(pages) if eviction.inputs => {
                pages.evict(span, eviction.whole_folios_below, eviction.kept)
            }
            _ => Ok(()),
        }
    }

    /// Flushes the whole map, if the engine wrote it, so that write errors are reported.
    pub(super) fn flush(&self) -> Result<()> {
        match &self.pages {
            Some(pages) if self.writes => pages.flush(),
            _ => Ok(()),
        }
    }
}

/// Whether the engine evicts the pages of an operand it only read, once done with them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Eviction<'k> {
    /// Evict input pages (those not in `kept`) that the walk read from disk: see
    /// `budget::Plan::evict_inputs`.
    pub(super) inputs: bool,
    /// Pages that stay: those that were in the page cache when the walk began (addresses,
    /// sorted).
    pub(super) kept: &'k [Range<usize>],
    /// Also evict from the start of the huge page that the range starts in: the operand is
    /// walked up through memory, so everything below the range is done with (see
    /// [`Pages::evict`](crate::guard::pages::Pages::evict)).
    pub(super) whole_folios_below: bool,
}

/// At most this many pieces per chunk for an operand that crosses the cut: a few system
/// calls each, and each piece holds at least a page (see `schedule::thickness`), so past
/// this a chunk holds 256 MiB of it or more.
const MAX_PIECES: usize = 1 << 16;

/// Above this stride in bytes, runs along an axis are one element per page anyway.
const CROSSING_CAP: usize = 1 << 16;

/// Where a view's elements lie: enough to compute the address span of any slab. Indices
/// have an element size of zero and lie nowhere.
#[derive(Clone, Debug)]
pub struct Footprint {
    origin: usize,
    elem: usize,
    dims: Vec<usize>,
    steps: Vec<isize>,
}

impl Footprint {
    /// The addresses spanned by the elements `rows` along `axis` (empty if none).
    pub(super) fn span(&self, axis: usize, rows: Range<usize>) -> Range<usize> {
        if rows.is_empty() || self.elem == 0 {
            return 0..0;
        }
        // Fits: the elements lie inside one allocation of at most isize::MAX bytes.
        let first = self.origin.cast_signed()
            + rows.start.cast_signed() * self.steps[axis] * self.elem.cast_signed();
        let mut dims = self.dims.clone();
        dims[axis] = rows.len();
        address_span(first.cast_unsigned(), self.elem, &dims, &self.steps)
    }

    /// The addresses of the elements `rows` along `axis`: one range, as
    /// [`span`](Self::span), for an operand cut along its own outermost memory axis; for
    /// one that crosses the cut (a Fortran-order map walked in row blocks), one range per
    /// run of its own: per combination of indices along the axes whose steps are longer
    /// than `axis`'s (per column, in that example), in memory order. Piece `k` of two calls
    /// is the same run, so that a chunk's pieces pair with the rest of the walk's. None (no
    /// hints) past [`MAX_PIECES`] runs.
    pub(super) fn pieces(&self, axis: usize, rows: Range<usize>) -> Vec<Range<usize>> {
        let outer = self.run_axes(axis);
        if outer.is_empty() {
            return vec![self.span(axis, rows)];
        }
        let count = outer.iter().map(|&k| self.dims[k]).product::<usize>();
        if count > MAX_PIECES {
            return Vec::new();
        }
        if rows.is_empty() {
            return vec![0..0; count];
        }
        let mut dims = self.dims.clone();
        dims[axis] = rows.len();
        for &k in &outer {
            dims[k] = 1;
        }
        // Fits: the elements lie inside one allocation of at most isize::MAX bytes.
        let bytes =
            |index: usize, k: usize| index.cast_signed() * self.steps[k] * self.elem.cast_signed();
        let first = self.origin.cast_signed() + bytes(rows.start, axis);
        let mut index = vec![0; outer.len()];
        let mut pieces = Vec::with_capacity(count);
        for _ in 0..count {
            let at: isize = outer.iter().zip(&index).map(|(&k, &i)| bytes(i, k)).sum();
            pieces.push(address_span((first + at).cast_unsigned(), self.elem, &dims, &self.steps));
            // The next combination, the axis with the shortest steps fastest.
            for (i, &k) in index.iter_mut().zip(&outer).rev() {
                *i += 1;
                if *i < self.dims[k] {
                    break;
                }
                *i = 0;
            }
        }
        pieces
    }

    /// Whether [`pieces`](Self::pieces) gives ranges for a walk cut along `axis` (it gives
    /// none past [`MAX_PIECES`] runs).
    pub(super) fn has_pieces(&self, axis: usize) -> bool {
        self.run_axes(axis).iter().map(|&k| self.dims[k]).product::<usize>() <= MAX_PIECES
    }

    /// The axes (longer than one) along which this operand's steps are longer than along
    /// `axis`, longest first: empty for an operand cut along its own outermost memory axis
    /// and for indices.
    fn run_axes(&self, axis: usize) -> Vec<usize> {
        if self.elem == 0 || self.outer_axis().is_none_or(|own| own == axis) {
            return Vec::new();
        }
        let step = |k: usize| self.steps[k].unsigned_abs();
        let mut longer: Vec<usize> = (0..self.dims.len())
            .filter(|&k| k != axis && self.dims[k] > 1 && step(k) > step(axis))
            .collect();
        longer.sort_by_key(|&k| std::cmp::Reverse(step(k)));
        longer
    }

    /// The bytes one step along `axis` moves in memory (at least one element): how long a
    /// run of consecutive indices along `axis` lies in memory, per index.
    pub(super) fn run_bytes(&self, axis: usize) -> usize {
        (self.steps[axis].unsigned_abs() * self.elem).clamp(1, CROSSING_CAP)
    }

    /// The axis along which this operand is cut into slabs (see [`outermost_axis`]).
    pub(super) fn outer_axis(&self) -> Option<usize> {
        outermost_axis(&self.dims, &self.steps)
    }

    /// This footprint with a new axis at `axis` of length `len` along which it does not
    /// move in memory: the output of a reduction along `axis`, as the input's chunks see
    /// it (every index along `axis` lands on the same element).
    pub(super) fn broadcast_along(mut self, axis: usize, len: usize) -> Self {
        self.dims.insert(axis, len);
        self.steps.insert(axis, 0);
        self
    }

    /// Whether the operand stays in place along `axis` (a stride of zero over more than one
    /// index): every chunk cut along `axis` touches all of it.
    pub(super) fn stays_along(&self, axis: usize) -> bool {
        self.elem > 0 && self.dims[axis] > 1 && self.steps[axis] == 0
    }

    /// How many elements the operand holds (its broadcast axes counted once).
    pub(super) fn elements(&self) -> usize {
        self.dims.iter().zip(&self.steps).filter(|(_, s)| **s != 0).map(|(d, _)| *d).product()
    }

    /// The element size in bytes (0 for indices).
    pub(super) fn elem(&self) -> usize {
        self.elem
    }

    /// The length of `axis`.
    #[cfg(feature = "rayon")]
    pub(super) fn len_of(&self, axis: usize) -> usize {
        self.dims[axis]
    }
}

/// The same `ChunkView` for shared and mutable views: ndarray gives both the same methods.
macro_rules! chunk_view {
    ($($view:ident),*) => {$(
        impl<'a, A: 'a, D: Dimension> ChunkView<D> for $view<'a, A, D> {
            fn split(self, axis: Axis, index: usize) -> (Self, Self) {
                self.split_at(axis, index)
            }
            fn footprint(&self) -> Footprint {
                Footprint {
                    origin: self.as_ptr() as usize,
                    elem: size_of::<A>(),
                    dims: self.shape().to_vec(),
                    steps: self.strides().to_vec(),
                }
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

impl<D: Dimension + Copy> ChunkView<D> for Indices<D> {
    fn split(self, axis: Axis, index: usize) -> (Self, Self) {
        self.split_at(axis, index)
    }
    fn footprint(&self) -> Footprint {
        let dims = self.raw_dim();
        // C-order steps, so that the layout check treats indices as a C-order array.
        let steps = dims.default_strides().slice().iter().map(|&s| s.cast_signed()).collect();
        Footprint { origin: 0, elem: 0, dims: dims.slice().to_vec(), steps }
    }
    fn contiguous(&self, _: Order) -> bool {
        false
    }
    fn flatten(self, _: Order) -> Self {
        self
    }
}

impl<'a, D: Dimension + Copy> IntoChunks<'a> for Indices<D> {
    type Dim = D;
    type View = Indices<D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        (self, Hooks::default())
    }
}

/// `dim` with every element along the outermost memory axis of `order` (axis 0 for C,
/// the last for Fortran) and every other axis of length one.
pub(super) fn flat_dim<D: Dimension>(dim: &D, order: Order) -> D {
    let mut flat = dim.clone();
    let len = dim.size();
    let outer = outer_axis_of(order, dim.ndim());
    for (k, d) in flat.slice_mut().iter_mut().enumerate() {
        *d = if k == outer { len } else { 1 };
    }
    flat
}

macro_rules! impl_parts {
    ($($p:ident $x:ident $i:tt),+) => {
        impl<D: Dimension, $($p: ChunkView<D>),+> Parts<D> for ($($p,)+) {
            fn split(self, axis: Axis, index: usize) -> (Self, Self) {
                $(let $x = self.$i.split(axis, index);)+
                (($($x.0,)+), ($($x.1,)+))
            }
            fn footprints(&self) -> Vec<Footprint> {
                vec![$(self.$i.footprint()),+]
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
        (self.view(), Hooks { pages: Some(self.pages()), writes: false })
    }
}

impl<'a, A: Pod + Sync, D: Dimension> IntoChunks<'a> for &'a MmapArrayMut<A, D> {
    type Dim = D;
    type View = ArrayView<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        (self.view(), Hooks { pages: Some(self.pages()), writes: false })
    }
}

impl<'a, A: Pod, D: Dimension> IntoChunks<'a> for &'a mut MmapArrayMut<A, D> {
    type Dim = D;
    type View = ArrayViewMut<'a, A, D>;
    fn into_chunks(self) -> (Self::View, Hooks<'a>) {
        let (view, pages) = self.view_mut_and_pages();
        (view, Hooks { pages: Some(pages), writes: true })
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

#[cfg(test)]
mod tests;
