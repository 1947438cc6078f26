//! The out-of-core engine, `ndmmap::chunked::Zip`, on real files: results equal plain
//! ndarray `Zip` results for many shapes, orders, chunk sizes and thread counts; errors
//! come before anything is written; copy-on-write guards keep their changes, as outputs and
//! as inputs; guards with custom and negative strides are chunked and released; the
//! engine's own resident set, measured in a child process, stays near the README's figure
//! where a plain `Zip`'s grows with the arrays.
//!
//! Every test maps files and so is ignored under Miri (rust-lang/miri#2520).

// Expected values are small integers held exactly in `f64`, so exact comparison is right.
#![allow(clippy::float_cmp)]
// Indices become `f64` values; all are far below 2^53.
#![allow(clippy::cast_precision_loss)]

use std::path::{Path, PathBuf};

use ndmmap::chunked;
use ndmmap::prelude::*;

mod common;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Shapes covering zero-length axes, single elements, lengths that no chunk size divides,
/// and one to three dimensions.
const SHAPES: &[&[usize]] = &[
    &[0],
    &[1],
    &[7],
    &[1000],
    &[0, 4],
    &[4, 0],
    &[3, 5],
    &[17, 13],
    &[1, 9],
    &[9, 1],
    &[2, 3, 4],
    &[5, 1, 7],
    &[6, 11, 3],
];

/// Chunk sizes in bytes: smaller than an element, not dividing any row, and larger than
/// every array.
const CHUNKS: &[usize] = &[1, 8, 24, 200, 4096, 1 << 20];

fn options(shape: &[usize], fortran: bool) -> MapOptions<IxDyn> {
    MapOptions::new().shape(IxDyn(shape).set_f(fortran))
}

/// Writes `values` to a new file in the given order and maps it read-only.
fn mapped_input(
    path: &Path,
    values: &ArrayD<f64>,
    fortran: bool,
) -> Result<MmapArray<f64, IxDyn>, ndmmap::Error> {
    let opts = options(values.shape(), fortran);
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut file = unsafe { ArrayD::<f64>::create_file_with(path, &opts)? };
    file.assign(values);
    file.close()?;
    // SAFETY: as above.
    unsafe { ArrayD::<f64>::map_file_with(path, &opts) }
}

fn input_values(shape: &[usize], scale: f64) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(shape), |ix| {
        scale * ix.slice().iter().enumerate().map(|(k, &i)| (i * (k + 3)) as f64).sum::<f64>()
    })
}

/// The bytes of `values` in the order of a file of that layout.
fn file_bytes(values: &ArrayD<f64>, fortran: bool) -> Vec<u8> {
    let elems: Vec<f64> = if fortran {
        values.t().iter().copied().collect()
    } else {
        values.iter().copied().collect()
    };
    bytemuck::cast_slice(&elems).to_vec()
}

/// How each case runs the add.
#[derive(Clone, Copy, Debug)]
enum Run {
    ForEach,
    TryForEach,
    #[cfg(feature = "rayon")]
    Par(usize),
}

