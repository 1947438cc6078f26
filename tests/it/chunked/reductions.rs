//! Reductions along an axis against ndarray's own, their errors, their resident set,
//! broadcasting, `map_collect` leaving nothing behind, and accurate variances.

use super::*;

/// Every reduction through `zip()` along `axis` against ndarray's on `values`.
fn check_reductions<'a>(
    zip: &dyn Fn() -> chunked::Zip<'a, (ArrayViewD<'a, f64>,), IxDyn>,
    values: &ArrayD<f64>,
    axis: Axis,
    what: &str,
) {
    let shape = values.shape();
    let n = shape[axis.index()];
    assert!(close(&zip().sum_axis(axis).unwrap(), &values.sum_axis(axis)), "sum {what}");
    let mean = zip().mean_axis(axis).unwrap();
    match values.mean_axis(axis) {
        Some(expected) => assert!(close(&mean.unwrap(), &expected), "mean {what}"),
        None => assert!(mean.is_none(), "mean {what}"),
    }
    for ddof in [0.0, 1.0] {
        if ddof > n as f64 {
            let err = zip().var_axis(axis, ddof).unwrap_err();
            assert!(matches!(err, ndmmap::Error::InvalidDdof { .. }), "{err:?}");
            continue;
        }
        let var = zip().var_axis(axis, ddof).unwrap();
        assert!(close(&var, &values.var_axis(axis, ddof)), "var {ddof} {what}: {var}");
        let (mean, var) = zip().mean_var_axis(axis, ddof).unwrap();
        assert!(close(&var, &values.var_axis(axis, ddof)), "mean_var {ddof} {what}");
        let expected_mean = values.mean_axis(axis).unwrap_or_else(|| mean.mapv(|_| f64::NAN));
        assert!(close(&mean, &expected_mean), "mean_var {ddof} {what}");
        let std = zip().std_axis(axis, ddof).unwrap();
        assert!(close(&std, &values.std_axis(axis, ddof)), "std {ddof} {what}");
    }
    if n == 0 && values.is_empty() && shape.iter().filter(|&&d| d == 0).count() == 1 {
        let err = zip().min_axis(axis).unwrap_err();
        assert!(matches!(err, ndmmap::Error::EmptyAxis { .. }), "{err:?} {what}");
    } else if n > 0 {
        assert!(
            close(&zip().min_axis(axis).unwrap(), &naive_extreme(values, axis, false)),
            "min {what}"
        );
        assert!(
            close(&zip().max_axis(axis).unwrap(), &naive_extreme(values, axis, true)),
            "max {what}"
        );
    }
}

/// Every reduction along a random axis of a random array (with NaNs when asked), mapped in
/// C or Fortran order and as a plain view in any of five orders, equals ndarray's.
#[allow(clippy::needless_pass_by_value)] // quickcheck hands arguments over by value
fn reductions_equal_ndarray(
    dims: Vec<u8>,
    axis: u8,
    fortran: bool,
    kind: u8,
    chunk: u8,
    nan: bool,
) -> bool {
    let shape = small_shape(&dims);
    let axis = Axis(usize::from(axis) % shape.len());
    let chunk = CHUNKS[usize::from(chunk) % CHUNKS.len()];
    let mut values = input_values(&shape, 0.25) + 1e6; // a large offset tests stability
    if nan && values.len() > 2 {
        let k = values.len() / 2;
        values.as_slice_mut().unwrap()[k] = f64::NAN;
    }
    let dir = tempfile::tempdir().unwrap();
    let mapped = mapped_input(&dir.path().join("x.bin"), &values, fortran).unwrap();
    let plain = variant(&values, kind);
    let what =
        format!("{shape:?} axis {} fortran {fortran} kind {kind} chunk {chunk}", axis.index());
    check_reductions(&|| chunked::Zip::from(&mapped).chunk_bytes(chunk), &values, axis, &what);
    let view = (plain.view)(&plain.storage);
    check_reductions(&|| chunked::Zip::from(view.view()).chunk_bytes(chunk), &values, axis, &what);
    true
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reductions_equal_ndarray_for_random_shapes_axes_and_orders() {
    quickcheck::QuickCheck::new()
        .tests(80)
        .quickcheck(reductions_equal_ndarray as fn(Vec<u8>, u8, bool, u8, u8, bool) -> bool);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reduction_errors_come_before_reading() -> TestResult {
    let x = Array2::<f64>::zeros((4, 3));
    let err = chunked::Zip::from(&x).sum_axis(Axis(2)).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AxisOutOfRange { axis: 2, ndim: 2 }), "{err:?}");
    assert_eq!(err.to_string(), "axis 2 is out of range for a 2-dimensional array");
    let err = chunked::Zip::from(&x).var_axis(Axis(0), 5.0).unwrap_err();
    assert!(matches!(err, ndmmap::Error::InvalidDdof { len: 4, axis: 0, .. }), "{err:?}");
    assert_eq!(err.to_string(), "ddof 5 is not between 0 and the 4 elements along axis 0");
    let err = chunked::Zip::from(&x).std_axis(Axis(0), -1.0).unwrap_err();
    assert!(matches!(err, ndmmap::Error::InvalidDdof { .. }), "{err:?}");
    let empty = Array2::<f64>::zeros((0, 3));
    let err = chunked::Zip::from(&empty).max_axis(Axis(0)).unwrap_err();
    assert!(matches!(err, ndmmap::Error::EmptyAxis { axis: 0 }), "{err:?}");
    assert_eq!(err.to_string(), "axis 0 has length zero: the reduction along it has no value");
    // Reducing the other axis of the same array gives an empty result, not an error.
    assert_eq!(chunked::Zip::from(&empty).max_axis(Axis(1))?.len(), 0);
    Ok(())
}

