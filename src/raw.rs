//! [`MapFile`]: `Array::map_file(...)` and friends, for raw (headerless) files: the array's
//! place in the file comes from [`MapOptions`] alone.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use bytemuck::{AnyBitPattern, Pod};
use ndarray::{Array, Dimension, StrideShape};

use crate::error::{Error, Result};
use crate::guard::open::OpenFile;
use crate::guard::{MmapArray, MmapArrayMut};
use crate::layout::{Elem, Placement, Purpose, place};
use crate::options::MapOptions;
use crate::private::Sealed;

/// Maps raw files as arrays: `Array2::<f64>::map_file(path)` and friends.
///
/// The functions are associated with the owned array type only to name the element type
/// and dimension; they return guards ([`MmapArray`], [`MmapArrayMut`]) that own the map
/// and dereference to ndarray's [`ArrayRef`](ndarray::ArrayRef).
///
/// | NumPy `np.memmap` mode | ndmmap                                                       |
/// |------------------------|--------------------------------------------------------------|
/// | `'r'`                  | [`map_file`](Self::map_file), [`map_file_with`](Self::map_file_with) |
/// | `'r+'`                 | [`map_file_mut`](Self::map_file_mut), [`map_file_mut_with`](Self::map_file_mut_with) |
/// | `'c'`                  | [`map_file_copy`](Self::map_file_copy), [`map_file_copy_with`](Self::map_file_copy_with) |
/// | `'w+'`                 | [`create_file`](Self::create_file), [`create_file_with`](Self::create_file_with) |
/// | `np.memmap(fileobj)`   | [`map_open_file`](Self::map_open_file), [`map_open_file_mut`](Self::map_open_file_mut), [`map_open_file_copy`](Self::map_open_file_copy) |
///
/// This trait is sealed: it is implemented for [`Array`] only.
///
/// # Safety of the mapping functions
///
/// Each function is `unsafe` for the same reason as [`memmap2::Mmap::map`]. While the
/// returned guard lives:
///
/// - nothing but this guard may modify the mapped bytes: no other map of the same file
///   (ndmmap's or not, in this process or another) and no write to the file, with one
///   exception: atomic operations through [atomic views](crate::MmapArrayMut::atomic_view),
///   on bytes that every party touches only atomically;
/// - nobody may truncate the file. ndmmap's own growable guards count: their `close`,
///   drop, `shrink_to_fit` and `resize_outer` shorten the file, which is a truncation for
///   any other map of those bytes.
///
/// Modifying the bytes under a live reference breaks Rust's aliasing rules (the compiler
/// may assume they did not change); touching a truncated part kills the process with
/// `SIGBUS`. Nothing at run time can check either.
///
/// [`memmap2::Mmap::map`]: https://docs.rs/memmap2/latest/memmap2/struct.Mmap.html#method.map
pub trait MapFile: Sealed {
    /// The element type.
    type Elem;
    /// The dimension type.
    type Dim: Dimension;

