//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use self::header::HeaderError;
#[cfg(feature = "npz")]
pub use self::npz::NpzError;
#[cfg(feature = "safetensors")]
pub use self::safetensors::SafetensorsError;

mod header;
#[cfg(feature = "npz")]
mod npz;
#[cfg(feature = "safetensors")]
mod safetensors;

/// The error type of every fallible ndmmap operation.
///
/// Variants carry the numbers a caller needs to understand what went wrong, and, when a
/// file is involved, its path. The path is `None` only for errors raised on in-memory
/// buffers ([`ViewBytesExt`](crate::ViewBytesExt)).
///
/// The enum is `#[non_exhaustive]`: match with a `_` arm.
///
/// # Messages
///
/// One rule for every variant: the message printed with `{}` alone says what went wrong
/// and why, in NumPy's words: the file (and the `.npz` member or tensor) where there is
/// one, the numbers (shapes, offsets, sizes, alignments), and the cause, whether ndmmap's
/// own (a `.npy` header's or an archive's defect) or a foreign one (the operating system's
/// error text, ndarray's). Because the cause is in the message, no error returns it again
/// from [`source`](std::error::Error::source): printing the chain, as `anyhow`'s `{:#}`
/// does, shows each thing once. The same condition gives the same variant from every
/// entry point (a folder is [`Error::IsADirectory`] whether opening or reading met it).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("cut.npy");
/// std::fs::write(&path, b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', ")?;
/// let err = ndmmap::npy::inspect(&path).unwrap_err();
/// assert!(err.to_string().contains("cut.npy: invalid .npy header: .npy header is truncated"), "{err}");
/// assert!(std::error::Error::source(&err).is_none());
///
/// let err = ndmmap::npy::inspect(dir.path()).unwrap_err();
/// assert!(matches!(err, ndmmap::Error::IsADirectory { .. }), "{err:?}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("missing.bin");
/// let err = unsafe { Array1::<f64>::map_file(&path) }.unwrap_err();
/// assert!(matches!(err, ndmmap::Error::NotFound { .. }));
/// assert!(err.to_string().contains("missing.bin"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file does not exist.
    #[error("{} does not exist", path.display())]
    NotFound {
        /// The file asked for.
        path: PathBuf,
    },

    /// A file was to be created (or saved) in a folder that does not exist.
    #[error("cannot create {}: the folder {} does not exist", path.display(), folder.display())]
    FolderNotFound {
        /// The file to be created.
        path: PathBuf,
        /// The first folder on the way to it that does not exist.
        folder: PathBuf,
    },

    /// The file may not be opened in the mode asked for (e.g. a read-write map of a
    /// read-only file: the message then suggests a read-only or copy-on-write map).
    #[error("{} may not be opened for {action}: {error}{}", path.display(), writable_hint(action))]
    PermissionDenied {
        /// The file asked for.
        path: PathBuf,
        /// What was attempted: `"reading"`, `"reading and writing"` or `"creating"`.
        action: &'static str,
        /// The operating system's error (its text is in the message).
        error: io::Error,
    },

    /// The path names a directory, not a file.
    #[error("{} is a directory, not a file", path.display())]
    IsADirectory {
        /// The path given.
        path: PathBuf,
    },

    /// A file was to be created, but one exists already and overwriting was not asked for.
    #[error("{} exists already; pass `overwrite(true)` to replace it", path.display())]
    AlreadyExists {
        /// The path given.
        path: PathBuf,
    },

    /// The disk has no room for the blocks a new or extended file needs.
    #[error(
        "{} needs {bytes} bytes of disk space that the file system cannot reserve: {error}",
        path.display()
    )]
    NoSpace {
        /// The file being created or extended.
        path: PathBuf,
        /// The file length that could not be reserved.
        bytes: u64,
        /// The operating system's error (its text is in the message).
        error: io::Error,
    },

    /// Another I/O operation failed (open, stat, map, flush, resize).
    #[error("failed to {action} {}: {error}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// What was attempted, e.g. `"map"` or `"flush"`.
        action: &'static str,
        /// The operating system's error (its text is in the message).
        error: io::Error,
    },

    /// The bytes available after the offset are not a whole number of elements, so the
    /// length of the inferred axis is ambiguous.
    #[error("{}{available} bytes are not a multiple of the {unit}-byte {what}", at(path.as_deref()))]
    NotAMultiple {
        /// The file, if any.
        path: Option<PathBuf>,
        /// Bytes available after the offset.
        available: u64,
        /// The size in bytes of one element (or one step of the inferred axis).
        unit: usize,
        /// `"element"` or `"step of the inferred axis"`.
        what: &'static str,
    },

    /// The array needs more bytes than the file (or the mapped length) holds: a truncated
    /// file, or a shape too large for it. A read-write map of a raw file may grow the file
    /// instead, when asked with [`MapOptions::extend_file`](crate::MapOptions::extend_file).
    #[error(
        "{}the array needs bytes up to {needed} but only {available} are there",
        at(path.as_deref())
    )]
    TooShort {
        /// The file, if any.
        path: Option<PathBuf>,
        /// The end (exclusive, in bytes from the start of the file) of the array's data.
        needed: u64,
        /// The length of the file, or the end of the mapped range.
        available: u64,
    },

    /// The offset lies past the end of the file (or of the mapped range).
    #[error("{}offset {offset} is past the end ({len} bytes)", at(path.as_deref()))]
    OffsetPastEnd {
        /// The file, if any.
        path: Option<PathBuf>,
        /// The byte offset asked for.
        offset: u64,
        /// The length of the file or the end of the mapped range.
        len: u64,
    },

    /// The data does not start at a multiple of the element type's alignment.
    #[error(
        "{}data at byte offset {offset} is not aligned to the {align}-byte alignment of the element type",
        at(path.as_deref())
    )]
    Misaligned {
        /// The file, if any.
        path: Option<PathBuf>,
        /// The byte offset of the data in the file, or its address for in-memory buffers.
        offset: u64,
        /// The alignment the element type needs.
        align: usize,
    },

    /// The shape's element count or byte size does not fit in `isize::MAX`.
    #[error("{}shape {} of {elem_size}-byte elements overflows isize::MAX bytes", at(path.as_deref()), numpy_shape(shape))]
    Overflow {
        /// The file, if any.
        path: Option<PathBuf>,
        /// The shape asked for.
        shape: Vec<usize>,
        /// The size of one element in bytes.
        elem_size: usize,
    },

    /// More than one axis of a shape was given as [`INFER`](crate::INFER). The message
    /// prints each inferred axis as `-1`, as NumPy writes it.
    #[error("{}shape {} has {count} inferred axes (-1); at most one may be inferred", at(path.as_deref()), numpy_shape(shape))]
    MultipleInferredAxes {
        /// The file, if any.
        path: Option<PathBuf>,
        /// The shape asked for, with `usize::MAX` for each inferred axis.
        shape: Vec<usize>,
        /// How many axes were to be inferred.
        count: usize,
    },

    /// The operation needs a shape and none was given (a raw file of more than one
    /// dimension).
    #[error("{}a shape is needed to {action} a {ndim}-dimensional array", at(path.as_deref()))]
    ShapeRequired {
        /// The file, if any.
        path: Option<PathBuf>,
        /// What was attempted: `"map"`.
        action: &'static str,
        /// The array's number of dimensions.
        ndim: usize,
    },

    /// The strides make two elements share memory, which a mutable view cannot allow.
    #[error("{}strides {strides:?} for shape {shape:?} overlap; a writable view needs distinct elements", at(path.as_deref()))]
    OverlappingStrides {
        /// The file, if any.
        path: Option<PathBuf>,
        /// The shape asked for.
        shape: Vec<usize>,
        /// The strides asked for, in elements.
        strides: Vec<isize>,
    },

    /// An in-memory buffer's length differs from the byte length the shape needs.
    #[error("the shape needs {expected} bytes but the buffer holds {actual}")]
    LengthMismatch {
        /// Bytes the shape and strides span.
        expected: usize,
        /// Bytes in the buffer.
        actual: usize,
    },

    /// An option was given that does not apply to the operation.
    #[error("{}{message}", at(path.as_deref()))]
    InvalidOption {
        /// The file, if any.
        path: Option<PathBuf>,
        /// What is wrong, in words.
        message: &'static str,
    },

    /// A view passed to [`MmapArrayMut::flush_view`](crate::MmapArrayMut::flush_view)
    /// does not lie inside that guard's map.
    #[error("{}the view is not part of this map", at(path.as_deref()))]
    ViewNotInMap {
        /// The mapped file.
        path: Option<PathBuf>,
    },

    /// A slice argument (`s![...]`) does not fit the array: an index or a bound past the
    /// end of an axis, a step of zero, or another number of axes. Raised instead of
    /// ndarray's panic by the methods that take a slice argument and report errors
    /// ([`MmapArrayMut::flush_slice`](crate::MmapArrayMut::flush_slice)).
    #[error("{}slice [{slice}] does not fit shape {shape:?}: {reason}", at(path.as_deref()))]
    SliceOutOfBounds {
        /// The mapped file.
        path: Option<PathBuf>,
        /// The slice, written as in `s![...]`.
        slice: String,
        /// The array's shape.
        shape: Vec<usize>,
        /// What does not fit, in words.
        reason: String,
    },

    /// The operands of a `chunked::Zip` do not all have the same
    /// shape. Raised before anything is read or written.
    #[error("operand {operand} has shape {actual:?} but the first operand has shape {expected:?}")]
    ShapeMismatch {
        /// The index of the offending operand (0 is the first).
        operand: usize,
        /// The first operand's shape.
        expected: Vec<usize>,
        /// The offending operand's shape.
        actual: Vec<usize>,
    },

    /// A piece of a concatenation or stack (`chunked::concatenate`, `chunked::stack`)
    /// does not fit the first piece, as NumPy's `np.concatenate` and `np.stack` would
    /// refuse it: along every axis but the concatenation axis the shapes must match, and
    /// for a stack every shape. Raised before any file is made.
    #[error(
        "{}the array at index {index} has shape {} but the array at index 0 has shape {}: {}",
        at(path.as_deref()),
        numpy_shape(actual),
        numpy_shape(expected),
        piece_rule(*axis)
    )]
    PieceMismatch {
        /// The piece's file, if it is one.
        path: Option<PathBuf>,
        /// The piece's index among the pieces (0 is the first).
        index: usize,
        /// The first piece's shape.
        expected: Vec<usize>,
        /// This piece's shape.
        actual: Vec<usize>,
        /// The concatenation axis; `None` for a stack.
        axis: Option<usize>,
    },

    /// A `.npy` file's header is invalid or unsupported. The message says what is wrong
    /// (the `detail`'s own message), so the detail is not repeated as a `source()`.
    #[error("{}: invalid .npy header: {detail}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with the header.
        detail: HeaderError,
    },

    /// A reduction of a `chunked::Zip` was asked along an axis the array does not have.
    /// Raised before anything is read.
    #[error("axis {axis} is out of range for a {ndim}-dimensional array")]
    AxisOutOfRange {
        /// The axis asked for.
        axis: usize,
        /// The array's number of dimensions.
        ndim: usize,
    },

    /// A variance or standard deviation was asked with `ddof` negative or greater than the
    /// number of elements along the axis (NumPy gives `inf` or `nan` and a warning; ndarray
    /// panics). Raised before anything is read.
    #[error("ddof {ddof} is not between 0 and the {len} elements along axis {axis}")]
    InvalidDdof {
        /// The delta degrees of freedom asked for.
        ddof: f64,
        /// The number of elements along the axis.
        len: usize,
        /// The axis.
        axis: usize,
    },

    /// A minimum or maximum was asked along an axis of length zero, which has none (NumPy's
    /// "zero-size array to reduction operation minimum which has no identity"), or a mean
    /// into a given output (where NumPy writes NaN with a warning, and ndarray's `mean_axis`
    /// returns `None`). Raised before anything is read or written.
    #[error("axis {axis} has length zero: the reduction along it has no value")]
    EmptyAxis {
        /// The axis.
        axis: usize,
    },

    /// A mean into a given output (`chunked::Zip::mean_axis_into`) was asked along an axis
    /// longer than the element type can count (a `u8` mean over 300 rows), so that the sum
    /// cannot be divided by the count in that type (`mean_axis` returns `None`; ndarray's panics).
    /// Raised before anything is read or written.
    #[error(
        "axis {axis} has {len} elements, more than the element type can count, so its mean has no value of that type"
    )]
    CountOverflow {
        /// The axis.
        axis: usize,
        /// The number of elements along it.
        len: usize,
    },

    /// The output given to a reduction along an axis (`chunked::Zip::sum_axis_into` and
    /// the like, NumPy's `out=`) does not have the input's shape without that axis. Raised
    /// before anything is read or written.
    #[error(
        "output {output} has shape {actual:?}, but reducing shape {input:?} along axis {axis} \
         gives shape {expected:?}"
    )]
    OutputShapeMismatch {
        /// Which output (0 for the first; `mean_var_axis_into` has two).
        output: usize,
        /// The input's shape.
        input: Vec<usize>,
        /// The reduced axis.
        axis: usize,
        /// The shape the output must have: the input's without the axis.
        expected: Vec<usize>,
        /// The output's shape.
        actual: Vec<usize>,
    },

    /// The matrices of a matrix product (`chunked::Zip::dot`, `dot_into`, `t_dot`) do not
    /// fit: the left one has not as many columns as the right one has rows (NumPy's
    /// "matmul: Input operand 1 has a mismatch in its core dimension 0"; ndarray panics).
    /// For `t_dot`, `left` is the shape of the transposed left matrix. Raised before
    /// anything is read or written.
    #[error(
        "cannot multiply a {} × {} matrix by a {} × {} matrix: {} columns against {} rows",
        left[0], left[1], right[0], right[1], left[1], right[0]
    )]
    DotShapeMismatch {
        /// The left matrix's shape (rows, columns).
        left: [usize; 2],
        /// The right matrix's shape (rows, columns).
        right: [usize; 2],
    },

    /// The output given to a matrix product (`chunked::Zip::dot_into`, NumPy's `out=`) does
    /// not have the product's shape. Raised before anything is read or written.
    #[error(
        "the product is a {} × {} matrix, but the output given is {} × {}",
        expected[0], expected[1], actual[0], actual[1]
    )]
    DotOutputShapeMismatch {
        /// The product's shape: the left matrix's rows by the right one's columns.
        expected: [usize; 2],
        /// The output's shape.
        actual: [usize; 2],
    },

    /// `argmin` or `argmax` of an empty array (`chunked::Zip::argmax`), which has no
    /// element to point at (NumPy's "attempt to get argmax of an empty sequence"). Raised
    /// before anything is read.
    #[error("the array of shape {shape:?} is empty: it has no minimum or maximum to point at")]
    EmptyArray {
        /// The array's shape.
        shape: Vec<usize>,
    },

    /// A histogram (`chunked::Zip::histogram`) was asked with no bins, a range that is not
    /// finite or whose end is below its start, or more bins than the range has distinct
    /// edges (NumPy's `ValueError`s). Raised before anything is read.
    #[error("histogram of {bins} bins over the range ({lo}, {hi}): {reason}")]
    InvalidHistogram {
        /// The number of bins asked for.
        bins: usize,
        /// The start of the range asked for.
        lo: f64,
        /// The end of the range asked for.
        hi: f64,
        /// What is wrong with them.
        reason: &'static str,
    },

    /// `chunked::Zip::bincount` met a negative element (NumPy: "'list' argument must have
    /// no negative elements"). Nothing is returned.
    #[error("element {index:?} is {value}: bincount counts non-negative integers only")]
    NegativeValue {
        /// The element's value.
        value: i64,
        /// The element's index in the array.
        index: Vec<usize>,
    },

    /// `chunked::Zip::bincount` met an element so large that a count for every value up to
    /// it would not fit in half the memory available. Nothing is returned.
    #[error("element {index:?} is {value}: too large to count every value up to it in memory")]
    CountsTooLarge {
        /// The element's value.
        value: u64,
        /// The element's index in the array.
        index: Vec<usize>,
    },

    /// An index given to a gather (`chunked::Zip::select`, NumPy's `x[indices]`) is not
    /// below the length of the axis it selects along. Raised before anything is read or
    /// written.
    #[error(
        "index {index} (at position {position} of the indices) is out of bounds for axis {axis} with size {len}"
    )]
    IndexOutOfBounds {
        /// The index.
        index: usize,
        /// Where it is in the list of indices.
        position: usize,
        /// The axis selected along.
        axis: usize,
        /// The length of that axis.
        len: usize,
    },

    /// A window given to `chunked::Zip::select_windows` (`x[start:start + len]`) ends past
    /// the end of axis 0. Raised before anything is read or written.
    #[error(
        "window {start}..{} (at position {position} of the starts) ends past the {len} elements of axis 0",
        start.saturating_add(*window)
    )]
    WindowOutOfBounds {
        /// The window's first index.
        start: usize,
        /// The window's length.
        window: usize,
        /// Where `start` is in the list of starts.
        position: usize,
        /// The length of axis 0.
        len: usize,
    },

    /// A boolean mask given to a filter (`chunked::Zip::filter_npy`, NumPy's `x[mask]`)
    /// does not have one element per index along axis 0. Raised before any file is made.
    #[error("the boolean mask has {mask} elements but axis 0 has {len}: they must match")]
    MaskLengthMismatch {
        /// The mask's length.
        mask: usize,
        /// The length of axis 0.
        len: usize,
    },

    /// The output given to a gather (`chunked::Zip::select_into` and the like, NumPy's
    /// `out=`) does not have the shape of the selection. Raised before anything is read or
    /// written.
    #[error("output has shape {actual:?}, but the selection has shape {expected:?}")]
    SelectionShapeMismatch {
        /// The selection's shape.
        expected: Vec<usize>,
        /// The output's shape.
        actual: Vec<usize>,
    },

    /// A walk of the out-of-core engine (`chunked::Zip`) was stopped by its
    /// `chunked::CancelToken`, before its next chunk.
    ///
    /// Every output it wrote in place (a guard or array given to `for_each`, the output of
    /// an `_into` reduction) is finished and flushed in its first `done` entries along
    /// `axis` (NumPy's `out[:done]` along that axis, of the output's own shape), and the
    /// walk wrote nothing past entry `done` (which it may have written in part). A
    /// reduction into an output that it was accumulating all of at once reports `done`
    /// 0. A new file (`map_collect_npy`, `map_collect_raw`) is not made: `done` is 0. A
    /// walk that returns its result (a fold, a reduction into a new array) returns none;
    /// `done` says how far along `axis` of its input it got.
    #[error("cancelled: the first {done} of {len} entries along axis {axis} are done")]
    Cancelled {
        /// The axis along which the outputs are done up to `done`.
        axis: usize,
        /// How many entries along `axis`, from the first, are done.
        done: usize,
        /// The length of `axis`.
        len: usize,
    },

    /// A `.npy` file holds elements of another type than the one asked for.
    #[error("{}: the file holds {found} elements, not {expected}", path.display())]
    DtypeMismatch {
        /// The file.
        path: PathBuf,
        /// The descr of the element type asked for, e.g. `"<f8"`.
        expected: String,
        /// The descr in the file.
        found: String,
    },

    /// A `.npy` file holds an array of another number of dimensions than the one asked for.
    #[error("{}: the file holds a {found}-dimensional array, not a {expected}-dimensional one", path.display())]
    RankMismatch {
        /// The file.
        path: PathBuf,
        /// The rank asked for.
        expected: usize,
        /// The rank in the file.
        found: usize,
    },

    /// A `.npy` file's data is not in this machine's byte order, so it cannot be mapped
    /// without conversion; [`npy::read_npy`](crate::npy::read_npy) converts it.
    #[error("{}: the data ({descr}) is not in native byte order; read_npy converts it", path.display())]
    ByteOrder {
        /// The file.
        path: PathBuf,
        /// The descr in the file, e.g. `">f8"`.
        descr: String,
    },

    /// A structured `.npy` file's fields are not the record type's: a name, offset, dtype,
    /// nesting, sub-array shape or the itemsize differs.
    #[error(
        "{}: field {field} differs: the file's dtype is {found}, the record type's {expected}{hint}",
        path.display()
    )]
    RecordMismatch {
        /// The file.
        path: PathBuf,
        /// The first field that differs (`outer.inner` for nested records), or `(itemsize)`.
        field: String,
        /// The record type's dtype, as NumPy's descr.
        expected: String,
        /// The file's dtype, as NumPy's descr.
        found: String,
        /// The way forward where the two differ only in padding (`"; the file's dtype is
        /// packed ...: declare the record #[repr(C, packed)] ..."`), else empty.
        hint: &'static str,
    },

    /// A record type has no field of that name and type (`a['x']` of a missing field).
    #[error("no field {field} of type {wanted} in the records {layout}")]
    NoSuchField {
        /// The field asked for.
        field: String,
        /// The type asked for, as NumPy's descr.
        wanted: String,
        /// The record type's dtype.
        layout: String,
    },

    /// A field view cannot be expressed as an ndarray view (whose strides count elements).
    #[error("field {field} cannot be viewed in place: {reason}")]
    FieldView {
        /// The field asked for.
        field: String,
        /// Why not.
        reason: &'static str,
    },

    /// A `bool` `.npy` file holds a byte other than 0 or 1.
    #[error("{}: a bool element is neither 0 nor 1", path.display())]
    InvalidBool {
        /// The file.
        path: PathBuf,
    },

    /// Another process (or another guard in this one) holds an advisory lock on the file
    /// that conflicts with the one asked for, and waiting was not asked for (see
    /// [`MapOptions::wait_for_lock`](crate::MapOptions::wait_for_lock)).
    #[error("{} is locked: the {} lock asked for conflicts with a lock held elsewhere", path.display(), lock.name())]
    Locked {
        /// The file.
        path: PathBuf,
        /// The lock asked for.
        lock: crate::options::Lock,
    },

    /// The file at the path is no longer the one that was opened there: another file took
    /// its place (saved over it, which writes a new file and renames it into place, as
    /// `np.savez` and ndmmap's own savers do), or it was deleted and created again. Raised
    /// where a path must be opened again for something that was opened earlier, such as a
    /// read-write map of a member of an `.npz` archive opened earlier (`NpzArchive::map_mut`),
    /// or an atomic replace that finds another file where the one it replaces stood, rather
    /// than write into or over a file it was not opened on. Open the file again to use the
    /// new one.
    #[error("the file at {} was replaced since it was opened; open it again to use the new file", path.display())]
    FileReplaced {
        /// The path, as given when the file was opened.
        path: PathBuf,
    },

    /// The array cannot grow ([`MmapArrayMut::append`](crate::MmapArrayMut::append) and
    /// friends): the map is copy-on-write or anonymous, the layout has custom strides or no
    /// axis, or the file holds bytes after the array's data that growth would overwrite.
    #[error("{}: cannot grow the array: {reason}", path.display())]
    NotGrowable {
        /// The file.
        path: PathBuf,
        /// Why, in words.
        reason: &'static str,
    },

    /// An array appended to a growable map does not match it on the axes that do not grow.
    #[error(
        "{}: cannot append an array of shape {found:?} to one of shape {expected:?}: \
         the array grows along axis {axis} (axis 0 in C order, the last axis in Fortran \
         order), so they must match on every other axis",
        path.display()
    )]
    AppendShape {
        /// The file.
        path: PathBuf,
        /// The growth axis.
        axis: usize,
        /// The shape of the mapped array.
        expected: Vec<usize>,
        /// The shape of the array appended.
        found: Vec<usize>,
    },

    /// A `.npy` file's header has no room for the grown shape: it was written without
    /// NumPy's growth padding (by an old writer, or by hand). Re-save the file with
    /// [`save_npy`](crate::SaveNpyExt::save_npy) (or NumPy's `np.save`), which pads headers
    /// so that the shape can grow in place.
    #[error(
        "{}: the .npy header has no room for shape {shape:?} ({needed} bytes needed, \
         {available} available); re-save the file with save_npy, which leaves room to grow",
        path.display()
    )]
    NpyHeaderFull {
        /// The file.
        path: PathBuf,
        /// The shape that does not fit.
        shape: Vec<usize>,
        /// The header length the new shape needs.
        needed: usize,
        /// The header's length, where the data starts.
        available: usize,
    },

    /// A `.npz` archive, or one of its members, is invalid, or cannot be mapped or
    /// written as asked. The message names the archive and the member and says what is
    /// wrong (the `detail`'s own message), so the detail is not repeated as a `source()`.
    #[cfg(feature = "npz")]
    #[error("{}{} (.npz archive): {detail}", path.display(), member_of(member.as_deref()))]
    Npz {
        /// The archive.
        path: PathBuf,
        /// The member's name (the NumPy key, e.g. `"x"` for `x.npy`), if one is involved.
        member: Option<String>,
        /// What is wrong.
        detail: NpzError,
    },

    /// `ndarray` rejected the shape or strides for a reason not covered above.
    #[error("{}invalid shape or strides: {error}", at(path.as_deref()))]
    Shape {
        /// The file, if any.
        path: Option<PathBuf>,
        /// ndarray's error (its text is in the message).
        error: ndarray::ShapeError,
    },

    /// A `.safetensors` file, or one of its tensors, is invalid, or cannot be mapped, read
    /// or written as asked. The message names the file and the tensor and says what is
    /// wrong (the `detail`'s own message), so the detail is not repeated as a `source()`.
    #[cfg(feature = "safetensors")]
    #[error("{}{} (.safetensors file): {detail}", path.display(), tensor_of(tensor.as_deref()))]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The tensor's name, if one is involved.
        tensor: Option<String>,
        /// What is wrong (boxed: it is the largest detail, and keeps every `Result` of
        /// the crate small).
        detail: Box<SafetensorsError>,
    },
}

