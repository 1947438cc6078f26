//! Growable arrays on real files: `append`, `push`, `resize_outer`, `reserve`,
//! `shrink_to_fit`, `truncate_file_to_array` and `close` on raw and `.npy` files in C and Fortran order, checked by
//! mapping the files again, by reading their bytes, and by NumPy; crash consistency with
//! real processes killed by `SIGKILL`; the order of writes and syncs that keeps a `.npy`
//! file loadable after a power loss, recorded with `ptrace`; every error by its variant.
//!
//! The NumPy checks run Python from `NDMMAP_PYTHON`, else the crate's `.venv`; without
//! either they skip outside CI and fail under CI (`tests/common`). A failing Python step
//! fails the test.
//!
//! The child processes are this test binary itself, running the ignored tests
//! `crash_child` and `power_loss_child` with `NDMMAP_GROW_CHILD` or `NDMMAP_POWER_CHILD` set.
//!
//! Every test maps files and so is ignored under Miri (rust-lang/miri#2520).

// Values are small integers, exact in every float type used.
#![allow(clippy::float_cmp, clippy::cast_precision_loss, clippy::cast_possible_truncation)]

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ndmmap::Error;
use ndmmap::npy::{NpyOptions, read_npy};
use ndmmap::prelude::*;

/// Checks with NumPy that the `.npy` file at `path` holds `np.arange(rows * width)` as `dtype`
/// in `rows` rows of `width` (transposed for `order == "F"`); `rows` is `-1` to accept any
/// number of rows (a prefix). With `exact`, also that the file's bytes equal `np.save`'s of
/// that array. Returns the number of rows NumPy saw, or `None` without Python (outside CI).
const NUMPY_CHECK: &str = r"
import io, sys
import numpy as np
path, dtype, order, rows, width, exact = sys.argv[1:]
width = int(width)
a = np.load(path, mmap_mode='r')
n = a.shape[0] if order == 'C' else a.shape[-1]
assert int(rows) in (-1, n), (a.shape, rows)
e = np.arange(n * width, dtype=dtype).reshape(n, width)
if order == 'F':
    e = e.T
assert a.shape == e.shape and a.dtype == e.dtype, (a.shape, a.dtype, e.shape, e.dtype)
assert (a == e).all(), 'values differ'
if exact == 'exact':
    buf = io.BytesIO()
    np.save(buf, e)
    with open(path, 'rb') as f:
        assert f.read() == buf.getvalue(), 'bytes differ from np.save'
print(n)
";

fn numpy_check(
    path: &Path,
    dtype: &str,
    order: &str,
    rows: i64,
    width: usize,
    exact: bool,
) -> Option<usize> {
    let python = common::numpy_python()?;
    let exact = if exact { "exact" } else { "values" };
    let output = Command::new(&python)
        .args(["-c", NUMPY_CHECK])
        .arg(path)
        .args([dtype, order, &rows.to_string(), &width.to_string(), exact])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "NumPy check of {} failed:\n{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap().trim().parse().unwrap())
}

/// `rows` rows of `width` holding `first * width, first * width + 1, ...`: rows
/// `first..first + rows` of `np.arange(n * width).reshape(n, width)`.
fn rows_from(first: usize, rows: usize, width: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, width), |(i, j)| ((first + i) * width + j) as f64)
}

