//! Gathers (see [Gathers and filters](super#gathers-and-filters)): rows at any list of indices along an axis ([`Zip::select`], as ndarray's
//! `select` and NumPy's `x[indices]`) and windows at a list of starts along axis 0
//! ([`Zip::select_windows`], `np.stack([x[s:s + len] for s in starts])`, nanoGPT's random
//! batches from a token file), from a mapped or in-memory array of any memory order, into a
//! new array or an output the caller gives (a mapped one for a large selection).
//!
//! How a gather reads (from the file where it can, asking for the pages of missing rows at
//! once): see [Gathers and filters](super#gathers-and-filters).

use std::ops::Range;

use bytemuck::Pod;
use ndarray::{Array, ArrayView, ArrayViewMut, Axis, Dimension, Slice};

use super::operand::{ChunkView, Footprint, Hooks};
use super::{DEFAULT_CHUNK_BYTES, Operand, Zip};
use crate::error::{Error, Result};
use crate::guard::pages::page_size;

impl<'a, A: Pod, D: Dimension> Zip<'a, (ArrayView<'a, A, D>,), D> {
    /// Gathers the slabs at `indices` along `axis` into a new array, in the order given
    /// (repeats allowed), as ndarray's [`select`](ndarray::ArrayRef::select) and NumPy's
    /// `np.take(x, indices, axis)`: the result has the input's shape with `axis` as long
    /// as `indices`, in C order. Rows not in the page cache have their pages asked for at
    /// once, so that a cold gather's random reads run together (see
    /// [Gathers and filters](crate::chunked#gathers-and-filters)).
    ///
    /// # Errors
    ///
    /// Before anything is read: [`Error::AxisOutOfRange`]; [`Error::IndexOutOfBounds`] for
    /// the first index past the end of `axis`; [`Error::Overflow`] if the result would
    /// exceed `isize::MAX` bytes. [`Error::Io`] if the kernel refuses a hint.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// Array2::from_shape_fn((1000, 3), |(i, j)| (10 * i + j) as f32).save_npy(&path)?;
    /// let x = unsafe { Array2::<f32>::map_npy(&path)? };
    ///
    /// let rows = ndmmap::chunked::Zip::from(&x).select(Axis(0), &[7, 999, 7])?;
    /// assert_eq!(rows, x.select(Axis(0), &[7, 999, 7]));
    /// assert_eq!(rows.row(1).to_vec(), [9990.0, 9991.0, 9992.0]);
    ///
    /// let err = ndmmap::chunked::Zip::from(&x).select(Axis(0), &[3, 1000]).unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::IndexOutOfBounds { index: 1000, position: 1, len: 1000, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn select(self, axis: Axis, indices: &[usize]) -> Result<Array<A, D>> {
        let mut shape = self.dim.clone();
        check_indices(&shape, axis, indices)?;
        shape[axis.index()] = indices.len();
        let mut out = new_output::<A, D>(shape)?;
        select_impl(self, axis, indices, out.view_mut(), Hooks::default())?;
        Ok(out)
    }

    /// Gathers the slabs at `indices` along `axis` into `out`, as
    /// [`select`](Self::select) does into a new array: `out` is a mapped array
    /// (`&mut guard`, written back and released chunk by chunk as any output of the
    /// engine, and flushed at the end) or a plain one, of any memory order, with the
    /// input's shape but `indices.len()` along `axis`.
    ///
    /// # Errors
    ///
    /// As [`select`](Self::select), and [`Error::SelectionShapeMismatch`] if `out` has
    /// another shape, before anything is read or written; [`Error::Io`] or
    /// [`Error::NoSpace`] if the final flush of a mapped output fails.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array2::from_shape_fn((100, 4), |(i, j)| (i * 4 + j) as u32);
    /// let mut out = unsafe { Array2::<u32>::create_npy(dir.path().join("picked.npy"), (3, 4))? };
    /// ndmmap::chunked::Zip::from(&x).select_into(Axis(0), &[5, 0, 99], &mut out)?;
    /// assert_eq!(*out, x.select(Axis(0), &[5, 0, 99]));
    ///
    /// let mut wrong = Array2::<u32>::zeros((2, 4));
    /// let err = ndmmap::chunked::Zip::from(&x).select_into(Axis(0), &[5, 0, 99], &mut wrong);
    /// assert!(matches!(err, Err(ndmmap::Error::SelectionShapeMismatch { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn select_into<O>(self, axis: Axis, indices: &[usize], out: O) -> Result<()>
    where
        O: Operand<'a, Dim = D, View = ArrayViewMut<'a, A, D>>,
    {
        let mut shape = self.dim.clone();
        check_indices(&shape, axis, indices)?;
        shape[axis.index()] = indices.len();
        let (view, hooks) = out.into_chunks();
        check_output(shape.slice(), view.shape())?;
        select_impl(self, axis, indices, view, hooks)
    }

    /// Gathers the windows `x[s..s + len]` along axis 0 for each `s` in `starts` into a
    /// new array of shape `(starts.len(), len, ...)` (the input's other axes follow), in C
    /// order: a batch of token sequences from a token file, as nanoGPT's
    /// `np.stack([data[i:i + block_size] for i in ix])`. Windows may overlap. Windows not
    /// in the page cache have their pages asked for at once, so that a cold batch's random
    /// reads run together (see [Gathers and filters](crate::chunked#gathers-and-filters)).
    ///
    /// # Errors
    ///
    /// Before anything is read: [`Error::AxisOutOfRange`] for a zero-dimensional input;
    /// [`Error::WindowOutOfBounds`] for the first window that ends past axis 0;
    /// [`Error::Overflow`] if the result would exceed `isize::MAX` bytes. [`Error::Io`] if
    /// the kernel refuses a hint.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("tokens.bin");
    /// let tokens: Vec<u16> = (0..10_000).map(|i| (i % 50_257) as u16).collect();
    /// std::fs::write(&path, bytemuck::cast_slice(&tokens))?;
    /// let data = unsafe { Array1::<u16>::map_file(&path)? };
    ///
    /// let batch = ndmmap::chunked::Zip::from(&data).select_windows(&[0, 5000, 9990], 8)?;
    /// assert_eq!(batch.shape(), [3, 8]);
    /// assert_eq!(batch.row(1).to_vec(), (5000..5008).collect::<Vec<u16>>());
    ///
    /// let err = ndmmap::chunked::Zip::from(&data).select_windows(&[9995], 8).unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::WindowOutOfBounds { start: 9995, window: 8, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn select_windows(self, starts: &[usize], len: usize) -> Result<Array<A, D::Larger>> {
        let shape = windows_shape(&self.dim, starts, len)?;
        let mut out = new_output::<A, D::Larger>(shape)?;
        windows_impl(self, starts, len, out.view_mut(), Hooks::default())?;
        Ok(out)
    }

    /// Gathers the windows `x[s..s + len]` along axis 0 for each `s` in `starts` into
    /// `out`, as [`select_windows`](Self::select_windows) does into a new array: `out` is a
    /// mapped array (`&mut guard`) or a plain one, of any memory order, of shape
    /// `(starts.len(), len, ...)`.
    ///
    /// # Errors
    ///
    /// As [`select_windows`](Self::select_windows), and
    /// [`Error::SelectionShapeMismatch`] if `out` has another shape, before anything is
    /// read or written; [`Error::Io`] or [`Error::NoSpace`] if the final flush of a mapped
    /// output fails.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = Array2::from_shape_fn((50, 2), |(i, j)| (2 * i + j) as i64);
    /// let mut batch = Array3::<i64>::zeros((2, 3, 2).f()); // any memory order
    /// ndmmap::chunked::Zip::from(&x).select_windows_into(&[10, 47], 3, &mut batch)?;
    /// assert_eq!(batch.index_axis(Axis(0), 1), x.slice(s![47..50, ..]));
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn select_windows_into<O>(self, starts: &[usize], len: usize, out: O) -> Result<()>
    where
        O: Operand<'a, Dim = D::Larger, View = ArrayViewMut<'a, A, D::Larger>>,
    {
        let shape = windows_shape(&self.dim, starts, len)?;
        let (view, hooks) = out.into_chunks();
        check_output(shape.slice(), view.shape())?;
        windows_impl(self, starts, len, view, hooks)
    }
}