/// The type of every fallible ndmmap result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats a shape as `[2, -1]`: an [`INFER`](crate::INFER) axis as NumPy's `-1`, not as
/// `usize::MAX`.
fn numpy_shape(shape: &[usize]) -> impl fmt::Display + '_ {
    struct Shape<'a>(&'a [usize]);
    impl fmt::Display for Shape<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("[")?;
            for (i, &n) in self.0.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                if n == usize::MAX { write!(f, "{sep}-1")? } else { write!(f, "{sep}{n}")? }
            }
            f.write_str("]")
        }
    }
    Shape(shape)
}

/// After "may not be opened for reading and writing": the maps that need only reading.
fn writable_hint(action: &str) -> &'static str {
    if action == "reading and writing" {
        "; to change the array in memory only, map it copy-on-write (map_file_copy, \
         map_npy_copy), or read-only (map_file, map_npy)"
    } else {
        ""
    }
}

/// Formats an optional path as a message prefix: `"path: "` or nothing.
/// What a concatenation (along `axis`) or a stack (`None`) asks of the pieces' shapes.
fn piece_rule(axis: Option<usize>) -> String {
    match axis {
        Some(axis) => {
            format!("all dimensions except for the concatenation axis ({axis}) must match exactly")
        }
        None => "all arrays to stack must have the same shape".to_owned(),
    }
}

