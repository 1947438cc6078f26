//! Parsing and writing `.npy` headers, byte for byte as NumPy does.
//!
//! A `.npy` file starts with the magic string `\x93NUMPY`, a version (1.0, 2.0 or 3.0), the
//! header length (a little-endian `u16` for 1.0, `u32` otherwise) and the header itself: the
//! text of a Python dict literal such as
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`, padded with spaces and a
//! newline so that the data starts at a multiple of 64 bytes.
//!
//! [`write()`] produces exactly the bytes `np.save` writes (NumPy >= 1.24, which pads the header so
//! that it can grow in place). [`parse`] accepts what NumPy's reader accepts (`ast.literal_eval`
//! of the header, then checks on the keys and values), with the deviations listed on [`parse`],
//! and rejects what it rejects. [`rewrite_shape`] changes the shape of an existing header in
//! place, for arrays that grow along their first (C order) or last (Fortran order) axis.
//!
//! Everything here is pure: no I/O, no `unsafe`, and no panics on any input.

use std::fmt::Write as _;

use ndarray::Order;

use super::descr::Descr;
use super::literal::{self, HeaderText};
use super::record::{self, RecordLayout};
use crate::error::HeaderError;
use crate::layout::outer_axis_of;

/// The first six bytes of every `.npy` file.
pub(crate) const MAGIC: [u8; 6] = *b"\x93NUMPY";

/// NumPy's default `max_header_size` (since NumPy 1.24): the longest header, in characters,
/// that `np.load` reads without `allow_pickle=True`.
pub(crate) const DEFAULT_MAX_HEADER_SIZE: usize = 10_000;

/// The data of a file written by NumPy >= 1.14 starts at a multiple of this.
const ARRAY_ALIGN: usize = 64;

/// NumPy pads the dict text so that the growth axis may have this many digits without changing
/// the header length (`GROWTH_AXIS_MAX_DIGITS` in `numpy/lib/format.py`).
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// A `.npy` format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Version {
    /// 1.0: a `u16` header length, latin-1 header text. What `np.save` writes when it fits.
    V1_0,
    /// 2.0 (NumPy >= 1.9): a `u32` header length, latin-1 header text.
    V2_0,
    /// 3.0 (NumPy >= 1.17): a `u32` header length, UTF-8 header text.
    V3_0,
}

impl Version {
    /// The version with these two bytes of the file, if NumPy supports it.
    const fn from_bytes(major: u8, minor: u8) -> Option<Version> {
        match (major, minor) {
            (1, 0) => Some(Version::V1_0),
            (2, 0) => Some(Version::V2_0),
            (3, 0) => Some(Version::V3_0),
            _ => None,
        }
    }

    /// The major and minor version numbers (bytes 6 and 7 of the file).
    #[must_use]
    pub(crate) const fn major_minor(self) -> (u8, u8) {
        match self {
            Version::V1_0 => (1, 0),
            Version::V2_0 => (2, 0),
            Version::V3_0 => (3, 0),
        }
    }

    /// The length of the magic string, the version and the header length field.
    const fn prefix_len(self) -> usize {
        match self {
            Version::V1_0 => 10,
            Version::V2_0 | Version::V3_0 => 12,
        }
    }

    /// Whether the header text is latin-1 (else UTF-8).
    const fn is_latin1(self) -> bool {
        !matches!(self, Version::V3_0)
    }
}

/// The contents of a `.npy` header: what the array data after it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Header {
    /// The element type and its byte order (`|V<itemsize>` for a structured dtype).
    pub(crate) descr: Descr,
    /// The fields of a structured dtype, or `None`.
    pub(crate) record: Option<RecordLayout>,
    /// Whether the data is stored in Fortran (column-major) order rather than C order.
    pub(crate) fortran_order: bool,
    /// The logical shape, in the same order for both memory orders; `[]` for a 0-d array.
    pub(crate) shape: Vec<usize>,
}

impl Header {
    /// The length in bytes of the array data: the product of the shape times the element size
    /// (one element for a 0-d array).
    ///
    /// Returns `None` if the product of the non-zero axis lengths times the element size exceeds
    /// `isize::MAX`, even when another axis is zero. That is `ndarray`'s rule for a valid shape,
    /// and NumPy's ("array is too big"), so such a header describes no array either can make.
    #[must_use]
    pub(crate) fn data_len(&self) -> Option<usize> {
        let nonzero = self
            .shape
            .iter()
            .filter(|&&dim| dim != 0)
            .try_fold(self.descr.size(), |acc, &dim| acc.checked_mul(dim))?;
        isize::try_from(nonzero).ok()?;
        Some(if self.shape.contains(&0) { 0 } else { nonzero })
    }
}

/// A parsed header with where it was found.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ParsedHeader {
    /// The header's contents.
    pub(crate) header: Header,
    /// The file's format version.
    pub(crate) version: Version,
    /// Where the array data starts: the length of the magic string, version, length field and
    /// header text. A multiple of 64 for files written by NumPy >= 1.14, but not for older or
    /// third-party files.
    pub(crate) data_offset: usize,
}

/// Parses the `.npy` header at the start of `prefix`.
///
/// `prefix` is the start of the file: the whole file, or only its first bytes. If it ends
/// before the header does, the error says how many bytes are needed. Bytes after the header
/// (the data, and anything after the data) are ignored. `max_header_size` is NumPy's limit on
/// the header length in characters ([`DEFAULT_MAX_HEADER_SIZE`] by default; a header of exactly
/// that length is accepted).
///
/// What NumPy's reader accepts and this accepts too: any format version 1.0, 2.0, 3.0; any
/// padding or none, any alignment (such as the 16 bytes of NumPy < 1.14), no trailing newline;
/// keys in any order, duplicate keys (the last one wins), single or double quotes and the `u`
/// prefix, with or without trailing commas, whitespace (space, tab, newlines, form feed) and
/// `#` comments between tokens; integers with `_` separators, `0x`/`0o`/`0b` prefixes, a `+` or
/// `-` sign (`-0` is 0), and (versions 1.0 and 2.0 only) Python 2's `L` suffix; extra
/// parentheses, as in `((2), 3)`. Descrs are normalised as NumPy does: see [`Descr::parse`].
///
/// Where this is stricter than NumPy, the header was not written by `np.save` and could not be
/// mapped anyway, or is of a kind `np.save` never writes:
/// - negative dimensions and `True`/`False` in the shape (NumPy's header check lets them through
///   and `np.load` then fails), and shapes over `isize::MAX` bytes;
/// - dtypes ndmmap does not map (structured, strings, objects, datetimes, long double) and dtype
///   aliases (`'float64'`, `'?'`);
/// - string escapes (`'\x3cf8'`), adjacent string literals, triple quotes, line continuations.
///
/// # Errors
///
/// In the order NumPy checks:
/// - [`HeaderError::BadMagic`], [`HeaderError::UnsupportedVersion`];
/// - [`HeaderError::TooLarge`] if the header is longer than `max_header_size`;
/// - [`HeaderError::Truncated`] if `prefix` ends before the header;
/// - [`HeaderError::NotUtf8`], [`HeaderError::Syntax`] if the header is not a literal;
/// - [`HeaderError::NotADict`], [`HeaderError::Keys`];
/// - [`HeaderError::Shape`], [`HeaderError::FortranOrder`], [`HeaderError::Descr`],
///   [`HeaderError::UnsupportedDtype`], [`HeaderError::ShapeOverflow`] for bad values.
pub(crate) fn parse(prefix: &[u8], max_header_size: usize) -> Result<ParsedHeader, HeaderError> {
    let available = prefix.len();
    let magic_len = available.min(MAGIC.len());
    if prefix[..magic_len] != MAGIC[..magic_len] {
        return Err(HeaderError::BadMagic { found: prefix[..magic_len].to_vec() });
    }
    let (Some(&major), Some(&minor)) = (prefix.get(6), prefix.get(7)) else {
        // The shortest fixed-size part is version 1.0's.
        return Err(HeaderError::Truncated { needed: Version::V1_0.prefix_len(), available });
    };
    let version = Version::from_bytes(major, minor)
        .ok_or(HeaderError::UnsupportedVersion { major, minor })?;
    let prefix_len = version.prefix_len();
    let header_len = match (version, prefix.get(8..prefix_len)) {
        (Version::V1_0, Some(&[a, b])) => usize::from(u16::from_le_bytes([a, b])),
        (Version::V2_0 | Version::V3_0, Some(&[a, b, c, d])) => {
            let len = u32::from_le_bytes([a, b, c, d]);
            // Only fails where usize is 16 bits wide, where such a header could not fit anyway.
            usize::try_from(len)
                .map_err(|_| HeaderError::TooLarge { len: usize::MAX, limit: max_header_size })?
        }
        _ => return Err(HeaderError::Truncated { needed: prefix_len, available }),
    };

    // NumPy compares characters. Latin-1 has one byte per character; UTF-8 up to four, so a
    // longer version 3.0 header cannot pass and is rejected before the caller reads it all.
    let byte_limit =
        if version.is_latin1() { max_header_size } else { max_header_size.saturating_mul(4) };
    if header_len > byte_limit {
        return Err(HeaderError::TooLarge { len: header_len, limit: max_header_size });
    }
    // Overflows only on 32-bit targets, for lengths near 4 GiB under a lifted limit.
    let data_offset = prefix_len
        .checked_add(header_len)
        .ok_or(HeaderError::TooLarge { len: header_len, limit: max_header_size })?;
    let Some(text) = prefix.get(prefix_len..data_offset) else {
        return Err(HeaderError::Truncated { needed: data_offset, available });
    };
    if !version.is_latin1() {
        let decoded = std::str::from_utf8(text)
            .map_err(|e| HeaderError::NotUtf8 { offset: prefix_len + e.valid_up_to() })?;
        let chars = decoded.chars().count();
        if chars > max_header_size {
            return Err(HeaderError::TooLarge { len: chars, limit: max_header_size });
        }
    }

    let source = HeaderText { text, offset: prefix_len, latin1: version.is_latin1() };
    let dict = literal::parse(&source, version != Version::V3_0)?;
    let header = interpret(&source, dict)?;
    Ok(ParsedHeader { header, version, data_offset })
}

