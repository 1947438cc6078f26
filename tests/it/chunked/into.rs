//! Reductions into a given output (`_into`, NumPy's `out=`), mapped or plain, against
//! ndarray's own reductions; NumPy reads the mapped ones.

use super::*;

/// The reductions `_into` is checked for.
const INTO: &[&str] = &["sum", "mean", "var0", "var1", "std0", "std1", "min", "max", "mean_var"];

/// What ndarray (or the naive extreme) gives for reduction `name` of `values` along `axis`:
/// the result(s), or `None` where the reduction has no value (an empty axis, ddof too big).
fn expected_into(name: &str, values: &ArrayD<f64>, axis: Axis) -> Option<Vec<ArrayD<f64>>> {
    let n = values.len_of(axis);
    let empty = values.is_empty() && values.raw_dim().remove_axis(axis).size() > 0;
    Some(match name {
        "sum" => vec![values.sum_axis(axis)],
        "mean" | "min" | "max" if empty => return None,
        "mean" => vec![values.mean_axis(axis).unwrap_or_else(|| values.sum_axis(axis))],
        "var1" | "std1" if n == 0 => return None,
        "var0" => vec![values.var_axis(axis, 0.0)],
        "var1" => vec![values.var_axis(axis, 1.0)],
        "std0" => vec![values.std_axis(axis, 0.0)],
        "std1" => vec![values.std_axis(axis, 1.0)],
        "min" | "max" if n == 0 => vec![values.sum_axis(axis)], // an empty result
        "min" => vec![naive_extreme(values, axis, false)],
        "max" => vec![naive_extreme(values, axis, true)],
        "mean_var" => vec![
            values.mean_axis(axis).unwrap_or_else(|| values.sum_axis(axis).mapv(|_| f64::NAN)),
            values.var_axis(axis, 0.0),
        ],
        _ => unreachable!("{name}"),
    })
}

/// Whether `err` is the error reduction `name` along axis `k` gives where ndarray has no
/// value ([`expected_into`] is `None`): a ddof of 1 over an empty axis, or the mean, minimum
/// or maximum of an empty axis into a non-empty result.
fn is_expected_into_error(name: &str, err: &ndmmap::Error, k: usize) -> bool {
    match name {
        "var1" | "std1" => matches!(
            err,
            ndmmap::Error::InvalidDdof { ddof, len: 0, axis } if *ddof == 1.0 && *axis == k
        ),
        "mean" | "min" | "max" => matches!(err, ndmmap::Error::EmptyAxis { axis } if *axis == k),
        _ => false,
    }
}

/// Runs reduction `name` of `zip` along `axis` into `outs` (one, two for `mean_var`).
fn run_into<'a>(
    name: &str,
    zip: chunked::Zip<'a, (ArrayViewD<'a, f64>,), IxDyn>,
    axis: Axis,
    outs: &'a mut [ArrayViewMutD<'_, f64>],
) -> Result<(), ndmmap::Error> {
    match (name, outs) {
        ("sum", [out]) => zip.sum_axis_into(axis, out.view_mut()),
        ("mean", [out]) => zip.mean_axis_into(axis, out.view_mut()),
        ("var0", [out]) => zip.var_axis_into(axis, 0.0, out.view_mut()),
        ("var1", [out]) => zip.var_axis_into(axis, 1.0, out.view_mut()),
        ("std0", [out]) => zip.std_axis_into(axis, 0.0, out.view_mut()),
        ("std1", [out]) => zip.std_axis_into(axis, 1.0, out.view_mut()),
        ("min", [out]) => zip.min_axis_into(axis, out.view_mut()),
        ("max", [out]) => zip.max_axis_into(axis, out.view_mut()),
        ("mean_var", [mean, var]) => {
            zip.mean_var_axis_into(axis, 0.0, mean.view_mut(), var.view_mut())
        }
        (name, outs) => unreachable!("{name} with {} outputs", outs.len()),
    }
}

