//! [`NpyElement`]: the element types that have a `.npy` dtype.

use super::descr::{ByteOrder, Descr, Kind};
use super::record::RecordLayout;
use crate::error::HeaderError;

/// The seal, and what the `.npy` code needs to know about an element type.
pub(crate) mod sealed {
    /// Implemented only by ndmmap, for the types listed under
    /// [`NpyElement`](super::NpyElement).
    pub trait Element: bytemuck::NoUninit + Send + Sync + 'static {
        /// NumPy's kind character: `b`, `i`, `u`, `f` or `c`.
        const KIND: char;
        /// Bytes in each scalar that a byte-order swap reverses: the element size, or half
        /// of it for complex numbers (two floats).
        const SWAP_UNIT: usize;
        /// Converts native-order bytes (a whole number of elements) into elements, or
        /// `None` if some bytes are not a valid element (a `bool` other than 0 or 1).
        fn decode(bytes: &[u8]) -> Option<Vec<Self>>;
        /// The fields of a structured dtype ([`NpyRecord`](crate::npy::NpyRecord)s), or
        /// `None` for the plain ones.
        fn record_layout() -> Option<crate::npy::RecordLayout> {
            None
        }
    }
}

/// An element type with a `.npy` dtype: the integers `i8`..`i64` and `u8`..`u64`, `f32`,
/// `f64`, `Complex<f32>` and `Complex<f64>` (NumPy's `complex64`, `complex128`), `bool`
/// (`bool` is not `Pod`: read and written through checked copies, and mapped by
/// [`map_bool`](crate::npy::map_bool) after a check of every byte, or as `u8`), and with
/// the `half` feature `half::f16` (`float16`) and `half::bf16`.
///
/// NumPy has no `bfloat16`: ndmmap writes `bf16` arrays with the dtype `'<u2'` (the raw
/// bits), which NumPy loads as `uint16` and `ml_dtypes` users view with
/// `.view(ml_dtypes.bfloat16)`; it maps `'<u2'` files as `bf16` too.
///
/// Structs declared with [`npy_record!`](crate::npy_record) are `NpyElement`s too, of a
/// structured dtype (NumPy's record arrays); see [`NpyRecord`](crate::npy::NpyRecord).
///
/// This trait is sealed: ndmmap implements it, for the types above and for every
/// [`NpyRecord`](crate::npy::NpyRecord). `NpyRecord` is a safe trait that anyone may
/// implement (by hand, too), so a record's layout is not trusted: every path checks it,
/// and a record type of zero bytes, or whose layout states another itemsize than its
/// size, is an error there (a dtype mismatch against a file, an unsupported dtype when
/// saved or created), never a fallback to another dtype.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npy::NpyElement;
///
/// fn save_all<A: NpyElement>(a: &Array1<A>, path: &std::path::Path) -> Result<(), ndmmap::Error> {
///     a.save_npy(path)
/// }
/// let dir = tempfile::tempdir()?;
/// save_all(&array![1u16, 2, 3], &dir.path().join("a.npy"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait NpyElement: sealed::Element {}

/// `A`'s dtype as a `.npy` header states it: its descr and, for a record, its fields.
///
/// The one check of a record type, which every path makes (map, read, save, create, the
/// `.npz` members): [`NpyRecord`](super::NpyRecord) is a safe trait anyone may implement,
/// so its layout is checked rather than trusted. A record of zero bytes
/// (`npy_record!(struct Z {})`) has no element ndmmap can map or count, and a layout whose
/// itemsize is not the type's size describes other bytes than the type's: both are
/// [`HeaderError::UnsupportedDtype`].
pub(crate) fn dtype<A: NpyElement>() -> Result<(Descr, Option<RecordLayout>), HeaderError> {
    let record = A::record_layout();
    if let Some(layout) = &record {
        let reason = if size_of::<A>() == 0 {
            Some("a record type of zero bytes has no elements to map or save")
        } else if layout.itemsize() != size_of::<A>() {
            Some("the record type's layout states another itemsize than the type's size")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(HeaderError::UnsupportedDtype { descr: layout.to_string(), reason });
        }
    }
    Ok((native_descr::<A>(), record))
}