/// Batch sizes that vary: 0 to 40 rows, from a small fixed pseudo-random sequence.
fn batch_sizes(count: usize, seed: u64) -> Vec<usize> {
    let mut state = seed | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % 41).unwrap()
        })
        .collect()
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn npy_c_order_append_batches_equals_np_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.npy");
    let width = 5;
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut log = unsafe { Array2::<f64>::create_npy(&path, (0, width)) }.unwrap();
    let mut n = 0;
    for size in batch_sizes(200, 7) {
        log.append(rows_from(n, size, width).view()).unwrap();
        n += size;
        assert_eq!(log.shape(), &[n, width]);
        assert!(log.capacity() >= n);
        // Committed in groups: the header states a prefix of the rows until a flush.
        let stated = ndmmap::npy::inspect(&path).unwrap().shape;
        assert!(stated[0] <= n && stated[1] == width, "{stated:?}");
    }
    assert!(n > 3000, "{n}");
    assert_eq!(*log, rows_from(0, n, width));
    log.flush().unwrap();
    assert_eq!(ndmmap::npy::inspect(&path).unwrap().shape, [n, width]);
    log.close().unwrap();

    // SAFETY: as above.
    let again = unsafe { Array2::<f64>::map_npy(&path) }.unwrap();
    assert_eq!(*again, rows_from(0, n, width));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 128 + (n * width * 8) as u64);
    numpy_check(&path, "<f8", "C", i64::try_from(n).unwrap(), width, true);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn npy_fortran_order_grows_the_last_axis() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cols.npy");
    let width = 3;
    // A Fortran-order file: its header says so, and the last axis grows.
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut cols = unsafe { Array2::<f32>::create_npy(&path, (width, 2).f()) }.unwrap();
    assert!(ndmmap::npy::inspect(&path).unwrap().fortran_order);
    cols.resize_outer(0).unwrap();
    assert_eq!(cols.shape(), &[width, 0]);
    let mut n = 0;
    for size in batch_sizes(60, 11) {
        let batch = rows_from(n, size, width).mapv(|x| x as f32);
        // Appended as columns; a C-order transposed view, any layout will do.
        cols.append(batch.t()).unwrap();
        n += size;
    }
    let expected = rows_from(0, n, width).mapv(|x| x as f32).reversed_axes();
    assert_eq!(*cols, expected);
    drop(cols); // Drop, not close: the file must still end at the data.

    let back: Array2<f32> = read_npy(&path).unwrap();
    assert_eq!(back, expected);
    numpy_check(&path, "<f4", "F", i64::try_from(n).unwrap(), width, true);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn npy_reopened_guard_grows_and_push_appends_one_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.npy");
    rows_from(0, 4, 2).save_npy(&path).unwrap();
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut a = unsafe { Array2::<f64>::map_npy_mut(&path) }.unwrap();
    a.push(rows_from(4, 1, 2).row(0)).unwrap();
    a.append(rows_from(5, 3, 2).view()).unwrap();
    a.close().unwrap();
    let back: Array2<f64> = read_npy(&path).unwrap();
    assert_eq!(back, rows_from(0, 8, 2));
    numpy_check(&path, "<f8", "C", 8, 2, true);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn raw_c_and_f_order_files_are_their_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let c_path = dir.path().join("c.bin");
    let f_path = dir.path().join("f.bin");
    let width = 4;
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut c = unsafe { Array2::<f64>::create_file(&c_path, (0, width)) }.unwrap();
    // SAFETY: as above.
    let mut f = unsafe { Array2::<f64>::create_file(&f_path, (width, 1).f()) }.unwrap();
    f.assign(&rows_from(0, 1, width).reversed_axes());
    let mut n = 0;
    for size in batch_sizes(80, 3) {
        c.append(rows_from(n, size, width).view()).unwrap();
        f.append(rows_from(n + 1, size, width).t()).unwrap();
        n += size;
    }
    assert!(std::fs::metadata(&c_path).unwrap().len() > (n * width * 8) as u64, "capacity");
    c.close().unwrap();
    drop(f);
    // Both files are exactly their arrays' elements, in memory order.
    let expected: Vec<f64> = (0..n * width).map(|x| x as f64).collect();
    assert_eq!(std::fs::read(&c_path).unwrap(), bytemuck::cast_slice::<f64, u8>(&expected));
    let expected_f: Vec<f64> = (0..(n + 1) * width).map(|x| x as f64).collect();
    assert_eq!(std::fs::read(&f_path).unwrap(), bytemuck::cast_slice::<f64, u8>(&expected_f));
    // A fresh guard sees the same arrays.
    let options = MapOptions::new().shape_inferred((width, INFER), Order::ColumnMajor);
    // SAFETY: as above.
    let f = unsafe { Array2::<f64>::map_file_with(&f_path, &options) }.unwrap();
    assert_eq!(*f, rows_from(0, n + 1, width).reversed_axes());
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn dyn_rank_three_grows_along_axis_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cube.npy");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut cube = unsafe { ArrayD::<u16>::create_npy(&path, IxDyn(&[0, 2, 3])) }.unwrap();
    let block = ArrayD::from_shape_fn(IxDyn(&[2, 2, 3]), |ix| {
        u16::try_from(ix[0] * 6 + ix[1] * 3 + ix[2]).unwrap()
    });
    cube.append(block.view()).unwrap();
    cube.push(block.index_axis(Axis(0), 1)).unwrap();
    assert_eq!(cube.shape(), &[3, 2, 3]);
    assert_eq!(cube.index_axis(Axis(0), 2), block.index_axis(Axis(0), 1));
    cube.close().unwrap();
    assert_eq!(ndmmap::npy::inspect(&path).unwrap().shape, [3, 2, 3]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn shrink_then_grow_reads_zeros() {
    let dir = tempfile::tempdir().unwrap();
    for npy in [false, true] {
        let path = dir.path().join(if npy { "z.npy" } else { "z.bin" });
        let mut a = if npy {
            // SAFETY: no other process touches files in this fresh temporary folder.
            unsafe { Array2::<i64>::create_npy(&path, (0, 3)) }
        } else {
            // SAFETY: as above.
            unsafe { Array2::<i64>::create_file(&path, (0, 3)) }
        }
        .unwrap();
        a.append(Array2::from_elem((10, 3), 9).view()).unwrap();
        a.resize_outer(4).unwrap();
        assert_eq!(a.shape(), &[4, 3]);
        a.resize_outer(12).unwrap();
        assert!(a.slice(s![..4, ..]).iter().all(|&x| x == 9), "kept rows");
        assert!(a.slice(s![4.., ..]).iter().all(|&x| x == 0), "regrown rows read zeros");
        // Regrowing into fresh capacity reads zeros too.
        let far = a.capacity() + 5;
        a.resize_outer(far).unwrap();
        assert!(a.slice(s![4.., ..]).iter().all(|&x| x == 0));
        a.resize_outer(6).unwrap();
        a.close().unwrap();
        let data_start = if npy { 128 } else { 0 };
        assert_eq!(std::fs::metadata(&path).unwrap().len(), data_start + 6 * 3 * 8);
        if npy {
            let back: Array2<i64> = read_npy(&path).unwrap();
            assert_eq!(back.shape(), &[6, 3]);
            assert_eq!(back.sum(), 9 * 12);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reserve_and_shrink_to_fit_move_the_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.bin");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut a = unsafe { Array2::<u32>::create_file(&path, (0, 7)) }.unwrap();
    a.reserve(100_000).unwrap();
    let capacity = a.capacity();
    assert!(capacity >= 100_000);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), (capacity * 7 * 4) as u64);
    assert_eq!(a.shape(), &[0, 7]);
    a.append(Array2::ones((50_000, 7)).view()).unwrap();
    assert_eq!(a.capacity(), capacity, "no growth within the reserved capacity");
    a.shrink_to_fit().unwrap();
    assert_eq!(a.capacity(), 50_000);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 50_000 * 7 * 4);
    a.append(Array2::ones((1, 7)).view()).unwrap();
    assert_eq!(a.sum(), 50_001 * 7);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn views_taken_after_a_resize_see_the_new_shape() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut a = unsafe { Array1::<u8>::create_file(dir.path().join("v.bin"), 3) }.unwrap();
    a.fill(1);
    let before = a.view().to_owned();
    for round in 0..50u8 {
        // Big enough steps that the map moves now and then.
        a.append(Array1::from_elem(100_000, round).view()).unwrap();
        let view = a.view();
        assert_eq!(view.len(), 3 + 100_000 * (usize::from(round) + 1));
        assert_eq!(view[view.len() - 1], round);
    }
    assert_eq!(a.slice(s![..3]), before);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn errors_by_variant() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.npy");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut a = unsafe { Array2::<f32>::create_npy(&path, (2, 3)) }.unwrap();

    // Rows that do not match on the fixed axis; nothing changes.
    let err = a.append(Array2::zeros((1, 4)).view()).unwrap_err();
    assert!(
        matches!(&err, Error::AppendShape { axis: 0, expected, found, .. }
            if expected == &[2, 3] && found == &[1, 4]),
        "{err:?}"
    );
    let err = a.push(Array1::zeros(2).view()).unwrap_err();
    assert!(matches!(&err, Error::AppendShape { found, .. } if found == &[1, 2]), "{err:?}");
    assert_eq!(a.shape(), &[2, 3]);

    // A shape whose bytes overflow isize::MAX.
    let err = a.resize_outer(usize::MAX / 4).unwrap_err();
    assert!(matches!(err, Error::Overflow { elem_size: 4, .. }), "{err:?}");
    let err = a.reserve(usize::MAX).unwrap_err();
    assert!(matches!(err, Error::Overflow { .. }), "{err:?}");
    drop(a);
    assert_eq!(ndmmap::npy::inspect(&path).unwrap().shape, [2, 3]);

    // Copy-on-write maps never change their file.
    // SAFETY: as above.
    let mut cow = unsafe { Array2::<f32>::map_npy_copy(&path) }.unwrap();
    let err = cow.append(Array2::zeros((1, 3)).view()).unwrap_err();
    assert!(matches!(err, Error::NotGrowable { .. }), "{err:?}");
    assert!(matches!(cow.resize_outer(5), Err(Error::NotGrowable { .. })));

    // Anonymous maps have no file.
    let mut anon = MmapArrayMut::<u8, Ix1>::anonymous(4).unwrap();
    assert!(matches!(anon.append(array![1u8].view()), Err(Error::NotGrowable { .. })));

    // Custom strides.
    let strided = dir.path().join("strided.bin");
    std::fs::write(&strided, [0u8; 7]).unwrap();
    let options = MapOptions::new().shape((2, 3).strides((4, 1)));
    // SAFETY: as above.
    let mut s = unsafe { Array2::<u8>::map_file_mut_with(&strided, &options) }.unwrap();
    let err = s.append(Array2::zeros((1, 3)).view()).unwrap_err();
    assert!(matches!(err, Error::NotGrowable { .. }), "{err:?}");

    // A 0-dimensional array has no axis to grow.
    let scalar = dir.path().join("scalar.npy");
    // SAFETY: as above.
    let mut zero_d = unsafe { ArrayD::<u8>::create_npy(&scalar, IxDyn(&[])) }.unwrap();
    assert!(matches!(zero_d.resize_outer(2), Err(Error::NotGrowable { .. })));
}

