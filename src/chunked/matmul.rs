//! Matrix products in bounded memory: [`Zip::dot`] and [`Zip::dot_into`] (`X · W` for a tall
//! `X`, mapped or not, and a small `W` in memory) and [`Zip::t_dot`] (`Xᵀ · Y` for two tall
//! matrices, a Gram or cross-product matrix).
//!
//! Both walk the rows of the tall operands in chunks, as every walk of the engine does (read
//! ahead, released, written back; a Fortran-order `X` is read in runs of at least a page per
//! column, see [Mixed layouts](super#mixed-layouts)), and hand each block of rows to
//! ndarray's matrix product (`general_mat_mul`, matrixmultiply's kernels for `f32` and
//! `f64`): `X · W` fills the same rows of the output, `Xᵀ · Y` adds the block's `Xᵢᵀ · Yᵢ` to
//! the result. With the `rayon` feature each chunk is cut into pieces of rows multiplied on
//! rayon's thread pool.
//!
//! The walk runs over the row indices of a `(rows, width)` grid, `width` the wider of the
//! operands' rows, with the matrices riding along it (see `riders` in `Zip`), always cut
//! along the rows: so that a chunk holds about the chunk size of the widest matrix, whatever
//! the memory orders.

#[cfg(feature = "rayon")]
use ndarray::Axis;
use ndarray::linalg::general_mat_mul;
use ndarray::{
    Array2, ArrayRef2, ArrayView2, ArrayViewMut2, Dimension, Ix2, LinalgScalar, NdProducer, s,
};

use super::operand::{ChunkView, Hooks};
use super::{EngineSettings, Operand, Zip};
use crate::error::{Error, Result};

/// How many pieces of rows a chunk is cut into for rayon's thread pool: enough to balance
/// any pool.
#[cfg(feature = "rayon")]
const PIECES: usize = 64;

impl<'a, A: 'a> Zip<'a, (ArrayView2<'a, A>,), Ix2> {
    /// The matrix product `X · W` of this Zip's matrix `X` (`n × k`, mapped or in memory, in
    /// any memory order) and `W` (`k × m`, in memory) into a new owned `n × m` array, as
    /// ndarray's [`dot`](ndarray::ArrayRef::dot), reading `X` once in chunks of rows. Use
    /// [`dot_into`](Self::dot_into) for a result too large for memory.
    ///
    /// # Errors
    ///
    /// [`Error::DotShapeMismatch`] if `X` has not as many columns as `W` has rows (where
    /// ndarray panics), before anything is read; otherwise as [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// Array2::from_shape_fn((10_000, 8), |(i, j)| ((i + j) % 5) as f64).save_npy(&path)?;
    /// let x = unsafe { Array2::<f64>::map_npy(&path)? };
    /// let w = Array2::from_shape_fn((8, 3), |(i, j)| (i * j) as f64);
    /// let xw = ndmmap::chunked::Zip::from(&x).chunk_bytes(64 << 10).dot(&w)?;
    /// assert_eq!(xw, x.dot(&w));
    ///
    /// let wrong = Array2::<f64>::zeros((7, 3));
    /// let err = ndmmap::chunked::Zip::from(&x).dot(&wrong).unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::DotShapeMismatch { left: [10_000, 8], right: [7, 3] }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dot(self, w: &ArrayRef2<A>) -> Result<Array2<A>>
    where
        A: LinalgScalar + Send + Sync,
    {
        check_inner(self.dim.into_pattern(), w.dim())?;
        super::check_result_size::<A>(&[self.dim[0], w.ncols()])?;
        let mut product = Array2::zeros((self.dim[0], w.ncols()));
        self.dot_into(w, product.view_mut())?;
        Ok(product)
    }

