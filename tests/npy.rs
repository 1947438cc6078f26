//! `.npy` files against real NumPy, on real files: NumPy writes and ndmmap maps, ndmmap
//! writes and NumPy loads (and compares bytes with `np.save`), NumPy reads a live map; every
//! bad-input error of the format with its variant asserted and the file left unchanged;
//! round-trip properties; and a stable-Rust fuzz loop over mutated headers (a short one by
//! default, a long one `#[ignore]`d, run by hand).
//!
//! The NumPy tests drive `tests/npy_py/interop.py` with the Python in `NDMMAP_PYTHON`, else
//! the crate's `.venv`; without either they skip outside CI and fail under CI
//! (`tests/common`). A failing Python step fails the test.

// Generic helpers take owned paths and arrays built per case; clarity over borrowing.
#![allow(clippy::needless_pass_by_value)]

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use bytemuck::{NoUninit, Pod};
use ndarray::{IxDyn, Slice};
use ndmmap::Error;
use ndmmap::npy::{self, HeaderError, NpyElement, NpyOptions};
use ndmmap::prelude::*;
use num_complex::Complex;
use quickcheck::{QuickCheck, TestResult};

#[cfg(unix)]
use common::pages;

// ---------------------------------------------------------------------------------------
// Python and shared helpers
// ---------------------------------------------------------------------------------------

/// Runs `interop.py` with `args` and returns its standard output, or `None` (outside CI,
/// with a message) when there is no Python. Panics with Python's stderr if the script fails.
fn interop(args: &[&std::ffi::OsStr]) -> Option<String> {
    let python = common::numpy_python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/npy_py/interop.py");
    let output = Command::new(&python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "{} {} {args:?} failed:\n{}",
        python.display(),
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("interop.py prints UTF-8"))
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

// ---------------------------------------------------------------------------------------
// NumPy writes, ndmmap maps
// ---------------------------------------------------------------------------------------

/// One file `interop.py write` made.
#[derive(Debug)]
struct Case {
    name: String,
    descr: String,
    order: char,
    shape: Vec<usize>,
}

impl Case {
    fn parse(line: &str) -> Case {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, descr, order, shape] = fields[..] else { panic!("bad manifest line {line:?}") };
        Case {
            name: name.to_owned(),
            descr: descr.to_owned(),
            order: order.chars().next().unwrap(),
            shape: shape.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect(),
        }
    }

    fn npy(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.npy", self.name))
    }

    fn bin(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.bin", self.name))
    }

    /// Whether the data is in this machine's byte order ('|' types have none).
    fn native(&self) -> bool {
        let native = if cfg!(target_endian = "little") { '<' } else { '>' };
        self.descr.starts_with(native) || self.descr.starts_with('|')
    }

    /// Whether np.save marked the file Fortran-order: made in F order and not also C-contiguous.
    fn fortran_in_header(&self) -> bool {
        self.order == 'F'
            && self.shape.iter().all(|&d| d > 0)
            && self.shape.iter().filter(|&&d| d > 1).count() >= 2
    }
}

/// What the read checks saw, to assert that every branch ran.
#[derive(Debug, Default)]
struct Tally {
    mapped: usize,
    byte_order_errors: usize,
    converted: usize,
    fortran_views: usize,
    bools: usize,
    half: usize,
    skipped: usize,
}

