//! [`Dtype`], the format's element types, and [`SafeTensorsElement`], the Rust types that
//! hold them.

use std::fmt;

/// A tensor's element type, as a `.safetensors` header names it (`"F16"`, `"BF16"`, ...).
///
/// Every dtype the format defines is listed, so that every valid file opens; the ones with
/// a Rust element type ([`rust_type`](Self::rust_type)) can be mapped and read. The 8-bit
/// and sub-byte floats (`F8_E4M3`, `F4`, ...) have none yet: their tensors are listed, and
/// mapping or reading them is an error.
///
/// # Example
///
/// ```
/// use ndmmap::safetensors::Dtype;
///
/// assert_eq!(Dtype::from_name("BF16"), Some(Dtype::Bf16));
/// assert_eq!(Dtype::Bf16.name(), "BF16");
/// assert_eq!(Dtype::Bf16.bits(), 16);
/// assert_eq!(Dtype::F8E4M3.to_string(), "F8_E4M3");
/// assert_eq!(Dtype::from_name("F128"), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dtype {
    /// `BOOL`: one byte, 0 or 1 (`bool`).
    Bool,
    /// `U8` (`u8`).
    U8,
    /// `I8` (`i8`).
    I8,
    /// `U16` (`u16`).
    U16,
    /// `I16` (`i16`).
    I16,
    /// `U32` (`u32`).
    U32,
    /// `I32` (`i32`).
    I32,
    /// `U64` (`u64`).
    U64,
    /// `I64` (`i64`).
    I64,
    /// `F16`: IEEE half precision (`half::f16`, feature `half`).
    F16,
    /// `BF16`: bfloat16 (`half::bf16`, feature `half`).
    Bf16,
    /// `F32` (`f32`).
    F32,
    /// `F64` (`f64`).
    F64,
    /// `C64`: a complex number of two `F32` (`Complex<f32>`).
    C64,
    /// `F8_E5M2`: 8-bit float, 5 exponent bits.
    F8E5M2,
    /// `F8_E4M3`: 8-bit float, 4 exponent bits.
    F8E4M3,
    /// `F8_E8M0`: 8-bit exponent-only scale.
    F8E8M0,
    /// `F6_E2M3`: 6-bit float, packed.
    F6E2M3,
    /// `F6_E3M2`: 6-bit float, packed.
    F6E3M2,
    /// `F4`: 4-bit float, packed.
    F4,
}

/// Every dtype with its name in the format.
const NAMES: [(Dtype, &str); 20] = [
    (Dtype::Bool, "BOOL"),
    (Dtype::U8, "U8"),
    (Dtype::I8, "I8"),
    (Dtype::U16, "U16"),
    (Dtype::I16, "I16"),
    (Dtype::U32, "U32"),
    (Dtype::I32, "I32"),
    (Dtype::U64, "U64"),
    (Dtype::I64, "I64"),
    (Dtype::F16, "F16"),
    (Dtype::Bf16, "BF16"),
    (Dtype::F32, "F32"),
    (Dtype::F64, "F64"),
    (Dtype::C64, "C64"),
    (Dtype::F8E5M2, "F8_E5M2"),
    (Dtype::F8E4M3, "F8_E4M3"),
    (Dtype::F8E8M0, "F8_E8M0"),
    (Dtype::F6E2M3, "F6_E2M3"),
    (Dtype::F6E3M2, "F6_E3M2"),
    (Dtype::F4, "F4"),
];

