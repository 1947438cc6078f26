//! `argmin`/`argmax` along every axis and over all elements, of mapped and plain arrays in
//! every memory order and chunk size, against a plain loop written to NumPy's rules (the
//! first of equal values, the first NaN wherever there is one), and against NumPy itself on
//! a file with NaNs and ties; errors for empty arrays and axes before anything is read.

use super::*;

/// NumPy's `argmax` (`max`) or `argmin` of one lane: the first NaN, else the first extreme.
fn naive_arg(values: &[f64], max: bool) -> usize {
    if let Some(nan) = values.iter().position(|v| v.is_nan()) {
        return nan;
    }
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if (max && v > values[best]) || (!max && v < values[best]) {
            best = i;
        }
    }
    best
}

/// NumPy's `argmax`/`argmin` along `axis`, lane by lane.
fn naive_arg_axis(x: &ArrayD<f64>, axis: Axis, max: bool) -> ArrayD<usize> {
    x.map_axis(axis, |lane| naive_arg(&lane.to_vec(), max))
}

/// NumPy's `argmax`/`argmin` over all elements, as an index: over the array in C order.
fn naive_arg_all(x: &ArrayD<f64>, max: bool) -> Vec<usize> {
    let at = naive_arg(&x.iter().copied().collect::<Vec<_>>(), max);
    let mut index = vec![0; x.ndim()];
    let mut rest = at;
    for (k, &len) in x.shape().iter().enumerate().rev() {
        index[k] = rest % len;
        rest /= len;
    }
    index
}

/// Values with many ties (a few distinct values) and, if asked, NaNs.
fn tied_values(shape: &[usize], nan: u8) -> ArrayD<f64> {
    let mut values = input_values(shape, 1.0).mapv(|v| (v % 4.0) - 1.0);
    let len = values.len();
    if nan > 0 && len > 0 {
        for (i, v) in values.iter_mut().enumerate() {
            if (i * 7 + usize::from(nan)) % (len.max(5) / 2 + 1) == 0 {
                *v = f64::NAN;
            }
        }
    }
    values
}

/// Checks every arg reduction of `zip()` against the loop.
fn check_args<'a>(
    zip: &dyn Fn() -> chunked::Zip<'a, (ArrayViewD<'a, f64>,), IxDyn>,
    values: &ArrayD<f64>,
    what: &str,
) {
    for k in 0..values.ndim() {
        let axis = Axis(k);
        let empty_lane = values.len_of(axis) == 0 && values.raw_dim().remove_axis(axis).size() > 0;
        for max in [false, true] {
            let got = if max { zip().argmax_axis(axis) } else { zip().argmin_axis(axis) };
            if empty_lane {
                let err = got.unwrap_err();
                assert!(matches!(err, ndmmap::Error::EmptyAxis { axis } if axis == k), "{what}");
            } else {
                let expected = naive_arg_axis(values, axis, max);
                assert_eq!(got.unwrap(), expected, "{what}: axis {k} max {max} of\n{values}");
            }
        }
    }
    for max in [false, true] {
        let got = if max { zip().argmax() } else { zip().argmin() };
        if values.is_empty() {
            assert!(matches!(got, Err(ndmmap::Error::EmptyArray { .. })), "{what}");
        } else {
            let got = got.unwrap();
            assert_eq!(got.slice(), naive_arg_all(values, max), "{what}: max {max} of\n{values}");
        }
    }
}

/// Every arg reduction of a random array of one to three axes with ties and NaNs, mapped
/// in C or Fortran order or a plain view in any of five orders, in chunks of any size.
#[allow(clippy::needless_pass_by_value)] // quickcheck hands arguments over by value
fn args_equal_numpy_rules(dims: Vec<u8>, fortran: bool, kind: u8, chunk: u8, nan: u8) -> bool {
    let shape = small_shape(&dims);
    let chunk = CHUNKS[usize::from(chunk) % CHUNKS.len()];
    let values = tied_values(&shape, nan % 3);
    let dir = tempfile::tempdir().unwrap();
    let mapped = mapped_input(&dir.path().join("x.bin"), &values, fortran).unwrap();
    let what = format!("{shape:?} fortran {fortran} kind {kind} chunk {chunk}");
    check_args(
        &|| chunked::Zip::from(&mapped).chunk_bytes(chunk),
        &values,
        &format!("mapped {what}"),
    );
    let plain = variant(&values, kind);
    let view = (plain.view)(&plain.storage);
    check_args(
        &|| chunked::Zip::from(view.view()).chunk_bytes(chunk),
        &values,
        &format!("plain {what}"),
    );
    true
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn args_equal_numpy_rules_for_random_shapes_orders_and_chunks() {
    quickcheck::QuickCheck::new()
        .tests(40)
        .quickcheck(args_equal_numpy_rules as fn(Vec<u8>, bool, u8, u8, u8) -> bool);
}

/// Arrays over many chunks: the winners of later chunks replace earlier ones only when
/// strictly better, along the cut axis and across it, in C and Fortran order.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn args_over_many_chunks_keep_the_first_index() -> TestResult {
    let dir = tempfile::tempdir()?;
    for shape in [&[5000, 3][..], &[3, 5000][..], &[40, 30, 20][..]] {
        for fortran in [false, true] {
            let values = tied_values(shape, 1);
            let path = dir.path().join("x.bin");
            let _ = std::fs::remove_file(&path);
            let mapped = mapped_input(&path, &values, fortran)?;
            let what = format!("{shape:?} fortran {fortran}");
            check_args(&|| chunked::Zip::from(&mapped).chunk_bytes(4096), &values, &what);
        }
    }
    Ok(())
}

