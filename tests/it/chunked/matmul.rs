//! Matrix products (`dot`, `dot_into`, `t_dot`) of mapped and plain matrices in every
//! memory order, in chunks of any size and on thread pools of one and several threads,
//! against a plain triple loop; shape errors before anything is read or written.
//!
//! The values are small integers, so every sum is exact in `f64` whatever its order (the
//! chunks and the pieces of rayon's pool add in other orders than a loop does).

use super::*;

/// A `rows × cols` matrix of small integers, different for each `salt`.
fn matrix(rows: usize, cols: usize, salt: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * (7 + salt) + j * 3 + salt) % 11) as f64 - 5.0
    })
}

/// `a · b` by the definition: a triple loop.
fn naive_product(a: &ArrayRef2<f64>, b: &ArrayRef2<f64>) -> Array2<f64> {
    let mut out = Array2::zeros((a.nrows(), b.ncols()));
    for i in 0..a.nrows() {
        for j in 0..b.ncols() {
            for l in 0..a.ncols() {
                out[[i, j]] += a[[i, l]] * b[[l, j]];
            }
        }
    }
    out
}

/// Writes `values` into a new `.npy` file in the given order and maps it read-only.
fn mapped_npy(path: &Path, values: &Array2<f64>, fortran: bool) -> MmapArray<f64, Ix2> {
    let _ = std::fs::remove_file(path);
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut file = unsafe { Array2::<f64>::create_npy(path, values.raw_dim().set_f(fortran)) }
        .expect("create the input");
    file.assign(values);
    file.close().expect("close the input");
    // SAFETY: as above.
    unsafe { Array2::<f64>::map_npy(path) }.expect("map the input")
}

/// One case: `X · W` and `Xᵀ · Y` for an `n × k` matrix `X` (mapped in C or Fortran order,
/// and plain in five layouts), `W` (`k × m`) in C or Fortran order, `Y` (`n × m`) mapped,
/// into an owned array, a mapped `.npy` in either order and a plain Fortran-order array.
#[allow(clippy::needless_pass_by_value)] // quickcheck hands arguments over by value
fn products_equal_a_loop(
    sizes: (u16, u8, u8),
    fortran: bool,
    kind: u8,
    chunk: u8,
    threads: bool,
) -> bool {
    let (rows, inner, cols) =
        (usize::from(sizes.0 % 700), usize::from(sizes.1 % 7), usize::from(sizes.2 % 7));
    let chunk = CHUNKS[usize::from(chunk) % CHUNKS.len()];
    let case =
        format!("{rows} × {inner} · {inner} × {cols}, fortran {fortran} kind {kind} chunk {chunk}");
    let dir = tempfile::tempdir().unwrap();
    let x_values = matrix(rows, inner, 0);
    let y_values = matrix(rows, cols, 1);
    let mut w = Array2::zeros((inner, cols).set_f(!fortran));
    w.assign(&matrix(inner, cols, 2));
    let (xw, xty) = (naive_product(&x_values, &w), naive_product(&x_values.t(), &y_values));

    let pool = rayon::ThreadPoolBuilder::new().num_threads(if threads { 3 } else { 1 }).build();
    pool.unwrap().install(|| {
        let x = mapped_npy(&dir.path().join("x.npy"), &x_values, fortran);
        let y = mapped_npy(&dir.path().join("y.npy"), &y_values, !fortran);
        let plain = variant(&x_values.clone().into_dyn(), kind);
        let x_plain = (plain.view)(&plain.storage).into_dimensionality::<Ix2>().unwrap();

        let owned = chunked::Zip::from(&x).chunk_bytes(chunk).dot(&w).unwrap();
        assert_eq!(owned, xw, "dot of the mapped X, {case}");
        let owned = chunked::Zip::from(x_plain.view()).chunk_bytes(chunk).dot(&w).unwrap();
        assert_eq!(owned, xw, "dot of the plain X, {case}");

        for out_fortran in [false, true] {
            let path = dir.path().join(format!("xw-{out_fortran}.npy"));
            // SAFETY: no other process touches files in this test's temporary folder.
            let mut out =
                unsafe { Array2::<f64>::create_npy(&path, (rows, cols).set_f(out_fortran)) }
                    .unwrap();
            chunked::Zip::from(&x).chunk_bytes(chunk).dot_into(&w, &mut out).unwrap();
            assert_eq!(*out, xw, "dot_into a mapped output (fortran {out_fortran}), {case}");
            drop(out);
            // SAFETY: as above.
            let back = unsafe { Array2::<f64>::map_npy(&path) }.unwrap();
            assert_eq!(*back, xw, "dot_into's file, {case}");
        }
        let mut plain_out = Array2::from_elem((rows, cols).f(), f64::NAN);
        chunked::Zip::from(x_plain.view()).chunk_bytes(chunk).dot_into(&w, &mut plain_out).unwrap();
        assert_eq!(plain_out, xw, "dot_into a plain output, {case}");

        let got = chunked::Zip::from(&x).chunk_bytes(chunk).t_dot(&y).unwrap();
        assert_eq!(got, xty, "t_dot of the mapped X and Y, {case}");
        let got = chunked::Zip::from(x_plain.view()).chunk_bytes(chunk).t_dot(&y).unwrap();
        assert_eq!(got, xty, "t_dot of the plain X and the mapped Y, {case}");
    });
    true
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn products_equal_a_loop_for_random_shapes_orders_and_chunks() {
    quickcheck::QuickCheck::new()
        .tests(25)
        .quickcheck(products_equal_a_loop as fn((u16, u8, u8), bool, u8, u8, bool) -> bool);
}

/// Tall matrices over many chunks and pages, read across their memory order (a
/// Fortran-order `X` in row blocks, a run of at least a page per column) and written
/// across it (a Fortran-order output), with a progress callback that ends at the total.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn tall_products_in_either_order_over_many_chunks() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (rows, inner, cols) = (20_000, 5, 9);
    let x_values = matrix(rows, inner, 3);
    let w = matrix(inner, cols, 4);
    let y_values = matrix(rows, 2, 5);
    let (xw, xty) = (naive_product(&x_values, &w), naive_product(&x_values.t(), &y_values));
    for (x_fortran, out_fortran) in [(false, false), (true, false), (false, true), (true, true)] {
        let x = mapped_npy(&dir.path().join("x.npy"), &x_values, x_fortran);
        let y = mapped_npy(&dir.path().join("y.npy"), &y_values, !x_fortran);
        let path = dir.path().join("xw.npy");
        let _ = std::fs::remove_file(&path);
        // SAFETY: no other process touches files in this test's temporary folder.
        let mut out = unsafe { Array2::<f64>::create_npy(&path, (rows, cols).set_f(out_fortran))? };
        let mut reports = Vec::new();
        chunked::Zip::from(&x)
            .chunk_bytes(16 << 10)
            .progress(|done, total| reports.push((done, total)))
            .dot_into(&w, &mut out)?;
        let case = format!("x fortran {x_fortran}, out fortran {out_fortran}");
        assert_eq!(*out, xw, "{case}");
        assert!(reports.len() > 2, "{case}: {reports:?}");
        assert!(reports.windows(2).all(|r| r[0].0 < r[1].0), "{case}: {reports:?}");
        assert_eq!(reports.last().map(|r| r.0 == r.1), Some(true), "{case}: {reports:?}");
        drop(out);
        let written: Array2<f64> = ndmmap::npy::read_npy(&path)?;
        assert_eq!(written, xw, "{case}");
        assert_eq!(chunked::Zip::from(&x).chunk_bytes(16 << 10).t_dot(&y)?, xty, "{case}");
        assert_eq!(
            chunked::Zip::from(&x).t_dot(&x)?,
            naive_product(&x_values.t(), &x_values),
            "{case}: the Gram matrix"
        );
    }
    Ok(())
}

