//! Writing `.npz` archives: [`NpzWriter`] (one member at a time, streamed), and
//! [`save_npz`] / [`save_npz_compressed`] (`np.savez` / `np.savez_compressed`).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use ndarray::{ArrayBase, ArrayRef, Data, Dimension};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::archive::inside;
use crate::error::{Error, HeaderError, NpzError, Result};
use crate::fs::NewFile;
use crate::guard::{MmapArray, MmapArrayMut};
use crate::npy::NpyElement;
use crate::npy::element::native_descr;
use crate::npy::header::{self, Header};

/// Stored members' data starts at a multiple of this many bytes from the start of the
/// archive (the local header's extra field is padded, as Android's zipalign does). The
/// member's `.npy` header is a multiple of 64 bytes long too, so its array data is
/// 64-byte aligned: enough for every element type, and for SIMD loads.
pub const NPZ_ALIGN: u16 = 64;

/// The seal of [`NpzArray`].
mod seal {
    pub trait Sealed {}
}

/// An array that can be written as a `.npz` member: ndarray's arrays and views of any
/// [`NpyElement`] type, and ndmmap's guards. The trait is object safe, so arrays of
/// different types go in one [`save_npz`] call as `&dyn NpzArray`.
///
/// This trait is sealed: ndmmap implements it.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npz::NpzArray;
///
/// let a = array![1.0f32, 2.0];
/// let b = array![[1u8, 2], [3, 4]];
/// let arrays: [(&str, &dyn NpzArray); 2] = [("a", &a), ("b", &b.view())];
/// let dir = tempfile::tempdir()?;
/// ndmmap::npz::save_npz(dir.path().join("ab.npz"), &arrays)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait NpzArray: seal::Sealed {
    /// The member's `.npy` header, as `np.save` writes it for this array.
    #[doc(hidden)]
    fn npy_header(&self) -> Result<Vec<u8>, HeaderError>;
    /// The number of data bytes after the header.
    #[doc(hidden)]
    fn npy_data_len(&self) -> u64;
    /// Writes the data in the order the header states.
    #[doc(hidden)]
    fn write_npy_data(&self, out: &mut dyn Write) -> io::Result<()>;
}

/// `np.save`'s choice: the elements in C order if C-contiguous, else in Fortran order if
/// Fortran-contiguous (`Some` with `true`), else `None` (a C-order copy, element by element).
fn contiguous<A, D: Dimension>(array: &ArrayRef<A, D>) -> Option<(&[A], bool)> {
    match array.as_slice() {
        Some(elems) => Some((elems, false)),
        None if array.t().is_standard_layout() => array.as_slice_memory_order().map(|e| (e, true)),
        None => None,
    }
}

impl<A: NpyElement, D: Dimension> NpzArray for ArrayRef<A, D> {
    fn npy_header(&self) -> Result<Vec<u8>, HeaderError> {
        let fortran_order = contiguous(self).is_some_and(|(_, f)| f);
        let shape = self.shape().to_vec();
        header::write(&Header {
            descr: native_descr::<A>(),
            record: A::record_layout(),
            fortran_order,
            shape,
        })
    }

    fn npy_data_len(&self) -> u64 {
        (self.len() * size_of::<A>()) as u64
    }

    fn write_npy_data(&self, out: &mut dyn Write) -> io::Result<()> {
        if let Some((elems, _)) = contiguous(self) {
            // In pieces, so that a mapped array larger than RAM streams through.
            for piece in elems.chunks((8 << 20) / size_of::<A>().max(1)) {
                out.write_all(bytemuck::cast_slice(piece))?;
            }
            return Ok(());
        }
        let mut buffer = Vec::with_capacity(1 << 20);
        for elem in self {
            buffer.extend_from_slice(bytemuck::bytes_of(elem));
            if buffer.len() >= 1 << 20 {
                out.write_all(&buffer)?;
                buffer.clear();
            }
        }
        out.write_all(&buffer)
    }
}

/// Delegates [`NpzArray`] to the [`ArrayRef`] a type dereferences to.
macro_rules! npz_array_by_deref {
    ($([$($generics:tt)*] $ty:ty;)*) => {$(
        impl<$($generics)*> seal::Sealed for $ty {}
        impl<$($generics)*> NpzArray for $ty {
            fn npy_header(&self) -> Result<Vec<u8>, HeaderError> {
                <ArrayRef<A, D> as NpzArray>::npy_header(self)
            }
            fn npy_data_len(&self) -> u64 {
                <ArrayRef<A, D> as NpzArray>::npy_data_len(self)
            }
            fn write_npy_data(&self, out: &mut dyn Write) -> io::Result<()> {
                <ArrayRef<A, D> as NpzArray>::write_npy_data(self, out)
            }
        }
    )*};
}

impl<A, D> seal::Sealed for ArrayRef<A, D> {}
npz_array_by_deref! {
    [A: NpyElement, S: Data<Elem = A>, D: Dimension] ArrayBase<S, D>;
    [A: NpyElement, D: Dimension] MmapArray<A, D>;
    [A: NpyElement, D: Dimension] MmapArrayMut<A, D>;
}

