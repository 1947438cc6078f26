//! [`MapNpy`]: `Array::map_npy(...)` and friends, for `.npy` files.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use bytemuck::{AnyBitPattern, Pod};
use ndarray::{Array, Dimension, ShapeBuilder, StrideShape};

use super::element::{NpyElement, is_native, native_descr};
use super::header::{self, DEFAULT_MAX_HEADER_SIZE, Header};
use super::read::{checked_dim, non_native, read_header};
use crate::create::create_with_prefix;
use crate::error::{Error, Result};
use crate::file::{map_opened_copy_on_write, map_opened_read_only, map_opened_read_write, open};
use crate::guard::{MmapArray, MmapArrayMut, Source};
use crate::layout::{ArrayLayout, Elem};
use crate::lock::{Lock, OnConflict};
use crate::map::{self, Advise, Region};
use crate::options::{Access, MapOptions, Mode};
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
/// let options = NpyOptions::new().max_header_size(256).access(Access::Sequential);
/// // SAFETY: no other process touches files in this fresh temporary folder.
/// let a = unsafe { Array1::<i32>::map_npy_with(&path, &options)? };
/// assert_eq!(a.sum(), 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct NpyOptions {
    max_header_size: usize,
    overwrite: bool,
    extend_file: bool,
    populate: bool,
    access: Option<Access>,
    lock: Option<Lock>,
    on_conflict: OnConflict,
}

impl Default for NpyOptions {
    fn default() -> Self {
        NpyOptions {
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            overwrite: false,
            extend_file: false,
            populate: false,
            access: None,
            lock: None,
            on_conflict: OnConflict::Fail,
        }
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
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let err = unsafe { Array1::<u8>::map_npy_with(&path, &NpyOptions::new().max_header_size(50)) };
    /// assert!(matches!(err, Err(ndmmap::Error::Npy { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self
    }