/// `DerefMut` lends ndarray's in-place layout methods; growth must not rebuild such a
/// view at the map's start (it would move it onto other rows), nor shrink the file to it.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn views_changed_in_place_refuse_to_grow() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.bin");
    let rows = rows_from(0, 10, 2);
    std::fs::write(&path, bytemuck::cast_slice(rows.as_slice().unwrap())).unwrap();
    let options = MapOptions::new().shape_inferred((INFER, 2), Order::RowMajor);
    let changes: [fn(&mut ArrayRef2<f64>); 3] = [
        |a| a.slice_axis_inplace(Axis(0), ndarray::Slice::from(5..)),
        |a| a.invert_axis(Axis(0)),
        |a| a.swap_axes(0, 1),
    ];
    for change in changes {
        // SAFETY: no other process touches files in this fresh temporary folder.
        let mut a = unsafe { Array2::<f64>::map_file_mut_with(&path, &options) }.unwrap();
        change(&mut a);
        let err = a.push(array![99.0, 99.0].view()).unwrap_err();
        assert!(matches!(err, Error::NotGrowable { .. }), "{err:?}");
        assert!(matches!(a.shrink_to_fit(), Err(Error::NotGrowable { .. })));
        drop(a);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytemuck::cast_slice::<f64, u8>(rows.as_slice().unwrap())
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn bytes_after_the_data_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    // Two arrays saved one after the other in one file, as `np.save` twice to one handle.
    let path = dir.path().join("two.npy");
    array![1u8, 2, 3].save_npy(&path).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_within(..);
    std::fs::write(&path, &bytes).unwrap();
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut first = unsafe { Array1::<u8>::map_npy_mut(&path) }.unwrap();
    let err = first.append(array![4u8].view()).unwrap_err();
    assert!(
        matches!(&err, Error::NotGrowable { reason, .. } if reason.contains("truncate_file_to_array"))
    );
    drop(first);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);

    // A raw map of part of a file.
    let raw = dir.path().join("part.bin");
    std::fs::write(&raw, [7u8; 16]).unwrap();
    // SAFETY: as above.
    let mut part =
        unsafe { Array1::<u8>::map_file_mut_with(&raw, &MapOptions::new().len(8)) }.unwrap();
    assert!(matches!(part.append(array![1u8].view()), Err(Error::NotGrowable { .. })));
    // shrink_to_fit gives back only capacity the guard reserved itself.
    assert!(matches!(part.shrink_to_fit(), Err(Error::NotGrowable { .. })));
    assert_eq!(std::fs::read(&raw).unwrap(), [7u8; 16]);
    // Unless asked to cut the rest off.
    part.truncate_file_to_array().unwrap();
    part.append(array![1u8].view()).unwrap();
    drop(part);
    assert_eq!(std::fs::read(&raw).unwrap(), [7, 7, 7, 7, 7, 7, 7, 7, 1]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn header_without_room_is_an_error_with_a_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tight.npy");
    // A hand-written version 1.0 header with two spaces of padding, as old writers made.
    let dict = b"{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }  \n";
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend_from_slice(&u16::try_from(dict.len()).unwrap().to_le_bytes());
    file.extend_from_slice(dict);
    let header_len = file.len();
    file.extend_from_slice(&[5, 6]);
    std::fs::write(&path, &file).unwrap();

    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut a = unsafe { Array1::<u8>::map_npy_mut(&path) }.unwrap();
    a.append(Array1::from_elem(98, 7u8).view()).unwrap(); // `(100,)` just fits.
    let err = a.append(Array1::from_elem(1_000_000, 7u8).view()).unwrap_err();
    assert!(
        matches!(&err, Error::NpyHeaderFull { needed, available, shape, .. }
            if *available == header_len && *needed == header_len + 4 && shape == &[1_000_100]),
        "{err:?}"
    );
    assert!(err.to_string().contains("save_npy"), "{err}");
    assert_eq!(a.len(), 100);
    drop(a);
    let back: Array1<u8> = read_npy(&path).unwrap();
    assert_eq!(back.len(), 100);

    // The way out: save it again, with NumPy's padding.
    back.save_npy(&path).unwrap();
    // SAFETY: as above.
    let mut a = unsafe { Array1::<u8>::map_npy_mut(&path) }.unwrap();
    a.append(Array1::from_elem(1_000_000, 7u8).view()).unwrap();
    a.close().unwrap();
    assert_eq!(ndmmap::npy::inspect(&path).unwrap().shape, [1_000_100]);
}

