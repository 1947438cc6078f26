//! ndarray's and NumPy's habits, written as a new user writes them: guards in `Zip`,
//! `azip!`, `for` loops and operators without `&*`, printing with `{}` and `{:?}`; and with
//! NumPy itself as the peer, boolean masks saved by `np.save`, dtypes known only from the
//! file, and ndmmap's files handed to Dask (NumPy's Python through `common::numpy_python`:
//! without it the tests skip, and under `CI=true` they fail instead).
#![allow(clippy::float_cmp, reason = "exact small values")]
#![allow(clippy::cast_precision_loss, reason = "small integers, exact in f64")]

use ndarray::{SliceInfo, SliceInfoElem};
use ndmmap::npy::{self, NpyOptions};
use ndmmap::prelude::*;

use crate::common;
use crate::{temp_file, write_elems};

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn zip_and_azip_take_guards_as_they_take_arrays() {
    let (dir, a_path) = temp_file("a.bin");
    write_elems(&a_path, &[1.0f64, 2.0, 3.0]);
    let b_path = dir.path().join("b.bin");
    write_elems(&b_path, &[10.0f64, 20.0, 30.0]);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array1::<f64>::map_file(&a_path) }.unwrap();
    // SAFETY: as above.
    let b = unsafe { Array1::<f64>::map_file_copy(&b_path) }.unwrap();
    // SAFETY: as above.
    let mut c = unsafe { Array1::<f64>::create_file(dir.path().join("c.bin"), 3) }.unwrap();

    Zip::from(&mut c).and(&a).and(&b).for_each(|c, &a, &b| *c = a + b);
    assert_eq!(c.to_vec(), [11.0, 22.0, 33.0]);
    azip!((c in &mut c, &a in &a) *c -= a);
    assert_eq!(c.to_vec(), [10.0, 20.0, 30.0]);
    // A writable guard as a read-only operand, and `map_collect` into an owned array.
    let twice = Zip::from(&c).and(&b).map_collect(|&c, &b| c + b);
    assert_eq!(twice, array![20.0, 40.0, 60.0]);
}

