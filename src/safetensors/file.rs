//! [`SafeTensorsFile`]: open a `.safetensors` file, list its tensors and metadata, read any
//! tensor into memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ndarray::{Array, Dimension, IxDyn};

use super::dtype::SafeTensorsElement;
use super::header::{self, Fault, MAX_HEADER_LEN, TensorInfo};
use crate::error::{Error, Result, SafetensorsError};
use crate::fs;

/// An open `.safetensors` file: its tensors listed from the header, each mapped in place
/// ([`map`](Self::map), [`map_bool`](Self::map_bool)) or read into memory
/// ([`read`](Self::read)).
///
/// Opening reads the header (the 8-byte length and the JSON it states) and nothing else,
/// and checks it against the format's rules: every tensor's bytes inside the file and
/// exactly as many as its shape and dtype need, no two tensors overlapping, no byte of
/// the data buffer left to no tensor, `__metadata__` a map of strings. The file stays open
/// for as long as this lives, and every map and read goes through that open file: the path
/// is looked up once, so a file replaced at the path afterwards is not the one read.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::safetensors::{Dtype, SafeTensorsFile, save_safetensors};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("model.safetensors");
/// let w = Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f32);
/// save_safetensors(&path, &[("w", &w), ("b", &array![0.5f32, 0.5, 0.5])], &[("format", "np")])?;
///
/// let file = SafeTensorsFile::open(&path)?;
/// let names: Vec<_> = file.tensors().iter().map(|t| (t.name.as_str(), t.dtype)).collect();
/// assert_eq!(names, [("b", Dtype::F32), ("w", Dtype::F32)]);
/// assert_eq!(file.metadata()["format"], "np");
/// // SAFETY: the file is in a fresh temporary folder that nothing else writes.
/// let w = unsafe { file.map::<f32, Ix2>("w")? };
/// let b = unsafe { file.map::<f32, Ix1>("b")? };
/// assert_eq!(w.dot(&array![1.0f32, 0.0, 0.0, 0.0]) + &*b, array![0.5f32, 4.5, 8.5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SafeTensorsFile {
    pub(super) path: PathBuf,
    pub(super) file: File,
    /// Held across a seek and a read, so that reads from several threads do not move the
    /// file's one position under each other.
    reading: Mutex<()>,
    header_len: u64,
    pub(super) tensors: Vec<TensorInfo>,
    metadata: BTreeMap<String, String>,
}

