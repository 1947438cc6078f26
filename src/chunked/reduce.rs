//! Reductions along an axis ([`Zip::sum_axis`], [`mean_axis`](Zip::mean_axis),
//! [`var_axis`](Zip::var_axis), [`mean_var_axis`](Zip::mean_var_axis),
//! [`std_axis`](Zip::std_axis), [`min_axis`](Zip::min_axis), [`max_axis`](Zip::max_axis)) in
//! one pass over the chunks, in bounded memory: each chunk is reduced in memory with ndarray
//! and merged into a result the shape of the array without that axis.
//!
//! When the chunks are cut along the reduced axis, each chunk's partial result is merged
//! into the whole result (variances by Chan's parallel merge of counts, means and sums of
//! squared deviations, which stays accurate where the naive sum of squares does not); when
//! they are cut along another axis, each chunk fills its own slab of the result.
//!
//! # Into an output: `_into`
//!
//! What the `_into` twins are for, and when to give them a mapped output, users read in the
//! public docs of [`chunked`](super#reductions-into-an-output). The plain versions are the
//! same code into a new owned [`Array`]. A mapped output rides along the walk (see `ride`
//! below): each chunk cut along another axis fills its own slab of it, written
//! back and released as any output of the engine, and an input laid out across that cut is
//! read in tiles of at least a page per run (see [Mixed layouts](super#mixed-layouts)).
//!
//! The engine chooses the cut as it does for any operands: the axis whose thinnest chunk
//! holds the fewest elements, where cutting along the reduced axis counts the whole mapped
//! output too (every chunk touches all of it, so it stays resident until the end). So a
//! result smaller than the thinnest chunk along a kept axis (for a C-order `(4, n)` array of
//! `f64` summed along axis 0, tiles of 512 columns, whose rows are runs of a 4 KiB page:
//! results up to 1 Ki elements) is accumulated in place, chunks cut along the reduced axis;
//! a larger one is filled slab by slab. A plain output (`&mut Array`) does not take part in
//! the choice: it is in memory anyway, and the walk is the owned version's.

use std::ops::{Add, Div, Range};

use ndarray::{
    Array, ArrayRef, ArrayView, ArrayViewMut, Axis, Dimension, RemoveAxis, Zip as NdZip,
};
use num_traits::{Float, FromPrimitive, Zero};

use self::moments::{chan_merge, moments};
use super::operand::{ChunkView, Hooks};
use super::{Operand, Zip};
use crate::error::{Error, Result};

mod arg;
mod moments;

/// Which part of the result one chunk covers.
enum Part {
    /// The chunk is cut along the reduced axis: it covers all of the result, `first` if no
    /// chunk covered it before, `last` if none will after.
    Whole { first: bool, last: bool },
    /// The chunk is cut along another axis: it covers `rows` along `axis` of the result,
    /// alone.
    Slab { axis: Axis, rows: Range<usize> },
}

impl Part {
    /// The part of `result` this chunk covers.
    fn of<'r, B, E: Dimension>(&self, result: &'r mut ArrayRef<B, E>) -> ArrayViewMut<'r, B, E> {
        match self {
            Part::Whole { .. } => result.view_mut(),
            Part::Slab { axis, rows } => {
                result.slice_axis_mut(*axis, ndarray::Slice::from(rows.clone()))
            }
        }
    }

    /// Whether no chunk covered this part before.
    fn opens(&self) -> bool {
        matches!(self, Part::Slab { .. } | Part::Whole { first: true, .. })
    }

    /// Whether no chunk will cover this part after.
    fn closes(&self) -> bool {
        matches!(self, Part::Slab { .. } | Part::Whole { last: true, .. })
    }
}

/// Writes a chunk's `partial` result into its part of `out`: assigned where the chunk opens
/// the part, else merged in by `merge`; then, where the chunk closes the part, finished by
/// `finish` (a mean's division, say).
fn settle<B: Clone, E: Dimension>(
    part: &Part,
    out: &mut ArrayRef<B, E>,
    partial: &ArrayRef<B, E>,
    merge: impl Fn(&mut B, &B),
    finish: impl Fn(&mut B),
) {
    let mut slot = part.of(out);
    if part.opens() {
        slot.assign(partial);
    } else {
        NdZip::from(&mut slot).and(partial).for_each(merge);
    }
    if part.closes() {
        slot.map_inplace(finish);
    }
}

