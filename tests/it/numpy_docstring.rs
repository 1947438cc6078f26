//! NumPy's `np.memmap` docstring examples (`np.memmap?`), with ndmmap's answers, and
//! the empty-map corner cases NumPy gets wrong.
// Exact float comparisons are intended: the values are written and read back bit for bit.
#![allow(clippy::float_cmp)]

use std::path::Path;

use ndmmap::prelude::*;

use crate::{arange_f32, read_bytes, temp_file, write_elems};

/// `data = np.arange(12, dtype='float32'); data.resize((3, 4))`.
fn data() -> Array2<f32> {
    Array2::from_shape_vec((3, 4), arange_f32(12)).unwrap()
}

fn map_read_only(path: &Path) -> MmapArray<f32, Ix2> {
    // SAFETY: no other process touches files in this fresh temporary folder.
    unsafe { Array2::<f32>::map_file_with(path, &MapOptions::new().shape((3, 4))) }.unwrap()
}

/// The file `newfile.dat` after the docstring's `'w+'` steps.
fn written_file(path: &Path) {
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut fp = unsafe { Array2::<f32>::create_file(path, (3, 4)) }.unwrap();
    fp.assign(&data());
    drop(fp);
}

/// `fp = np.memmap(filename, dtype='float32', mode='w+', shape=(3,4))`, `fp[:] = data[:]`,
/// `del fp`, then `np.memmap(filename, mode='r', ...)` sees the data.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn write_plus_creates_writes_and_persists() {
    let (_dir, path) = temp_file("newfile.dat");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut fp = unsafe { Array2::<f32>::create_file(&path, (3, 4)) }.unwrap();
    assert_eq!(*fp, Array2::<f32>::zeros((3, 4)));
    assert_eq!(fp.mode(), Mode::ReadWrite);
    // `fp.filename == path.abspath(filename)`: the guard keeps the path it was given.
    assert_eq!(fp.path(), path);
    assert_eq!(fp.offset(), 0);
    fp.assign(&data());
    assert_eq!(*fp, data());
    drop(fp); // "Deletion flushes memory changes to disk before removing the object"

    assert_eq!(read_bytes(&path), bytemuck::cast_slice::<f32, u8>(&arange_f32(12)));
    let newfp = map_read_only(&path);
    assert_eq!(*newfp, data());
}

/// `fpr.flags.writeable` is `False`. ndmmap makes this a type-level fact (`MmapArray` has
/// no `DerefMut` and no `view_mut`); what can be checked at run time is the mode.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn read_only_map_reports_read_only_mode() {
    let (_dir, path) = temp_file("newfile.dat");
    written_file(&path);
    let fpr = map_read_only(&path);
    assert_eq!(fpr.mode(), Mode::ReadOnly);
    assert_eq!(*fpr, data());
}

/// `fpc = np.memmap(..., mode='c')`: `fpc[0, :] = 0` changes the array, not the file.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn copy_on_write_changes_the_view_not_the_file() {
    let (_dir, path) = temp_file("newfile.dat");
    written_file(&path);
    let before = read_bytes(&path);
    let options = MapOptions::new().shape((3, 4));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut fpc = unsafe { Array2::<f32>::map_file_copy_with(&path, &options) }.unwrap();
    assert_eq!(fpc.mode(), Mode::CopyOnWrite);
    assert_eq!(*fpc, data());
    fpc.row_mut(0).fill(0.0);
    let mut expected = data();
    expected.row_mut(0).fill(0.0);
    assert_eq!(*fpc, expected);

    // "File on disk is unchanged": a read-only map made now, and plain reads.
    let fpr = map_read_only(&path);
    assert_eq!(*fpr, data());
    assert_eq!(read_bytes(&path), before);
    // Flushing a copy-on-write map does nothing to the file, and neither does dropping it.
    fpc.flush().unwrap();
    assert_eq!(read_bytes(&path), before);
    fpc.close().unwrap();
    assert_eq!(read_bytes(&path), before);
    assert_eq!(*fpr, data());
}

