//! [`MapNpy`]: `Array::map_npy(...)` and friends, for `.npy` files.
#![allow(unsafe_code)]

use std::path::Path;

use bytemuck::{AnyBitPattern, Pod};
use ndarray::{Array, Dimension, Order, ShapeBuilder, StrideShape};

use super::element::{NpyElement, dtype, is_native};
use super::header::{self, DEFAULT_MAX_HEADER_SIZE};
use super::read::{checked_dim, non_native, read_header};
use super::save::header_for;
use crate::error::{Error, HeaderError, Result};
use crate::guard::open::OpenFile;
use crate::guard::{MmapArray, MmapArrayMut, ShapeHeader, StatedShape};
use crate::layout::{ArrayLayout, Elem, Placement, Purpose, memory_order, place, signed_strides};
use crate::options::{MapOptions, Settings, settings_setters};
use crate::private::Sealed;

/// Options for mapping or creating `.npy` files.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npy::NpyOptions;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.npy");
/// array![1i32, 2, 3].save_npy(&path)?;
/// let options = NpyOptions::new().max_header_size(256).advise(Advice::Sequential);
/// let a = unsafe { Array1::<i32>::map_npy_with(&path, &options)? };
/// assert_eq!(a.sum(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct NpyOptions {
    max_header_size: usize,
    pub(super) settings: Settings,
}

impl Default for NpyOptions {
    fn default() -> Self {
        NpyOptions { max_header_size: DEFAULT_MAX_HEADER_SIZE, settings: Settings::default() }
    }
}

impl NpyOptions {
    /// The defaults: NumPy's header size limit of 10,000, no overwrite, no growth.
    ///
    /// # Example
    ///
    /// ```
    /// let options = ndmmap::npy::NpyOptions::new();
    /// assert!(format!("{options:?}").contains("10000"));
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses headers longer than `bytes` (NumPy's `max_header_size`): a guard against
    /// hostile files.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// array![1u8].save_npy(&path)?;
    /// let err = unsafe { Array1::<u8>::map_npy_with(&path, &NpyOptions::new().max_header_size(50)) };
    /// assert!(matches!(err, Err(ndmmap::Error::Npy { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self
    }

    settings_setters! {
        NpyOptions,
        setup: r#"use ndmmap::prelude::*;
use ndmmap::npy::NpyOptions;

let dir = tempfile::tempdir()?;
let path = dir.path().join("a.npy");
array![1u8, 2, 3, 4].save_npy(&path)?;"#,
        map: "Array1::<u8>::map_npy_with(&path, &options)",
        map_mut: "Array1::<u8>::map_npy_mut_with(&path, &options)",
        files {
            shape: "",
            create: "Array1::<u8>::create_npy_with(&path, 4, &options)",
        }
    }
}

/// Maps `.npy` files as arrays: `Array2::<f32>::map_npy(path)` and friends, the
/// equivalents of NumPy's `np.load(path, mmap_mode=...)` and `open_memmap`.
///
/// The header gives the dtype, shape and memory order; the element type `A` and the
/// dimension `D` must match it (`IxDyn` takes any rank). Fortran-order files map as
/// Fortran-order views with the header's logical shape.
///
/// This trait is sealed: it is implemented for [`Array`] only.
///
/// # Safety of the mapping functions
///
/// As for [`MapFile`](crate::MapFile#safety-of-the-mapping-functions): while the guard lives,
/// nothing but the guard may modify the mapped bytes (atomic views excepted) and nobody
/// may truncate the file.
pub trait MapNpy: Sealed {
    /// The element type.
    type Elem;
    /// The dimension type.
    type Dim: Dimension;

    /// Maps a `.npy` file read-only (`np.load(path, mmap_mode='r')`).
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapNpy#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// Open errors ([`Error::NotFound`], ...), [`Error::Npy`] for an invalid header,
    /// [`Error::DtypeMismatch`], [`Error::RankMismatch`], [`Error::ByteOrder`] for data in
    /// non-native byte order (use [`read_npy`](crate::npy::read_npy) to convert),
    /// [`Error::TooShort`] if the data is shorter than the shape, [`Error::Misaligned`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// array![[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]].save_npy(&path)?;
    /// let x = unsafe { Array2::<f64>::map_npy(&path)? };
    /// assert_eq!(x.sum_axis(Axis(0)), array![5.0, 7.0, 9.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_npy(path: impl AsRef<Path>) -> Result<MmapArray<Self::Elem, Self::Dim>>
    where
        Self::Elem: NpyElement + AnyBitPattern,
    {
        // SAFETY: forwarded; the caller upholds the same contract.
        unsafe { Self::map_npy_with(path, &NpyOptions::new()) }
    }

