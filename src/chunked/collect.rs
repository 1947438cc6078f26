//! Results into new files: [`Zip::map_collect_raw`] and [`Zip::map_collect_npy`] compute
//! `f` of every element chunk by chunk and write the results into a new file, as ndarray's
//! `Zip::map_collect` into memory.
//!
//! Each chunk's results are computed in memory (by every thread with the `par_` methods),
//! in the file's order, into one buffer reused for every chunk, and written with
//! positioned writes (no map of the output: nothing to fault in, zero-fill or release),
//! which are written back behind the walk and evicted once on disk, as the engine's mapped
//! outputs are (a few chunks stay in flight), but on the computing thread. The
//! file is built under a temporary name beside the path and put in place only once it is
//! complete and synced, so a failure or a panicking closure leaves no file at the path.

use std::fs::File;
use std::ops::Range;
use std::path::Path;

use bytemuck::Pod;
use ndarray::{ArrayView, ArrayViewMut, Axis, Dimension, Order, ShapeBuilder};

use super::Zip;
use super::operand::{ChunkView, Parts, flat_dim};
use crate::error::{Error, Result};
use crate::npy::NpyElement;

/// Where a chunk's results go in the output file: the file's order, the array's full shape
/// (flattened when the walk is) and the header's length.
struct OutputLayout {
    fortran: bool,
    full: Vec<usize>,
    header: u64,
}

impl OutputLayout {
    /// Writes `out` (a chunk's results in the file's order, `rows` along `axis` starting
    /// at `start`) into `file`; returns the byte ranges written.
    fn write<R: Pod, D: Dimension>(
        &self,
        file: &File,
        path: &Path,
        out: &ArrayView<'_, R, D>,
        axis: Axis,
        start: usize,
    ) -> Result<Vec<Range<u64>>> {
        let elems = out.as_slice_memory_order().expect("built in the file's order");
        let bytes: &[u8] = bytemuck::cast_slice(elems);
        let dims = out.shape();
        if dims.is_empty() {
            crate::map::file::write_all_at(file, bytes, self.header)
                .map_err(|e| Error::io(path, "write", self.header, e))?;
            let written = self.header..self.header + bytes.len() as u64;
            return Ok(std::iter::once(written).collect());
        }
        let k = axis.index();
        // In the file's order, the axes before the cut one vary slowest (C order) or
        // fastest (Fortran order).
        let (before, after) = (&dims[..k], &dims[k + 1..]);
        let (outer, inner): (usize, usize) = if self.fortran {
            (after.iter().product(), before.iter().product())
        } else {
            (before.iter().product(), after.iter().product())
        };
        let (rows, full) = (dims[k], self.full_len(k));
        let block = rows * inner * size_of::<R>();
        let mut written = Vec::with_capacity(outer);
        for j in 0..outer {
            let at = self.header + ((j * full + start) * inner * size_of::<R>()) as u64;
            crate::map::file::write_all_at(file, &bytes[j * block..(j + 1) * block], at)
                .map_err(|e| Error::io(path, "write", at, e))?;
            written.push(at..at + block as u64);
        }
        Ok(written)
    }

    /// The length of `axis` over the whole (possibly flattened) array.
    fn full_len(&self, axis: usize) -> usize {
        self.full.get(axis).copied().unwrap_or(1)
    }
}

/// `err`, where a cancelled walk says that nothing is done: its new file is not made.
pub(super) fn none_done(err: Error) -> Error {
    match err {
        Error::Cancelled { axis, len, .. } => Error::Cancelled { axis, done: 0, len },
        err => err,
    }
}

