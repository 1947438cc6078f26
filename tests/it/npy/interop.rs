//! NumPy writes and ndmmap maps; ndmmap writes and NumPy loads, comparing bytes with
//! `np.save`; NumPy reads a live map.

use super::*;

/// One file `npy_interop.py write` made.
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
    assert_eq!(cases.len(), 25 * 9 * 2 + 4 * 2, "npy_interop.py write made another set of files");
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

/// The files ndmmap wrote, for `npy_interop.py check`.
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

#[cfg(unix)]
#[test]
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
