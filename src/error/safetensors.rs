//! [`SafetensorsError`]: what is wrong with a `.safetensors` file or one of its tensors, the
//! detail of [`Error::Safetensors`](crate::Error::Safetensors).

/// Why a `.safetensors` file, or a tensor of it, cannot be opened, mapped, read or written.
///
/// The file's path and the tensor's name are on the
/// [`Error::Safetensors`](crate::Error::Safetensors) that carries this, whose message
/// includes this one. Dtypes are named as the format spells them (`"F16"`, `"BF16"`).
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::safetensors::{SafeTensorsFile, SafetensorsError, save_safetensors};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("w.safetensors");
/// save_safetensors(&path, &[("w", &array![1.0f32, 2.0])], &[])?;
/// let file = SafeTensorsFile::open(&path)?;
/// let err = unsafe { file.map::<f64, Ix1>("w") }.unwrap_err();
/// let ndmmap::Error::Safetensors { tensor, detail, .. } = &err else { panic!("{err}") };
/// assert_eq!(tensor.as_deref(), Some("w"));
/// assert!(matches!(**detail, SafetensorsError::DtypeMismatch { found: "F32", .. }));
/// assert!(err.to_string().contains("map it as f32"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SafetensorsError {
    /// The file is shorter than the 8 bytes that state the header's length.
    #[error("the file holds {len} bytes, fewer than the 8 that state the header's length")]
    FileTooShort {
        /// The file's length.
        len: u64,
    },
    /// The header's stated length is over the format's limit of 100 MB (100,000,000 bytes,
    /// the limit of the `safetensors` crate and of Python's package).
    #[error("the header's length is {len} bytes, over the limit of {limit}")]
    HeaderTooLarge {
        /// The stated length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// The header's stated length runs past the end of the file.
    #[error("the header ends at byte {end}, past the end of the file ({len} bytes)")]
    HeaderPastEnd {
        /// Where the header would end: 8 plus its stated length.
        end: u64,
        /// The file's length.
        len: u64,
    },
    /// The header is not UTF-8 text.
    #[error("the header is not UTF-8 text")]
    NotUtf8,
    /// The header does not start with `{`: it is not a JSON object (or is empty).
    #[error("the header does not start with '{{': it is not a JSON object")]
    NotAnObject,
    /// The header is not valid JSON.
    #[error("the header is not valid JSON: {detail}")]
    InvalidJson {
        /// `serde_json`'s message, with the line and column.
        detail: String,
    },
    /// A JSON object of the header holds the same key twice, which the format forbids.
    #[error("the header holds the key {key:?} twice")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// `__metadata__` is not an object of strings (the format allows only a
    /// string-to-string map).
    #[error("__metadata__ must map strings to strings: {reason}")]
    InvalidMetadata {
        /// What is wrong, e.g. the key whose value is not a string.
        reason: String,
    },
    /// A tensor's entry in the header is not `{"dtype": ..., "shape": [...],
    /// "data_offsets": [BEGIN, END]}`.
    #[error("the tensor's header entry is invalid: {reason}")]
    InvalidEntry {
        /// What is wrong, in words.
        reason: String,
    },
    /// A tensor's dtype is not one the format defines.
    #[error("unknown dtype {dtype:?}")]
    UnknownDtype {
        /// The dtype as the header spells it.
        dtype: String,
    },
    /// A tensor's `data_offsets` do not span the bytes its shape and dtype need.
    #[error(
        "shape {shape:?} of {dtype} needs {}, but data_offsets span {available} bytes",
        needed_bytes(*needed)
    )]
    ShapeMismatch {
        /// The tensor's shape.
        shape: Vec<u64>,
        /// The tensor's dtype.
        dtype: &'static str,
        /// The bytes the shape needs, or `None` if they overflow 64 bits or are not a
        /// whole number of bytes (sub-byte dtypes).
        needed: Option<u64>,
        /// `END - BEGIN`.
        available: u64,
    },
    /// A tensor's bytes run past the end of the file.
    #[error("the tensor's data ends at byte {end} of the data buffer, past its end ({len} bytes)")]
    PastEnd {
        /// The tensor's `END` offset.
        end: u64,
        /// The data buffer's length: the file's, less 8 and the header.
        len: u64,
    },
    /// A tensor's bytes overlap another tensor's.
    #[error("the tensor's bytes overlap those of tensor {other:?}")]
    Overlap {
        /// The other tensor.
        other: String,
    },
    /// Bytes of the data buffer belong to no tensor (the format forbids holes, so that a
    /// file cannot hide other content).
    #[error("bytes {start}..{end} of the data buffer belong to no tensor")]
    Hole {
        /// The first byte of the hole, from the start of the data buffer.
        start: u64,
        /// The end (exclusive) of the hole.
        end: u64,
    },
    /// No tensor has this name.
    #[error("no such tensor; the file holds {available:?}")]
    NotFound {
        /// The names of the file's tensors.
        available: Vec<String>,
    },
    /// The tensor holds elements of another dtype than the element type asked for.
    #[error("the tensor holds {found} elements, not {requested} ({requested_type}){}", map_as(*found_type))]
    DtypeMismatch {
        /// The tensor's dtype, e.g. `"F16"`.
        found: &'static str,
        /// The Rust element type that holds `found`, if there is one (e.g. `"half::f16"`).
        found_type: Option<&'static str>,
        /// The dtype of the element type asked for, e.g. `"F32"`.
        requested: &'static str,
        /// The element type asked for, e.g. `"f32"`.
        requested_type: &'static str,
    },
    /// The tensor has another number of dimensions than the array type asked for.
    #[error("the tensor is {found}-dimensional, not {expected}-dimensional (IxDyn takes any rank)")]
    RankMismatch {
        /// The rank asked for.
        expected: usize,
        /// The tensor's rank.
        found: usize,
    },
    /// The tensor's data does not start at a multiple of the element type's alignment, so
    /// it cannot be mapped (some writers leave the header unpadded).
    #[error(
        "the tensor's data at byte {offset} of the file is not aligned to the {align}-byte \
         alignment of the element type; read it with SafeTensorsFile::read, or re-save the \
         file with ndmmap's save_safetensors, which aligns every tensor"
    )]
    Misaligned {
        /// Where the tensor's data starts, in bytes from the start of the file.
        offset: u64,
        /// The alignment the element type needs.
        align: usize,
    },
    /// The data is little-endian (as the format always is) and this machine is
    /// big-endian, so it cannot be mapped; `read` converts it.
    #[error(
        "the data is little-endian and this machine is big-endian; read it with \
         SafeTensorsFile::read, which converts it"
    )]
    ByteOrder,
    /// A `BOOL` tensor holds a byte other than 0 or 1.
    #[error("a BOOL element is neither 0 nor 1")]
    InvalidBool,
    /// A tensor name to write is empty or `__metadata__` (the format's key for metadata).
    #[error("a tensor name must be non-empty and not __metadata__")]
    InvalidName,
    /// Two tensors to write have the same name, or two metadata entries the same key.
    #[error("{what} {name:?} is given twice")]
    Duplicate {
        /// `"tensor"` or `"metadata key"`.
        what: &'static str,
        /// The name or key.
        name: String,
    },
}

/// After a dtype mismatch: the element type to map the tensor as, if there is one.
fn map_as(found_type: Option<&'static str>) -> String {
    match found_type {
        Some(ty) => format!("; map it as {ty}"),
        None => String::new(),
    }
}

/// `"{n} bytes"`, or what an unrepresentable size means.
fn needed_bytes(needed: Option<u64>) -> String {
    match needed {
        Some(n) => format!("{n} bytes"),
        None => "more than 2^64 bytes or not a whole number of bytes".to_owned(),
    }
}