    /// Maps a `.npy` file read-only, with options.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapNpy#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_npy`](Self::map_npy).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// array![1u16, 2].save_npy(&path)?;
    /// let x = unsafe { ArrayD::<u16>::map_npy_with(&path, &NpyOptions::new())? };
    /// assert_eq!(x.shape(), &[2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_npy_with(
        path: impl AsRef<Path>,
        options: &NpyOptions,
    ) -> Result<MmapArray<Self::Elem, Self::Dim>>
    where
        Self::Elem: NpyElement + AnyBitPattern;

    /// Maps a `.npy` file read-write and shared (`np.load(path, mmap_mode='r+')`).
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapNpy#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_npy`](Self::map_npy); [`Error::PermissionDenied`] for a read-only file.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// array![1i64, 2].save_npy(&path)?;
    /// let mut x = unsafe { Array1::<i64>::map_npy_mut(&path)? };
    /// x[0] = 40;
    /// x.close()?;
    /// let y: Array1<i64> = ndmmap::npy::read_npy(&path)?;
    /// assert_eq!(y, array![40, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_npy_mut(path: impl AsRef<Path>) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: NpyElement + Pod,
    {
        // SAFETY: forwarded; the caller upholds the same contract.
        unsafe { Self::map_npy_mut_with(path, &NpyOptions::new()) }
    }

    /// Maps a `.npy` file read-write and shared, with options.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapNpy#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_npy_mut`](Self::map_npy_mut).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// array![1u8].save_npy(&path)?;
    /// let mut x = unsafe { Array1::<u8>::map_npy_mut_with(&path, &NpyOptions::new())? };
    /// x[0] += 1;
    /// assert_eq!(x[0], 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_npy_mut_with(
        path: impl AsRef<Path>,
        options: &NpyOptions,
    ) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: NpyElement + Pod;

    /// Maps a `.npy` file copy-on-write (`np.load(path, mmap_mode='c')`).
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapNpy#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_npy`](Self::map_npy).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// array![1.0f32, 2.0].save_npy(&path)?;
    /// let mut x = unsafe { Array1::<f32>::map_npy_copy(&path)? };
    /// x[0] = 9.0;
    /// drop(x);
    /// let y: Array1<f32> = ndmmap::npy::read_npy(&path)?;
    /// assert_eq!(y, array![1.0, 2.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_npy_copy(path: impl AsRef<Path>) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: NpyElement + Pod,
    {
        // SAFETY: forwarded; the caller upholds the same contract.
        unsafe { Self::map_npy_copy_with(path, &NpyOptions::new()) }
    }

    /// Maps a `.npy` file copy-on-write, with options.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapNpy#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_npy`](Self::map_npy).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("x.npy");
    /// array![3u32].save_npy(&path)?;
    /// let x = unsafe { Array1::<u32>::map_npy_copy_with(&path, &NpyOptions::new())? };
    /// assert_eq!(x.mode(), Mode::CopyOnWrite);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_npy_copy_with(
        path: impl AsRef<Path>,
        options: &NpyOptions,
    ) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: NpyElement + Pod;

    /// Creates a `.npy` file holding a zeroed array of `shape` and maps it read-write
    /// (`open_memmap(path, mode='w+')`); `.f()` makes a Fortran-order file. The file is
    /// byte-identical to `np.save` of a zero array of that shape and order.
    ///
    /// Every argument is checked before the disk is touched, an existing file is never
    /// replaced unless asked, and the file's blocks are reserved.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapNpy#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`], [`Error::NoSpace`], [`Error::Overflow`],
    /// [`Error::InvalidOption`] for custom strides, open errors.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("y.npy");
    /// let mut y = unsafe { Array3::<f64>::create_npy(&path, (4, 8, 8))? };
    /// y.slice_mut(s![1, .., ..]).fill(1.0);
    /// y.close()?;
    /// assert_eq!(ndmmap::npy::inspect(&path)?.shape, [4, 8, 8]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn create_npy<Sh: Into<StrideShape<Self::Dim>>>(
        path: impl AsRef<Path>,
        shape: Sh,
    ) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: NpyElement + Pod,
    {
        // SAFETY: forwarded; the caller upholds the same contract.
        unsafe { Self::create_npy_with(path, shape, &NpyOptions::new()) }
    }

    /// Creates a `.npy` file with options (e.g. [`overwrite`](NpyOptions::overwrite)).
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapNpy#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`create_npy`](Self::create_npy).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("f.npy");
    /// let y = unsafe { Array2::<u8>::create_npy_with(&path, (2, 3).f(), &NpyOptions::new())? };
    /// assert!(y.t().is_standard_layout());
    /// assert!(ndmmap::npy::inspect(&path)?.fortran_order);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn create_npy_with<Sh: Into<StrideShape<Self::Dim>>>(
        path: impl AsRef<Path>,
        shape: Sh,
        options: &NpyOptions,
    ) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: NpyElement + Pod;
}

impl<A, D: Dimension> MapNpy for Array<A, D> {
    type Elem = A;
    type Dim = D;

