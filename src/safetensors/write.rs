//! Writing `.safetensors` files: [`save_safetensors`] and [`SafeTensorsWriter`], with every
//! tensor aligned so that it can be mapped.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use ndarray::{ArrayBase, ArrayRef, Data, Dimension};

use super::dtype::{Dtype, SafeTensorsElement};
use super::header::METADATA_KEY;
use crate::error::{Error, Result, SafetensorsError};
use crate::fs::write_atomically;
use crate::guard::{MmapArray, MmapArrayMut};

/// ndmmap's writer starts the data buffer at a multiple of this many bytes from the start
/// of the file, padding the JSON header with spaces (as the format allows).
///
/// The format forbids gaps between tensors, so the buffer's start is the one place a writer
/// chooses; tensors follow one another, the largest elements first, so that each starts at
/// a multiple of its element size, and so every tensor can be mapped. 8 bytes would do for
/// that; 64 (as the `.npz` writer's `NPZ_ALIGN`) also puts the first, often
/// largest, tensor on a cache line for SIMD loads, at a cost of at most 56 spaces. Aligning to
/// a page would cost up to a page per file and align nothing more, since the next
/// tensors cannot be.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.safetensors");
/// ndmmap::safetensors::save_safetensors(&path, &[("a", &array![1u8])], &[])?;
/// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
/// assert_eq!(file.data_start() % ndmmap::safetensors::SAFETENSORS_ALIGN, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const SAFETENSORS_ALIGN: u64 = 64;

/// The seal of [`SafeTensorsArray`].
mod seal {
    pub trait Sealed {}
}

/// An array that can be written as a tensor: ndarray's arrays and views of any
/// [`SafeTensorsElement`] type, and ndmmap's guards. The trait is object safe, so arrays
/// of different types go in one [`save_safetensors`] call as `&dyn SafeTensorsArray`.
///
/// This trait is sealed: ndmmap implements it.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::safetensors::SafeTensorsArray;
///
/// let w = Array2::<f32>::zeros((2, 2));
/// let ids = array![1i64, 2, 3];
/// let tensors: [(&str, &dyn SafeTensorsArray); 2] = [("w", &w), ("ids", &ids.view())];
/// let dir = tempfile::tempdir()?;
/// ndmmap::safetensors::save_safetensors(dir.path().join("m.safetensors"), &tensors, &[])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait SafeTensorsArray: seal::Sealed {
    /// The tensor's dtype.
    #[doc(hidden)]
    fn tensor_dtype(&self) -> Dtype;
    /// The tensor's shape.
    #[doc(hidden)]
    fn tensor_shape(&self) -> Vec<usize>;
    /// The tensor's bytes.
    #[doc(hidden)]
    fn tensor_len(&self) -> u64;
    /// Writes the elements in C order, little-endian.
    #[doc(hidden)]
    fn write_tensor(&self, out: &mut dyn Write) -> io::Result<()>;
}

impl<A, D> seal::Sealed for ArrayRef<A, D> {}

impl<A: SafeTensorsElement, D: Dimension> SafeTensorsArray for ArrayRef<A, D> {
    fn tensor_dtype(&self) -> Dtype {
        A::DTYPE
    }

    fn tensor_shape(&self) -> Vec<usize> {
        self.shape().to_vec()
    }

    fn tensor_len(&self) -> u64 {
        (self.len() * size_of::<A>()) as u64
    }

    fn write_tensor(&self, out: &mut dyn Write) -> io::Result<()> {
        let little_endian = cfg!(target_endian = "little");
        if let (Some(elems), true) = (self.as_slice(), little_endian) {
            // In pieces, so that a mapped array larger than RAM streams through.
            for piece in elems.chunks((8 << 20) / size_of::<A>().max(1)) {
                out.write_all(bytemuck::cast_slice(piece))?;
            }
            return Ok(());
        }
        let mut buffer = Vec::with_capacity(1 << 20);
        for elem in self {
            let start = buffer.len();
            buffer.extend_from_slice(bytemuck::bytes_of(elem));
            if !little_endian {
                for scalar in buffer[start..].chunks_exact_mut(A::SWAP_UNIT) {
                    scalar.reverse();
                }
            }
            if buffer.len() >= 1 << 20 {
                out.write_all(&buffer)?;
                buffer.clear();
            }
        }
        out.write_all(&buffer)
    }
}

/// Delegates [`SafeTensorsArray`] to the [`ArrayRef`] a type dereferences to.
macro_rules! tensor_by_deref {
    ($([$($generics:tt)*] $ty:ty;)*) => {$(
        impl<$($generics)*> seal::Sealed for $ty {}
        impl<$($generics)*> SafeTensorsArray for $ty {
            fn tensor_dtype(&self) -> Dtype {
                A::DTYPE
            }
            fn tensor_shape(&self) -> Vec<usize> {
                <ArrayRef<A, D> as SafeTensorsArray>::tensor_shape(self)
            }
            fn tensor_len(&self) -> u64 {
                <ArrayRef<A, D> as SafeTensorsArray>::tensor_len(self)
            }
            fn write_tensor(&self, out: &mut dyn Write) -> io::Result<()> {
                <ArrayRef<A, D> as SafeTensorsArray>::write_tensor(self, out)
            }
        }
    )*};
}