/// Integers: ties without NaN; the first index wins.
#[test]
fn integer_args_take_the_first_of_ties() -> TestResult {
    let x = Array2::from_shape_fn((300, 4), |(i, j)| i32::try_from((i * (j + 1)) % 5).unwrap());
    for axis in 0..2 {
        let max = chunked::Zip::from(&x).chunk_bytes(64).argmax_axis(Axis(axis))?;
        let min = chunked::Zip::from(&x).chunk_bytes(64).argmin_axis(Axis(axis))?;
        let first = |lane: ArrayView1<'_, i32>, want: i32| lane.iter().position(|&v| v == want);
        let expected_max = x.map_axis(Axis(axis), |l| first(l, *l.iter().max().unwrap()).unwrap());
        let expected_min = x.map_axis(Axis(axis), |l| first(l, *l.iter().min().unwrap()).unwrap());
        assert_eq!(max, expected_max, "axis {axis}");
        assert_eq!(min, expected_min, "axis {axis}");
    }
    assert_eq!(chunked::Zip::from(&x).chunk_bytes(64).argmax()?, (1, 3));
    assert_eq!(chunked::Zip::from(&x).chunk_bytes(64).argmin()?, (0, 0));
    Ok(())
}

/// Axes the array does not have, empty axes and empty arrays are typed errors.
#[test]
fn arg_errors_name_the_axis_or_the_shape() {
    let x = Array2::<f64>::zeros((3, 4));
    let err = chunked::Zip::from(&x).argmax_axis(Axis(2)).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AxisOutOfRange { axis: 2, ndim: 2 }), "{err:?}");
    let empty = Array2::<f64>::zeros((0, 4));
    let err = chunked::Zip::from(&empty).argmin_axis(Axis(0)).unwrap_err();
    assert!(matches!(err, ndmmap::Error::EmptyAxis { axis: 0 }), "{err:?}");
    // NumPy: an empty result for a non-empty lane count of zero lanes.
    assert_eq!(chunked::Zip::from(&empty).argmin_axis(Axis(1)).unwrap(), Array1::<usize>::zeros(0));
    let err = chunked::Zip::from(&empty).argmax().unwrap_err();
    assert!(matches!(&err, ndmmap::Error::EmptyArray { shape } if shape == &[0, 4]), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the array of shape [0, 4] is empty: it has no minimum or maximum to point at"
    );
}

/// NumPy's own `argmax`/`argmin` on a `.npy` file with NaNs and ties, in C and Fortran
/// order, along every axis and over all elements.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn args_equal_numpys_on_a_file_with_nans_and_ties() -> TestResult {
    let dir = tempfile::tempdir()?;
    let shape = [30, 7, 11];
    let mut values = tied_values(&shape, 0);
    // NaNs in a few lanes of each axis, some lanes with two.
    for (i, j, k) in [(3, 2, 5), (17, 2, 5), (29, 6, 0), (0, 0, 10), (12, 4, 4), (12, 5, 4)] {
        values[[i, j, k]] = f64::NAN;
    }
    let mut printed = Vec::new();
    for fortran in [false, true] {
        let path = dir.path().join(format!("x-{fortran}.npy"));
        // SAFETY: no other process touches files in this test's temporary folder.
        let mut file = unsafe { ArrayD::<f64>::create_npy(&path, IxDyn(&shape).set_f(fortran))? };
        file.assign(&values);
        file.close()?;
        // SAFETY: as above.
        let x = unsafe { ArrayD::<f64>::map_npy(&path)? };
        let mut lines = Vec::new();
        for name in ["argmin", "argmax"] {
            for axis in 0..3 {
                let zip = chunked::Zip::from(&x).chunk_bytes(512);
                let got = if name == "argmax" {
                    zip.argmax_axis(Axis(axis))
                } else {
                    zip.argmin_axis(Axis(axis))
                }?;
                lines.push(got.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "));
            }
            let zip = chunked::Zip::from(&x).chunk_bytes(512);
            let at = if name == "argmax" { zip.argmax()? } else { zip.argmin()? };
            lines.push(at.slice().iter().map(ToString::to_string).collect::<Vec<_>>().join(" "));
        }
        printed.push(lines.join("\n"));
    }
    assert_eq!(printed[0], printed[1], "C and Fortran order agree");
    let code = "import numpy as np\n\
                for order in ('false', 'true'):\n\
                \x20   x = np.load(f'x-{order}.npy', mmap_mode='r')\n\
                \x20   for f in (np.argmin, np.argmax):\n\
                \x20       for axis in range(3):\n\
                \x20           print(' '.join(str(v) for v in f(x, axis=axis).ravel()))\n\
                \x20       print(' '.join(str(v) for v in np.unravel_index(f(x), x.shape)))";
    let Some(out) = common::run_code(dir.path(), code) else { return Ok(()) };
    let expected = format!("{}\n{}", printed[0], printed[1]);
    assert_eq!(out.trim(), expected);
    Ok(())
}
