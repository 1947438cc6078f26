//! Scans along an axis: [`Zip::cumsum`], [`Zip::cumprod`] and the general
//! [`Zip::accumulate_axis`] (NumPy's `ufunc.accumulate`, ndarray's
//! [`accumulate_axis_inplace`](ndarray::ArrayRef::accumulate_axis_inplace)), into an owned
//! array, into an output the caller gives (`_into`, a mapped one for a large result), or in
//! place on a writable operand ([`Zip::accumulate_axis_inplace`]).
//!
//! Each chunk is copied into its part of the output and scanned there in memory with
//! ndarray's `accumulate_axis_inplace`. When the engine cuts the chunks along the scanned
//! axis, each chunk starts from the carry, a copy of the previous chunk's last slab along
//! that axis (one element per lane), so that the result is the one a scan of the whole array
//! gives; when it cuts them along another axis, each chunk holds whole lanes and starts
//! afresh. The chunks run in order on the calling thread, as the scan's dependence along
//! each lane asks; the output is written back and released behind the walk as any output
//! of the engine, so memory stays a few chunks.

use std::ops::{Add, Mul};

use ndarray::{Array, ArrayView, ArrayViewMut, Axis, Dimension, RemoveAxis, ShapeBuilder};

use super::operand::{Hooks, Parts};
use super::{Operand, Zip};
use crate::error::{Error, Result};

/// Scans `chunk` in place along `axis` with `f` (ndarray's `accumulate_axis_inplace`),
/// its first slab first combined with `carry`, the last slab of the chunk before it along
/// `axis` (if any); leaves the chunk's own last slab in `carry`.
fn scan_chunk<A: Clone, D: RemoveAxis>(
    mut chunk: ArrayViewMut<'_, A, D>,
    axis: Axis,
    carry: &mut Option<Array<A, D::Smaller>>,
    f: &mut impl FnMut(&A, &mut A),
) {
    let len = chunk.len_of(axis);
    if len == 0 {
        return;
    }
    if let Some(previous) = carry.as_ref() {
        ndarray::Zip::from(previous).and(chunk.index_axis_mut(axis, 0)).for_each(&mut *f);
    }
    chunk.accumulate_axis_inplace(axis, &mut *f);
    *carry = Some(chunk.index_axis(axis, len - 1).to_owned());
}

/// `axis` if an array of `ndim` dimensions has it, else [`Error::AxisOutOfRange`].
fn check_axis(axis: Axis, ndim: usize) -> Result<()> {
    if axis.index() >= ndim {
        return Err(Error::AxisOutOfRange { axis: axis.index(), ndim });
    }
    Ok(())
}

impl<'a, A: 'a, D: Dimension + RemoveAxis> Zip<'a, (ArrayView<'a, A, D>,), D> {
    /// Accumulates along `axis` into a new array: each element becomes `f(previous,
    /// element)`, where `previous` is the result just before it along `axis`, and the first
    /// element of each lane is kept as it is. `f(prev, curr)` updates `curr` in place, as
    /// the closure of ndarray's
    /// [`accumulate_axis_inplace`](ndarray::ArrayRef::accumulate_axis_inplace); the result is
    /// NumPy's `ufunc.accumulate` (`np.add.accumulate` is `cumsum`). The carry passes from
    /// chunk to chunk, so a file of any length is scanned in bounded memory, and `f` need
    /// not be associative: it runs along each lane in order. The new array has the input's
    /// memory order (C, or Fortran when the engine walks the input by columns).
    ///
    /// # Errors
    ///
    /// [`Error::AxisOutOfRange`] if the array has no such axis, before anything is read;
    /// otherwise as [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// Array1::from_shape_fn(10_000, |i| (i % 7) as i64 - 3).save_npy(&path)?;
    /// let x = unsafe { Array1::<i64>::map_npy(&path)? };
    /// // The running maximum, chunk by chunk.
    /// let running = ndmmap::chunked::Zip::from(&x)
    ///     .chunk_bytes(4096)
    ///     .accumulate_axis(Axis(0), |&prev, curr| *curr = prev.max(*curr))?;
    /// let mut expected = x.to_owned();
    /// expected.accumulate_axis_inplace(Axis(0), |&prev, curr| *curr = prev.max(*curr));
    /// assert_eq!(running, expected);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accumulate_axis<F>(self, axis: Axis, f: F) -> Result<Array<A, D>>
    where
        A: Clone,
        F: FnMut(&A, &mut A),
    {
        check_axis(axis, self.dim.ndim())?;
        let fortran = self.dim.ndim() > 1
            && self.cut_axis(&self.parts.footprints(), None) == self.dim.ndim() - 1;
        let mut out = match self.parts.0.first() {
            Some(first) => Array::from_elem(self.dim.clone().set_f(fortran), first.clone()),
            None => Array::from_shape_vec(self.dim.clone(), Vec::new())
                .map_err(|error| Error::Shape { path: None, error })?,
        };
        self.scan_with(axis, out.view_mut(), Hooks::default(), f)?;
        Ok(out)
    }