/// `c = 2 a + b` through the engine on three files; checks the file against plain `Zip`.
fn add_case(dir: &Path, shape: &[usize], fortran: bool, chunk: usize, run: Run) -> TestResult {
    let (a_path, b_path, c_path) = (dir.join("a.bin"), dir.join("b.bin"), dir.join("c.bin"));
    for path in [&a_path, &b_path, &c_path] {
        let _ = std::fs::remove_file(path);
    }
    let (a_values, b_values) = (input_values(shape, 1.0), input_values(shape, -0.5));
    let a = mapped_input(&a_path, &a_values, fortran)?;
    let b = mapped_input(&b_path, &b_values, fortran)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut c = unsafe { ArrayD::<f64>::create_file_with(&c_path, &options(shape, fortran))? };

    let mut expected = ArrayD::<f64>::zeros(IxDyn(shape).set_f(fortran));
    Zip::from(&mut expected).and(&a_values).and(&b_values).for_each(|c, &a, &b| *c = 2.0 * a + b);

    let mut reports = Vec::new();
    let zip = chunked::Zip::from(&mut c)
        .and(&a)
        .and(&b)
        .chunk_bytes(chunk)
        .progress(|done, total| reports.push((done, total)));
    match run {
        Run::ForEach => zip.for_each(|c, &a, &b| *c = 2.0 * a + b)?,
        Run::TryForEach => zip.try_for_each(|c, &a, &b| {
            *c = 2.0 * a + b;
            Ok::<(), ndmmap::Error>(())
        })?,
        #[cfg(feature = "rayon")]
        Run::Par(threads) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            pool.install(|| zip.par_for_each(|c, &a, &b| *c = 2.0 * a + b))?;
        }
    }
    let case = format!("shape {shape:?} fortran {fortran} chunk {chunk} {run:?}");
    assert_eq!(*c, expected, "{case}");
    drop(c);
    assert_eq!(std::fs::read(&c_path)?, file_bytes(&expected, fortran), "{case}");

    // Progress: increasing, ending at the total, never called for empty arrays.
    let total = expected.len();
    assert!(reports.windows(2).all(|w| w[0].0 < w[1].0), "{case}: {reports:?}");
    assert!(reports.iter().all(|&(_, t)| t == total), "{case}");
    if total == 0 {
        assert!(reports.is_empty(), "{case}");
    } else {
        assert_eq!(reports.last().map(|r| r.0), Some(total), "{case}");
    }
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn for_each_equals_plain_zip_for_every_shape_order_and_chunk_size() -> TestResult {
    let dir = tempfile::tempdir()?;
    for shape in SHAPES {
        for fortran in [false, true] {
            for &chunk in CHUNKS {
                add_case(dir.path(), shape, fortran, chunk, Run::ForEach)?;
            }
        }
    }
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn try_for_each_equals_plain_zip() -> TestResult {
    let dir = tempfile::tempdir()?;
    for shape in SHAPES {
        for fortran in [false, true] {
            add_case(dir.path(), shape, fortran, 24, Run::TryForEach)?;
        }
    }
    Ok(())
}

#[cfg(feature = "rayon")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn par_for_each_equals_plain_zip_for_every_thread_count() -> TestResult {
    let dir = tempfile::tempdir()?;
    for threads in [1, 2, 3, 8] {
        for shape in SHAPES {
            for fortran in [false, true] {
                for chunk in [8, 200, 1 << 20] {
                    add_case(dir.path(), shape, fortran, chunk, Run::Par(threads))?;
                }
            }
        }
    }
    Ok(())
}

/// A non-contiguous operand (every other column of a plain array) is chunked in slabs
/// along the guards' outermost axis, without flattening.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn strided_plain_operand_with_mapped_output() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.bin");
    let wide = Array2::from_shape_fn((50, 40), |(i, j)| (100 * i + j) as f64);
    let strided = wide.slice(s![.., ..;2]);
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut c = unsafe { Array2::<f64>::create_file(&path, (50, 20))? };
    let mut chunks = 0;
    chunked::Zip::from(&mut c)
        .and(strided)
        .chunk_bytes(7 * 20 * 8) // 7 rows per chunk: 8 chunks, the last of one row
        .progress(|_, _| chunks += 1)
        .for_each(|c, &x| *c = x + 1.0)?;
    assert_eq!(chunks, 8);
    assert_eq!(*c, strided.mapv(|x| x + 1.0));
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn fold_sees_slabs_along_the_outer_memory_axis() -> TestResult {
    let dir = tempfile::tempdir()?;
    for fortran in [false, true] {
        let shape = [23, 17];
        let values = input_values(&shape, 1.0);
        let a = mapped_input(&dir.path().join(format!("a{fortran}.bin")), &values, fortran)?;
        for chunk in [1, 100, 8 * 17 * 5, 1 << 20] {
            let (sum, slabs) = chunked::Zip::from(&a).chunk_bytes(chunk).fold(
                (0.0, Vec::new()),
                |(sum, mut slabs), slab| {
                    slabs.push(slab.shape().to_vec());
                    (sum + slab.sum(), slabs)
                },
            )?;
            assert_eq!(sum, values.sum(), "fortran {fortran} chunk {chunk}");
            // Slabs cover the outer axis in order and keep every other axis whole.
            let (outer, inner) = if fortran { (1, 0) } else { (0, 1) };
            assert!(slabs.iter().all(|s| s[inner] == shape[inner]), "{slabs:?}");
            assert_eq!(slabs.iter().map(|s| s[outer]).sum::<usize>(), shape[outer]);
            let rows = (chunk / (8 * shape[inner])).max(1);
            assert_eq!(slabs.len(), shape[outer].div_ceil(rows), "fortran {fortran} chunk {chunk}");
        }
    }
    Ok(())
}