/// `NumPy`'s files, made once per test that needs them.
fn numpy_files() -> Option<(tempfile::TempDir, Vec<Case>)> {
    let dir = tempfile::tempdir().unwrap();
    let out = interop(&["write".as_ref(), dir.path().as_os_str()])?;
    let cases: Vec<Case> = out.lines().map(Case::parse).collect();
    // 25 dtypes x 9 shapes x 2 orders, and the large leading axis for 4 dtypes x 2 orders.
    assert_eq!(cases.len(), 25 * 9 * 2 + 4 * 2, "interop.py write made another set of files");
    Some((dir, cases))
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn numpy_writes_ndmmap_maps() {
    let Some((dir, cases)) = numpy_files() else { return };
    let mut tally = Tally::default();
    for case in &cases {
        check_numpy_file(case, dir.path(), &mut tally);
    }
    eprintln!("{} NumPy files: {tally:?}", cases.len());
    assert!(tally.mapped > 200 && tally.byte_order_errors > 100, "{tally:?}");
    assert!(tally.converted > 400 && tally.fortran_views > 30 && tally.bools > 10, "{tally:?}");
    if cfg!(feature = "half") {
        assert!(tally.half > 30 && tally.skipped == 0, "{tally:?}");
    }
}

/// Checks one NumPy file with the Rust element type(s) of its dtype.
fn check_numpy_file(case: &Case, dir: &Path, tally: &mut Tally) {
    match &case.descr[1..] {
        "b1" => check_bool(case, dir, tally),
        "i1" => check_pod::<i8>(case, dir, tally),
        "u1" => check_pod::<u8>(case, dir, tally),
        "i2" => check_pod::<i16>(case, dir, tally),
        "i4" => check_pod::<i32>(case, dir, tally),
        "i8" => check_pod::<i64>(case, dir, tally),
        "u2" => {
            check_pod::<u16>(case, dir, tally);
            // bf16 is stored as '<u2' (NumPy has no bfloat16): such files map as bf16 too.
            #[cfg(feature = "half")]
            {
                check_pod::<half::bf16>(case, dir, tally);
                tally.half += 1;
            }
        }
        "u4" => check_pod::<u32>(case, dir, tally),
        "u8" => check_pod::<u64>(case, dir, tally),
        "f4" => check_pod::<f32>(case, dir, tally),
        "f8" => check_pod::<f64>(case, dir, tally),
        "c8" => check_pod::<Complex<f32>>(case, dir, tally),
        "c16" => check_pod::<Complex<f64>>(case, dir, tally),
        "f2" => {
            #[cfg(feature = "half")]
            {
                check_pod::<half::f16>(case, dir, tally);
                tally.half += 1;
            }
            #[cfg(not(feature = "half"))]
            {
                tally.skipped += 1;
            }
        }
        other => panic!("no element type for dtype {other} in {case:?}"),
    }
}

/// Checks `inspect` against what NumPy wrote.
fn check_header(case: &Case, path: &Path) {
    let header = npy::inspect(path).unwrap_or_else(|e| panic!("{case:?}: {e}"));
    assert_eq!(header.descr, case.descr, "{case:?}");
    assert_eq!(header.shape, case.shape, "{case:?}");
    assert_eq!(header.fortran_order, case.fortran_in_header(), "{case:?}");
    assert_eq!(header.version, (1, 0), "{case:?}");
    assert_eq!(header.data_offset % 64, 0, "{case:?}");
    assert_eq!(header.native_byte_order, case.native(), "{case:?}");
}

/// Every way to get `A`s out of the file: `read_npy` always; zero-copy maps (read-only,
/// copy-on-write, read-write, `IxDyn` and the fixed rank) when the byte order is native, else
/// the byte-order error from each; a rank and a dtype mismatch.
fn check_pod<A: NpyElement + Pod>(case: &Case, dir: &Path, tally: &mut Tally) {
    let (path, want) = (case.npy(dir), std::fs::read(case.bin(dir)).unwrap());
    check_header(case, &path);
    let read: ArrayD<A> = npy::read_npy(&path).unwrap_or_else(|e| panic!("{case:?}: {e}"));
    assert_eq!(read.shape(), case.shape, "{case:?}");
    assert!(logical_bytes(&read) == want, "read_npy values differ: {case:?}");
    tally.converted += 1;
    let ndim = case.shape.len();
    if case.native() {
        // SAFETY: no other process touches files in this fresh temporary folder.
        let map =
            unsafe { ArrayD::<A>::map_npy(&path) }.unwrap_or_else(|e| panic!("{case:?}: {e}"));
        assert_eq!(map.shape(), case.shape, "{case:?}");
        assert!(logical_bytes(&map) == want, "map_npy values differ: {case:?}");
        if case.fortran_in_header() {
            assert!(!map.is_standard_layout() && map.t().is_standard_layout(), "{case:?}");
            tally.fortran_views += 1;
        }
        // SAFETY: as above.
        let copy = unsafe { ArrayD::<A>::map_npy_copy(&path) }.unwrap();
        assert!(logical_bytes(&copy) == want, "map_npy_copy values differ: {case:?}");
        // SAFETY: as above; the read-write map is only read.
        let write = unsafe { ArrayD::<A>::map_npy_mut(&path) }.unwrap();
        assert!(logical_bytes(&write) == want, "map_npy_mut values differ: {case:?}");
        assert!(by_rank::<A>(&path, ndim) == want, "fixed-rank map differs: {case:?}");
        tally.mapped += 1;
    } else {
        for err in map_errors::<A, IxDyn>(&path, &NpyOptions::new()) {
            assert!(
                matches!(&err, Some(Error::ByteOrder { path: p, descr }) if p == &path && *descr == case.descr),
                "{case:?}: {err:?}"
            );
        }
        tally.byte_order_errors += 1;
    }
    // A rank mismatch names both ranks.
    let (expected, err) = if ndim == 2 {
        // SAFETY: as above.
        (3, unsafe { Array3::<A>::map_npy(&path) }.err())
    } else {
        // SAFETY: as above.
        (2, unsafe { Array2::<A>::map_npy(&path) }.err())
    };
    assert!(
        matches!(err, Some(Error::RankMismatch { expected: e, found, .. }) if e == expected && found == ndim),
        "{case:?}: {err:?}"
    );
    check_dtype_mismatch(case, &path);
}

/// Mapping a file as another element type names both dtypes.
fn check_dtype_mismatch(case: &Case, path: &Path) {
    // `u8` maps bool files too (their bytes), so they are mismatched with `i8`.
    let (wanted, err) = if case.descr == "|u1" || case.descr == "|b1" {
        // SAFETY: no other process touches files in this fresh temporary folder.
        ("|i1", unsafe { ArrayD::<i8>::map_npy(path) }.err())
    } else {
        // SAFETY: as above.
        ("|u1", unsafe { ArrayD::<u8>::map_npy(path) }.err())
    };
    assert!(
        matches!(&err, Some(Error::DtypeMismatch { expected, found, .. }) if expected == wanted && *found == case.descr),
        "{case:?}: {err:?}"
    );
    let read = npy::read_npy::<i8, IxDyn>(path).err();
    if case.descr != "|i1" {
        assert!(matches!(read, Some(Error::DtypeMismatch { .. })), "{case:?}: {read:?}");
    }
}

/// The file mapped with `A`'s fixed-rank array type, as logical bytes.
fn by_rank<A: NpyElement + Pod>(path: &Path, ndim: usize) -> Vec<u8> {
    fn rank<A: NpyElement + Pod, D: Dimension>(path: &Path) -> Vec<u8> {
        // SAFETY: no other process touches files in this fresh temporary folder.
        let map = unsafe { Array::<A, D>::map_npy(path) }.unwrap();
        logical_bytes(&map)
    }
    match ndim {
        0 => rank::<A, Ix0>(path),
        1 => rank::<A, Ix1>(path),
        2 => rank::<A, Ix2>(path),
        3 => rank::<A, Ix3>(path),
        n => panic!("no case has rank {n}"),
    }
}

/// `bool` files: read through the checked path, mapped as `bool`s after the check of
/// every byte (`npy::map_bool`), and mapped as their bytes (`u8`).
fn check_bool(case: &Case, dir: &Path, tally: &mut Tally) {
    let (path, want) = (case.npy(dir), std::fs::read(case.bin(dir)).unwrap());
    check_header(case, &path);
    let read: ArrayD<bool> = npy::read_npy(&path).unwrap_or_else(|e| panic!("{case:?}: {e}"));
    assert_eq!(read.shape(), case.shape, "{case:?}");
    assert!(logical_bytes(&read) == want, "bool values differ: {case:?}");
    if case.fortran_in_header() {
        assert!(read.t().is_standard_layout(), "{case:?}");
    }
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mapped = unsafe { npy::map_bool::<IxDyn>(&path, &NpyOptions::new()) }
        .unwrap_or_else(|e| panic!("{case:?}: {e}"));
    assert_eq!(*mapped, read, "{case:?}");
    assert!(by_rank::<u8>(&path, case.shape.len()) == want, "bool bytes differ: {case:?}");
    check_dtype_mismatch(case, &path);
    tally.converted += 1;
    tally.bools += 1;
}

// ---------------------------------------------------------------------------------------
// ndmmap writes, NumPy loads and compares with np.save
// ---------------------------------------------------------------------------------------

/// The files ndmmap wrote, for `interop.py check`.
#[derive(Default)]
struct Manifest {
    text: String,
    count: usize,
}

impl Manifest {
    fn add(&mut self, npy: &Path, bin: &Path, descr: &str, order: char, shape: &[usize]) {
        let shape: Vec<String> = shape.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            self.text,
            "{}\t{}\t{descr}\t{order}\t{}",
            npy.display(),
            bin.display(),
            shape.join(",")
        );
        self.count += 1;
    }
}

/// The array with rows `a[0], a[n-1], a[1], a[n-2], ...` on its first axis: every other row
/// of it, from the first, is `a`.
fn interleaved<A: Clone>(a: &ArrayD<A>) -> ArrayD<A> {
    let reversed = a.slice_axis(Axis(0), Slice::new(0, None, -1));
    let stacked = ndarray::stack(Axis(1), &[a.view(), reversed]).unwrap();
    let mut shape = a.shape().to_vec();
    shape[0] *= 2;
    stacked.as_standard_layout().into_owned().into_shape_with_order(shape).unwrap()
}

