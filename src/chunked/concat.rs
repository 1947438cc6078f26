//! Concatenating and stacking arrays into a new file: [`concatenate`] and [`stack`], NumPy's
//! `np.concatenate` and `np.stack` followed by `np.save`, in bounded memory.
//!
//! The output is built under a temporary name beside the path and put in place only once
//! it is complete and synced (as [`Zip::map_collect_npy`] does), so a failure or a panic
//! leaves no file at the path. Every piece is checked (shapes, element types, the files'
//! headers) before the file is made.
//!
//! Each piece lands in the output as runs of bytes: one run when the pieces are joined
//! along the output's outermost memory axis (axis 0 of a C-order file), one per slab along
//! the axes before the joining axis otherwise. A piece held in a file in the output's
//! memory order (a `.npy` file, or a guard's shared map) is copied file to file, run by
//! run, with the kernel's copy (`copy_file_range` on Linux, a reflink on XFS and btrfs)
//! where the system offers it, else by reading and writing. Other pieces go through the
//! engine's walk, a chunk at a time, and are written with positional writes, written back
//! behind the walk and evicted once on disk.

use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytemuck::{AnyBitPattern, Pod};
use ndarray::{
    ArrayBase, ArrayRef, ArrayView, Axis, Data, Dimension, IxDyn, NdProducer, Order, ShapeBuilder,
};

use super::operand::Hooks;
use super::{CancelToken, DEFAULT_CHUNK_BYTES, Zip};
use crate::error::{Error, Result};
use crate::fs::WriteBehind;
use crate::guard::pages::Pages;
use crate::guard::{MmapArray, MmapArrayMut};
use crate::npy::{NpyData, NpyElement};

/// How many bytes a file-to-file copy moves between two looks at the walk (a chunk of the
/// engine's walk over the bytes to copy), unless [`Concat::chunk_bytes`] says otherwise.
const COPY_STEP: usize = 64 << 20;

/// One array to [`concatenate`] or [`stack`]: an array in memory (`Piece::from(&a)`), a
/// view of any layout (`Piece::from(a.t())`), a mapped array (`Piece::from(&guard)`), or a `.npy` file
/// ([`Piece::npy`]), which is read, not mapped.
///
/// # Example
///
/// ```
/// use ndmmap::chunked::Piece;
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("b.npy");
/// array![[5u8, 6]].save_npy(&path)?;
/// let a = array![[1u8, 2], [3, 4]];
/// let pieces = [Piece::from(&a), Piece::npy(&path)];
/// let out = dir.path().join("ab.npy");
/// ndmmap::chunked::concatenate(Axis(0), pieces).write_npy(&out)?;
/// assert_eq!(ndmmap::npy::read_npy::<u8, Ix2>(&out)?, array![[1, 2], [3, 4], [5, 6]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Piece<'a, A> {
    source: Source<'a, A>,
}

/// Where a piece's elements are.
enum Source<'a, A> {
    /// An array's view, with the pages of the guard behind it, if it is mapped.
    View { view: ArrayView<'a, A, IxDyn>, pages: Option<Pages<'a>> },
    /// A `.npy` file, and how to open it for elements of type `A`.
    Npy { path: PathBuf, open: fn(&Path) -> Result<NpyData> },
}

impl<A> fmt::Debug for Piece<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::View { view, pages } => f
                .debug_struct("Piece")
                .field("shape", &view.shape())
                .field("mapped", &pages.is_some())
                .finish(),
            Source::Npy { path, .. } => f.debug_struct("Piece").field("npy", path).finish(),
        }
    }
}

impl<A: NpyElement> Piece<'_, A> {
    /// The `.npy` file at `path`, read when the pieces are written (not mapped, so that
    /// no `unsafe` is needed). It must hold elements of type `A` in this machine's byte
    /// order, in C or Fortran order.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::chunked::Piece;
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    /// array![1.0f64, 2.0].save_npy(&a)?;
    /// array![3.0f64].save_npy(&b)?;
    /// let out = dir.path().join("ab.npy");
    /// let pieces = [Piece::<f64>::npy(&a), Piece::npy(&b)];
    /// ndmmap::chunked::concatenate(Axis(0), pieces).write_npy(&out)?;
    /// assert_eq!(ndmmap::npy::read_npy::<f64, Ix1>(&out)?, array![1.0, 2.0, 3.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn npy(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_path_buf();
        Piece { source: Source::Npy { path, open: crate::npy::open_data::<A> } }
    }
}

impl<'a, A, S: Data<Elem = A>, D: Dimension> From<&'a ArrayBase<S, D>> for Piece<'a, A> {
    fn from(array: &'a ArrayBase<S, D>) -> Self {
        Piece { source: Source::View { view: array.view().into_dyn(), pages: None } }
    }
}

impl<'a, A, D: Dimension> From<ArrayView<'a, A, D>> for Piece<'a, A> {
    fn from(view: ArrayView<'a, A, D>) -> Self {
        Piece { source: Source::View { view: view.into_dyn(), pages: None } }
    }
}

impl<'a, A, D: Dimension> From<&'a ArrayRef<A, D>> for Piece<'a, A> {
    fn from(array: &'a ArrayRef<A, D>) -> Self {
        Piece { source: Source::View { view: array.view().into_dyn(), pages: None } }
    }
}