/// Every `_into` reduction of `zip()` along every axis of `values`, into plain arrays and
/// into new mapped `.npy` files in `dir` (C order, or Fortran order when `fortran_out`),
/// equals ndarray's; where ndarray has no value, the error is exactly the documented one
/// and no output changes (the plain arrays keep their values, the files their bytes). The
/// mapped results are checked again from the files, mapped anew.
fn check_into<'a>(
    zip: &dyn Fn() -> chunked::Zip<'a, (ArrayViewD<'a, f64>,), IxDyn>,
    values: &ArrayD<f64>,
    dir: &Path,
    fortran_out: bool,
    what: &str,
) {
    let sub = tempfile::tempdir_in(dir).unwrap();
    let dir = sub.path();
    for k in 0..values.ndim() {
        let axis = Axis(k);
        let smaller = values.raw_dim().remove_axis(axis);
        for &name in INTO {
            let expected = expected_into(name, values, axis);
            let count = if name == "mean_var" { 2 } else { 1 };
            let what = format!("{name} axis {k} {what} fortran out {fortran_out}");
            // Into plain arrays.
            let mut plain: Vec<ArrayD<f64>> =
                (0..count).map(|_| ArrayD::from_elem(smaller.clone(), -7.0)).collect();
            let mut views: Vec<ArrayViewMutD<'_, f64>> =
                plain.iter_mut().map(|p| p.view_mut()).collect();
            let result = run_into(name, zip(), axis, &mut views);
            drop(views);
            if let Some(expected) = &expected {
                assert!(result.is_ok(), "{what}: {result:?}");
                for (got, expected) in plain.iter().zip(expected) {
                    assert!(close(got, expected), "{what}: {got} != {expected}");
                }
            } else {
                let err = result.unwrap_err();
                assert!(is_expected_into_error(name, &err, k), "{what}: {err:?}");
                assert!(plain.iter().all(|p| p.iter().all(|&x| x == -7.0)), "{what}");
            }
            // Into mapped `.npy` files.
            let paths: Vec<PathBuf> =
                (0..count).map(|i| dir.join(format!("{name}{k}_{i}.npy"))).collect();
            let mut guards: Vec<MmapArrayMut<f64, IxDyn>> = paths
                .iter()
                .map(|p| {
                    // SAFETY: no other process touches files in this test's temporary folder.
                    let mut guard =
                        unsafe { ArrayD::<f64>::create_npy(p, smaller.clone().set_f(fortran_out)) }
                            .unwrap();
                    // A value no reduction gives here, so that a failed one is seen to
                    // leave the file as it was.
                    guard.fill(-7.0);
                    guard
                })
                .collect();
            let before: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
            let result = match (name, guards.as_mut_slice()) {
                ("sum", [out]) => zip().sum_axis_into(axis, out),
                ("mean", [out]) => zip().mean_axis_into(axis, out),
                ("var0", [out]) => zip().var_axis_into(axis, 0.0, out),
                ("var1", [out]) => zip().var_axis_into(axis, 1.0, out),
                ("std0", [out]) => zip().std_axis_into(axis, 0.0, out),
                ("std1", [out]) => zip().std_axis_into(axis, 1.0, out),
                ("min", [out]) => zip().min_axis_into(axis, out),
                ("max", [out]) => zip().max_axis_into(axis, out),
                ("mean_var", [mean, var]) => zip().mean_var_axis_into(axis, 0.0, mean, var),
                _ => unreachable!(),
            };
            match (&result, &expected) {
                (Ok(()), Some(_)) => {}
                (Err(err), None) => {
                    assert!(is_expected_into_error(name, err, k), "{what}: {err:?}");
                }
                (result, _) => {
                    panic!("{what}: into mapped outputs {result:?}, against ndarray's {expected:?}")
                }
            }
            for guard in guards {
                guard.close().unwrap();
            }
            if expected.is_none() {
                for (path, before) in paths.iter().zip(&before) {
                    let after = std::fs::read(path).unwrap();
                    assert!(
                        after == *before,
                        "{what}: the failed reduction changed {}",
                        path.display()
                    );
                }
            }
            if let Some(expected) = &expected {
                for (path, expected) in paths.iter().zip(expected) {
                    // SAFETY: as above.
                    let got = unsafe { ArrayD::<f64>::map_npy(path) }.unwrap();
                    assert!(
                        close(&got, expected),
                        "{what}: mapped {} != {expected}",
                        got.to_owned()
                    );
                }
            }
        }
    }
}