// ---------------------------------------------------------------------------------------
// Crash consistency: a child appends in a loop and is killed with SIGKILL.

const CHILD_ENV: &str = "NDMMAP_GROW_CHILD";
const CRASH_WIDTH: usize = 6;
const MARK: &str = "@@ndmmap ";

/// Reports `tag value` to the parent on stdout, at once.
fn say(tag: &str, value: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{MARK}{tag} {value}").unwrap();
    out.flush().unwrap();
}

/// The child: maps the file named by `NDMMAP_GROW_CHILD` (`.npy` or raw by its extension),
/// cuts off capacity a killed predecessor left, reports `ready`, and appends rows of
/// `np.arange` forever, flushing every eighth append and reporting the row count then.
#[test]
#[ignore = "run as a child process by `crash_leaves_a_loadable_prefix`"]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else { return };
    let npy = path.extension().is_some_and(|e| e == "npy");
    let options = MapOptions::new().shape_inferred((INFER, CRASH_WIDTH), Order::RowMajor);
    let mut log = if npy {
        // SAFETY: the parent only reads the file after this process is dead.
        unsafe { Array2::<f64>::map_npy_mut_with(&path, &NpyOptions::new()) }
    } else {
        // SAFETY: as above.
        unsafe { Array2::<f64>::map_file_mut_with(&path, &options) }
    }
    .unwrap();
    if !npy {
        // A raw file does not say where its data ends: keep the whole rows written (every
        // element but the first is non-zero), dropping the zeros of the capacity a killed
        // predecessor left and the part of a row it was killed writing.
        let n = written(log.as_slice().unwrap()) / CRASH_WIDTH;
        log.resize_outer(n).unwrap();
    }
    log.truncate_file_to_array().unwrap();
    log.set_sync_on_grow(std::env::var_os("NDMMAP_GROW_NO_SYNC").is_none());
    say("ready", log.nrows());
    for (i, size) in batch_sizes(1000, 5).into_iter().cycle().enumerate() {
        let n = log.nrows();
        log.append(rows_from(n, size + 1, CRASH_WIDTH).view()).unwrap();
        // Commits come with growth that reserves capacity, and with flushes: a logging
        // program flushes now and then; the kill may land anywhere in between. What was
        // flushed is reported: from then on it must survive.
        if i % 8 == 7 {
            log.flush().unwrap();
            say("committed", log.nrows());
        }
    }
}

