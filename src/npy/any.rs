//! [`map_any`]: a `.npy` file whose element type is known only from its header, mapped
//! into [`AnyNpy`], one variant per element type.
#![allow(unsafe_code)]

use std::path::Path;

use ndarray::IxDyn;
use num_complex::Complex;

use super::descr::Descr;
use super::element::same_type;
use super::map::{MapNpy, NpyOptions};
use super::read::{inspect, non_native};
use crate::error::{Error, Result};
use crate::guard::MmapArray;

/// A read-only map of a `.npy` file of any supported dtype, any rank: one variant per
/// element type, each holding the typed guard ([`MmapArray`] over [`IxDyn`](type@IxDyn)). Made by
/// [`map_any`], for tools that learn the dtype from the file (viewers, converters, a
/// command line).
///
/// `'<u2'` files (which `bf16` arrays are saved as) map as [`AnyNpy::U16`]. The enum is
/// `#[non_exhaustive]`: new dtypes may be added.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npy::{self, AnyNpy, NpyOptions};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("x.npy");
/// array![[1.5f32, 2.5], [3.0, 4.0]].save_npy(&path)?;
/// let summary = match unsafe { npy::map_any(&path, &NpyOptions::new())? } {
///     AnyNpy::F32(a) => format!("float32 {:?}, sum {}", a.shape(), a.sum()),
///     AnyNpy::F64(a) => format!("float64 {:?}, sum {}", a.shape(), a.sum()),
///     other => format!("{} {:?}", other.dtype(), other.shape()),
/// };
/// assert_eq!(summary, "float32 [2, 2], sum 11");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyNpy {
    /// `'|b1'`, NumPy's `bool`, checked byte by byte (see [`map_bool`](super::map_bool)).
    Bool(MmapArray<bool, IxDyn>),
    /// `'|i1'`, `int8`.
    I8(MmapArray<i8, IxDyn>),
    /// `'<i2'`, `int16`.
    I16(MmapArray<i16, IxDyn>),
    /// `'<i4'`, `int32`.
    I32(MmapArray<i32, IxDyn>),
    /// `'<i8'`, `int64`.
    I64(MmapArray<i64, IxDyn>),
    /// `'|u1'`, `uint8`.
    U8(MmapArray<u8, IxDyn>),
    /// `'<u2'`, `uint16` (and `bf16` saved by ndmmap).
    U16(MmapArray<u16, IxDyn>),
    /// `'<u4'`, `uint32`.
    U32(MmapArray<u32, IxDyn>),
    /// `'<u8'`, `uint64`.
    U64(MmapArray<u64, IxDyn>),
    /// `'<f2'`, `float16` (with the `half` feature).
    #[cfg(feature = "half")]
    F16(MmapArray<half::f16, IxDyn>),
    /// `'<f4'`, `float32`.
    F32(MmapArray<f32, IxDyn>),
    /// `'<f8'`, `float64`.
    F64(MmapArray<f64, IxDyn>),
    /// `'<c8'`, `complex64`.
    C64(MmapArray<Complex<f32>, IxDyn>),
    /// `'<c16'`, `complex128`.
    C128(MmapArray<Complex<f64>, IxDyn>),
}

/// Runs `$body` with `$a` bound to the guard of whichever variant `$any` is.
macro_rules! each {
    ($any:expr, $a:ident => $body:expr) => {
        match $any {
            AnyNpy::Bool($a) => $body,
            AnyNpy::I8($a) => $body,
            AnyNpy::I16($a) => $body,
            AnyNpy::I32($a) => $body,
            AnyNpy::I64($a) => $body,
            AnyNpy::U8($a) => $body,
            AnyNpy::U16($a) => $body,
            AnyNpy::U32($a) => $body,
            AnyNpy::U64($a) => $body,
            #[cfg(feature = "half")]
            AnyNpy::F16($a) => $body,
            AnyNpy::F32($a) => $body,
            AnyNpy::F64($a) => $body,
            AnyNpy::C64($a) => $body,
            AnyNpy::C128($a) => $body,
        }
    };
}