/// Reducing a 48 MiB mapped array in 1 MiB chunks (variance down the rows, sums along
/// them) keeps the resident set within a few chunks; the same reductions without releasing
/// finished chunks keep the whole array resident. Measured in a child process (this test
/// binary, run again for this test alone), so that other tests' memory does not count.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reducing_keeps_the_resident_set_within_a_few_chunks() -> TestResult {
    const CHILD: &str = "NDMMAP_TEST_REDUCE_RSS_DIR";
    const NAME: &str = "reducing_keeps_the_resident_set_within_a_few_chunks";
    const ROWS: usize = 3 << 15; // x 64 f64 = 48 MiB
    const CHUNK: usize = 1 << 20;
    // The chunk computed, the one before it (released again a chunk later), two read
    // ahead through the fault path in huge-page steps, the 768 KiB of row sums and the
    // helper threads' stacks: about 8 MiB, measured from 7.9 to 8.5 MiB.
    const BOUND_KIB: u64 = 12 << 10;
    if let Ok(dir) = std::env::var(CHILD) {
        let path = Path::new(&dir).join("x.bin");
        // A sparse file: reads as zeros, takes no disk.
        std::fs::File::create(&path)?.set_len((ROWS * 64 * 8) as u64)?;
        // SAFETY: no other process touches files in this test's temporary folder.
        let x =
            unsafe { Array2::<f64>::map_file_with(&path, &MapOptions::new().shape((ROWS, 64)))? };
        // C order into Fortran order: the output crosses the cut.
        let out = Path::new(&dir).join("f.bin");
        // SAFETY: as above.
        let mut f = unsafe { Array2::<f64>::create_file(&out, (ROWS, 64).f())? };
        let mut ok = true;
        let growth = peak_growth_kib(|| {
            ok = chunked::Zip::from(&mut f)
                .and(&x)
                .chunk_bytes(CHUNK)
                .for_each(|f, &x| *f = x + 1.0)
                .is_ok();
        });
        println!("crossing ok {ok} growth_kib {growth}");
        for release in [true, false] {
            let mut ok = true;
            let growth = peak_growth_kib(|| {
                let zip = || chunked::Zip::from(&x).chunk_bytes(CHUNK).release_after_use(release);
                ok &= zip().var_axis(Axis(0), 1.0).is_ok_and(|v| v.iter().all(|&v| v == 0.0));
                ok &= zip().sum_axis(Axis(1)).is_ok_and(|s| s.len() == ROWS);
            });
            println!("release {release} ok {ok} growth_kib {growth}");
        }

        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let out = common::rerun(module_path!(), NAME).env(CHILD, dir.path()).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let growth = |release: bool| -> u64 {
        // libtest may print the test's name on the same line first.
        let pattern = format!("release {release} ok true growth_kib ");
        let at = stdout.find(&pattern).unwrap_or_else(|| panic!("no result line in {stdout}"));
        let rest = &stdout[at + pattern.len()..];
        rest.split_whitespace().next().and_then(|n| n.parse().ok()).expect("a number")
    };
    let (bounded, unbounded) = (growth(true), growth(false));
    let crossing = {
        let pattern = "crossing ok true growth_kib ";
        let at = stdout.find(pattern).unwrap_or_else(|| panic!("no crossing line in {stdout}"));
        let rest = &stdout[at + pattern.len()..];
        rest.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).expect("a number")
    };
    // Chunks at least 64 KiB thick per column (4 MiB here), the output released every
    // four: well under the 96 MiB of both arrays.
    assert!(crossing < 40 << 10, "C into Fortran order: resident set grew by {crossing} KiB");
    assert!(bounded < BOUND_KIB, "engine: resident set grew by {bounded} KiB (bound {BOUND_KIB})");
    // Without release the whole 48 MiB stays resident.
    assert!(unbounded > 40 << 10, "without release: grew by only {unbounded} KiB");
    eprintln!(
        "48 MiB reductions: resident set growth {bounded} KiB; without release {unbounded} KiB; \
         C into Fortran order {crossing} KiB"
    );
    Ok(())
}

