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

use super::descr::Descr;

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

/// The deepest bracket nesting the parser accepts. Python's parser stops at 200 too ("too many
/// nested parentheses"), so this rejects nothing NumPy reads, and it bounds the recursion.
const MAX_DEPTH: usize = 200;

/// Error texts quoting the header are cut to this many characters.
const MAX_QUOTE: usize = 200;

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
    /// The element type and its byte order.
    pub(crate) descr: Descr,
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

    let source = Source { text, offset: prefix_len, latin1: version.is_latin1() };
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
    format!(
        "{{'descr': '{}', 'fortran_order': {fortran}, 'shape': {}, }}",
        header.descr,
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
    let axis = if header.fortran_order { header.shape.last() } else { header.shape.first() };
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

/// The header text being parsed, with what is needed to report errors against the file.
struct Source<'a> {
    /// The header bytes after the length field.
    text: &'a [u8],
    /// Where `text` starts in the file.
    offset: usize,
    /// Whether `text` is latin-1 (versions 1.0, 2.0) rather than UTF-8 (3.0, already checked).
    latin1: bool,
}

impl Source<'_> {
    /// Decodes `text[start..end]`, cut to [`MAX_QUOTE`] characters for error messages.
    fn quote(&self, start: usize, end: usize) -> String {
        let decoded = self.decode(self.text.get(start..end).unwrap_or_default());
        if decoded.chars().count() <= MAX_QUOTE {
            decoded
        } else {
            let mut cut: String = decoded.chars().take(MAX_QUOTE).collect();
            cut.push_str("...");
            cut
        }
    }

    /// Decodes bytes of the header as latin-1 or UTF-8.
    fn decode(&self, bytes: &[u8]) -> String {
        if self.latin1 {
            // Latin-1 maps each byte to the code point of the same value.
            bytes.iter().map(|&b| char::from(b)).collect()
        } else {
            // Exact: the whole header was checked to be UTF-8, and spans end at ASCII bytes.
            String::from_utf8_lossy(bytes).into_owned()
        }
    }
}

