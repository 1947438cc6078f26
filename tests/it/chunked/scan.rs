//! Scans along an axis (`cumsum`, `cumprod`, `accumulate_axis` and their `_into` and
//! in-place forms) equal ndarray's `accumulate_axis_inplace` for random shapes, memory
//! orders, axes and chunk sizes, into owned arrays, plain outputs and mapped `.npy` files;
//! NumPy's `np.cumsum` and `np.cumprod` find their own results, bit for bit, in the files
//! the engine writes, edge values included; errors come before anything is written.

// Test values are small integers and floats made from them, so the casts between them are
// exact or deliberately rounding (f64 to f32, as NumPy's astype).
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::similar_names
)]

use super::*;

/// A scan that is neither commutative nor associative, so that a carry taken from the
/// wrong element, or lanes walked out of order, change the result.
#[allow(clippy::trivially_copy_pass_by_ref, reason = "accumulate_axis's closure signature")]
fn affine(prev: &f64, curr: &mut f64) {
    *curr = 0.5 * *prev - *curr;
}

/// `x` scanned along `axis` by `f` with ndarray: the oracle.
fn oracle(x: &ArrayD<f64>, axis: Axis, f: Step) -> ArrayD<f64> {
    let mut expected = x.to_owned();
    expected.accumulate_axis_inplace(axis, f);
    expected
}

/// A scan's step, as `accumulate_axis` takes it.
type Step = fn(&f64, &mut f64);

/// Which scan a case runs.
const SCANS: [(&str, Step); 3] =
    [("cumsum", |p, c| *c += p), ("cumprod", |p, c| *c *= p), ("affine", affine)];

/// Every form of the scan `scan` along `axis` of `zip()`'s input, each checked against
/// `expected`: owned, into a plain array of each order, into a mapped `.npy` of each order.
fn check_scan<'a>(
    zip: &dyn Fn() -> chunked::Zip<'a, (ArrayViewD<'a, f64>,), IxDyn>,
    scan: usize,
    axis: Axis,
    expected: &ArrayD<f64>,
    dir: &Path,
    what: &str,
) {
    let (name, f) = SCANS[scan];
    let what = format!("{what} {name} axis {}", axis.index());
    let owned = match name {
        "cumsum" => zip().cumsum(axis),
        "cumprod" => zip().cumprod(axis),
        _ => zip().accumulate_axis(axis, f),
    };
    assert_eq!(owned.as_ref().ok(), Some(expected), "owned {what}");
    for fortran in [false, true] {
        let mut plain = ArrayD::<f64>::from_elem(expected.raw_dim().set_f(fortran), f64::NAN);
        let done = match name {
            "cumsum" => zip().cumsum_into(axis, &mut plain),
            "cumprod" => zip().cumprod_into(axis, &mut plain),
            _ => zip().accumulate_axis_into(axis, &mut plain, f),
        };
        assert!(done.is_ok(), "plain {what}: {done:?}");
        assert_eq!(plain, *expected, "plain fortran {fortran} {what}");

        let path = dir.join(format!("out{}.npy", u8::from(fortran)));
        let _ = std::fs::remove_file(&path);
        // SAFETY: no other process touches files in this test's temporary folder.
        let mut mapped =
            unsafe { ArrayD::<f64>::create_npy(&path, dyn_shape(expected.shape(), fortran)) }
                .unwrap();
        let done = match name {
            "cumsum" => zip().cumsum_into(axis, &mut mapped),
            "cumprod" => zip().cumprod_into(axis, &mut mapped),
            _ => zip().accumulate_axis_into(axis, &mut mapped, f),
        };
        assert!(done.is_ok(), "mapped {what}: {done:?}");
        assert_eq!(*mapped, *expected, "mapped fortran {fortran} {what}");
    }
}