/// `fold` with a mutable operand writes chunk-wise (whole-array ndarray arithmetic on each
/// slab) and flushes.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn fold_writes_through_mutable_chunks() -> TestResult {
    let dir = tempfile::tempdir()?;
    let values = input_values(&[40, 9], 1.0);
    let a = mapped_input(&dir.path().join("a.bin"), &values, false)?;
    let c_path = dir.path().join("c.bin");
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut c = unsafe { ArrayD::<f64>::create_file_with(&c_path, &options(&[40, 9], false))? };
    let count =
        chunked::Zip::from(&mut c).and(&a).chunk_bytes(3 * 9 * 8).fold(0, |count, mut c, a| {
            c.assign(&(&a * 3.0));
            count + 1
        })?;
    assert_eq!(count, 14); // 40 rows, 3 per chunk
    drop(c);
    assert_eq!(std::fs::read(&c_path)?, file_bytes(&(&values * 3.0), false));
    Ok(())
}

#[cfg(feature = "rayon")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn par_fold_equals_serial_fold() -> TestResult {
    let dir = tempfile::tempdir()?;
    for shape in SHAPES {
        for fortran in [false, true] {
            let values = input_values(shape, 1.0);
            let a = mapped_input(&dir.path().join("a.bin"), &values, fortran)?;
            let b = mapped_input(&dir.path().join("b.bin"), &values, fortran)?;
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
                for chunk in [8, 200, 1 << 20] {
                    // Sum of a * b and the element count, from pieces of chunks.
                    let (dot, count) = pool.install(|| {
                        chunked::Zip::from(&a).and(&b).chunk_bytes(chunk).par_fold(
                            || (0.0, 0),
                            |(dot, count), a, b| (dot + (&a * &b).sum(), count + a.len()),
                            |x, y| (x.0 + y.0, x.1 + y.1),
                        )
                    })?;
                    assert_eq!(count, values.len());
                    assert_eq!(dot, (&values * &values).sum(), "{shape:?} {fortran} {chunk}");
                }
            }
            drop((a, b));
            std::fs::remove_file(dir.path().join("a.bin"))?;
            std::fs::remove_file(dir.path().join("b.bin"))?;
        }
    }
    Ok(())
}