/// Checks `axis` and `indices` against an input of shape `dim`.
fn check_indices<D: Dimension>(dim: &D, axis: Axis, indices: &[usize]) -> Result<()> {
    let (axis, ndim) = (axis.index(), dim.ndim());
    if axis >= ndim {
        return Err(Error::AxisOutOfRange { axis, ndim });
    }
    let len = dim[axis];
    match indices.iter().position(|&i| i >= len) {
        Some(position) => {
            Err(Error::IndexOutOfBounds { index: indices[position], position, axis, len })
        }
        None => Ok(()),
    }
}

/// The shape of the windows of `len` at `starts` of an input of shape `dim`, checked.
fn windows_shape<D: Dimension>(dim: &D, starts: &[usize], len: usize) -> Result<D::Larger> {
    if dim.ndim() == 0 {
        return Err(Error::AxisOutOfRange { axis: 0, ndim: 0 });
    }
    let rows = dim[0];
    let past = |&s: &usize| s.checked_add(len).is_none_or(|end| end > rows);
    if let Some(position) = starts.iter().position(past) {
        let start = starts[position];
        return Err(Error::WindowOutOfBounds { start, window: len, position, len: rows });
    }
    let mut shape = D::Larger::zeros(dim.ndim() + 1);
    shape[0] = starts.len();
    shape[1] = len;
    shape.slice_mut()[2..].copy_from_slice(&dim.slice()[1..]);
    Ok(shape)
}