/// Every scan along every axis of a random array of one to three axes, mapped in C or
/// Fortran order or a plain view in any of five orders (C, Fortran, reversed, sliced,
/// transposed), in chunks of any size (so that the carry passes between chunks, or each
/// chunk holds whole lanes), into owned arrays, plain outputs and mapped `.npy` files of
/// either order, and in place on a mapped file, equals ndarray's `accumulate_axis_inplace`.
#[allow(clippy::needless_pass_by_value)] // quickcheck hands arguments over by value
fn scans_equal_ndarray(dims: Vec<u8>, fortran: bool, kind: u8, chunk: u8, scan: u8) -> bool {
    let shape = small_shape(&dims);
    let chunk = CHUNKS[usize::from(chunk) % CHUNKS.len()];
    let scan = usize::from(scan) % SCANS.len();
    // Values near one, so that products stay finite and exact comparison stays meaningful.
    let values = input_values(&shape, 0.125).mapv(|v| 1.0 + v % 1.5);
    let dir = tempfile::tempdir().unwrap();
    let mapped = mapped_input(&dir.path().join("x.bin"), &values, fortran).unwrap();
    let plain = variant(&values, kind);
    let view = (plain.view)(&plain.storage);
    for k in 0..shape.len() {
        let axis = Axis(k);
        let expected = oracle(&values, axis, SCANS[scan].1);
        let what = format!("{shape:?} fortran {fortran} kind {kind} chunk {chunk}");
        let zip = || chunked::Zip::from(&mapped).chunk_bytes(chunk);
        check_scan(&zip, scan, axis, &expected, dir.path(), &format!("mapped {what}"));
        let zip = || chunked::Zip::from(view.view()).chunk_bytes(chunk);
        check_scan(&zip, scan, axis, &expected, dir.path(), &format!("plain {what}"));

        // In place, on a writable map of the input's file.
        let path = dir.path().join("inplace.bin");
        let _ = std::fs::remove_file(&path);
        drop(mapped_input(&path, &values, fortran).unwrap());
        // SAFETY: no other process touches files in this test's temporary folder.
        let mut writable =
            unsafe { ArrayD::<f64>::map_file_mut_with(&path, &options(&shape, fortran)) }.unwrap();
        chunked::Zip::from(&mut writable)
            .chunk_bytes(chunk)
            .accumulate_axis_inplace(axis, SCANS[scan].1)
            .unwrap();
        assert_eq!(*writable, expected, "in place {what} axis {k}");
        drop(writable);
        assert_eq!(std::fs::read(&path).unwrap(), file_bytes(&expected, fortran), "{what}");
    }
    true
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn scans_equal_ndarray_for_random_shapes_axes_orders_and_chunks() {
    quickcheck::QuickCheck::new()
        .tests(30)
        .quickcheck(scans_equal_ndarray as fn(Vec<u8>, bool, u8, u8, u8) -> bool);
}

/// A long 1-D file and a tall matrix scanned along their long axis in many small chunks:
/// the carry passes between hundreds of chunks; integers (exact) and floats (summed in
/// order, so equal to ndarray's bit for bit).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn the_carry_passes_between_many_chunks() -> TestResult {
    let dir = tempfile::tempdir()?;
    let long = Array1::from_shape_fn(100_000, |i| (i % 97) as i64 - 40);
    long.save_npy(dir.path().join("long.npy"))?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mapped = unsafe { Array1::<i64>::map_npy(dir.path().join("long.npy"))? };
    let sums = chunked::Zip::from(&mapped).chunk_bytes(4096).cumsum(Axis(0))?;
    let mut expected = long.clone();
    expected.accumulate_axis_inplace(Axis(0), |p, c| *c += p);
    assert_eq!(sums, expected);

    let tall = Array2::from_shape_fn((20_000, 3), |(i, j)| ((i * 7 + j) % 13) as f64 * 0.1);
    tall.save_npy(dir.path().join("tall.npy"))?;
    // SAFETY: as above.
    let mapped = unsafe { Array2::<f64>::map_npy(dir.path().join("tall.npy"))? };
    // SAFETY: as above.
    let mut out = unsafe { Array2::<f64>::create_npy(dir.path().join("out.npy"), (20_000, 3))? };
    chunked::Zip::from(&mapped).chunk_bytes(1000).cumsum_into(Axis(0), &mut out)?;
    let mut expected = tall.clone();
    expected.accumulate_axis_inplace(Axis(0), |p, c| *c += p);
    assert_eq!(*out, expected);
    Ok(())
}