/// An existing file of `len` f64s holding 1, 2, 3, ...; returns its bytes.
fn existing_output(path: &Path, shape: &[usize], fortran: bool) -> Result<Vec<u8>, ndmmap::Error> {
    let values = input_values(shape, 1.0) + 1.0;
    mapped_input(path, &values, fortran)?;
    Ok(file_bytes(&values, fortran))
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn mismatched_shapes_fail_before_writing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let c_path = dir.path().join("c.bin");
    let before = existing_output(&c_path, &[6, 4], false)?;
    let a = mapped_input(&dir.path().join("a.bin"), &input_values(&[6, 4], 1.0), false)?;
    let b = mapped_input(&dir.path().join("b.bin"), &input_values(&[4, 6], 1.0), false)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut c = unsafe { ArrayD::<f64>::map_file_mut_with(&c_path, &options(&[6, 4], false))? };
    let mut calls = 0;
    let err = chunked::Zip::from(&mut c)
        .and(&a)
        .and(&b)
        .progress(|_, _| calls += 1)
        .for_each(|c, &a, &b| *c = a + b)
        .unwrap_err();
    assert!(
        matches!(&err, ndmmap::Error::ShapeMismatch { operand: 2, expected, actual }
            if expected == &[6, 4] && actual == &[4, 6]),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "operand 2 has shape [4, 6] but the first operand has shape [6, 4]"
    );
    assert_eq!(calls, 0);
    drop(c);
    assert_eq!(std::fs::read(&c_path)?, before);

    // The same check for `fold`.
    let err = chunked::Zip::from(&a).and(&b).fold(0, |n, _, _| n + 1).unwrap_err();
    assert!(matches!(err, ndmmap::Error::ShapeMismatch { operand: 1, .. }), "{err:?}");
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn different_layouts_fail_before_writing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let c_path = dir.path().join("c.bin");
    let before = existing_output(&c_path, &[6, 4], false)?;
    let a = mapped_input(&dir.path().join("a.bin"), &input_values(&[6, 4], 1.0), true)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut c = unsafe { ArrayD::<f64>::map_file_mut_with(&c_path, &options(&[6, 4], false))? };
    let err = chunked::Zip::from(&mut c).and(&a).for_each(|c, &a| *c = a).unwrap_err();
    assert!(
        matches!(err, ndmmap::Error::LayoutMismatch { operand: 1, expected: 0, actual: 1 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("same memory layout"), "{err}");
    drop(c);
    assert_eq!(std::fs::read(&c_path)?, before);

    // A plain in-memory operand of another layout is fine: only maps are walked in slabs.
    // SAFETY: as above.
    let mut c = unsafe { ArrayD::<f64>::map_file_mut_with(&c_path, &options(&[6, 4], false))? };
    let plain = input_values(&[6, 4], 2.0).reversed_axes().as_standard_layout().into_owned();
    let plain = plain.reversed_axes(); // Fortran order
    chunked::Zip::from(&mut c).and(&plain).chunk_bytes(8).for_each(|c, &p| *c = p)?;
    assert_eq!(*c, plain);
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_failing_closure_stops_with_its_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let c_path = dir.path().join("c.bin");
    let before: Vec<f64> = bytemuck::cast_slice(&existing_output(&c_path, &[100], false)?).to_vec();
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut c = unsafe { Array1::<f64>::map_file_mut(&c_path)? };
    let mut seen = 0;
    let err = chunked::Zip::from(&mut c)
        .chunk_bytes(80) // 10 elements per chunk
        .try_for_each(|x| {
            if seen == 42 {
                return Err(format!("element {seen} is bad").into());
            }
            seen += 1;
            *x = -1.0;
            Ok(())
        })
        .map_err(|e: Box<dyn std::error::Error>| e.to_string())
        .unwrap_err();
    // (`Box<dyn Error>` takes the engine's own errors too, through `From<ndmmap::Error>`.)
    assert_eq!(err, "element 42 is bad");
    // Elements before the failure were written; the rest were not touched.
    assert!(c.iter().take(42).all(|&x| x == -1.0));
    assert_eq!(c.as_slice().unwrap()[42..], before[42..]);
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_panicking_closure_propagates() -> TestResult {
    let dir = tempfile::tempdir()?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut c = unsafe { Array1::<u32>::create_file(dir.path().join("c.bin"), 100)? };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        chunked::Zip::from(&mut c).chunk_bytes(40).for_each(|x| {
            assert!(*x == 0, "boom");
            *x = 1;
        })
    }));
    assert!(result.is_ok(), "no element was nonzero, so no panic");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        chunked::Zip::from(&mut c).chunk_bytes(40).for_each(|x| assert!(*x == 0, "boom"))
    }));
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn copy_on_write_outputs_keep_their_changes_and_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("c.bin");
    let before = existing_output(&path, &[1000], false)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut c = unsafe { Array1::<f64>::map_file_copy(&path)? };
    chunked::Zip::from(&mut c).chunk_bytes(4096).for_each(|x| *x *= 2.0)?;
    let doubled: Vec<f64> =
        bytemuck::cast_slice::<u8, f64>(&before).iter().map(|x| x * 2.0).collect();
    assert_eq!(c.to_vec(), doubled, "private changes survive the engine's release");
    assert_eq!(std::fs::read(&path)?, before, "the file is unchanged");
    Ok(())
}

