//! The out-of-core engine, `ndmmap::chunked::Zip`, on real files: results equal plain
//! ndarray `Zip` results for many shapes, orders, chunk sizes and thread counts; errors
//! come before anything is written; the resident set stays bounded where a plain `Zip`'s
//! grows with the array.
//!
//! Every test maps files and so is ignored under Miri (rust-lang/miri#2520).

// Expected values are small integers held exactly in `f64`, so exact comparison is right.
#![allow(clippy::float_cmp)]
// Indices become `f64` values; all are far below 2^53.
#![allow(clippy::cast_precision_loss)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use ndmmap::chunked;
use ndmmap::prelude::*;

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
    MapOptions::new().shape(dyn_shape(shape, fortran))
}

/// A dynamic shape in C or Fortran order, for creating files.
fn dyn_shape(shape: &[usize], fortran: bool) -> StrideShape<IxDyn> {
    IxDyn(shape).set_f(fortran).into()
}

/// Writes `values` to a new file in the given order and maps it read-only.
fn mapped_input(
    path: &Path,
    values: &ArrayD<f64>,
    fortran: bool,
) -> Result<MmapArray<f64, IxDyn>, ndmmap::Error> {
    let shape = dyn_shape(values.shape(), fortran);
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut file = unsafe { ArrayD::<f64>::create_file(path, shape)? };
    file.assign(values);
    file.close()?;
    // SAFETY: as above.
    unsafe { ArrayD::<f64>::map_file_with(path, &options(values.shape(), fortran)) }
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
    let mut c = unsafe { ArrayD::<f64>::create_file(&c_path, dyn_shape(shape, fortran))? };

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
    let mut c = unsafe { ArrayD::<f64>::create_file(&c_path, dyn_shape(&[40, 9], false))? };
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

/// This process's current resident set (`VmRSS`), in KiB.
/// With `evict_after_write` (the default), outputs are written back and dropped from the page
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
        let mut c = unsafe { ArrayD::<f64>::create_file(&c_path, dyn_shape(&[300, 1000], false))? };
        let zip = chunked::Zip::from(&mut c).and(&a).chunk_bytes(chunk).evict_after_write(evict);
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

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().expect("kB")
}

/// The engine keeps the resident set near a few chunks on a 256 MiB job, where a plain
/// `Zip` over the same maps leaves every page resident.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn engine_bounds_the_resident_set_where_plain_zip_does_not() -> TestResult {
    const LEN: usize = 256 << 20; // bytes per array
    const CHUNK: usize = 8 << 20;
    const BOUND_KIB: u64 = 96 << 10; // above the baseline: 2 operands x (current + next) x 8 MiB, with room
    let dir = tempfile::tempdir()?;
    let (a_path, c_path): (PathBuf, PathBuf) = (dir.path().join("a.bin"), dir.path().join("c.bin"));
    // A sparse input (reads as zeros, takes no disk) and a real output.
    std::fs::File::create(&a_path)?.set_len(LEN as u64)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let a = unsafe { Array1::<u64>::map_file(&a_path)? };
    // SAFETY: as above.
    let mut c = unsafe { Array1::<u64>::create_file(&c_path, LEN / 8)? };

    // Sampled between chunks (in the progress callback) and inside them (every 2^19
    // elements, 4 MiB of each operand), so that the peak within a chunk is seen too.
    let baseline = rss_kib();
    let peak = AtomicU64::new(0);
    let mut samples = 0;
    let mut elements = 0usize;
    chunked::Zip::from(&mut c)
        .and(&a)
        .chunk_bytes(CHUNK)
        .progress(|_, _| {
            peak.fetch_max(rss_kib(), Relaxed);
            samples += 1;
        })
        .for_each(|c, &a| {
            *c = a + 7;
            elements += 1;
            if elements.is_multiple_of(1 << 19) {
                peak.fetch_max(rss_kib(), Relaxed);
            }
        })?;
    assert_eq!(samples, LEN / CHUNK);
    let peak = peak.into_inner();
    let engine_growth = peak.saturating_sub(baseline);
    assert!(
        engine_growth < BOUND_KIB,
        "engine: resident set grew by {engine_growth} KiB (bound {BOUND_KIB} KiB)"
    );
    assert!(c.iter().step_by(4099).all(|&x| x == 7));
    drop((a, c));

    // The same job with a plain Zip over fresh maps of the same files.
    // SAFETY: as above.
    let a = unsafe { Array1::<u64>::map_file(&a_path)? };
    // SAFETY: as above.
    let mut c = unsafe { Array1::<u64>::map_file_mut(&c_path)? };
    let baseline = rss_kib();
    Zip::from(&mut *c).and(&*a).for_each(|c, &a| *c = a + 8);
    let plain_growth = rss_kib().saturating_sub(baseline);
    c.flush()?;
    assert!(
        plain_growth > BOUND_KIB,
        "plain Zip: resident set grew by only {plain_growth} KiB (bound {BOUND_KIB} KiB)"
    );
    eprintln!(
        "256 MiB add: resident set growth, engine {} MiB, plain Zip {} MiB",
        engine_growth >> 10,
        plain_growth >> 10
    );
    Ok(())
}