impl<'a, A: AnyBitPattern, D: Dimension> From<&'a MmapArray<A, D>> for Piece<'a, A> {
    fn from(guard: &'a MmapArray<A, D>) -> Self {
        let (view, pages) = (guard.view().into_dyn(), Some(guard.pages()));
        Piece { source: Source::View { view, pages } }
    }
}

impl<'a, A: Pod, D: Dimension> From<&'a MmapArrayMut<A, D>> for Piece<'a, A> {
    fn from(guard: &'a MmapArrayMut<A, D>) -> Self {
        let (view, pages) = (guard.view().into_dyn(), Some(guard.pages()));
        Piece { source: Source::View { view, pages } }
    }
}

/// Joins `pieces` along an existing `axis` into a new file, as NumPy's
/// `np.save(path, np.concatenate(pieces, axis))`, without holding the result in memory:
/// write it with [`Concat::write_npy`] or [`Concat::write_raw`].
///
/// Along every other axis the pieces' shapes must match. The file is in Fortran order when
/// every piece is (and one of them is not also in C order), as NumPy's result is; in C
/// order otherwise ([`Concat::order`] chooses).
///
/// # Example
///
/// ```
/// use ndmmap::chunked::Piece;
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let (a, b) = (Array2::<i32>::zeros((3, 2)), Array2::<i32>::ones((3, 4)));
/// let out = dir.path().join("ab.npy");
/// ndmmap::chunked::concatenate(Axis(1), [Piece::from(&a), Piece::from(&b)]).write_npy(&out)?;
/// let ab = unsafe { Array2::<i32>::map_npy(&out)? };
/// assert_eq!(ab.shape(), [3, 6]);
/// assert_eq!(*ab, ndarray::concatenate(Axis(1), &[a.view(), b.view()])?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn concatenate<'a, A>(
    axis: Axis,
    pieces: impl IntoIterator<Item = Piece<'a, A>>,
) -> Concat<'a, A> {
    Concat::new(Join::Concatenate, axis, pieces)
}

/// Joins `pieces`, all of one shape, along a new `axis` into a new file, as NumPy's
/// `np.save(path, np.stack(pieces, axis))`, without holding the result in memory: write
/// it with [`Concat::write_npy`] or [`Concat::write_raw`]. The file is in C order
/// ([`Concat::order`] chooses).
///
/// # Example
///
/// ```
/// use ndmmap::chunked::Piece;
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let (a, b) = (array![1u16, 2, 3], array![4u16, 5, 6]);
/// let out = dir.path().join("ab.npy");
/// ndmmap::chunked::stack(Axis(1), [Piece::from(&a), Piece::from(&b)]).write_npy(&out)?;
/// let ab = ndmmap::npy::read_npy::<u16, Ix2>(&out)?;
/// assert_eq!(ab, array![[1, 4], [2, 5], [3, 6]]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn stack<'a, A>(axis: Axis, pieces: impl IntoIterator<Item = Piece<'a, A>>) -> Concat<'a, A> {
    Concat::new(Join::Stack, axis, pieces)
}

/// Whether the pieces are joined along an existing axis or a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Join {
    Concatenate,
    Stack,
}

/// A concatenation or stack of arrays into a new file, made by [`concatenate`] or
/// [`stack`]: set options, then [`write_npy`](Self::write_npy) or
/// [`write_raw`](Self::write_raw).
///
/// # Example
///
/// ```
/// use ndmmap::chunked::Piece;
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let a = Array2::from_shape_fn((100, 3), |(i, j)| (3 * i + j) as f32);
/// let out = dir.path().join("aa.bin");
/// ndmmap::chunked::concatenate(Axis(0), [Piece::from(&a), Piece::from(&a)])
///     .chunk_bytes(512)
///     .write_raw(&out)?;
/// let aa = unsafe { Array2::<f32>::map_file_with(&out, &MapOptions::new().shape((200, 3)))? };
/// assert_eq!(aa.slice(s![100.., ..]), a);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "nothing is written until `write_npy` or `write_raw`"]
pub struct Concat<'a, A> {
    join: Join,
    axis: Axis,
    pieces: Vec<Piece<'a, A>>,
    chunk_bytes: Option<usize>,
    order: Option<Order>,
    overwrite: bool,
    cancel: Option<CancelToken>,
}

impl<A> fmt::Debug for Concat<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Concat")
            .field("join", &self.join)
            .field("axis", &self.axis.index())
            .field("pieces", &self.pieces)
            .field("chunk_bytes", &self.chunk_bytes)
            .field("order", &self.order)
            .field("overwrite", &self.overwrite)
            .finish()
    }
}

impl<'a, A> Concat<'a, A> {
    fn new(join: Join, axis: Axis, pieces: impl IntoIterator<Item = Piece<'a, A>>) -> Self {
        let pieces = pieces.into_iter().collect();
        Concat {
            join,
            axis,
            pieces,
            chunk_bytes: None,
            order: None,
            overwrite: false,
            cancel: None,
        }
    }