/// Writes the header `np.save` writes for an array with this dtype, memory order and shape.
///
/// The result is the whole prefix of the file before the data: magic string, version, length
/// field and header text. It is byte-identical to NumPy >= 1.24's (checked against NumPy in the
/// tests): keys in sorted order with a `", "` after each value, Python's tuple syntax for the
/// shape (`()`, `(5,)`, `(3, 4)`), spaces so that the growth axis (the first for C order, the
/// last for Fortran order) can reach 21 digits without changing the length (none for 0-d
/// arrays), 1 to 64 more spaces so that the data starts at a multiple of 64, and a newline.
/// The version is 1.0, or 2.0 if the header is longer than 65535 bytes. (NumPy uses 3.0 only
/// for non-latin-1 structured field names, which a [`Descr`] cannot have.)
///
/// # Errors
///
/// - [`HeaderError::ShapeOverflow`] if the data would be over `isize::MAX` bytes long.
/// - [`HeaderError::TooLarge`] if the header would be over `u32::MAX` bytes long (a shape with
///   hundreds of millions of axes).
pub(crate) fn write(header: &Header) -> Result<Vec<u8>, HeaderError> {
    // A record's fields must fill the `|V<itemsize>` it states: a header the crate (or
    // NumPy) reads back as another size would describe other bytes than follow it.
    if let Some(layout) = &header.record
        && (layout.itemsize() == 0 || layout.itemsize() != header.descr.size())
    {
        return Err(HeaderError::UnsupportedDtype {
            descr: layout.to_string(),
            reason: "a record's itemsize must be the size of its type, and not zero",
        });
    }
    if header.data_len().is_none() {
        return Err(HeaderError::ShapeOverflow { text: shape_repr(&header.shape) });
    }
    encode(header).ok_or_else(|| HeaderError::TooLarge {
        len: dict_text(header).len().saturating_add(growth_padding(header)).saturating_add(1),
        limit: u32::MAX.try_into().unwrap_or(usize::MAX),
    })
}