/// An output of the selection's `expected` shape, or [`Error::SelectionShapeMismatch`].
fn check_output(expected: &[usize], actual: &[usize]) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    Err(Error::SelectionShapeMismatch { expected: expected.to_vec(), actual: actual.to_vec() })
}

/// A zeroed C-order array of `shape`, or [`Error::Overflow`] past `isize::MAX` bytes.
fn new_output<A: Pod, E: Dimension>(shape: E) -> Result<Array<A, E>> {
    super::check_result_size::<A>(shape.slice())?;
    Ok(Array::from_elem(shape, A::zeroed()))
}

/// [`Zip::select_into`] once checked: the input with `axis` swapped to the front, each
/// output row one slab of it.
fn select_impl<'b, A: Pod, D: Dimension>(
    mut zip: Zip<'b, (ArrayView<'b, A, D>,), D>,
    axis: Axis,
    indices: &[usize],
    mut out: ArrayViewMut<'b, A, D>,
    out_hooks: Hooks<'b>,
) -> Result<()> {
    let mut source = zip.parts.0.clone();
    source.swap_axes(0, axis.index());
    out.swap_axes(0, axis.index());
    let input = std::mem::take(&mut zip.hooks).into_iter().next().unwrap_or_default();
    let rows_of = |r: usize| indices[r]..indices[r] + 1;
    let slab_of = |rows: Range<usize>| source.slice_axis(Axis(0), Slice::from(rows));
    gather(zip, &input, &source.footprint(), (out, out_hooks), rows_of, slab_of)
}

/// [`Zip::select_windows_into`] once checked: each output row one window, seen with a
/// new axis in front.
fn windows_impl<'b, A: Pod, D: Dimension>(
    mut zip: Zip<'b, (ArrayView<'b, A, D>,), D>,
    starts: &[usize],
    len: usize,
    out: ArrayViewMut<'b, A, D::Larger>,
    out_hooks: Hooks<'b>,
) -> Result<()> {
    let source = zip.parts.0.clone();
    let input = std::mem::take(&mut zip.hooks).into_iter().next().unwrap_or_default();
    let rows_of = |r: usize| starts[r]..starts[r] + len;
    let slab_of =
        |rows: Range<usize>| source.slice_axis(Axis(0), Slice::from(rows)).insert_axis(Axis(0));
    gather(zip, &input, &source.footprint(), (out, out_hooks), rows_of, slab_of)
}