/// The number of elements of `np.arange` written at the start of `data`: up to its last
/// non-zero element.
fn written(data: &[f64]) -> usize {
    data.iter().rposition(|&x| x != 0.0).map_or(0, |i| i + 1)
}

/// The elements read from the file after a crash: the `.npy` header's shape, or for a raw
/// file the elements up to the last non-zero one, after checking that only zeros (the
/// capacity) follow: a raw file killed in an append holds part of the batch.
fn elements_after_crash(path: &Path, npy: bool) -> Vec<f64> {
    if npy {
        // SAFETY: no process writes the file any more.
        let rows = unsafe { Array2::<f64>::map_npy(path) }.unwrap();
        assert_eq!(rows.ncols(), CRASH_WIDTH);
        return rows.as_slice().unwrap().to_vec();
    }
    // SAFETY: as above.
    let all = unsafe { Array1::<f64>::map_file(path) }.unwrap();
    let all = all.as_slice().unwrap();
    assert_eq!(all.len() % CRASH_WIDTH, 0, "the capacity is whole rows");
    let n = written(all);
    assert!(all[n..].iter().all(|&x| x == 0.0));
    all[..n].to_vec()
}

/// The value of the next `tag` report in `lines`, or a panic that shows the child's
/// stderr (in `stderr`) if the child ended first.
fn expect_report(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
    tag: &str,
    stderr: &Path,
) -> usize {
    for line in lines {
        let line = line.unwrap();
        if let Some(report) = line.split_once(MARK).map(|(_, r)| r) {
            let (got, value) = report.split_once(' ').unwrap_or((report, ""));
            assert_eq!(got, tag, "the child reported {report:?}");
            return value.parse().unwrap();
        }
    }
    let stderr = std::fs::read_to_string(stderr).unwrap_or_default();
    panic!("the child ended before reporting {tag:?}; its stderr:\n{stderr}");
}

