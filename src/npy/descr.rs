//! NumPy dtype descriptor strings (`'<f8'`, `'|u1'`, ...) and the element types they name.
//!
//! A `.npy` header stores the dtype as `descr`, which for the simple dtypes ndmmap maps is the
//! dtype's `str`: a byte-order character, a kind character and the item size in bytes. This
//! module parses those strings into a validated [`Descr`] and renders them back exactly as
//! `np.save` writes them.

use std::fmt;

use crate::error::HeaderError;

/// The byte order of a multi-byte element, as the first character of a descr states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ByteOrder {
    /// Least significant byte first (`'<'`).
    Little,
    /// Most significant byte first (`'>'`).
    Big,
    /// Single-byte elements, which have no byte order (`'|'`).
    NotApplicable,
}

impl ByteOrder {
    /// The byte order of the target: what `'='`, `'|'` and a missing order character mean for a
    /// multi-byte element.
    pub(crate) const NATIVE: ByteOrder =
        if cfg!(target_endian = "big") { ByteOrder::Big } else { ByteOrder::Little };

    /// The character NumPy writes for this byte order in `dtype.str`.
    #[must_use]
    pub(crate) const fn as_char(self) -> char {
        match self {
            ByteOrder::Little => '<',
            ByteOrder::Big => '>',
            ByteOrder::NotApplicable => '|',
        }
    }
}

/// The kind of an element, as the second character of a descr states it.
///
/// Only the kinds ndmmap can map are listed; strings, objects, datetimes and structured dtypes
/// are rejected by [`Descr::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// `'b'`: `bool`, one byte.
    Bool,
    /// `'i'`: signed integers.
    Int,
    /// `'u'`: unsigned integers.
    Uint,
    /// `'f'`: IEEE 754 floats (half, single, double).
    Float,
    /// `'c'`: complex numbers, a pair of floats (real, imaginary).
    Complex,
    /// `'V'`: a record of a structured dtype, `size` bytes whose fields
    /// [`RecordLayout`](super::record::RecordLayout) describes. Never parsed from a string.
    Void,
}

impl Kind {
    /// The character NumPy uses for this kind (`dtype.kind`).
    #[must_use]
    pub(crate) const fn as_char(self) -> char {
        match self {
            Kind::Bool => 'b',
            Kind::Int => 'i',
            Kind::Uint => 'u',
            Kind::Float => 'f',
            Kind::Complex => 'c',
            Kind::Void => 'V',
        }
    }

    /// Whether ndmmap supports elements of this kind that are `size` bytes long.
    const fn supports(self, size: usize) -> bool {
        match self {
            Kind::Bool => size == 1,
            Kind::Int | Kind::Uint => matches!(size, 1 | 2 | 4 | 8),
            // f16 (`half::f16`), f32, f64. Long double ('f12'/'f16') is platform-specific.
            Kind::Float => matches!(size, 2 | 4 | 8),
            // Complex<f32>, Complex<f64>.
            Kind::Complex => matches!(size, 8 | 16),
            Kind::Void => size > 0,
        }
    }
}

/// A validated dtype descriptor of a simple (non-structured) dtype ndmmap can map.
///
/// It can only hold supported kind/size pairs, and single-byte elements always have
/// [`ByteOrder::NotApplicable`], so two `Descr`s are equal exactly when NumPy's `dtype.str` of
/// them is equal. [`Display`](fmt::Display) renders that `dtype.str`, which is what `np.save`
/// writes as `descr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Descr {
    kind: Kind,
    size: usize,
    order: ByteOrder,
}