#[cfg(feature = "rayon")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn par_azip_takes_guards() {
    let (dir, a_path) = temp_file("a.bin");
    write_elems(&a_path, &(0..1000).map(f64::from).collect::<Vec<_>>());
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array1::<f64>::map_file(&a_path) }.unwrap();
    // SAFETY: as above.
    let mut c = unsafe { Array1::<f64>::create_file(dir.path().join("c.bin"), 1000) }.unwrap();
    par_azip!((c in &mut c, &a in &a) *c = 2.0 * a);
    assert_eq!(c.sum(), 999.0 * 1000.0);
    Zip::from(&mut c).and(&a).par_for_each(|c, &a| *c += a);
    assert_eq!(c[999], 3.0 * 999.0);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn for_loops_operators_assign_and_dot_take_guards() {
    let (dir, a_path) = temp_file("a.bin");
    write_elems(&a_path, &[1i64, 2, 3, 4]);
    let options = MapOptions::new().shape((2, 2));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array2::<i64>::map_file_with(&a_path, &options) }.unwrap();
    // SAFETY: as above.
    let mut c = unsafe { Array2::<i64>::create_file(dir.path().join("c.bin"), (2, 2)) }.unwrap();

    let mut seen = Vec::new();
    for &x in &a {
        seen.push(x);
    }
    assert_eq!(seen, [1, 2, 3, 4]);
    for x in &mut c {
        *x = 1;
    }
    assert_eq!(c.iter().sum::<i64>(), 4);
    assert_eq!(c.iter().count(), (&c).into_iter().count());

    let owned = array![[10i64, 20], [30, 40]];
    assert_eq!(&a + &c, array![[2, 3], [4, 5]]);
    assert_eq!(&c - &a, array![[0, -1], [-2, -3]]);
    assert_eq!(&a * 10, array![[10, 20], [30, 40]]);
    assert_eq!(&c << 2, array![[4, 4], [4, 4]]);
    assert_eq!(&owned - &a, array![[9, 18], [27, 36]]);
    assert_eq!(&owned.view() / &a, array![[10, 10], [10, 10]]);
    assert_eq!(owned.clone() % &a, array![[0, 0], [0, 0]]);
    // Broadcasting, as ndarray does it: a row against the 2 x 2 guard.
    assert_eq!(&array![100i64, 200] + &a, array![[101, 202], [103, 204]]);

    c += &a;
    assert_eq!(*c, array![[2, 3], [4, 5]]);
    c *= 2;
    assert_eq!(*c, array![[4, 6], [8, 10]]);
    *c.view_mut() -= &a;
    assert_eq!(*c, array![[3, 4], [5, 6]]);
    let mut sum = owned.clone();
    sum += &c;
    assert_eq!(sum, array![[13, 24], [35, 46]]);

    c.assign(&a);
    assert_eq!(*c, *a);
    assert_eq!(owned.dot(&a), array![[70, 100], [150, 220]]);
    assert_eq!(a.dot(&c), array![[7, 10], [15, 22]]);
    assert_eq!(array![1i64, 1].dot(&a), array![4, 6]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn guards_print_as_ndarray_prints_arrays() {
    let (_dir, path) = temp_file("p.bin");
    let data: Vec<f32> = (0..2000u16).map(f32::from).collect();
    write_elems(&path, &data);
    let options = MapOptions::new().shape((2, 1000));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let m = unsafe { Array2::<f32>::map_file_with(&path, &options) }.unwrap();
    let same = Array2::from_shape_vec((2, 1000), data).unwrap();

    assert_eq!(format!("{m}"), format!("{same}"));
    assert_eq!(format!("{m:.1}"), format!("{same:.1}"));
    // Large arrays elide their middle, as ndarray's do: no 1000 numbers in a line.
    assert!(format!("{m}").contains("..."), "{m}");
    assert_eq!(format!("{m:#}"), format!("{same:#}"));

    let debug = format!("{m:?}");
    assert!(debug.contains(&format!("array: {same:?}")), "{debug}");
    assert!(debug.contains(&format!("path: {path:?}")) && debug.contains("mode: ReadOnly"));
    // SAFETY: as above.
    let w = unsafe { Array2::<f32>::map_file_copy_with(&path, &options) }.unwrap();
    assert_eq!(w.to_string(), same.to_string());
    assert!(format!("{w:?}").contains(&format!("{same:?}")));
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn messages_say_what_a_numpy_user_needs() {
    let (dir, path) = temp_file("a.bin");
    write_elems(&path, &[0.0f64; 6]);

    // Two inferred axes print as NumPy's -1, not 18446744073709551615.
    let options = MapOptions::new().shape_inferred((INFER, INFER), Order::RowMajor);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array2::<f64>::map_file_with(&path, &options) }.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("shape [-1, -1] has 2 inferred axes"), "{text}");
    assert!(!text.contains(&usize::MAX.to_string()), "{text}");

    // Creating in a missing folder names the folder.
    let missing = dir.path().join("nodir");
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::create_file(missing.join("x.bin"), 3) }.unwrap_err();
    assert!(matches!(&err, ndmmap::Error::FolderNotFound { folder, .. } if folder == &missing));
    assert!(err.to_string().contains(&format!("the folder {} does not exist", missing.display())));
    let err = array![1.0f64].save_npy(missing.join("deeper").join("x.npy")).unwrap_err();
    assert!(matches!(&err, ndmmap::Error::FolderNotFound { folder, .. } if folder == &missing));

    // A corrupt header's message says what is wrong, without walking `source()`.
    let npy = dir.path().join("cut.npy");
    array![[1.0f64, 2.0], [3.0, 4.0]].save_npy(&npy).unwrap();
    let bytes = std::fs::read(&npy).unwrap();
    std::fs::write(&npy, &bytes[..26]).unwrap();
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::map_npy(&npy) }.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("invalid .npy header: .npy header is truncated: 128 bytes needed"),
        "{text}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn flush_slice_and_with_slice_mut_take_the_slice_argument() {
    let (_dir, path) = temp_file("c.bin");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut c = unsafe { Array3::<f64>::create_file(&path, (2, 3, 4)) }.unwrap();
    c.slice_mut(s![1, .., 2..4]).fill(-1.0);
    c.flush_slice(s![1, .., 2..4]).unwrap();
    let n = c.with_slice_mut(s![0, -1, ..;3], |mut part| {
        part.fill(5.0);
        part.len()
    });
    assert_eq!(n.unwrap(), 2);
    // Owned oracle: the same two changes on an array in memory.
    let mut expected = Array3::<f64>::zeros((2, 3, 4));
    expected.slice_mut(s![1, .., 2..4]).fill(-1.0);
    expected.slice_mut(s![0, -1, ..;3]).fill(5.0);
    let on_disk: Vec<f64> = crate::elems(&crate::read_bytes(&path));
    assert_eq!(on_disk, expected.iter().copied().collect::<Vec<_>>());

    // Where ndarray's slice would panic, a typed error, and the closure never runs.
    let bad = [
        (c.flush_slice(s![2, .., ..]).unwrap_err(), "index 2 is out of axis 0 of length 2"),
        (c.flush_slice(s![.., 1..5, ..]).unwrap_err(), "past the end of axis 1 of length 3"),
        (c.flush_slice(s![.., -4.., ..]).unwrap_err(), "past the end of axis 1 of length 3"),
        (c.with_slice_mut(s![-3, .., ..], |_| unreachable!()).unwrap_err(), "index -3"),
    ];
    for (err, reason) in bad {
        assert!(
            matches!(&err, ndmmap::Error::SliceOutOfBounds { shape, .. } if shape == &[2, 3, 4]),
            "{err:?}"
        );
        assert!(err.to_string().contains(reason), "{err}");
    }
    // SAFETY: as above.
    let mut d = unsafe { ArrayD::<f64>::map_file_mut(&path) }.unwrap();
    let err = d.with_slice_mut(s![1, 2], |_| ()).unwrap_err();
    assert!(
        err.to_string().contains("slice [1, 2] does not fit shape [24]: it indexes 2 axes"),
        "{err}"
    );
    // A zero step (which `s!` itself refuses, but a built `SliceInfo` may carry).
    let zero_step = vec![SliceInfoElem::Slice { start: 0, end: None, step: 0 }];
    let info = SliceInfo::<_, IxDyn, IxDyn>::try_from(zero_step).unwrap();
    let err = d.flush_slice(&info).unwrap_err();
    assert!(err.to_string().contains("the step of axis 0 is 0"), "{err}");
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn open_files_map_and_errors_name_them() {
    let (_dir, path) = temp_file("a.bin");
    write_elems(&path, &[1.0f64, 2.0, 3.0, 4.0]);
    let file = std::fs::File::open(&path).unwrap();
    let options = MapOptions::new().shape((2, 2));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array2::<f64>::map_open_file(&file, &options) }.unwrap();
    assert_eq!(*a, array![[1.0, 2.0], [3.0, 4.0]]);
    assert_eq!(a.path(), path.canonicalize().unwrap());
    // A file opened read-only cannot be mapped read-write, and the error names it.
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::map_open_file_mut(&file, &options) }.unwrap_err();
    assert!(err.to_string().contains("a.bin"), "{err}");
    // A shape that does not fit: the usual error, with the file's path.
    let big = MapOptions::new().shape((3, 2));
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::map_open_file_copy(&file, &big) }.unwrap_err();
    assert!(matches!(&err, ndmmap::Error::TooShort { needed: 48, available: 32, .. }), "{err:?}");
    drop(file);
    // The guard keeps its own descriptor: still readable after the caller's is closed.
    assert_eq!(a.sum(), 10.0);

    let rw = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    // SAFETY: as above.
    let mut w = unsafe { Array1::<f64>::map_open_file_mut(&rw, &MapOptions::new()) }.unwrap();
    w[3] = 40.0;
    w.flush().unwrap();
    assert_eq!(crate::elems::<f64>(&crate::read_bytes(&path)), [1.0, 2.0, 3.0, 40.0]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn npy_bytes_in_memory_view_as_arrays() {
    let (_dir, path) = temp_file("a.npy");
    let a = array![[1i32, 2, 3], [4, 5, 6]];
    a.t().save_npy(&path).unwrap(); // Fortran order on disk
    let bytes = std::fs::read(&path).unwrap();
    // An aligned copy (a Vec<u8> promises no alignment).
    let mut words = vec![0u32; bytes.len().div_ceil(4)];
    let buffer = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..bytes.len()];
    buffer.copy_from_slice(&bytes);

    let view = ArrayView2::<i32>::view_npy_bytes(buffer).unwrap();
    assert_eq!(view, a.t());
    let dynamic = ArrayViewD::<i32>::view_npy_bytes(buffer).unwrap();
    assert_eq!(dynamic.shape(), [3, 2]);
    let mut view = ArrayViewMut2::<i32>::view_npy_bytes_mut(buffer).unwrap();
    view[[2, 1]] = 60;
    assert_eq!(buffer[buffer.len() - 4..], 60i32.to_ne_bytes());

    let err = ArrayView2::<f32>::view_npy_bytes(buffer).unwrap_err();
    assert!(
        matches!(&err, ndmmap::Error::DtypeMismatch { path, .. } if path.to_str() == Some("<.npy bytes>"))
    );
    let err = ArrayView1::<i32>::view_npy_bytes(buffer).unwrap_err();
    assert!(matches!(err, ndmmap::Error::RankMismatch { expected: 1, found: 2, .. }), "{err:?}");
    let err = ArrayView2::<i32>::view_npy_bytes(&buffer[..buffer.len() - 4]).unwrap_err();
    assert!(matches!(err, ndmmap::Error::LengthMismatch { expected: 24, actual: 20 }), "{err:?}");
    let err = ArrayView2::<i32>::view_npy_bytes(&buffer[..20]).unwrap_err();
    assert!(err.to_string().starts_with("<.npy bytes>: invalid .npy header: "), "{err}");
    let err = ArrayView2::<i32>::view_npy_bytes(&buffer[1..]).unwrap_err();
    assert!(matches!(err, ndmmap::Error::Npy { .. }), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn numpy_bool_masks_map_as_bool_and_as_u8() {
    let dir = tempfile::tempdir().unwrap();
    let code = "import numpy as np\n\
                m = np.array([[True, False, True], [False, False, True]])\n\
                np.save('mask.npy', m)\n\
                np.save('mask_f.npy', np.asfortranarray(m))\n\
                np.save('bytes.npy', m.astype(np.uint8))\n";
    if common::run_code(dir.path(), code).is_none() {
        return;
    }
    let expected = array![[true, false, true], [false, false, true]];
    let (mask, mask_f) = (dir.path().join("mask.npy"), dir.path().join("mask_f.npy"));
    let options = NpyOptions::new();

    // SAFETY: no other process touches files in this fresh temporary folder.
    let m = unsafe { npy::map_bool::<Ix2>(&mask, &options) }.unwrap();
    assert_eq!(*m, expected);
    // SAFETY: as above.
    let f = unsafe { npy::map_bool::<IxDyn>(&mask_f, &options) }.unwrap();
    assert_eq!(*f, expected.clone().into_dyn());
    assert!(f.t().is_standard_layout());
    // As bytes, in every mode; NumPy's `m.view(np.uint8)`.
    // SAFETY: as above.
    let bytes = unsafe { Array2::<u8>::map_npy(&mask) }.unwrap();
    assert_eq!(*bytes, expected.mapv(u8::from));
    drop((m, bytes));
    // Copy-on-write: writable bools, the file unchanged.
    // SAFETY: as above.
    let mut c = unsafe { npy::map_bool_copy::<Ix2>(&mask, &options) }.unwrap();
    c.fill(true);
    assert!(c.iter().all(|&b| b));
    drop(c);
    assert_eq!(npy::read_npy::<bool, Ix2>(&mask).unwrap(), expected);

    // A uint8 file is not a bool file.
    // SAFETY: as above.
    let err = unsafe { npy::map_bool::<Ix2>(dir.path().join("bytes.npy"), &options) }.unwrap_err();
    assert!(
        matches!(&err, ndmmap::Error::DtypeMismatch { expected, found, .. }
            if expected == "|b1" && found == "|u1"),
        "{err:?}"
    );
    // A byte of 2 in a bool file: an error, not a `bool` that is neither.
    let mut raw = std::fs::read(&mask).unwrap();
    let last = raw.len() - 1;
    raw[last] = 2;
    let bad = dir.path().join("bad.npy");
    std::fs::write(&bad, &raw).unwrap();
    // SAFETY: as above.
    let err = unsafe { npy::map_bool::<Ix2>(&bad, &options) }.unwrap_err();
    assert!(matches!(&err, ndmmap::Error::InvalidBool { path } if path == &bad), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { npy::map_bool_copy::<Ix2>(&bad, &options) }.unwrap_err();
    assert!(matches!(err, ndmmap::Error::InvalidBool { .. }), "{err:?}");
    // SAFETY: as above.
    let as_bytes = unsafe { Array2::<u8>::map_npy_copy(&bad) }.unwrap();
    assert_eq!(as_bytes[[1, 2]], 2);
}

/// The sum of a real array's elements as `f64`, whatever its element type.
fn real_sum(any: &npy::AnyNpy) -> Option<f64> {
    use npy::AnyNpy as N;
    Some(match any {
        N::Bool(a) => a.iter().filter(|&&b| b).count() as f64,
        N::I8(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::I16(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::I32(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::I64(a) => a.iter().map(|&x| x as f64).sum(),
        N::U8(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::U16(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::U32(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::U64(a) => a.iter().map(|&x| x as f64).sum(),
        N::F32(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::F64(a) => a.sum(),
        N::C64(a) => a.iter().map(|x| f64::from(x.re)).sum(),
        N::C128(a) => a.iter().map(|x| x.re).sum(),
        _ => return None,
    })
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn map_any_chooses_the_variant_numpy_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let code = r"
import numpy as np
names = ['bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
         'uint64', 'float32', 'float64', 'complex64', 'complex128', 'float16']
for i, name in enumerate(names):
    a = (np.arange(2 * 3 * (i % 3 + 1)) % 3).astype(name).reshape(2, 3, -1)
    a = np.asfortranarray(a) if i % 2 else a
    np.save(name + '.npy', a)
    print(name, a.dtype.name, ','.join(map(str, a.shape)), float(a.real.sum()))
np.save('big_endian.npy', np.arange(3, dtype='>f8'))
";
    let Some(listing) = common::run_code(dir.path(), code) else { return };
    let options = NpyOptions::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [name, dtype, shape, sum] = fields[..] else { panic!("unexpected line {line:?}") };
        let path = dir.path().join(format!("{name}.npy"));
        // SAFETY: no other process touches files in this fresh temporary folder.
        let any = unsafe { npy::map_any(&path, &options) };
        if name == "float16" && !cfg!(feature = "half") {
            let err = any.unwrap_err();
            assert!(matches!(&err, ndmmap::Error::DtypeMismatch { found, .. } if found == "<f2"));
            continue;
        }
        let any = any.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(any.dtype(), dtype);
        let shape: Vec<usize> = shape.split(',').map(|n| n.parse().unwrap()).collect();
        assert_eq!(any.shape(), shape);
        assert_eq!(any.path(), path);
        if let Some(ours) = real_sum(&any) {
            assert_eq!(ours, sum.parse::<f64>().unwrap(), "{name}");
        }
    }
    // SAFETY: as above.
    let err = unsafe { npy::map_any(dir.path().join("big_endian.npy"), &options) }.unwrap_err();
    assert!(matches!(&err, ndmmap::Error::ByteOrder { descr, .. } if descr == ">f8"), "{err:?}");
}

/// The README's Dask section: an array ndmmap wrote, opened by Dask in chunks through
/// NumPy's own memory map. Dask is installed by `.ci/run`; elsewhere, without Dask, the
/// same file is checked with NumPy alone (the part Dask builds on) and a message says so.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn dask_reads_what_ndmmap_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.npy");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut x = unsafe { Array2::<f64>::create_npy(&path, (1000, 64)) }.unwrap();
    azip!((index (i, j), x in &mut x) *x = (i * 64 + j) as f64);
    x.close().unwrap();
    // Computed here in integers, independently of either side: 0 + 1 + ... + 63999.
    let expected = 63_999 * 64_000 / 2;

    let code = r"
import numpy as np
m = np.load('big.npy', mmap_mode='r')
try:
    import dask.array as da
except ImportError:
    print('numpy', int(m.sum()), m.shape[0], 0)
else:
    x = da.from_array(m, chunks=(250, 64))
    print('dask', int(x.sum().compute()), x.shape[0], x.numblocks[0])
";
    let Some(out) = common::run_code(dir.path(), code) else { return };
    let fields: Vec<&str> = out.split_whitespace().collect();
    let [engine, sum, rows, blocks] = fields[..] else { panic!("unexpected output {out:?}") };
    if engine == "numpy" {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but Dask is not installed");
        eprintln!("Dask not installed: checked with NumPy alone (bash .ci/run installs Dask)");
    } else {
        assert_eq!(blocks, "4");
    }
    assert_eq!(sum.parse::<u64>().unwrap(), expected);
    assert_eq!(rows, "1000");
}