/// Children append and are killed with `SIGKILL` after a varying number of appends (each
/// kill lands wherever the child is, since it goes on appending while the parent reads its
/// reports): what they reported as committed is always there, the file is always a prefix
/// of `np.arange`, and NumPy loads every `.npy` state.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn crash_leaves_a_loadable_prefix() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    for (npy, sync) in [(true, true), (true, false), (false, false)] {
        let path = dir.path().join(format!("crash_{sync}.{}", if npy { "npy" } else { "bin" }));
        let mut first = if npy {
            // SAFETY: no other process touches files in this fresh temporary folder.
            unsafe { Array2::<f64>::create_npy(&path, (1, CRASH_WIDTH)) }
        } else {
            // SAFETY: as above.
            unsafe { Array2::<f64>::create_file(&path, (1, CRASH_WIDTH)) }
        }
        .unwrap();
        first.assign(&rows_from(0, 1, CRASH_WIDTH));
        first.close().unwrap();
        let mut seen = CRASH_WIDTH;
        for (trial, appends) in [1, 2, 5, 13, 40, 3].into_iter().enumerate() {
            let stderr = dir.path().join(format!("stderr_{sync}_{npy}_{trial}.txt"));
            let mut child = common::rerun(module_path!(), "crash_child")
                .env(CHILD_ENV, &path)
                .env(if sync { "NDMMAP_GROW_SYNC" } else { "NDMMAP_GROW_NO_SYNC" }, "1")
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&stderr).unwrap())
                .spawn()
                .unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let ready = expect_report(&mut lines, "ready", &stderr);
            // The child keeps the whole rows of what the last one left (a raw file may end
            // in part of a row: a kill can stop a write between two pages).
            assert_eq!(ready, seen / CRASH_WIDTH, "trial {trial}: the child started elsewhere");
            let mut reported = ready;
            for _ in 0..appends {
                reported = expect_report(&mut lines, "committed", &stderr);
            }
            child.kill().unwrap(); // SIGKILL
            let status = child.wait().unwrap();
            assert_eq!(
                status.signal(),
                Some(libc::SIGKILL),
                "trial {trial}: the child did not die of SIGKILL but {status}; its stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );

            let elements = elements_after_crash(&path, npy);
            let n = elements.len();
            assert!(
                n >= reported * CRASH_WIDTH,
                "trial {trial}: {n} elements, fewer than the {reported} rows the child committed"
            );
            let wrong = elements.iter().enumerate().position(|(i, &x)| x != i as f64);
            assert_eq!(wrong, None, "{}, trial {trial}: not a prefix", path.display());
            if npy {
                let numpy = numpy_check(&path, "<f8", "C", -1, CRASH_WIDTH, false);
                assert!(
                    numpy.is_none_or(|rows| rows * CRASH_WIDTH == n),
                    "trial {trial}: NumPy saw {numpy:?} rows"
                );
            }
            seen = n;
        }
        assert!(seen > CRASH_WIDTH, "the children appended nothing");
    }
}

// ---------------------------------------------------------------------------------------
// Power loss: the order of writes and syncs, recorded with ptrace.

const POWER_ENV: &str = "NDMMAP_POWER_CHILD";
const POWER_WIDTH: usize = 5;

/// The traced child: grows the `.npy` file at `NDMMAP_POWER_CHILD` in every way growth
/// writes data (rows written to the file, rows written through the map, zeros from
/// `resize_outer`, zeros again after a shrink, a batch past the first capacity), with
/// `set_sync_on_grow(NDMMAP_POWER_SYNC == 1)`, then closes it and reports its row count.
#[test]
#[ignore = "run as a traced child process by `npy_header_never_claims_rows_not_on_disk`"]
fn power_loss_child() {
    let Some(path) = std::env::var_os(POWER_ENV).map(PathBuf::from) else { return };
    let sync = std::env::var_os("NDMMAP_POWER_SYNC").is_some_and(|v| v == "1");
    // SAFETY: only this process touches the file while it runs.
    let mut a = unsafe { Array2::<f64>::map_npy_mut(&path) }.unwrap();
    a.set_sync_on_grow(sync);
    let mut n = a.nrows();
    for (k, size) in batch_sizes(40, 23).into_iter().enumerate() {
        let size = size + 1;
        match k % 4 {
            // Contiguous rows: written to the file with `pwrite`, then published.
            0 | 1 => a.append(rows_from(n + 1, size, POWER_WIDTH).view()),
            // Every other row of a wider batch: not contiguous, written through the map.
            2 => a.append(rows_from(n + 1, 2 * size, POWER_WIDTH).slice(s![..;2, ..])),
            // Zeros.
            _ => a.resize_outer(n + size),
        }
        .unwrap();
        n += size;
        if sync {
            // Group commit: the header is written at each flush, after the data it claims.
            a.flush().unwrap();
        }
        if k == 21 {
            // A shrink (the header first), so that the next growth zeros the rows again.
            n -= 3;
            a.resize_outer(n).unwrap();
        }
    }
    // Past the first capacity (1 MiB): the file and the map grow again.
    a.append(rows_from(n + 1, 30_000, POWER_WIDTH).view()).unwrap();
    n += 30_000;
    a.close().unwrap();
    say("rows", n);
}