    /// Sets the chunk size in bytes: how much of a piece the engine walks at a time, and
    /// how many bytes a file-to-file copy moves at a time (64 MiB by default).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::chunked::Piece;
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let a = Array1::from_shape_fn(1000, |i| i as u32);
    /// let out = dir.path().join("a.npy");
    /// ndmmap::chunked::concatenate(Axis(0), [Piece::from(&a)]).chunk_bytes(64).write_npy(&out)?;
    /// assert_eq!(ndmmap::npy::read_npy::<u32, Ix1>(&out)?, a);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = Some(bytes);
        self
    }

    /// Sets the memory order of the file: [`Order::RowMajor`] (C) or
    /// [`Order::ColumnMajor`] (Fortran). By default it is NumPy's: Fortran order when every
    /// piece of a concatenation is in Fortran order (and one of them is not also in C
    /// order), C order otherwise.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::chunked::Piece;
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let a = array![[1i8, 2], [3, 4]];
    /// let out = dir.path().join("f.npy");
    /// ndmmap::chunked::concatenate(Axis(0), [Piece::from(&a), Piece::from(&a)])
    ///     .order(Order::ColumnMajor)
    ///     .write_npy(&out)?;
    /// assert!(ndmmap::npy::inspect(&out)?.fortran_order);
    /// assert_eq!(ndmmap::npy::read_npy::<i8, Ix2>(&out)?, array![[1, 2], [3, 4], [1, 2], [3, 4]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn order(mut self, order: Order) -> Self {
        self.order = Some(order);
        self
    }

    /// Whether to replace a file already at the path (default `false`: such a file is an
    /// [`Error::AlreadyExists`]). The old file stays whole until the new one is complete,
    /// and is then replaced in one step.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::chunked::Piece;
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let out = dir.path().join("a.npy");
    /// array![0u8].save_npy(&out)?;
    /// let a = array![1u8, 2];
    /// ndmmap::chunked::concatenate(Axis(0), [Piece::from(&a)]).overwrite(true).write_npy(&out)?;
    /// assert_eq!(ndmmap::npy::read_npy::<u8, Ix1>(&out)?, a);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn overwrite(mut self, yes: bool) -> Self {
        self.overwrite = yes;
        self
    }

    /// Stops the copy before its next chunk once `token` is cancelled, as
    /// [`Zip::cancel_on`] stops a walk: the result is [`Error::Cancelled`] and no file is
    /// made (a file the copy was to replace stays as it was).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::chunked::{CancelToken, Piece};
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let a = Array1::from_shape_fn(1000, |i| i as u32);
    /// let token = CancelToken::new();
    /// token.cancel();
    /// let out = dir.path().join("a.npy");
    /// let err = ndmmap::chunked::concatenate(Axis(0), [Piece::from(&a)])
    ///     .cancel_on(&token)
    ///     .write_npy(&out)
    ///     .unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::Cancelled { .. }));
    /// assert!(!out.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_on(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }
}

impl<A: NpyElement + Pod> Concat<'_, A> {
    /// Writes the joined array into a new `.npy` file at `path`, as NumPy's `np.save`
    /// would write it.
    ///
    /// # Errors
    ///
    /// Before any file is made: [`Error::InvalidOption`] without pieces or for 0-d pieces
    /// to concatenate; [`Error::AxisOutOfRange`]; [`Error::PieceMismatch`] for a piece whose
    /// shape does not fit the first's; for a `.npy` piece, the errors of opening and
    /// reading its header ([`Error::NotFound`], [`Error::Npy`], [`Error::DtypeMismatch`],
    /// [`Error::ByteOrder`], [`Error::TooShort`]); [`Error::AlreadyExists`] if `path` exists
    /// (without [`overwrite`](Self::overwrite)). Then [`Error::NoSpace`] or [`Error::Io`]
    /// if writing fails. On any error no file is left at `path`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::chunked::Piece;
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let (a, b) = (array![[1.0f32, 2.0]], array![[3.0f32, 4.0, 5.0]]);
    /// let out = dir.path().join("ab.npy");
    /// let err = ndmmap::chunked::concatenate(Axis(0), [Piece::from(&a), Piece::from(&b)])
    ///     .write_npy(&out)
    ///     .unwrap_err();
    /// assert!(matches!(err, ndmmap::Error::PieceMismatch { index: 1, .. }));
    /// assert!(!out.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_npy(self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let plan = self.plan()?;
        let header = crate::npy::header_for::<A>(path, &plan.shape, plan.fortran)?;
        plan.write(path, self.overwrite, &header, self.chunk_bytes, self.cancel.as_ref())
    }
}

impl<A: Pod> Concat<'_, A> {
    /// Writes the joined array into a new raw file at `path` (native byte order, no
    /// header), in C order, or in Fortran order as [`order`](Self::order) says.
    ///
    /// # Errors
    ///
    /// As [`write_npy`](Self::write_npy).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::chunked::Piece;
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let (a, b) = (array![1u16, 2], array![3u16, 4]);
    /// let out = dir.path().join("ab.bin");
    /// ndmmap::chunked::stack(Axis(0), [Piece::from(&a), Piece::from(&b)]).write_raw(&out)?;
    /// assert_eq!(std::fs::read(&out)?, bytemuck::cast_slice::<u16, u8>(&[1, 2, 3, 4]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_raw(self, path: impl AsRef<Path>) -> Result<()> {
        let plan = self.plan()?;
        plan.write(path.as_ref(), self.overwrite, &[], self.chunk_bytes, self.cancel.as_ref())
    }
}

/// A piece checked and opened, in the output's normalized coordinates: the stack's new
/// axis inserted, and the axes reversed for a Fortran-order output, so that the output is
/// in C order in these coordinates.
struct Part<'a, A> {
    /// The shape, normalized.
    dims: Vec<usize>,
    kind: Kind<'a, A>,
}