    /// The matrix product `X · W` into `out`, as [`dot`](Self::dot) but written into an
    /// `n × m` array the caller gives, in any memory order: a mapped output (`&mut
    /// MmapArrayMut`, a new `.npy` from [`create_npy`](crate::MapNpy::create_npy),
    /// say), whose rows are written back and released as the walk goes so that memory
    /// stays a few chunks whatever `n`, or a plain one (`&mut Array`, an `ArrayViewMut`).
    /// A mapped output is flushed before this returns.
    ///
    /// # Errors
    ///
    /// [`Error::DotShapeMismatch`] if `X` has not as many columns as `W` has rows;
    /// [`Error::DotOutputShapeMismatch`] if `out` is not `n × m`; both before anything is
    /// read or written. Otherwise as [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let x = Array2::from_shape_fn((5000, 4), |(i, j)| (i % 7 + j) as f32);
    /// let w = array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 2.0]];
    /// let path = dir.path().join("xw.npy");
    /// let mut xw = unsafe { Array2::<f32>::create_npy(&path, (5000, 2))? };
    /// ndmmap::chunked::Zip::from(&x).chunk_bytes(4096).dot_into(&w, &mut xw)?;
    /// assert_eq!(*xw, x.dot(&w));
    ///
    /// let mut wrong = Array2::<f32>::zeros((5000, 3));
    /// let err = ndmmap::chunked::Zip::from(&x).dot_into(&w, &mut wrong).unwrap_err();
    /// assert!(matches!(
    ///     err,
    ///     ndmmap::Error::DotOutputShapeMismatch { expected: [5000, 2], actual: [5000, 3] }
    /// ));
    /// assert!(wrong.iter().all(|&v| v == 0.0)); // untouched
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dot_into<O>(self, w: &ArrayRef2<A>, out: O) -> Result<()>
    where
        A: LinalgScalar + Send + Sync,
        O: Operand<'a, Dim = Ix2, View = ArrayViewMut2<'a, A>>,
    {
        let (rows, inner) = self.dim.into_pattern();
        let cols = w.ncols();
        check_inner((rows, inner), w.dim())?;
        let (mut out, out_hooks) = out.into_chunks();
        if out.dim() != (rows, cols) {
            return Err(Error::DotOutputShapeMismatch {
                expected: [rows, cols],
                actual: [out.nrows(), out.ncols()],
            });
        }
        let out_footprint = out.footprint();
        let (walk, x) = self.rows(inner.max(cols), vec![(out_footprint, out_hooks)])?;
        let mut start = 0;
        walk.run(false, |(chunk,), _| {
            let end = start + chunk.raw_dim()[0];
            let block = x.slice(s![start..end, ..]);
            product_into(&block, w, &mut out.slice_mut(s![start..end, ..]));
            start = end;
            Ok::<(), Error>(())
        })
    }

    /// The matrix product `Xᵀ · Y` of this Zip's matrix `X` (`n × k`) and `y` (`n × m`),
    /// both mapped or in memory, in any memory order, into a new `k × m` array: ndarray's
    /// `x.t().dot(&y)` (NumPy's `x.T @ y`) in one pass over both, in bounded memory. Each
    /// chunk of rows adds its `Xᵢᵀ · Yᵢ`; with the `rayon` feature the pieces of a chunk
    /// are multiplied on rayon's thread pool and their partial products added, so the
    /// sums may differ from a serial `dot` in the last bits.
    ///
    /// `Zip::from(&x).t_dot(&x)` is the Gram matrix `XᵀX` of least squares and PCA.
    ///
    /// # Errors
    ///
    /// [`Error::DotShapeMismatch`] if `X` and `Y` have not as many rows (its `left` is
    /// `Xᵀ`'s shape, `k × n`), before anything is read; otherwise as
    /// [`for_each`](Zip::for_each).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let (x_path, y_path) = (dir.path().join("x.npy"), dir.path().join("y.npy"));
    /// Array2::from_shape_fn((20_000, 3), |(i, j)| ((i * (j + 1)) % 7) as f64).save_npy(&x_path)?;
    /// Array2::from_shape_fn((20_000, 2), |(i, j)| ((i + j) % 3) as f64).save_npy(&y_path)?;
    /// let x = unsafe { Array2::<f64>::map_npy(&x_path)? };
    /// let y = unsafe { Array2::<f64>::map_npy(&y_path)? };
    /// let xty = ndmmap::chunked::Zip::from(&x).chunk_bytes(64 << 10).t_dot(&y)?;
    /// assert_eq!(xty, x.t().dot(&*y));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn t_dot<O>(self, y: O) -> Result<Array2<A>>
    where
        A: LinalgScalar + Send + Sync,
        O: Operand<'a, Dim = Ix2, View = ArrayView2<'a, A>>,
    {
        let (rows, inner) = self.dim.into_pattern();
        let (y, y_hooks) = y.into_chunks();
        let cols = y.ncols();
        if y.nrows() != rows {
            return Err(Error::DotShapeMismatch { left: [inner, rows], right: [y.nrows(), cols] });
        }
        super::check_result_size::<A>(&[inner, cols])?;
        let y_footprint = y.footprint();
        let (walk, x) = self.rows(inner.max(cols), vec![(y_footprint, y_hooks)])?;
        let mut start = 0;
        walk.walk(false, Array2::zeros((inner, cols)), |mut acc, (chunk,), _| {
            let end = start + chunk.raw_dim()[0];
            let (x, y) = (x.slice(s![start..end, ..]), y.slice(s![start..end, ..]));
            add_t_product(&mut acc, &x, &y);
            start = end;
            Ok::<Array2<A>, Error>(acc)
        })
    }