/// What a power loss could leave of the traced file: for every byte, whether it is
/// certainly on disk (synced since it was last written) and its value there. Kept up to
/// date from the traced system calls, with the file's own bytes read at each sync.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
struct PowerLoss {
    path: PathBuf,
    durable: Vec<Option<u8>>,
    /// The traced process's maps of the file: start address, length, file offset.
    maps: Vec<(u64, u64, u64)>,
    /// The file position of each descriptor of the file (for `write` after `lseek`).
    positions: std::collections::HashMap<i32, u64>,
    header_writes: usize,
    file_writes: usize,
    syncs: usize,
    map_syncs: usize,
    violations: Vec<String>,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
impl PowerLoss {
    fn new(path: &Path) -> PowerLoss {
        let path = std::fs::canonicalize(path).unwrap();
        let durable = std::fs::read(&path).unwrap().into_iter().map(Some).collect();
        PowerLoss {
            path,
            durable,
            maps: Vec::new(),
            positions: std::collections::HashMap::new(),
            header_writes: 0,
            file_writes: 0,
            syncs: 0,
            map_syncs: 0,
            violations: Vec::new(),
        }
    }

    /// Whether the traced thread's descriptor `fd` is the file.
    fn ours(&self, tid: i32, fd: i32) -> bool {
        common::syscalls::fd_path(tid, fd).is_some_and(|p| p == self.path)
    }

    /// Marks `range` of the file as on disk, with the bytes the file holds now.
    fn synced(&mut self, range: std::ops::Range<u64>) {
        let now = std::fs::read(&self.path).unwrap();
        let end = usize::try_from(range.end).unwrap().min(now.len());
        if self.durable.len() < end {
            self.durable.resize(end, None);
        }
        let start = usize::try_from(range.start).unwrap().min(end);
        for (slot, &byte) in self.durable[start..end].iter_mut().zip(&now[start..end]) {
            *slot = Some(byte);
        }
        // A sync also settles the file's length.
        self.durable.truncate(now.len());
    }

    /// The header about to be written: every data byte it claims must be on disk already,
    /// holding what the file holds now, or a power loss right after the header reaches the
    /// disk leaves a file whose last rows are not what was appended.
    fn header(&mut self, header: &[u8]) {
        self.header_writes += 1;
        let text = String::from_utf8_lossy(header);
        let shape = text.split("'shape': (").nth(1).and_then(|t| t.split(')').next());
        let shape = shape.unwrap_or_else(|| panic!("no shape in the header {text:?}"));
        let elements: usize = shape
            .split(',')
            .filter(|d| !d.trim().is_empty())
            .map(|d| d.trim().parse::<usize>().unwrap())
            .product();
        let (start, end) = (header.len(), header.len() + elements * 8);
        let now = std::fs::read(&self.path).unwrap();
        let missing =
            (start..end).find(|&i| self.durable.get(i).copied().flatten() != now.get(i).copied());
        if let Some(at) = missing {
            let row = (at - start) / (POWER_WIDTH * 8);
            self.violations.push(format!(
                "the header ({shape}) was written while byte {at} (row {row}) was not on disk"
            ));
        }
    }