enum Kind<'a, A> {
    /// A view, normalized, and the pages of the guard behind it, if any.
    View { view: ArrayView<'a, A, IxDyn>, pages: Option<Pages<'a>> },
    /// A `.npy` file: its data starts at `offset`; `c_order`: whether it is in C order in
    /// the normalized coordinates (else in Fortran order).
    File { path: PathBuf, file: File, offset: u64, c_order: bool },
}

/// What the output is made of, every piece checked.
struct Plan<'a, A> {
    /// The output's shape as NumPy sees it.
    shape: Vec<usize>,
    fortran: bool,
    /// The output's shape, normalized (C order).
    dims: Vec<usize>,
    /// The joining axis, normalized.
    axis: usize,
    parts: Vec<Part<'a, A>>,
}

/// A piece before normalization: its shape, whether it is in C and in Fortran order, and
/// its source, opened.
struct Opened<'a, A> {
    shape: Vec<usize>,
    c: bool,
    f: bool,
    kind: Kind<'a, A>,
}

impl<A: Pod> Concat<'_, A> {
    /// Checks and opens every piece, and lays out the output: everything that can fail
    /// before a file is made.
    fn plan(&self) -> Result<Plan<'_, A>> {
        if self.pieces.is_empty() {
            let message = "need at least one array to concatenate or stack";
            return Err(Error::InvalidOption { path: None, message });
        }
        let opened = self.pieces.iter().map(open).collect::<Result<Vec<_>>>()?;
        let first = &opened[0].shape;
        let ndim = first.len();
        let axis = self.axis.index();
        let out_ndim = match self.join {
            Join::Concatenate if ndim == 0 => {
                let message = "zero-dimensional arrays cannot be concatenated";
                return Err(Error::InvalidOption { path: None, message });
            }
            Join::Concatenate => ndim,
            Join::Stack => ndim + 1,
        };
        if axis >= out_ndim {
            return Err(Error::AxisOutOfRange { axis, ndim: out_ndim });
        }
        for (index, piece) in opened.iter().enumerate().skip(1) {
            let fits = piece.shape.len() == ndim
                && match self.join {
                    Join::Stack => piece.shape == *first,
                    Join::Concatenate => (0..ndim).all(|k| k == axis || piece.shape[k] == first[k]),
                };
            if !fits {
                return Err(Error::PieceMismatch {
                    path: path_of(&self.pieces[index]),
                    index,
                    expected: first.clone(),
                    actual: piece.shape.clone(),
                    axis: (self.join == Join::Concatenate).then_some(axis),
                });
            }
        }
        let fortran = match self.order {
            Some(order) => order == Order::ColumnMajor,
            None => {
                self.join == Join::Concatenate
                    && ndim >= 2
                    && opened.iter().all(|p| p.f)
                    && opened.iter().any(|p| !p.c)
            }
        };
        let mut shape = first.clone();
        match self.join {
            Join::Concatenate => {
                let along = opened.iter().try_fold(0usize, |n, p| n.checked_add(p.shape[axis]));
                let Some(along) = along else {
                    let mut shape = first.clone();
                    shape[axis] = usize::MAX;
                    return Err(Error::Overflow { path: None, shape, elem_size: size_of::<A>() });
                };
                shape[axis] = along;
            }
            Join::Stack => shape.insert(axis, opened.len()),
        }
        // As ndarray counts: the lengths that are not zero, so that an empty result of huge
        // other axes is refused too (its runs' arithmetic would overflow).
        let size = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d.max(1)));
        if size.and_then(|n| n.checked_mul(size_of::<A>())).is_none_or(|b| b > isize::MAX as usize)
        {
            return Err(Error::Overflow { path: None, shape, elem_size: size_of::<A>() });
        }
        let normal = |k: usize| if fortran { out_ndim - 1 - k } else { k };
        let parts = opened
            .into_iter()
            .map(|piece| {
                let mut dims = piece.shape;
                if self.join == Join::Stack {
                    dims.insert(axis, 1);
                }
                if fortran {
                    dims.reverse();
                }
                let kind = match piece.kind {
                    Kind::View { view, pages } => {
                        let view = if self.join == Join::Stack {
                            view.insert_axis(Axis(axis))
                        } else {
                            view
                        };
                        let view = if fortran { view.reversed_axes() } else { view };
                        Kind::View { view, pages }
                    }
                    Kind::File { path, file, offset, c_order } => {
                        // A file's order flips with the axes.
                        let both = in_both_orders(&dims);
                        Kind::File { path, file, offset, c_order: both || c_order != fortran }
                    }
                };
                Part { dims, kind }
            })
            .collect();
        let mut dims = shape.clone();
        if fortran {
            dims.reverse();
        }
        Ok(Plan { shape, fortran, dims, axis: normal(axis), parts })
    }
}

/// Whether an array of `shape` is in C order and in Fortran order at once, as NumPy's
/// flags say: empty, or at most one axis longer than 1.
fn in_both_orders(shape: &[usize]) -> bool {
    shape.contains(&0) || shape.iter().filter(|&&d| d > 1).count() <= 1
}

/// The path of a `.npy` piece.
fn path_of<A>(piece: &Piece<'_, A>) -> Option<PathBuf> {
    match &piece.source {
        Source::Npy { path, .. } => Some(path.clone()),
        Source::View { .. } => None,
    }
}