/// NumPy's `np.cumsum` and `np.cumprod` along each axis of `f64`, `f32` and `int64` files
/// in C and Fortran order, edge values included (signed zeros, infinities, NaN, huge and
/// tiny values), equal the engine's results in new `.npy` files bit for bit (NaN where
/// NumPy has NaN).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn numpy_finds_its_cumsum_and_cumprod_in_the_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    let edge = [
        -0.0,
        -0.0,
        0.0,
        f64::INFINITY,
        1e308,
        -1e308,
        f64::NAN,
        1e-310,
        3.5,
        -2.25,
        f64::NEG_INFINITY,
        0.1,
    ];
    let x = Array2::from_shape_fn((50, 9), |(i, j)| edge[(i * 5 + j * 3) % edge.len()] * 0.9);
    let x32 = x.mapv(|v| v as f32);
    let xi = Array2::from_shape_fn((50, 9), |(i, j)| (i as i64 * 1_000_003 - j as i64 * 7) << 20);
    for fortran in [false, true] {
        let order = if fortran { "f" } else { "c" };
        let mut f64_in = unsafe_create::<f64>(&dir.path().join(format!("x_{order}.npy")), fortran)?;
        f64_in.assign(&x);
        let mut f32_in =
            unsafe_create::<f32>(&dir.path().join(format!("x32_{order}.npy")), fortran)?;
        f32_in.assign(&x32);
        let mut i64_in =
            unsafe_create::<i64>(&dir.path().join(format!("xi_{order}.npy")), fortran)?;
        i64_in.assign(&xi);
        for k in 0..2 {
            let axis = Axis(k);
            let out = |name: &str| dir.path().join(format!("{name}_{order}{k}.npy"));
            let mut s = unsafe_create::<f64>(&out("cumsum"), fortran)?;
            chunked::Zip::from(&f64_in).chunk_bytes(256).cumsum_into(axis, &mut s)?;
            let mut p = unsafe_create::<f64>(&out("cumprod"), fortran)?;
            chunked::Zip::from(&f64_in).chunk_bytes(256).cumprod_into(axis, &mut p)?;
            let mut s32 = unsafe_create::<f32>(&out("cumsum32"), fortran)?;
            chunked::Zip::from(&f32_in).chunk_bytes(100).cumsum_into(axis, &mut s32)?;
            let mut si = unsafe_create::<i64>(&out("cumsumi"), fortran)?;
            chunked::Zip::from(&i64_in).chunk_bytes(512).accumulate_axis_into(
                axis,
                &mut si,
                |p, c| *c = c.wrapping_add(*p),
            )?;
        }
    }
    let code = r"
import numpy as np
for o in 'cf':
    x, x32, xi = (np.load(f'{n}_{o}.npy') for n in ('x', 'x32', 'xi'))
    for k in range(2):
        for name, want in [('cumsum', np.cumsum(x, axis=k)), ('cumprod', np.cumprod(x, axis=k)),
                           ('cumsum32', np.cumsum(x32, axis=k)),
                           ('cumsumi', np.cumsum(xi, axis=k))]:
            got = np.load(f'{name}_{o}{k}.npy')
            assert got.dtype == want.dtype, (name, o, k, got.dtype, want.dtype)
            same = (got == want) | (np.isnan(got) & np.isnan(want)) if got.dtype.kind == 'f' else got == want
            assert same.all(), (name, o, k, np.argwhere(~same)[:3])
            if got.dtype.kind == 'f':
                # Signs of zeros and infinities; a NaN's sign is the CPU's (x86 makes
                # negative ones, Arm positive), and NumPy may run on another CPU.
                signed = ~np.isnan(want)
                assert (np.signbit(got) == np.signbit(want))[signed].all(), (name, o, k)
print('numpy ok')
";
    let Some(out) = common::run_code(dir.path(), code) else { return Ok(()) };
    assert!(out.contains("numpy ok"), "{out}");
    Ok(())
}

/// A new `(50, 9)` `.npy` of `A` in the given order.
fn unsafe_create<A: ndmmap::npy::NpyElement + bytemuck::Pod>(
    path: &Path,
    fortran: bool,
) -> Result<MmapArrayMut<A, Ix2>, ndmmap::Error> {
    // SAFETY: no other process touches files in this test's temporary folder.
    unsafe { Array2::<A>::create_npy(path, (50, 9).set_f(fortran)) }
}