impl Dtype {
    /// The dtype the header names `name` (`"F32"`), or `None` if the format has no such dtype.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::safetensors::Dtype;
    ///
    /// assert_eq!(Dtype::from_name("I64"), Some(Dtype::I64));
    /// assert_eq!(Dtype::from_name("i64"), None); // names are upper case
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(dtype, _)| *dtype)
    }

    /// The name the header gives this dtype, e.g. `"BF16"` or `"F8_E4M3"`.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(ndmmap::safetensors::Dtype::Bool.name(), "BOOL");
    /// ```
    #[must_use]
    pub fn name(self) -> &'static str {
        NAMES.iter().find(|(dtype, _)| *dtype == self).map_or("?", |(_, name)| name)
    }

    /// The bits of one element: 4 and 6 for the packed sub-byte floats, else 8 times the
    /// byte size.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::safetensors::Dtype;
    ///
    /// assert_eq!(Dtype::C64.bits(), 64);
    /// assert_eq!(Dtype::F4.bits(), 4);
    /// ```
    #[must_use]
    pub fn bits(self) -> u32 {
        match self {
            Dtype::F4 => 4,
            Dtype::F6E2M3 | Dtype::F6E3M2 => 6,
            Dtype::Bool | Dtype::U8 | Dtype::I8 | Dtype::F8E5M2 | Dtype::F8E4M3 | Dtype::F8E8M0 => {
                8
            }
            Dtype::U16 | Dtype::I16 | Dtype::F16 | Dtype::Bf16 => 16,
            Dtype::U32 | Dtype::I32 | Dtype::F32 => 32,
            Dtype::U64 | Dtype::I64 | Dtype::F64 | Dtype::C64 => 64,
        }
    }

    /// The Rust element type that maps and reads this dtype, as a name (`"half::f16"`),
    /// or `None` for the dtypes without one (the 8-bit and sub-byte floats). `F16` and
    /// `BF16` need the crate's `half` feature.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::safetensors::Dtype;
    ///
    /// assert_eq!(Dtype::I16.rust_type(), Some("i16"));
    /// assert_eq!(Dtype::F8E5M2.rust_type(), None);
    /// ```
    #[must_use]
    pub fn rust_type(self) -> Option<&'static str> {
        Some(match self {
            Dtype::Bool => "bool",
            Dtype::U8 => "u8",
            Dtype::I8 => "i8",
            Dtype::U16 => "u16",
            Dtype::I16 => "i16",
            Dtype::U32 => "u32",
            Dtype::I32 => "i32",
            Dtype::U64 => "u64",
            Dtype::I64 => "i64",
            Dtype::F16 => "half::f16",
            Dtype::Bf16 => "half::bf16",
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
            Dtype::C64 => "Complex<f32>",
            Dtype::F8E5M2
            | Dtype::F8E4M3
            | Dtype::F8E8M0
            | Dtype::F6E2M3
            | Dtype::F6E3M2
            | Dtype::F4 => return None,
        })
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The seal, and what reading and writing need to know about an element type.
pub(crate) mod sealed {
    /// Implemented only by ndmmap, for the types listed under
    /// [`SafeTensorsElement`](super::SafeTensorsElement).
    pub trait Element: bytemuck::NoUninit + Send + Sync + 'static {
        /// The dtype that holds this type.
        const DTYPE: super::Dtype;
        /// The Rust name, for messages.
        const NAME: &'static str;
        /// Bytes in each scalar that a byte-order swap reverses (half the size for complex
        /// numbers).
        const SWAP_UNIT: usize;
        /// `n` elements whose little-endian bytes `fill` writes into the buffer it is
        /// given, or `None` if some bytes are not a valid element (a `bool` other than 0
        /// or 1). The bytes go straight into the elements' memory (one copy, from the
        /// file), where the type allows any bytes.
        fn read_le(
            n: usize,
            fill: &mut dyn FnMut(&mut [u8]) -> std::io::Result<()>,
        ) -> std::io::Result<Option<Vec<Self>>>;
    }
}

/// An element type that a `.safetensors` dtype holds: `bool` (`BOOL`), `u8`..`u64`,
/// `i8`..`i64`, `f32`, `f64`, `Complex<f32>` (`C64`), and with the `half` feature
/// `half::f16` (`F16`) and `half::bf16` (`BF16`).
///
/// This trait is sealed: it is implemented by ndmmap only.
///
/// # Example
///
/// ```
/// use ndmmap::safetensors::{Dtype, SafeTensorsElement};
///
/// fn dtype_of<A: SafeTensorsElement>() -> Dtype {
///     A::dtype()
/// }
/// assert_eq!(dtype_of::<u16>(), Dtype::U16);
/// assert_eq!(dtype_of::<bool>(), Dtype::Bool);
/// ```
pub trait SafeTensorsElement: sealed::Element {
    /// The dtype that holds this type.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::safetensors::{Dtype, SafeTensorsElement};
    ///
    /// assert_eq!(f64::dtype(), Dtype::F64);
    /// ```
    #[must_use]
    fn dtype() -> Dtype {
        Self::DTYPE
    }
}