#[cfg_attr(
    not(test),
    allow(dead_code, reason = "the per-type constants document the table and serve the tests")
)]
impl Descr {
    /// `bool`: `'|b1'`.
    pub(crate) const BOOL: Descr = Descr::table_entry(Kind::Bool, 1);
    /// `i8`: `'|i1'`.
    pub(crate) const I8: Descr = Descr::table_entry(Kind::Int, 1);
    /// `i16`: `'<i2'` on little-endian targets.
    pub(crate) const I16: Descr = Descr::table_entry(Kind::Int, 2);
    /// `i32`: `'<i4'` on little-endian targets.
    pub(crate) const I32: Descr = Descr::table_entry(Kind::Int, 4);
    /// `i64`: `'<i8'` on little-endian targets.
    pub(crate) const I64: Descr = Descr::table_entry(Kind::Int, 8);
    /// `u8`: `'|u1'`.
    pub(crate) const U8: Descr = Descr::table_entry(Kind::Uint, 1);
    /// `u16`: `'<u2'` on little-endian targets.
    pub(crate) const U16: Descr = Descr::table_entry(Kind::Uint, 2);
    /// `u32`: `'<u4'` on little-endian targets.
    pub(crate) const U32: Descr = Descr::table_entry(Kind::Uint, 4);
    /// `u64`: `'<u8'` on little-endian targets.
    pub(crate) const U64: Descr = Descr::table_entry(Kind::Uint, 8);
    /// `half::f16`: `'<f2'` on little-endian targets.
    pub(crate) const F16: Descr = Descr::table_entry(Kind::Float, 2);
    /// `f32`: `'<f4'` on little-endian targets.
    pub(crate) const F32: Descr = Descr::table_entry(Kind::Float, 4);
    /// `f64`: `'<f8'` on little-endian targets.
    pub(crate) const F64: Descr = Descr::table_entry(Kind::Float, 8);
    /// `num_complex::Complex<f32>` (NumPy's `complex64`): `'<c8'` on little-endian targets.
    pub(crate) const COMPLEX_F32: Descr = Descr::table_entry(Kind::Complex, 8);
    /// `num_complex::Complex<f64>` (NumPy's `complex128`): `'<c16'` on little-endian targets.
    pub(crate) const COMPLEX_F64: Descr = Descr::table_entry(Kind::Complex, 16);

    /// Every supported descr in native byte order, for tests and tables.
    #[cfg(test)]
    pub(crate) const ALL_NATIVE: [Descr; 14] = [
        Descr::BOOL,
        Descr::I8,
        Descr::I16,
        Descr::I32,
        Descr::I64,
        Descr::U8,
        Descr::U16,
        Descr::U32,
        Descr::U64,
        Descr::F16,
        Descr::F32,
        Descr::F64,
        Descr::COMPLEX_F32,
        Descr::COMPLEX_F64,
    ];

    /// The descr of `kind` and `size` in `order`, or `None` if ndmmap does not support that
    /// kind/size pair.
    ///
    /// For single-byte elements `order` is ignored and [`ByteOrder::NotApplicable`] stored, as
    /// NumPy does (`np.dtype('<u1').str == '|u1'`). For multi-byte elements
    /// [`ByteOrder::NotApplicable`] means native, as `'|'` does for NumPy
    /// (`np.dtype('|f8').str == '<f8'`).
    #[must_use]
    pub(crate) const fn new(kind: Kind, size: usize, order: ByteOrder) -> Option<Descr> {
        if !kind.supports(size) {
            return None;
        }
        let order = match (size, order) {
            (1, _) => ByteOrder::NotApplicable,
            _ if matches!(kind, Kind::Void) => ByteOrder::NotApplicable,
            (_, ByteOrder::NotApplicable) => ByteOrder::NATIVE,
            (_, order) => order,
        };
        Some(Descr { kind, size, order })
    }

    /// The descr of `kind` and `size` in the target's byte order, or `None` if ndmmap does not
    /// support that kind/size pair.
    ///
    /// `Descr::native(kind, size)?.to_string()` is the `descr` `np.save` writes for an array of
    /// that element type on this machine.
    #[must_use]
    pub(crate) const fn native(kind: Kind, size: usize) -> Option<Descr> {
        Descr::new(kind, size, ByteOrder::NATIVE)
    }

    /// [`Descr::native`] for the constant table, where every pair is known to be supported.
    const fn table_entry(kind: Kind, size: usize) -> Descr {
        match Descr::native(kind, size) {
            Some(descr) => descr,
            // Unreachable for the pairs above; a compile-time constant, so no run-time panic.
            None => Descr { kind: Kind::Bool, size: 1, order: ByteOrder::NotApplicable },
        }
    }