fn at(path: Option<&Path>) -> impl fmt::Display + '_ {
    struct At<'a>(Option<&'a Path>);
    impl fmt::Display for At<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Some(path) => write!(f, "{}: ", path.display()),
                None => Ok(()),
            }
        }
    }
    At(path)
}

/// Formats an optional member name as a message part: `", member \"x\""` or nothing.
#[cfg(feature = "npz")]
fn member_of(member: Option<&str>) -> impl fmt::Display + '_ {
    struct Member<'a>(Option<&'a str>);
    impl fmt::Display for Member<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Some(name) => write!(f, ", member {name:?}"),
                None => Ok(()),
            }
        }
    }
    Member(member)
}

/// Formats an optional tensor name as a message part: `", tensor \"x\""` or nothing.
#[cfg(feature = "safetensors")]
fn tensor_of(tensor: Option<&str>) -> impl fmt::Display + '_ {
    struct Tensor<'a>(Option<&'a str>);
    impl fmt::Display for Tensor<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self.0 {
                Some(name) => write!(f, ", tensor {name:?}"),
                None => Ok(()),
            }
        }
    }
    Tensor(tensor)
}

impl Error {
    /// Fills in the path of an error raised by pure layout code, which does not know it.
    pub(crate) fn at_path(mut self, file: &Path) -> Self {
        match &mut self {
            Error::NotAMultiple { path, .. }
            | Error::TooShort { path, .. }
            | Error::OffsetPastEnd { path, .. }
            | Error::Misaligned { path, .. }
            | Error::Overflow { path, .. }
            | Error::MultipleInferredAxes { path, .. }
            | Error::ShapeRequired { path, .. }
            | Error::OverlappingStrides { path, .. }
            | Error::InvalidOption { path, .. }
            | Error::ViewNotInMap { path }
            | Error::SliceOutOfBounds { path, .. }
            | Error::Shape { path, .. }
                if path.is_none() =>
            {
                *path = Some(file.to_path_buf());
            }
            _ => {}
        }
        self
    }