/// Opens a piece: a view as it is; a `.npy` file's header read and checked.
fn open<'a, A>(piece: &Piece<'a, A>) -> Result<Opened<'a, A>> {
    match &piece.source {
        Source::View { view, pages } => {
            let (c, f) = (view.is_standard_layout(), view.t().is_standard_layout());
            let kind = Kind::View { view: view.clone(), pages: pages.clone() };
            Ok(Opened { shape: view.shape().to_vec(), c, f, kind })
        }
        Source::Npy { path, open } => {
            let data = open(path)?;
            let both = in_both_orders(&data.shape);
            let (c, f) = (both || !data.fortran_order, both || data.fortran_order);
            let kind = Kind::File {
                path: path.clone(),
                file: data.file,
                offset: data.data_offset,
                c_order: !data.fortran_order,
            };
            Ok(Opened { shape: data.shape, c, f, kind })
        }
    }
}

impl<A: Pod> Plan<'_, A> {
    /// Makes the file at `path` (replacing one there if `overwrite`), starting with
    /// `header`, and writes every piece into it.
    fn write(
        self,
        path: &Path,
        overwrite: bool,
        header: &[u8],
        chunk_bytes: Option<usize>,
        cancel: Option<&CancelToken>,
    ) -> Result<()> {
        let elem = size_of::<A>();
        let size: usize = self.dims.iter().product();
        // Fits: the plan checked that the data's length fits in isize.
        let len = header.len() as u64 + (size * elem) as u64;
        let Plan { dims, axis, parts, .. } = self;
        crate::fs::build_new(path, len, overwrite, header, |file| {
            if size == 0 || elem == 0 {
                // No data (an empty array, or elements of no bytes): the header is the file.
                return Ok(());
            }
            let mut output = Output {
                file,
                path,
                base: header.len() as u64,
                dims: &dims,
                axis,
                elem,
                behind: WriteBehind::new(file, path),
                chunk_bytes,
                cancel,
            };
            if output.interleaves(&parts) {
                return output.interleave(&parts);
            }
            let mut at = 0;
            for part in parts {
                let along = part.dims[axis];
                if part.dims.iter().all(|&d| d > 0) {
                    output.part(part, at)?;
                }
                at += along;
            }
            Ok(())
        })
        // No file is made: nothing is done, whichever piece the copy had reached.
        .map_err(super::collect::none_done)
    }
}

/// Below this many bytes per run of a piece in the output, the output is built a block of
/// slabs at a time from every piece (one write per block) rather than piece by piece (one
/// copy or write per run).
const SHORT_RUN: usize = 1 << 20;

/// Where a piece in C order (normalized) reads its elements from: a file, or memory.
enum Flat<'p, A> {
    File { path: &'p Path, file: &'p File, offset: u64 },
    Memory(&'p [A]),
}

impl<A> Part<'_, A> {
    /// The piece's elements in C order, if it has them in one run: a `.npy` file in C
    /// order, a guard's shared map (read from its file), an array in C order.
    fn flat(&self) -> Option<Flat<'_, A>> {
        match &self.kind {
            Kind::File { path, file, offset, c_order: true } => {
                Some(Flat::File { path, file, offset: *offset })
            }
            Kind::File { .. } => None,
            Kind::View { view, pages } => {
                let lowest = view.as_ptr() as usize;
                match pages.as_ref().and_then(|p| p.file_at(lowest)) {
                    Some((file, offset, path)) if view.is_standard_layout() => {
                        Some(Flat::File { path, file, offset })
                    }
                    _ => view.as_slice().map(Flat::Memory),
                }
            }
        }
    }
}

/// The output file being written, in normalized coordinates (C order).
struct Output<'f> {
    file: &'f File,
    path: &'f Path,
    /// Where the data starts (the header's length).
    base: u64,
    dims: &'f [usize],
    /// The joining axis.
    axis: usize,
    /// The element size in bytes.
    elem: usize,
    behind: WriteBehind<'f>,
    chunk_bytes: Option<usize>,
    /// The token that stops the copy before its next chunk.
    cancel: Option<&'f CancelToken>,
}