/// Saves `a` from every layout `save_npy` takes: C-order owned, Fortran-order owned, the
/// `.t()` view of a C array (Fortran on disk, no copy), and a non-contiguous `s![..;2, ..]`
/// slice (written element by element in C order).
fn save_variants<A: NpyElement + Clone>(
    a: &ArrayD<A>,
    descr: &str,
    stem: &Path,
    bin: &Path,
    manifest: &mut Manifest,
) {
    let shape = a.shape();
    let with = |tag: &str| PathBuf::from(format!("{}.{tag}.npy", stem.display()));
    a.save_npy(with("save_c")).unwrap();
    manifest.add(&with("save_c"), bin, descr, 'C', shape);

    let f = Array::from_shape_vec(IxDyn(shape).f(), a.t().iter().copied().collect()).unwrap();
    assert_eq!(f.shape(), shape);
    f.save_npy(with("save_f")).unwrap();
    manifest.add(&with("save_f"), bin, descr, 'F', shape);

    let c_of_transpose = a.t().as_standard_layout().into_owned();
    c_of_transpose.t().save_npy(with("save_t")).unwrap();
    manifest.add(&with("save_t"), bin, descr, 'F', shape);

    if !shape.is_empty() {
        let big = interleaved(a);
        let slice = big.slice_axis(Axis(0), Slice::new(0, None, 2));
        assert_eq!(slice.shape(), shape);
        slice.save_npy(with("save_slice")).unwrap();
        manifest.add(&with("save_slice"), bin, descr, 'C', shape);
    }
}

/// Creates files of `a`'s shape with `create_npy` (C and Fortran order), fills them through
/// the map and closes them; then saves a read-only map of one with `save_npy`.
fn create_variants<A: NpyElement + Pod>(
    a: &ArrayD<A>,
    descr: &str,
    stem: &Path,
    bin: &Path,
    manifest: &mut Manifest,
) {
    let shape = a.shape();
    let with = |tag: &str| PathBuf::from(format!("{}.{tag}.npy", stem.display()));
    for (tag, order) in [("create_c", 'C'), ("create_f", 'F')] {
        let dim =
            if order == 'F' { IxDyn(shape).f() } else { IxDyn(shape).into_shape_with_order() };
        // SAFETY: no other process touches files in this fresh temporary folder.
        let mut map = unsafe { ArrayD::<A>::create_npy(with(tag), dim) }.unwrap();
        map.assign(a);
        map.close().unwrap();
        manifest.add(&with(tag), bin, descr, order, shape);
    }
    // SAFETY: as above.
    let map = unsafe { ArrayD::<A>::map_npy(with("create_f")) }.unwrap();
    map.save_npy(with("save_map")).unwrap();
    let order = if numpy_fortran_order(shape, map.strides()) { 'F' } else { 'C' };
    manifest.add(&with("save_map"), bin, descr, order, shape);
}