/// Walks `out` in chunks of whole rows (axis 0) with `zip`'s settings: output row `r`
/// gets `slab_of(rows_of(r))`, the rows `rows_of(r)` along axis 0 of an input whose
/// elements lie as `footprint` says and whose pages `input` hooks. Each chunk's input
/// pages are asked for before the chunk before it is copied.
fn gather<'b, A: Pod, D: Dimension, E: Dimension>(
    zip: Zip<'b, (ArrayView<'b, A, D>,), D>,
    input: &Hooks<'b>,
    footprint: &Footprint,
    (out, out_hooks): (ArrayViewMut<'b, A, E>, Hooks<'b>),
    rows_of: impl Fn(usize) -> Range<usize>,
    slab_of: impl Fn(Range<usize>) -> ArrayView<'b, A, E>,
) -> Result<()> {
    let mapped_output = out_hooks.addresses().is_some();
    let bytes = out.len().saturating_mul(size_of::<A>());
    let dim = out.raw_dim();
    let mut walk = zip.over((out,), vec![out_hooks], dim);
    walk.settings.cut = Some(0);
    let hinted = input.addresses().is_some() && walk.settings.read_ahead;
    let chunk = walk.settings.chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES);
    if !mapped_output {
        // Nothing to read ahead or write back on a plain array: no helper threads, and
        // chunks of the given or default size, the memory available not asked.
        walk.settings.read_ahead = false;
        walk.settings.write_behind = false;
        walk.settings.chunk_bytes = Some(chunk);
    }
    // A selection within a chunk or so touches few input pages; larger ones drop each
    // chunk's input pages once copied, so that the resident set stays bounded.
    let release = walk.settings.release_after_use && bytes > chunk;
    let pages = |rows: &mut dyn Iterator<Item = usize>| -> Vec<Range<usize>> {
        merged_pages(rows.flat_map(|r| footprint.pieces(0, rows_of(r))).collect())
    };
    let advise = |rows: &mut dyn Iterator<Item = usize>| -> Result<()> {
        pages(rows).iter().try_for_each(|span| input.will_need(span))
    };
    let total = walk.dim[0];
    let mut start = 0;
    // Whether some row was not in the page cache: from then on, each chunk's pages are
    // asked for while the chunk before it is copied. Until then a gather asks for nothing,
    // since each row is first read from the page cache alone, where the platform can.
    let mut from_disk = false;
    walk.run(false, |(mut chunk,), _| {
        let n = chunk.len_of(Axis(0));
        let mut rows: Vec<_> = chunk.axis_chunks_iter_mut(Axis(0), 1).collect();
        let mut missed = Vec::new();
        for (k, row) in rows.iter_mut().enumerate() {
            if !read_from_file(input, &slab_of(rows_of(start + k)), row, false)? {
                missed.push(k);
            }
        }
        if hinted && !missed.is_empty() && !from_disk {
            // All of this chunk's missing pages at once: the reads go to the disk together.
            advise(&mut missed.iter().map(|&k| start + k))?;
            from_disk = true;
        }
        if hinted && from_disk {
            // The next chunk's pages, read while this one is copied.
            advise(&mut ((start + n).min(total)..(start + 2 * n).min(total)))?;
        }
        for k in missed {
            let slab = slab_of(rows_of(start + k));
            if !read_from_file(input, &slab, &mut rows[k], true)? {
                rows[k].assign(&slab);
            }
        }
        if release {
            pages(&mut (start..start + n)).iter().try_for_each(|span| input.release(span))?;
        }
        start += n;
        Ok::<(), Error>(())
    })
}

/// Copies `slab` into `row` by reading the file behind the input's map, where the map is
/// a shared map of a file (which shows what the file holds) and both are contiguous in C
/// order: one positioned read, which copies from the page cache without mapping its pages
/// into this process (no page faults, no resident set). Without `wait`, only if the page
/// cache holds all of it (and the platform can tell). Returns whether it did.
fn read_from_file<A: Pod, E: Dimension>(
    input: &Hooks<'_>,
    slab: &ArrayView<'_, A, E>,
    row: &mut ArrayViewMut<'_, A, E>,
    wait: bool,
) -> Result<bool> {
    let (Some(from), Some(to)) = (slab.as_slice(), row.as_slice_mut()) else {
        return Ok(false);
    };
    let Some((file, offset, path)) = input.file_at(from.as_ptr() as usize) else {
        return Ok(false);
    };
    if from.is_empty() || from.len() != to.len() {
        return Ok(false);
    }
    let to = bytemuck::cast_slice_mut(to);
    if !wait {
        return Ok(crate::map::file::read_cached_at(file, to, offset));
    }
    crate::map::file::read_exact_at(file, to, offset)
        .map_err(|e| Error::io(path, "read", offset, e))?;
    Ok(true)
}

/// `spans` (addresses) widened to whole pages, sorted, and merged where they overlap or
/// touch: one hint per run of pages.
fn merged_pages(mut spans: Vec<Range<usize>>) -> Vec<Range<usize>> {
    let page = page_size();
    spans.retain(|s| !s.is_empty());
    for span in &mut spans {
        *span = span.start / page * page..span.end.div_ceil(page) * page;
    }
    spans.sort_unstable_by_key(|s| s.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => merged.push(span),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::merged_pages;
    use crate::guard::pages::page_size;

    #[test]
    fn merged_pages_widens_sorts_and_joins() {
        let p = page_size();
        let spans = vec![3 * p + 1..3 * p + 2, 0..1, p - 1..p + 1, 7 * p..7 * p, 10 * p..11 * p];
        assert_eq!(merged_pages(spans), [0..2 * p, 3 * p..4 * p, 10 * p..11 * p]);
    }
}