/// A copy-on-write guard read by the engine (`&guard`, an input): its changed pages exist
/// nowhere but in this process, so the engine must not release them as it does a shared
/// map's finished chunks, or the changes would vanish (the pages would read the file's
/// bytes again).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn copy_on_write_inputs_keep_their_changes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (a_path, c_path) = (dir.path().join("a.bin"), dir.path().join("c.bin"));
    let before = existing_output(&a_path, &[200, 64], false)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut a = unsafe { ArrayD::<f64>::map_file_copy_with(&a_path, &options(&[200, 64], false))? };
    a.mapv_inplace(|x| -x); // private changes, on every page
    let changed = a.to_owned();
    // SAFETY: as above.
    let mut c = unsafe { ArrayD::<f64>::create_file_with(&c_path, &options(&[200, 64], false))? };
    let mut chunks = 0;
    chunked::Zip::from(&mut c)
        .and(&a)
        .chunk_bytes(4096)
        .progress(|_, _| chunks += 1)
        .for_each(|c, &a| *c = a)?;
    assert!(chunks >= 25, "{chunks} chunks");
    assert_eq!(*c, changed, "the engine read the changed values");
    assert_eq!(*a, changed, "the copy-on-write input kept its changes after the engine ran");
    // The same through `fold`, and with the guard as the only operand.
    let sum = chunked::Zip::from(&a).chunk_bytes(4096).fold(0.0, |s, chunk| s + chunk.sum())?;
    assert_eq!(sum, changed.sum());
    assert_eq!(*a, changed);
    drop(a);
    assert_eq!(std::fs::read(&a_path)?, before, "the file is unchanged");
    Ok(())
}

/// Mapped operands with custom strides, negative ones among them (every other row of a
/// file, walked backwards; rows with padding, walked backwards), reach the engine: the
/// results equal plain ndarray's on the same views, the file holds them, and every
/// finished chunk of every map was released (no page of either map is resident after the
/// run, though all were before), which needs the right address span of each chunk.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn custom_and_negative_stride_guards() -> TestResult {
    const ROWS: usize = 64;
    const COLS: usize = 300;
    let neg = |s: usize| (-isize::try_from(s).unwrap()).cast_unsigned();
    let dir = tempfile::tempdir()?;
    let (a_path, c_path) = (dir.path().join("a.bin"), dir.path().join("c.bin"));
    // The input: a file of 2 * ROWS rows; the map takes every other row, last row first.
    let all = Array2::from_shape_fn((2 * ROWS, COLS), |(i, j)| (1000 * i + j) as f64);
    std::fs::write(&a_path, bytemuck::cast_slice(all.as_slice().unwrap()))?;
    let a_options = MapOptions::new().shape((ROWS, COLS).strides((neg(2 * COLS), 1)));
    // The output: rows padded by 12 elements, last row first.
    let c_options = MapOptions::new().shape((ROWS, COLS).strides((neg(COLS + 12), 1)));
    std::fs::write(&c_path, vec![0u8; (ROWS * (COLS + 12) - 12) * 8])?;
    // What the input map shows: rows 126, 124, ..., 0 of the file.
    let picked = all.slice(s![..2 * ROWS - 1;-2, ..]);
    let page = rustix::param::page_size();
    for (run, chunk) in [(0, 8 * COLS), (1, 3 * 8 * COLS), (2, 1 << 20)] {
        // SAFETY: no other process touches files in this test's temporary folder.
        let a = unsafe { Array2::<f64>::map_file_with(&a_path, &a_options)? };
        // SAFETY: as above.
        let mut c = unsafe { Array2::<f64>::map_file_mut_with(&c_path, &c_options)? };
        let expected = picked.mapv(|x| 2.0 * x + f64::from(run));
        assert_eq!(*a, picked, "the map is every other row, backwards");
        // Every page of both maps resident before the run.
        let (a_map, c_map) = (address_hull(&a), address_hull(&c));
        std::hint::black_box(a.sum() + c.sum());
        c.fill(-1.0);
        assert!(resident(&a_map, page).iter().all(|&r| r), "input resident before");
        assert!(resident(&c_map, page).iter().all(|&r| r), "output resident before");
        chunked::Zip::from(&mut c)
            .and(&a)
            .chunk_bytes(chunk)
            .for_each(|c, &a| *c = 2.0 * a + f64::from(run))?;
        let input_left = resident(&a_map, page).iter().filter(|&&r| r).count();
        let output_left = resident(&c_map, page).iter().filter(|&&r| r).count();
        assert_eq!((input_left, output_left), (0, 0), "run {run}: pages left resident");
        assert_eq!(*c, expected, "run {run}");
        // A fold over both, in chunks.
        let sum = chunked::Zip::from(&c)
            .and(&a)
            .chunk_bytes(chunk)
            .fold(0.0, |acc, c, a| acc + (&c - &a).sum())?;
        assert_eq!(sum, (&expected - &picked).sum(), "run {run}");
        drop(c);
        let bytes = std::fs::read(&c_path)?;
        let file: Vec<f64> = bytemuck::pod_collect_to_vec(&bytes);
        for (i, row) in expected.outer_iter().enumerate() {
            let at = (ROWS - 1 - i) * (COLS + 12);
            assert_eq!(file[at..at + COLS], row.to_vec(), "run {run}: row {i} in the file");
        }
    }
    Ok(())
}