    fn on_call(&mut self, call: &common::syscalls::Call) {
        let (tid, args) = (call.tid, call.args);
        match (call.nr, call.ret) {
            // A write at the start of the file: the header.
            (libc::SYS_write, None)
                if self.ours(tid, call.fd(0))
                    && self.positions.get(&call.fd(0)).copied().unwrap_or(0) == 0 =>
            {
                let len = usize::try_from(args[2]).unwrap();
                let header = common::syscalls::read_memory(tid, args[1], len).unwrap();
                self.header(&header);
            }
            (libc::SYS_write, Some(n)) if n > 0 && self.ours(tid, call.fd(0)) => {
                *self.positions.entry(call.fd(0)).or_default() += n.unsigned_abs();
            }
            (libc::SYS_lseek, Some(at)) if at >= 0 && self.ours(tid, call.fd(0)) => {
                self.positions.insert(call.fd(0), at.unsigned_abs());
            }
            (libc::SYS_pwrite64, Some(n)) if n > 0 && self.ours(tid, call.fd(0)) => {
                self.file_writes += 1;
            }
            (libc::SYS_fdatasync | libc::SYS_fsync, Some(0)) if self.ours(tid, call.fd(0)) => {
                self.syncs += 1;
                self.synced(0..u64::MAX);
            }
            (libc::SYS_msync, Some(0))
                if args[2] & u64::from(libc::MS_SYNC.unsigned_abs()) != 0 =>
            {
                let (lo, hi) = (args[0], args[0] + args[1]);
                let covered: Vec<_> = self
                    .maps
                    .iter()
                    .filter(|&&(start, len, _)| start < hi && lo < start + len)
                    .map(|&(start, len, off)| {
                        off + lo.max(start) - start..off + hi.min(start + len) - start
                    })
                    .collect();
                self.map_syncs += usize::from(!covered.is_empty());
                for range in covered {
                    self.synced(range);
                }
            }
            (libc::SYS_mmap, Some(addr)) if addr >= 0 && self.ours(tid, call.fd(4)) => {
                self.maps.push((addr.unsigned_abs(), args[1], args[5]));
            }
            (libc::SYS_mremap, Some(addr)) if addr >= 0 => {
                for map in self.maps.iter_mut().filter(|m| m.0 == args[0]) {
                    (map.0, map.1) = (addr.unsigned_abs(), args[2]);
                }
            }
            (libc::SYS_munmap, None) => self.maps.retain(|m| m.0 != args[0]),
            _ => {}
        }
    }
}

/// Power loss, shaped by the order of writes and syncs: a child grows a `.npy` file under
/// `ptrace`, and at each header write the recorder checks that every data byte the new
/// header claims is on disk already (synced by `fdatasync`, or `msync(MS_SYNC)` of a map
/// of it, since it was last written). The same run with `set_sync_on_grow(false)` must
/// show violations, or the recorder could not see one.
#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[cfg_attr(miri, ignore = "miri cannot map files or trace processes")]
fn npy_header_never_claims_rows_not_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    for sync in [true, false] {
        let path = dir.path().join(format!("power_{sync}.npy"));
        // SAFETY: no other process touches files in this fresh temporary folder until the
        // traced child does, after this guard is closed.
        let mut a = unsafe { Array2::<f64>::create_npy(&path, (1, POWER_WIDTH)) }.unwrap();
        a.assign(&rows_from(0, 1, POWER_WIDTH));
        a.close().unwrap();
        let out = dir.path().join(format!("out_{sync}.txt"));
        let mut command = common::rerun(module_path!(), "power_loss_child");
        command
            .env(POWER_ENV, &path)
            .env("NDMMAP_POWER_SYNC", if sync { "1" } else { "0" })
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null());
        let mut model = PowerLoss::new(&path);
        let status = match common::syscalls::trace(&mut command, |call| model.on_call(call)) {
            Ok(status) => status,
            Err(e) => return common::skip(format!("cannot trace a child process here ({e})")),
        };
        let output = std::fs::read_to_string(&out).unwrap();
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child failed ({status:#x}):\n{output}"
        );
        let rows: usize = output
            .split(MARK)
            .nth(1)
            .and_then(|r| r.strip_prefix("rows "))
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no row count from the child:\n{output}"))
            .parse()
            .unwrap();
        assert_eq!(ndmmap::npy::inspect(&path).unwrap().shape, [rows, POWER_WIDTH]);
        let summary = format!(
            "sync {sync}: {} header writes, {} pwrites, {} fdatasyncs, {} msyncs of the map",
            model.header_writes, model.file_writes, model.syncs, model.map_syncs
        );
        eprintln!("{summary}");
        assert!(model.header_writes >= 40 && model.file_writes >= 20, "{summary}");
        if sync {
            assert!(model.violations.is_empty(), "{summary}:\n{}", model.violations.join("\n"));
            // Both ways of making data durable ran: data written to the file, and through the map.
            assert!(model.syncs >= 20 && model.map_syncs >= 10, "{summary}");
        } else {
            assert!(
                model.violations.len() >= 20,
                "{summary}: the recorder saw no header claim unsynced rows"
            );
        }
    }
}
