//! Where the minima and maxima are: [`Zip::argmin_axis`], [`Zip::argmax_axis`] along an
//! axis, and [`Zip::argmin`], [`Zip::argmax`] over all elements, in one pass over the
//! chunks, with NumPy's answers: the first index among equal values, and the first NaN
//! wherever there is one (NumPy's `argmax` and `argmin` both treat NaN as the extreme).
//!
//! Along an axis, each chunk's lanes are scanned in order and their winners (value and
//! index) merged into the result as the other reductions' are: chunks cut along the axis
//! keep the winning values beside the indices, and a later chunk's winner replaces an
//! earlier one only when strictly better, so the first index stays. Over all elements,
//! chunks cut along any axis are scanned in index order, and winners of equal value are
//! settled by their index, so that the first in C order wins whatever the memory order.

use ndarray::{Array, ArrayView, Axis, Dimension, IntoDimension, RemoveAxis, Zip as NdZip};

use super::Part;
use crate::chunked::Zip;
use crate::error::{Error, Result};

/// Whether `x` replaces the winner `acc` of a scan in index order: a NaN (a value not equal
/// to itself) always does and is never replaced; otherwise `x` must be strictly `better`,
/// so that the first of equal values stays.
#[allow(clippy::eq_op, reason = "x != x tells NaN, for any PartialOrd element")]
fn replaces<A: PartialOrd>(acc: &A, x: &A, better: impl Fn(&A, &A) -> bool) -> bool {
    acc == acc && (x != x || better(x, acc))
}

/// Whether `a` and `b` tie: equal, or both NaN.
#[allow(clippy::eq_op, reason = "x != x tells NaN, for any PartialOrd element")]
fn ties<A: PartialOrd>(a: &A, b: &A) -> bool {
    a == b || (a != a && b != b)
}

impl<'a, A: 'a, D: Dimension + RemoveAxis> Zip<'a, (ArrayView<'a, A, D>,), D> {
    /// The indices of the minima along `axis`, as NumPy's `argmin(x, axis)`: in each lane,
    /// the index of the first smallest value, or of the first NaN if the lane holds one.
    ///
    /// # Errors
    ///
    /// [`Error::AxisOutOfRange`] if the array has no such axis; [`Error::EmptyAxis`] if the
    /// axis has length zero and the result does not (NumPy's "attempt to get argmin of an
    /// empty sequence"); both before anything is read. Otherwise as
    /// [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = array![[3.0, 1.0, 1.0], [0.0, f64::NAN, 5.0], [0.0, 2.0, f64::NAN]];
    /// let rows = ndmmap::chunked::Zip::from(&x).chunk_bytes(16).argmin_axis(Axis(1))?;
    /// assert_eq!(rows, array![1, 1, 2]); // the first of the two 1s; the NaNs
    /// let columns = ndmmap::chunked::Zip::from(&x).chunk_bytes(16).argmin_axis(Axis(0))?;
    /// assert_eq!(columns, array![1, 1, 2]);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn argmin_axis(self, axis: Axis) -> Result<Array<usize, D::Smaller>>
    where
        A: Clone + PartialOrd,
    {
        self.arg_axis(axis, |x, acc| x < acc)
    }

    /// The indices of the maxima along `axis`, as NumPy's `argmax(x, axis)`: in each lane,
    /// the index of the first largest value, or of the first NaN if the lane holds one.
    ///
    /// # Errors
    ///
    /// As [`argmin_axis`](Zip::argmin_axis).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// Array2::from_shape_fn((1000, 4), |(i, j)| ((i * (j + 1)) % 97) as f32).save_npy(&path)?;
    /// let x = unsafe { Array2::<f32>::map_npy(&path)? };
    /// let best = ndmmap::chunked::Zip::from(&x).chunk_bytes(4096).argmax_axis(Axis(0))?;
    /// assert_eq!(best, array![96, 48, 32, 24]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn argmax_axis(self, axis: Axis) -> Result<Array<usize, D::Smaller>>
    where
        A: Clone + PartialOrd,
    {
        self.arg_axis(axis, |x, acc| x > acc)
    }

    /// The index of the minimum over all elements, as NumPy's `argmin(x)`: the first
    /// smallest value in C order (logical order, whatever the memory order), or the first
    /// NaN if there is one. It is returned as an index pattern (a `usize` for one axis, a
    /// tuple for two to six), as ndarray-stats' `argmin`; NumPy's flat index is its
    /// position in C order.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyArray`] if the array has no element, before anything is read;
    /// otherwise as [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = array![[4, 2, 7], [2, 9, 2]];
    /// assert_eq!(ndmmap::chunked::Zip::from(&x).argmin()?, (0, 1)); // the first of the 2s
    /// let empty = Array2::<f64>::zeros((0, 3));
    /// let err = ndmmap::chunked::Zip::from(&empty).argmin().unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::EmptyArray { .. }));
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    pub fn argmin(self) -> Result<D::Pattern>
    where
        A: Clone + PartialOrd,
    {
        self.arg_all(|x, acc| x < acc)
    }