macro_rules! impl_collect {
    ($($p:ident $x:ident),+) => {
        impl<'a, D: Dimension, $($p: ChunkView<D>),+> Zip<'a, ($($p,)+), D> {
            /// Computes `f` of every element and writes the results into a new raw file at
            /// `path` (native byte order, no header), as ndarray's `Zip::map_collect` into
            /// memory. The file is in C order, or Fortran order when the operands are (it
            /// follows the engine's chunks): map it back with that order.
            ///
            /// # Errors
            ///
            /// [`Error::ShapeMismatch`] before any file is made; [`Error::AlreadyExists`] if `path` exists; [`Error::NoSpace`] or
            /// [`Error::Io`] if writing fails; [`Error::Cancelled`] (`done` 0) if the walk was
            /// cancelled ([`cancel_on`](Self::cancel_on)). On any error no file is left at `path`.
            ///
            /// # Panics
            ///
            /// If `f` panics, the panic propagates, and the partly written file is removed.
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let dir = tempfile::tempdir()?;
            /// let a = Array2::from_shape_fn((100, 3), |(i, j)| (i * 3 + j) as f64);
            /// let out = dir.path().join("half.bin");
            /// ndmmap::chunked::Zip::from(&a).chunk_bytes(256).map_collect_raw(&out, |&a| a as f32 / 2.0)?;
            /// let half = unsafe {
            ///     Array2::<f32>::map_file_with(&out, &MapOptions::new().shape((100, 3)))?
            /// };
            /// assert_eq!(*half, a.mapv(|a| a as f32 / 2.0));
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn map_collect_raw<R: Pod, F>(self, path: impl AsRef<Path>, mut f: F) -> Result<()>
            where
                F: FnMut($($p::Item),+) -> R,
            {
                self.collect_into(path.as_ref(), None, |out, ($($x,)+)| {
                    ndarray::Zip::from(out)$(.and($x))+.for_each(|o, $($x),+| *o = f($($x),+));
                })
            }

            /// [`map_collect_raw`](Self::map_collect_raw) on rayon's thread pool: each
            /// chunk's results are computed by every thread (as ndarray's
            /// `Zip::par_map_collect`), then written, chunk after chunk, so memory stays
            /// bounded.
            ///
            /// # Errors
            ///
            /// As [`map_collect_raw`](Self::map_collect_raw).
            ///
            /// # Panics
            ///
            /// As [`map_collect_raw`](Self::map_collect_raw).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let dir = tempfile::tempdir()?;
            /// let a = Array1::from_shape_fn(10_000, |i| i as u32);
            /// let out = dir.path().join("squares.bin");
            /// ndmmap::chunked::Zip::from(&a).chunk_bytes(4096).par_map_collect_raw(&out, |&a| u64::from(a) * u64::from(a))?;
            /// let squares = unsafe { Array1::<u64>::map_file(&out)? };
            /// assert_eq!(squares[9999], 9999 * 9999);
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            #[cfg(feature = "rayon")]
            #[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
            pub fn par_map_collect_raw<R: Pod + Send, F>(self, path: impl AsRef<Path>, f: F) -> Result<()>
            where
                F: Fn($($p::Item),+) -> R + Sync + Send,
                $($p: Send, $p::Item: Send,)+
            {
                self.collect_into(path.as_ref(), None, |out, ($($x,)+)| {
                    ndarray::Zip::from(out)$(.and($x))+.par_for_each(|o, $($x),+| *o = f($($x),+));
                })
            }

            /// Computes `f` of every element and writes the results into a new `.npy` file
            /// at `path` (C order, or Fortran order when the operands are), as NumPy's
            /// `np.save` of the result would, without holding it in memory.
            ///
            /// # Errors
            ///
            /// As [`map_collect_raw`](Self::map_collect_raw).
            ///
            /// # Panics
            ///
            /// As [`map_collect_raw`](Self::map_collect_raw).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let dir = tempfile::tempdir()?;
            /// let (a, b) = (Array2::<f64>::ones((40, 5)), Array2::from_elem((40, 5), 2.0));
            /// let out = dir.path().join("sum.npy");
            /// ndmmap::chunked::Zip::from(&a).and(&b).map_collect_npy(&out, |&a, &b| a + b)?;
            /// let sum = unsafe { Array2::<f64>::map_npy(&out)? };
            /// assert!(sum.iter().all(|&x| x == 3.0));
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn map_collect_npy<R: NpyElement + Pod, F>(self, path: impl AsRef<Path>, mut f: F) -> Result<()>
            where
                F: FnMut($($p::Item),+) -> R,
            {
                let path = path.as_ref();
                let header = self.npy_header::<R>(path)?;
                self.collect_into(path, Some(header), |out, ($($x,)+)| {
                    ndarray::Zip::from(out)$(.and($x))+.for_each(|o, $($x),+| *o = f($($x),+));
                })
            }

            /// [`map_collect_npy`](Self::map_collect_npy) on rayon's thread pool: each
            /// chunk's results are computed by every thread (as ndarray's
            /// `Zip::par_map_collect`), then written, chunk after chunk, so memory stays
            /// bounded.
            ///
            /// # Errors
            ///
            /// As [`map_collect_raw`](Self::map_collect_raw).
            ///
            /// # Panics
            ///
            /// As [`map_collect_raw`](Self::map_collect_raw).
            ///
            /// # Example
            ///
            /// ```
            /// use ndmmap::prelude::*;
            ///
            /// let dir = tempfile::tempdir()?;
            /// let (a, b) = (Array2::<f64>::ones((400, 5)), Array2::from_elem((400, 5), 2.0));
            /// let out = dir.path().join("sum.npy");
            /// ndmmap::chunked::Zip::from(&a).and(&b).par_map_collect_npy(&out, |&a, &b| a + b)?;
            /// let sum = unsafe { Array2::<f64>::map_npy(&out)? };
            /// assert!(sum.iter().all(|&x| x == 3.0));
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            #[cfg(feature = "rayon")]
            #[cfg_attr(docsrs, doc(cfg(feature = "rayon")))]
            pub fn par_map_collect_npy<R: NpyElement + Pod + Send, F>(self, path: impl AsRef<Path>, f: F) -> Result<()>
            where
                F: Fn($($p::Item),+) -> R + Sync + Send,
                $($p: Send, $p::Item: Send,)+
            {
                let path = path.as_ref();
                let header = self.npy_header::<R>(path)?;
                self.collect_into(path, Some(header), |out, ($($x,)+)| {
                    ndarray::Zip::from(out)$(.and($x))+.par_for_each(|o, $($x),+| *o = f($($x),+));
                })
            }

            /// The `.npy` header of the file `map_collect_npy` writes.
            fn npy_header<R: NpyElement>(&self, path: &Path) -> Result<Vec<u8>> {
                let fortran = self.collect_fortran();
                crate::npy::header_for::<R>(path, self.dim.slice(), fortran)
            }

            /// The common body: the file's order, then the walk; `fill` computes a chunk's
            /// results into the view it is given (in the file's order).
            fn collect_into<R: Pod>(
                mut self,
                path: &Path,
                header: Option<Vec<u8>>,
                mut fill: impl FnMut(ArrayViewMut<'_, R, D>, ($($p,)+)),
            ) -> Result<()> {
                if let Some(err) = self.mismatch.take() {
                    return Err(err);
                }
                let fortran = self.collect_fortran();
                let header = header.unwrap_or_default();
                let full: Vec<usize> = self.dim.slice().to_vec();
                let size = self.dim.size();
                let data = size_of::<R>().checked_mul(size).ok_or_else(|| Error::Overflow {
                    path: Some(path.to_path_buf()),
                    shape: full.clone(),
                    elem_size: size_of::<R>(),
                })?;
                let len = (header.len() + data) as u64;
                let order = if fortran { Order::ColumnMajor } else { Order::RowMajor };
                let flat = self.parts.contiguous(order) && self.dim.ndim() > 0;
                let full = if flat { flat_dim(&self.dim, order).slice().to_vec() } else { full };
                let output = OutputLayout { fortran, full, header: header.len() as u64 };
                crate::fs::build_new(path, len, false, &header, |file| {
                    let mut behind = crate::fs::WriteBehind::new(file, path);
                    let mut start = 0;
                    // One buffer for every chunk: a new one per chunk would be fresh pages
                    // to fault in (and zero) each time.
                    let mut buffer: Vec<R> = Vec::new();
                    self.run(true, |($($x,)+), axis| {
                        let shape = [$($x.raw_dim()),+][0].clone();
                        let size = shape.size();
                        if buffer.len() < size {
                            buffer.resize(size, R::zeroed());
                        }
                        let shape = shape.set_f(fortran);
                        let view = ArrayViewMut::from_shape(shape.clone(), &mut buffer[..size])
                            .expect("the buffer holds the chunk");
                        fill(view, ($($x,)+));
                        let out = ArrayView::from_shape(shape, &buffer[..size]).expect("as above");
                        behind.written(&output.write(file, path, &out, axis, start)?)?;
                        if out.ndim() > 0 {
                            start += out.len_of(axis);
                        }
                        Ok::<(), Error>(())
                    })
                })
                .map_err(none_done)
            }

            /// Whether the file is in Fortran order: when the engine cuts along the last of
            /// two or more axes.
            fn collect_fortran(&self) -> bool {
                let ndim = self.dim.ndim();
                if ndim < 2 {
                    return false;
                }
                let contiguous = [Order::RowMajor, Order::ColumnMajor]
                    .into_iter()
                    .find(|&order| self.parts.contiguous(order));
                self.cut_axis(&self.parts.footprints(), contiguous) == ndim - 1
            }
        }
    };
}

impl_collect!(P1 p1);
impl_collect!(P1 p1, P2 p2);
impl_collect!(P1 p1, P2 p2, P3 p3);
impl_collect!(P1 p1, P2 p2, P3 p3, P4 p4);
impl_collect!(P1 p1, P2 p2, P3 p3, P4 p4, P5 p5);
