//! [`HeaderError`]: what is wrong with a `.npy` header, the source of [`Error::Npy`](crate::Error::Npy).

/// Why a `.npy` header could not be parsed or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The input does not start with the `.npy` magic string `\x93NUMPY`.
    #[error("not a .npy file: it starts with b\"{}\", not b\"\\x93NUMPY\"", .found.escape_ascii())]
    BadMagic {
        /// The first bytes of the input (up to six).
        found: Vec<u8>,
    },
    /// The format version is not one NumPy defines (1.0, 2.0, 3.0).
    #[error("unsupported .npy format version {major}.{minor}, expected 1.0, 2.0 or 3.0")]
    UnsupportedVersion {
        /// The major version (byte 6 of the file).
        major: u8,
        /// The minor version (byte 7 of the file).
        minor: u8,
    },
    /// The input ends before the header does; call again with at least `needed` bytes.
    #[error(".npy header is truncated: {needed} bytes needed, {available} available")]
    Truncated {
        /// How many bytes from the start of the file are needed to make progress: the whole
        /// header once its length is known, else the fixed-size part before it.
        needed: usize,
        /// How many bytes were given.
        available: usize,
    },
    /// The header is longer than the limit (NumPy's `max_header_size`), or too long to write.
    #[error(".npy header length {len} is over the limit of {limit}")]
    TooLarge {
        /// The header's length in characters, as NumPy counts it (its byte length for versions
        /// 1.0 and 2.0, and for headers being written, which are ASCII). For a version 3.0
        /// header of over `4 * limit` bytes, its byte length: it cannot be shorter than `limit`
        /// characters, so it is not decoded to count them.
        len: usize,
        /// The limit: the caller's maximum, or the most the length field can hold when writing.
        limit: usize,
    },
    /// A version 3.0 header is not valid UTF-8.
    #[error(".npy version 3.0 header is not valid UTF-8 at byte {offset}")]
    NotUtf8 {
        /// The offset of the first invalid byte from the start of the file.
        offset: usize,
    },
    /// The header is not a Python literal in the subset `np.save` and its readers use.
    #[error("cannot parse .npy header at byte {offset}: {message}")]
    Syntax {
        /// The offset of the problem from the start of the file.
        offset: usize,
        /// What is wrong there.
        message: String,
    },
    /// The header is a valid literal but not a dict.
    #[error(".npy header is {found}, not a dict")]
    NotADict {
        /// What it is instead, e.g. "a list".
        found: &'static str,
    },
    /// The header dict does not have exactly the keys `descr`, `fortran_order` and `shape`.
    #[error(".npy header has keys [{}], expected [descr, fortran_order, shape]", .found.join(", "))]
    Keys {
        /// The keys found, sorted and deduplicated: strings without quotes, other keys as written.
        found: Vec<String>,
    },
    /// The `shape` value is not a tuple of non-negative integers.
    #[error("shape is not a tuple of non-negative integers: {text}")]
    Shape {
        /// The `shape` value as written in the header.
        text: String,
    },
    /// The shape describes more than `isize::MAX` bytes of data.
    #[error("shape {text} is too large: its data length overflows isize")]
    ShapeOverflow {
        /// The shape as written in the header, or as NumPy would write it.
        text: String,
    },
    /// The `fortran_order` value is not `True` or `False`.
    #[error("fortran_order is not True or False: {text}")]
    FortranOrder {
        /// The `fortran_order` value as written in the header.
        text: String,
    },
    /// The `descr` value is not a dtype descriptor ndmmap recognises.
    #[error("descr is not a valid dtype descriptor: {text}")]
    Descr {
        /// The descriptor: the string's contents, or the value as written if not a string.
        text: String,
    },
    /// The `descr` is a valid NumPy dtype, but not one ndmmap can map.
    #[error("dtype {descr} is not supported: {reason}")]
    UnsupportedDtype {
        /// The descriptor: the string's contents, or the value as written if not a string.
        descr: String,
        /// Why it is not supported.
        reason: &'static str,
    },
    /// Growing an array: the header for the new shape is longer than the existing header.
    #[error("the header for the new shape needs {needed} bytes, the existing one has {available}")]
    ShapeDoesNotFit {
        /// The shortest header (from the start of the file) that can hold the new shape.
        needed: usize,
        /// The existing header's length, which is where the data starts and so cannot change.
        available: usize,
    },
}