/// Errors of `map_collect_*` come before any file is made, an existing file is never
/// replaced, and a panicking closure leaves neither the file nor a temporary one behind.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn map_collect_leaves_no_file_on_error_or_panic() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out.npy");
    let (a, b) = (Array2::<f64>::ones((6, 4)), Array2::<f64>::ones((4, 6)));
    let err = chunked::Zip::from(&a).and(&b).map_collect_npy(&out, |&a, &b| a + b).unwrap_err();
    assert!(matches!(err, ndmmap::Error::ShapeMismatch { operand: 1, .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);

    std::fs::write(&out, b"keep")?;
    let err = chunked::Zip::from(&a).map_collect_npy(&out, |&a| a).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AlreadyExists { .. }), "{err:?}");
    assert_eq!(std::fs::read(&out)?, b"keep");
    std::fs::remove_file(&out)?;

    let big = Array2::<f64>::ones((1000, 8));
    let panicked = std::panic::catch_unwind(|| {
        let mut seen = 0;
        chunked::Zip::from(&big).chunk_bytes(4096).map_collect_raw(&out, |&x| {
            seen += 1;
            assert!(seen < 5000, "a panicking closure halfway through");
            x
        })
    });
    assert!(panicked.is_err());
    let left: Vec<_> = std::fs::read_dir(dir.path())?.collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // The same on rayon's threads: the panic reaches the caller, and nothing is left.
    #[cfg(feature = "rayon")]
    {
        let panicked = std::panic::catch_unwind(|| {
            chunked::Zip::from(&big).chunk_bytes(4096).par_map_collect_npy(&out, |&x| {
                assert!(x < 0.0, "a panicking closure on a worker thread");
                x
            })
        });
        assert!(panicked.is_err());
        let left: Vec<_> = std::fs::read_dir(dir.path())?.collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        let err = chunked::Zip::from(&a).and(&b).par_map_collect_raw(&out, |&a, &b| a + b);
        assert!(matches!(err, Err(ndmmap::Error::ShapeMismatch { operand: 1, .. })), "{err:?}");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
    }
    Ok(())
}