/// Writes the variants for one NumPy case (native byte order and C order: the values and
/// shape are the same for the Fortran case).
fn write_case<A: NpyElement + Pod>(case: &Case, dir: &Path, out: &Path, manifest: &mut Manifest) {
    let bin = case.bin(dir);
    let data: Vec<A> = bytemuck::pod_collect_to_vec(&std::fs::read(&bin).unwrap());
    let a = ArrayD::from_shape_vec(IxDyn(&case.shape), data).unwrap();
    let stem = out.join(&case.name);
    save_variants(&a, &case.descr, &stem, &bin, manifest);
    create_variants(&a, &case.descr, &stem, &bin, manifest);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn ndmmap_writes_numpy_loads() {
    let Some((dir, cases)) = numpy_files() else { return };
    let out = tempfile::tempdir().unwrap();
    let mut manifest = Manifest::default();
    for case in cases.iter().filter(|c| c.order == 'C' && c.native()) {
        let (d, o, m) = (dir.path(), out.path(), &mut manifest);
        match &case.descr[1..] {
            "b1" => {
                let bin = case.bin(d);
                let data: Vec<bool> =
                    std::fs::read(&bin).unwrap().iter().map(|&b| b == 1).collect();
                let a = ArrayD::from_shape_vec(IxDyn(&case.shape), data).unwrap();
                save_variants(&a, &case.descr, &o.join(&case.name), &bin, m);
            }
            "i1" => write_case::<i8>(case, d, o, m),
            "u1" => write_case::<u8>(case, d, o, m),
            "i2" => write_case::<i16>(case, d, o, m),
            "i4" => write_case::<i32>(case, d, o, m),
            "i8" => write_case::<i64>(case, d, o, m),
            "u2" => {
                write_case::<u16>(case, d, o, m);
                #[cfg(feature = "half")]
                {
                    // bf16 arrays are written as '<u2', bit for bit.
                    let bin = case.bin(d);
                    let data: Vec<half::bf16> =
                        bytemuck::pod_collect_to_vec(&std::fs::read(&bin).unwrap());
                    let a = ArrayD::from_shape_vec(IxDyn(&case.shape), data).unwrap();
                    let stem = o.join(format!("{}_bf16", case.name));
                    save_variants(&a, &case.descr, &stem, &bin, m);
                    create_variants(&a, &case.descr, &stem, &bin, m);
                }
            }
            "u4" => write_case::<u32>(case, d, o, m),
            "u8" => write_case::<u64>(case, d, o, m),
            "f4" => write_case::<f32>(case, d, o, m),
            "f8" => write_case::<f64>(case, d, o, m),
            "c8" => write_case::<Complex<f32>>(case, d, o, m),
            "c16" => write_case::<Complex<f64>>(case, d, o, m),
            "f2" => {
                #[cfg(feature = "half")]
                write_case::<half::f16>(case, d, o, m);
            }
            other => panic!("no element type for dtype {other}"),
        }
    }
    let list = out.path().join("manifest.tsv");
    std::fs::write(&list, &manifest.text).unwrap();
    let Some(report) = interop(&["check".as_ref(), list.as_os_str()]) else { return };
    eprintln!("ndmmap wrote {} files; NumPy {}", manifest.count, report.trim());
    assert_eq!(report.trim(), format!("checked {}", manifest.count));
    assert!(manifest.count > 500, "{}", manifest.count);
}

// ---------------------------------------------------------------------------------------
// NumPy reads a live map
// ---------------------------------------------------------------------------------------

/// Asks NumPy (in another process) whether `path` holds `expected` right now.
#[cfg(unix)]
fn numpy_sees<D: Dimension>(path: &Path, expected: &ArrayRef<f64, D>) -> Option<()> {
    let bin = path.with_extension("expected.bin");
    std::fs::write(&bin, logical_bytes(expected)).unwrap();
    let shape: Vec<String> = expected.shape().iter().map(ToString::to_string).collect();
    let shape = shape.join(",");
    let out = interop(&[
        "live".as_ref(),
        path.as_os_str(),
        bin.as_os_str(),
        "<f8".as_ref(),
        shape.as_ref(),
    ])?;
    assert_eq!(out.trim(), "live ok");
    Some(())
}

#[test]
#[cfg(unix)]
#[cfg_attr(miri, ignore = "miri cannot map files")]
#[cfg_attr(target_endian = "big", ignore = "the live check names '<f8'")]
fn numpy_reads_a_live_map_after_flush() {
    if common::numpy_python().is_none() {
        return;
    }
    // On a disk, where the flush is observed: the file's pages are dirty before each
    // `flush` and clean after it (`tests/common/pages.rs`), then NumPy reads the file.
    let Some(dir) = common::disk_tempdir() else { return };
    for fortran in [false, true] {
        let path = dir.path().join(format!("live_{fortran}.npy"));
        let shape = if fortran { (3, 4).f() } else { (3, 4).into_shape_with_order() };
        // SAFETY: no other process writes the file; NumPy only reads it.
        let mut map = unsafe { Array2::<f64>::create_npy(&path, shape) }.unwrap();
        let flush = |map: &mut MmapArrayMut<f64, Ix2>| map.flush().unwrap();
        let fill = |map: &mut MmapArrayMut<f64, Ix2>| {
            map.indexed_iter_mut()
                .for_each(|((i, j), x)| *x = f64::from(u8::try_from(10 * i + j).unwrap()));
        };
        if !pages::assert_flush_writes_back(&path, "flush", &mut map, fill, flush) {
            return;
        }
        let expected = map.to_owned();
        numpy_sees(&path, &expected).unwrap();
        // Change it again under the same live map: NumPy sees the change after flush.
        let change = |map: &mut MmapArrayMut<f64, Ix2>| {
            map[[2, 3]] = -1.5;
            map.column_mut(0).fill(7.0);
        };
        pages::assert_flush_writes_back(&path, "flush", &mut map, change, flush);
        let expected = map.to_owned();
        numpy_sees(&path, &expected).unwrap();
        drop(map);
        // And a file first written by ndmmap's save_npy, changed through map_npy_mut.
        expected.save_npy(&path).unwrap();
        // SAFETY: as above.
        let mut map = unsafe { Array2::<f64>::map_npy_mut(&path) }.unwrap();
        let row = |map: &mut MmapArrayMut<f64, Ix2>| map.row_mut(1).fill(0.25);
        pages::assert_flush_writes_back(&path, "flush", &mut map, row, flush);
        let expected = map.to_owned();
        numpy_sees(&path, &expected).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Bad input: typed errors, never a panic, nothing changed on disk
// ---------------------------------------------------------------------------------------

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

/// Writes `bytes` to a fresh file; returns its folder and path.
fn file_with(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.npy");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// The header error from every entry point that reads the header of `path` (with the
/// options): `inspect`, `read_npy` and the three maps. Each must be `Error::Npy` naming the
/// file, and the file must be unchanged afterwards.
fn header_errors(path: &Path, options: &NpyOptions) -> Vec<HeaderError> {
    let before = std::fs::read(path).unwrap();
    let mut results = vec![npy::inspect(path).err(), npy::read_npy::<f64, IxDyn>(path).err()];
    results.extend(map_errors::<f64, IxDyn>(path, options));
    assert_eq!(std::fs::read(path).unwrap(), before, "the file changed");
    let mut sources = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        // inspect and read_npy use the default limit; the maps use `options`.
        match result {
            Some(Error::Npy { path: p, detail }) => {
                assert_eq!(p, path);
                sources.push(detail);
            }
            other => panic!("entry point {i}: expected Error::Npy, got {other:?}"),
        }
    }
    sources
}

/// Asserts that every entry point fails on a file of `bytes` with a header error matching
/// `check`.
#[track_caller]
fn assert_header_error(bytes: &[u8], check: impl Fn(&HeaderError) -> bool) {
    let (_dir, path) = file_with(bytes);
    for err in header_errors(&path, &NpyOptions::new()) {
        assert!(check(&err), "unexpected {err:?} ({err})");
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn wrong_magic() {
    let mut bytes = raw_npy(1, &aligned(1, &f8_dict("(2, 3)")), &six_f64());
    bytes[5] = b'Z';
    assert_header_error(
        &bytes,
        |e| matches!(e, HeaderError::BadMagic { found } if found == b"\x93NUMPZ"),
    );
    // A file that is not .npy at all, and one shorter than the magic string.
    assert_header_error(
        b"hello world",
        |e| matches!(e, HeaderError::BadMagic { found } if found == b"hello "),
    );
    assert_header_error(b"PK", |e| matches!(e, HeaderError::BadMagic { found } if found == b"PK"));
    // An empty file and a bare magic string are truncated, not bad.
    assert_header_error(b"", |e| matches!(e, HeaderError::Truncated { needed: 10, available: 0 }));
    assert_header_error(b"\x93NUMPY", |e| {
        matches!(e, HeaderError::Truncated { needed: 10, available: 6 })
    });
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn unsupported_version() {
    for (major, minor) in [(0, 0), (1, 1), (4, 0), (255, 255)] {
        let mut bytes = raw_npy(1, &aligned(1, &f8_dict("(2, 3)")), &six_f64());
        bytes[6] = major;
        bytes[7] = minor;
        assert_header_error(
            &bytes,
            |e| matches!(e, HeaderError::UnsupportedVersion { major: a, minor: b } if (*a, *b) == (major, minor)),
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn header_length_past_the_end() {
    // v1: the length field says 1000 bytes, the file has 100 in all.
    let mut bytes = raw_npy(1, &[b' '; 90], &[]);
    bytes[8..10].copy_from_slice(&1000u16.to_le_bytes());
    assert_eq!(bytes.len(), 100);
    assert_header_error(&bytes, |e| {
        matches!(e, HeaderError::Truncated { needed: 1010, available: 100 })
    });
    // v2 and v3, past the first 4096 bytes read: 5000 of 100,000 bytes.
    for major in [2, 3] {
        let mut bytes = raw_npy(major, &aligned(major, &f8_dict("(2, 3)")), &six_f64());
        bytes.resize(5000, b' ');
        bytes[8..12].copy_from_slice(&100_000u32.to_le_bytes());
        let (_dir, path) = file_with(&bytes);
        let options = NpyOptions::new().max_header_size(1 << 20);
        let errors = header_errors(&path, &options);
        // inspect and read_npy stop at the default limit of 10,000 characters first
        // (v3 counts UTF-8 characters, so up to 40,000 bytes pass that check).
        for (i, err) in errors.iter().enumerate() {
            let ok = if i < 2 {
                matches!(err, HeaderError::TooLarge { len: 100_000, limit: 10_000 })
            } else {
                matches!(err, HeaderError::Truncated { needed: 100_012, available: 5000 })
            };
            assert!(ok, "v{major} entry point {i}: {err:?}");
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn header_not_utf8_in_version_3() {
    let mut header = aligned(3, &f8_dict("(2, 3)"));
    // A lone continuation byte inside the padding.
    let at = header.len() - 5;
    header[at] = 0xff;
    let bytes = raw_npy(3, &header, &six_f64());
    assert_header_error(
        &bytes,
        |e| matches!(e, HeaderError::NotUtf8 { offset } if *offset == 12 + at),
    );
    // The same bytes are valid latin-1 in version 1.0, where 0xff in the padding is not
    // whitespace: a syntax error, not an encoding one.
    let mut header = aligned(1, &f8_dict("(2, 3)"));
    let at = header.len() - 5;
    header[at] = 0xff;
    let bytes = raw_npy(1, &header, &six_f64());
    assert_header_error(&bytes, |e| matches!(e, HeaderError::Syntax { .. }));
    // UTF-8 that is valid in version 3.0 maps: a comment with non-ASCII text.
    let header = aligned(3, &format!("{} # données", f8_dict("(2, 3)")));
    let (_dir, path) = file_with(&raw_npy(3, &header, &six_f64()));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array2::<f64>::map_npy(&path) }.unwrap();
    assert_eq!(a.row(1).to_vec(), [3.5, 4.5, 5.5]);
    assert_eq!(npy::inspect(&path).unwrap().version, (3, 0));
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn header_not_a_dict() {
    for text in ["[1, 2]", "(1, 2)", "'descr'", "42", "None", "True"] {
        let bytes = raw_npy(1, &aligned(1, text), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::NotADict { .. }));
    }
    for text in ["", "{", "{'descr': '<f8'", "{'descr' '<f8'}", "{'descr': <f8}", "garbage"] {
        let bytes = raw_npy(1, &aligned(1, text), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::Syntax { .. }));
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn missing_or_extra_keys() {
    let cases: [(&str, &[&str]); 4] = [
        ("{'descr': '<f8', 'shape': (2, 3)}", &["descr", "shape"]),
        ("{'descr': '<f8', 'fortran_order': False}", &["descr", "fortran_order"]),
        ("{}", &[]),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
            &["descr", "extra", "fortran_order", "shape"],
        ),
    ];
    for (text, keys) in cases {
        let bytes = raw_npy(1, &aligned(1, text), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::Keys { found } if found == keys));
    }
    // A non-string key.
    let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 1: 2}";
    let bytes = raw_npy(1, &aligned(1, text), &six_f64());
    assert_header_error(
        &bytes,
        |e| matches!(e, HeaderError::Keys { found } if found.contains(&"1".to_owned())),
    );
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn bad_shape() {
    for shape in
        ["(2, -3)", "[2, 3]", "(2.0, 3)", "'2, 3'", "(2, None)", "(True, 3)", "6", "{2: 3}"]
    {
        let bytes = raw_npy(1, &aligned(1, &f8_dict(shape)), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::Shape { text } if text == shape));
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn fortran_order_not_a_bool() {
    for value in ["0", "1", "'False'", "None", "()"] {
        let text = format!("{{'descr': '<f8', 'fortran_order': {value}, 'shape': (2, 3), }}");
        let bytes = raw_npy(1, &aligned(1, &text), &six_f64());
        assert_header_error(
            &bytes,
            |e| matches!(e, HeaderError::FortranOrder { text } if text == value),
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn unknown_or_unsupported_descr() {
    for descr in ["'<f3'", "'xyz'", "'float64'", "''", "3", "'<f8 '"] {
        let text = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2, 3), }}");
        let bytes = raw_npy(1, &aligned(1, &text), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::Descr { .. }));
    }
    // Valid NumPy dtypes ndmmap does not map: strings, objects, datetimes, void, fields
    // with titles or of strings (structured dtypes: tests/records.rs).
    for descr in ["'<U3'", "'|O'", "'<M8[s]'", "[(('t', 'a'), '<f8')]", "[('a', '<U3')]", "'|V8'"] {
        let text = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2, 3), }}");
        let bytes = raw_npy(1, &aligned(1, &text), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::UnsupportedDtype { .. }));
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn mismatched_descr_and_rank() {
    let (_dir, path) = file_with(&raw_npy(1, &aligned(1, &f8_dict("(2, 3)")), &six_f64()));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array2::<f32>::map_npy(&path) }.unwrap_err();
    assert!(
        matches!(&err, Error::DtypeMismatch { expected, found, .. } if expected == "<f4" && found == "<f8"),
        "{err:?}"
    );
    assert!(err.to_string().contains("<f4") && err.to_string().contains("<f8"), "{err}");
    // SAFETY: as above.
    let err = unsafe { Array2::<i64>::map_npy_mut(&path) }.unwrap_err();
    assert!(matches!(&err, Error::DtypeMismatch { expected, .. } if expected == "<i8"), "{err:?}");
    let err = npy::read_npy::<Complex<f32>, Ix2>(&path).unwrap_err();
    assert!(matches!(&err, Error::DtypeMismatch { expected, .. } if expected == "<c8"), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::map_npy_copy(&path) }.unwrap_err();
    assert!(matches!(err, Error::RankMismatch { expected: 1, found: 2, .. }), "{err:?}");
    let err = npy::read_npy::<f64, Ix3>(&path).unwrap_err();
    assert!(matches!(err, Error::RankMismatch { expected: 3, found: 2, .. }), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { Array0::<f64>::map_npy(&path) }.unwrap_err();
    assert!(matches!(err, Error::RankMismatch { expected: 0, found: 2, .. }), "{err:?}");
    // The right type and IxDyn both work.
    // SAFETY: as above.
    let a = unsafe { Array2::<f64>::map_npy(&path) }.unwrap();
    // SAFETY: as above.
    let d = unsafe { ArrayD::<f64>::map_npy(&path) }.unwrap();
    assert_eq!(a.view().into_dyn(), d.view());
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn data_shorter_than_the_shape() {
    let header = aligned(1, &f8_dict("(2, 3)"));
    let data = &six_f64()[..40]; // five of the six f64s
    let bytes = raw_npy(1, &header, data);
    let (needed, available) = (128 + 48, 128 + 40u64);
    assert_eq!(bytes.len() as u64, available);
    let (_dir, path) = file_with(&bytes);
    let too_short = |e: &Error| matches!(e, Error::TooShort { path: Some(p), needed: n, available: a } if p == &path && *n == needed && *a == available);
    // Read-only maps refuse extend_file(true) outright (they cannot grow a file);
    // copy-on-write maps ignore it and report the short file.
    for extend in [false, true] {
        let options = NpyOptions::new().extend_file(extend);
        // Not `map_errors`: its read-write map would grow the file.
        // SAFETY: no other process touches files in this fresh temporary folder.
        let r = unsafe { Array2::<f64>::map_npy_with(&path, &options) }.err();
        // SAFETY: as above.
        let c = unsafe { Array2::<f64>::map_npy_copy_with(&path, &options) }.err();
        if extend {
            assert!(matches!(r, Some(Error::InvalidOption { .. })), "{r:?}");
        } else {
            assert!(r.as_ref().is_some_and(too_short), "{r:?}");
        }
        assert!(c.as_ref().is_some_and(too_short), "{c:?}");
    }
    // SAFETY: as above.
    let w = unsafe { Array2::<f64>::map_npy_mut(&path) }.err();
    assert!(w.as_ref().is_some_and(too_short), "{w:?}");
    let read = npy::read_npy::<f64, Ix2>(&path).err();
    assert!(read.as_ref().is_some_and(too_short), "{read:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "no mode changed the file");
    // Only on explicit request does the file grow (with zeros).
    let options = NpyOptions::new().extend_file(true);
    // SAFETY: as above.
    let a = unsafe { Array2::<f64>::map_npy_mut_with(&path, &options) }.unwrap();
    assert_eq!(a.to_owned(), array![[0.5, 1.5, 2.5], [3.5, 4.5, 0.0]]);
    a.close().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), needed);
    // A header that ends exactly at the end of the file, for a non-empty shape.
    let (_dir2, path2) = file_with(&raw_npy(1, &header, &[]));
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::map_npy(&path2) }.unwrap_err();
    assert!(matches!(err, Error::TooShort { needed: 176, available: 128, .. }), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn misaligned_data_offset() {
    // Version 1.0, 10-byte prefix, a 119-byte header: the data starts at byte 129.
    let dict = f8_dict("(2, 3)");
    let mut header = dict.into_bytes();
    header.resize(118, b' ');
    header.push(b'\n');
    let bytes = raw_npy(1, &header, &six_f64());
    let (_dir, path) = file_with(&bytes);
    assert_eq!(npy::inspect(&path).unwrap().data_offset, 129);
    for err in map_errors::<f64, Ix2>(&path, &NpyOptions::new()) {
        assert!(
            matches!(&err, Some(Error::Misaligned { path: Some(p), offset: 129, align: 8 }) if p == &path),
            "{err:?}"
        );
    }
    // The converting read copies, so alignment does not matter to it.
    let read: Array2<f64> = npy::read_npy(&path).unwrap();
    assert_eq!(read, array![[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]);
    // One-byte elements at an odd offset map fine.
    let header = {
        let mut h = b"{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }".to_vec();
        h.resize(118, b' ');
        h.push(b'\n');
        h
    };
    let (_dir2, path2) = file_with(&raw_npy(1, &header, &[7, 8, 9]));
    // SAFETY: as above.
    let a = unsafe { Array1::<u8>::map_npy(&path2) }.unwrap();
    assert_eq!(a.to_vec(), [7, 8, 9]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn header_over_the_size_limit() {
    // A valid version 2.0 header of 20,000 bytes (mostly padding).
    let mut header = f8_dict("(2, 3)").into_bytes();
    header.resize(20_000, b' ');
    while !(12 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let len = header.len();
    let bytes = raw_npy(2, &header, &six_f64());
    let (_dir, path) = file_with(&bytes);
    for err in header_errors(&path, &NpyOptions::new()) {
        assert!(
            matches!(err, HeaderError::TooLarge { len: l, limit: 10_000 } if l == len),
            "{err:?}"
        );
    }
    // A raised limit lets it through, and the header is read past the first 4096 bytes.
    let options = NpyOptions::new().max_header_size(len);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array2::<f64>::map_npy_with(&path, &options) }.unwrap();
    assert_eq!(a[[1, 2]].to_bits(), 5.5f64.to_bits());
    assert_eq!(a.offset(), 12 + len as u64);
    // A limit one below fails, naming it.
    let options = NpyOptions::new().max_header_size(len - 1);
    for err in header_errors(&path, &options).into_iter().skip(2) {
        assert!(matches!(err, HeaderError::TooLarge { limit, .. } if limit == len - 1), "{err:?}");
    }
    // Version 1.0 at exactly the default limit is accepted; one byte more is not.
    for (extra, ok) in [(0, true), (1, false)] {
        let mut header = f8_dict("(2, 3)").into_bytes();
        header.resize(10_000 - 1 + extra, b' ');
        header.push(b'\n');
        let (_dir, path) = file_with(&raw_npy(1, &header, &six_f64()));
        let result = npy::inspect(&path);
        assert_eq!(result.is_ok(), ok, "{:?}", result.err());
        if !ok {
            let err = result.unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Npy { detail: HeaderError::TooLarge { len: 10_001, limit: 10_000 }, .. }
                ),
                "{err:?}"
            );
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn shape_overflow() {
    for shape in [
        "(4611686018427387904, 4)",
        "(9223372036854775807,)",
        "(18446744073709551616,)",
        "(4294967296, 4294967296)",
    ] {
        let bytes = raw_npy(1, &aligned(1, &f8_dict(shape)), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::ShapeOverflow { .. }));
    }
    // Zero anywhere makes the product zero: no overflow, an empty array.
    let bytes = raw_npy(1, &aligned(1, &f8_dict("(0, 18446744073709551615)")), &[]);
    let (_dir, path) = file_with(&bytes);
    let result = npy::read_npy::<f64, Ix2>(&path);
    assert!(
        matches!(&result, Err(Error::Npy { detail: HeaderError::ShapeOverflow { .. }, .. })),
        "{result:?}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn invalid_bool() {
    let header = aligned(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }");
    let (_dir, path) = file_with(&raw_npy(1, &header, &[0, 1, 2, 1]));
    let err = npy::read_npy::<bool, Ix1>(&path).unwrap_err();
    assert!(matches!(&err, Error::InvalidBool { path: p } if p == &path), "{err:?}");
    let (_dir2, path2) = file_with(&raw_npy(1, &header, &[0, 1, 1, 0]));
    assert_eq!(npy::read_npy::<bool, Ix1>(&path2).unwrap(), array![false, true, true, false]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn lenient_where_numpy_is() {
    // Legacy 16-byte alignment, double quotes, no trailing comma, `L` suffixes (v1),
    // keys out of order, and trailing data after the array.
    let text = "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f8\"}";
    let mut header = text.as_bytes().to_vec();
    while !(10 + header.len() + 1).is_multiple_of(16) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut data = six_f64();
    data.extend([0xAB; 13]);
    let (_dir, path) = file_with(&raw_npy(1, &header, &data));
    let h = npy::inspect(&path).unwrap();
    assert_eq!(
        (h.shape.as_slice(), h.data_offset % 16, h.data_offset % 64 == 0),
        (&[2, 3][..], 0, false)
    );
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array2::<f64>::map_npy(&path) }.unwrap();
    assert_eq!(a.to_owned(), array![[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn create_never_touches_an_existing_file_before_validating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.npy");
    array![[1.0f64, 2.0], [3.0, 4.0]].save_npy(&path).unwrap();
    let old = std::fs::read(&path).unwrap();
    let names = || {
        let mut v: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        v.sort();
        v
    };
    // No overwrite: AlreadyExists.
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array2::<f64>::create_npy(&path, (3, 3)) }.unwrap_err();
    assert!(matches!(&err, Error::AlreadyExists { path: p } if p == &path), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), old);
    // Overwrite asked for, but the shape overflows: the old file is untouched.
    let overwrite = NpyOptions::new().overwrite(true);
    for shape in [vec![usize::MAX, 2], vec![1 << 62, 4], vec![1 << 40, 1 << 40]] {
        // SAFETY: as above.
        let err = unsafe { ArrayD::<f64>::create_npy_with(&path, IxDyn(&shape), &overwrite) }
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Overflow { .. }
                    | Error::Npy { detail: HeaderError::ShapeOverflow { .. }, .. }
            ),
            "{shape:?}: {err:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), old, "{shape:?}");
    }
    // Custom strides cannot be written as .npy: refused before the disk is touched.
    let strided = IxDyn(&[2, 3]).strides(IxDyn(&[1, 4]));
    // SAFETY: as above.
    let err = unsafe { ArrayD::<f64>::create_npy_with(&path, strided, &overwrite) }.unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), old);
    // Also in one dimension: a stride of 2 is not a .npy layout.
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::create_npy_with(&path, Ix1(3).strides(Ix1(2)), &overwrite) }
        .unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), old);
    assert_eq!(names(), ["old.npy"], "no temporary file was left behind");
    // A live read-only map of the old file keeps its contents when the file is replaced.
    // SAFETY: as above; the file is replaced by rename, never modified in place.
    let live = unsafe { Array2::<f64>::map_npy(&path) }.unwrap();
    array![[9.0f64]].save_npy(&path).unwrap();
    assert_eq!(live.to_owned(), array![[1.0, 2.0], [3.0, 4.0]]);
    // SAFETY: as above.
    let mut new = unsafe { Array2::<f64>::create_npy_with(&path, (1, 2), &overwrite) }.unwrap();
    new.fill(5.0);
    new.close().unwrap();
    assert_eq!(live.to_owned(), array![[1.0, 2.0], [3.0, 4.0]]);
    assert_eq!(npy::read_npy::<f64, Ix2>(&path).unwrap(), array![[5.0, 5.0]]);
    assert_eq!(names(), ["old.npy"]);
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

/// An array of `dims` (up to 4 axes of 0..5) filled by `fill`, in C or Fortran order, or
/// with its axes permuted by `perm` (neither, in general).
fn arbitrary_array<A: Clone>(dims: &[u8], layout: u8, fill: impl Fn(usize) -> A) -> ArrayD<A> {
    let shape: Vec<usize> = dims.iter().take(4).map(|&d| usize::from(d % 5)).collect();
    let len = shape.iter().product();
    let data: Vec<A> = (0..len).map(fill).collect();
    let c = ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap();
    match layout % 3 {
        0 => c,
        1 => {
            let mut f =
                ArrayD::from_shape_vec(IxDyn(&shape).f(), c.iter().cloned().collect()).unwrap();
            f.assign(&c);
            f
        }
        _ => {
            // A rotation of the axes: not contiguous in either order unless trivial.
            let n = shape.len();
            let axes: Vec<usize> = (0..n).map(|i| (i + 1) % n.max(1)).collect();
            c.permuted_axes(axes)
        }
    }
}

/// `save_npy`, then `map_npy` gives the same array, and `inspect` the shape and order NumPy's
/// rules give for the array's layout.
fn save_then_map<A: NpyElement + Pod + PartialEq + std::fmt::Debug>(a: &ArrayD<A>) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.npy");
    a.save_npy(&path).unwrap();
    let header = npy::inspect(&path).unwrap();
    let fortran = numpy_fortran_order(a.shape(), a.strides());
    // SAFETY: no other process touches files in this fresh temporary folder.
    let map = unsafe { ArrayD::<A>::map_npy(&path) }.unwrap();
    let same =
        map.view() == a.view() && header.shape == a.shape() && header.fortran_order == fortran;
    // The file length is exactly header + data.
    let len = std::fs::metadata(&path).unwrap().len();
    same && len == header.data_offset + (a.len() * size_of::<A>()) as u64
        && header.data_offset.is_multiple_of(64)
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn prop_save_then_map() {
    fn f64s(dims: Vec<u8>, layout: u8, scale: i16) -> bool {
        let a = arbitrary_array(&dims, layout, |i| {
            f64::from(u32::try_from(i).unwrap()) * f64::from(scale) / 8.0
        });
        save_then_map(&a)
    }
    fn u8s(dims: Vec<u8>, layout: u8, start: u8) -> bool {
        #[allow(clippy::cast_possible_truncation)] // wrapping on purpose
        let a = arbitrary_array(&dims, layout, |i| start.wrapping_add(i as u8));
        save_then_map(&a)
    }
    QuickCheck::new().tests(300).quickcheck(f64s as fn(Vec<u8>, u8, i16) -> bool);
    QuickCheck::new().tests(300).quickcheck(u8s as fn(Vec<u8>, u8, u8) -> bool);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn prop_create_then_inspect() {
    fn prop(dims: Vec<u8>, fortran: bool) -> TestResult {
        let shape: Vec<usize> = dims.iter().take(4).map(|&d| usize::from(d % 5)).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.npy");
        let dim = if fortran { IxDyn(&shape).f() } else { IxDyn(&shape).into_shape_with_order() };
        // SAFETY: no other process touches files in this fresh temporary folder.
        let mut map = unsafe { ArrayD::<f64>::create_npy(&path, dim) }.unwrap();
        let strides = map.strides().to_vec();
        map.iter_mut().enumerate().for_each(|(i, x)| *x = f64::from(u32::try_from(i).unwrap()));
        let expected = map.to_owned();
        map.close().unwrap();
        let header = npy::inspect(&path).unwrap();
        let read: ArrayD<f64> = npy::read_npy(&path).unwrap();
        TestResult::from_bool(
            header.shape == shape
                && header.fortran_order == numpy_fortran_order(&shape, &strides)
                && read == expected,
        )
    }
    QuickCheck::new().tests(300).quickcheck(prop as fn(Vec<u8>, bool) -> TestResult);
}

// ---------------------------------------------------------------------------------------
// Stable-Rust fuzzing of the header parser, through the public API (run by hand)
// ---------------------------------------------------------------------------------------

/// xorshift64*: a small seeded generator (no dependency, reproducible from the seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        #[allow(clippy::cast_possible_truncation)] // n is small; the modulo bias is irrelevant
        let r = (self.next() % n.max(1) as u64) as usize;
        r
    }
}

/// Tokens a structure-aware mutation splices into a header.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b",",
    b":",
    b"'",
    b"\"",
    b" ",
    b"\n",
    b"\t",
    b"#",
    b"\\",
    b"'descr'",
    b"'shape'",
    b"'fortran_order'",
    b"True",
    b"False",
    b"None",
    b"u'",
    b"b'",
    b"'<f8'",
    b"'>f8'",
    b"'|b1'",
    b"'<c16'",
    b"'<U3'",
    b"'|O'",
    b"[('a', '<f8')]",
    b"'<M8[s]'",
    b"0",
    b"1",
    b"-1",
    b"-0",
    b"1L",
    b"0x10",
    b"0o7",
    b"0b1",
    b"1_000",
    b"2.5",
    b"1e3",
    b"18446744073709551615",
    b"18446744073709551616",
    b"9223372036854775807",
    b"99999999999999999999999",
    b"\xff",
    b"\xc3\xa9",
    b"\xe2\x82",
    b"\x00",
    b"\x93NUMPY",
    b"'''",
    b"((",
    b"))",
    b",,",
];

/// Seed files: real headers (from `save_npy`, so from the writer) and hand-made lenient ones.
fn fuzz_seeds(dir: &Path) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let mut save = |write: &dyn Fn(&Path)| {
        let path = dir.join("seed.npy");
        write(&path);
        seeds.push(std::fs::read(&path).unwrap());
    };
    save(&|p| array![[1.0f64, 2.0], [3.0, 4.0]].save_npy(p).unwrap());
    save(&|p| array![[1u8, 2, 3]].t().save_npy(p).unwrap());
    save(&|p| ArrayD::<i16>::zeros(IxDyn(&[])).save_npy(p).unwrap());
    save(&|p| ArrayD::<Complex<f32>>::zeros(IxDyn(&[3, 0, 2])).save_npy(p).unwrap());
    save(&|p| array![true, false].save_npy(p).unwrap());
    save(&|p| Array3::<u64>::zeros((2, 1, 2)).save_npy(p).unwrap());
    seeds.push(raw_npy(2, &aligned(2, &f8_dict("(2, 3)")), &six_f64()));
    seeds.push(raw_npy(
        3,
        &aligned(3, "{'descr': '<f8', 'fortran_order': True, 'shape': (3, 2)} # é"),
        &six_f64(),
    ));
    seeds.push(raw_npy(
        1,
        b"{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": u\"<f8\"}\n",
        &six_f64(),
    ));
    seeds
}

/// One mutation of `input`, guided by `seeds` and `TOKENS`.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let len = input.len();
    match rng.below(10) {
        0 if len > 0 => input[rng.below(len)] ^= 1 << rng.below(8),
        1 if len > 0 => input[rng.below(len)] = u8::try_from(rng.below(256)).unwrap(),
        2 => input.truncate(rng.below(len + 1)),
        3 => {
            let token = TOKENS[rng.below(TOKENS.len())];
            let at = rng.below(len + 1);
            input.splice(at..at, token.iter().copied());
        }
        4 if len > 0 => {
            let (a, b) = (rng.below(len), rng.below(len));
            input.drain(a.min(b)..a.max(b));
        }
        5 if len > 0 => {
            // Overwrite the header with a token (replace a value).
            let token = TOKENS[rng.below(TOKENS.len())];
            let at = rng.below(len);
            let end = (at + token.len()).min(len);
            input.splice(at..end, token.iter().copied());
        }
        6 if len >= 12 => {
            // A new length field: small, near the real one, or huge.
            let value = match rng.below(3) {
                0 => rng.below(200) as u64,
                1 => (len as u64)
                    .saturating_sub(10)
                    .wrapping_add(rng.below(9) as u64)
                    .wrapping_sub(4),
                _ => rng.next(),
            };
            if input[6] == 1 {
                input[8..10].copy_from_slice(&value.to_le_bytes()[..2]);
            } else {
                input[8..12].copy_from_slice(&value.to_le_bytes()[..4]);
            }
        }
        7 if len >= 8 => {
            input[6] = [1, 2, 3, 0, 4][rng.below(5)];
            input[7] = u8::from(rng.below(8) == 0);
        }
        8 => {
            // Splice: a prefix of the input and a suffix of another seed.
            let other = &seeds[rng.below(seeds.len())];
            let (a, b) = (rng.below(len + 1), rng.below(other.len() + 1));
            input.truncate(a);
            input.extend_from_slice(&other[b..]);
        }
        _ if len > 0 => {
            // Duplicate a range.
            let (a, b) = (rng.below(len), rng.below(len));
            let piece = input[a.min(b)..a.max(b)].to_vec();
            let at = rng.below(len + 1);
            input.splice(at..at, piece);
        }
        _ => input.extend_from_slice(&seeds[rng.below(seeds.len())]),
    }
}

/// The name of an outcome, for the summary.
fn outcome(result: &Result<npy::NpyHeader, Error>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(Error::Npy { detail, .. }) => {
            let debug = format!("{detail:?}");
            debug.split([' ', '{', '(']).next().unwrap_or("").to_owned()
        }
        Err(other) => format!("other {other:?}"),
    }
}

/// N mutations (env `NPY_FUZZ_ITERS`, default 200,000) of real headers through `inspect`,
/// `read_npy` and `map_npy` on files in /dev/shm, seeded by `NPY_FUZZ_SEED`: no panic, only
/// typed errors, and every accepted header is consistent with the file. Run with
/// `cargo test --release --all-features --test npy -- --ignored fuzz --nocapture`.
#[test]
#[ignore = "a fuzzing run: minutes; run by hand"]
fn fuzz_headers_through_the_public_api() {
    let iters: u64 = std::env::var("NPY_FUZZ_ITERS").map_or(200_000, |v| v.parse().unwrap());
    let seed: u64 = std::env::var("NPY_FUZZ_SEED").map_or(0x5EED_CAFE, |v| v.parse().unwrap());
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
    fuzz(dir.path(), iters, seed);
}

/// The same loop, short and bounded, in every run of the suite: the first 5,000 inputs of
/// the long run's default seed (under a second on this machine's debug build).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn fuzz_headers_briefly() {
    let dir = tempfile::tempdir().unwrap();
    fuzz(dir.path(), 5_000, 0x5EED_CAFE);
}

/// `iters` mutations of real headers, seeded by `seed`, with the files in `dir`; see
/// [`fuzz_headers_through_the_public_api`].
fn fuzz(dir: &Path, iters: u64, seed: u64) {
    let seeds = fuzz_seeds(dir);
    let path = dir.join("fuzz.npy");
    let mut rng = Rng(seed | 1);
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let (mut read_ok, mut mapped) = (0u64, 0u64);
    let start = std::time::Instant::now();
    for i in 0..iters {
        let seed_file = &seeds[rng.below(seeds.len())];
        let input = if rng.below(4) == 0 {
            // The whole file: magic, version, length field, header and data.
            let mut input = seed_file.clone();
            for _ in 0..=rng.below(6) {
                mutate(&mut rng, &mut input, &seeds);
            }
            input
        } else {
            // The header text alone, then a file with a length field that fits it, so that
            // the mutations reach the parser rather than the framing.
            let major = seed_file[6];
            let prefix = if major == 1 { 10 } else { 12 };
            let len_field = &seed_file[8..prefix];
            let header_len = len_field.iter().rev().fold(0usize, |n, &b| n * 256 + usize::from(b));
            let (text, data) = seed_file[prefix..].split_at(header_len);
            let mut text = text.to_vec();
            for _ in 0..=rng.below(4) {
                mutate(&mut rng, &mut text, &seeds);
            }
            if major == 1 && text.len() > usize::from(u16::MAX) {
                text.truncate(usize::from(u16::MAX));
            }
            raw_npy(major, &text, data)
        };
        // A new file each time: truncating one that holds unwritten data makes ext4 write it
        // back first (its `auto_da_alloc` heuristic), which costs milliseconds per input.
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, &input).unwrap();
        let result = std::panic::catch_unwind(|| {
            let header = npy::inspect(&path);
            let read = npy::read_npy::<f64, IxDyn>(&path);
            // SAFETY: this loop alone writes the file, and not while the map lives.
            let map = unsafe { ArrayD::<u8>::map_npy(&path) };
            (header, read, map.map(|m| m.len()))
        });
        let Ok((header, read, map)) = result else {
            let crash = dir.join(format!("crash-{i}.npy"));
            std::fs::write(&crash, &input).unwrap();
            panic!("panic on input {i} (seed {seed}): {:?}", input.escape_ascii().to_string());
        };
        if let Ok(h) = &header {
            assert!(h.data_offset <= input.len() as u64, "header past the end: {h:?}");
            if let Ok(a) = &read {
                assert_eq!(a.shape(), h.shape.as_slice());
                read_ok += 1;
            }
            if let Ok(len) = map {
                assert_eq!(len, h.shape.iter().product::<usize>());
                mapped += 1;
            }
        } else {
            assert!(read.is_err() && map.is_err(), "inspect failed but a read succeeded");
        }
        *outcomes.entry(outcome(&header)).or_default() += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{iters} inputs in {secs:.1} s ({:.0}/s), seed {seed}: read_npy ok {read_ok}, map_npy ok {mapped}",
        f64::from(u32::try_from(iters).unwrap_or(u32::MAX)) / secs
    );
    for (name, count) in &outcomes {
        eprintln!("  {name:24} {count}");
    }
    assert!(outcomes.len() > 8, "the mutations reach few outcomes: {outcomes:?}");
}