/// The addresses from the lowest to one past the highest element of a non-empty view.
fn address_hull(view: &ArrayRef2<f64>) -> std::ops::Range<usize> {
    let addrs = view.iter().map(|x| std::ptr::from_ref(x) as usize);
    let (lo, hi) = addrs.fold((usize::MAX, 0), |(lo, hi), a| (lo.min(a), hi.max(a)));
    lo..hi + 8
}

/// Whether each page of `range` is mapped in this process (`/proc/self/pagemap`).
fn resident(range: &std::ops::Range<usize>, page: usize) -> Vec<bool> {
    use std::os::unix::fs::FileExt;
    let first = range.start / page;
    let count = range.end.div_ceil(page) - first;
    let pagemap = std::fs::File::open("/proc/self/pagemap").expect("Linux /proc");
    let mut raw = vec![0u8; count * 8];
    pagemap.read_exact_at(&mut raw, (first * 8) as u64).expect("read pagemap");
    raw.chunks_exact(8).map(|e| u64::from_le_bytes(e.try_into().unwrap()) >> 63 == 1).collect()
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn zero_dimensional_arrays_run_once() -> TestResult {
    let mut c = arr0(0.0);
    let a = arr0(2.5);
    let mut calls = Vec::new();
    chunked::Zip::from(&mut c)
        .and(&a)
        .progress(|d, t| calls.push((d, t)))
        .for_each(|c, &a| *c = a)?;
    assert_eq!((c[()], calls), (2.5, vec![(1, 1)]));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Resident set.

/// With `evict_written` (the default), outputs are written back and dropped from the page
/// cache chunk by chunk: what the file holds afterwards is still every result, for chunk
/// sizes that do and do not divide the array, serial and parallel; and the same without.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn evict_written_keeps_every_result() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (a_path, c_path) = (dir.path().join("a.bin"), dir.path().join("c.bin"));
    let values = input_values(&[300, 1000], 1.0);
    let a = mapped_input(&a_path, &values, false)?;
    let cases = [(4096, false, true), (100_000, false, true), (1 << 20, false, true)]
        .into_iter()
        .chain([(24_000, true, true), (4096, false, false), (24_000, true, false)]);
    for (chunk, parallel, evict) in cases {
        let _ = std::fs::remove_file(&c_path);
        // SAFETY: no other process touches files in this test's temporary folder.
        let mut c =
            unsafe { ArrayD::<f64>::create_file_with(&c_path, &options(&[300, 1000], false))? };
        let zip = chunked::Zip::from(&mut c).and(&a).chunk_bytes(chunk).evict_written(evict);
        if parallel {
            #[cfg(feature = "rayon")]
            zip.par_for_each(|c, &a| *c = 3.0 * a)?;
            #[cfg(not(feature = "rayon"))]
            zip.for_each(|c, &a| *c = 3.0 * a)?;
        } else {
            zip.for_each(|c, &a| *c = 3.0 * a)?;
        }
        drop(c);
        let expected = values.mapv(|a| 3.0 * a);
        assert_eq!(
            std::fs::read(&c_path)?,
            file_bytes(&expected, false),
            "chunk {chunk} evict {evict}"
        );
    }
    Ok(())
}

/// A field of this process's `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status.lines().find(|l| l.starts_with(field)).expect("the field");
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().expect("kB")
}

/// Set in the child process that runs [`resident_set_child`]: `engine` or `plain`.
const RSS_CHILD: &str = "NDMMAP_RSS_CHILD";
/// The size of each array of the resident-set job.
const RSS_LEN: usize = 64 << 20;