/// [`write()`] without the check of the data length, or `None` if the header is too long for
/// version 2.0.
fn encode(header: &Header) -> Option<Vec<u8>> {
    let text = dict_text(header);
    let growth = growth_padding(header);
    wrap(&text, growth, Version::V1_0).or_else(|| wrap(&text, growth, Version::V2_0))
}

/// Replaces the shape in the `.npy` header at the start of `header_bytes`, in place, without
/// changing the header's length (so the data does not move).
///
/// `header_bytes` must start with the whole header (it may go on with the data; only the header
/// bytes are written). The descr, memory order and version are kept.
///
/// The new header is what `np.save` writes for the new shape whenever that has the same length
/// as the existing header, which holds whenever the existing header was written by `np.save`
/// (NumPy >= 1.24) or [`write()`] and only the growth axis changed (the first axis in C order, the
/// last in Fortran order; any value fits, as it has at most 20 digits). Otherwise, if the new
/// dict text fits, it is padded with spaces to the existing length: still a valid header, just
/// not the one `np.save` would write.
///
/// # Errors
///
/// - Any error of [`parse`] (without a header size limit) for the existing header; nothing is
///   written then.
/// - [`HeaderError::ShapeOverflow`] if the data for the new shape would be over `isize::MAX`
///   bytes long.
/// - [`HeaderError::ShapeDoesNotFit`] if the new dict text does not fit in the existing header:
///   another axis grew by more digits than the existing padding can absorb. Nothing is written.
pub(crate) fn rewrite_shape(
    header_bytes: &mut [u8],
    new_shape: &[usize],
) -> Result<(), HeaderError> {
    let parsed = parse(header_bytes, usize::MAX)?;
    let header = Header { shape: new_shape.to_vec(), ..parsed.header };
    if header.data_len().is_none() {
        return Err(HeaderError::ShapeOverflow { text: shape_repr(&header.shape) });
    }
    let version = parsed.version;
    let available = parsed.data_offset;
    let text = dict_text(&header);
    let canonical = wrap(&text, growth_padding(&header), version);
    let new = match canonical {
        Some(bytes) if bytes.len() == available => bytes,
        _ => {
            // Any amount of padding is valid for NumPy's reader; only the length must stay.
            let needed = version.prefix_len() + text.len() + 1;
            if needed > available {
                return Err(HeaderError::ShapeDoesNotFit { needed, available });
            }
            let padding = available - needed;
            wrap_exact(&text, padding, version)
                .ok_or(HeaderError::ShapeDoesNotFit { needed, available })?
        }
    };
    // `parse` succeeded, so `header_bytes` holds at least `available` bytes.
    if let Some(target) = header_bytes.get_mut(..available) {
        target.copy_from_slice(&new);
    }
    Ok(())
}