tensor_by_deref! {
    [A: SafeTensorsElement, S: Data<Elem = A>, D: Dimension] ArrayBase<S, D>;
    [A: SafeTensorsElement + bytemuck::AnyBitPattern, D: Dimension] MmapArray<A, D>;
    [A: SafeTensorsElement + bytemuck::Pod, D: Dimension] MmapArrayMut<A, D>;
}

/// Builds a `.safetensors` file from tensors added one at a time, and writes it on
/// [`finish`](Self::finish): the header must list every tensor before the first byte of
/// data, so the tensors are borrowed until then and streamed to disk one after the other
/// (a mapped tensor larger than RAM too).
///
/// The file is what the format's specification asks, which Python's `safetensors` and the
/// `safetensors` crate read: the tensors in C order, little-endian, back to back, the
/// largest elements first; the header padded with spaces so that the data starts at a
/// multiple of [`SAFETENSORS_ALIGN`] bytes, so every tensor can be mapped. It is written
/// under a temporary name beside `path` and renamed into place, so readers (and live maps
/// of an old file at `path`) never see a half-written file; on any error, nothing is left.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::safetensors::{SafeTensorsFile, SafeTensorsWriter};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("layers.safetensors");
/// let layers: Vec<Array2<f32>> = (0..3).map(|i| Array2::from_elem((2, 2), i as f32)).collect();
/// let mut writer = SafeTensorsWriter::new(&path);
/// for (i, layer) in layers.iter().enumerate() {
///     writer.add(&format!("layer.{i}.weight"), layer)?;
/// }
/// writer.metadata("format", "np")?;
/// writer.finish()?;
/// let file = SafeTensorsFile::open(&path)?;
/// assert_eq!(unsafe { file.map::<f32, Ix2>("layer.2.weight")? }.sum(), 8.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SafeTensorsWriter<'a> {
    path: PathBuf,
    tensors: Vec<(String, &'a dyn SafeTensorsArray)>,
    metadata: Vec<(String, String)>,
}

impl std::fmt::Debug for dyn SafeTensorsArray + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.tensor_dtype(), self.tensor_shape())
    }
}

impl<'a> SafeTensorsWriter<'a> {
    /// Starts a file that [`finish`](Self::finish) writes at `path`, replacing any file
    /// there. Nothing is written before `finish`.
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("none.safetensors");
    /// ndmmap::safetensors::SafeTensorsWriter::new(&path).finish()?;
    /// assert_eq!(std::fs::read(&path)?.len(), 64);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(path: impl AsRef<Path>) -> Self {
        SafeTensorsWriter {
            path: path.as_ref().to_path_buf(),
            tensors: Vec::new(),
            metadata: Vec::new(),
        }
    }

    /// Adds `array` as the tensor `name`.
    ///
    /// # Errors
    ///
    /// [`Error::Safetensors`] with [`SafetensorsError::InvalidName`] for an empty name or
    /// `__metadata__`, [`Duplicate`](SafetensorsError::Duplicate) for a name added before.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("t.safetensors");
    /// let a = array![[1i32, 2], [3, 4]];
    /// let t = a.t(); // borrowed until `finish`, so bound to a name
    /// let mut writer = ndmmap::safetensors::SafeTensorsWriter::new(&path);
    /// writer.add("t", &t)?; // written in C order: [[1, 3], [2, 4]]
    /// assert!(writer.add("t", &a).is_err());
    /// writer.finish()?;
    /// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
    /// assert_eq!(file.read::<i32, Ix2>("t")?, array![[1, 3], [2, 4]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add(&mut self, name: &str, array: &'a dyn SafeTensorsArray) -> Result<()> {
        let refuse = |detail| Error::Safetensors {
            path: self.path.clone(),
            tensor: Some(name.to_owned()),
            detail: Box::new(detail),
        };
        if name.is_empty() || name == METADATA_KEY {
            return Err(refuse(SafetensorsError::InvalidName));
        }
        if self.tensors.iter().any(|(n, _)| n == name) {
            return Err(refuse(SafetensorsError::Duplicate { what: "tensor", name: name.into() }));
        }
        self.tensors.push((name.to_owned(), array));
        Ok(())
    }

    /// Adds the entry `key: value` to the header's `__metadata__`.
    ///
    /// # Errors
    ///
    /// [`Error::Safetensors`] with [`SafetensorsError::Duplicate`] for a key added before.
    ///
    /// # Example
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("m.safetensors");
    /// let mut writer = ndmmap::safetensors::SafeTensorsWriter::new(&path);
    /// writer.metadata("epoch", "3")?;
    /// assert!(writer.metadata("epoch", "4").is_err());
    /// writer.finish()?;
    /// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
    /// assert_eq!(file.metadata()["epoch"], "3");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metadata(&mut self, key: &str, value: &str) -> Result<()> {
        if self.metadata.iter().any(|(k, _)| k == key) {
            return Err(Error::Safetensors {
                path: self.path.clone(),
                tensor: None,
                detail: Box::new(SafetensorsError::Duplicate {
                    what: "metadata key",
                    name: key.into(),
                }),
            });
        }
        self.metadata.push((key.to_owned(), value.to_owned()));
        Ok(())
    }

    /// Writes the file under a temporary name beside the path, syncs it and renames it
    /// into place.
    ///
    /// # Errors
    ///
    /// [`Error::FolderNotFound`], [`Error::PermissionDenied`], [`Error::IsADirectory`],
    /// [`Error::Io`], [`Error::NoSpace`]; no file is left behind on any of them.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.safetensors");
    /// let a = array![1u8];
    /// let mut writer = ndmmap::safetensors::SafeTensorsWriter::new(&path);
    /// writer.add("a", &a)?;
    /// assert!(!path.exists());
    /// writer.finish()?;
    /// assert!(path.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(mut self) -> Result<()> {
        // The largest elements first: each tensor then starts at a multiple of its element
        // size (a power of two), as the data buffer does. Ties by name, as the
        // `safetensors` crate orders them.
        self.tensors.sort_by(|(a_name, a), (b_name, b)| {
            let bits = |t: &&dyn SafeTensorsArray| t.tensor_dtype().bits();
            bits(b).cmp(&bits(a)).then_with(|| a_name.cmp(b_name))
        });
        let header = header_json(&self.tensors, &self.metadata);
        let data_len: u64 = self.tensors.iter().map(|(_, t)| t.tensor_len()).sum();
        let total = 8 + header.len() as u64 + data_len;
        write_atomically(&self.path, total, |file| {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            out.write_all(&(header.len() as u64).to_le_bytes())?;
            out.write_all(header.as_bytes())?;
            for (_, tensor) in &self.tensors {
                tensor.write_tensor(&mut out)?;
            }
            out.flush()
        })
    }
}