/// Broadcast operands (a row of column statistics, mapped or in memory) against a mapped
/// matrix in C and Fortran order give ndarray's results, chunk size by chunk size.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn broadcast_operands_equal_ndarray() -> TestResult {
    let dir = tempfile::tempdir()?;
    let shape = [37, 6];
    let values = input_values(&shape, 1.0);
    let means = values.mean_axis(Axis(0)).expect("rows");
    let row_path = dir.path().join("row.bin");
    let row = mapped_input(&row_path, &means, false)?;
    let expected = &values - &means;
    for fortran in [false, true] {
        let x = mapped_input(&dir.path().join(format!("x{fortran}.bin")), &values, fortran)?;
        for chunk in CHUNKS {
            for mapped_row in [false, true] {
                let row_view: &ArrayRef<f64, IxDyn> = if mapped_row { &row } else { &means };
                let mut out = ArrayD::<f64>::zeros(IxDyn(&shape));
                chunked::Zip::from(&mut out)
                    .and(&x)
                    .and_broadcast(row_view)
                    .chunk_bytes(*chunk)
                    .for_each(|o, &x, &m| *o = x - m)?;
                assert_eq!(out, expected, "fortran {fortran} chunk {chunk} mapped {mapped_row}");
            }
        }
        // A column (shape [37, 1]) broadcasts along the other axis.
        let sums = values.sum_axis(Axis(1)).insert_axis(Axis(1));
        let got =
            chunked::Zip::from(&x).and_broadcast(&sums).fold(0.0, |acc, &x, &s| acc + x * s)?;
        let want = Zip::from(&values).and_broadcast(&sums).fold(0.0, |acc, &x, &s| acc + x * s);
        assert_eq!(got, want, "fortran {fortran}");
    }
    let err = chunked::Zip::from(&values)
        .and_broadcast(&Array1::<f64>::zeros(5).into_dyn())
        .for_each(|_, _| {})
        .unwrap_err();
    assert!(matches!(err, ndmmap::Error::ShapeMismatch { operand: 1, .. }), "{err:?}");
    Ok(())
}

/// Variances of tall columns far from zero (`1e9` plus tenths) stay accurate in every
/// layout (C and Fortran order, reversed, sliced, transposed), along both axes, in one
/// chunk and in many, and over the many cache-sized blocks a chunk is reduced in: the
/// oracle is ndarray's `var_axis` of the same values less `1e9` (exact in `f64`), and the
/// naive `Σx²/n - mean²` on the same data misses by more than the variance itself.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn variances_far_from_zero_stay_accurate_in_every_layout() -> TestResult {
    let rows = 20_000; // 60,000 elements: several of the engine's 128 KiB blocks
    let values = ArrayD::from_shape_fn(IxDyn(&[rows, 3]), |i| {
        1e9 + ((i[0] * 7 + i[1] * 3) % 10) as f64 * 0.1
    });
    let small = values.mapv(|x| x - 1e9);
    let column = values.index_axis(Axis(1), 0);
    let n = rows as f64;
    let naive = column.iter().map(|x| x * x).sum::<f64>() / n - (column.sum() / n).powi(2);
    let true_var = small.index_axis(Axis(1), 0).var(0.0);
    assert!((naive - true_var).abs() > true_var, "naive {naive} vs {true_var}");

    let dir = tempfile::tempdir()?;
    for axis in [Axis(0), Axis(1)] {
        let expected_var = small.var_axis(axis, 1.0);
        let expected_mean = small.mean_axis(axis).expect("not empty") + 1e9;
        let check = |zip: chunked::Zip<'_, (ArrayViewD<'_, f64>,), IxDyn>, what: &str| {
            let (mean, var) = zip.mean_var_axis(axis, 1.0).unwrap();
            let near = |a: &ArrayD<f64>, b: &ArrayD<f64>, tol: f64| {
                a.iter().zip(b).all(|(a, b)| (a - b).abs() <= tol * b.abs().max(1e-3))
            };
            assert!(near(&var, &expected_var, 1e-6), "var {what}: {var} vs {expected_var}");
            assert!(near(&mean, &expected_mean, 1e-12), "mean {what}");
        };
        for fortran in [false, true] {
            let path = dir.path().join(format!("x{}{fortran}.bin", axis.index()));
            let mapped = mapped_input(&path, &values, fortran)?;
            for chunk in [4096, 1 << 20] {
                let what = format!("axis {} fortran {fortran} chunk {chunk}", axis.index());
                check(chunked::Zip::from(&mapped).chunk_bytes(chunk), &what);
            }
        }
        for kind in 0..5 {
            let plain = variant(&values, kind);
            let view = (plain.view)(&plain.storage);
            for chunk in [4096, 1 << 20] {
                let what = format!("axis {} kind {kind} chunk {chunk}", axis.index());
                check(chunked::Zip::from(view.view()).chunk_bytes(chunk), &what);
            }
        }
    }
    Ok(())
}
