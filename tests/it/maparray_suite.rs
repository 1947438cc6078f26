//! maparray's unittest suite (2002), ported test by test, plus its
//! "performance-flavoured" wishes where they can be checked without timing.
// Exact float comparisons are intended: the values are written and read back bit for bit.
#![allow(clippy::float_cmp)]

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use ndmmap::prelude::*;

use crate::common::{self, pages};
use crate::{halves, read_bytes, temp_file, write_elems};

/// maparray's `setUp`: `x = arange(10) / 2.0` written to `tmp.foo`.
fn set_up() -> (tempfile::TempDir, PathBuf, Array1<f64>) {
    let (dir, path) = temp_file("tmp.foo");
    let x = Array1::from(halves(10));
    write_elems(&path, x.as_slice().unwrap());
    (dir, path, x)
}

/// `maparray(file, 'd')`: the whole file as a flat f64 array, read-only.
fn maparray_read(path: &Path) -> MmapArray<f64, Ix1> {
    // SAFETY: no other process touches files in this fresh temporary folder.
    unsafe { Array1::<f64>::map_file(path) }.expect("map the file read-only")
}

/// maparray's own mode: read-write and shared.
fn maparray_write(path: &Path) -> MmapArrayMut<f64, Ix1> {
    // SAFETY: no other process touches files in this fresh temporary folder.
    unsafe { Array1::<f64>::map_file_mut(path) }.expect("map the file read-write")
}

fn expected_after_write() -> Array1<f64> {
    array![0.0, 37.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn testx() {
    let (_dir, _path, x) = set_up();
    assert_eq!(x, array![0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn testread() {
    let (_dir, path, x) = set_up();
    let y = maparray_read(&path);
    assert_eq!(y.dim(), 10);
    assert_eq!(*y, x);
}

/// maparray's `setUp` in a folder on a disk, where a flush can be observed: its pages go
/// from dirty to clean (`tests/common/pages.rs`).
fn set_up_on_disk() -> Option<(tempfile::TempDir, PathBuf)> {
    let dir = common::disk_tempdir()?;
    let path = dir.path().join("tmp.foo");
    write_elems(&path, &halves(10));
    Some((dir, path))
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn testwrite() {
    let Some((_dir, path)) = set_up_on_disk() else { return };
    let mut y = maparray_write(&path);
    // `y.flush()` writes the change to disk: the file's page is dirty before, clean after.
    pages::assert_flush_writes_back(
        &path,
        "flush",
        &mut y,
        |y| y[1] = 37.0,
        |y| y.flush().unwrap(),
    );
    let z = maparray_read(&path);
    assert_eq!(*z, expected_after_write());
    // Both maps share the file's pages: the live writable map and the new one agree.
    assert_eq!(*z, *y);
    // And ordinary `read` calls see the flushed bytes.
    let on_disk = read_bytes(&path);
    assert_eq!(
        on_disk,
        bytemuck::cast_slice::<f64, u8>(expected_after_write().as_slice().unwrap())
    );
}

/// maparray flushed when the last reference went away. An ndmmap guard's drop does not
/// flush (it could not report an error): the change is in the page cache at once, where
/// every reader sees it and the kernel writes it back in its own time; `close` is the
/// flush that reports, and it is observed to write the page back.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn testimplicitflush() {
    let Some((_dir, path)) = set_up_on_disk() else { return };
    let mut y = maparray_write(&path);
    y[1] = 37.0;
    drop(y); // "trigger implicit flush as refcounts go to 0"
    let z = maparray_read(&path);
    assert_eq!(*z, expected_after_write());
    assert_eq!(
        read_bytes(&path),
        bytemuck::cast_slice::<f64, u8>(expected_after_write().as_slice().unwrap())
    );
    drop(z);
    let mut y = Some(maparray_write(&path));
    let observed = pages::assert_flush_writes_back(
        &path,
        "close",
        &mut y,
        |y| y.as_mut().expect("open")[2] = 38.0,
        |y| y.take().expect("open").close().unwrap(),
    );
    if !observed {
        return;
    }
    assert_eq!(maparray_read(&path)[2], 38.0);
}

/// "If we forgot to open the file in binary mode, some bytes would get mangled on some
/// systems": 258 bytes ending in CR LF, mapped as signed (`'b'`) and unsigned bytes.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn testnewlines() {
    let (_dir, path) = temp_file("tmp.foo");
    // Numeric.arange(258).astype('b'): wraps around at 128.
    let mut x: Vec<i8> = (0..258u32).map(|i| i8::from_ne_bytes([i.to_le_bytes()[0]])).collect();
    x[256] = 13;
    x[257] = 10;
    write_elems(&path, &x);
    assert_eq!(read_bytes(&path).len(), 258);

    // SAFETY: no other process touches files in this fresh temporary folder.
    let y = unsafe { Array1::<i8>::map_file(&path) }.unwrap();
    assert_eq!(y.to_vec(), x);
    assert_eq!(y[127], 127);
    assert_eq!(y[128], -128);
    assert_eq!(y.slice(s![-2..]).to_vec(), [13, 10]);

    // SAFETY: as above.
    let u = unsafe { Array1::<u8>::map_file(&path) }.unwrap();
    assert_eq!(u.to_vec(), read_bytes(&path));
    assert_eq!(u[200], 200);
}

/// `maparray('tmp.foo', shape=(2, 2))` with typecode `'l'` (a C `long`, 64 bits here).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn testshape() {
    let (_dir, path) = temp_file("tmp.foo");
    let xx = array![[1i64, 3], [5, 7]];
    write_elems(&path, xx.as_slice().unwrap());
    let options = MapOptions::new().shape((2, 2));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array2::<i64>::map_file_with(&path, &options) }.unwrap();
    assert_eq!(*a, xx);
    assert_eq!(a.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>(), [[1, 3], [5, 7]]);
}

/// maparray's `shape=(-1, 24)`: the row count follows from the file's length.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn testshape_inferred_rows() {
    let (_dir, path) = temp_file("tmp.foo");
    let data: Vec<i64> = (0..72).collect();
    write_elems(&path, &data);
    let options = MapOptions::new().shape_inferred((INFER, 24), Order::RowMajor);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array2::<i64>::map_file_with(&path, &options) }.unwrap();
    assert_eq!(a.dim(), (3, 24));
    assert_eq!(*a, Array2::from_shape_vec((3, 24), data.clone()).unwrap());
    assert_eq!(a[[2, 0]], 48);

    // The Fortran-order form infers the last axis.
    let options = MapOptions::new().shape_inferred((24, INFER), Order::ColumnMajor);
    // SAFETY: as above.
    let f = unsafe { Array2::<i64>::map_file_with(&path, &options) }.unwrap();
    assert_eq!(f.dim(), (24, 3));
    assert_eq!(*f, Array2::from_shape_vec((24, 3).f(), data).unwrap());
    assert_eq!(f[[0, 1]], 24);
}

