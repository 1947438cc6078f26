//! Counts: histograms with fixed bins ([`Zip::histogram`], NumPy's `np.histogram(x,
//! bins=n, range=(lo, hi))`) and counts of non-negative integers ([`Zip::bincount`],
//! NumPy's `np.bincount`), in one pass over the chunks.
//!
//! Each chunk is counted into a tally (a count per bin or value); with the `rayon` feature
//! (`par_histogram`, `par_bincount`) each chunk is cut into pieces counted at once on
//! rayon's pool, each into a tally taken from a small pool that lives across chunks (one
//! per piece running at a time, so about one per thread), and the tallies are merged at the
//! end. Memory stays a few chunks plus the tallies.
//!
//! The histogram follows NumPy's own algorithm for equal bins step by step (the edges,
//! `np.linspace` in `f64` cast to the element's float type; the index from the offset to
//! the first edge; the one-step correction against the edges), so that each value lands in
//! the bin NumPy puts it in, values on an edge included.

use std::sync::Mutex;

use ndarray::{Array1, ArrayView, Axis, Dimension, IntoDimension};
use num_traits::{AsPrimitive, Float, ToPrimitive};

use super::Zip;
use super::budget;
use crate::error::{Error, Result};

mod sealed {
    /// Implemented only by ndmmap, for the element types it counts.
    pub trait Sealed {}
}

/// An element type that [`Zip::histogram`] bins: `f32`, `f64` and the integer types.
///
/// Values are compared with the edges in NumPy's type for them: `f32` for `f32` arrays,
/// `f64` for the others (integers are converted to `f64`, as NumPy does).
///
/// This trait is sealed: it is implemented for the types above only.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// fn counts<A: ndmmap::chunked::HistogramElement>(x: &Array1<A>) -> Array1<u64> {
///     ndmmap::chunked::Zip::from(x).histogram(4, (0.0, 4.0)).map(|(counts, _)| counts).unwrap()
/// }
/// assert_eq!(counts(&array![0u8, 1, 1, 3]), array![1, 2, 0, 1]);
/// assert_eq!(counts(&array![0.5f32, 4.0]), array![1, 0, 0, 1]);
/// ```
pub trait HistogramElement: Copy + Send + Sync + sealed::Sealed {
    /// The floating-point type the values are compared with the edges in.
    #[doc(hidden)]
    type Float: Float + AsPrimitive<f64> + Send + Sync;
    /// The value in that type.
    #[doc(hidden)]
    fn to_float(self) -> Self::Float;
    /// An `f64` (an edge) in that type.
    #[doc(hidden)]
    fn edge(x: f64) -> Self::Float;
}

macro_rules! histogram_element {
    ($float:ty: $($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl HistogramElement for $t {
            type Float = $float;
            #[allow(clippy::cast_precision_loss, reason = "NumPy converts integers to f64 too")]
            #[allow(clippy::cast_lossless, reason = "one conversion for every type")]
            fn to_float(self) -> $float {
                self as $float
            }
            #[allow(clippy::cast_possible_truncation, reason = "NumPy's f32 edges are f64 ones rounded")]
            fn edge(x: f64) -> $float {
                x as $float
            }
        }
    )*};
}