/// Checks the parsed literal as NumPy's `_read_array_header` does, in the same order.
fn interpret(source: &Source<'_>, node: literal::Node) -> Result<Header, HeaderError> {
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

    let descr = match &descr.value {
        Value::Str(text) => Descr::parse(text)?,
        Value::List(_) => {
            return Err(HeaderError::UnsupportedDtype {
                descr: quote(&descr),
                reason: "structured dtypes are not supported",
            });
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
    let header = Header { descr, fortran_order, shape: dims.ok_or_else(overflow)? };
    if header.data_len().is_none() {
        return Err(overflow());
    }
    Ok(header)
}

/// A parser for the subset of Python literals found in `.npy` headers.
///
/// It stands in for `ast.literal_eval`: it builds the value tree of dicts, lists, tuples,
/// strings, integers, booleans and `None`, and recognises other numbers only to call them
/// "not an integer". It never panics, recurses at most [`MAX_DEPTH`] deep, and uses memory
/// linear in the header length (which the caller bounds with `max_header_size`).
mod literal {
    use super::{HeaderError, MAX_DEPTH, Source};

    /// A parsed value with its span in the header text.
    #[derive(Debug)]
    pub(super) struct Node {
        /// The value.
        pub(super) value: Value,
        /// Where the value's text starts in the header text.
        pub(super) start: usize,
        /// Where the value's text ends in the header text (exclusive).
        pub(super) end: usize,
    }

    /// A Python literal value.
    #[derive(Debug)]
    pub(super) enum Value {
        /// A `str`, decoded.
        Str(String),
        /// An `int`.
        Int {
            /// Whether it was written with a `-` sign.
            negative: bool,
            /// Its absolute value, or `None` if that does not fit a `u128`.
            magnitude: Option<u128>,
        },
        /// `True` or `False`.
        Bool(bool),
        /// `None`.
        None,
        /// A `float` or `complex`: valid, but never what a header needs.
        OtherNumber,
        /// A `tuple`.
        Tuple(Vec<Node>),
        /// A `list`.
        List(
            #[allow(dead_code, reason = "parsed to validate; no header key takes a list")]
            Vec<Node>,
        ),
        /// A `dict`, as its key/value pairs in order, repeated keys included.
        Dict(Vec<(Node, Node)>),
    }

    impl Value {
        /// The value's type, for error messages.
        pub(super) const fn type_name(&self) -> &'static str {
            match self {
                Value::Str(_) => "a string",
                Value::Int { .. } => "an integer",
                Value::Bool(_) => "a bool",
                Value::None => "None",
                Value::OtherNumber => "a number",
                Value::Tuple(_) => "a tuple",
                Value::List(_) => "a list",
                Value::Dict(_) => "a dict",
            }
        }
    }

    /// Parses the whole header text as one literal, surrounded by whitespace and comments.
    ///
    /// `long_suffix` allows Python 2's `L` after integers, as NumPy does for versions 1.0, 2.0.
    pub(super) fn parse(source: &Source<'_>, long_suffix: bool) -> Result<Node, HeaderError> {
        let mut parser = Parser { source, pos: 0, depth: 0, long_suffix };
        parser.skip_trivia()?;
        let node = parser.value()?;
        parser.skip_trivia()?;
        if parser.pos < source.text.len() {
            return Err(parser.error("unexpected text after the value"));
        }
        Ok(node)
    }

    /// A recursive-descent parser over the header bytes.
    struct Parser<'s, 'a> {
        source: &'s Source<'a>,
        pos: usize,
        depth: usize,
        long_suffix: bool,
    }

    impl Parser<'_, '_> {
        fn peek(&self, ahead: usize) -> Option<u8> {
            self.source.text.get(self.pos.checked_add(ahead)?).copied()
        }

        fn error(&self, message: &str) -> HeaderError {
            self.error_at(self.pos, message.to_owned())
        }

        fn error_at(&self, pos: usize, message: String) -> HeaderError {
            HeaderError::Syntax { offset: self.source.offset + pos, message }
        }

        fn unexpected(&self, expected: &str) -> HeaderError {
            let message = match self.peek(0) {
                None => format!("unexpected end of header, expected {expected}"),
                Some(b) if b.is_ascii_graphic() => {
                    format!("unexpected '{}', expected {expected}", char::from(b))
                }
                Some(b) => format!("unexpected byte 0x{b:02x}, expected {expected}"),
            };
            self.error_at(self.pos, message)
        }

        fn eat(&mut self, byte: u8) -> bool {
            let found = self.peek(0) == Some(byte);
            if found {
                self.pos += 1;
            }
            found
        }

        /// Skips whitespace and comments, which Python allows between any tokens here (the
        /// header's only newlines outside brackets are leading or trailing ones).
        fn skip_trivia(&mut self) -> Result<(), HeaderError> {
            while let Some(b) = self.peek(0) {
                match b {
                    b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => self.pos += 1,
                    b'#' => {
                        while let Some(c) = self.peek(0) {
                            match c {
                                b'\n' | b'\r' => break,
                                // Python refuses NUL anywhere in source code.
                                0 => return Err(self.error("NUL byte in a comment")),
                                _ => self.pos += 1,
                            }
                        }
                    }
                    _ => break,
                }
            }
            Ok(())
        }

        fn value(&mut self) -> Result<Node, HeaderError> {
            let start = self.pos;
            match self.peek(0) {
                Some(open @ (b'{' | b'[' | b'(')) => self.container(open),
                Some(b'\'' | b'"') => self.string(start),
                Some(b'u' | b'U') if matches!(self.peek(1), Some(b'\'' | b'"')) => {
                    self.pos += 1;
                    self.string(start)
                }
                Some(b'0'..=b'9') => self.number(start, false),
                Some(b'.') if self.peek(1).is_some_and(|b| b.is_ascii_digit()) => {
                    self.number(start, false)
                }
                Some(sign @ (b'+' | b'-')) => {
                    self.pos += 1;
                    self.skip_trivia()?;
                    match self.peek(0) {
                        Some(b'0'..=b'9') => self.number(start, sign == b'-'),
                        Some(b'.') if self.peek(1).is_some_and(|b| b.is_ascii_digit()) => {
                            self.number(start, sign == b'-')
                        }
                        // `ast.literal_eval` allows a sign only on a number literal.
                        _ => Err(self.unexpected("a number after the sign")),
                    }
                }
                Some(b) if b.is_ascii_alphabetic() || b == b'_' => self.name(start),
                _ => Err(self.unexpected("a value")),
            }
        }

        fn container(&mut self, open: u8) -> Result<Node, HeaderError> {
            let start = self.pos;
            if self.depth >= MAX_DEPTH {
                return Err(self.error("too many nested brackets"));
            }
            self.depth += 1;
            self.pos += 1;
            let (close, expected) = match open {
                b'{' => (b'}', "',' or '}'"),
                b'[' => (b']', "',' or ']'"),
                _ => (b')', "',' or ')'"),
            };
            let mut items = Vec::new();
            let mut pairs = Vec::new();
            let mut saw_comma = false;
            loop {
                self.skip_trivia()?;
                if self.eat(close) {
                    break;
                }
                let item = self.value()?;
                self.skip_trivia()?;
                if open == b'{' {
                    if !self.eat(b':') {
                        return Err(self.unexpected("':' after a dict key"));
                    }
                    self.skip_trivia()?;
                    let value = self.value()?;
                    self.skip_trivia()?;
                    pairs.push((item, value));
                } else {
                    items.push(item);
                }
                if self.eat(b',') {
                    saw_comma = true;
                } else if self.eat(close) {
                    break;
                } else {
                    return Err(self.unexpected(expected));
                }
            }
            self.depth -= 1;
            let end = self.pos;
            let value = match open {
                b'{' => Value::Dict(pairs),
                b'[' => Value::List(items),
                // `(x)` is just `x` in parentheses; `(x,)` is a tuple.
                _ if items.len() == 1 && !saw_comma => {
                    let inner = items.pop().map_or(Value::None, |node| node.value);
                    return Ok(Node { value: inner, start, end });
                }
                _ => Value::Tuple(items),
            };
            Ok(Node { value, start, end })
        }

        /// Parses a string literal whose quote is at `self.pos`; `start` includes any prefix.
        fn string(&mut self, start: usize) -> Result<Node, HeaderError> {
            let Some(quote) = self.peek(0) else {
                return Err(self.unexpected("a string"));
            };
            if self.peek(1) == Some(quote) && self.peek(2) == Some(quote) {
                return Err(self.error("triple-quoted strings are not supported"));
            }
            self.pos += 1;
            let content_start = self.pos;
            loop {
                match self.peek(0) {
                    Some(b) if b == quote => break,
                    Some(b'\\') => {
                        return Err(self.error("escape sequences in strings are not supported"));
                    }
                    None | Some(b'\n' | b'\r') => {
                        return Err(self.error_at(start, "unterminated string".to_owned()));
                    }
                    Some(0) => return Err(self.error("NUL byte in a string")),
                    Some(_) => self.pos += 1,
                }
            }
            let content = self.source.text.get(content_start..self.pos).unwrap_or_default();
            let value = Value::Str(self.source.decode(content));
            self.pos += 1;
            let end = self.pos;
            self.skip_trivia()?;
            if matches!(self.peek(0), Some(b'\'' | b'"')) {
                return Err(self.error("adjacent string literals are not supported"));
            }
            self.pos = end;
            Ok(Node { value, start, end })
        }

        /// Parses a number whose first digit (or `.`) is at `self.pos`; `start` includes any
        /// sign.
        fn number(&mut self, start: usize, negative: bool) -> Result<Node, HeaderError> {
            let token_start = self.pos;
            let text = self.source.text;
            while let Some(b) = self.peek(0) {
                let exponent_sign = matches!(b, b'+' | b'-')
                    && matches!(text.get(self.pos.wrapping_sub(1)), Some(b'e' | b'E'))
                    && !is_prefixed(&text[token_start..self.pos]);
                if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exponent_sign {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            let mut token = &text[token_start..self.pos];
            if self.long_suffix {
                // Python 2 longs: NumPy drops a NAME token `L` right after a NUMBER token, so
                // `2L` and `2 L` both read as 2.
                if let Some(stripped) = token.strip_suffix(b"L") {
                    token = stripped;
                } else {
                    let end = self.pos;
                    self.skip_trivia()?;
                    let is_name_l = self.peek(0) == Some(b'L')
                        && !self.peek(1).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
                    self.pos = if is_name_l { self.pos + 1 } else { end };
                }
            }
            let value = if let Some(int) = parse_int(token, negative) {
                int
            } else if is_float(token) {
                Value::OtherNumber
            } else {
                return Err(self.error_at(token_start, "invalid number literal".to_owned()));
            };
            Ok(Node { value, start, end: self.pos })
        }

        fn name(&mut self, start: usize) -> Result<Node, HeaderError> {
            while self.peek(0).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
                self.pos += 1;
            }
            let value = match &self.source.text[start..self.pos] {
                b"True" => Value::Bool(true),
                b"False" => Value::Bool(false),
                b"None" => Value::None,
                name => {
                    let name = self.source.decode(name);
                    return Err(self.error_at(start, format!("unknown name {name}")));
                }
            };
            Ok(Node { value, start, end: self.pos })
        }
    }

    /// Whether `token` starts with a `0x`, `0o` or `0b` prefix.
    fn is_prefixed(token: &[u8]) -> bool {
        matches!(token, [b'0', b'x' | b'X' | b'o' | b'O' | b'b' | b'B', ..])
    }

    /// Parses a Python integer literal (`-` applied if `negative`), or returns `None` if
    /// `token` is not one.
    fn parse_int(token: &[u8], negative: bool) -> Option<Value> {
        let (radix, digits) = match token {
            [b'0', b'x' | b'X', rest @ ..] => (16, rest),
            [b'0', b'o' | b'O', rest @ ..] => (8, rest),
            [b'0', b'b' | b'B', rest @ ..] => (2, rest),
            _ => (10, token),
        };
        // After a base prefix, one `_` may come before the first digit (`0x_1f`).
        let digits = if radix == 10 { digits } else { digits.strip_prefix(b"_").unwrap_or(digits) };
        if digits.is_empty() || digits.ends_with(b"_") || digits.starts_with(b"_") {
            return None;
        }
        // Python 3 refuses leading zeros in decimal literals, except in zero itself (`00`).
        if radix == 10 && digits[0] == b'0' && digits.iter().any(|&b| b != b'0' && b != b'_') {
            return None;
        }
        // `None` once the value no longer fits: still a valid literal, reported as too large.
        let mut magnitude: Option<u128> = Some(0);
        let mut previous_underscore = false;
        for &b in digits {
            if b == b'_' {
                if previous_underscore {
                    return None;
                }
                previous_underscore = true;
                continue;
            }
            previous_underscore = false;
            let digit = char::from(b).to_digit(radix)?;
            magnitude = magnitude
                .and_then(|v| v.checked_mul(u128::from(radix)))
                .and_then(|v| v.checked_add(u128::from(digit)));
        }
        Some(Value::Int { negative, magnitude })
    }

    /// Whether `token` is a Python float or imaginary literal (`1.5`, `.5`, `1e-3`, `2j`).
    fn is_float(token: &[u8]) -> bool {
        let imaginary = token.strip_suffix(b"j").or_else(|| token.strip_suffix(b"J"));
        let token = imaginary.unwrap_or(token);
        let (mantissa, exponent) = match token.iter().position(|&b| b == b'e' || b == b'E') {
            Some(i) => (&token[..i], Some(&token[i + 1..])),
            None => (token, None),
        };
        let digit_part = |part: &[u8]| {
            !part.is_empty()
                && part.iter().all(|&b| b.is_ascii_digit() || b == b'_')
                && !part.starts_with(b"_")
                && !part.ends_with(b"_")
                && !part.windows(2).any(|w| w == b"__")
        };
        let mantissa_ok = match mantissa.iter().position(|&b| b == b'.') {
            Some(i) => {
                let (whole, fraction) = (&mantissa[..i], &mantissa[i + 1..]);
                (whole.is_empty() || digit_part(whole))
                    && (fraction.is_empty() || digit_part(fraction))
                    && !(whole.is_empty() && fraction.is_empty())
            }
            // An integer part alone is a float only with an exponent or `j`: `1e5`, `2j`.
            None => digit_part(mantissa) && (exponent.is_some() || imaginary.is_some()),
        };
        let exponent_ok = exponent.is_none_or(|e| {
            digit_part(e.strip_prefix(b"+").or_else(|| e.strip_prefix(b"-")).unwrap_or(e))
        });
        mantissa_ok && exponent_ok
    }
}

#[cfg(test)]
// quickcheck properties take their arguments by value.
#[allow(clippy::needless_pass_by_value)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use quickcheck::{QuickCheck, TestResult};

    use super::*;
    use crate::npy::descr::{ByteOrder, Kind};

    /// A file prefix with header text `text` exactly as given (no padding added).
    fn npy(version: (u8, u8), text: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[version.0, version.1]);
        if version.0 == 1 {
            out.extend_from_slice(&u16::try_from(text.len()).unwrap().to_le_bytes());
        } else {
            out.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
        }
        out.extend_from_slice(text);
        out
    }

    /// A version 1.0 file prefix with `text` padded with spaces and a newline to 128 bytes.
    fn npy128(text: &str) -> Vec<u8> {
        let mut padded = text.as_bytes().to_vec();
        padded.resize(117, b' ');
        padded.push(b'\n');
        npy((1, 0), &padded)
    }

    fn header(descr: &str, fortran_order: bool, shape: &[usize]) -> Header {
        Header { descr: Descr::parse(descr).unwrap(), fortran_order, shape: shape.to_vec() }
    }

    fn parse_ok(bytes: &[u8]) -> Header {
        match parse(bytes, DEFAULT_MAX_HEADER_SIZE) {
            Ok(parsed) => parsed.header,
            Err(e) => panic!("{e} for {:?}", bytes.escape_ascii().to_string()),
        }
    }

    fn parse_err(bytes: &[u8]) -> HeaderError {
        parse(bytes, DEFAULT_MAX_HEADER_SIZE).expect_err("header should be rejected")
    }

    fn dict(descr: &str, fortran: &str, shape: &str) -> String {
        format!("{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}")
    }

    // Reference section 2.10: np.save's headers from NumPy 2.4.6, as (dtype, order, shape,
    // dict text, spaces after it).
    const GOLDEN: [(&str, bool, &[usize], &str, usize); 10] = [
        ("<f8", false, &[2, 3], "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 58),
        (">i4", false, &[3], "{'descr': '>i4', 'fortran_order': False, 'shape': (3,), }", 60),
        ("|b1", false, &[3], "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 60),
        ("|u1", false, &[4], "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", 60),
        ("<c16", false, &[2], "{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", 59),
        ("<f4", true, &[2, 3], "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 59),
        ("<f8", false, &[], "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 62),
        ("<f8", false, &[0], "{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }", 60),
        ("<i8", false, &[0, 5], "{'descr': '<i8', 'fortran_order': False, 'shape': (0, 5), }", 58),
        ("<i2", false, &[3, 2], "{'descr': '<i2', 'fortran_order': False, 'shape': (3, 2), }", 58),
    ];

    #[test]
    fn golden_vectors_byte_for_byte() {
        for (descr, fortran, shape, text, spaces) in GOLDEN {
            let mut expected = b"\x93NUMPY\x01\x00v\x00".to_vec();
            expected.extend_from_slice(text.as_bytes());
            expected.extend(std::iter::repeat_n(b' ', spaces));
            expected.push(b'\n');
            assert_eq!(expected.len(), 128);
            let h = header(descr, fortran, shape);
            assert_eq!(write(&h).unwrap(), expected, "{text}");
            let parsed = parse(&expected, DEFAULT_MAX_HEADER_SIZE).unwrap();
            assert_eq!(
                parsed,
                ParsedHeader { header: h, version: Version::V1_0, data_offset: 128 }
            );
        }
    }

    #[test]
    fn data_len() {
        assert_eq!(header("<f8", false, &[2, 3]).data_len(), Some(48));
        assert_eq!(header("<f8", false, &[]).data_len(), Some(8));
        assert_eq!(header("|u1", false, &[3, 0, 2]).data_len(), Some(0));
        let max = usize::try_from(isize::MAX).unwrap();
        assert_eq!(header("|u1", false, &[max]).data_len(), Some(max));
        assert_eq!(header("|u1", false, &[max, 0]).data_len(), Some(0));
        assert_eq!(header("<i2", false, &[max]).data_len(), None);
        // Like ndarray and NumPy: a zero axis does not excuse the others from overflowing.
        assert_eq!(header("|u1", false, &[max, 2, 0]).data_len(), None);
    }

    #[test]
    fn writer_alignment_edges() {
        // NumPy pads to 64 with 1 to 64 spaces, never 0: find shapes on both sides of a boundary.
        for n in 0..40 {
            let h = header("<f8", false, &vec![1; n]);
            let bytes = write(&h).unwrap();
            assert_eq!(bytes.len() % 64, 0);
            assert_eq!(bytes.last(), Some(&b'\n'));
            let close = bytes.iter().rposition(|&b| b == b'}').unwrap();
            let spaces = bytes.len() - close - 2;
            let growth = if n == 0 { 0 } else { 20 };
            assert!((growth + 1..=growth + 64).contains(&spaces), "{n}: {spaces}");
            assert_eq!(parse_ok(&bytes), h);
        }
    }

    #[test]
    fn writer_growth_padding_follows_the_order() {
        let c = write(&header("<f8", false, &[10_000, 3])).unwrap();
        let f = write(&header("<f8", true, &[10_000, 3])).unwrap();
        let spaces = |b: &[u8]| b.iter().rev().skip(1).take_while(|&&c| c == b' ').count();
        // C order grows the first axis (5 digits): 16 growth spaces; F order the last (1 digit).
        let text_c = dict("'<f8'", "False", "(10000, 3)");
        let text_f = dict("'<f8'", "True", "(10000, 3)");
        assert_eq!(spaces(&c), 128 - 11 - text_c.len());
        assert_eq!(spaces(&f), 128 - 11 - text_f.len());
        assert_eq!(c.len(), 128);
        // The longest growth axis still fits the same header.
        let max = write(&header("|u1", false, &[usize::try_from(isize::MAX).unwrap()])).unwrap();
        assert_eq!(max.len(), 128);
    }

    #[test]
    fn writer_switches_to_version_2_for_long_headers() {
        let h = header("|u1", false, &vec![1; 22_000]);
        let bytes = write(&h).unwrap();
        assert_eq!(&bytes[6..8], &[2, 0]);
        assert_eq!(bytes.len() % 64, 0);
        let parsed = parse(&bytes, usize::MAX).unwrap();
        assert_eq!(parsed.version, Version::V2_0);
        assert_eq!(parsed.header, h);
        // NumPy's default limit refuses it, as np.load does.
        assert!(matches!(
            parse(&bytes, DEFAULT_MAX_HEADER_SIZE),
            Err(HeaderError::TooLarge { len, limit: 10_000 }) if len == bytes.len() - 12
        ));
    }

    #[test]
    fn writer_rejects_overflowing_shapes() {
        let err = write(&header("<f8", false, &[usize::MAX, 2])).unwrap_err();
        assert!(matches!(&err, HeaderError::ShapeOverflow { text } if text.ends_with(", 2)")));
    }

    #[test]
    fn lenient_like_numpy() {
        let expect = header("<f8", false, &[2, 3]);
        let cases: &[&[u8]] = &[
            // No trailing comma, double quotes, key order, whitespace, comments.
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}\n",
            b"{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2, 3), }\n",
            b"{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}",
            b" \t\n\r\x0c{ 'descr' :'<f8'\n,'fortran_order'\t:False , 'shape':( 2 ,3 , ) , }\r\n  ",
            b"# a comment\n{'descr': '<f8', # the dtype\n 'fortran_order': False, 'shape': (2, 3)}",
            b"{u'descr': U\"<f8\", 'fortran_order': False, 'shape': (2, 3)}",
            // The last of duplicate keys wins.
            b"{'descr': 'xx', 'fortran_order': 0, 'shape': (2, 3), 'descr': '<f8', \
              'fortran_order': False}",
            // Integer spellings and parentheses.
            b"{'descr': '<f8', 'fortran_order': False, 'shape': ((2), (+3))}",
            b"{'descr': '<f8', 'fortran_order': False, 'shape': ((0x2, 0b1_1))}",
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (0o2, 3)}",
            b"{'descr': '=f8', 'fortran_order': False, 'shape': (2, 3)}",
            b"{'descr': 'f8', 'fortran_order': False, 'shape': (2, 3)}",
            // Python 2 longs, in versions 1.0 and 2.0.
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3 L), }",
        ];
        for text in cases {
            assert_eq!(parse_ok(&npy((1, 0), text)), expect, "{}", text.escape_ascii());
        }
        let py2 = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L)}";
        assert_eq!(parse_ok(&npy((2, 0), py2)), expect);

        let zero = header("<f8", false, &[0, 10]);
        let text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (-0, 1_0)}";
        assert_eq!(parse_ok(&npy((1, 0), text)), zero);
        let text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (00, 10)}";
        assert_eq!(parse_ok(&npy((1, 0), text)), zero);
        let text = b"{'descr': '<f8', 'fortran_order': False, 'shape': ( )}";
        assert_eq!(parse_ok(&npy((3, 0), text)), header("<f8", false, &[]));
    }

    #[test]
    fn legacy_and_unaligned_files() {
        // numpy/lib/tests/data/python3.npy: NumPy < 1.14 aligned to 16 bytes.
        let legacy = b"\x93NUMPY\x01\x00F\x00{'descr': '<f8', 'fortran_order': False, \
                       'shape': (2,), }            \n";
        let parsed = parse(legacy, DEFAULT_MAX_HEADER_SIZE).unwrap();
        assert_eq!(parsed.data_offset, 80);
        assert_eq!(parsed.header, header("<f8", false, &[2]));
        // win64python2.npy style: Python 2 long in the shape.
        let py2 = npy128("{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }");
        assert_eq!(parse_ok(&py2).shape, [2]);
        // No padding and no newline: data at offset 68, unaligned, as NumPy accepts.
        let bare = npy((1, 0), b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}");
        assert_eq!(parse(&bare, DEFAULT_MAX_HEADER_SIZE).unwrap().data_offset, bare.len());
        // Trailing data after the header (the array, and more) is not looked at.
        let mut with_data = write(&header("|u1", false, &[4])).unwrap();
        with_data.extend_from_slice(b"\x00\x01\x02\x03garbage\x00\xff");
        assert_eq!(parse(&with_data, DEFAULT_MAX_HEADER_SIZE).unwrap().data_offset, 128);
        // Version 3.0 headers are UTF-8, with non-ASCII text allowed in comments.
        let v3 =
            npy((3, 0), "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} # é\n".as_bytes());
        assert_eq!(parse(&v3, DEFAULT_MAX_HEADER_SIZE).unwrap().version, Version::V3_0);
        let v1 = npy((1, 0), b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} # \xe9\n");
        assert_eq!(parse_ok(&v1).shape, [2]);
    }

    #[test]
    fn descrs_are_normalised() {
        let text = |d: &str| npy128(&dict(d, "False", "(2,)"));
        assert_eq!(parse_ok(&text("'<u1'")).descr.to_string(), "|u1");
        assert_eq!(parse_ok(&text("'>b1'")).descr, Descr::BOOL);
        assert_eq!(parse_ok(&text("'|f8'")).descr, Descr::F64);
        let big = parse_ok(&text("'>f2'")).descr;
        assert_eq!((big.kind(), big.size(), big.order()), (Kind::Float, 2, ByteOrder::Big));
    }

    #[test]
    fn bad_magic() {
        let mut file = write(&header("<f8", false, &[2])).unwrap();
        file[5] = b'X';
        assert!(
            matches!(parse_err(&file), HeaderError::BadMagic { found } if found == b"\x93NUMPX")
        );
        assert!(
            matches!(parse_err(b"PK\x03\x04"), HeaderError::BadMagic { found } if found == b"PK\x03\x04")
        );
        assert!(matches!(parse_err(b"x"), HeaderError::BadMagic { .. }));
    }

    #[test]
    fn unsupported_versions() {
        let file = write(&header("<f8", false, &[2])).unwrap();
        for version in [(1, 1), (4, 0), (0, 0), (2, 1), (255, 255)] {
            let mut file = file.clone();
            file[6] = version.0;
            file[7] = version.1;
            assert!(
                matches!(parse_err(&file), HeaderError::UnsupportedVersion { major, minor }
                    if (major, minor) == version),
                "{version:?}"
            );
        }
    }

    #[test]
    fn truncated_says_how_much_is_needed() {
        let file = write(&header("<f8", false, &[2])).unwrap();
        for (len, needed) in
            [(0, 10), (3, 10), (6, 10), (7, 10), (8, 10), (9, 10), (10, 128), (127, 128)]
        {
            let err = parse_err(&file[..len]);
            assert!(
                matches!(err, HeaderError::Truncated { needed: n, available } if n == needed && available == len),
                "{len}: {err:?}"
            );
        }
        let v2 = npy((2, 0), b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}");
        assert!(matches!(
            parse_err(&v2[..11]),
            HeaderError::Truncated { needed: 12, available: 11 }
        ));
        assert!(matches!(
            parse_err(&v2[..40]),
            HeaderError::Truncated { needed, available: 40 } if needed == v2.len()
        ));
    }

    #[test]
    fn header_size_limit_compares_characters_like_numpy() {
        let file = write(&header("<f8", false, &[2, 3])).unwrap();
        assert!(parse(&file, 118).is_ok());
        assert!(matches!(parse(&file, 117), Err(HeaderError::TooLarge { len: 118, limit: 117 })));
        // Rejected from the length field alone, before the caller reads the header.
        assert!(matches!(
            parse(&file[..10], 117),
            Err(HeaderError::TooLarge { len: 118, limit: 117 })
        ));
        // Version 3.0: 62 bytes but 60 characters.
        let v3 =
            npy((3, 0), "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} #éé\n".as_bytes());
        assert_eq!(v3.len(), 12 + 62);
        assert!(parse(&v3, 60).is_ok());
        assert!(matches!(parse(&v3, 59), Err(HeaderError::TooLarge { len: 60, limit: 59 })));
        // Over four bytes per allowed character: rejected without reading the header.
        assert!(matches!(parse(&v3[..12], 15), Err(HeaderError::TooLarge { len: 62, limit: 15 })));
        assert!(matches!(parse(&v3[..12], 16), Err(HeaderError::Truncated { needed: 74, .. })));
    }

    #[test]
    fn not_utf8() {
        let mut text = dict("'<f8'", "False", "(2,)").into_bytes();
        text.extend_from_slice(b" #\xff\n");
        let err = parse_err(&npy((3, 0), &text));
        assert!(matches!(err, HeaderError::NotUtf8 { offset } if offset == 12 + text.len() - 2));
        // The same bytes are fine latin-1 in version 1.0.
        assert!(parse(&npy((1, 0), &text), DEFAULT_MAX_HEADER_SIZE).is_ok());
    }

    #[test]
    fn syntax_errors() {
        let good = dict("'<f8'", "False", "(2,)");
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (format!("{good}\x00\x00\n").into_bytes(), "after the value"),
            (b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,".to_vec(), "end of header"),
            (b"{'descr': '<f8' 'fortran_order': False}".to_vec(), "adjacent"),
            (b"{'descr' '<f8'}".to_vec(), "adjacent"),
            (b"{'descr': '\\x3cf8'}".to_vec(), "escape"),
            (b"{'descr': '''<f8'''}".to_vec(), "triple"),
            (b"{'descr': '<f8}".to_vec(), "unterminated"),
            (b"{'descr': '<f8\n'}".to_vec(), "unterminated"),
            (b"{'fortran_order': false}".to_vec(), "unknown name false"),
            (b"{'shape': (02, 3)}".to_vec(), "invalid number"),
            (b"{'shape': (1__0, 3)}".to_vec(), "invalid number"),
            (b"{'shape': (10_, 3)}".to_vec(), "invalid number"),
            (b"{'shape': (0x, 3)}".to_vec(), "invalid number"),
            (b"{'shape': (--2, 3)}".to_vec(), "number after the sign"),
            (b"{'shape': (-True,)}".to_vec(), "number after the sign"),
            (b"{'shape': (,)}".to_vec(), "expected a value"),
            (b"{'shape': (1,,)}".to_vec(), "expected a value"),
            (b"{'shape' (1,)}".to_vec(), "':' after a dict key"),
            (b"{'shape': (1 2)}".to_vec(), "',' or ')'"),
            (b"\x0b{}".to_vec(), "byte 0x0b"),
            (b"{} # \x00".to_vec(), "NUL"),
            (b"{'a': '\x00'}".to_vec(), "NUL"),
            (b"".to_vec(), "end of header"),
            (b"   ".to_vec(), "end of header"),
            (b"{'shape': (2L, 3)}".to_vec(), "invalid number"), // version 3.0 below
        ];
        for (i, (text, message)) in cases.iter().enumerate() {
            let version = if i + 1 == cases.len() { (3, 0) } else { (1, 0) };
            let err = parse_err(&npy(version, text));
            assert!(
                matches!(&err, HeaderError::Syntax { message: m, offset } if m.contains(message) && *offset >= 10),
                "{}: {err:?}",
                text.escape_ascii()
            );
        }
        // The offset points into the file at the problem.
        let err = parse_err(&npy((1, 0), b"{'shape': (1 2)}"));
        assert!(matches!(err, HeaderError::Syntax { offset: 23, .. }), "{err:?}");
    }

    #[test]
    fn nesting_is_capped_like_python() {
        let nested = |n: usize| {
            let shape = format!("{}(2, 3){}", "(".repeat(n - 1), ")".repeat(n - 1));
            npy((1, 0), dict("'<f8'", "False", &shape).as_bytes())
        };
        // The dict's brace counts: 199 parentheses inside it make 200 levels, Python's limit.
        assert_eq!(parse_ok(&nested(199)).shape, [2, 3]);
        assert!(
            matches!(parse_err(&nested(200)), HeaderError::Syntax { message, .. } if message.contains("nested"))
        );
        // Far deeper than any stack would allow to recurse on, without a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse(&npy((2, 0), deep.as_bytes()), usize::MAX),
            Err(HeaderError::Syntax { .. })
        ));
    }

    #[test]
    fn not_a_dict() {
        for (text, found) in [
            ("[1, 2]", "a list"),
            ("(1, 2)", "a tuple"),
            ("'x'", "a string"),
            ("3", "an integer"),
            ("-1.5e3", "a number"),
            ("None", "None"),
            ("True", "a bool"),
            ("({})", "a dict"), // parenthesised, still a dict: no error expected
        ] {
            let result = parse(&npy((1, 0), text.as_bytes()), DEFAULT_MAX_HEADER_SIZE);
            if found == "a dict" {
                assert!(matches!(result, Err(HeaderError::Keys { found }) if found.is_empty()));
            } else {
                assert!(
                    matches!(&result, Err(HeaderError::NotADict { found: f }) if *f == found),
                    "{text}: {result:?}"
                );
            }
        }
    }

    #[test]
    fn wrong_keys() {
        let keys = |text: &str| match parse_err(&npy((1, 0), text.as_bytes())) {
            HeaderError::Keys { found } => found,
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(keys("{'descr': '<f8', 'shape': (2,)}"), ["descr", "shape"]);
        assert_eq!(
            keys("{'shape': (2,), 'extra': 1, 'descr': '<f8', 'fortran_order': False}"),
            ["descr", "extra", "fortran_order", "shape"]
        );
        assert_eq!(
            keys("{'descr': '<f8', 'fortran_order': False, 1: (2,)}"),
            ["1", "descr", "fortran_order"]
        );
        assert_eq!(keys("{'shape': 1, 'shape': 2}"), ["shape"]);
        assert!(keys("{}").is_empty());
    }

    #[test]
    fn invalid_shapes() {
        for shape in [
            "[2, 3]",
            "2",
            "(2.0, 3)",
            "(-1, 3)",
            "(True, 3)",
            "('2', 3)",
            "None",
            "(1j,)",
            "((2,),)",
        ] {
            let err = parse_err(&npy128(&dict("'<f8'", "False", shape)));
            assert!(
                matches!(&err, HeaderError::Shape { text } if text == shape),
                "{shape}: {err:?}"
            );
        }
        // The order of checks is NumPy's: shape before fortran_order and descr.
        let err = parse_err(&npy128(&dict("'xx'", "0", "[2]")));
        assert!(matches!(err, HeaderError::Shape { .. }));
    }

    #[test]
    fn shape_overflow() {
        for shape in [
            "(100000000000000000000, 1)",
            "(340282366920938463463374607431768211456,)", // 2**128
            "(9223372036854775807, 2)",
            "(4611686018427387904, 4611686018427387904, 0)",
        ] {
            let err = parse_err(&npy128(&dict("'|u1'", "False", shape)));
            assert!(
                matches!(&err, HeaderError::ShapeOverflow { text } if text == shape),
                "{shape}: {err:?}"
            );
        }
        // Exactly isize::MAX bytes is fine, one more element size is not.
        let max = isize::MAX.to_string();
        assert!(parse(&npy128(&dict("'|u1'", "False", &format!("({max},)"))), 10_000).is_ok());
        let err = parse_err(&npy128(&dict("'<u2'", "False", &format!("({max},)"))));
        assert!(matches!(err, HeaderError::ShapeOverflow { .. }));
    }

    #[test]
    fn invalid_fortran_order() {
        for value in ["0", "1", "'False'", "None", "(False,)"] {
            let err = parse_err(&npy128(&dict("'<f8'", value, "(2,)")));
            assert!(
                matches!(&err, HeaderError::FortranOrder { text } if text == value),
                "{value}: {err:?}"
            );
        }
    }

    #[test]
    fn invalid_and_unsupported_descrs() {
        for (descr, text) in [
            ("'xx'", "xx"),
            ("'<i3'", "<i3"),
            ("8", "8"),
            ("None", "None"),
            ("'float64'", "float64"),
        ] {
            let err = parse_err(&npy128(&dict(descr, "False", "(2,)")));
            assert!(
                matches!(&err, HeaderError::Descr { text: t } if t == text),
                "{descr}: {err:?}"
            );
        }
        for (descr, text) in [
            ("'<f16'", "<f16"),
            ("'|O'", "|O"),
            ("'<U3'", "<U3"),
            ("[('a', '<i4'), ('b', '>f8')]", "[('a', '<i4'), ('b', '>f8')]"),
            ("('<i4', (2,))", "('<i4', (2,))"),
        ] {
            let err = parse_err(&npy128(&dict(descr, "False", "(2,)")));
            assert!(
                matches!(&err, HeaderError::UnsupportedDtype { descr: d, .. } if d == text),
                "{descr}: {err:?}"
            );
        }
    }

    #[test]
    fn long_quotes_are_cut() {
        let shape = format!("[{}]", "1, ".repeat(500));
        let err = parse_err(&npy((1, 0), dict("'<f8'", "False", &shape).as_bytes()));
        let HeaderError::Shape { text } = err else { panic!("{err:?}") };
        assert_eq!(text.chars().count(), MAX_QUOTE + 3);
        assert!(text.ends_with("..."));
    }

    #[test]
    fn rewrite_shape_grows_like_np_save() {
        for (fortran, old, new) in [
            (false, vec![0, 3], vec![12_345_678_901, 3]),
            (false, vec![5], vec![usize::try_from(isize::MAX).unwrap()]),
            (true, vec![3, 4, 0], vec![3, 4, 1_000_000]),
            (false, vec![2, 3], vec![2, 4]),
            (false, vec![2, 3], vec![]),
        ] {
            let mut file = write(&header("|u1", fortran, &old)).unwrap();
            file.extend_from_slice(b"data");
            rewrite_shape(&mut file, &new).unwrap();
            let expected = write(&header("|u1", fortran, &new)).unwrap();
            assert_eq!(&file[..expected.len()], expected, "{old:?} -> {new:?}");
            assert_eq!(&file[expected.len()..], b"data");
        }
    }

    #[test]
    fn rewrite_shape_pads_when_np_save_would_not_fit() {
        // np.save would write a 192-byte header for the new shape; it still fits in 128.
        let old = header("|u1", false, &[1; 8]);
        let new = [1, 10_usize.pow(9), 10_usize.pow(9), 1, 1, 1, 1, 1, 9];
        assert_eq!(write(&old).unwrap().len(), 128);
        assert_eq!(write(&header("|u1", false, &new)).unwrap().len(), 192);
        let mut file = write(&old).unwrap();
        rewrite_shape(&mut file, &new).unwrap();
        let parsed = parse(&file, DEFAULT_MAX_HEADER_SIZE).unwrap();
        assert_eq!((parsed.data_offset, parsed.header.shape.as_slice()), (128, &new[..]));

        // Legacy 16-byte-aligned file: keeps its 80-byte header and version.
        let mut legacy = b"\x93NUMPY\x01\x00F\x00{'descr': '<f8', 'fortran_order': False, \
                       'shape': (2,), }            \n"
            .to_vec();
        rewrite_shape(&mut legacy, &[1000]).unwrap();
        let parsed = parse(&legacy, DEFAULT_MAX_HEADER_SIZE).unwrap();
        assert_eq!((parsed.data_offset, parsed.header.shape.as_slice()), (80, &[1000][..]));

        // A version 2.0 header stays version 2.0.
        let mut v2 =
            npy((2, 0), b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}          \n");
        rewrite_shape(&mut v2, &[3, 4]).unwrap();
        let parsed = parse(&v2, DEFAULT_MAX_HEADER_SIZE).unwrap();
        assert_eq!((parsed.version, parsed.header.shape.as_slice()), (Version::V2_0, &[3, 4][..]));
    }

    #[test]
    fn rewrite_shape_refuses_what_does_not_fit() {
        let mut file = write(&header("<f8", false, &[2, 3])).unwrap();
        let before = file.clone();
        let err = rewrite_shape(&mut file, &[2; 30]).unwrap_err();
        assert!(
            matches!(err, HeaderError::ShapeDoesNotFit { needed, available: 128 } if needed > 128)
        );
        let err = rewrite_shape(&mut file, &[usize::MAX, 2]).unwrap_err();
        assert!(matches!(err, HeaderError::ShapeOverflow { .. }));
        let err = rewrite_shape(&mut file[..100], &[3]).unwrap_err();
        assert!(matches!(err, HeaderError::Truncated { needed: 128, available: 100 }));
        assert_eq!(file, before);
    }

    #[test]
    fn error_is_send_sync_static_and_messages_are_lowercase() {
        fn assert_traits<E: std::error::Error + Send + Sync + 'static>() {}
        assert_traits::<HeaderError>();
        let errors = [
            HeaderError::BadMagic { found: b"PK\x03\x04".to_vec() },
            HeaderError::UnsupportedVersion { major: 1, minor: 1 },
            HeaderError::Truncated { needed: 128, available: 7 },
            HeaderError::TooLarge { len: 10_060, limit: 10_000 },
            HeaderError::NotUtf8 { offset: 40 },
            HeaderError::Syntax { offset: 20, message: "unexpected ')'".into() },
            HeaderError::NotADict { found: "a list" },
            HeaderError::Keys { found: vec!["descr".into(), "shape".into()] },
            HeaderError::Shape { text: "[2, 3]".into() },
            HeaderError::ShapeOverflow { text: "(100000000000000000000,)".into() },
            HeaderError::FortranOrder { text: "0".into() },
            HeaderError::Descr { text: "xx".into() },
            HeaderError::UnsupportedDtype { descr: "|O".into(), reason: "objects" },
            HeaderError::ShapeDoesNotFit { needed: 130, available: 128 },
        ];
        for err in errors {
            let message = err.to_string();
            let first = message.chars().next().unwrap();
            assert!(!first.is_uppercase() && !message.ends_with('.'), "{message}");
        }
        assert_eq!(
            HeaderError::BadMagic { found: b"\x93NUMPX".to_vec() }.to_string(),
            r#"not a .npy file: it starts with b"\x93NUMPX", not b"\x93NUMPY""#
        );
        assert_eq!(
            HeaderError::Keys { found: vec!["descr".into(), "shape".into()] }.to_string(),
            ".npy header has keys [descr, shape], expected [descr, fortran_order, shape]"
        );
    }

    /// A random header from quickcheck's values: any supported descr in either byte order, any
    /// order, up to 8 axes spread over every digit count.
    fn arbitrary_header(dims: &[u64], fortran_order: bool, descr: u8) -> Header {
        let all = Descr::ALL_NATIVE;
        let native = all[usize::from(descr) % all.len()];
        let order = if descr >= 128 { ByteOrder::Big } else { ByteOrder::Little };
        let descr = Descr::new(native.kind(), native.size(), order).unwrap();
        let shape = dims
            .iter()
            .take(8)
            .map(|&d| usize::try_from(d >> (d % 64)).unwrap_or(usize::MAX))
            .collect();
        Header { descr, fortran_order, shape }
    }

    #[test]
    fn prop_parse_inverts_write() {
        fn prop(dims: Vec<u64>, fortran_order: bool, descr: u8) -> bool {
            let h = arbitrary_header(&dims, fortran_order, descr);
            match write(&h) {
                Ok(bytes) => {
                    let parsed = parse(&bytes, usize::MAX).unwrap();
                    bytes.len() % 64 == 0
                        && parsed.data_offset == bytes.len()
                        && parsed.version == Version::V1_0
                        && parsed.header == h
                }
                Err(HeaderError::ShapeOverflow { .. }) => h.data_len().is_none(),
                Err(_) => false,
            }
        }
        QuickCheck::new().tests(2000).quickcheck(prop as fn(Vec<u64>, bool, u8) -> bool);
    }

    #[test]
    fn prop_rewrite_growth_axis_equals_write() {
        fn prop(dims: Vec<u64>, fortran_order: bool, descr: u8, grown: u64) -> TestResult {
            let old = arbitrary_header(&dims, fortran_order, descr);
            let mut new = old.clone();
            let axis = if fortran_order { new.shape.last_mut() } else { new.shape.first_mut() };
            let Some(axis) = axis else { return TestResult::discard() };
            *axis = usize::try_from(grown >> (grown % 64)).unwrap_or(usize::MAX);
            let (Ok(mut bytes), Ok(expected)) = (write(&old), write(&new)) else {
                return TestResult::discard();
            };
            TestResult::from_bool(
                rewrite_shape(&mut bytes, &new.shape).is_ok() && bytes == expected,
            )
        }
        QuickCheck::new().tests(2000).quickcheck(prop as fn(Vec<u64>, bool, u8, u64) -> TestResult);
    }

    #[test]
    fn prop_parse_never_panics_on_random_bytes() {
        fn prop(bytes: Vec<u8>, prefix: u8) -> bool {
            // Most random bytes fail at the magic; give the parser real work too.
            let mut file = match prefix % 3 {
                0 => Vec::new(),
                1 => npy((1, 0), &[]),
                _ => npy((3, 0), &[]),
            };
            file.extend_from_slice(&bytes);
            if !prefix.is_multiple_of(3) {
                let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_le_bytes();
                file[8..10].copy_from_slice(&len);
            }
            let result = parse(&file, usize::MAX);
            result.is_err() || result.is_ok_and(|p| p.data_offset <= file.len())
        }
        QuickCheck::new().tests(5000).quickcheck(prop as fn(Vec<u8>, u8) -> bool);
    }

    #[test]
    fn prop_parse_never_panics_on_token_soup() {
        const TOKENS: [&str; 32] = [
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            ",",
            ":",
            "'",
            "\"",
            "'descr'",
            "'shape'",
            "'fortran_order'",
            "True",
            "False",
            "None",
            "0",
            "17",
            "-",
            "+",
            "L",
            "2L",
            "e",
            "1e-",
            ".",
            "_",
            "0x",
            "#",
            "\n",
            " ",
            "'<f8'",
            "u",
        ];
        fn prop(picks: Vec<u8>, version: bool) -> bool {
            let text: String =
                picks.iter().map(|&p| TOKENS[usize::from(p) % TOKENS.len()]).collect();
            let file = npy(if version { (1, 0) } else { (3, 0) }, text.as_bytes());
            let _ = parse(&file, usize::MAX);
            true
        }
        QuickCheck::new().tests(5000).quickcheck(prop as fn(Vec<u8>, bool) -> bool);
    }

    #[test]
    fn prop_parse_never_panics_on_mutated_headers() {
        fn prop(
            dims: Vec<u64>,
            fortran_order: bool,
            descr: u8,
            edits: Vec<(u8, u8)>,
            cut: u8,
        ) -> bool {
            let Ok(mut bytes) = write(&arbitrary_header(&dims, fortran_order, descr)) else {
                return true;
            };
            let len = bytes.len();
            for (at, byte) in edits {
                bytes[usize::from(at) % len] = byte;
            }
            bytes.truncate(len - usize::from(cut) % 4 * usize::from(cut % 2));
            let _ = parse(&bytes, usize::MAX);
            let mut copy = bytes.clone();
            let _ = rewrite_shape(&mut copy, &[1, 2, 3]);
            true
        }
        QuickCheck::new()
            .tests(5000)
            .quickcheck(prop as fn(Vec<u64>, bool, u8, Vec<(u8, u8)>, u8) -> bool);
    }

    /// The Python that runs `tests/npy_py/golden_headers.py`: `NDMMAP_PYTHON`, else the
    /// crate's `.venv`, else none (the NumPy tests are then skipped).
    fn python() -> Option<PathBuf> {
        if let Some(python) = std::env::var_os("NDMMAP_PYTHON") {
            return Some(python.into());
        }
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv");
        [venv.join("bin/python"), venv.join("Scripts/python.exe")].into_iter().find(|p| p.exists())
    }

    /// The script's output for `mode`, or `None` (with a message) if there is no Python.
    /// Panics if the script fails: with `NDMMAP_PYTHON` set (CI), a failure must fail the test.
    fn numpy_says(mode: &str) -> Option<String> {
        let Some(python) = python() else {
            eprintln!(
                "skipped: set NDMMAP_PYTHON or create .venv with numpy to compare with NumPy"
            );
            return None;
        };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/npy_py/golden_headers.py");
        let output = Command::new(&python)
            .arg(&script)
            .arg(mode)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        assert!(
            output.status.success(),
            "{} {} {mode} failed:\n{}",
            python.display(),
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        Some(String::from_utf8(output.stdout).unwrap())
    }

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }

    fn shape_field(field: &str) -> Vec<u128> {
        field.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn numpy_writes_what_we_write() {
        let Some(lines) = numpy_says("write") else { return };
        let mut count = 0;
        for line in lines.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let ["W", descr, order, shape, hex] = fields[..] else { panic!("bad line {line}") };
            let numpy = unhex(hex);
            let Ok(shape) = shape_field(shape).into_iter().map(usize::try_from).collect() else {
                continue; // Only on targets with a narrower usize.
            };
            let h =
                Header { descr: Descr::parse(descr).unwrap(), fortran_order: order == "F", shape };
            assert_eq!(encode(&h).as_deref(), Some(&numpy[..]), "{line}");
            if h.data_len().is_some() {
                assert_eq!(write(&h).unwrap(), numpy, "{line}");
                let parsed = parse(&numpy, usize::MAX).unwrap();
                assert_eq!((parsed.header, parsed.data_offset), (h, numpy.len()), "{line}");
            } else {
                assert!(matches!(write(&h), Err(HeaderError::ShapeOverflow { .. })), "{line}");
            }
            count += 1;
        }
        assert!(count > 600, "only {count} cases");
    }

    /// Cases where ndmmap deliberately rejects what NumPy's reader accepts, and how.
    fn deviation(name: &str) -> Option<fn(&HeaderError) -> bool> {
        Some(match name {
            "shape huge" => |e| matches!(e, HeaderError::ShapeOverflow { .. }),
            "descr '<f16'"
            | "descr '<c32'"
            | "descr '|S7'"
            | "descr '<U3'"
            | "descr '|V12'"
            | "descr '<M8[ns]'"
            | "descr '<m8[s]'"
            | "descr [('a', '<i4'), ('b', '>f8')]" => {
                |e| matches!(e, HeaderError::UnsupportedDtype { .. })
            }
            "descr '?'" | "descr 'float64'" | "descr '<f+8'" => {
                |e| matches!(e, HeaderError::Descr { .. })
            }
            r"descr '\x3cf8'" | "descr '<' 'f8'" => |e| matches!(e, HeaderError::Syntax { .. }),
            _ => return None,
        })
    }

    #[test]
    fn numpy_accepts_what_we_accept() {
        let Some(lines) = numpy_says("read") else { return };
        let mut count = 0;
        for line in lines.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let ["R", name, limit, hex, verdict, rest @ ..] = &fields[..] else {
                panic!("bad line {line}")
            };
            let ours = parse(&unhex(hex), limit.parse().unwrap());
            match (deviation(name), *verdict, rest, &ours) {
                (Some(expected), "OK", _, Err(e)) => assert!(expected(e), "{name}: {e:?}"),
                (Some(_), _, _, _) => panic!("{name}: NumPy says {verdict}, we say {ours:?}"),
                (None, "OK", [descr, order, shape], Ok(parsed)) => {
                    let h = &parsed.header;
                    assert_eq!(h.descr.to_string(), *descr, "{name}");
                    assert_eq!(h.fortran_order, *order == "F", "{name}");
                    let dims: Vec<u128> = h.shape.iter().map(|&d| d as u128).collect();
                    assert_eq!(dims, shape_field(shape), "{name}");
                }
                (None, "ERR", _, Err(_)) => {}
                _ => panic!("{name}: NumPy says {}, we say {ours:?}", rest.join(" ")),
            }
            count += 1;
        }
        assert!(count > 90, "only {count} cases");
    }
}