    /// Accumulates along `axis` into `out`, as [`accumulate_axis`](Zip::accumulate_axis) but
    /// written into an array of the input's shape that the caller gives (NumPy's `out=`): a
    /// mapped output (`&mut MmapArrayMut`, one made by
    /// [`create_npy`](crate::npy::MapNpy::create_npy), say), written back and released
    /// behind the walk, or a plain one. A mapped output is flushed before this returns.
    ///
    /// # Errors
    ///
    /// [`Error::AxisOutOfRange`] if the array has no such axis, [`Error::ShapeMismatch`]
    /// (operand 1) if `out` has another shape, both before anything is read or written;
    /// otherwise as [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array2::from_shape_fn((3000, 2), |(i, j)| ((i + j) % 5) as u32);
    /// let path = dir.path().join("xor.npy");
    /// let mut out = unsafe { Array2::<u32>::create_npy(&path, (3000, 2))? };
    /// ndmmap::chunked::Zip::from(&x)
    ///     .chunk_bytes(1024)
    ///     .accumulate_axis_into(Axis(0), &mut out, |&prev, curr| *curr ^= prev)?;
    /// let mut expected = x.clone();
    /// expected.accumulate_axis_inplace(Axis(0), |&prev, curr| *curr ^= prev);
    /// assert_eq!(*out, expected);
    ///
    /// let mut wrong = Array2::<u32>::zeros((2, 3000));
    /// let err = ndmmap::chunked::Zip::from(&x)
    ///     .accumulate_axis_into(Axis(0), &mut wrong, |&prev, curr| *curr ^= prev)
    ///     .unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::ShapeMismatch { operand: 1, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accumulate_axis_into<O, F>(self, axis: Axis, out: O, f: F) -> Result<()>
    where
        A: Clone,
        O: Operand<'a, Dim = D, View = ArrayViewMut<'a, A, D>>,
        F: FnMut(&A, &mut A),
    {
        check_axis(axis, self.dim.ndim())?;
        let (out, hooks) = out.into_chunks();
        self.scan_with(axis, out, hooks, f)
    }

    /// Cumulative sums along `axis`, as NumPy's `np.cumsum(x, axis=axis)`:
    /// [`accumulate_axis`](Zip::accumulate_axis) with `+`, in the element type. Sums run
    /// along each lane in order, so floating-point results equal NumPy's bit for bit.
    /// Integers do not widen as NumPy's small ones do, and overflow as `+` does (a panic in
    /// debug builds): where sums may overflow, use
    /// [`accumulate_axis`](Zip::accumulate_axis) with `wrapping_add`, or a wider type.
    ///
    /// # Errors
    ///
    /// As [`accumulate_axis`](Zip::accumulate_axis).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    /// let zip = || ndmmap::chunked::Zip::from(&x).chunk_bytes(8);
    /// assert_eq!(zip().cumsum(Axis(0))?, array![[1.0, 2.0, 3.0], [5.0, 7.0, 9.0]]);
    /// assert_eq!(zip().cumsum(Axis(1))?, array![[1.0, 3.0, 6.0], [4.0, 9.0, 15.0]]);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn cumsum(self, axis: Axis) -> Result<Array<A, D>>
    where
        A: Clone + Add<Output = A>,
    {
        self.accumulate_axis(axis, |prev, curr| *curr = prev.clone() + curr.clone())
    }

    /// Cumulative sums along `axis` into `out`, as [`cumsum`](Zip::cumsum) into an array the
    /// caller gives, as [`accumulate_axis_into`](Zip::accumulate_axis_into).
    ///
    /// # Errors
    ///
    /// As [`accumulate_axis_into`](Zip::accumulate_axis_into).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array1::from_shape_fn(100_000, |i| (i % 3) as f64);
    /// let path = dir.path().join("cumsum.npy");
    /// let mut sums = unsafe { Array1::<f64>::create_npy(&path, 100_000)? };
    /// ndmmap::chunked::Zip::from(&x).chunk_bytes(64 << 10).cumsum_into(Axis(0), &mut sums)?;
    /// assert_eq!(sums[99_999], x.sum());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cumsum_into<O>(self, axis: Axis, out: O) -> Result<()>
    where
        A: Clone + Add<Output = A>,
        O: Operand<'a, Dim = D, View = ArrayViewMut<'a, A, D>>,
    {
        self.accumulate_axis_into(axis, out, |prev, curr| *curr = prev.clone() + curr.clone())
    }