impl SafeTensorsFile {
    /// Opens the `.safetensors` file at `path` and reads its header.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] and the other open errors; [`Error::Safetensors`] if the header
    /// breaks the format's rules (see [`SafetensorsError`] for each), naming the tensor
    /// concerned; [`Error::Io`].
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("empty.safetensors");
    /// ndmmap::safetensors::save_safetensors(&path, &[], &[])?;
    /// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
    /// assert!(file.tensors().is_empty() && file.metadata().is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = fs::open(path, false)?;
        let len = fs::file_len(path, &file)?;
        let fail = |detail| Error::Safetensors {
            path: path.to_path_buf(),
            tensor: None,
            detail: Box::new(detail),
        };
        if len < 8 {
            return Err(fail(SafetensorsError::FileTooShort { len }));
        }
        let mut stated = [0; 8];
        read_exact_at(&file, 0, &mut stated).map_err(|e| Error::io(path, "read", 8, e))?;
        let header_len = u64::from_le_bytes(stated);
        if header_len > MAX_HEADER_LEN {
            return Err(fail(SafetensorsError::HeaderTooLarge {
                len: header_len,
                limit: MAX_HEADER_LEN,
            }));
        }
        let data_start = 8 + header_len;
        if data_start > len {
            return Err(fail(SafetensorsError::HeaderPastEnd { end: data_start, len }));
        }
        // At most 100 MB, checked above, and no more than the file holds.
        let mut json = vec![0; usize::try_from(header_len).unwrap_or(usize::MAX)];
        read_exact_at(&file, 8, &mut json).map_err(|e| Error::io(path, "read", data_start, e))?;
        let header = header::parse(&json, data_start, len - data_start).map_err(
            |Fault { tensor, detail }| Error::Safetensors {
                path: path.to_path_buf(),
                tensor,
                detail: Box::new(detail),
            },
        )?;
        Ok(SafeTensorsFile {
            path: path.to_path_buf(),
            file,
            reading: Mutex::new(()),
            header_len,
            tensors: header.tensors,
            metadata: header.metadata,
        })
    }

    /// The path the file was opened at.
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.safetensors");
    /// ndmmap::safetensors::save_safetensors(&path, &[], &[])?;
    /// assert_eq!(ndmmap::safetensors::SafeTensorsFile::open(&path)?.path(), path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tensors, in the order of their bytes in the file.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.safetensors");
    /// ndmmap::safetensors::save_safetensors(&path, &[("x", &array![1u8]), ("y", &array![2.0f64])], &[])?;
    /// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
    /// // ndmmap's writer puts the largest elements first (so that all are aligned).
    /// let names: Vec<&str> = file.tensors().iter().map(|t| t.name.as_str()).collect();
    /// assert_eq!(names, ["y", "x"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`.
    ///
    /// # Errors
    ///
    /// [`Error::Safetensors`] with [`SafetensorsError::NotFound`] (which lists the names
    /// there are) if there is no such tensor.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.safetensors");
    /// ndmmap::safetensors::save_safetensors(&path, &[("x", &array![[1u8, 2]])], &[])?;
    /// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
    /// assert_eq!(file.tensor("x")?.shape, [1, 2]);
    /// assert!(file.tensor("y").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name).ok_or_else(|| {
            let available = self.tensors.iter().map(|t| t.name.clone()).collect();
            self.error(name, SafetensorsError::NotFound { available })
        })
    }

    /// The header's `__metadata__`: a map of strings (empty if the header has none).
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.safetensors");
    /// ndmmap::safetensors::save_safetensors(&path, &[], &[("format", "pt"), ("step", "100")])?;
    /// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
    /// assert_eq!(file.metadata().get("step").map(String::as_str), Some("100"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Where the data buffer starts, in bytes from the start of the file: 8 plus the
    /// header's length. The tensors' `data_offsets` count from here.
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.safetensors");
    /// ndmmap::safetensors::save_safetensors(&path, &[], &[])?;
    /// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
    /// assert_eq!(file.data_start() % ndmmap::safetensors::SAFETENSORS_ALIGN, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn data_start(&self) -> u64 {
        8 + self.header_len
    }

    /// Reads the tensor `name` into an owned array: any tensor of `A`'s dtype, aligned or
    /// not, on any machine (the data is converted from little-endian where need be), a
    /// `BOOL` tensor's bytes checked to be 0 or 1. What Python's `load_file` does, one
    /// tensor at a time.
    ///
    /// # Errors
    ///
    /// [`Error::Safetensors`] with [`SafetensorsError::NotFound`],
    /// [`DtypeMismatch`](SafetensorsError::DtypeMismatch) (the message names the type to
    /// read it as), [`RankMismatch`](SafetensorsError::RankMismatch) or
    /// [`InvalidBool`](SafetensorsError::InvalidBool); [`Error::Io`] (a file cut short
    /// since it was opened, too).
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.safetensors");
    /// let mask = array![[true, false], [false, true]];
    /// ndmmap::safetensors::save_safetensors(&path, &[("mask", &mask)], &[])?;
    /// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
    /// assert_eq!(file.read::<bool, Ix2>("mask")?, mask);
    /// assert_eq!(file.read::<bool, IxDyn>("mask")?.shape(), &[2, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read<A: SafeTensorsElement, D: Dimension>(&self, name: &str) -> Result<Array<A, D>> {
        let (info, dim) = self.checked::<A, D>(name)?;
        let overflow = || Error::Overflow {
            path: Some(self.path.clone()),
            shape: info.shape.clone(),
            elem_size: size_of::<A>(),
        };
        let n = usize::try_from(info.byte_len() / size_of::<A>() as u64).map_err(|_| overflow())?;
        let elems = {
            let _reading = self.reading.lock().unwrap_or_else(PoisonError::into_inner);
            A::read_le(n, &mut |buf| read_exact_at(&self.file, info.offset, buf))
                .map_err(|e| Error::io(&self.path, "read", info.file_range().end, e))?
        };
        let elems = elems.ok_or_else(|| self.error(name, SafetensorsError::InvalidBool))?;
        Array::from_shape_vec(dim, elems)
            .map_err(|error| Error::Shape { path: Some(self.path.clone()), error })
    }

    /// The tensor `name`, its dtype checked against `A` and its shape as a `D`.
    pub(super) fn checked<A: SafeTensorsElement, D: Dimension>(
        &self,
        name: &str,
    ) -> Result<(&TensorInfo, D)> {
        let info = self.tensor(name)?;
        if info.dtype != A::DTYPE {
            return Err(self.error(
                name,
                SafetensorsError::DtypeMismatch {
                    found: info.dtype.name(),
                    found_type: info.dtype.rust_type(),
                    requested: A::DTYPE.name(),
                    requested_type: A::NAME,
                },
            ));
        }
        let dim = D::from_dimension(&IxDyn(&info.shape)).ok_or_else(|| {
            let expected = D::NDIM.unwrap_or(info.shape.len());
            self.error(name, SafetensorsError::RankMismatch { expected, found: info.shape.len() })
        })?;
        Ok((info, dim))
    }

    /// An [`Error::Safetensors`] about the tensor `name` of this file.
    pub(super) fn error(&self, name: &str, detail: SafetensorsError) -> Error {
        Error::Safetensors {
            path: self.path.clone(),
            tensor: Some(name.to_owned()),
            detail: Box::new(detail),
        }
    }
}

/// Reads `buf.len()` bytes at `offset` of `file`.
fn read_exact_at(mut file: &File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}