/// Writes a `.npz` archive one member at a time, each streamed to disk as it is added,
/// so that the arrays never need to be in memory together, and a member may be a mapped
/// array larger than RAM.
///
/// Members are written stored ([`add`](Self::add), `np.savez`) with their data aligned to
/// [`NPZ_ALIGN`] bytes so that [`NpzArchive::map`](super::NpzArchive::map) can map every
/// one of them, or deflate-compressed ([`add_compressed`](Self::add_compressed),
/// `np.savez_compressed`). Members and the archive switch to ZIP64 where sizes or offsets
/// need it (over 4 GiB). NumPy's `np.load` reads the archives.
///
/// The archive is built under a temporary name beside `path` and renamed into place by
/// [`finish`](Self::finish), so readers (and live maps of an old archive at `path`)
/// never see a half-written file; dropped without `finish`, the writer leaves nothing.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npz::{NpzArchive, NpzWriter};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("run.npz");
/// let mut writer = NpzWriter::create(&path)?;
/// for step in 0..3 {
///     writer.add(&format!("step{step}"), &Array1::<f64>::from_elem(4, f64::from(step)))?;
/// }
/// writer.finish()?;
/// let archive = NpzArchive::open(&path)?;
/// assert_eq!(archive.members().len(), 3);
/// assert_eq!(unsafe { archive.map::<f64, Ix1>("step2")? }.sum(), 8.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct NpzWriter {
    path: PathBuf,
    /// `None` after a failed write: the archive is incomplete and cannot go on.
    zip: Option<ZipWriter<BufWriter<File>>>,
    new: NewFile,
    names: Vec<String>,
}

impl NpzWriter {
    /// Starts a new archive that [`finish`](Self::finish) puts at `path`, replacing any
    /// file there.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the folder does not exist, [`Error::PermissionDenied`],
    /// [`Error::IsADirectory`].
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let writer = ndmmap::npz::NpzWriter::create(dir.path().join("empty.npz"))?;
    /// writer.finish()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let new = NewFile::create(path)?;
        let file = new.file().try_clone().map_err(|e| Error::io(path, "open", 0, e))?;
        let zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
        Ok(NpzWriter { path: path.to_path_buf(), zip: Some(zip), new, names: Vec::new() })
    }

    /// Adds `array` as the stored member `name` (the file `name.npy`, NumPy's key
    /// `name`), its data aligned so that it can be mapped.
    ///
    /// # Errors
    ///
    /// [`Error::Npz`] with [`NpzError::InvalidName`] or [`NpzError::DuplicateName`]
    /// (checked before anything is written); [`Error::Io`], [`Error::NoSpace`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// let mut writer = ndmmap::npz::NpzWriter::create(&path)?;
    /// writer.add("t", &array![[1i16, 2, 3], [4, 5, 6]].t())?; // Fortran order, no copy
    /// writer.finish()?;
    /// let archive = ndmmap::npz::NpzArchive::open(&path)?;
    /// assert!(archive.member("t")?.fortran_order);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add<T: NpzArray + ?Sized>(&mut self, name: &str, array: &T) -> Result<()> {
        self.add_member(name, array, CompressionMethod::Stored)
    }

    /// Adds `array` as the deflate-compressed member `name` (`np.savez_compressed`).
    /// Compressed members cannot be mapped, only read.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// let mut writer = ndmmap::npz::NpzWriter::create(&path)?;
    /// writer.add_compressed("zeros", &Array1::<f64>::zeros(10_000))?;
    /// writer.finish()?;
    /// assert!(std::fs::metadata(&path)?.len() < 1_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_compressed<T: NpzArray + ?Sized>(&mut self, name: &str, array: &T) -> Result<()> {
        self.add_member(name, array, CompressionMethod::Deflated)
    }

    fn add_member<T: NpzArray + ?Sized>(
        &mut self,
        name: &str,
        array: &T,
        method: CompressionMethod,
    ) -> Result<()> {
        let fail =
            |detail| Error::Npz { path: self.path.clone(), member: Some(name.to_owned()), detail };
        if !valid_name(name) {
            return Err(fail(NpzError::InvalidName));
        }
        if self.names.iter().any(|n| n == name) {
            return Err(fail(NpzError::DuplicateName));
        }
        let header = array.npy_header().map_err(|e| fail(NpzError::Header(e)))?;
        let size = header.len() as u64 + array.npy_data_len();
        self.start_file(&format!("{name}.npy"), size, method)?;
        let zip = self.zip.as_mut().ok_or_else(|| poisoned(&self.path))?;
        let written = zip.write_all(&header).and_then(|()| array.write_npy_data(zip));
        if let Err(e) = written {
            self.zip = None;
            return Err(Error::io(&self.path, "write", size, e));
        }
        self.names.push(name.to_owned());
        Ok(())
    }

    /// Starts the member `file_name` of `size` bytes (its whole `.npy` file), stored and
    /// aligned or deflated; its bytes follow with [`write_bytes`](Self::write_bytes).
    pub(super) fn start_file(
        &mut self,
        file_name: &str,
        size: u64,
        method: CompressionMethod,
    ) -> Result<()> {
        let mut options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(size >= u64::from(u32::MAX))
            .unix_permissions(0o644);
        if method == CompressionMethod::Stored {
            options = options.with_alignment(NPZ_ALIGN);
        }
        let zip = self.zip.as_mut().ok_or_else(|| poisoned(&self.path))?;
        if let Err(e) = zip.start_file(file_name, options) {
            self.zip = None;
            return Err(Error::io(&self.path, "write", size, io::Error::other(e)));
        }
        Ok(())
    }

    /// Writes bytes of the member started last.
    pub(super) fn write_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let zip = self.zip.as_mut().ok_or_else(|| poisoned(&self.path))?;
        if let Err(e) = zip.write_all(bytes) {
            self.zip = None;
            return Err(Error::io(&self.path, "write", bytes.len() as u64, e));
        }
        Ok(())
    }

    /// Copies an entry of another archive as it is (compressed or not).
    pub(super) fn copy_raw<R: io::Read>(&mut self, entry: zip::read::ZipFile<'_, R>) -> Result<()> {
        let zip = self.zip.as_mut().ok_or_else(|| poisoned(&self.path))?;
        if let Err(e) = zip.raw_copy_file(entry) {
            self.zip = None;
            return Err(Error::io(&self.path, "write", 0, io::Error::other(e)));
        }
        Ok(())
    }

    /// Writes the central directory, syncs the archive and renames it into place.
    ///
    /// # Errors
    ///
    /// [`Error::Io`], [`Error::NoSpace`]; [`Error::InvalidOption`] if an earlier `add`
    /// failed part-way (the archive is incomplete: start again).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npz");
    /// let mut writer = ndmmap::npz::NpzWriter::create(&path)?;
    /// writer.add("a", &array![1u8])?;
    /// assert!(!path.exists());
    /// writer.finish()?;
    /// assert!(path.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(mut self) -> Result<()> {
        let zip = self.zip.take().ok_or_else(|| poisoned(&self.path))?;
        let finished = zip.finish().map_err(io::Error::other).and_then(|mut out| out.flush());
        finished.map_err(|e| Error::io(&self.path, "write", 0, e))?;
        self.new.commit()
    }
}