/// Inner lengths that differ and outputs of the wrong shape are typed errors naming the
/// shapes, raised before the output is written.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn product_shape_errors_come_before_writing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let x = mapped_npy(&dir.path().join("x.npy"), &matrix(100, 4, 0), false);
    let wrong_w = matrix(3, 2, 1);
    let err = chunked::Zip::from(&x).dot(&wrong_w).unwrap_err();
    assert!(
        matches!(err, ndmmap::Error::DotShapeMismatch { left: [100, 4], right: [3, 2] }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "cannot multiply a 100 × 4 matrix by a 3 × 2 matrix: 4 columns against 3 rows"
    );

    let path = dir.path().join("out.npy");
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut out = unsafe { Array2::<f64>::create_npy(&path, (100, 2))? };
    out.fill(7.0);
    out.flush()?;
    let before = std::fs::read(&path)?;
    let err = chunked::Zip::from(&x).dot_into(&wrong_w, &mut out).unwrap_err();
    assert!(matches!(err, ndmmap::Error::DotShapeMismatch { .. }), "{err:?}");
    let w = matrix(4, 3, 1);
    let err = chunked::Zip::from(&x).dot_into(&w, &mut out).unwrap_err();
    assert!(
        matches!(
            err,
            ndmmap::Error::DotOutputShapeMismatch { expected: [100, 3], actual: [100, 2] }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "the product is a 100 × 3 matrix, but the output given is 100 × 2");
    drop(out);
    assert_eq!(std::fs::read(&path)?, before, "the output is untouched");

    let y = matrix(99, 2, 1);
    let err = chunked::Zip::from(&x).t_dot(&y).unwrap_err();
    assert!(
        matches!(err, ndmmap::Error::DotShapeMismatch { left: [4, 100], right: [99, 2] }),
        "{err:?}"
    );
    Ok(())
}

/// NumPy reads the product written into a new `.npy` file and finds its own `x @ w`.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn numpy_reads_the_product_file_as_its_own_matmul() -> TestResult {
    let dir = tempfile::tempdir()?;
    let x = mapped_npy(&dir.path().join("x.npy"), &matrix(3000, 6, 0), true);
    let w = matrix(6, 4, 1);
    let w_path = dir.path().join("w.npy");
    w.save_npy(&w_path)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut out = unsafe { Array2::<f64>::create_npy(dir.path().join("xw.npy"), (3000, 4))? };
    chunked::Zip::from(&x).chunk_bytes(8192).dot_into(&w, &mut out)?;
    drop(out);
    chunked::Zip::from(&x).chunk_bytes(8192).t_dot(&x)?.save_npy(dir.path().join("gram.npy"))?;
    let code = "import numpy as np\n\
                x, w, xw = np.load('x.npy', mmap_mode='r'), np.load('w.npy'), np.load('xw.npy')\n\
                print(np.array_equal(xw, x @ w), np.array_equal(np.load('gram.npy'), x.T @ x))";
    let Some(out) = common::run_code(dir.path(), code) else { return Ok(()) };
    assert_eq!(out.trim(), "True True");
    Ok(())
}