    /// Cumulative products along `axis`, as NumPy's `np.cumprod(x, axis=axis)` and ndarray's
    /// [`cumprod`](ndarray::ArrayRef::cumprod): [`accumulate_axis`](Zip::accumulate_axis)
    /// with `*`.
    ///
    /// # Errors
    ///
    /// As [`accumulate_axis`](Zip::accumulate_axis).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = array![[1, 2, 3], [4, 5, 6]];
    /// let products = ndmmap::chunked::Zip::from(&x).cumprod(Axis(1))?;
    /// assert_eq!(products, array![[1, 2, 6], [4, 20, 120]]);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn cumprod(self, axis: Axis) -> Result<Array<A, D>>
    where
        A: Clone + Mul<Output = A>,
    {
        self.accumulate_axis(axis, |prev, curr| *curr = prev.clone() * curr.clone())
    }

    /// Cumulative products along `axis` into `out`, as [`cumprod`](Zip::cumprod) into an
    /// array the caller gives, as [`accumulate_axis_into`](Zip::accumulate_axis_into).
    ///
    /// # Errors
    ///
    /// As [`accumulate_axis_into`](Zip::accumulate_axis_into).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = Array2::from_elem((4, 3), 2.0_f32);
    /// let mut out = Array2::<f32>::zeros((4, 3).f());
    /// ndmmap::chunked::Zip::from(&x).cumprod_into(Axis(0), &mut out)?;
    /// assert_eq!(out.row(3), array![16.0, 16.0, 16.0]);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn cumprod_into<O>(self, axis: Axis, out: O) -> Result<()>
    where
        A: Clone + Mul<Output = A>,
        O: Operand<'a, Dim = D, View = ArrayViewMut<'a, A, D>>,
    {
        self.accumulate_axis_into(axis, out, |prev, curr| *curr = prev.clone() * curr.clone())
    }

    /// The common body: walks the input with `out` (its `hooks` those of the map behind
    /// it), copies each chunk into its part of `out` and scans it there.
    fn scan_with<F>(
        self,
        axis: Axis,
        out: ArrayViewMut<'a, A, D>,
        hooks: Hooks<'a>,
        mut f: F,
    ) -> Result<()>
    where
        A: Clone,
        F: FnMut(&A, &mut A),
    {
        let mut carry = None;
        self.and_parts(out, hooks).run(false, |(input, mut output), cut| {
            output.assign(&input);
            if cut != axis {
                // Each chunk holds whole lanes.
                carry = None;
            }
            scan_chunk(output, axis, &mut carry, &mut f);
            Ok::<(), Error>(())
        })
    }
}

impl<'a, A: 'a, D: Dimension + RemoveAxis> Zip<'a, (ArrayViewMut<'a, A, D>,), D> {
    /// Accumulates along `axis` in place, as ndarray's
    /// [`accumulate_axis_inplace`](ndarray::ArrayRef::accumulate_axis_inplace): `f(prev,
    /// curr)` updates each element from the one before it along `axis`, which it has
    /// updated already. On a mapped array (`&mut MmapArrayMut`), chunk by chunk, in bounded
    /// memory, flushed before this returns.
    ///
    /// # Errors
    ///
    /// [`Error::AxisOutOfRange`] if the array has no such axis, before anything is read or
    /// written; otherwise as [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// Array2::from_shape_fn((2000, 3), |(i, j)| (i + j) as f64).save_npy(&path)?;
    /// let mut expected = unsafe { Array2::<f64>::map_npy(&path)? }.to_owned();
    /// expected.accumulate_axis_inplace(Axis(0), |&prev, curr| *curr += prev);
    /// let mut x = unsafe { Array2::<f64>::map_npy_mut(&path)? };
    /// ndmmap::chunked::Zip::from(&mut x)
    ///     .chunk_bytes(4096)
    ///     .accumulate_axis_inplace(Axis(0), |&prev, curr| *curr += prev)?;
    /// assert_eq!(*x, expected);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accumulate_axis_inplace<F>(self, axis: Axis, mut f: F) -> Result<()>
    where
        A: Clone,
        F: FnMut(&A, &mut A),
    {
        check_axis(axis, self.dim.ndim())?;
        let mut carry = None;
        self.run(false, |(chunk,), cut| {
            if cut != axis {
                carry = None;
            }
            scan_chunk(chunk, axis, &mut carry, &mut f);
            Ok::<(), Error>(())
        })
    }
}