/// "Mapping an array should return instantly, even for large files", and "it should be
/// possible to have arrays much larger than RAM": a sparse 1 GiB file (no disk blocks
/// behind it) maps at once, reads a few elements, and stays sparse, because mapping does
/// not read the file and only the touched pages are ever loaded. A writable map reserves
/// the blocks of the range it maps, and no more.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn mapping_a_sparse_gigabyte_does_not_read_it() {
    const LEN: u64 = 1 << 30;
    const N: usize = 1 << 27; // f64 elements in 1 GiB
    let (_dir, path) = temp_file("sparse.bin");
    let file = File::create(&path).unwrap();
    file.set_len(LEN).unwrap();
    // Three values: the first, one in the middle, the last.
    file.write_at(&1.5f64.to_ne_bytes(), 0).unwrap();
    file.write_at(&2.5f64.to_ne_bytes(), 8 * 12_345_678).unwrap();
    file.write_at(&3.5f64.to_ne_bytes(), LEN - 8).unwrap();
    drop(file);
    let allocated = |p: &Path| std::fs::metadata(p).unwrap().blocks() * 512;
    let before = allocated(&path);
    assert!(before < 1 << 20, "the test file should be sparse, but {before} bytes are allocated");

    let a = maparray_read(&path);
    assert_eq!(a.len(), N);
    assert_eq!(a[0], 1.5);
    assert_eq!(a[12_345_678], 2.5);
    assert_eq!(a[N - 1], 3.5);
    assert_eq!(a[N / 2], 0.0); // inside a hole
    assert_eq!(a.slice(s![12_345_676..12_345_680]).sum(), 2.5);

    // A writable map reserves the blocks of the range it maps (so that a full disk is an
    // error at map time, never SIGBUS on a write), and only that range: writing one
    // element through a 1 MiB window keeps the rest of the file sparse.
    drop(a);
    let window = MapOptions::new().offset(8 * (N as u64 / 3)).len(1 << 20);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut w = unsafe { Array1::<f64>::map_file_mut_with(&path, &window) }.unwrap();
    w[0] = 9.0;
    w.flush().unwrap();
    drop(w);
    assert_eq!(maparray_read(&path)[N / 3], 9.0);
    let after = allocated(&path);
    assert!(after >= 1 << 20, "the window's {after} bytes were not reserved");
    assert!(after < 3 << 20, "mapping allocated {after} bytes of a sparse file");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), LEN);
}
