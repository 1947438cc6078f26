//! NumPy's `bool` arrays (`'|b1'`), mapped as `bool`s after a check of every byte.
#![allow(unsafe_code)]

use std::path::Path;

use ndarray::Dimension;

use super::map::{NpyOptions, locate};
use crate::error::Result;
use crate::guard::{MmapArray, MmapArrayMut};
use crate::layout::Purpose;

/// Maps a `bool` `.npy` file (`'|b1'`, NumPy's masks) read-only as `bool`s
/// (`np.load(path, mmap_mode='r')` of a boolean array).
///
/// `bool` is not [`AnyBitPattern`](bytemuck::AnyBitPattern): a byte other than 0 or 1 is
/// not a `bool`. So every byte is read once, after mapping, and checked; the pages are
/// then in the page cache, and the guard lends `bool`s without further checks. To map the
/// bytes without the pass, map the file as `u8` (`Array1::<u8>::map_npy`), which NumPy
/// spells `a.view(np.uint8)`.
///
/// # Safety
///
/// See [`MapNpy`](crate::MapNpy#safety-of-the-mapping-functions). The check holds only
/// because nothing else modifies the bytes while the guard lives: a byte changed to 2 by
/// another process would be undefined behaviour, not an error.
///
/// # Errors
///
/// As [`MapNpy::map_npy`](crate::MapNpy::map_npy); [`Error::DtypeMismatch`](crate::Error::DtypeMismatch)
/// unless the file holds `'|b1'`; [`Error::InvalidBool`](crate::Error::InvalidBool) if a
/// byte is neither 0 nor 1.
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npy::{self, NpyOptions};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("mask.npy");
/// array![[true, false], [false, true]].save_npy(&path)?;
/// let mask = unsafe { npy::map_bool::<Ix2>(&path, &NpyOptions::new())? };
/// assert_eq!(mask.iter().filter(|&&m| m).count(), 2);
/// let bytes = unsafe { Array2::<u8>::map_npy(&path)? }; // the same file, as bytes
/// assert_eq!(bytes.sum(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub unsafe fn map_bool<D: Dimension>(
    path: impl AsRef<Path>,
    options: &NpyOptions,
) -> Result<MmapArray<bool, D>> {
    let (file, placement) = locate::<bool, D>(path.as_ref(), Purpose::Read, options)?;
    // SAFETY: forwarded; the caller upholds the same contract for this file.
    let bytes = unsafe { file.map_read_only::<u8, D>(&placement, options.settings) }?;
    bytes.into_bool()
}

/// Maps a `bool` `.npy` file copy-on-write as `bool`s (`np.load(path, mmap_mode='c')`):
/// writable in memory, the file never changes. Every byte is checked once, as by
/// [`map_bool`].
///
/// # Safety
///
/// As [`map_bool`].
///
/// # Errors
///
/// As [`map_bool`].
///
/// # Example
///
/// ```
/// use ndmmap::prelude::*;
/// use ndmmap::npy::{self, NpyOptions};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("mask.npy");
/// array![true, false, true].save_npy(&path)?;
/// let mut mask = unsafe { npy::map_bool_copy::<Ix1>(&path, &NpyOptions::new())? };
/// mask.mapv_inplace(|m| !m);
/// assert_eq!(*mask, array![false, true, false]);
/// drop(mask);
/// assert_eq!(ndmmap::npy::read_npy::<bool, Ix1>(&path)?, array![true, false, true]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub unsafe fn map_bool_copy<D: Dimension>(
    path: impl AsRef<Path>,
    options: &NpyOptions,
) -> Result<MmapArrayMut<bool, D>> {
    let (file, placement) = locate::<bool, D>(path.as_ref(), Purpose::Copy, options)?;
    // SAFETY: forwarded; the caller upholds the same contract for this file.
    let bytes = unsafe { file.map_copy_on_write::<u8, D>(&placement, options.settings) }?;
    bytes.into_bool()
}
