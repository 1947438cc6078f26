//! Reductions along an axis ([`Zip::sum_axis`], [`mean_axis`](Zip::mean_axis),
//! [`var_axis`](Zip::var_axis), [`mean_var_axis`](Zip::mean_var_axis), [`std_axis`](Zip::std_axis), [`min_axis`](Zip::min_axis),
//! [`max_axis`](Zip::max_axis)) in one pass over the chunks, in bounded memory: each chunk is
//! reduced in memory with ndarray and merged into a result the shape of the array without
//! that axis (an owned [`Array`]).
//!
//! When the chunks are cut along the reduced axis, each chunk's partial result is merged
//! into the whole result (variances by Chan's parallel merge of counts, means and sums of
//! squared deviations, which stays accurate where the naive sum of squares does not); when
//! they are cut along another axis, each chunk fills its own slab of the result.

use std::ops::{Add, Div, Range};

use ndarray::{Array, ArrayView, ArrayViewMut, Axis, Dimension, RemoveAxis, Zip as NdZip};
use num_traits::{Float, FromPrimitive, Zero};

use super::Zip;
use crate::error::{Error, Result};

/// Which part of the result one chunk covers.
enum Part {
    /// The chunk is cut along the reduced axis: it covers all of the result.
    Whole,
    /// The chunk is cut along another axis: it covers `rows` along `axis` of the result.
    Slab { axis: Axis, rows: Range<usize> },
}

impl Part {
    /// The part of `result` this chunk covers.
    fn of<'r, A, E: Dimension>(&self, result: &'r mut Array<A, E>) -> ArrayViewMut<'r, A, E> {
        match self {
            Part::Whole => result.view_mut(),
            Part::Slab { axis, rows } => {
                result.slice_axis_mut(*axis, ndarray::Slice::from(rows.clone()))
            }
        }
    }
}