/// Every `_into` reduction along every axis of a random array of one to three axes (with
/// NaNs when asked), mapped in C or Fortran order or a plain view in any of five orders
/// (C, Fortran, reversed, sliced, transposed), in chunks of any size, into plain arrays and
/// mapped `.npy` files in either order, equals ndarray's.
#[allow(clippy::needless_pass_by_value)] // quickcheck hands arguments over by value
fn reductions_into_equal_ndarray(
    dims: Vec<u8>,
    fortran: bool,
    kind: u8,
    chunk: u8,
    nan: bool,
    fortran_out: bool,
) -> bool {
    let shape = small_shape(&dims);
    let chunk = CHUNKS[usize::from(chunk) % CHUNKS.len()];
    let mut values = input_values(&shape, 0.5) - 3.0;
    if nan && values.len() > 2 {
        let k = values.len() / 3;
        values.as_slice_mut().unwrap()[k] = f64::NAN;
    }
    let dir = tempfile::tempdir().unwrap();
    let mapped = mapped_input(&dir.path().join("x.bin"), &values, fortran).unwrap();
    let what = format!("{shape:?} fortran {fortran} kind {kind} chunk {chunk}");
    let zip = || chunked::Zip::from(&mapped).chunk_bytes(chunk);
    check_into(&zip, &values, dir.path(), fortran_out, &format!("mapped {what}"));
    let plain = variant(&values, kind);
    let view = (plain.view)(&plain.storage);
    let zip = || chunked::Zip::from(view.view()).chunk_bytes(chunk);
    check_into(&zip, &values, dir.path(), fortran_out, &format!("plain {what}"));
    true
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reductions_into_equal_ndarray_for_random_shapes_axes_and_orders() {
    quickcheck::QuickCheck::new()
        .tests(20)
        .quickcheck(reductions_into_equal_ndarray as fn(Vec<u8>, bool, u8, u8, bool, bool) -> bool);
}

/// Arrays long enough that the walk cuts along a kept axis for a long result (a short axis
/// reduced: each chunk fills its own slab of the mapped output) and along the reduced axis
/// for a short one (the mapped output accumulated in place), in C and Fortran order, each
/// reduced along every axis into mapped outputs and plain arrays.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reductions_into_mapped_outputs_for_long_and_short_axes() {
    let dir = tempfile::tempdir().unwrap();
    // Along the short axis of a long mapped input, the whole output (8 bytes per element)
    // costs more than a chunk of 8192-element tiles (64 KiB runs) per row once the long
    // axis passes 8192; a short result stays whole, accumulated in place.
    for (i, (shape, fortran)) in [
        (&[2, 10_000][..], false),
        (&[3000, 2][..], false),
        (&[10_000, 2][..], true),
        (&[2, 3000][..], true),
        (&[2, 60, 70][..], false),
    ]
    .into_iter()
    .enumerate()
    {
        let values = input_values(shape, 0.25) + 1e6;
        let mapped = mapped_input(&dir.path().join(format!("x{i}.bin")), &values, fortran).unwrap();
        let (chunk, fortran_out) = [(4096, true), (1 << 20, false)][i % 2];
        let what = format!("{shape:?} fortran {fortran} chunk {chunk}");
        let zip = || chunked::Zip::from(&mapped).chunk_bytes(chunk);
        check_into(&zip, &values, dir.path(), fortran_out, &what);
    }
}