    /// For creating: replace an existing file (atomically, through a temporary file).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// std::fs::write(&path, b"old")?;
    /// let options = NpyOptions::new().overwrite(true);
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let a = unsafe { Array1::<f32>::create_npy_with(&path, 4, &options)? };
    /// assert_eq!(a.len(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn overwrite(mut self, yes: bool) -> Self {
        self.overwrite = yes;
        self
    }

    /// For read-write maps: let a file whose data is shorter than its header's shape grow
    /// to fit (with zeros). NumPy's `r+` does this silently; ndmmap refuses unless asked.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// array![1u8, 2, 3, 4].save_npy(&path)?;
    /// let file = std::fs::OpenOptions::new().write(true).open(&path)?;
    /// file.set_len(128 + 2)?; // lose the last two elements
    /// let options = NpyOptions::new().extend_file(true);
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let a = unsafe { Array1::<u8>::map_npy_mut_with(&path, &options)? };
    /// assert_eq!(a.to_vec(), [1, 2, 0, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn extend_file(mut self, yes: bool) -> Self {
        self.extend_file = yes;
        self
    }

    /// Read the whole map into memory when mapping (`MAP_POPULATE`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// array![1u8, 2].save_npy(&path)?;
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let a = unsafe { Array1::<u8>::map_npy_with(&path, &NpyOptions::new().populate(true))? };
    /// assert_eq!(a.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn populate(mut self, yes: bool) -> Self {
        self.populate = yes;
        self
    }

    /// `madvise` advice for the data, right after mapping.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// array![1u8, 2].save_npy(&path)?;
    /// let options = NpyOptions::new().access(Access::Random);
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let a = unsafe { Array1::<u8>::map_npy_with(&path, &options)? };
    /// assert_eq!(a.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn access(mut self, access: Access) -> Self {
        self.access = Some(access);
        self
    }

    /// Holds an advisory lock on the file for the guard's lifetime, as
    /// [`MapOptions::lock`] does. It is taken before the header is read, so that a
    /// cooperating writer that grows the file under an exclusive lock is never seen
    /// half-way.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// array![1u8, 2].save_npy(&path)?;
    /// let options = NpyOptions::new().lock(Lock::Shared);
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let reader = unsafe { Array1::<u8>::map_npy_with(&path, &options)? };
    /// // SAFETY: as above.
    /// let writer = unsafe { Array1::<u8>::map_npy_mut_with(&path, &NpyOptions::new().lock(Lock::Exclusive)) };
    /// assert!(matches!(writer, Err(ndmmap::Error::Locked { .. })));
    /// drop(reader);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn lock(mut self, lock: Lock) -> Self {
        self.lock = Some(lock);
        self
    }

    /// With [`lock`](Self::lock): wait for a conflicting lock to be released instead of
    /// failing with [`Error::Locked`], as [`MapOptions::wait_for_lock`] does.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::NpyOptions;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// array![1u8, 2].save_npy(&path)?;
    /// let options = NpyOptions::new().lock(Lock::Exclusive).wait_for_lock(true);
    /// // SAFETY: no other process touches files in this fresh temporary folder.
    /// let a = unsafe { Array1::<u8>::map_npy_mut_with(&path, &options)? };
    /// assert_eq!(a.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn wait_for_lock(mut self, yes: bool) -> Self {
        self.on_conflict = if yes { OnConflict::Wait } else { OnConflict::Fail };
        self
    }

    /// The lock part of the [`MapOptions`] for these options.
    fn lock_options<D: Dimension>(&self) -> MapOptions<D> {
        let options = MapOptions::new().wait_for_lock(self.on_conflict == OnConflict::Wait);
        match self.lock {
            Some(lock) => options.lock(lock),
            None => options,
        }
    }

    /// The [`MapOptions`] for the data of a file with `header` at `data_offset`.
    fn map_options<D: Dimension>(&self, dim: D, fortran: bool, data_offset: u64) -> MapOptions<D> {
        let mut options = self
            .lock_options()
            .offset(data_offset)
            .shape(dim.set_f(fortran))
            .extend_file(self.extend_file)
            .populate(self.populate);
        if let Some(access) = self.access {
            options = options.access(access);
        }
        options
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
    /// // SAFETY: no other process touches files in this fresh temporary folder.
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
    /// // SAFETY: no other process touches files in this fresh temporary folder.
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
    /// // SAFETY: no other process touches files in this fresh temporary folder.
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
    /// // SAFETY: no other process touches files in this fresh temporary folder.
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
    /// // SAFETY: no other process touches files in this fresh temporary folder.
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
    /// // SAFETY: no other process touches files in this fresh temporary folder.
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
    /// // SAFETY: no other process touches files in this fresh temporary folder.
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
    /// // SAFETY: no other process touches files in this fresh temporary folder.
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
        let path = path.as_ref();
        let (file, data) = locate::<A, D>(path, false, options)?;
        // SAFETY: forwarded; the caller upholds the same contract for this file.
        unsafe { map_opened_read_only(path, file, &data) }
    }

    unsafe fn map_npy_mut_with(
        path: impl AsRef<Path>,
        options: &NpyOptions,
    ) -> Result<MmapArrayMut<A, D>>
    where
        A: NpyElement + Pod,
    {
        let path = path.as_ref();
        let (file, data) = locate::<A, D>(path, true, options)?;
        // SAFETY: forwarded; the caller upholds the same contract for this file.
        let mut guard = unsafe { map_opened_read_write(path, file, &data) }?;
        // The data starts where the header ends; growth rewrites the header's shape.
        guard.growth_mut().set_npy(usize::try_from(data.offset).unwrap_or(usize::MAX));
        Ok(guard)
    }

    unsafe fn map_npy_copy_with(
        path: impl AsRef<Path>,
        options: &NpyOptions,
    ) -> Result<MmapArrayMut<A, D>>
    where
        A: NpyElement + Pod,
    {
        let path = path.as_ref();
        let (file, data) = locate::<A, D>(path, false, &options.clone().extend_file(false))?;
        // SAFETY: forwarded; the caller upholds the same contract for this file.
        unsafe { map_opened_copy_on_write(path, file, &data) }
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
        let shape: StrideShape<D> = shape.into();
        let layout =
            ArrayLayout::new(&shape, Elem::of::<A>(), true).map_err(|e| e.at_path(path))?;
        let fortran = memory_order(&layout).ok_or(Error::InvalidOption {
            path: Some(path.to_path_buf()),
            message: ".npy files hold C- or Fortran-order data; custom strides cannot be saved",
        })?;
        let header = Header {
            descr: native_descr::<A>(),
            fortran_order: fortran,
            shape: layout.dim.slice().to_vec(),
        };
        let header_bytes = header::write(&header)
            .map_err(|source| Error::Npy { path: path.to_path_buf(), source })?;
        let offset = header_bytes.len() as u64;
        let end = offset + layout.span as u64;
        let file = create_with_prefix(path, end, options.overwrite, &header_bytes)?;
        crate::lock::take_for(&file, path, &options.lock_options::<D>())?;
        let region = Region { offset, len: layout.span, populate: options.populate };
        // SAFETY: the caller upholds the trait's mapping contract for the new file.
        let map = unsafe { map::map_read_write(&file, region) }
            .map_err(|e| Error::io(path, "map", end, e))?;
        if let Some(access) = options.access {
            map.advise_all(access).map_err(|e| Error::io(path, "advise", 0, e))?;
        }
        let source =
            Source { path: path.to_path_buf(), offset, mode: Mode::ReadWrite, file: Some(file) };
        let mut guard = MmapArrayMut::new(map, &layout, source)?;
        guard.growth_mut().set_npy(header_bytes.len());
        Ok(guard)
    }
}