    /// Maps a file read-only, as a 1-D array of every element in it (maparray's
    /// `maparray(file, typecode)`).
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound), [`Error::PermissionDenied`](crate::Error::PermissionDenied), [`Error::IsADirectory`](crate::Error::IsADirectory),
    /// [`Error::NotAMultiple`](crate::Error::NotAMultiple) if the file is not a whole number of elements,
    /// [`Error::ShapeRequired`](crate::Error::ShapeRequired) for arrays of more than one dimension, [`Error::Io`](crate::Error::Io).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, bytemuck::cast_slice(&[0.0f64, 0.5, 1.0]))?;
    /// let a = unsafe { Array1::<f64>::map_file(&path)? };
    /// assert_eq!(*a, array![0.0, 0.5, 1.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_file(path: impl AsRef<Path>) -> Result<MmapArray<Self::Elem, Self::Dim>>
    where
        Self::Elem: AnyBitPattern,
    {
        // SAFETY: forwarded; the caller upholds the same contract.
        unsafe { Self::map_file_with(path, &MapOptions::new()) }
    }

    /// Maps a file read-only with options: offset, shape, length, read-ahead.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_file`](Self::map_file), and: [`Error::Misaligned`](crate::Error::Misaligned),
    /// [`Error::OffsetPastEnd`](crate::Error::OffsetPastEnd), [`Error::TooShort`](crate::Error::TooShort), [`Error::Overflow`](crate::Error::Overflow),
    /// [`Error::MultipleInferredAxes`](crate::Error::MultipleInferredAxes), [`Error::InvalidOption`](crate::Error::InvalidOption) (e.g. `extend_file`).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, bytemuck::cast_slice(&[1i32, 3, 5, 7]))?;
    /// let options = MapOptions::new().shape((2, 2));
    /// let a = unsafe { Array2::<i32>::map_file_with(&path, &options)? };
    /// assert_eq!(*a, array![[1, 3], [5, 7]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_file_with(
        path: impl AsRef<Path>,
        options: &MapOptions<Self::Dim>,
    ) -> Result<MmapArray<Self::Elem, Self::Dim>>
    where
        Self::Elem: AnyBitPattern;

    /// Maps a file read-write and shared: writes reach the file (NumPy's `'r+'`).
    ///
    /// The disk blocks of the mapped range are reserved first (`fallocate`, keeping the
    /// data): the holes of a sparse file, such as NumPy's `open_memmap` makes, get their
    /// blocks now, so that a full disk is an error here and never a `SIGBUS` on a write.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_file`](Self::map_file); [`Error::PermissionDenied`](crate::Error::PermissionDenied) if the file is
    /// read-only; [`Error::NoSpace`](crate::Error::NoSpace) if the disk cannot hold the
    /// mapped range's missing blocks (the file is unchanged).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, [1u8, 2, 3])?;
    /// let mut a = unsafe { Array1::<u8>::map_file_mut(&path)? };
    /// a[1] = 37;
    /// a.flush()?;
    /// assert_eq!(std::fs::read(&path)?, [1, 37, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_file_mut(path: impl AsRef<Path>) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: Pod,
    {
        // SAFETY: forwarded; the caller upholds the same contract.
        unsafe { Self::map_file_mut_with(path, &MapOptions::new()) }
    }

    /// Maps a file read-write and shared, with options; `extend_file(true)` lets a short
    /// file grow to fit the shape.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_file_with`](Self::map_file_with); [`Error::OverlappingStrides`](crate::Error::OverlappingStrides);
    /// [`Error::NoSpace`](crate::Error::NoSpace) if growing the file finds the disk full.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, [0u8; 4])?;
    /// let options = MapOptions::new().shape((2, 2).f());
    /// let mut a = unsafe { Array2::<u8>::map_file_mut_with(&path, &options)? };
    /// a[[1, 0]] = 5;
    /// a.close()?;
    /// assert_eq!(std::fs::read(&path)?, [0, 5, 0, 0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_file_mut_with(
        path: impl AsRef<Path>,
        options: &MapOptions<Self::Dim>,
    ) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: Pod;

    /// Maps a file copy-on-write: the array is writable, but writes stay in this process
    /// and the file never changes (NumPy's `'c'`).
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions). A
    /// private map does not shield the array from other processes' writes to the file.
    ///
    /// # Errors
    ///
    /// As [`map_file`](Self::map_file).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, [1u8, 2, 3])?;
    /// let mut a = unsafe { Array1::<u8>::map_file_copy(&path)? };
    /// a[0] = 9;
    /// assert_eq!(a.to_vec(), [9, 2, 3]);
    /// drop(a);
    /// assert_eq!(std::fs::read(&path)?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_file_copy(path: impl AsRef<Path>) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: Pod,
    {
        // SAFETY: forwarded; the caller upholds the same contract.
        unsafe { Self::map_file_copy_with(path, &MapOptions::new()) }
    }

    /// Maps a file copy-on-write, with options.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_file_with`](Self::map_file_with); [`Error::OverlappingStrides`](crate::Error::OverlappingStrides).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, [1u8, 2, 3, 4])?;
    /// let options = MapOptions::new().shape((2, 2));
    /// let mut a = unsafe { Array2::<u8>::map_file_copy_with(&path, &options)? };
    /// *a *= 2;
    /// assert_eq!(*a, array![[2, 4], [6, 8]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_file_copy_with(
        path: impl AsRef<Path>,
        options: &MapOptions<Self::Dim>,
    ) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: Pod;

    /// Maps a file the caller has opened already, read-only, with options (memmap2's
    /// `Mmap::map(&file)`): for files opened with flags ndmmap does not set, handed over
    /// by another process, or created by `tempfile`. The guard keeps a duplicate of the
    /// descriptor; `file` may be closed at once.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_file_with`](Self::map_file_with). Errors name the file by the path the
    /// operating system reports for it.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use std::io::Write;
    ///
    /// let mut file = tempfile::tempfile()?; // no name at all
    /// file.write_all(bytemuck::cast_slice(&[1.0f64, 2.0, 3.0]))?;
    /// let a = unsafe { Array1::<f64>::map_open_file(&file, &MapOptions::new())? };
    /// assert_eq!(a.sum(), 6.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_open_file(
        file: &File,
        options: &MapOptions<Self::Dim>,
    ) -> Result<MmapArray<Self::Elem, Self::Dim>>
    where
        Self::Elem: AnyBitPattern;

    /// Maps a file the caller has opened already (for reading and writing), read-write
    /// and shared, with options.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_file_mut_with`](Self::map_file_mut_with); [`Error::Io`](crate::Error::Io)
    /// if `file` was not opened for writing.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use std::io::{Read, Seek};
    ///
    /// let mut file = tempfile::tempfile()?;
    /// file.set_len(4)?;
    /// let mut a = unsafe { Array1::<u8>::map_open_file_mut(&file, &MapOptions::new())? };
    /// a.fill(9);
    /// a.flush()?;
    /// let mut bytes = Vec::new();
    /// file.rewind()?;
    /// file.read_to_end(&mut bytes)?;
    /// assert_eq!(bytes, [9, 9, 9, 9]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_open_file_mut(
        file: &File,
        options: &MapOptions<Self::Dim>,
    ) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: Pod;

    /// Maps a file the caller has opened already, copy-on-write, with options.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`map_file_copy_with`](Self::map_file_copy_with).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.bin");
    /// std::fs::write(&path, [1u8, 2, 3, 4])?;
    /// let file = std::fs::File::open(&path)?;
    /// let options = MapOptions::new().shape((2, 2));
    /// let mut a = unsafe { Array2::<u8>::map_open_file_copy(&file, &options)? };
    /// drop(file);
    /// a[[0, 0]] = 7;
    /// assert_eq!(*a, array![[7, 2], [3, 4]]);
    /// assert_eq!(std::fs::read(&path)?, [1, 2, 3, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn map_open_file_copy(
        file: &File,
        options: &MapOptions<Self::Dim>,
    ) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: Pod;

    /// Creates a new file holding a zeroed array of `shape` (C order, `.f()` or
    /// `.strides(...)`) and maps it read-write (NumPy's `'w+'`).
    ///
    /// Every argument is checked before the disk is touched, an existing file is never
    /// replaced (see [`MapOptions::overwrite`]), and the file's blocks are reserved, so a
    /// full disk is an [`Error::NoSpace`](crate::Error::NoSpace) now rather than a `SIGBUS` later.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions): the new
    /// file has a name others can open.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`](crate::Error::AlreadyExists), [`Error::NoSpace`](crate::Error::NoSpace), [`Error::PermissionDenied`](crate::Error::PermissionDenied),
    /// [`Error::Overflow`](crate::Error::Overflow), [`Error::OverlappingStrides`](crate::Error::OverlappingStrides), [`Error::Io`](crate::Error::Io).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// let mut c = unsafe { Array2::<f64>::create_file(&path, (3, 4))? };
    /// c.fill(2.0);
    /// c.close()?;
    /// assert_eq!(std::fs::metadata(&path)?.len(), 3 * 4 * 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn create_file<Sh: Into<StrideShape<Self::Dim>>>(
        path: impl AsRef<Path>,
        shape: Sh,
    ) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: Pod,
    {
        // SAFETY: forwarded; the caller upholds the same contract.
        unsafe { Self::create_file_with(path, shape, &MapOptions::new()) }
    }

    /// Creates a new file holding a zeroed array of `shape`, with options: a data offset
    /// (the bytes before it are zero), `overwrite`, `populate`, read-ahead, a lock.
    ///
    /// The shape is the argument, as for [`create_file`](Self::create_file) and
    /// [`MapNpy::create_npy_with`](crate::MapNpy::create_npy_with); the options must not
    /// carry one too ([`MapOptions::shape`] is for mapping existing files), so that no
    /// call has two shapes to choose from.
    ///
    /// # Safety
    ///
    /// See [the trait's safety section](MapFile#safety-of-the-mapping-functions).
    ///
    /// # Errors
    ///
    /// As [`create_file`](Self::create_file); [`Error::InvalidOption`](crate::Error::InvalidOption)
    /// if the options carry a shape (or an inferred one) or a `len`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.bin");
    /// let options = MapOptions::new().offset(16);
    /// let c = unsafe { Array2::<u32>::create_file_with(&path, (2, 2).f(), &options)? };
    /// assert_eq!(c.offset(), 16);
    /// assert_eq!(std::fs::metadata(&path)?.len(), 16 + 16);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    unsafe fn create_file_with<Sh: Into<StrideShape<Self::Dim>>>(
        path: impl AsRef<Path>,
        shape: Sh,
        options: &MapOptions<Self::Dim>,
    ) -> Result<MmapArrayMut<Self::Elem, Self::Dim>>
    where
        Self::Elem: Pod;
}