    /// Classifies an I/O error from opening `path`.
    pub(crate) fn from_open(path: &Path, writable: bool, source: io::Error) -> Self {
        Self::classify(path, if writable { "reading and writing" } else { "reading" }, source)
    }

    /// Classifies an I/O error from creating `path`; `missing_folder` is the first folder
    /// on the way to it that does not exist, if the caller found one.
    pub(crate) fn from_create(
        path: &Path,
        missing_folder: Option<PathBuf>,
        source: io::Error,
    ) -> Self {
        match missing_folder {
            Some(folder) if source.kind() == io::ErrorKind::NotFound => {
                Error::FolderNotFound { path: path.to_path_buf(), folder }
            }
            _ => Self::classify(path, "creating", source),
        }
    }

    fn classify(path: &Path, action: &'static str, source: io::Error) -> Self {
        let path = path.to_path_buf();
        match source.kind() {
            io::ErrorKind::NotFound => Error::NotFound { path },
            // Windows refuses to open a folder as a file with "access denied".
            io::ErrorKind::PermissionDenied if path.is_dir() => Error::IsADirectory { path },
            io::ErrorKind::PermissionDenied => {
                Error::PermissionDenied { path, action, error: source }
            }
            io::ErrorKind::IsADirectory => Error::IsADirectory { path },
            io::ErrorKind::AlreadyExists => Error::AlreadyExists { path },
            _ => Error::Io { path, action: "open", error: source },
        }
    }