impl<'a, A: 'a, D: Dimension + RemoveAxis> Zip<'a, (ArrayView<'a, A, D>,), D> {
    /// Walks the chunks, handing each with the part of the result it covers. A cancelled
    /// walk reports what is done of the result: the slabs filled along the axis it keeps
    /// where the cut was, none where the chunks were accumulated into all of it.
    fn reduce_chunks(self, axis: Axis, mut f: impl FnMut(ArrayView<'a, A, D>, Part)) -> Result<()> {
        let n = self.dim[axis.index()];
        // The length of the result's first axis (1 for a result of no axes).
        let first = self.dim.slice().iter().enumerate().find(|&(k, _)| k != axis.index());
        let first = first.map_or(1, |(_, &len)| len);
        let of_result = |err| match err {
            Error::Cancelled { axis: cut, done, len } if cut != axis.index() => {
                let kept = if cut > axis.index() { cut - 1 } else { cut };
                Error::Cancelled { axis: kept, done, len }
            }
            Error::Cancelled { .. } => Error::Cancelled { axis: 0, done: 0, len: first },
            err => err,
        };
        let mut offset = 0;
        self.run(false, |(chunk,), cut| {
            let len = chunk.len_of(cut);
            let part = if cut == axis {
                Part::Whole { first: offset == 0, last: offset + len == n }
            } else {
                let axis =
                    Axis(if cut.index() > axis.index() { cut.index() - 1 } else { cut.index() });
                Part::Slab { axis, rows: offset..offset + len }
            };
            offset += len;
            f(chunk, part);
            Ok::<(), Error>(())
        })
        .map_err(of_result)
    }

    /// `axis` if the array has it, else [`Error::AxisOutOfRange`]; also reports a shape
    /// mismatch first, as every run does.
    fn check_axis(&self, axis: Axis) -> Result<D::Smaller> {
        if axis.index() >= self.dim.ndim() {
            return Err(Error::AxisOutOfRange { axis: axis.index(), ndim: self.dim.ndim() });
        }
        Ok(self.dim.remove_axis(axis))
    }

    /// Takes the `index`-th output of a reduction along `axis` into the walk, after checking
    /// its shape ([`Error::OutputShapeMismatch`]): a mapped output is walked with the input
    /// (see the [module documentation](self)), so that its finished slabs are written back
    /// and released.
    fn ride<B>(
        mut self,
        axis: Axis,
        out: &ArrayViewMut<'_, B, D::Smaller>,
        hooks: Hooks<'a>,
        index: usize,
    ) -> Result<Self> {
        let expected = self.check_axis(axis)?;
        if out.raw_dim() != expected {
            return Err(Error::OutputShapeMismatch {
                output: index,
                input: self.dim.slice().to_vec(),
                axis: axis.index(),
                expected: expected.slice().to_vec(),
                actual: out.shape().to_vec(),
            });
        }
        if hooks.addresses().is_some() {
            self.riders.push(out.footprint().broadcast_along(axis.index(), self.dim[axis.index()]));
            self.hooks.push(hooks);
        }
        Ok(self)
    }

    /// The delta degrees of freedom left, `n - ddof`, if `ddof` is between 0 and the length
    /// `n` of `axis`, else [`Error::InvalidDdof`].
    fn freedom(&self, axis: Axis, ddof: A) -> Result<A>
    where
        A: Float + FromPrimitive,
    {
        self.check_axis(axis)?;
        let n = self.dim[axis.index()];
        let invalid = || Error::InvalidDdof {
            ddof: ddof.to_f64().unwrap_or(f64::NAN),
            len: n,
            axis: axis.index(),
        };
        let count = A::from_usize(n).ok_or_else(invalid)?;
        if !(ddof >= A::zero() && ddof <= count) {
            return Err(invalid());
        }
        Ok(count - ddof)
    }

    /// Sums into `out` (of the result's shape), each part finished by `finish`.
    fn sum_into(
        self,
        axis: Axis,
        mut out: ArrayViewMut<'_, A, D::Smaller>,
        finish: impl Fn(&mut A),
    ) -> Result<()>
    where
        A: Clone + Zero + Add<Output = A>,
    {
        if self.dim[axis.index()] == 0 {
            out.fill(A::zero());
        }
        self.reduce_chunks(axis, |chunk, part| {
            let partial = chunk.sum_axis(axis);
            settle(&part, &mut out, &partial, |s, p| *s = s.clone() + p.clone(), &finish);
        })
    }

    /// Sums along `axis`, as [`ArrayRef::sum_axis`](ndarray::ArrayRef::sum_axis), one chunk at
    /// a time. An axis of length zero sums to zeros.
    ///
    /// # Errors
    ///
    /// [`Error::AxisOutOfRange`] if the array has no such axis; otherwise as
    /// [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.bin");
    /// let mut x = unsafe { Array2::<f64>::create_file(&path, (1000, 3))? };
    /// x.assign(&Array2::from_shape_fn((1000, 3), |(i, j)| (i * 3 + j) as f64));
    /// let sums = ndmmap::chunked::Zip::from(&x).chunk_bytes(4096).sum_axis(Axis(0))?;
    /// assert_eq!(sums, x.sum_axis(Axis(0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sum_axis(self, axis: Axis) -> Result<Array<A, D::Smaller>>
    where
        A: Clone + Zero + Add<Output = A>,
    {
        let mut sum = Array::zeros(self.check_axis(axis)?);
        self.sum_into(axis, sum.view_mut(), |_| {})?;
        Ok(sum)
    }

    /// Sums along `axis` into `out`, as [`sum_axis`](Zip::sum_axis) but written into an
    /// array the caller gives (NumPy's `out=`): a mapped output (`&mut MmapArrayMut`, see
    /// [when to use it](crate::chunked#reductions-into-an-output)) or a plain one (`&mut Array`, an
    /// `ArrayViewMut`), of the input's shape without `axis`. A mapped output is flushed
    /// before this returns.
    ///
    /// # Errors
    ///
    /// [`Error::OutputShapeMismatch`] if `out`'s shape is not the input's without `axis`
    /// (before anything is read or written); otherwise as [`sum_axis`](Zip::sum_axis).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array2::from_shape_fn((4, 5000), |(i, j)| (i + j) as f64);
    /// let path = dir.path().join("sums.npy");
    /// let mut sums = unsafe { Array1::<f64>::create_npy(&path, 5000)? };
    /// ndmmap::chunked::Zip::from(&x).chunk_bytes(4096).sum_axis_into(Axis(0), &mut sums)?;
    /// assert_eq!(*sums, x.sum_axis(Axis(0)));
    ///
    /// let mut wrong = Array1::<f64>::zeros(4);
    /// let err = ndmmap::chunked::Zip::from(&x).sum_axis_into(Axis(0), &mut wrong).unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::OutputShapeMismatch { output: 0, axis: 0, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A read-only output does not compile:
    ///
    /// ```compile_fail
    /// use ndmmap::prelude::*;
    ///
    /// let x = Array2::<f64>::zeros((4, 5));
    /// let sums = Array1::<f64>::zeros(5);
    /// ndmmap::chunked::Zip::from(&x).sum_axis_into(Axis(0), &sums)?;
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn sum_axis_into<O>(self, axis: Axis, out: O) -> Result<()>
    where
        A: Clone + Zero + Add<Output = A>,
        O: Operand<'a, Dim = D::Smaller, View = ArrayViewMut<'a, A, D::Smaller>>,
    {
        let (out, hooks) = out.into_chunks();
        self.ride(axis, &out, hooks, 0)?.sum_into(axis, out, |_| {})
    }

    /// Means along `axis`, as [`ArrayRef::mean_axis`](ndarray::ArrayRef::mean_axis): `None`
    /// if the axis has length zero (or more elements than the element type can count, where
    /// ndarray panics).
    ///
    /// # Errors
    ///
    /// As [`sum_axis`](Zip::sum_axis).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = Array2::from_shape_fn((500, 4), |(i, j)| (i + j) as f64);
    /// let means = ndmmap::chunked::Zip::from(&x).chunk_bytes(1024).mean_axis(Axis(0))?;
    /// assert_eq!(means, x.mean_axis(Axis(0)));
    /// let empty = Array2::<f64>::zeros((0, 4));
    /// assert_eq!(ndmmap::chunked::Zip::from(&empty).mean_axis(Axis(0))?, None);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn mean_axis(self, axis: Axis) -> Result<Option<Array<A, D::Smaller>>>
    where
        A: Clone + Zero + FromPrimitive + Add<Output = A> + Div<Output = A>,
    {
        let smaller = self.check_axis(axis)?;
        let n = self.dim[axis.index()];
        if n == 0 || A::from_usize(n).is_none() {
            return Ok(None);
        }
        let mut mean = Array::zeros(smaller);
        self.mean_into(axis, mean.view_mut())?;
        Ok(Some(mean))
    }

    /// Means into `out`: sums, each divided by the axis length once complete.
    fn mean_into(self, axis: Axis, out: ArrayViewMut<'_, A, D::Smaller>) -> Result<()>
    where
        A: Clone + Zero + FromPrimitive + Add<Output = A> + Div<Output = A>,
    {
        let n = self.dim[axis.index()];
        if n == 0 && !out.is_empty() {
            return Err(Error::EmptyAxis { axis: axis.index() });
        }
        let count =
            A::from_usize(n.max(1)).ok_or(Error::CountOverflow { axis: axis.index(), len: n })?;
        self.sum_into(axis, out, |s| *s = s.clone() / count.clone())
    }

    /// Means along `axis` into `out`, as [`mean_axis`](Zip::mean_axis) into an array the
    /// caller gives, as [`sum_axis_into`](Zip::sum_axis_into).
    ///
    /// # Errors
    ///
    /// [`Error::EmptyAxis`] if the axis has length zero and the result does not (NumPy
    /// writes NaN there with a warning; ndarray's `mean_axis` returns `None`);
    /// [`Error::CountOverflow`] if the axis length is not a value of the element type (a
    /// `u8` mean over 300 rows); otherwise as [`sum_axis_into`](Zip::sum_axis_into). All
    /// before anything is read or written.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array3::from_shape_fn((3, 40, 50), |(i, j, k)| (i * j + k) as f64);
    /// let path = dir.path().join("means.npy");
    /// let mut means = unsafe { Array2::<f64>::create_npy(&path, (40, 50))? };
    /// ndmmap::chunked::Zip::from(&x).chunk_bytes(1024).mean_axis_into(Axis(0), &mut means)?;
    /// assert_eq!(Some(means.to_owned()), x.mean_axis(Axis(0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mean_axis_into<O>(self, axis: Axis, out: O) -> Result<()>
    where
        A: Clone + Zero + FromPrimitive + Add<Output = A> + Div<Output = A>,
        O: Operand<'a, Dim = D::Smaller, View = ArrayViewMut<'a, A, D::Smaller>>,
    {
        let (out, hooks) = out.into_chunks();
        let zip = self.ride(axis, &out, hooks, 0)?;
        zip.mean_into(axis, out)
    }

    /// Variances along `axis` with `ddof` delta degrees of freedom (0 for the population
    /// variance, 1 for the sample variance), as
    /// [`ArrayRef::var_axis`](ndarray::ArrayRef::var_axis), in one pass over the file: two
    /// passes over each chunk while it is in memory (the corrected two-pass method), Chan's
    /// merge between chunks. An axis of length `ddof` gives
    /// infinities or NaN (NumPy's result without its warning).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDdof`] if `ddof` is negative or greater than the axis length (where
    /// ndarray panics); otherwise as [`sum_axis`](Zip::sum_axis).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = Array2::from_shape_fn((300, 5), |(i, j)| 1e9 + (i * j % 7) as f64);
    /// let var = ndmmap::chunked::Zip::from(&x).chunk_bytes(2048).var_axis(Axis(0), 1.0)?;
    /// let expected = x.var_axis(Axis(0), 1.0);
    /// assert!(var.iter().zip(&expected).all(|(a, b)| (a - b).abs() <= 1e-6));
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn var_axis(self, axis: Axis, ddof: A) -> Result<Array<A, D::Smaller>>
    where
        A: Float + FromPrimitive,
    {
        self.spread_axis(axis, ddof, |v| v)
    }

    /// Variances along `axis` into `out`, as [`var_axis`](Zip::var_axis) into an array the
    /// caller gives, as [`sum_axis_into`](Zip::sum_axis_into).
    ///
    /// # Errors
    ///
    /// As [`var_axis`](Zip::var_axis) and [`sum_axis_into`](Zip::sum_axis_into).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = Array2::from_shape_fn((6, 200), |(i, j)| (i * i + j) as f64);
    /// let mut var = Array1::<f64>::zeros(200);
    /// ndmmap::chunked::Zip::from(&x).chunk_bytes(256).var_axis_into(Axis(0), 1.0, &mut var)?;
    /// let expected = x.var_axis(Axis(0), 1.0);
    /// assert!(var.iter().zip(&expected).all(|(a, b)| (a - b).abs() <= 1e-9));
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn var_axis_into<O>(self, axis: Axis, ddof: A, out: O) -> Result<()>
    where
        A: Float + FromPrimitive,
        O: Operand<'a, Dim = D::Smaller, View = ArrayViewMut<'a, A, D::Smaller>>,
    {
        self.spread_axis_into(axis, ddof, out, |v| v)
    }

    /// Means and variances along `axis` together, in the one pass
    /// [`var_axis`](Zip::var_axis) makes anyway (means are NaN along an axis of length
    /// zero): the first pass of a standardisation.
    ///
    /// # Errors
    ///
    /// As [`var_axis`](Zip::var_axis).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = array![[1.0, 10.0], [3.0, 30.0]];
    /// let (mean, var) = ndmmap::chunked::Zip::from(&x).chunk_bytes(16).mean_var_axis(Axis(0), 0.0)?;
    /// assert_eq!((mean, var), (array![2.0, 20.0], array![1.0, 100.0]));
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[allow(clippy::type_complexity, reason = "a pair of arrays, as ndarray-stats returns")]
    pub fn mean_var_axis(
        self,
        axis: Axis,
        ddof: A,
    ) -> Result<(Array<A, D::Smaller>, Array<A, D::Smaller>)>
    where
        A: Float + FromPrimitive,
    {
        let freedom = self.freedom(axis, ddof)?;
        let smaller = self.check_axis(axis)?;
        let (mut mean, mut var) = (Array::zeros(smaller.clone()), Array::zeros(smaller));
        self.mean_var_into(axis, freedom, Some(mean.view_mut()), var.view_mut(), |v| v)?;
        Ok((mean, var))
    }

    /// Means and variances along `axis` into `mean` and `var`, as
    /// [`mean_var_axis`](Zip::mean_var_axis) into two arrays the caller gives, as
    /// [`sum_axis_into`](Zip::sum_axis_into).
    ///
    /// # Errors
    ///
    /// As [`var_axis`](Zip::var_axis) and [`sum_axis_into`](Zip::sum_axis_into)
    /// ([`Error::OutputShapeMismatch`] says which output: 0 for `mean`, 1 for `var`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array2::from_shape_fn((3, 1000), |(i, j)| (i * j) as f64);
    /// let mut mean = unsafe { Array1::<f64>::create_npy(dir.path().join("mean.npy"), 1000)? };
    /// let mut var = unsafe { Array1::<f64>::create_npy(dir.path().join("var.npy"), 1000)? };
    /// ndmmap::chunked::Zip::from(&x)
    ///     .chunk_bytes(1024)
    ///     .mean_var_axis_into(Axis(0), 0.0, &mut mean, &mut var)?;
    /// assert_eq!(Some(mean.to_owned()), x.mean_axis(Axis(0)));
    /// let expected = x.var_axis(Axis(0), 0.0);
    /// assert!(var.iter().zip(&expected).all(|(a, b)| (a - b).abs() <= 1e-9 * b.max(1.0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mean_var_axis_into<O1, O2>(self, axis: Axis, ddof: A, mean: O1, var: O2) -> Result<()>
    where
        A: Float + FromPrimitive,
        O1: Operand<'a, Dim = D::Smaller, View = ArrayViewMut<'a, A, D::Smaller>>,
        O2: Operand<'a, Dim = D::Smaller, View = ArrayViewMut<'a, A, D::Smaller>>,
    {
        let freedom = self.freedom(axis, ddof)?;
        let (mean, mean_hooks) = mean.into_chunks();
        let (var, var_hooks) = var.into_chunks();
        let zip = self.ride(axis, &mean, mean_hooks, 0)?.ride(axis, &var, var_hooks, 1)?;
        zip.mean_var_into(axis, freedom, Some(mean), var, |v| v)
    }

    /// Variances into a new array, each finished by `finish` (a square root for standard
    /// deviations): [`var_axis`](Zip::var_axis) and [`std_axis`](Zip::std_axis).
    fn spread_axis(self, axis: Axis, ddof: A, finish: fn(A) -> A) -> Result<Array<A, D::Smaller>>
    where
        A: Float + FromPrimitive,
    {
        let freedom = self.freedom(axis, ddof)?;
        let mut spread = Array::zeros(self.check_axis(axis)?);
        self.mean_var_into(axis, freedom, None, spread.view_mut(), finish)?;
        Ok(spread)
    }

    /// Variances into `out`, each finished by `finish`, as [`spread_axis`](Self::spread_axis):
    /// [`var_axis_into`](Zip::var_axis_into) and [`std_axis_into`](Zip::std_axis_into).
    fn spread_axis_into<O>(self, axis: Axis, ddof: A, out: O, finish: fn(A) -> A) -> Result<()>
    where
        A: Float + FromPrimitive,
        O: Operand<'a, Dim = D::Smaller, View = ArrayViewMut<'a, A, D::Smaller>>,
    {
        let freedom = self.freedom(axis, ddof)?;
        let (out, hooks) = out.into_chunks();
        self.ride(axis, &out, hooks, 0)?.mean_var_into(axis, freedom, None, out, finish)
    }

    /// Means (if asked) and variances into `mean` and `var`, `freedom` the axis length less
    /// `ddof`, each variance finished by `finish` (a square root for standard deviations).
    /// Where chunks are cut along `axis`, `var` holds the sums of squared deviations until
    /// the last chunk, and the means are kept in memory if not asked.
    fn mean_var_into(
        self,
        axis: Axis,
        freedom: A,
        mut mean: Option<ArrayViewMut<'_, A, D::Smaller>>,
        mut var: ArrayViewMut<'_, A, D::Smaller>,
        finish: fn(A) -> A,
    ) -> Result<()>
    where
        A: Float + FromPrimitive,
    {
        if self.dim[axis.index()] == 0 {
            // No element: NaN means, and `0 / 0` variances (ddof is 0 here).
            if let Some(mean) = mean.as_mut() {
                mean.fill(A::nan());
            }
            var.fill(finish(A::zero() / freedom));
        }
        // The means where the caller asked none and chunks are cut along `axis`.
        let mut scratch: Option<Array<A, D::Smaller>> = None;
        // Elements merged so far into the whole result (chunks cut along `axis` only).
        let mut merged = 0usize;
        self.reduce_chunks(axis, |chunk, part| {
            let (chunk_mean, chunk_m2) = moments(&chunk, axis);
            match part {
                Part::Slab { .. } => {
                    if let Some(mean) = mean.as_mut() {
                        part.of(mean).assign(&chunk_mean);
                    }
                    NdZip::from(part.of(&mut var))
                        .and(&chunk_m2)
                        .for_each(|v, &m2| *v = finish(m2 / freedom));
                }
                Part::Whole { first, last } => {
                    let mut mean = match mean.as_mut() {
                        Some(mean) => mean.view_mut(),
                        None => scratch
                            .get_or_insert_with(|| Array::zeros(chunk_mean.raw_dim()))
                            .view_mut(),
                    };
                    let k = chunk.len_of(axis);
                    if first {
                        mean.assign(&chunk_mean);
                        var.assign(&chunk_m2);
                    } else {
                        chan_merge(&mut mean, &mut var, merged, &chunk_mean, &chunk_m2, k);
                    }
                    merged += k;
                    if last {
                        var.mapv_inplace(|m2| finish(m2 / freedom));
                    }
                }
            }
        })
    }

    /// Standard deviations along `axis` with `ddof` delta degrees of freedom: the square
    /// roots of [`var_axis`](Zip::var_axis), as
    /// [`ArrayRef::std_axis`](ndarray::ArrayRef::std_axis).
    ///
    /// # Errors
    ///
    /// As [`var_axis`](Zip::var_axis).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = array![[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]];
    /// let std = ndmmap::chunked::Zip::from(&x).chunk_bytes(16).std_axis(Axis(0), 0.0)?;
    /// assert!((&std - &x.std_axis(Axis(0), 0.0)).iter().all(|d: &f64| d.abs() < 1e-12));
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn std_axis(self, axis: Axis, ddof: A) -> Result<Array<A, D::Smaller>>
    where
        A: Float + FromPrimitive,
    {
        self.spread_axis(axis, ddof, Float::sqrt)
    }

    /// Standard deviations along `axis` into `out`, as [`std_axis`](Zip::std_axis) into an
    /// array the caller gives, as [`sum_axis_into`](Zip::sum_axis_into).
    ///
    /// # Errors
    ///
    /// As [`var_axis_into`](Zip::var_axis_into).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array2::from_shape_fn((2000, 3), |(i, j)| ((i * (j + 1)) % 17) as f32);
    /// let path = dir.path().join("std.npy");
    /// let mut std = unsafe { Array1::<f32>::create_npy(&path, 2000)? };
    /// ndmmap::chunked::Zip::from(&x).std_axis_into(Axis(1), 0.0, &mut std)?;
    /// let expected = x.std_axis(Axis(1), 0.0);
    /// assert!(std.iter().zip(&expected).all(|(a, b)| (a - b).abs() <= 1e-4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn std_axis_into<O>(self, axis: Axis, ddof: A, out: O) -> Result<()>
    where
        A: Float + FromPrimitive,
        O: Operand<'a, Dim = D::Smaller, View = ArrayViewMut<'a, A, D::Smaller>>,
    {
        self.spread_axis_into(axis, ddof, out, Float::sqrt)
    }

    /// Minima along `axis`. NaN propagates, as in NumPy's `min`: a lane holding a NaN has the
    /// minimum NaN.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyAxis`] if the axis has length zero (and the result is not empty);
    /// otherwise as [`sum_axis`](Zip::sum_axis).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = array![[3.0, f64::NAN], [1.0, 2.0], [2.0, 0.0]];
    /// let min = ndmmap::chunked::Zip::from(&x).chunk_bytes(16).min_axis(Axis(0))?;
    /// assert_eq!(min[0], 1.0);
    /// assert!(min[1].is_nan());
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn min_axis(self, axis: Axis) -> Result<Array<A, D::Smaller>>
    where
        A: Clone + PartialOrd,
    {
        self.extreme_axis(axis, |acc, x| x < acc)
    }

    /// Minima along `axis` into `out`, as [`min_axis`](Zip::min_axis) into an array the
    /// caller gives, as [`sum_axis_into`](Zip::sum_axis_into).
    ///
    /// # Errors
    ///
    /// As [`min_axis`](Zip::min_axis) and [`sum_axis_into`](Zip::sum_axis_into).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = Array2::from_shape_fn((4, 300), |(i, j)| (i as i32 - 2) * j as i32);
    /// let mut min = Array1::<i32>::zeros(300);
    /// ndmmap::chunked::Zip::from(&x).chunk_bytes(64).min_axis_into(Axis(0), min.view_mut())?;
    /// assert_eq!(min, Array1::from_shape_fn(300, |j| -2 * j as i32));
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn min_axis_into<O>(self, axis: Axis, out: O) -> Result<()>
    where
        A: Clone + PartialOrd,
        O: Operand<'a, Dim = D::Smaller, View = ArrayViewMut<'a, A, D::Smaller>>,
    {
        let (out, hooks) = out.into_chunks();
        self.ride(axis, &out, hooks, 0)?.extreme_into(axis, out, |acc, x| x < acc)
    }

    /// Maxima along `axis`; NaN propagates, as in [`min_axis`](Zip::min_axis).
    ///
    /// # Errors
    ///
    /// As [`min_axis`](Zip::min_axis).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = Array2::from_shape_fn((100, 3), |(i, j)| (i * j) as i64 - 50);
    /// let max = ndmmap::chunked::Zip::from(&x).chunk_bytes(64).max_axis(Axis(0))?;
    /// assert_eq!(max, array![-50, 49, 148]);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn max_axis(self, axis: Axis) -> Result<Array<A, D::Smaller>>
    where
        A: Clone + PartialOrd,
    {
        self.extreme_axis(axis, |acc, x| x > acc)
    }

    /// Maxima along `axis` into `out`, as [`max_axis`](Zip::max_axis) into an array the
    /// caller gives, as [`sum_axis_into`](Zip::sum_axis_into).
    ///
    /// # Errors
    ///
    /// As [`min_axis_into`](Zip::min_axis_into).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array2::from_shape_fn((5000, 2), |(i, j)| (i as f32).sin() + j as f32);
    /// let path = dir.path().join("max.npy");
    /// let mut max = unsafe { Array1::<f32>::create_npy(&path, 5000)? };
    /// ndmmap::chunked::Zip::from(&x).max_axis_into(Axis(1), &mut max)?;
    /// assert_eq!(*max, x.column(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_axis_into<O>(self, axis: Axis, out: O) -> Result<()>
    where
        A: Clone + PartialOrd,
        O: Operand<'a, Dim = D::Smaller, View = ArrayViewMut<'a, A, D::Smaller>>,
    {
        let (out, hooks) = out.into_chunks();
        self.ride(axis, &out, hooks, 0)?.extreme_into(axis, out, |acc, x| x > acc)
    }

    /// Minima or maxima into a new array: see [`extreme_into`](Self::extreme_into).
    fn extreme_axis(
        self,
        axis: Axis,
        better: impl Fn(&A, &A) -> bool + Copy,
    ) -> Result<Array<A, D::Smaller>>
    where
        A: Clone + PartialOrd,
    {
        let smaller = self.check_axis(axis)?;
        // Any element of the input fills the result until the walk writes it.
        let mut result = match self.parts.0.first() {
            Some(x) => Array::from_elem(smaller, x.clone()),
            None if smaller.size() == 0 => {
                Array::from_shape_vec(smaller, Vec::new()).expect("an empty shape")
            }
            None => return Err(Error::EmptyAxis { axis: axis.index() }),
        };
        self.extreme_into(axis, result.view_mut(), better)?;
        Ok(result)
    }

    /// Minima or maxima into `out`: `better(acc, x)` says whether `x` replaces `acc`; a NaN
    /// (a value not equal to itself) always replaces and is never replaced.
    fn extreme_into(
        self,
        axis: Axis,
        mut out: ArrayViewMut<'_, A, D::Smaller>,
        better: impl Fn(&A, &A) -> bool + Copy,
    ) -> Result<()>
    where
        A: Clone + PartialOrd,
    {
        if self.dim[axis.index()] == 0 && !out.is_empty() {
            return Err(Error::EmptyAxis { axis: axis.index() });
        }
        #[allow(clippy::eq_op, reason = "x != x tells NaN, for any PartialOrd element")]
        let pick = move |acc: &mut A, x: &A| {
            if acc == acc && (x != x || better(acc, x)) {
                *acc = x.clone();
            }
        };
        self.reduce_chunks(axis, |chunk, part| {
            let mut lanes = chunk.axis_iter(axis);
            let mut partial = lanes.next().expect("chunks are not empty").to_owned();
            for lane in lanes {
                NdZip::from(&mut partial).and(&lane).for_each(&pick);
            }
            settle(&part, &mut out, &partial, pick, |_| {});
        })
    }
}