histogram_element!(f32: f32);
histogram_element!(f64: f64, i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

/// An element type that [`Zip::bincount`] counts: the integer types. Negative values are
/// an error, as in NumPy.
///
/// This trait is sealed: it is implemented for the integer types only.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// fn counts<A: ndmmap::chunked::BincountElement>(x: &Array1<A>) -> Array1<u64> {
///     ndmmap::chunked::Zip::from(x).bincount(0).unwrap()
/// }
/// assert_eq!(counts(&array![2u16, 0, 2]), array![1, 0, 2]);
/// assert_eq!(counts(&array![1i64]), array![0, 1]);
/// ```
pub trait BincountElement: Copy + Send + Sync + ToPrimitive + sealed::Sealed {}

macro_rules! bincount_element {
    ($($t:ty),*) => {$(
        impl BincountElement for $t {}
    )*};
}

bincount_element!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

/// Equal bins over a range, as NumPy's `np.histogram` makes them.
struct Bins<T> {
    /// How many bins.
    n: usize,
    /// The first and last edges, in the values' type.
    first: T,
    last: T,
    /// The width of the range, `last - first` in `f64`.
    denom: f64,
    /// `n` as `f64`.
    scale: f64,
    /// The `n + 1` edges.
    edges: Vec<T>,
}

impl<T: Float + AsPrimitive<f64>> Bins<T> {
    /// The bins NumPy makes for `bins` equal bins over `range`, the edges converted by
    /// `edge`: [`Error::InvalidHistogram`] where NumPy raises `ValueError`.
    #[allow(clippy::cast_precision_loss, reason = "NumPy's np.arange in f64 too")]
    #[allow(clippy::float_cmp, reason = "NumPy widens a range whose ends are equal")]
    fn new(bins: usize, range: (f64, f64), edge: fn(f64) -> T) -> Result<Self> {
        let (lo, hi) = range;
        let invalid = |reason| Error::InvalidHistogram { bins, lo, hi, reason };
        if bins == 0 {
            return Err(invalid("the number of bins must be positive"));
        }
        if lo > hi {
            return Err(invalid("max must be larger than min in the range"));
        }
        if !(lo.is_finite() && hi.is_finite()) {
            return Err(invalid("the range is not finite"));
        }
        // NumPy widens an empty range by half a unit on each side.
        let (lo, hi) = if lo == hi { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
        // np.linspace(lo, hi, bins + 1) in f64, its last edge `hi` itself.
        let delta = hi - lo;
        let div = bins as f64;
        let step = delta / div;
        let edges: Vec<T> = (0..=bins)
            .map(|i| {
                let y = if i == bins {
                    hi
                } else if step == 0.0 {
                    (i as f64 / div) * delta + lo
                } else {
                    i as f64 * step + lo
                };
                edge(y)
            })
            .collect();
        if edges.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid("too many bins for the range: some would have no width"));
        }
        Ok(Bins { n: bins, first: edge(lo), last: edge(hi), denom: delta, scale: div, edges })
    }

    /// The bin of `x`, if it lies in the range (NaN does not): the last bin holds its
    /// upper edge, the others do not.
    #[inline]
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "NumPy's astype(np.intp) of a value in [0, n]"
    )]
    fn index(&self, x: T) -> Option<usize> {
        if !(x >= self.first && x <= self.last) {
            return None;
        }
        let f = (x - self.first).as_() / self.denom * self.scale;
        let mut i = (f as usize).min(self.n - 1);
        // The index is within one of the right bin; the edges decide.
        if x < self.edges[i] {
            i = i.saturating_sub(1);
        } else if i + 1 < self.n && x >= self.edges[i + 1] {
            i += 1;
        }
        Some(i)
    }
}

/// Counts of the values of one piece or more: one per value from 0, grown as larger values
/// come; `bad` once a value could not be counted (the walk then stops with an error).
#[derive(Default)]
struct Tally {
    counts: Vec<u64>,
    bad: bool,
}

impl Tally {
    /// Counts `values`, growing the counts up to `limit` of them.
    fn count<'x, A: BincountElement + 'x>(
        &mut self,
        values: impl Iterator<Item = &'x A>,
        limit: usize,
    ) {
        if self.bad {
            return;
        }
        for x in values {
            match x.to_usize() {
                Some(i) if i < self.counts.len() => self.counts[i] += 1,
                Some(i) if i < limit => {
                    let len = (i + 1).max(2 * self.counts.len()).min(limit);
                    self.counts.resize(len, 0);
                    self.counts[i] += 1;
                }
                _ => {
                    self.bad = true;
                    return;
                }
            }
        }
    }

    /// Adds `other`'s counts.
    fn merge(&mut self, other: &Tally) {
        if other.counts.len() > self.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        self.counts.iter_mut().zip(&other.counts).for_each(|(c, o)| *c += o);
        self.bad |= other.bad;
    }
}

/// Tallies that live across the chunks of a walk: each piece counted takes one, so that
/// there are about as many as pieces counted at once.
struct Pool<T>(Mutex<Vec<T>>);