impl<A, D: Dimension> MapFile for Array<A, D> {
    type Elem = A;
    type Dim = D;

    unsafe fn map_file_with(
        path: impl AsRef<Path>,
        options: &MapOptions<D>,
    ) -> Result<MmapArray<A, D>>
    where
        A: AnyBitPattern,
    {
        let file = OpenFile::open(path.as_ref(), false, options.settings)?;
        let placement = placement::<A, D>(&file, options, Purpose::Read)?;
        // SAFETY: forwarded; the caller upholds the trait's mapping contract for this file.
        unsafe { file.map_read_only(&placement, options.settings) }
    }

    unsafe fn map_file_mut_with(
        path: impl AsRef<Path>,
        options: &MapOptions<D>,
    ) -> Result<MmapArrayMut<A, D>>
    where
        A: Pod,
    {
        let file = OpenFile::open(path.as_ref(), true, options.settings)?;
        let placement = placement::<A, D>(&file, options, Purpose::Write)?;
        // SAFETY: forwarded; the caller upholds the trait's mapping contract for this file.
        unsafe { file.map_read_write(&placement, options.settings) }
    }

    unsafe fn map_file_copy_with(
        path: impl AsRef<Path>,
        options: &MapOptions<D>,
    ) -> Result<MmapArrayMut<A, D>>
    where
        A: Pod,
    {
        let file = OpenFile::open(path.as_ref(), false, options.settings)?;
        let placement = placement::<A, D>(&file, options, Purpose::Copy)?;
        // SAFETY: forwarded; the caller upholds the trait's mapping contract for this file.
        unsafe { file.map_copy_on_write(&placement, options.settings) }
    }