/// The JSON header for `tensors` (in their order in the file) and `metadata`, padded with
/// spaces so that the data buffer after it starts at a multiple of [`SAFETENSORS_ALIGN`].
fn header_json(
    tensors: &[(String, &dyn SafeTensorsArray)],
    metadata: &[(String, String)],
) -> String {
    let quote = |text: &str| serde_json::to_string(text).unwrap_or_default();
    let mut json = String::from("{");
    if !metadata.is_empty() {
        json.push_str(&quote(METADATA_KEY));
        json.push_str(":{");
        for (i, (key, value)) in metadata.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(json, "{sep}{}:{}", quote(key), quote(value));
        }
        json.push('}');
    }
    let mut offset = 0;
    for (name, tensor) in tensors {
        let sep = if json.len() == 1 { "" } else { "," };
        let shape = tensor.tensor_shape().iter().map(usize::to_string).collect::<Vec<_>>();
        let end = offset + tensor.tensor_len();
        let _ = write!(
            json,
            "{sep}{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            quote(name),
            tensor.tensor_dtype().name(),
            shape.join(","),
        );
        offset = end;
    }
    json.push('}');
    let padded = (8 + json.len() as u64).next_multiple_of(SAFETENSORS_ALIGN) - 8;
    let padded = usize::try_from(padded).unwrap_or(json.len());
    json.extend(std::iter::repeat_n(' ', padded - json.len()));
    json
}

/// Saves arrays as a `.safetensors` file, with `metadata` as its `__metadata__`
/// (Python's `safetensors.numpy.save_file(tensors, path, metadata)`), every tensor aligned
/// so that it can be mapped; the file is written atomically. See [`SafeTensorsWriter`].
///
/// # Errors
///
/// As [`SafeTensorsWriter::add`], [`SafeTensorsWriter::metadata`] and
/// [`SafeTensorsWriter::finish`]; names and keys are checked before anything is written.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("xy.safetensors");
/// let (x, y) = (array![1.0f64, 2.0], array![[1u8, 2], [3, 4]]);
/// ndmmap::safetensors::save_safetensors(&path, &[("x", &x), ("y", &y)], &[("source", "doc")])?;
/// let file = ndmmap::safetensors::SafeTensorsFile::open(&path)?;
/// assert_eq!(unsafe { file.map::<u8, Ix2>("y")? }.sum(), 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn save_safetensors(
    path: impl AsRef<Path>,
    tensors: &[(&str, &dyn SafeTensorsArray)],
    metadata: &[(&str, &str)],
) -> Result<()> {
    let mut writer = SafeTensorsWriter::new(path);
    for (name, tensor) in tensors {
        writer.add(name, *tensor)?;
    }
    for (key, value) in metadata {
        writer.metadata(key, value)?;
    }
    writer.finish()
}