/// Opens the `.npy` file at `path`, takes the lock the options ask for, reads and checks
/// its header for elements `A` of rank `D`, and returns the open file with the options
/// that map its data.
fn locate<A: NpyElement, D: Dimension>(
    path: &Path,
    writable: bool,
    options: &NpyOptions,
) -> Result<(File, MapOptions<D>)> {
    let file = open(path, writable)?;
    // The lock first: a cooperating writer may be rewriting the header under its own.
    crate::lock::take_for(&file, path, &options.lock_options::<D>())?;
    let parsed = read_header(path, &file, options.max_header_size)?;
    let dim = checked_dim::<A, D>(path, &parsed)?;
    if !is_native(parsed.header.descr) {
        return Err(non_native(path, parsed.header.descr));
    }
    Ok((file, options.map_options(dim, parsed.header.fortran_order, parsed.data_offset as u64)))
}

/// `Some(false)` for C order, `Some(true)` for Fortran order (only when not also C, as
/// `np.save` decides), `None` for any other layout.
///
/// Contiguity is NumPy's (and ndarray's `is_standard_layout`): the stride of an axis of
/// length 1 does not matter, and empty arrays are contiguous in both orders. Comparing the
/// strides with `default_strides`/`fortran_strides` instead wrote `fortran_order: True` for
/// `(1, 3).f()`, unlike `np.save`, and took any 1-d stride (e.g. 2) as C order, so the
/// header and the mapped view disagreed.
pub(crate) fn memory_order<D: Dimension>(layout: &ArrayLayout<D>) -> Option<bool> {
    let (dims, strides) = (layout.dim.slice(), layout.strides.slice());
    let contiguous = |mut axes: Box<dyn Iterator<Item = usize>>| {
        let mut expected = 1usize;
        axes.all(|axis| {
            let ok = dims[axis] == 1 || strides[axis] == expected;
            expected = expected.wrapping_mul(dims[axis]);
            ok
        })
    };
    if layout.dim.size() == 0 || contiguous(Box::new((0..dims.len()).rev())) {
        Some(false)
    } else if contiguous(Box::new(0..dims.len())) {
        Some(true)
    } else {
        None
    }
}