/// The child's job for [`product_keeps_the_resident_set_within_a_few_chunks`].
#[cfg(target_os = "linux")]
const RSS_CHILD: &str = "NDMMAP_MATMUL_RSS_CHILD";

/// Rows of the tall matrices of the resident-set test: 64 MiB of `f64` in 16 columns.
#[cfg(target_os = "linux")]
const TALL_ROWS: usize = 1 << 19;

/// Run in a child process: `X · W` of a 64 MiB mapped `X` (a sparse raw file) into a
/// new 64 MiB `.npy`, through the engine in 1 MiB chunks or through one `general_mat_mul` of
/// the maps; reports the growth of its own resident set (`VmHWM`, reset first).
#[cfg(target_os = "linux")]
#[test]
#[ignore = "run in a child process by product_keeps_the_resident_set_within_a_few_chunks"]
fn product_resident_set_child() -> TestResult {
    let Ok(how) = std::env::var(RSS_CHILD) else { return Ok(()) };
    let dir = PathBuf::from(std::env::var("NDMMAP_RSS_DIR")?);
    let (x_path, out_path) = (dir.join("x.bin"), dir.join(format!("xw-{how}.npy")));
    std::fs::File::create(&x_path)?.set_len((TALL_ROWS * 16 * 8) as u64)?;
    let options = MapOptions::new().shape((TALL_ROWS, 16));
    // SAFETY: no other process touches files in this test's temporary folder.
    let x = unsafe { Array2::<f64>::map_file_with(&x_path, &options)? };
    // SAFETY: as above.
    let mut out = unsafe { Array2::<f64>::create_npy(&out_path, (TALL_ROWS, 16))? };
    let w = Array2::from_elem((16, 16), 1.0);
    let growth = peak_growth_kib(|| {
        if how == "engine" {
            chunked::Zip::from(&x).chunk_bytes(1 << 20).dot_into(&w, &mut out).unwrap();
        } else {
            ndarray::linalg::general_mat_mul(1.0, &*x, &w, 0.0, &mut *out);
            out.flush().unwrap();
        }
    });
    assert!(out.iter().step_by(4099).all(|&v| v == 0.0));
    eprintln!("@@ndmmap growth {growth}");
    Ok(())
}

/// `X · W` into a mapped output through the engine keeps the resident set at a few chunks
/// (1 MiB of `X` and of the output each, and those read ahead), where ndarray's product
/// over the same maps holds both 64 MiB arrays. Each runs alone in a child process.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn product_keeps_the_resident_set_within_a_few_chunks() -> TestResult {
    // Measured: 11.4 MiB, against 129 MiB for the plain product.
    const BOUND_KIB: u64 = 24 << 10;
    let Some(dir) = common::disk_tempdir() else { return Ok(()) };
    let growth = |how: &str| -> Result<u64, Box<dyn std::error::Error>> {
        let output = common::rerun(module_path!(), "product_resident_set_child")
            .env(RSS_CHILD, how)
            .env("NDMMAP_RSS_DIR", dir.path())
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{how} child failed:\n{stderr}");
        let value =
            stderr.split("@@ndmmap growth ").nth(1).and_then(|v| v.split_whitespace().next());
        Ok(value.unwrap_or_else(|| panic!("no report from the {how} child:\n{stderr}")).parse()?)
    };
    let (engine, plain) = (growth("engine")?, growth("plain")?);
    eprintln!(
        "X · W, 64 MiB in and out: resident set growth, engine {engine} KiB, plain {plain} KiB"
    );
    assert!(
        engine <= BOUND_KIB,
        "engine: resident set grew by {engine} KiB (bound {BOUND_KIB} KiB)"
    );
    assert!(plain > 96 << 10, "plain: grew by only {plain} KiB, so the measure cannot see growth");
    Ok(())
}