/// An output of the wrong shape (or a second one, for `mean_var`) is
/// `Error::OutputShapeMismatch`, reported before anything is read or written: the output
/// file keeps its bytes. An output of the right shape with an invalid ddof or an empty
/// axis is reported first too.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reduction_into_errors_come_before_writing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let x = Array2::from_shape_fn((4, 3), |(i, j)| (i * 3 + j) as f64);
    let path = dir.path().join("out.npy");
    Array1::from_elem(4, 9.0).save_npy(&path)?;
    let before = std::fs::read(&path)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut out = unsafe { Array1::<f64>::map_npy_mut(&path)? };
    let err = chunked::Zip::from(&x).sum_axis_into(Axis(0), &mut out).unwrap_err();
    assert!(
        matches!(
            &err,
            ndmmap::Error::OutputShapeMismatch { output: 0, input, axis: 0, expected, actual }
                if input == &[4, 3] && expected == &[3] && actual == &[4]
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "output 0 has shape [4], but reducing shape [4, 3] along axis 0 gives shape [3]"
    );
    let err = chunked::Zip::from(&x).max_axis_into(Axis(0), &mut out).unwrap_err();
    assert!(matches!(err, ndmmap::Error::OutputShapeMismatch { .. }), "{err:?}");
    let mut right = Array1::<f64>::zeros(3);
    let err =
        chunked::Zip::from(&x).mean_var_axis_into(Axis(0), 0.0, &mut right, &mut out).unwrap_err();
    assert!(matches!(err, ndmmap::Error::OutputShapeMismatch { output: 1, .. }), "{err:?}");
    assert_eq!(right, Array1::<f64>::zeros(3));
    let err = chunked::Zip::from(&x).std_axis_into(Axis(2), 0.0, &mut out).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AxisOutOfRange { axis: 2, ndim: 2 }), "{err:?}");
    // The right shape: `out` reduces axis 1 of `x`; a ddof above 3 is reported first.
    let err = chunked::Zip::from(&x).var_axis_into(Axis(1), 4.0, &mut out).unwrap_err();
    assert!(matches!(err, ndmmap::Error::InvalidDdof { len: 3, axis: 1, .. }), "{err:?}");
    let empty = Array2::<f64>::zeros((0, 4));
    let err = chunked::Zip::from(&empty).mean_axis_into(Axis(0), &mut out).unwrap_err();
    assert!(matches!(err, ndmmap::Error::EmptyAxis { axis: 0 }), "{err:?}");
    let err = chunked::Zip::from(&empty).min_axis_into(Axis(0), &mut out).unwrap_err();
    assert!(matches!(err, ndmmap::Error::EmptyAxis { axis: 0 }), "{err:?}");
    out.close()?;
    assert_eq!(std::fs::read(&path)?, before, "the output file changed");
    // A `u8` mean over 300 rows (where ndarray's `mean_axis` panics): `None` as before,
    // an error into an output.
    let bytes = Array2::<u8>::ones((300, 2));
    assert_eq!(chunked::Zip::from(&bytes).mean_axis(Axis(0))?, None);
    let mut means = Array1::<u8>::from_elem(2, 9);
    let err = chunked::Zip::from(&bytes).mean_axis_into(Axis(0), &mut means).unwrap_err();
    assert!(matches!(err, ndmmap::Error::CountOverflow { axis: 0, len: 300 }), "{err:?}");
    assert_eq!(means, Array1::from_elem(2, 9));
    Ok(())
}

/// NumPy reads the `.npy` files the `_into` reductions write (C and Fortran order, a 3-D
/// input reduced along each axis) and finds its own `sum`, `mean`, `var`, `std`, `min` and
/// `max` in them.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn numpy_reads_reductions_into_npy() -> TestResult {
    let Some(python) = common::numpy_python() else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    let x = Array3::from_shape_fn((3, 50, 70), |(i, j, k)| ((i * 31 + j * 7 + k) % 23) as f64);
    x.save_npy(dir.path().join("x.npy"))?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mapped = unsafe { Array3::<f64>::map_npy(dir.path().join("x.npy"))? };
    for k in 0..3 {
        let axis = Axis(k);
        let shape = x.raw_dim().remove_axis(axis);
        let fortran = k == 1;
        let create = |name: &str| {
            let path = dir.path().join(format!("{name}{k}.npy"));
            // SAFETY: as above.
            unsafe { Array2::<f64>::create_npy(path, shape.set_f(fortran)) }
        };
        let zip = || chunked::Zip::from(&mapped).chunk_bytes(4096);
        let (mut sum, mut mean, mut var, mut std, mut min, mut max, mut m, mut v) = (
            create("sum")?,
            create("mean")?,
            create("var")?,
            create("std")?,
            create("min")?,
            create("max")?,
            create("m")?,
            create("v")?,
        );
        zip().sum_axis_into(axis, &mut sum)?;
        zip().mean_axis_into(axis, &mut mean)?;
        zip().var_axis_into(axis, 1.0, &mut var)?;
        zip().std_axis_into(axis, 0.0, &mut std)?;
        zip().min_axis_into(axis, &mut min)?;
        zip().max_axis_into(axis, &mut max)?;
        zip().mean_var_axis_into(axis, 1.0, &mut m, &mut v)?;
    }
    let script = r#"