impl<T> Pool<T> {
    /// Runs `f` on a tally from the pool (a new one from `identity` if none is free).
    fn with(&self, identity: &impl Fn() -> T, f: impl FnOnce(&mut T)) {
        let taken = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let mut tally = taken.unwrap_or_else(identity);
        f(&mut tally);
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(tally);
    }

    /// The tallies.
    fn into_inner(self) -> Vec<T> {
        self.0.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How many pieces each chunk is cut into on rayon's pool: enough to balance any pool.
#[cfg(feature = "rayon")]
const PIECES: usize = 64;

/// How many threads count at once on rayon's pool, by default: one per core.
fn threads() -> u64 {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    u64::try_from(threads).unwrap_or(u64::MAX)
}

/// Counts `chunk` (cut along `cut`) into tallies from `pool`: on rayon's pool in pieces if
/// `parallel`, else at once.
fn count_chunk<A: Sync, D: Dimension, T: Send>(
    chunk: ArrayView<'_, A, D>,
    cut: Axis,
    parallel: bool,
    pool: &Pool<T>,
    identity: &(impl Fn() -> T + Sync),
    fold: &(impl Fn(&mut T, ArrayView<'_, A, D>) + Sync),
) {
    #[cfg(feature = "rayon")]
    if parallel && chunk.ndim() > 0 {
        use ndarray::parallel::prelude::*;
        let size = chunk.len_of(cut).div_ceil(PIECES).max(1);
        chunk
            .axis_chunks_iter(cut, size)
            .into_par_iter()
            .for_each(|piece| pool.with(identity, |tally| fold(tally, piece)));
        return;
    }
    let _ = (cut, parallel);
    pool.with(identity, |tally| fold(tally, chunk));
}

impl<'a, A: 'a + Sync, D: Dimension> Zip<'a, (ArrayView<'a, A, D>,), D> {
    /// Counts every element into tallies, chunk by chunk (see [`count_chunk`]), and returns
    /// them. After each chunk, `check(tallies, chunk, cut, offset)` (`offset`: where the
    /// chunk starts along `cut`) may give an error, which stops the walk.
    fn tally<T: Send>(
        self,
        parallel: bool,
        identity: impl Fn() -> T + Sync,
        fold: impl Fn(&mut T, ArrayView<'_, A, D>) + Sync,
        check: impl Fn(&[T], ArrayView<'a, A, D>, Axis, usize) -> Option<Error>,
    ) -> Result<Vec<T>> {
        let pool = Pool(Mutex::new(Vec::new()));
        let mut offset = 0;
        self.run(false, |(chunk,), cut| {
            count_chunk(chunk.clone(), cut, parallel, &pool, &identity, &fold);
            let tallies = pool.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(err) = check(&tallies, chunk.clone(), cut, offset) {
                return Err(err);
            }
            if chunk.ndim() > 0 {
                offset += chunk.len_of(cut);
            }
            Ok(())
        })?;
        Ok(pool.into_inner())
    }
}

impl<'a, A: HistogramElement + 'a, D: Dimension> Zip<'a, (ArrayView<'a, A, D>,), D> {
    /// A histogram of every element in `bins` equal bins over `range`, as NumPy's
    /// `np.histogram(x, bins=bins, range=range)`: the counts and the `bins + 1` edges. Each
    /// bin holds the values from its lower edge up to, but not including, its upper edge,
    /// except the last, which holds its upper edge too; values outside the range and NaN are
    /// not counted. An empty range (`lo == hi`) is widened to `(lo - 0.5, hi + 0.5)`, as
    /// NumPy does. Values are binned exactly where NumPy bins them (see
    /// [`HistogramElement`]); the edges of an `f32` array are NumPy's `f32` edges, given as
    /// `f64`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidHistogram`] if `bins` is zero, the range is not finite or its end is
    /// below its start, or there are more bins than the range has distinct values of the
    /// element's float type (NumPy's `ValueError`s), or than half the memory available
    /// holds, before anything is read; otherwise as
    /// [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// array![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, f64::NAN, -1.0].save_npy(&path)?;
    /// let x = unsafe { Array1::<f64>::map_npy(&path)? };
    /// let (counts, edges) = ndmmap::chunked::Zip::from(&x).histogram(4, (0.0, 2.0))?;
    /// assert_eq!(counts, array![1, 1, 1, 2]); // 2.0 is in the last bin; 2.5, NaN, -1 in none
    /// assert_eq!(edges, array![0.0, 0.5, 1.0, 1.5, 2.0]);
    ///
    /// let err = ndmmap::chunked::Zip::from(&x).histogram(0, (0.0, 2.0)).unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::InvalidHistogram { bins: 0, .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::type_complexity, reason = "NumPy's (hist, bin_edges) pair")]
    pub fn histogram(self, bins: usize, range: (f64, f64)) -> Result<(Array1<u64>, Array1<f64>)> {
        self.histogram_with(false, bins, range)
    }

    /// [`histogram`](Zip::histogram) on rayon's thread pool: each chunk is cut into pieces
    /// counted at once, into per-thread counts merged at the end.
    ///
    /// # Errors
    ///
    /// As [`histogram`](Zip::histogram).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = Array2::from_shape_fn((1000, 10), |(i, j)| ((i * 10 + j) % 100) as u32);
    /// let (counts, edges) =
    ///     ndmmap::chunked::Zip::from(&x).chunk_bytes(4096).par_histogram(10, (0.0, 100.0))?;
    /// assert_eq!(counts, Array1::from_elem(10, 1000));
    /// assert_eq!(edges[1], 10.0);
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[cfg(feature = "rayon")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
    #[allow(clippy::type_complexity, reason = "NumPy's (hist, bin_edges) pair")]
    pub fn par_histogram(
        self,
        bins: usize,
        range: (f64, f64),
    ) -> Result<(Array1<u64>, Array1<f64>)> {
        self.histogram_with(true, bins, range)
    }

    /// The common body of [`histogram`](Zip::histogram) and
    /// [`par_histogram`](Zip::par_histogram).
    #[allow(clippy::type_complexity, reason = "NumPy's (hist, bin_edges) pair")]
    fn histogram_with(
        mut self,
        parallel: bool,
        bins: usize,
        range: (f64, f64),
    ) -> Result<(Array1<u64>, Array1<f64>)> {
        if let Some(err) = self.mismatch.take() {
            return Err(err);
        }
        // The edges and a tally per thread must fit in half the memory available: more bins
        // are refused rather than allocated.
        let memory = budget::available_memory().unwrap_or(u64::MAX);
        let tallies = if parallel { threads() } else { 1 };
        let bytes = u64::try_from(bins).unwrap_or(u64::MAX).saturating_mul(8 * (tallies + 1));
        if bytes > memory / 2 {
            let (lo, hi) = range;
            let reason = "too many bins to count in the memory available";
            return Err(Error::InvalidHistogram { bins, lo, hi, reason });
        }
        let bins = Bins::<A::Float>::new(bins, range, A::edge)?;
        let fold = |counts: &mut Vec<u64>, piece: ArrayView<'_, A, D>| {
            let add = |x: &A| {
                if let Some(i) = bins.index(x.to_float()) {
                    counts[i] += 1;
                }
            };
            match piece.as_slice_memory_order() {
                Some(values) => values.iter().for_each(add),
                None => piece.iter().for_each(add),
            }
        };
        let tallies = self.tally(parallel, || vec![0; bins.n], fold, |_, _, _, _| None)?;
        let mut counts = Array1::zeros(bins.n);
        for tally in tallies {
            counts += &Array1::from(tally);
        }
        let edges = bins.edges.iter().map(|e| e.as_()).collect();
        Ok((counts, edges))
    }
}

impl<'a, A: BincountElement + 'a, D: Dimension> Zip<'a, (ArrayView<'a, A, D>,), D> {
    /// Counts each value of a non-negative integer array, as NumPy's `np.bincount(x,
    /// minlength=minlength)`: element `i` of the result is how many elements equal `i`, and
    /// the result is one longer than the largest value, at least `minlength` long.
    ///
    /// # Errors
    ///
    /// [`Error::NegativeValue`] at a negative element, naming it and its index (the first
    /// in the order of the walk); [`Error::CountsTooLarge`] at an element so large that a
    /// count for every value up to it would not fit in half the memory available; nothing
    /// is returned then. [`Error::InvalidOption`], before anything is read, for a
    /// `minlength` longer than that. Otherwise as [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("tokens.npy");
    /// array![[3u16, 1], [1, 0]].save_npy(&path)?;
    /// let tokens = unsafe { Array2::<u16>::map_npy(&path)? };
    /// let zip = || ndmmap::chunked::Zip::from(&tokens);
    /// assert_eq!(zip().bincount(0)?, array![1, 2, 0, 1]);
    /// assert_eq!(zip().bincount(6)?, array![1, 2, 0, 1, 0, 0]);
    ///
    /// let x = array![[0i32, 4], [-2, 1]];
    /// let err = ndmmap::chunked::Zip::from(&x).bincount(0).unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::NegativeValue { value: -2, ref index } if index == &[1, 0]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bincount(self, minlength: usize) -> Result<Array1<u64>> {
        self.bincount_with(false, minlength)
    }

    /// [`bincount`](Zip::bincount) on rayon's thread pool: each chunk is cut into pieces
    /// counted at once, into per-thread counts merged at the end.
    ///
    /// # Errors
    ///
    /// As [`bincount`](Zip::bincount).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let x = Array1::from_shape_fn(100_000, |i| (i % 10) as u8);
    /// let counts = ndmmap::chunked::Zip::from(&x).chunk_bytes(4096).par_bincount(0)?;
    /// assert_eq!(counts, Array1::from_elem(10, 10_000));
    /// # Ok::<(), ndmmap::Error>(())
    /// ```
    #[cfg(feature = "rayon")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
    pub fn par_bincount(self, minlength: usize) -> Result<Array1<u64>> {
        self.bincount_with(true, minlength)
    }

    /// The common body of [`bincount`](Zip::bincount) and
    /// [`par_bincount`](Zip::par_bincount).
    fn bincount_with(mut self, parallel: bool, minlength: usize) -> Result<Array1<u64>> {
        if let Some(err) = self.mismatch.take() {
            return Err(err);
        }
        // Counts beyond half the memory available are refused rather than allocated: each
        // tally (one per thread) gets its share.
        let memory = budget::available_memory().unwrap_or(u64::MAX);
        let tallies = if parallel { threads() } else { 1 };
        // And at most what one allocation may hold (a 32-bit address space).
        let limit = usize::try_from(memory / 2 / 8 / tallies)
            .unwrap_or(usize::MAX)
            .min(isize::MAX as usize / 8);
        if minlength > limit {
            return Err(Error::InvalidOption {
                path: None,
                message: "bincount's minlength asks for more counts than half the memory available holds",
            });
        }
        let fold =
            |tally: &mut Tally, piece: ArrayView<'_, A, D>| match piece.as_slice_memory_order() {
                Some(values) => tally.count(values.iter(), limit),
                None => tally.count(piece.iter(), limit),
            };
        // The first element of the chunk that a tally could not count (one did).
        let check = |tallies: &[Tally], chunk: ArrayView<'a, A, D>, cut: Axis, offset: usize| {
            if !tallies.iter().any(|t| t.bad) {
                return None;
            }
            let mut found = chunk.indexed_iter();
            let (at, &x) = found.find(|(_, x)| x.to_usize().is_none_or(|i| i >= limit))?;
            let mut index = at.into_dimension().slice().to_vec();
            if let Some(i) = index.get_mut(cut.index()) {
                *i += offset;
            }
            Some(match x.to_i64() {
                Some(value) if value < 0 => Error::NegativeValue { value, index },
                _ => Error::CountsTooLarge { value: x.to_u64().unwrap_or(u64::MAX), index },
            })
        };
        let tallies = self.tally(parallel, Tally::default, fold, check)?;
        let mut all = Tally::default();
        for tally in &tallies {
            all.merge(tally);
        }
        let used = all.counts.iter().rposition(|&c| c > 0).map_or(0, |last| last + 1);
        all.counts.truncate(used);
        all.counts.resize(used.max(minlength), 0);
        Ok(Array1::from(all.counts))
    }
}
