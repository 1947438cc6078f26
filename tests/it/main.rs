//! Integration tests of ndmmap on real files in temporary folders: one binary, one module
//! per topic (STYLE.md §6).
//!
//! Every test that maps a file is ignored under Miri, which cannot map files
//! (rust-lang/miri#2520).

mod arithmetic;
mod chunked;
#[path = "../common/mod.rs"]
mod common;
mod compile_fail;
mod edges;
#[cfg(unix)]
mod errors;
mod grow;
#[cfg(unix)]
mod guards;
mod habits;
#[cfg(unix)]
mod maparray_suite;
mod messages;
mod npy;
mod npz;
mod npz_held;
mod numpy_docstring;
mod prelude_globs;
mod prop;
mod records;
mod replace;
mod replace_model;
mod safetensors;
mod shared;

use std::path::{Path, PathBuf};

use bytemuck::{AnyBitPattern, NoUninit};

/// A fresh temporary folder and the path of `name` inside it.
fn temp_file(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("create a temporary folder");
    let path = dir.path().join(name);
    (dir, path)
}

/// Writes `data`'s bytes (native byte order) to `path`.
fn write_elems<T: NoUninit>(path: &Path, data: &[T]) {
    std::fs::write(path, bytemuck::cast_slice::<T, u8>(data)).expect("write the test file");
}

/// The file's bytes, read with ordinary `read` calls (not through a map).
fn read_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the test file")
}

/// `n` elements `0.0, 0.5, 1.0, ...`: maparray's `Numeric.arange(n) / 2.0`.
fn halves(n: u32) -> Vec<f64> {
    (0..n).map(|i| f64::from(i) / 2.0).collect()
}

/// `0.0, 1.0, ..., n - 1`: NumPy's `np.arange(n, dtype='float32')`.
fn arange_f32(n: u16) -> Vec<f32> {
    (0..n).map(f32::from).collect()
}

/// The elements in `bytes` (native byte order; any alignment), as `read` would give them.
fn elems<T: AnyBitPattern>(bytes: &[u8]) -> Vec<T> {
    assert_eq!(bytes.len() % size_of::<T>(), 0, "not a whole number of elements");
    bytes.chunks_exact(size_of::<T>()).map(bytemuck::pod_read_unaligned).collect()
}