impl AnyNpy {
    /// NumPy's name of the element type: `"bool"`, `"int8"`, ..., `"float64"`,
    /// `"complex128"`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::{self, NpyOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("m.npy");
    /// array![true, false].save_npy(&path)?;
    /// let any = unsafe { npy::map_any(&path, &NpyOptions::new())? };
    /// assert_eq!((any.dtype(), any.shape()), ("bool", &[2][..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn dtype(&self) -> &'static str {
        match self {
            AnyNpy::Bool(_) => "bool",
            AnyNpy::I8(_) => "int8",
            AnyNpy::I16(_) => "int16",
            AnyNpy::I32(_) => "int32",
            AnyNpy::I64(_) => "int64",
            AnyNpy::U8(_) => "uint8",
            AnyNpy::U16(_) => "uint16",
            AnyNpy::U32(_) => "uint32",
            AnyNpy::U64(_) => "uint64",
            #[cfg(feature = "half")]
            AnyNpy::F16(_) => "float16",
            AnyNpy::F32(_) => "float32",
            AnyNpy::F64(_) => "float64",
            AnyNpy::C64(_) => "complex64",
            AnyNpy::C128(_) => "complex128",
        }
    }

    /// The array's shape, whatever its element type.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::{self, NpyOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("c.npy");
    /// Array3::<i16>::zeros((2, 3, 4)).save_npy(&path)?;
    /// let any = unsafe { npy::map_any(&path, &NpyOptions::new())? };
    /// assert_eq!(any.shape(), [2, 3, 4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        each!(self, a => a.shape())
    }

    /// The mapped file's path, as given.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    /// use ndmmap::npy::{self, NpyOptions};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("u.npy");
    /// array![1u64].save_npy(&path)?;
    /// let any = unsafe { npy::map_any(&path, &NpyOptions::new())? };
    /// assert_eq!(any.path(), path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        each!(self, a => a.path())
    }
}

/// Maps a `.npy` file read-only whatever its dtype, as read from its header, into the
/// [`AnyNpy`] variant for that element type, with the header's shape (any rank).
///
/// The header is read once to choose the variant, then again, under the options' lock if
/// any, by the map, which checks it as [`MapNpy::map_npy`] does: a file changed in between
/// is an error, never a wrongly typed map.
///
/// # Safety
///
/// See [`MapNpy`](crate::MapNpy#safety-of-the-mapping-functions).
///
/// # Errors
///
/// As [`MapNpy::map_npy`]; [`Error::ByteOrder`] for non-native data (use
/// [`read_npy`](crate::npy::read_npy)); [`Error::DtypeMismatch`] for a valid dtype that no
/// variant holds (e.g. `'<f2'` without the `half` feature), naming it; [`Error::Npy`] for
/// a dtype ndmmap does not parse; [`Error::InvalidBool`] for a `bool` byte other than 0
/// or 1.
///
/// # Example
///
/// See [`AnyNpy`].
pub unsafe fn map_any(path: impl AsRef<Path>, options: &NpyOptions) -> Result<AnyNpy> {
    let path = path.as_ref();
    let header = inspect(path)?;
    if header.descr.starts_with('[') {
        // A structured dtype: its list, which no variant holds.
        return Err(Error::DtypeMismatch {
            path: path.to_path_buf(),
            expected: "a plain dtype (map structured files with an npy_record! type)".to_owned(),
            found: header.descr,
        });
    }
    let descr = Descr::parse(&header.descr)
        .map_err(|detail| Error::Npy { path: path.to_path_buf(), detail })?;
    if !header.native_byte_order {
        return Err(non_native(path, descr));
    }
    if same_type::<bool>(descr) {
        // SAFETY: forwarded; the caller upholds the same contract for this file.
        return unsafe { super::map_bool(path, options) }.map(AnyNpy::Bool);
    }
    macro_rules! try_types {
        ($($(#[$cfg:meta])? $ty:ty => $variant:ident;)*) => {$(
            $(#[$cfg])?
            if same_type::<$ty>(descr) {
                // SAFETY: forwarded; the caller upholds the same contract for this file.
                let map = unsafe { ndarray::Array::<$ty, IxDyn>::map_npy_with(path, options) };
                return map.map(AnyNpy::$variant);
            }
        )*};
    }
    try_types! {
        i8 => I8;
        i16 => I16;
        i32 => I32;
        i64 => I64;
        u8 => U8;
        u16 => U16;
        u32 => U32;
        u64 => U64;
        #[cfg(feature = "half")]
        half::f16 => F16;
        f32 => F32;
        f64 => F64;
        Complex<f32> => C64;
        Complex<f64> => C128;
    }
    Err(Error::DtypeMismatch {
        path: path.to_path_buf(),
        expected: "a dtype that ndmmap::npy::AnyNpy has a variant for".to_owned(),
        found: header.descr,
    })
}
