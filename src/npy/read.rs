//! Reading `.npy` headers from files: [`inspect`], and [`read_npy`], the converting read.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use ndarray::{Array, Dimension, IxDyn, ShapeBuilder};

use super::descr::Descr;
use super::element::{NpyElement, is_native, same_type};
use super::header::{self, DEFAULT_MAX_HEADER_SIZE, Header, ParsedHeader};
use super::record::RecordLayout;
use crate::error::HeaderError;
use crate::error::{Error, Result};
use crate::fs::{file_len, open};

/// What a `.npy` header says, read without mapping the data: from [`inspect`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// The dtype as NumPy writes it, e.g. `"<f8"`, or for a structured dtype its list,
    /// `"[('x', '<f4'), ('id', '<i8')]"`.
    pub descr: String,
    /// The logical shape (the same for C and Fortran order); empty for a 0-d array.
    pub shape: Vec<usize>,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The format version, `(1, 0)`, `(2, 0)` or `(3, 0)`.
    pub version: (u8, u8),
    /// Where the data starts, in bytes from the start of the file.
    pub data_offset: u64,
    /// Whether the data's byte order is this machine's, so that it can be mapped.
    pub native_byte_order: bool,
}

/// Reads the header of the `.npy` file at `path`, and nothing else: no mapping, no data.
///
/// # Errors
///
/// [`Error::NotFound`] and other open errors; [`Error::Npy`] if the header is invalid.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("a.npy");
/// array![[1.0f32, 2.0], [3.0, 4.0]].save_npy(&path)?;
/// let header = ndmmap::npy::inspect(&path)?;
/// assert_eq!(header.shape, [2, 2]);
/// assert_eq!(header.data_offset, 128);
/// assert!(!header.fortran_order);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn inspect(path: impl AsRef<Path>) -> Result<NpyHeader> {
    let path = path.as_ref();
    let file = open(path, false)?;
    let parsed = read_header(path, &file, DEFAULT_MAX_HEADER_SIZE)?;
    let native_byte_order = native_byte_order(&parsed.header);
    Ok(NpyHeader {
        descr: header_dtype_text(&parsed.header),
        shape: parsed.header.shape,
        fortran_order: parsed.header.fortran_order,
        version: parsed.version.major_minor(),
        data_offset: parsed.data_offset as u64,
        native_byte_order,
    })
}

/// A `.npy` file opened to read its data in place, for copies that read the file rather
/// than map it: the open file, its shape, whether it is in Fortran order, and where the
/// data starts.
#[derive(Debug)]
pub(crate) struct NpyData {
    pub(crate) file: File,
    pub(crate) shape: Vec<usize>,
    pub(crate) fortran_order: bool,
    pub(crate) data_offset: u64,
}

/// Opens the `.npy` file at `path` to read its data: checks that it holds `A`s in this
/// machine's byte order and that the file holds all of the data.
pub(crate) fn open_data<A: NpyElement>(path: &Path) -> Result<NpyData> {
    let file = open(path, false)?;
    let parsed = read_header(path, &file, DEFAULT_MAX_HEADER_SIZE)?;
    let dim = checked_dim::<A, IxDyn>(path, &parsed)?;
    let header = &parsed.header;
    if !native_byte_order(header) {
        let descr = header_dtype_text(header);
        return Err(Error::ByteOrder { path: path.to_path_buf(), descr });
    }
    let len = header.data_len().unwrap_or(usize::MAX);
    let needed = (parsed.data_offset as u64).saturating_add(len as u64);
    let available = file_len(path, &file)?;
    if needed > available {
        return Err(Error::TooShort { path: Some(path.to_path_buf()), needed, available });
    }
    Ok(NpyData {
        file,
        shape: dim.slice().to_vec(),
        fortran_order: header.fortran_order,
        data_offset: parsed.data_offset as u64,
    })
}

/// Whether the data a header describes is in this machine's byte order, record fields
/// included, so that it can be mapped as it is.
pub(crate) fn native_byte_order(header: &Header) -> bool {
    is_native(header.descr) && header.record.as_ref().is_none_or(RecordLayout::is_native)
}

/// Reads the `.npy` file at `path` into an owned array, converting what a map cannot show:
/// data in the other byte order is byte-swapped, and `bool` data is checked to be 0 or 1.
///
/// # Errors
///
/// As [`inspect`], and [`Error::DtypeMismatch`], [`Error::RankMismatch`],
/// [`Error::TooShort`] if the data is shorter than the shape needs, [`Error::InvalidBool`]
/// for a `bool` byte other than 0 or 1, [`Error::Io`].
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("flags.npy");
/// array![true, false, true].save_npy(&path)?;
/// let flags: Array1<bool> = ndmmap::npy::read_npy(&path)?;
/// assert_eq!(flags, array![true, false, true]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_npy<A: NpyElement, D: Dimension>(path: impl AsRef<Path>) -> Result<Array<A, D>> {
    let path = path.as_ref();
    let mut file = open(path, false)?;
    let parsed = read_header(path, &file, DEFAULT_MAX_HEADER_SIZE)?;
    let dim = converting_dim::<A, D>(path, &parsed)?;
    let header = &parsed.header;
    let len = header.data_len().unwrap_or(usize::MAX);
    let end = parsed.data_offset as u64 + len as u64;
    let available = file_len(path, &file)?;
    if end > available {
        return Err(Error::TooShort { path: Some(path.to_path_buf()), needed: end, available });
    }
    let mut bytes = vec![0u8; len];
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(parsed.data_offset as u64))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| Error::io(path, "read", end, e))?;
    to_array(path, header, dim, bytes)
}