    unsafe fn map_open_file(file: &File, options: &MapOptions<D>) -> Result<MmapArray<A, D>>
    where
        A: AnyBitPattern,
    {
        let file = OpenFile::adopt(file, options.settings)?;
        let placement = placement::<A, D>(&file, options, Purpose::Read)?;
        // SAFETY: forwarded; the caller upholds the trait's mapping contract for this file.
        unsafe { file.map_read_only(&placement, options.settings) }
    }

    unsafe fn map_open_file_mut(file: &File, options: &MapOptions<D>) -> Result<MmapArrayMut<A, D>>
    where
        A: Pod,
    {
        let file = OpenFile::adopt(file, options.settings)?;
        let placement = placement::<A, D>(&file, options, Purpose::Write)?;
        // SAFETY: forwarded; the caller upholds the trait's mapping contract for this file.
        unsafe { file.map_read_write(&placement, options.settings) }
    }

    unsafe fn map_open_file_copy(file: &File, options: &MapOptions<D>) -> Result<MmapArrayMut<A, D>>
    where
        A: Pod,
    {
        let file = OpenFile::adopt(file, options.settings)?;
        let placement = placement::<A, D>(&file, options, Purpose::Copy)?;
        // SAFETY: forwarded; the caller upholds the trait's mapping contract for this file.
        unsafe { file.map_copy_on_write(&placement, options.settings) }
    }

    unsafe fn create_file_with<Sh: Into<StrideShape<D>>>(
        path: impl AsRef<Path>,
        shape: Sh,
        options: &MapOptions<D>,
    ) -> Result<MmapArrayMut<A, D>>
    where
        A: Pod,
    {
        let path = path.as_ref();
        if options.shape.is_some() {
            return Err(Error::InvalidOption {
                path: Some(path.to_path_buf()),
                message: "create_file_with takes the shape as its argument; \
                          leave MapOptions::shape and shape_inferred unset",
            });
        }
        let options = options.clone().shape(shape);
        let placement =
            place(&options, Elem::of::<A>(), 0, Purpose::Create).map_err(|e| e.at_path(path))?;
        let file = OpenFile::create(path, placement.end(), &[], options.settings)?;
        // SAFETY: forwarded; the caller upholds the trait's mapping contract for the new file.
        unsafe { file.map_read_write(&placement, options.settings) }
    }
}

/// Where the array of `options` lies in `file`, checked against the file's length.
fn placement<A, D: Dimension>(
    file: &OpenFile,
    options: &MapOptions<D>,
    purpose: Purpose,
) -> Result<Placement<D>> {
    place(options, Elem::of::<A>(), file.len()?, purpose).map_err(|e| e.at_path(file.path()))
}