    unsafe fn map_npy_with(path: impl AsRef<Path>, options: &NpyOptions) -> Result<MmapArray<A, D>>
    where
        A: NpyElement + AnyBitPattern,
    {
        let (file, placement) = locate::<A, D>(path.as_ref(), Purpose::Read, options)?;
        // SAFETY: forwarded; the caller upholds the same contract for this file.
        unsafe { file.map_read_only(&placement, options.settings) }
    }

    unsafe fn map_npy_mut_with(
        path: impl AsRef<Path>,
        options: &NpyOptions,
    ) -> Result<MmapArrayMut<A, D>>
    where
        A: NpyElement + Pod,
    {
        let (file, placement) = locate::<A, D>(path.as_ref(), Purpose::Write, options)?;
        // SAFETY: forwarded; the caller upholds the same contract for this file.
        let mut guard = unsafe { file.map_read_write(&placement, options.settings) }?;
        // The data starts where the header ends; growth rewrites the header's shape.
        guard.set_shape_header(usize::try_from(placement.offset).unwrap_or(usize::MAX), &NPY);
        Ok(guard)
    }

    unsafe fn map_npy_copy_with(
        path: impl AsRef<Path>,
        options: &NpyOptions,
    ) -> Result<MmapArrayMut<A, D>>
    where
        A: NpyElement + Pod,
    {
        let (file, placement) = locate::<A, D>(path.as_ref(), Purpose::Copy, options)?;
        // SAFETY: forwarded; the caller upholds the same contract for this file.
        unsafe { file.map_copy_on_write(&placement, options.settings) }
    }

    unsafe fn create_npy_with<Sh: Into<StrideShape<D>>>(
        path: impl AsRef<Path>,
        shape: Sh,
        options: &NpyOptions,
    ) -> Result<MmapArrayMut<A, D>>
    where
        A: NpyElement + Pod,
    {
        let path = path.as_ref();
        // The element type first: a record type without a dtype has no layout either.
        dtype::<A>().map_err(|detail| Error::Npy { path: path.to_path_buf(), detail })?;
        let layout =
            ArrayLayout::new(&shape.into(), Elem::of::<A>(), true).map_err(|e| e.at_path(path))?;
        let order = memory_order(layout.dim.slice(), &signed_strides(&layout.strides));
        let order = order.ok_or(Error::InvalidOption {
            path: Some(path.to_path_buf()),
            message: ".npy files hold C- or Fortran-order data; custom strides cannot be saved",
        })?;
        let header_bytes = header_for::<A>(path, layout.dim.slice(), order == Order::ColumnMajor)?;
        let placement = Placement { offset: header_bytes.len() as u64, layout };
        let file = OpenFile::create(path, placement.end(), &header_bytes, options.settings)?;
        // SAFETY: forwarded; the caller upholds the trait's mapping contract for the new file.
        let mut guard = unsafe { file.map_read_write(&placement, options.settings) }?;
        guard.set_shape_header(header_bytes.len(), &NPY);
        Ok(guard)
    }
}

/// Opens the `.npy` file at `path` for `purpose`, reads its header and places the array
/// the header describes, checked against the element type and the file's length.
pub(super) fn locate<A: NpyElement, D: Dimension>(
    path: &Path,
    purpose: Purpose,
    options: &NpyOptions,
) -> Result<(OpenFile, Placement<D>)> {
    // The lock first: a cooperating writer may be rewriting the header under its own.
    let file = OpenFile::open(path, purpose == Purpose::Write, options.settings)?;
    let parsed = read_header(path, file.file(), options.max_header_size)?;
    let dim = checked_dim::<A, D>(path, &parsed)?;
    if !is_native(parsed.header.descr) {
        return Err(non_native(path, parsed.header.descr));
    }
    let mut data = MapOptions::new()
        .offset(parsed.data_offset as u64)
        .shape(dim.set_f(parsed.header.fortran_order));
    // A copy-on-write map never changes the file, so it has nothing to extend.
    data.settings = Settings {
        extend: options.settings.extend && purpose != Purpose::Copy,
        ..options.settings
    };
    let placement =
        place(&data, Elem::of::<A>(), file.len()?, purpose).map_err(|e| e.at_path(path))?;
    Ok((file, placement))
}

/// The `.npy` format's [`ShapeHeader`]: how growth reads and rewrites the shape in a `.npy`
/// header.
#[derive(Debug)]
struct NpyShapeHeader;

/// The one [`NpyShapeHeader`] every growable `.npy` guard refers to.
static NPY: NpyShapeHeader = NpyShapeHeader;

impl ShapeHeader for NpyShapeHeader {
    fn read(&self, bytes: &[u8]) -> Result<StatedShape, HeaderError> {
        let parsed = header::parse(bytes, usize::MAX)?;
        Ok(StatedShape {
            shape: parsed.header.shape,
            fortran_order: parsed.header.fortran_order,
            data_offset: parsed.data_offset,
        })
    }

    fn rewrite_shape(&self, bytes: &mut Vec<u8>, shape: &[usize]) -> Result<(), HeaderError> {
        header::rewrite_shape(bytes, shape)
    }
}