    /// Wraps an I/O error from `action` on `path`, recognising a full disk, and a folder
    /// (which some systems let open, then refuse to read): the same condition gives the
    /// same error whichever call met it.
    pub(crate) fn io(path: &Path, action: &'static str, bytes: u64, error: io::Error) -> Self {
        let path = path.to_path_buf();
        match error.kind() {
            io::ErrorKind::StorageFull => Error::NoSpace { path, bytes, error },
            io::ErrorKind::IsADirectory => Error::IsADirectory { path },
            _ => Error::Io { path, action, error },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn assert_traits<T: std::error::Error + Send + Sync + 'static>() {}
        assert_traits::<Error>();
    }

    #[test]
    fn messages_name_the_file_and_numbers() {
        let err = Error::TooShort { path: None, needed: 80, available: 72 }
            .at_path(Path::new("/data/a.bin"));
        let text = err.to_string();
        assert!(text.starts_with("/data/a.bin: "), "{text}");
        assert!(text.contains("80") && text.contains("72"), "{text}");
    }

    #[test]
    fn at_path_keeps_an_existing_path() {
        let err = Error::Misaligned { path: Some("first".into()), offset: 3, align: 8 }
            .at_path(Path::new("second"));
        assert!(matches!(err, Error::Misaligned { path: Some(p), .. } if p == Path::new("first")));
    }

    #[test]
    fn a_read_only_file_opened_writable_suggests_the_maps_that_only_read() {
        let source = || io::Error::from(io::ErrorKind::PermissionDenied);
        let text = Error::from_open(Path::new("/data/a.bin"), true, source()).to_string();
        let denied = source().to_string();
        assert!(
            text.starts_with(&format!(
                "/data/a.bin may not be opened for reading and writing: {denied}; "
            )),
            "{text}"
        );
        assert!(text.contains("map_file_copy") && text.contains("map_file,"), "{text}");
        let text = Error::from_open(Path::new("/data/a.bin"), false, source()).to_string();
        assert_eq!(text, format!("/data/a.bin may not be opened for reading: {denied}"));
        let text = Error::from_create(Path::new("/ro/c.bin"), None, source()).to_string();
        assert_eq!(text, format!("/ro/c.bin may not be opened for creating: {denied}"));
    }

    #[test]
    fn inferred_axes_print_as_numpy_writes_them() {
        let err = Error::MultipleInferredAxes {
            path: None,
            shape: vec![usize::MAX, 3, usize::MAX],
            count: 2,
        };
        assert_eq!(
            err.to_string(),
            "shape [-1, 3, -1] has 2 inferred axes (-1); at most one may be inferred"
        );
    }

    #[test]
    fn storage_full_becomes_no_space() {
        let source = io::Error::from(io::ErrorKind::StorageFull);
        let err = Error::io(Path::new("x"), "reserve", 10, source);
        assert!(matches!(err, Error::NoSpace { bytes: 10, .. }));
    }
}