/// The descr `np.save` writes for `A` on this machine (for a record type, see [`dtype`],
/// which checks it).
pub(crate) fn native_descr<A: NpyElement>() -> Descr {
    let kind = match A::KIND {
        'b' => Kind::Bool,
        'i' => Kind::Int,
        'u' => Kind::Uint,
        'c' => Kind::Complex,
        'V' => Kind::Void,
        _ => Kind::Float,
    };
    // Every implementor is a supported kind/size pair (checked by a unit test).
    Descr::native(kind, size_of::<A>()).unwrap_or(Descr::BOOL)
}

/// Whether a file's descr holds `A`'s, in either byte order: never for a record type that
/// [`dtype`] refuses.
pub(crate) fn same_type<A: NpyElement>(descr: Descr) -> bool {
    let Ok((native, _)) = dtype::<A>() else {
        return false;
    };
    descr.kind() == native.kind() && descr.size() == native.size()
}

/// Whether `descr`'s byte order is this machine's.
pub(crate) fn is_native(descr: Descr) -> bool {
    descr.order() == ByteOrder::NATIVE || descr.order() == ByteOrder::NotApplicable
}

macro_rules! pod_element {
    ($($ty:ty => $kind:literal, $unit:expr;)*) => {$(
        impl sealed::Element for $ty {
            const KIND: char = $kind;
            const SWAP_UNIT: usize = $unit;
            fn decode(bytes: &[u8]) -> Option<Vec<Self>> {
                Some(bytemuck::pod_collect_to_vec(bytes))
            }
        }
        impl NpyElement for $ty {}
    )*};
}

pod_element! {
    i8 => 'i', 1;
    i16 => 'i', 2;
    i32 => 'i', 4;
    i64 => 'i', 8;
    u8 => 'u', 1;
    u16 => 'u', 2;
    u32 => 'u', 4;
    u64 => 'u', 8;
    f32 => 'f', 4;
    f64 => 'f', 8;
    num_complex::Complex<f32> => 'c', 4;
    num_complex::Complex<f64> => 'c', 8;
}

#[cfg(feature = "half")]
pod_element! {
    half::f16 => 'f', 2;
    half::bf16 => 'u', 2;
}

impl sealed::Element for bool {
    const KIND: char = 'b';
    const SWAP_UNIT: usize = 1;
    fn decode(bytes: &[u8]) -> Option<Vec<Self>> {
        bytes
            .iter()
            .map(|&b| match b {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            })
            .collect()
    }
}
impl NpyElement for bool {}

impl<R: super::record::NpyRecord> sealed::Element for R {
    const KIND: char = 'V';
    const SWAP_UNIT: usize = 1;
    fn decode(bytes: &[u8]) -> Option<Vec<Self>> {
        Some(bytemuck::pod_collect_to_vec(bytes))
    }
    fn record_layout() -> Option<super::record::RecordLayout> {
        Some(R::layout())
    }
}
impl<R: super::record::NpyRecord> NpyElement for R {}

#[cfg(test)]
mod tests {
    use num_complex::Complex;

    use super::sealed::Element;
    use super::*;

    fn descr<A: NpyElement>() -> String {
        native_descr::<A>().to_string()
    }

    #[test]
    fn descrs_are_what_numpy_writes_on_little_endian() {
        if cfg!(target_endian = "big") {
            return;
        }
        assert_eq!(descr::<bool>(), "|b1");
        assert_eq!(descr::<i8>(), "|i1");
        assert_eq!(descr::<u8>(), "|u1");
        assert_eq!(descr::<i16>(), "<i2");
        assert_eq!(descr::<u32>(), "<u4");
        assert_eq!(descr::<i64>(), "<i8");
        assert_eq!(descr::<f32>(), "<f4");
        assert_eq!(descr::<f64>(), "<f8");
        assert_eq!(descr::<Complex<f32>>(), "<c8");
        assert_eq!(descr::<Complex<f64>>(), "<c16");
    }

    #[cfg(feature = "half")]
    #[test]
    fn half_descrs() {
        assert_eq!(descr::<half::f16>(), "<f2");
        assert_eq!(descr::<half::bf16>(), "<u2");
    }

    #[test]
    fn bool_decoding_is_checked() {
        assert_eq!(bool::decode(&[0, 1, 1]), Some(vec![false, true, true]));
        assert_eq!(bool::decode(&[0, 2]), None);
    }
}