fn poisoned(path: &Path) -> Error {
    Error::InvalidOption {
        path: Some(path.to_path_buf()),
        message: "an earlier write to this .npz archive failed; the archive is incomplete",
    }
}

/// A NumPy key that makes a safe member name: non-empty, and inside the archive (not
/// absolute, no `..` path segment, no NUL). `a..b` and `run/1` are keys `np.savez` writes
/// and `np.load` reads back as they are.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && inside(name)
}

/// Saves arrays as a `.npz` archive of stored members (`np.savez(path, name=array, ...)`),
/// every member aligned so that it can be mapped; the archive is written atomically.
///
/// # Errors
///
/// As [`NpzWriter::add`] and [`NpzWriter::finish`].
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("xy.npz");
/// ndmmap::npz::save_npz(&path, &[("x", &array![1.0f64, 2.0]), ("y", &array![3.0f64])])?;
/// let archive = ndmmap::npz::NpzArchive::open(&path)?;
/// assert_eq!(unsafe { archive.map::<f64, Ix1>("y")? }[0], 3.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_npz(path: impl AsRef<Path>, arrays: &[(&str, &dyn NpzArray)]) -> Result<()> {
    save(path.as_ref(), arrays, CompressionMethod::Stored)
}

/// Saves arrays as a `.npz` archive of deflate-compressed members
/// (`np.savez_compressed`); the archive is written atomically.
///
/// # Errors
///
/// As [`save_npz`].
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("z.npz");
/// ndmmap::npz::save_npz_compressed(&path, &[("z", &Array2::<i32>::zeros((100, 100)))])?;
/// let archive = ndmmap::npz::NpzArchive::open(&path)?;
/// assert_eq!(archive.read::<i32, Ix2>("z")?.shape(), &[100, 100]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_npz_compressed(path: impl AsRef<Path>, arrays: &[(&str, &dyn NpzArray)]) -> Result<()> {
    save(path.as_ref(), arrays, CompressionMethod::Deflated)
}

fn save(path: &Path, arrays: &[(&str, &dyn NpzArray)], method: CompressionMethod) -> Result<()> {
    // Names first: nothing is written unless every one is valid and unique.
    for (i, (name, _)) in arrays.iter().enumerate() {
        let detail = if !valid_name(name) {
            NpzError::InvalidName
        } else if arrays[..i].iter().any(|(other, _)| other == name) {
            NpzError::DuplicateName
        } else {
            continue;
        };
        return Err(Error::Npz { path: path.to_path_buf(), member: Some((*name).into()), detail });
    }
    let mut writer = NpzWriter::create(path)?;
    for (name, array) in arrays {
        writer.add_member(name, *array, method)?;
    }
    writer.finish()
}