macro_rules! pod_element {
    ($($ty:ty => $dtype:ident, $name:literal, $unit:expr;)*) => {$(
        impl sealed::Element for $ty {
            const DTYPE: Dtype = Dtype::$dtype;
            const NAME: &'static str = $name;
            const SWAP_UNIT: usize = $unit;
            fn read_le(
                n: usize,
                fill: &mut dyn FnMut(&mut [u8]) -> std::io::Result<()>,
            ) -> std::io::Result<Option<Vec<Self>>> {
                let mut elems: Vec<Self> = bytemuck::zeroed_vec(n);
                let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut elems);
                fill(bytes)?;
                if cfg!(target_endian = "big") {
                    for scalar in bytes.chunks_exact_mut($unit) {
                        scalar.reverse();
                    }
                }
                Ok(Some(elems))
            }
        }
        impl SafeTensorsElement for $ty {}
    )*};
}

pod_element! {
    u8 => U8, "u8", 1;
    i8 => I8, "i8", 1;
    u16 => U16, "u16", 2;
    i16 => I16, "i16", 2;
    u32 => U32, "u32", 4;
    i32 => I32, "i32", 4;
    u64 => U64, "u64", 8;
    i64 => I64, "i64", 8;
    f32 => F32, "f32", 4;
    f64 => F64, "f64", 8;
    num_complex::Complex<f32> => C64, "Complex<f32>", 4;
}

#[cfg(feature = "half")]
pod_element! {
    half::f16 => F16, "half::f16", 2;
    half::bf16 => Bf16, "half::bf16", 2;
}

impl sealed::Element for bool {
    const DTYPE: Dtype = Dtype::Bool;
    const NAME: &'static str = "bool";
    const SWAP_UNIT: usize = 1;
    fn read_le(
        n: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> std::io::Result<()>,
    ) -> std::io::Result<Option<Vec<Self>>> {
        let mut bytes = vec![0; n];
        fill(&mut bytes)?;
        Ok(bytes
            .iter()
            .map(|&b| match b {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            })
            .collect())
    }
}
impl SafeTensorsElement for bool {}

#[cfg(test)]
mod tests {
    use super::sealed::Element;
    use super::*;

    #[test]
    fn names_round_trip() {
        for (dtype, name) in NAMES {
            assert_eq!(Dtype::from_name(name), Some(dtype));
            assert_eq!(dtype.name(), name);
        }
    }

    #[test]
    fn element_sizes_are_the_dtypes() {
        fn check<A: SafeTensorsElement>() {
            assert_eq!(A::DTYPE.bits() as usize, 8 * size_of::<A>(), "{}", A::NAME);
            assert_eq!(A::DTYPE.rust_type(), Some(A::NAME));
        }
        check::<bool>();
        check::<u8>();
        check::<i8>();
        check::<u16>();
        check::<i16>();
        check::<u32>();
        check::<i32>();
        check::<u64>();
        check::<i64>();
        check::<f32>();
        check::<f64>();
        check::<num_complex::Complex<f32>>();
        #[cfg(feature = "half")]
        {
            check::<half::f16>();
            check::<half::bf16>();
        }
    }

    fn read_from<A: Element>(bytes: &[u8]) -> Option<Vec<A>> {
        let n = bytes.len() / size_of::<A>();
        A::read_le(n, &mut |buf| {
            buf.copy_from_slice(bytes);
            Ok(())
        })
        .unwrap()
    }

    #[test]
    fn reads_are_little_endian_and_bools_checked() {
        assert_eq!(read_from::<u16>(&[1, 2, 3, 0]), Some(vec![0x0201, 3]));
        assert_eq!(read_from::<bool>(&[0, 1]), Some(vec![false, true]));
        assert_eq!(read_from::<bool>(&[1, 2]), None);
    }
}