    /// Parses a descr string as NumPy's reader would, keeping only what ndmmap can map.
    ///
    /// Accepts `[order]kind size`, where `order` is one of `<`, `>`, `=` (native), `|` (native
    /// for multi-byte elements) or absent (native), `kind` is one of `b i u f c`, and `size` is
    /// decimal digits (`'<i08'` is `'<i8'`, as for NumPy).
    ///
    /// # Errors
    ///
    /// - [`HeaderError::UnsupportedDtype`] for descrs NumPy understands but ndmmap cannot map:
    ///   long double, strings, void, objects, datetimes.
    /// - [`HeaderError::Descr`] for anything else, including NumPy's aliases (`'float64'`,
    ///   `'d'`, `'?'`), which `np.save` never writes.
    pub(crate) fn parse(text: &str) -> Result<Descr, HeaderError> {
        let invalid = || HeaderError::Descr { text: text.to_owned() };
        let unsupported = |reason| HeaderError::UnsupportedDtype { descr: text.to_owned(), reason };

        let (order, rest) = match text.as_bytes().first() {
            Some(b'<') => (ByteOrder::Little, &text[1..]),
            Some(b'>') => (ByteOrder::Big, &text[1..]),
            Some(b'=' | b'|') => (ByteOrder::NATIVE, &text[1..]),
            _ => (ByteOrder::NATIVE, text),
        };
        let mut chars = rest.chars();
        let kind_char = chars.next().ok_or_else(invalid)?;
        let size_text = chars.as_str();
        // Checked before the size, because their sizes have other forms ('<M8[ns]', '|O').
        match kind_char {
            'S' | 'a' => return Err(unsupported("byte strings are not supported")),
            'U' => return Err(unsupported("unicode strings are not supported")),
            'V' => return Err(unsupported("void and structured dtypes are not supported")),
            'O' => return Err(unsupported("object arrays hold pickled data and cannot be mapped")),
            'M' | 'm' => return Err(unsupported("datetime and timedelta are not supported")),
            _ => {}
        }
        // Digits only: `usize::from_str` would also take a leading '+'.
        if size_text.is_empty() || !size_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let size: usize = size_text.parse().map_err(|_| invalid())?;
        let kind = match kind_char {
            'b' => Kind::Bool,
            'i' => Kind::Int,
            'u' => Kind::Uint,
            'f' => Kind::Float,
            'c' => Kind::Complex,
            _ => return Err(invalid()),
        };
        match (kind, size) {
            (Kind::Float, 12 | 16) | (Kind::Complex, 24 | 32) => {
                Err(unsupported("long double is platform-specific and not supported"))
            }
            _ => Descr::new(kind, size, order).ok_or_else(invalid),
        }
    }

    /// The element kind.
    #[must_use]
    pub(crate) const fn kind(self) -> Kind {
        self.kind
    }

    /// The element size in bytes (NumPy's `itemsize`).
    #[must_use]
    pub(crate) const fn size(self) -> usize {
        self.size
    }

    /// The byte order; [`ByteOrder::NotApplicable`] exactly for single-byte elements.
    #[must_use]
    pub(crate) const fn order(self) -> ByteOrder {
        self.order
    }

    /// Whether elements are stored in the target's byte order, so they can be viewed in place.
    #[must_use]
    pub(crate) const fn is_native(self) -> bool {
        matches!(
            (self.order, ByteOrder::NATIVE),
            (ByteOrder::NotApplicable, _)
                | (ByteOrder::Little, ByteOrder::Little)
                | (ByteOrder::Big, ByteOrder::Big)
        )
    }
}

impl fmt::Display for Descr {
    /// Writes NumPy's `dtype.str`, e.g. `<f8`, `|u1`, `>c16` (without quotes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.order.as_char(), self.kind.as_char(), self.size)
    }
}

#[cfg(test)]
mod tests;