    /// The index of the maximum over all elements, as NumPy's `argmax(x)`: the first
    /// largest value in C order, or the first NaN if there is one; see
    /// [`argmin`](Zip::argmin).
    ///
    /// # Errors
    ///
    /// As [`argmin`](Zip::argmin).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// // Fortran order: the first NaN in C order is at (0, 2), though (1, 0) comes first
    /// // in memory.
    /// let x = Array2::from_shape_vec((2, 3).f(), vec![1.0, f64::NAN, 5.0, 0.0, f64::NAN, 8.0])?;
    /// assert_eq!(ndmmap::chunked::Zip::from(&x).chunk_bytes(8).argmax()?, (0, 2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn argmax(self) -> Result<D::Pattern>
    where
        A: Clone + PartialOrd,
    {
        self.arg_all(|x, acc| x > acc)
    }

    /// The indices of the winners along `axis`: see [`argmin_axis`](Zip::argmin_axis).
    /// `better(x, acc)` says whether `x` is strictly better than `acc`.
    fn arg_axis(
        self,
        axis: Axis,
        better: impl Fn(&A, &A) -> bool + Copy,
    ) -> Result<Array<usize, D::Smaller>>
    where
        A: Clone + PartialOrd,
    {
        let smaller = self.check_axis(axis)?;
        if self.dim[axis.index()] == 0 && smaller.size() > 0 {
            return Err(Error::EmptyAxis { axis: axis.index() });
        }
        let mut index = Array::zeros(smaller);
        // The winning values, where chunks are cut along `axis`.
        let mut winners: Option<Array<A, D::Smaller>> = None;
        // Where along `axis` the chunk begins, where chunks are cut along it.
        let mut offset = 0;
        self.reduce_chunks(axis, |chunk, part| {
            let mut lanes = chunk.axis_iter(axis).enumerate();
            let (_, first) = lanes.next().expect("chunks are not empty");
            let mut values = first.to_owned();
            let mut at = Array::<usize, _>::zeros(values.raw_dim());
            for (i, lane) in lanes {
                NdZip::from(&mut values).and(&mut at).and(&lane).for_each(|v, j, x| {
                    if replaces(v, x, better) {
                        *v = x.clone();
                        *j = i;
                    }
                });
            }
            match part {
                Part::Slab { .. } => part.of(&mut index).assign(&at),
                Part::Whole { .. } => {
                    match winners.as_mut() {
                        None => {
                            index.assign(&at);
                            winners = Some(values);
                        }
                        Some(winners) => {
                            NdZip::from(winners).and(&mut index).and(&values).and(&at).for_each(
                                |w, j, v, &i| {
                                    if replaces(w, v, better) {
                                        *w = v.clone();
                                        *j = offset + i;
                                    }
                                },
                            );
                        }
                    }
                    offset += chunk.len_of(axis);
                }
            }
        })?;
        Ok(index)
    }

    /// The index of the winner over all elements: see [`argmin`](Zip::argmin).
    fn arg_all(self, better: impl Fn(&A, &A) -> bool + Copy) -> Result<D::Pattern>
    where
        A: Clone + PartialOrd,
    {
        if self.dim.size() == 0 {
            return Err(Error::EmptyArray { shape: self.dim.slice().to_vec() });
        }
        // Where along the cut axis the chunk begins.
        let mut offset = 0;
        let winner = self.walk(false, None, |winner: Option<(A, D)>, (chunk,), cut| {
            // The chunk's winner: the first in C order, since `indexed_iter` goes in it.
            let mut best: Option<(&A, D::Pattern)> = None;
            for (at, x) in chunk.indexed_iter() {
                if best.as_ref().is_none_or(|(acc, _)| replaces(*acc, x, better)) {
                    best = Some((x, at));
                }
            }
            let Some((value, at)) = best else {
                return Ok::<_, Error>(winner);
            };
            let mut at = at.into_dimension();
            if chunk.ndim() > 0 {
                at[cut.index()] += offset;
                offset += chunk.len_of(cut);
            }
            let wins = match &winner {
                None => true,
                Some((acc, acc_at)) => {
                    replaces(acc, value, better)
                        || (ties(acc, value) && at.slice() < acc_at.slice())
                }
            };
            Ok(if wins { Some((value.clone(), at)) } else { winner })
        })?;
        let (_, at) = winner.expect("a non-empty array has a winner");
        Ok(at.into_pattern())
    }
}
