//! `.npy` files against real NumPy, on real files: NumPy writes and ndmmap maps, ndmmap
//! writes and NumPy loads (and compares bytes with `np.save`), NumPy reads a live map; every
//! bad-input error of the format with its variant asserted and the file left unchanged;
//! round-trip properties; and a stable-Rust fuzz loop over mutated headers (a short one by
//! default, a long one `#[ignore]`d, run by hand).
//!
//! The NumPy tests drive `tests/python/npy_interop.py` with the Python in `NDMMAP_PYTHON`, else
//! the crate's `.venv`; without either they skip outside CI and fail under CI
//! (`tests/common`). A failing Python step fails the test.

// Generic helpers take owned paths and arrays built per case; clarity over borrowing.
#![allow(clippy::needless_pass_by_value)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytemuck::{NoUninit, Pod};
use ndarray::{IxDyn, Slice};
use ndmmap::Error;
use ndmmap::npy::{self, HeaderError, NpyElement, NpyOptions};
use ndmmap::prelude::*;
use num_complex::Complex;
use quickcheck::{QuickCheck, TestResult};

use crate::common;
#[cfg(unix)]
use crate::common::pages;

mod errors;
mod interop;
mod props;

// ---------------------------------------------------------------------------------------
// Python and shared helpers
// ---------------------------------------------------------------------------------------

/// Runs `npy_interop.py` with `args`; `None` (through the skip policy) without NumPy.
fn interop(args: &[&std::ffi::OsStr]) -> Option<String> {
    common::run_script("npy_interop.py", args)
}

/// The elements' bytes in logical (C) order, native byte order.
fn logical_bytes<A: NoUninit, D: Dimension>(a: &ArrayRef<A, D>) -> Vec<u8> {
    a.iter().flat_map(|x| bytemuck::bytes_of(x).to_vec()).collect()
}

/// Whether NumPy calls an array of `shape` with `strides` (in elements) contiguous in C
/// (`fortran == false`) or Fortran order: axes of length 1 are ignored, and empty arrays are
/// both. An oracle independent of ndarray's and ndmmap's layout code.
fn numpy_contiguous(shape: &[usize], strides: &[isize], fortran: bool) -> bool {
    if shape.contains(&0) {
        return true;
    }
    let mut expected = 1isize;
    let axes: Vec<usize> =
        if fortran { (0..shape.len()).collect() } else { (0..shape.len()).rev().collect() };
    for axis in axes {
        if shape[axis] != 1 {
            if strides[axis] != expected {
                return false;
            }
            expected *= isize::try_from(shape[axis]).unwrap();
        }
    }
    true
}

/// The `fortran_order` `np.save` writes for an array with this layout.
fn numpy_fortran_order(shape: &[usize], strides: &[isize]) -> bool {
    !numpy_contiguous(shape, strides, false) && numpy_contiguous(shape, strides, true)
}

/// A `.npy` file: magic, version `major`.0, the length field, `header` exactly as given,
/// then `data`.
fn raw_npy(major: u8, header: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([major, 0]);
    if major == 1 {
        out.extend(u16::try_from(header.len()).unwrap().to_le_bytes());
    } else {
        out.extend(u32::try_from(header.len()).unwrap().to_le_bytes());
    }
    out.extend(header);
    out.extend(data);
    out
}

/// `dict` padded with spaces and a newline so that the data starts at a multiple of 64.
fn aligned(major: u8, dict: &str) -> Vec<u8> {
    let prefix = if major == 1 { 10 } else { 12 };
    let mut header = dict.as_bytes().to_vec();
    while !(prefix + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    header
}

/// The dict `np.save` writes for `<f8` data of `shape` (given as Python writes it).
fn f8_dict(shape: &str) -> String {
    format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}")
}

/// Six f64s, native byte order: the data for shape (2, 3).
fn six_f64() -> Vec<u8> {
    bytemuck::cast_slice(&[0.5f64, 1.5, 2.5, 3.5, 4.5, 5.5]).to_vec()
}

/// The errors of the read-only, read-write and copy-on-write maps of `path` (`None` for a
/// map that succeeded, and was dropped at once).
fn map_errors<A: NpyElement + Pod, D: Dimension>(
    path: &Path,
    options: &NpyOptions,
) -> [Option<Error>; 3] {
    // SAFETY: no other process touches files in this fresh temporary folder.
    let r = unsafe { Array::<A, D>::map_npy_with(path, options) }.err();
    // SAFETY: as above.
    let w = unsafe { Array::<A, D>::map_npy_mut_with(path, options) }.err();
    // SAFETY: as above.
    let c = unsafe { Array::<A, D>::map_npy_copy_with(path, options) }.err();
    [r, w, c]
}