/// The dict text `np.save` writes, without padding.
fn dict_text(header: &Header) -> String {
    let fortran = if header.fortran_order { "True" } else { "False" };
    let descr = match &header.record {
        Some(layout) => layout.to_string(),
        None => format!("'{}'", header.descr),
    };
    format!(
        "{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {}, }}",
        shape_repr(&header.shape)
    )
}

/// Python's `repr` of the shape tuple: `()`, `(5,)`, `(3, 4)`.
fn shape_repr(shape: &[usize]) -> String {
    let mut out = String::from("(");
    for (i, dim) in shape.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{dim}");
    }
    if shape.len() == 1 {
        out.push(',');
    }
    out.push(')');
    out
}

/// The spaces NumPy >= 1.24 adds after the dict so that the growth axis can grow in place.
fn growth_padding(header: &Header) -> usize {
    let order = if header.fortran_order { Order::ColumnMajor } else { Order::RowMajor };
    let axis = header.shape.get(outer_axis_of(order, header.shape.len()));
    axis.map_or(0, |dim| GROWTH_AXIS_MAX_DIGITS.saturating_sub(dim.to_string().len()))
}

/// The header bytes for `text` followed by `growth` spaces in `version`, aligned as NumPy's
/// `_wrap_header` does, or `None` if the length does not fit the version's length field.
fn wrap(text: &str, growth: usize, version: Version) -> Option<Vec<u8>> {
    let unpadded = version.prefix_len().checked_add(text.len())?.checked_add(growth)?;
    // Counting the newline; NumPy adds 64 spaces rather than none when already aligned.
    let alignment = ARRAY_ALIGN - (unpadded.checked_add(1)? % ARRAY_ALIGN);
    wrap_exact(text, growth.checked_add(alignment)?, version)
}