impl<'a, A: 'a, D: Dimension + RemoveAxis> Zip<'a, (ArrayView<'a, A, D>,), D> {
    /// Walks the chunks, handing each with the part of the result it covers.
    fn reduce_chunks(self, axis: Axis, mut f: impl FnMut(ArrayView<'a, A, D>, Part)) -> Result<()> {
        let mut offset = 0;
        self.run(false, |(chunk,), cut| {
            let len = chunk.len_of(cut);
            let part = if cut == axis {
                Part::Whole
            } else {
                let axis =
                    Axis(if cut.index() > axis.index() { cut.index() - 1 } else { cut.index() });
                Part::Slab { axis, rows: offset..offset + len }
            };
            offset += len;
            f(chunk, part);
            Ok::<(), Error>(())
        })
    }

    /// `axis` if the array has it, else [`Error::AxisOutOfRange`]; also reports a shape
    /// mismatch first, as every run does.
    fn check_axis(&self, axis: Axis) -> Result<D::Smaller> {
        if axis.index() >= self.dim.ndim() {
            return Err(Error::AxisOutOfRange { axis: axis.index(), ndim: self.dim.ndim() });
        }
        Ok(self.dim.remove_axis(axis))
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
        self.reduce_chunks(axis, |chunk, part| {
            let partial = chunk.sum_axis(axis);
            NdZip::from(part.of(&mut sum))
                .and(&partial)
                .for_each(|s: &mut A, p: &A| *s = s.clone() + p.clone());
        })?;
        Ok(sum)
    }

    /// Means along `axis`, as [`ArrayRef::mean_axis`](ndarray::ArrayRef::mean_axis): `None`
    /// if the axis has length zero.
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
        self.check_axis(axis)?;
        let n = self.dim[axis.index()];
        let sum = self.sum_axis(axis)?;
        Ok(A::from_usize(n).filter(|_| n > 0).map(|n| sum.mapv(|s| s / n.clone())))
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
        Ok(self.mean_var_axis(axis, ddof)?.1)
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
        let smaller = self.check_axis(axis)?;
        let n = self.dim[axis.index()];
        let too_large = || Error::InvalidDdof {
            ddof: ddof.to_f64().unwrap_or(f64::NAN),
            len: n,
            axis: axis.index(),
        };
        let count = A::from_usize(n).ok_or_else(too_large)?;
        if !(ddof >= A::zero() && ddof <= count) {
            return Err(too_large());
        }
        let (mut mean, mut m2) = (Array::zeros(smaller.clone()), Array::zeros(smaller));
        // Elements merged so far into the whole result (chunks cut along `axis` only).
        let mut merged = 0usize;
        self.reduce_chunks(axis, |chunk, part| {
            let (chunk_mean, chunk_m2) = moments(&chunk, axis);
            let k = chunk.len_of(axis);
            match part {
                Part::Slab { .. } => {
                    part.of(&mut mean).assign(&chunk_mean);
                    part.of(&mut m2).assign(&chunk_m2);
                }
                Part::Whole => {
                    chan_merge(&mut mean, &mut m2, merged, &chunk_mean, &chunk_m2, k);
                    merged += k;
                }
            }
        })?;
        if n == 0 {
            mean.fill(A::nan());
        }
        let freedom = count - ddof;
        Ok((mean, m2.mapv_into(|m| m / freedom)))
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
        Ok(self.var_axis(axis, ddof)?.mapv_into(Float::sqrt))
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

    /// Minima or maxima: `better(acc, x)` says whether `x` replaces `acc`; a NaN (a value
    /// not equal to itself) always replaces and is never replaced.
    fn extreme_axis(
        self,
        axis: Axis,
        better: impl Fn(&A, &A) -> bool + Copy,
    ) -> Result<Array<A, D::Smaller>>
    where
        A: Clone + PartialOrd,
    {
        let smaller = self.check_axis(axis)?;
        if self.dim[axis.index()] == 0 && smaller.size() > 0 {
            return Err(Error::EmptyAxis { axis: axis.index() });
        }
        #[allow(clippy::eq_op, reason = "x != x tells NaN, for any PartialOrd element")]
        let pick = move |acc: &mut A, x: &A| {
            if acc == acc && (x != x || better(acc, x)) {
                *acc = x.clone();
            }
        };
        let mut result: Option<Array<A, D::Smaller>> = None;
        if smaller.size() == 0 || self.dim[axis.index()] == 0 {
            self.reduce_chunks(axis, |_, _| {})?;
            return Ok(Array::from_shape_vec(smaller, Vec::new()).expect("an empty shape"));
        }
        self.reduce_chunks(axis, |chunk, part| {
            let mut lanes = chunk.axis_iter(axis);
            let mut partial = lanes.next().expect("chunks are not empty").to_owned();
            for lane in lanes {
                NdZip::from(&mut partial).and(&lane).for_each(&pick);
            }
            match (part, result.as_mut()) {
                (Part::Whole, Some(all)) => {
                    NdZip::from(all).and(&partial).for_each(&pick);
                }
                (Part::Whole, None) => result = Some(partial),
                (part @ Part::Slab { .. }, _) => {
                    let all = result.get_or_insert_with(|| {
                        Array::from_elem(
                            smaller.clone(),
                            partial.first().expect("not empty").clone(),
                        )
                    });
                    part.of(all).assign(&partial);
                }
            }
        })?;
        Ok(result.expect("a non-empty array has at least one chunk"))
    }
}

/// Bytes of a chunk [`moments`] reads twice while they stay in the core's cache (L2).
const BLOCK_BYTES: usize = 128 << 10;

/// The means and sums of squared deviations of `chunk` along `axis`: the chunk is cut
/// along `axis` into blocks that fit in the cache, each reduced by [`block_moments`] and
/// merged by Chan's formula, so that the chunk is read from memory once.
fn moments<A: Float + FromPrimitive, D: Dimension + RemoveAxis>(
    chunk: &ArrayView<'_, A, D>,
    axis: Axis,
) -> (Array<A, D::Smaller>, Array<A, D::Smaller>) {
    let k = chunk.len_of(axis);
    let width = chunk.len() / k.max(1);
    let rows = (BLOCK_BYTES / std::mem::size_of::<A>() / width.max(1)).max(1);
    if k <= rows {
        return block_moments(chunk, axis);
    }
    let smaller = chunk.raw_dim().remove_axis(axis);
    let (mut mean, mut m2) = (Array::zeros(smaller.clone()), Array::zeros(smaller));
    for start in (0..k).step_by(rows) {
        let end = k.min(start + rows);
        let block = chunk.slice_axis(axis, ndarray::Slice::from(start..end));
        let (block_mean, block_m2) = block_moments(&block, axis);
        chan_merge(&mut mean, &mut m2, start, &block_mean, &block_m2, end - start);
    }
    (mean, m2)
}

/// The means and sums of squared deviations of `chunk` along `axis`, by the corrected
/// two-pass method on the block, which is in the cache: the sums give each lane's mean `m`,
/// then a second pass sums `d = x - m` and `d²`, and `Σd² - (Σd)²/k` is the sum of squared
/// deviations with the rounding error of `m` taken out (Chan, Golub and Le Veque, "Algorithms
/// for computing the sample variance", 1983). Unlike the naive `Σx² - (Σx)²/k` it stays
/// accurate where the mean is large against the spread (`1e9` plus small values).
///
/// Both passes walk the block in its memory order with vector-friendly loops: whole rows
/// of a dense block at a time where `axis` is its outer axis (a C-order matrix reduced along
/// axis 0), each lane as one slice where `axis` is its inner axis (Fortran order), and
/// ndarray's `Zip`, one subview along `axis` at a time, in any other layout.
fn block_moments<A: Float + FromPrimitive, D: Dimension + RemoveAxis>(
    chunk: &ArrayView<'_, A, D>,
    axis: Axis,
) -> (Array<A, D::Smaller>, Array<A, D::Smaller>) {
    let smaller = chunk.raw_dim().remove_axis(axis);
    let k = chunk.len_of(axis);
    if k == 0 || smaller.size() == 0 {
        return (Array::zeros(smaller.clone()), Array::zeros(smaller));
    }
    let count = A::from_usize(k).expect("a count fits in a float");
    let mut chunk = chunk.view();
    if chunk.stride_of(axis) < 0 {
        chunk.invert_axis(axis); // the order of the terms does not matter
    }
    if k > 1 && chunk.stride_of(axis) == 1 {
        let (mut mean, mut m2) = (Array::zeros(smaller.clone()), Array::zeros(smaller));
        NdZip::from(&mut mean).and(&mut m2).and(chunk.lanes(axis)).for_each(|mean, m2, lane| {
            (*mean, *m2) = lane_moments(lane.as_slice().expect("a lane of stride 1"), count);
        });
        return (mean, m2);
    }
    let width = smaller.size();
    let first = chunk.index_axis(axis, 0);
    let dense_rows = first.is_standard_layout()
        && (k == 1 || chunk.stride_of(axis).unsigned_abs() == width)
        && chunk.as_slice_memory_order().is_some();
    if let (true, Some(data)) = (dense_rows, chunk.as_slice_memory_order()) {
        let (mean, dev, sq) = row_moments(data, width, count);
        let shaped = |v| Array::from_shape_vec(smaller.clone(), v).expect("one value a lane");
        return finish(shaped(mean), &shaped(dev), shaped(sq), count);
    }
    let mut sum = Array::zeros(smaller.clone());
    for sub in chunk.axis_iter(axis) {
        NdZip::from(&mut sum).and(&sub).for_each(|s: &mut A, &x| *s = *s + x);
    }
    let mean = sum.mapv_into(|s| s / count);
    let (mut dev, mut sq) = (Array::zeros(smaller.clone()), Array::zeros(smaller));
    for sub in chunk.axis_iter(axis) {
        NdZip::from(&mut dev).and(&mut sq).and(&mean).and(&sub).for_each(|d, q, &m, &x| {
            let e = x - m;
            *d = *d + e;
            *q = *q + e * e;
        });
    }
    finish(mean, &dev, sq, count)
}

/// The corrected means and sums of squared deviations from the first-pass means `mean`,
/// the sums of deviations `dev` and of their squares `sq` over `count` elements.
fn finish<A: Float, E: Dimension>(
    mut mean: Array<A, E>,
    dev: &Array<A, E>,
    mut sq: Array<A, E>,
    count: A,
) -> (Array<A, E>, Array<A, E>) {
    NdZip::from(&mut mean).and(&mut sq).and(dev).for_each(|m, q, &d| {
        *m = *m + d / count;
        *q = not_negative(*q - d * d / count);
    });
    (mean, sq)
}

/// `x`, or zero where rounding made it negative; NaN stays NaN (unlike [`Float::max`]).
fn not_negative<A: Float>(x: A) -> A {
    if x < A::zero() { A::zero() } else { x }
}

/// Elements summed side by side in [`lane_moments`], so that the sums do not wait on each
/// other and the compiler can keep them in vector registers.
const LANES: usize = 8;

/// The mean and sum of squared deviations of one contiguous lane of `count` elements
/// (corrected two-pass, as in [`moments`]).
fn lane_moments<A: Float>(lane: &[A], count: A) -> (A, A) {
    let total = |acc: [A; LANES]| acc.iter().fold(A::zero(), |a, &b| a + b);
    let (body, tail) = lane.split_at(lane.len() - lane.len() % LANES);
    let mut sums = [A::zero(); LANES];
    for block in body.chunks_exact(LANES) {
        for (s, &x) in sums.iter_mut().zip(block) {
            *s = *s + x;
        }
    }
    let mean = tail.iter().fold(total(sums), |a, &x| a + x) / count;
    let (mut devs, mut squares) = ([A::zero(); LANES], [A::zero(); LANES]);
    for block in body.chunks_exact(LANES) {
        for ((d, q), &x) in devs.iter_mut().zip(&mut squares).zip(block) {
            let e = x - mean;
            *d = *d + e;
            *q = *q + e * e;
        }
    }
    let (dev, sq) = tail.iter().fold((total(devs), total(squares)), |(d, q), &x| {
        let e = x - mean;
        (d + e, q + e * e)
    });
    (mean + dev / count, not_negative(sq - dev * dev / count))
}

/// The first-pass means and the sums of deviations and squared deviations of `data`, rows
/// of `width` elements each (a dense chunk whose reduced axis is its outer one).
fn row_moments<A: Float>(data: &[A], width: usize, count: A) -> (Vec<A>, Vec<A>, Vec<A>) {
    let mut mean = vec![A::zero(); width];
    for row in data.chunks_exact(width) {
        for (s, &x) in mean.iter_mut().zip(row) {
            *s = *s + x;
        }
    }
    for m in &mut mean {
        *m = *m / count;
    }
    let (mut dev, mut sq) = (vec![A::zero(); width], vec![A::zero(); width]);
    for row in data.chunks_exact(width) {
        for (((d, q), &m), &x) in dev.iter_mut().zip(&mut sq).zip(&mean).zip(row) {
            let e = x - m;
            *d = *d + e;
            *q = *q + e * e;
        }
    }
    (mean, dev, sq)
}

/// Chan's merge of `(count_b, mean_b, m2_b)` into `(count_a, mean, m2)`.
fn chan_merge<A: Float + FromPrimitive, E: Dimension>(
    mean: &mut Array<A, E>,
    m2: &mut Array<A, E>,
    count_a: usize,
    mean_b: &Array<A, E>,
    m2_b: &Array<A, E>,
    count_b: usize,
) {
    if count_a == 0 {
        mean.assign(mean_b);
        m2.assign(m2_b);
        return;
    }
    let float = |n: usize| A::from_usize(n).expect("a count fits in a float");
    let (na, nb, n) = (float(count_a), float(count_b), float(count_a + count_b));
    NdZip::from(mean).and(m2).and(mean_b).and(m2_b).for_each(|mean, m2, &mean_b, &m2_b| {
        let delta = mean_b - *mean;
        *mean = *mean + delta * nb / n;
        *m2 = *m2 + m2_b + delta * delta * na * nb / n;
    });
}