impl Output<'_> {
    /// Whether to build the output a block of slabs at a time from every piece: when the
    /// pieces are joined along an inner axis, a piece's runs are short, and every piece
    /// has its elements in C order (normalized).
    fn interleaves<A>(&self, parts: &[Part<'_, A>]) -> bool {
        let inner: usize = self.dims[self.axis + 1..].iter().product();
        let short = parts.iter().any(|p| p.dims[self.axis] * inner * self.elem < SHORT_RUN);
        // A block holds at least one slab of the output: only where a slab fits a chunk.
        let slab = self.dims[self.axis] * inner * self.elem;
        let fits = slab <= self.chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES);
        self.axis > 0 && short && fits && parts.iter().all(|p| p.flat().is_some())
    }

    /// Builds the output a block of slabs (along the axes before the joining one) at a
    /// time: each piece's part of the block is one contiguous read (or slice), spread into
    /// the block's runs in memory, and the block is one write.
    fn interleave<A: Pod>(&mut self, parts: &[Part<'_, A>]) -> Result<()> {
        let inner: usize = self.dims[self.axis + 1..].iter().product();
        let slabs: usize = self.dims[..self.axis].iter().product();
        let slab = self.dims[self.axis] * inner;
        if slab == 0 || slabs == 0 {
            return Ok(());
        }
        let chunk = self.chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES);
        let per = (chunk / (slab * self.elem)).max(1).min(slabs);
        let flats: Vec<(Flat<'_, A>, usize)> = parts
            .iter()
            .map(|p| (p.flat().expect("checked by interleaves"), p.dims[self.axis] * inner))
            .collect();
        let longest = flats.iter().map(|(_, run)| *run).max().unwrap_or(0);
        let mut block = vec![A::zeroed(); per * slab];
        let mut read = vec![A::zeroed(); per * longest];
        steps(self.cancel, slabs, per, |range| {
            let count = range.len();
            let mut at = 0;
            for (flat, run) in &flats {
                let (run, first) = (*run, range.start * *run);
                let elems: &[A] = match flat {
                    Flat::Memory(elems) => &elems[first..first + count * run],
                    Flat::File { path, file, offset } => {
                        let part = &mut read[..count * run];
                        let src = offset + (first * self.elem) as u64;
                        crate::map::file::read_exact_at(file, bytemuck::cast_slice_mut(part), src)
                            .map_err(|e| Error::io(path, "read", src, e))?;
                        part
                    }
                };
                for (k, run_elems) in elems.chunks_exact(run.max(1)).enumerate() {
                    let to = k * slab + at;
                    block[to..to + run].copy_from_slice(run_elems);
                }
                at += run;
            }
            let bytes: &[u8] = bytemuck::cast_slice(&block[..count * slab]);
            let dst = self.base + (range.start * slab * self.elem) as u64;
            crate::map::file::write_all_at(self.file, bytes, dst)
                .map_err(|e| Error::io(self.path, "write", dst, e))?;
            let written = dst..dst + bytes.len() as u64;
            self.behind.written(std::slice::from_ref(&written))
        })
    }

    /// Writes `part`, which starts at `at` along the joining axis.
    fn part<A: Pod>(&mut self, part: Part<'_, A>, at: usize) -> Result<()> {
        let along = part.dims[self.axis];
        let total: usize = part.dims.iter().product();
        match part.kind {
            Kind::File { path, file, offset, c_order: true } => {
                self.copy_file(&path, &file, offset, along, at, total)
            }
            Kind::File { path, file, offset, c_order: false } => {
                self.transpose_file::<A>(&path, &file, offset, &part.dims, at)
            }
            Kind::View { view, pages } if view.is_standard_layout() => {
                let lowest = view.as_ptr() as usize;
                match pages.as_ref().and_then(|p| p.file_at(lowest)) {
                    Some((file, offset, path)) => {
                        self.copy_file(path, file, offset, along, at, total)
                    }
                    None => self.write_flat(view, pages, along, at),
                }
            }
            Kind::View { view, pages } => self.write_slabs(view, pages, at),
        }
    }

    /// The runs that the flat elements `range` (C order) of a piece in C order, `along`
    /// long on the joining axis and starting at `at` on it, make in the output:
    /// `(first element in the piece, first element in the output, length)`.
    fn runs(&self, along: usize, at: usize, range: Range<usize>) -> Vec<(usize, usize, usize)> {
        let inner: usize = self.dims[self.axis + 1..].iter().product();
        let (run, stride) = (along * inner, self.dims[self.axis] * inner);
        let mut runs = Vec::new();
        let mut from = range.start;
        while from < range.end {
            let (slab, within) = (from / run, from % run);
            let len = (run - within).min(range.end - from);
            runs.push((from, slab * stride + at * inner + within, len));
            from += len;
        }
        runs
    }

    /// Copies a piece in C order held in `file` from `offset` on, file to file, a chunk of
    /// the engine's walk at a time.
    fn copy_file(
        &mut self,
        path: &Path,
        file: &File,
        offset: u64,
        along: usize,
        at: usize,
        total: usize,
    ) -> Result<()> {
        let elem = self.elem as u64;
        let step = (self.chunk_bytes.unwrap_or(COPY_STEP) / self.elem).max(1);
        steps(self.cancel, total, step, |range| {
            let mut written = Vec::new();
            for (from, to, len) in self.runs(along, at, range) {
                let (src, dst) = (offset + from as u64 * elem, self.base + to as u64 * elem);
                let bytes = len as u64 * elem;
                crate::map::file::copy_range(file, src, self.file, dst, bytes)
                    .map_err(|e| Error::io(path, "copy", src + bytes, e))?;
                written.push(dst..dst + bytes);
            }
            self.behind.written(&written)
        })
    }

    /// Writes a view in C order through the engine's walk, which flattens it: each chunk
    /// is a run of its elements.
    fn write_flat<A: Pod>(
        &mut self,
        view: ArrayView<'_, A, IxDyn>,
        pages: Option<Pages<'_>>,
        along: usize,
        at: usize,
    ) -> Result<()> {
        let mut done = 0;
        self.walk(view, pages).run(true, |(chunk,), _| {
            let elems = chunk.as_slice_memory_order().expect("a chunk of a C-order view");
            let range = done..done + elems.len();
            let mut written = Vec::new();
            for (from, to, len) in self.runs(along, at, range.clone()) {
                let bytes: &[u8] = bytemuck::cast_slice(&elems[from - done..from - done + len]);
                let dst = self.base + (to * self.elem) as u64;
                crate::map::file::write_all_at(self.file, bytes, dst)
                    .map_err(|e| Error::io(self.path, "write", dst, e))?;
                written.push(dst..dst + bytes.len() as u64);
            }
            done = range.end;
            self.behind.written(&written)
        })
    }

    /// Writes a view in any other layout through the engine's walk: each chunk (a slab
    /// along the axis the engine cuts) is put in C order a tile at a time and written where
    /// it goes.
    fn write_slabs<A: Pod>(
        &mut self,
        view: ArrayView<'_, A, IxDyn>,
        pages: Option<Pages<'_>>,
        at: usize,
    ) -> Result<()> {
        let ndim = view.ndim();
        let budget = self.tile_elems();
        let mut start = 0;
        self.walk(view, pages).run(false, |(chunk,), cut| {
            let mut origin = vec![0; ndim];
            origin[self.axis] = at;
            origin[cut.index()] += start;
            start += chunk.len_of(cut);
            if chunk.len() <= budget {
                return self.write_box(&chunk, &origin);
            }
            // A slab larger than a chunk (one element along the cut, the rest long): in
            // tiles of whole runs along the output's last axes, so that what is put in C
            // order at once stays within a chunk.
            let dims = chunk.shape().to_vec();
            let (axis, step) = c_order_tile(&dims, budget);
            let outer: usize = dims[..axis].iter().product();
            for t in 0..outer {
                let mut index = vec![0; ndim];
                let mut rest = t;
                for k in (0..axis).rev() {
                    index[k] = rest % dims[k];
                    rest /= dims[k];
                }
                for from in (0..dims[axis]).step_by(step) {
                    let to = dims[axis].min(from + step);
                    index[axis] = from;
                    let tile = chunk.slice_each_axis(|d| {
                        let k = d.axis.index();
                        match k.cmp(&axis) {
                            std::cmp::Ordering::Less => (index[k]..=index[k]).into(),
                            std::cmp::Ordering::Equal => (from..to).into(),
                            std::cmp::Ordering::Greater => (..).into(),
                        }
                    });
                    let at: Vec<usize> = origin.iter().zip(&index).map(|(o, i)| o + i).collect();
                    self.write_box(&tile, &at)?;
                }
            }
            Ok(())
        })
    }

    /// The most elements put in C order at once: a chunk's.
    fn tile_elems(&self) -> usize {
        (self.chunk_bytes.unwrap_or(DEFAULT_CHUNK_BYTES) / self.elem).max(1)
    }

    /// A piece in a file in Fortran order (in normalized coordinates): read a slab along
    /// its last axis at a time (contiguous in the file) and written where it goes; where a
    /// slab is larger than a chunk, a tile at a time (see [`Self::transpose_tiles`]).
    fn transpose_file<A: Pod>(
        &mut self,
        path: &Path,
        file: &File,
        offset: u64,
        dims: &[usize],
        at: usize,
    ) -> Result<()> {
        let last = dims.len() - 1;
        let row: usize = dims[..last].iter().product();
        let budget = self.tile_elems();
        if row > budget {
            return self.transpose_tiles::<A>(path, file, offset, dims, at);
        }
        let rows = (budget / row).max(1).min(dims[last]);
        let mut buffer = vec![A::zeroed(); row * rows];
        steps(self.cancel, dims[last], rows, |range| {
            let elems = &mut buffer[..row * range.len()];
            let src = offset + (range.start * row * self.elem) as u64;
            crate::map::file::read_exact_at(file, bytemuck::cast_slice_mut(elems), src)
                .map_err(|e| Error::io(path, "read", src, e))?;
            let mut shape = dims.to_vec();
            shape[last] = range.len();
            let slab = ArrayView::from_shape(IxDyn(&shape).f(), elems)
                .map_err(|error| Error::Shape { path: Some(path.to_path_buf()), error })?;
            let mut origin = vec![0; dims.len()];
            origin[self.axis] = at;
            origin[last] += range.start;
            self.write_box(&slab, &origin)
        })
    }

    /// [`Self::transpose_file`] for slabs larger than a chunk. A tile holds the axes that
    /// fit whole (the file's fastest, `..k`), a range of `m` along axis `k`, one index
    /// along each axis between, and a range of `r` along the last axis: read as `r`
    /// contiguous runs of the file, written as runs of `r` elements of the output, with
    /// `m` and `r` about equal so that neither side is one element at a time.
    fn transpose_tiles<A: Pod>(
        &mut self,
        path: &Path,
        file: &File,
        offset: u64,
        dims: &[usize],
        at: usize,
    ) -> Result<()> {
        let (ndim, last) = (dims.len(), dims.len() - 1);
        let budget = self.tile_elems();
        // prefix[j]: the elements of the axes before j, the file's stride along j.
        let prefix: Vec<usize> = (0..=ndim).map(|j| dims[..j].iter().product::<usize>()).collect();
        let k = (0..last).rev().find(|&j| prefix[j] <= budget).unwrap_or(0);
        let per = budget / prefix[k];
        let r = per.isqrt().clamp(1, dims[last]);
        let m = (per / r).clamp(1, dims[k]);
        let middle: usize = dims[k + 1..last].iter().product();
        let (along_k, along_last) = (dims[k].div_ceil(m), dims[last].div_ceil(r));
        let tiles = along_k * middle * along_last;
        let run = prefix[k] * m;
        let mut buffer = vec![A::zeroed(); run * r];
        steps(self.cancel, tiles, 1, |range| {
            for t in range {
                // Axis k fastest, then the axes between, then the last: the file's order.
                let (kb, rest) = (t % along_k, t / along_k);
                let (mut mid, jb) = (rest % middle, rest / middle);
                let mut origin = vec![0; ndim];
                for j in k + 1..last {
                    origin[j] = mid % dims[j];
                    mid /= dims[j];
                }
                origin[k] = kb * m;
                origin[last] = jb * r;
                let (ms, rs) = (m.min(dims[k] - origin[k]), r.min(dims[last] - origin[last]));
                let elems = &mut buffer[..prefix[k] * ms * rs];
                let first: usize = (k..ndim).map(|j| origin[j] * prefix[j]).sum();
                for (i, part) in elems.chunks_exact_mut(prefix[k] * ms).enumerate() {
                    let src = offset + ((first + i * prefix[last]) * self.elem) as u64;
                    crate::map::file::read_exact_at(file, bytemuck::cast_slice_mut(part), src)
                        .map_err(|e| Error::io(path, "read", src, e))?;
                }
                let mut shape = dims.to_vec();
                shape[k] = ms;
                shape[k + 1..].fill(1);
                shape[last] = rs;
                let view = ArrayView::from_shape(IxDyn(&shape).f(), &*elems)
                    .map_err(|error| Error::Shape { path: Some(path.to_path_buf()), error })?;
                origin[self.axis] += at;
                self.write_box(&view, &origin)?;
            }
            Ok(())
        })
    }

    /// Writes `chunk` at `origin` (an index of the output): in C order, one positional
    /// write per run of it that is contiguous in the output.
    fn write_box<A: Pod>(
        &mut self,
        chunk: &ArrayView<'_, A, IxDyn>,
        origin: &[usize],
    ) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let standard = chunk.as_standard_layout();
        let elems = standard.as_slice().expect("in C order");
        let dims = chunk.shape();
        let ndim = dims.len();
        // The runs: whole from the last axis that the chunk does not fill down.
        let split = (0..ndim).rev().find(|&k| dims[k] != self.dims[k]).unwrap_or(0);
        let run: usize = dims[split..].iter().product();
        let strides: Vec<usize> = (0..ndim).map(|k| self.dims[k + 1..].iter().product()).collect();
        let first: usize = (0..ndim).map(|k| origin[k] * strides[k]).sum();
        let mut index = vec![0; split];
        let (mut low, mut high) = (u64::MAX, 0);
        for (r, elems) in elems.chunks_exact(run).enumerate() {
            let mut rest = r;
            for k in (0..split).rev() {
                index[k] = rest % dims[k];
                rest /= dims[k];
            }
            let to = first + (0..split).map(|k| index[k] * strides[k]).sum::<usize>();
            let dst = self.base + (to * self.elem) as u64;
            let bytes: &[u8] = bytemuck::cast_slice(elems);
            crate::map::file::write_all_at(self.file, bytes, dst)
                .map_err(|e| Error::io(self.path, "write", dst, e))?;
            low = low.min(dst);
            high = high.max(dst + bytes.len() as u64);
        }
        // One range for write-back: runs of the other pieces between these are written
        // back with them, which loses nothing.
        self.behind.written(std::slice::from_ref(&(low..high)))
    }

    /// The engine's walk over one piece's view, with the hooks of the guard behind it.
    fn walk<'v, A>(
        &self,
        view: ArrayView<'v, A, IxDyn>,
        pages: Option<Pages<'v>>,
    ) -> Zip<'v, (ArrayView<'v, A, IxDyn>,), IxDyn> {
        let mut zip = Zip::from(view);
        if let Some(pages) = pages {
            zip.hooks[0] = Hooks::reading(pages);
        }
        if let Some(token) = self.cancel {
            zip = zip.cancel_on(token);
        }
        match self.chunk_bytes {
            Some(bytes) => zip.chunk_bytes(bytes),
            None => zip,
        }
    }
}

/// A tile of at most `budget` elements (at least one) of a box of `dims`, in C order: the
/// axes after the returned axis whole, a range of the returned length along it, one index
/// along the axes before.
fn c_order_tile(dims: &[usize], budget: usize) -> (usize, usize) {
    let mut inner = 1;
    for axis in (0..dims.len()).rev() {
        if inner * dims[axis] > budget {
            return (axis, (budget / inner).max(1));
        }
        inner *= dims[axis];
    }
    (0, dims.first().copied().unwrap_or(1).max(1))
}

/// Calls `f` on `0..total` cut into ranges of `step`, in order, as chunks of the engine's
/// walk (over the indices), so that a copy stops between chunks as any walk does.
fn steps(
    cancel: Option<&CancelToken>,
    total: usize,
    step: usize,
    mut f: impl FnMut(Range<usize>) -> Result<()>,
) -> Result<()> {
    let mut done = 0;
    let mut zip = Zip::from(ndarray::indices(total)).chunk_bytes(step);
    if let Some(token) = cancel {
        zip = zip.cancel_on(token);
    }
    zip.run(false, |(chunk,), _| {
        let len = chunk.raw_dim()[0];
        f(done..done + len)?;
        done += len;
        Ok::<(), Error>(())
    })
}