/// The header bytes for `text` followed by exactly `padding` spaces and a newline, or `None` if
/// the length does not fit the version's length field.
fn wrap_exact(text: &str, padding: usize, version: Version) -> Option<Vec<u8>> {
    let header_len = text.len().checked_add(padding)?.checked_add(1)?;
    // Checked before allocating: the version-1.0 attempt fails for every long header.
    let len_field = match version {
        Version::V1_0 => u16::try_from(header_len).ok()?.to_le_bytes().to_vec(),
        Version::V2_0 | Version::V3_0 => u32::try_from(header_len).ok()?.to_le_bytes().to_vec(),
    };
    let mut out = Vec::with_capacity(version.prefix_len().checked_add(header_len)?);
    out.extend_from_slice(&MAGIC);
    let (major, minor) = version.major_minor();
    out.extend_from_slice(&[major, minor]);
    out.extend_from_slice(&len_field);
    out.extend_from_slice(text.as_bytes());
    out.resize(out.len() + padding, b' ');
    out.push(b'\n');
    Some(out)
}

/// Checks the parsed literal as NumPy's `_read_array_header` does, in the same order.
fn interpret(source: &HeaderText<'_>, node: literal::Node) -> Result<Header, HeaderError> {
    use literal::Value;

    let pairs = match node.value {
        Value::Dict(pairs) => pairs,
        other => return Err(HeaderError::NotADict { found: other.type_name() }),
    };
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    let mut keys = Vec::with_capacity(pairs.len());
    let mut unexpected = false;
    // A Python dict keeps the last value of a repeated key.
    for (key, value) in pairs {
        if let Value::Str(name) = &key.value {
            match name.as_str() {
                "descr" => descr = Some(value),
                "fortran_order" => fortran_order = Some(value),
                "shape" => shape = Some(value),
                _ => unexpected = true,
            }
            keys.push(name.clone());
        } else {
            unexpected = true;
            keys.push(source.quote(key.start, key.end));
        }
    }
    let (Some(descr), Some(fortran_order), Some(shape), false) =
        (descr, fortran_order, shape, unexpected)
    else {
        keys.sort();
        keys.dedup();
        return Err(HeaderError::Keys { found: keys });
    };

    let quote = |node: &literal::Node| source.quote(node.start, node.end);
    let shape_error = || HeaderError::Shape { text: quote(&shape) };
    let Value::Tuple(dims) = &shape.value else {
        return Err(shape_error());
    };
    // `None` for dimensions too large for a usize: reported after the descr, like the product.
    let dims = dims
        .iter()
        .map(|dim| match dim.value {
            Value::Int { negative, magnitude } => match magnitude {
                Some(0) => Ok(Some(0)),
                _ if negative => Err(shape_error()),
                Some(m) => Ok(usize::try_from(m).ok()),
                None => Ok(None),
            },
            _ => Err(shape_error()),
        })
        .collect::<Result<Option<Vec<usize>>, _>>()?;

    let Value::Bool(fortran_order) = fortran_order.value else {
        return Err(HeaderError::FortranOrder { text: quote(&fortran_order) });
    };

    let (descr, record) = match &descr.value {
        Value::Str(text) => (Descr::parse(text)?, None),
        Value::List(_) => {
            let layout = record::parse(source, &descr)?;
            let void = Descr::new(
                super::descr::Kind::Void,
                layout.itemsize(),
                super::descr::ByteOrder::NotApplicable,
            )
            .ok_or_else(|| HeaderError::Descr { text: quote(&descr) })?;
            (void, Some(layout))
        }
        Value::Tuple(_) => {
            return Err(HeaderError::UnsupportedDtype {
                descr: quote(&descr),
                reason: "subarray dtypes are not supported",
            });
        }
        _ => return Err(HeaderError::Descr { text: quote(&descr) }),
    };

    let overflow = || HeaderError::ShapeOverflow { text: quote(&shape) };
    let header = Header { descr, record, fortran_order, shape: dims.ok_or_else(overflow)? };
    if header.data_len().is_none() {
        return Err(overflow());
    }
    Ok(header)
}

#[cfg(test)]
// quickcheck properties take their arguments by value.
#[allow(clippy::needless_pass_by_value)]
mod tests;