    /// A walk over the rows of this Zip's matrix and of `others` (each an `n × _` matrix's
    /// footprint and hooks), cut along the rows in chunks of `width` elements per row
    /// (the widest matrix's), and the matrix's view. The operands keep their hooks: each
    /// chunk's rows are read ahead, released, written back and evicted as any operand's.
    #[allow(clippy::type_complexity, reason = "the walk and the view it walks")]
    fn rows(
        self,
        width: usize,
        others: Vec<(super::operand::Footprint, Hooks<'a>)>,
    ) -> Result<(Zip<'a, (ndarray::iter::Indices<Ix2>,), Ix2>, ArrayView2<'a, A>)> {
        let Zip { parts: (x,), hooks, mismatch, riders, settings, progress, .. } = self;
        if let Some(err) = mismatch {
            return Err(err);
        }
        debug_assert!(riders.is_empty(), "a matrix product starts from a plain Zip");
        let dim = Ix2(x.nrows(), width);
        let mut all = vec![Hooks::default()];
        all.extend(hooks);
        let mut riders = vec![x.footprint()];
        for (footprint, hooks) in others {
            riders.push(footprint);
            all.push(hooks);
        }
        let walk = Zip {
            parts: (ndarray::indices(dim),),
            hooks: all,
            dim,
            mismatch: None,
            riders,
            settings: EngineSettings { cut: Some(0), ..settings },
            progress,
        };
        Ok((walk, x))
    }
}

/// [`Error::DotShapeMismatch`] unless a `left` matrix can multiply a `right` one.
fn check_inner(left: (usize, usize), right: (usize, usize)) -> Result<()> {
    if left.1 == right.0 {
        Ok(())
    } else {
        Err(Error::DotShapeMismatch { left: [left.0, left.1], right: [right.0, right.1] })
    }
}

/// `out = x · w` (shapes checked), on rayon's thread pool with the `rayon` feature.
fn product_into<A: LinalgScalar + Send + Sync>(
    x: &ArrayView2<'_, A>,
    w: &ArrayRef2<A>,
    out: &mut ArrayViewMut2<'_, A>,
) {
    #[cfg(feature = "rayon")]
    {
        use ndarray::parallel::prelude::*;
        let piece = x.nrows().div_ceil(PIECES).max(1);
        let blocks = x.axis_chunks_iter(Axis(0), piece).into_par_iter();
        let targets = out.axis_chunks_iter_mut(Axis(0), piece).into_par_iter();
        blocks.zip(targets).for_each(|(x, mut out)| {
            general_mat_mul(A::one(), &x, w, A::zero(), &mut out);
        });
    }
    #[cfg(not(feature = "rayon"))]
    general_mat_mul(A::one(), x, w, A::zero(), out);
}

/// `acc += xᵀ · y` (shapes checked), on rayon's thread pool with the `rayon` feature.
fn add_t_product<A: LinalgScalar + Send + Sync>(
    acc: &mut Array2<A>,
    x: &ArrayView2<'_, A>,
    y: &ArrayView2<'_, A>,
) {
    #[cfg(feature = "rayon")]
    {
        use ndarray::parallel::prelude::*;
        let piece = x.nrows().div_ceil(PIECES).max(1);
        let blocks = x.axis_chunks_iter(Axis(0), piece).into_par_iter();
        let others = y.axis_chunks_iter(Axis(0), piece).into_par_iter();
        let shape = acc.raw_dim();
        let partial = blocks
            .zip(others)
            .fold(
                || Array2::zeros(shape),
                |mut part, (x, y)| {
                    general_mat_mul(A::one(), &x.t(), &y, A::one(), &mut part);
                    part
                },
            )
            .reduce(|| Array2::zeros(shape), |a, b| a + b);
        ndarray::Zip::from(acc).and(&partial).for_each(|a, &p| *a = *a + p);
    }
    #[cfg(not(feature = "rayon"))]
    general_mat_mul(A::one(), &x.t(), y, A::one(), acc);
}