/// The child half of [`engine_bounds_its_own_resident_set`]: `c = a + b` on 64 MiB arrays
/// (two sparse inputs, which read as zeros and take no disk, and a new output) in the
/// folder `NDMMAP_RSS_DIR`, through the engine with its default chunks or through a plain
/// `Zip`; reports how far its resident set grew during the job. The peak is the kernel's
/// own (`VmHWM`, reset first through `/proc/self/clear_refs`), so that a peak inside a chunk
/// is seen, and only this process is measured, not the other tests of the suite.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "helper: run in a child process by engine_bounds_its_own_resident_set"]
fn resident_set_child() -> TestResult {
    let Ok(how) = std::env::var(RSS_CHILD) else { return Ok(()) };
    let dir = PathBuf::from(std::env::var("NDMMAP_RSS_DIR")?);
    let (a_path, b_path, c_path) = (dir.join("a.bin"), dir.join("b.bin"), dir.join("c.bin"));
    for path in [&a_path, &b_path] {
        std::fs::File::create(path)?.set_len(RSS_LEN as u64)?;
    }
    let _ = std::fs::remove_file(&c_path);
    // SAFETY: no other process touches files in this test's temporary folder.
    let a = unsafe { Array1::<u64>::map_file(&a_path)? };
    // SAFETY: as above.
    let b = unsafe { Array1::<u64>::map_file(&b_path)? };
    // SAFETY: as above.
    let mut c = unsafe { Array1::<u64>::create_file(&c_path, RSS_LEN / 8)? };
    std::fs::write("/proc/self/clear_refs", "5")?; // VmHWM := VmRSS
    let baseline = status_kib("VmRSS:");
    if how == "engine" {
        let zip = chunked::Zip::from(&mut c).and(&a).and(&b);
        #[cfg(feature = "rayon")]
        zip.par_for_each(|c, &a, &b| *c = a + b + 7)?;
        #[cfg(not(feature = "rayon"))]
        zip.for_each(|c, &a, &b| *c = a + b + 7)?;
    } else {
        Zip::from(&mut *c).and(&*a).and(&*b).for_each(|c, &a, &b| *c = a + b + 7);
        c.flush()?;
    }
    let growth = status_kib("VmHWM:").saturating_sub(baseline);
    assert!(c.iter().step_by(4099).all(|&x| x == 7));
    eprintln!("@@ndmmap growth {growth}");
    Ok(())
}

/// The engine keeps its resident set near the README's figure (26 MiB for `c = a + b`
/// with the default 8 MiB chunks), where a plain `Zip` over the same maps grows by the
/// arrays' whole size. Each job runs alone in a child process, which measures its own
/// growth.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn engine_bounds_its_own_resident_set() -> TestResult {
    // Two operands' chunks at a time (the current one and the pages around it), with room:
    // the README's 26 MiB is the whole process's peak.
    const BOUND_KIB: u64 = 26 << 10;
    let Some(dir) = common::disk_tempdir() else { return Ok(()) };
    let growth = |how: &str| -> Result<u64, Box<dyn std::error::Error>> {
        let output = std::process::Command::new(std::env::current_exe()?)
            .args(["--exact", "resident_set_child", "--ignored", "--nocapture"])
            .env(RSS_CHILD, how)
            .env("NDMMAP_RSS_DIR", dir.path())
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{how} child failed:\n{stderr}");
        let value =
            stderr.split("@@ndmmap growth ").nth(1).and_then(|v| v.split_whitespace().next());
        Ok(value.unwrap_or_else(|| panic!("no report from the {how} child:\n{stderr}")).parse()?)
    };
    let engine = growth("engine")?;
    let plain = growth("plain")?;
    eprintln!(
        "c = a + b on 3 x 64 MiB: resident set growth, engine {engine} KiB, plain Zip {plain} KiB"
    );
    assert!(
        engine <= BOUND_KIB,
        "engine: resident set grew by {engine} KiB (bound {BOUND_KIB} KiB)"
    );
    assert!(
        plain > 4 * BOUND_KIB,
        "plain Zip: resident set grew by only {plain} KiB, so the measure cannot see growth"
    );
    Ok(())
}