/// An axis the array lacks and an output of another shape are refused before anything is
/// read or written: the output stays as it was, in memory and in its file.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn scan_errors_come_before_writing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let x = Array2::from_shape_fn((30, 4), |(i, j)| (i + j) as f64);
    let path = dir.path().join("out.npy");
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut out = unsafe { Array2::<f64>::create_npy(&path, (30, 4))? };
    out.fill(7.0);
    out.flush()?;
    let before = std::fs::read(&path)?;

    let err = chunked::Zip::from(&x).cumsum_into(Axis(2), &mut out).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AxisOutOfRange { axis: 2, ndim: 2 }), "{err}");
    let err = chunked::Zip::from(&x).cumsum(Axis(5)).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AxisOutOfRange { axis: 5, ndim: 2 }), "{err}");
    let err =
        chunked::Zip::from(&mut out).accumulate_axis_inplace(Axis(3), |p, c| *c += p).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AxisOutOfRange { axis: 3, ndim: 2 }), "{err}");

    let wrong = Array2::<f64>::ones((4, 30));
    let err = chunked::Zip::from(&wrong).cumprod_into(Axis(0), &mut out).unwrap_err();
    assert!(
        matches!(&err, ndmmap::Error::ShapeMismatch { operand: 1, expected, actual }
            if expected == &[4, 30] && actual == &[30, 4]),
        "{err}"
    );
    assert!(out.iter().all(|&v| v == 7.0));
    drop(out);
    assert_eq!(std::fs::read(&path)?, before);
    Ok(())
}

/// Cumulative sums of a 32 MiB mapped file into a new 32 MiB mapped `.npy` in 1 MiB chunks
/// keep the resident set within a few chunks: the carry is one element, and both maps are
/// released behind the walk. The owned `cumsum` holds its 32 MiB result, which shows the
/// measure sees growth. Measured in a child process (this test binary, run again for this
/// test alone), so that other tests' memory does not count.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn scanning_into_a_mapped_output_keeps_the_resident_set_within_a_few_chunks() -> TestResult {
    const CHILD: &str = "NDMMAP_TEST_SCAN_RSS_DIR";
    const NAME: &str = "scanning_into_a_mapped_output_keeps_the_resident_set_within_a_few_chunks";
    const LEN: usize = 4 << 20; // f64: 32 MiB
    const CHUNK: usize = 1 << 20;
    // The chunk computed and those read ahead, of the input and the output, and pages
    // awaiting release: measured 10.6 MiB; half the result, whole, would be 16 MiB.
    const BOUND_KIB: u64 = 16 << 10;
    if let Ok(dir) = std::env::var(CHILD) {
        let path = Path::new(&dir).join("x.bin");
        // A sparse file: reads as zeros, takes no disk.
        std::fs::File::create(&path)?.set_len((LEN * 8) as u64)?;
        // SAFETY: no other process touches files in this test's temporary folder.
        let x = unsafe { Array1::<f64>::map_file_with(&path, &MapOptions::new().shape(LEN))? };
        // SAFETY: as above.
        let mut out = unsafe { Array1::<f64>::create_npy(Path::new(&dir).join("c.npy"), LEN)? };
        let mut ok = true;
        let mapped = peak_growth_kib(|| {
            ok = chunked::Zip::from(&x).chunk_bytes(CHUNK).cumsum_into(Axis(0), &mut out).is_ok();
        });
        ok &= out.iter().step_by(4099).all(|&s| s == 0.0);
        drop(out);
        let owned = peak_growth_kib(|| {
            ok &= chunked::Zip::from(&x)
                .chunk_bytes(CHUNK)
                .cumsum(Axis(0))
                .is_ok_and(|s| s.len() == LEN);
        });
        println!("scan ok {ok} mapped_kib {mapped} owned_kib {owned} end");
        return Ok(());
    }
    let Some(dir) = common::disk_tempdir() else { return Ok(()) };
    let child = ChildReport::run(module_path!(), NAME, CHILD, dir.path())?;
    assert!(child.says("scan ok true"), "{}", child.0);
    let (mapped, owned) = (child.number("mapped_kib"), child.number("owned_kib"));
    eprintln!(
        "cumsum of 32 MiB: resident set growth into a mapped .npy {mapped} KiB, owned {owned} KiB"
    );
    assert!(mapped < BOUND_KIB, "into a mapped output: grew by {mapped} KiB (bound {BOUND_KIB})");
    assert!(owned >= 32 << 10, "owned result: grew by only {owned} KiB, less than the result");
    Ok(())
}