import sys, numpy as np
d = sys.argv[1]
x = np.load(f"{d}/x.npy")
for k in range(3):
    for name, want in [("sum", x.sum(axis=k)), ("mean", x.mean(axis=k)),
                       ("var", x.var(axis=k, ddof=1)), ("std", x.std(axis=k)),
                       ("min", x.min(axis=k)), ("max", x.max(axis=k)),
                       ("m", x.mean(axis=k)), ("v", x.var(axis=k, ddof=1))]:
        got = np.load(f"{d}/{name}{k}.npy")
        assert got.flags.f_contiguous == (k == 1) or got.ndim < 2, (name, k)
        assert got.shape == want.shape, (name, k, got.shape, want.shape)
        assert np.allclose(got, want, rtol=1e-12, atol=1e-12), (name, k)
print("numpy ok")
"#;
    let output =
        std::process::Command::new(python).arg("-c").arg(script).arg(dir.path()).output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("numpy ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Reducing the short axis of a 64 MiB mapped array, `(4, 2 Mi)` in C order, in 1 MiB
/// chunks into a new 16 MiB mapped `.npy` keeps the resident set within a few chunks: the
/// walk cuts along the kept axis, each chunk fills its own slab of the output, which is
/// written back and released. The owned `sum_axis` holds its 16 MiB result, which shows
/// the measure sees growth. Measured in a child process (this test binary, run again for
/// this test alone), so that other tests' memory does not count.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reducing_into_a_mapped_output_keeps_the_resident_set_within_a_few_chunks() -> TestResult {
    const CHILD: &str = "NDMMAP_TEST_REDUCE_INTO_RSS_DIR";
    const NAME: &str = "reducing_into_a_mapped_output_keeps_the_resident_set_within_a_few_chunks";
    const COLS: usize = 2 << 20; // x 4 rows of f64 = 64 MiB; the result 16 MiB
    const CHUNK: usize = 1 << 20;
    // The input crosses the cut (C order, cut along axis 1): its whole map is released
    // every four 1 MiB chunks; then the chunk's partial sums and output slab. Measured
    // 6.6 to 7.9 MiB; with the cut forced along axis 0 (the whole output resident, and one
    // 16 MiB row per chunk) 49 MiB.
    const BOUND_KIB: u64 = 14 << 10;
    if let Ok(dir) = std::env::var(CHILD) {
        let path = Path::new(&dir).join("x.bin");
        // A sparse file: reads as zeros, takes no disk.
        std::fs::File::create(&path)?.set_len((4 * COLS * 8) as u64)?;
        // SAFETY: no other process touches files in this test's temporary folder.
        let x =
            unsafe { Array2::<f64>::map_file_with(&path, &MapOptions::new().shape((4, COLS)))? };
        let out_path = Path::new(&dir).join("sums.npy");
        // SAFETY: as above.
        let mut out = unsafe { Array1::<f64>::create_npy(&out_path, COLS)? };
        let mut ok = true;
        let mapped = peak_growth_kib(|| {
            ok = chunked::Zip::from(&x).chunk_bytes(CHUNK).sum_axis_into(Axis(0), &mut out).is_ok();
        });
        ok &= out.iter().step_by(4099).all(|&s| s == 0.0);
        drop(out);
        let owned = peak_growth_kib(|| {
            ok &= chunked::Zip::from(&x)
                .chunk_bytes(CHUNK)
                .sum_axis(Axis(0))
                .is_ok_and(|s| s.len() == COLS);
        });
        println!("into ok {ok} mapped_kib {mapped} owned_kib {owned} end");
        return Ok(());
    }
    let Some(dir) = common::disk_tempdir() else { return Ok(()) };
    let child = ChildReport::run(module_path!(), NAME, CHILD, dir.path())?;
    assert!(child.says("into ok true"), "{}", child.0);
    let (mapped, owned) = (child.number("mapped_kib"), child.number("owned_kib"));
    eprintln!(
        "(4, 2 Mi) f64 summed along axis 0: resident set growth into a mapped .npy {mapped} KiB, \
         into an owned array {owned} KiB"
    );
    assert!(mapped < BOUND_KIB, "into a mapped output: grew by {mapped} KiB (bound {BOUND_KIB})");
    assert!(owned >= 16 << 10, "owned result: grew by only {owned} KiB, less than the result");
    Ok(())
}
