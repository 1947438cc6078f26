//! [`ViewNpyBytesExt`], [`ViewNpyBytesMutExt`]: `.npy` bytes held in memory (read into a
//! buffer, or mapped by another crate) as array views, without copying.

use std::path::{Path, PathBuf};

use bytemuck::{AnyBitPattern, Pod};
use ndarray::{ArrayView, ArrayViewMut, Dimension, ShapeBuilder};

use super::element::{NpyElement, is_native};
use super::header::{self, DEFAULT_MAX_HEADER_SIZE};
use super::read::{checked_dim, non_native};
use crate::bytes::{ViewBytesExt, ViewBytesMutExt};
use crate::error::{Error, Result};
use crate::private::Sealed;

/// What errors about an in-memory `.npy` buffer name instead of a path.
const BUFFER: &str = "<.npy bytes>";

/// Views `.npy` bytes held in memory as an [`ArrayView`]: the header gives the dtype,
/// shape and order, as for [`MapNpy::map_npy`](crate::MapNpy::map_npy), and the data is
/// not copied. ndarray-npy's `view_npy`, under a name that does not clash with it.
///
/// This trait is sealed: it is implemented for [`ArrayView`] only.
pub trait ViewNpyBytesExt<'a, D: Dimension>: Sized + Sealed {
    /// Views `bytes`, a whole `.npy` file's contents, as an array.
    ///
    /// # Errors
    ///
    /// [`Error::Npy`] for an invalid header, [`Error::DtypeMismatch`],
    /// [`Error::RankMismatch`], [`Error::ByteOrder`]; [`Error::LengthMismatch`] if the
    /// data after the header is not exactly the shape's bytes; [`Error::Misaligned`] if it
    /// does not start at a multiple of the element's alignment in memory. The errors name
    /// the buffer `<.npy bytes>`.
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// array![[1u8, 2], [3, 4]].save_npy(&path)?;
    /// let bytes = std::fs::read(&path)?;
    /// let a = ArrayView2::<u8>::view_npy_bytes(&bytes)?;
    /// assert_eq!(a, array![[1, 2], [3, 4]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn view_npy_bytes(bytes: &'a [u8]) -> Result<Self>;
}

/// Views `.npy` bytes held in memory as an [`ArrayViewMut`], so that writes change the
/// buffer. ndarray-npy's `view_mut_npy`, under a name that does not clash with it.
///
/// This trait is sealed: it is implemented for [`ArrayViewMut`] only.
pub trait ViewNpyBytesMutExt<'a, D: Dimension>: Sized + Sealed {
    /// Views `bytes`, a whole `.npy` file's contents, as a writable array.
    ///
    /// # Errors
    ///
    /// As [`ViewNpyBytesExt::view_npy_bytes`].
    ///
    /// # Example
    ///
    /// ```
    /// use ndmmap::prelude::*;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("a.npy");
    /// array![1.0f64, 2.0].save_npy(&path)?;
    /// let mut bytes = std::fs::read(&path)?;
    /// // A `Vec<u8>` need not be 8-byte aligned: copy into one that is, if it is not.
    /// let mut aligned = vec![0u64; bytes.len().div_ceil(8)];
    /// let buffer = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut aligned)[..bytes.len()];
    /// buffer.copy_from_slice(&bytes);
    /// ArrayViewMut1::<f64>::view_npy_bytes_mut(buffer)?.fill(7.0);
    /// bytes.copy_from_slice(buffer);
    /// std::fs::write(&path, &bytes)?;
    /// assert_eq!(ndmmap::npy::read_npy::<f64, Ix1>(&path)?, array![7.0, 7.0]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn view_npy_bytes_mut(bytes: &'a mut [u8]) -> Result<Self>;
}

/// Parses the header at the start of `bytes` and returns where the data starts and the
/// dimension, in C or Fortran order, checked against `A` and `D`.
fn locate<A: NpyElement, D: Dimension>(bytes: &[u8]) -> Result<(usize, ndarray::StrideShape<D>)> {
    let path = Path::new(BUFFER);
    let parsed = header::parse(bytes, DEFAULT_MAX_HEADER_SIZE)
        .map_err(|detail| Error::Npy { path: PathBuf::from(BUFFER), detail })?;
    let dim = checked_dim::<A, D>(path, &parsed)?;
    if !is_native(parsed.header.descr) {
        return Err(non_native(path, parsed.header.descr));
    }
    Ok((parsed.data_offset, dim.set_f(parsed.header.fortran_order).into()))
}

impl<'a, A: NpyElement + AnyBitPattern, D: Dimension> ViewNpyBytesExt<'a, D>
    for ArrayView<'a, A, D>
{
    fn view_npy_bytes(bytes: &'a [u8]) -> Result<Self> {
        let (offset, shape) = locate::<A, D>(bytes)?;
        ArrayView::view_bytes(&bytes[offset..], shape)
    }
}

impl<'a, A: NpyElement + Pod, D: Dimension> ViewNpyBytesMutExt<'a, D> for ArrayViewMut<'a, A, D> {
    fn view_npy_bytes_mut(bytes: &'a mut [u8]) -> Result<Self> {
        let (offset, shape) = locate::<A, D>(bytes)?;
        ArrayViewMut::view_bytes_mut(&mut bytes[offset..], shape)
    }
}