/// `fpo = np.memmap(filename, dtype='float32', mode='r', offset=16)`: the view starts at
/// element 4 and takes every element after it.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn offset_into_a_memmap() {
    let (_dir, path) = temp_file("newfile.dat");
    written_file(&path);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let fpo =
        unsafe { Array1::<f32>::map_file_with(&path, &MapOptions::new().offset(16)) }.unwrap();
    assert_eq!(*fpo, array![4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
    assert_eq!(fpo.offset(), 16);

    // For 8-byte elements, offset 16 is element 2.
    let (_dir2, path2) = temp_file("f64.dat");
    write_elems(&path2, &[0.0f64, 1.0, 2.0, 3.0, 4.0]);
    // SAFETY: as above.
    let g = unsafe { Array1::<f64>::map_file_with(&path2, &MapOptions::new().offset(16)) }.unwrap();
    assert_eq!(g.to_vec(), [2.0, 3.0, 4.0]);
}

/// The docstring's `w+` example: `a = memmap('newfile.dat', dtype=float, mode='w+', ...)`, `a[10] = 10.0`,
/// `a[30] = 30.0`, `del a`, then `fromfile` and a new memmap both see the values.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn docstring_write_then_fromfile() {
    let (_dir, path) = temp_file("newfile.dat");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut a = unsafe { Array1::<f64>::create_file(&path, 40) }.unwrap();
    a[10] = 10.0;
    a[30] = 30.0;
    drop(a);
    let b: Vec<f64> = crate::elems(&read_bytes(&path));
    assert_eq!(b.len(), 40);
    assert_eq!((b[10], b[30]), (10.0, 30.0));
    assert_eq!(b.iter().sum::<f64>(), 40.0);
    // SAFETY: as above.
    let a = unsafe { Array1::<f64>::map_file_mut(&path) }.unwrap();
    assert_eq!((a[10], a[30]), (10.0, 30.0));
}

/// NumPy raises `ValueError: cannot mmap an empty file` here; an empty file is an empty
/// array, in every mode.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn empty_file_maps_as_an_empty_array() {
    let (_dir, path) = temp_file("empty.bin");
    std::fs::write(&path, []).unwrap();
    // SAFETY: no other process touches files in this fresh temporary folder.
    let r = unsafe { Array1::<f64>::map_file(&path) }.unwrap();
    assert_eq!(r.len(), 0);
    assert_eq!(r.sum(), 0.0);
    assert_eq!(r.mode(), Mode::ReadOnly);
    // SAFETY: as above.
    let mut w = unsafe { Array1::<f64>::map_file_mut(&path) }.unwrap();
    assert!(w.is_empty());
    w.fill(1.0);
    w.flush().unwrap();
    // SAFETY: as above.
    let c = unsafe { Array1::<f64>::map_file_copy(&path) }.unwrap();
    assert!(c.is_empty());
    // A 2-D empty shape over an empty file, too.
    let options = MapOptions::new().shape((0, 7));
    // SAFETY: as above.
    let e = unsafe { Array2::<f64>::map_file_with(&path, &options) }.unwrap();
    assert_eq!(e.dim(), (0, 7));
    drop((r, w, c, e));
    assert!(read_bytes(&path).is_empty());
}

/// numpy#27722: an empty array at a page-granular offset equal to the file's length
/// (4096 bytes, offset 4096, shape 0) failed in NumPy because `mmap` was asked for zero
/// bytes at the end of the file.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn empty_map_at_a_page_granular_offset() {
    let (_dir, path) = temp_file("page.bin");
    std::fs::write(&path, [7u8; 4096]).unwrap();
    let options = MapOptions::new().offset(4096).shape(0);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let r = unsafe { Array1::<u8>::map_file_with(&path, &options) }.unwrap();
    assert_eq!(r.len(), 0);
    assert_eq!(r.offset(), 4096);
    // SAFETY: as above.
    let w = unsafe { Array1::<u8>::map_file_mut_with(&path, &options) }.unwrap();
    assert_eq!(w.len(), 0);
    // SAFETY: as above.
    let c = unsafe { Array1::<u8>::map_file_copy_with(&path, &options) }.unwrap();
    assert_eq!(c.len(), 0);
    // Without a shape the flat length is inferred: zero elements.
    // SAFETY: as above.
    let inferred =
        unsafe { Array1::<u64>::map_file_with(&path, &MapOptions::new().offset(4096)) }.unwrap();
    assert_eq!(inferred.len(), 0);
    drop((r, w, c, inferred));
    assert_eq!(read_bytes(&path), [7u8; 4096]);
}