/// The array that a header's data `bytes` hold, as [`read_npy`] returns it: data in the
/// other byte order (record fields too) byte-swapped, `bool`s checked to be 0 or 1. `dim`
/// comes from [`converting_dim`]; `path` names the data in errors (an `.npz` member's too).
pub(crate) fn to_array<A: NpyElement, D: Dimension>(
    path: &Path,
    header: &Header,
    dim: D,
    mut bytes: Vec<u8>,
) -> Result<Array<A, D>> {
    if !is_native(header.descr) {
        for scalar in bytes.chunks_exact_mut(A::SWAP_UNIT) {
            scalar.reverse();
        }
    }
    if let Some(layout) = &header.record {
        layout.swap_to_native(&mut bytes);
    }
    let elems = A::decode(&bytes).ok_or_else(|| Error::InvalidBool { path: path.to_path_buf() })?;
    let shape = dim.set_f(header.fortran_order);
    Array::from_shape_vec(shape, elems)
        .map_err(|error| Error::Shape { path: Some(path.to_path_buf()), error })
}

/// Reads and parses the header at the start of `file`, reading more as the header's
/// length field asks, up to `max_header_size`.
pub(crate) fn read_header(
    path: &Path,
    file: &File,
    max_header_size: usize,
) -> Result<ParsedHeader> {
    let npy_error = |detail| Error::Npy { path: path.to_path_buf(), detail };
    let mut prefix = Vec::new();
    let mut want = 4096;
    loop {
        let have = prefix.len();
        if want > have {
            let mut reader = file;
            std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(have as u64))
                .and_then(|_| reader.take((want - have) as u64).read_to_end(&mut prefix))
                .map_err(|e| Error::io(path, "read", want as u64, e))?;
        }
        match header::parse(&prefix, max_header_size) {
            // The file holds more than was read: read what the header says it needs.
            Err(HeaderError::Truncated { needed, .. }) if prefix.len() == want && needed > want => {
                want = needed;
            }
            parsed => return parsed.map_err(npy_error),
        }
    }
}

/// Checks that the file holds `A`s in `D`'s rank and returns its shape as a `D`.
pub(crate) fn checked_dim<A: NpyElement, D: Dimension>(
    path: &Path,
    parsed: &ParsedHeader,
) -> Result<D> {
    checked_dim_for::<A, D>(path, parsed, false)
}

/// [`checked_dim`] for a converting read ([`to_array`]): record fields in the other byte
/// order pass.
pub(crate) fn converting_dim<A: NpyElement, D: Dimension>(
    path: &Path,
    parsed: &ParsedHeader,
) -> Result<D> {
    checked_dim_for::<A, D>(path, parsed, true)
}

/// [`checked_dim`], accepting record fields in the other byte order if `convert`.
fn checked_dim_for<A: NpyElement, D: Dimension>(
    path: &Path,
    parsed: &ParsedHeader,
    convert: bool,
) -> Result<D> {
    let header = &parsed.header;
    // Records first: their error names the field and both layouts.
    check_record::<A>(path, header, convert)?;
    // NumPy's bools are bytes of 0 or 1: `u8` maps them as they are (`a.view(np.uint8)`).
    let bool_as_u8 =
        header.descr == Descr::BOOL && super::element::native_descr::<A>() == Descr::U8;
    if !same_type::<A>(header.descr) && !bool_as_u8 {
        return Err(Error::DtypeMismatch {
            path: path.to_path_buf(),
            expected: dtype_text::<A>(),
            found: header_dtype_text(header),
        });
    }
    dim_of::<D>(path, &header.shape)
}

/// `A`'s descr as `np.save` writes it: `'<f8'` is `<f8`, a record its list.
pub(crate) fn dtype_text<A: NpyElement>() -> String {
    A::record_layout()
        .map_or_else(|| super::element::native_descr::<A>().to_string(), |r| r.to_string())
}

/// The descr of a file, as its header states it.
pub(crate) fn header_dtype_text(header: &Header) -> String {
    header.record.as_ref().map_or_else(|| header.descr.to_string(), ToString::to_string)
}

/// Checks a structured file's fields against `A`'s (records only); with `convert`, fields in
/// the other byte order pass (a converting read).
pub(crate) fn check_record<A: NpyElement>(
    path: &Path,
    header: &Header,
    convert: bool,
) -> Result<()> {
    match (A::record_layout(), &header.record) {
        (Some(expected), Some(found)) => expected.check(found, path, convert),
        _ => Ok(()),
    }
}

/// `shape` as a `D`, if it has `D`'s rank.
pub(crate) fn dim_of<D: Dimension>(path: &Path, shape: &[usize]) -> Result<D> {
    match D::NDIM {
        Some(ndim) if ndim != shape.len() => Err(Error::RankMismatch {
            path: path.to_path_buf(),
            expected: ndim,
            found: shape.len(),
        }),
        _ => {
            let mut dim = D::zeros(shape.len());
            dim.slice_mut().copy_from_slice(shape);
            Ok(dim)
        }
    }
}

/// The descr of a non-native file, for the byte-order error.
pub(crate) fn non_native(path: &Path, descr: Descr) -> Error {
    Error::ByteOrder { path: path.to_path_buf(), descr: descr.to_string() }
}

// `IxDyn` is the dimension for files of any rank; keep it in scope for the docs' links.
#[allow(dead_code)]
type AnyRank = IxDyn;
