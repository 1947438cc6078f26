//! Element-wise walks against plain `Zip`: every shape, memory order, chunk size and thread
//! count; slabs of `fold_chunks`; errors before writing; failing and panicking closures;
//! copy-on-write guards; custom and negative strides; zero-dimensional arrays.

use super::*;

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
fn fold_chunks_sees_slabs_along_the_outer_memory_axis() -> TestResult {
    let dir = tempfile::tempdir()?;
    for fortran in [false, true] {
        let shape = [23, 17];
        let values = input_values(&shape, 1.0);
        let a = mapped_input(&dir.path().join(format!("a{fortran}.bin")), &values, fortran)?;
        for chunk in [1, 100, 8 * 17 * 5, 1 << 20] {
            let (sum, slabs) = chunked::Zip::from(&a).chunk_bytes(chunk).fold_chunks(
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

/// `fold_chunks` with a mutable operand writes chunk-wise (whole-array ndarray arithmetic on each
/// slab) and flushes.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn fold_chunks_writes_through_mutable_chunks() -> TestResult {
    let dir = tempfile::tempdir()?;
    let values = input_values(&[40, 9], 1.0);
    let a = mapped_input(&dir.path().join("a.bin"), &values, false)?;
    let c_path = dir.path().join("c.bin");
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut c = unsafe { ArrayD::<f64>::create_file(&c_path, dyn_shape(&[40, 9], false))? };
    let count = chunked::Zip::from(&mut c).and(&a).chunk_bytes(3 * 9 * 8).fold_chunks(
        0,
        |count, mut c, a| {
            c.assign(&(&a * 3.0));
            count + 1
        },
    )?;
    assert_eq!(count, 14); // 40 rows, 3 per chunk
    drop(c);
    assert_eq!(std::fs::read(&c_path)?, file_bytes(&(&values * 3.0), false));
    Ok(())
}

#[cfg(feature = "rayon")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn par_fold_chunks_equals_serial_fold() -> TestResult {
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
                        chunked::Zip::from(&a).and(&b).chunk_bytes(chunk).par_fold_chunks(
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
    let err = chunked::Zip::from(&a).and(&b).fold_chunks(0, |n, _, _| n + 1).unwrap_err();
    assert!(matches!(err, ndmmap::Error::ShapeMismatch { operand: 1, .. }), "{err:?}");
    Ok(())
}

/// Mapped operands in different memory orders (C with Fortran, in both directions, 1 to 3
/// axes) are walked together, and equal ndarray's results, for every chunk size; serial
/// and parallel. Before engine v2 this was `Error::LayoutMismatch`.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn different_layouts_are_walked_together() -> TestResult {
    let dir = tempfile::tempdir()?;
    for shape in [&[6usize, 4][..], &[1000, 3], &[3, 1000], &[7, 5, 300], &[40]] {
        for out_fortran in [false, true] {
            let a_values = input_values(shape, 1.0);
            let b_values = input_values(shape, -2.0);
            let a = mapped_input(&dir.path().join("a.bin"), &a_values, !out_fortran)?;
            let b = mapped_input(&dir.path().join("b.bin"), &b_values, out_fortran)?;
            let expected = &a_values * 3.0 + &b_values;
            for (k, chunk) in CHUNKS.iter().chain([&(64 << 10)]).enumerate() {
                let c_path = dir.path().join(format!("c{k}.bin"));
                // SAFETY: no other process touches files in this test's temporary folder.
                let mut c =
                    unsafe { ArrayD::<f64>::create_file(&c_path, dyn_shape(shape, out_fortran))? };
                let zip = chunked::Zip::from(&mut c).and(&a).and(&b).chunk_bytes(*chunk);
                if k % 2 == 0 {
                    zip.for_each(|c, &a, &b| *c = 3.0 * a + b)?;
                } else {
                    #[cfg(feature = "rayon")]
                    zip.par_for_each(|c, &a, &b| *c = 3.0 * a + b)?;
                    #[cfg(not(feature = "rayon"))]
                    zip.for_each(|c, &a, &b| *c = 3.0 * a + b)?;
                }
                drop(c);
                let what = format!("{shape:?} out_fortran {out_fortran} chunk {chunk}");
                assert_eq!(std::fs::read(&c_path)?, file_bytes(&expected, out_fortran), "{what}");
                std::fs::remove_file(&c_path)?;
                // Reading across the layouts, too.
                let sum = chunked::Zip::from(&a)
                    .and(&b)
                    .chunk_bytes(*chunk)
                    .fold(0.0, |s, &a, &b| s + a * b)?;
                assert_eq!(sum, (&a_values * &b_values).sum(), "{what}");
            }
            drop((a, b));
            std::fs::remove_file(dir.path().join("a.bin"))?;
            std::fs::remove_file(dir.path().join("b.bin"))?;
        }
    }
    Ok(())
}

/// A C-order `.npy` converted into a Fortran-order one out of core, and back: NumPy reads
/// the same array from both.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn npy_c_order_to_fortran_order_and_back() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (c_path, f_path, back_path) =
        (dir.path().join("c.npy"), dir.path().join("f.npy"), dir.path().join("back.npy"));
    let values = Array2::from_shape_fn((2000, 9), |(i, j)| (i * 9 + j) as f64);
    values.save_npy(&c_path)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let c = unsafe { Array2::<f64>::map_npy(&c_path)? };
    // SAFETY: as above.
    let mut f = unsafe { Array2::<f64>::create_npy(&f_path, (2000, 9).f())? };
    chunked::Zip::from(&mut f).and(&c).chunk_bytes(4096).for_each(|f, &c| *f = c)?;
    drop(f);
    // SAFETY: as above.
    let f = unsafe { Array2::<f64>::map_npy(&f_path)? };
    assert!(ndmmap::npy::inspect(&f_path)?.fortran_order);
    assert_eq!(*f, values);
    // Back to C order.
    // SAFETY: as above.
    let mut back = unsafe { Array2::<f64>::create_npy(&back_path, (2000, 9))? };
    chunked::Zip::from(&mut back).and(&f).chunk_bytes(4096).for_each(|b, &f| *b = f)?;
    drop(back);
    assert_eq!(std::fs::read(&back_path)?, std::fs::read(&c_path)?);
    // A file the engine creates follows its operands' order: Fortran here.
    let copy = dir.path().join("copy.npy");
    chunked::Zip::from(&f).map_collect_npy(&copy, |&x| x)?;
    assert!(ndmmap::npy::inspect(&copy)?.fortran_order);
    assert_eq!(std::fs::read(&copy)?, std::fs::read(&f_path)?);
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
    let mut c = unsafe { ArrayD::<f64>::create_file(&c_path, dyn_shape(&[200, 64], false))? };
    let mut chunks = 0;
    chunked::Zip::from(&mut c)
        .and(&a)
        .chunk_bytes(4096)
        .progress(|_, _| chunks += 1)
        .for_each(|c, &a| *c = a)?;
    assert!(chunks >= 25, "{chunks} chunks");
    assert_eq!(*c, changed, "the engine read the changed values");
    assert_eq!(*a, changed, "the copy-on-write input kept its changes after the engine ran");
    // The same through `fold_chunks`, and with the guard as the only operand.
    let sum =
        chunked::Zip::from(&a).chunk_bytes(4096).fold_chunks(0.0, |s, chunk| s + chunk.sum())?;
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
#[cfg(target_os = "linux")]
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
    let page = common::page_size();
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
            .fold_chunks(0.0, |acc, c, a| acc + (&c - &a).sum())?;
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
#[cfg(target_os = "linux")]
fn address_hull(view: &ArrayRef2<f64>) -> std::ops::Range<usize> {
    let addrs = view.iter().map(|x| std::ptr::from_ref(x) as usize);
    let (lo, hi) = addrs.fold((usize::MAX, 0), |(lo, hi), a| (lo.min(a), hi.max(a)));
    lo..hi + 8
}

/// Whether each page of `range` is mapped in this process (`/proc/self/pagemap`).
#[cfg(target_os = "linux")]
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
    assert_eq!((c[()], calls), (2.5, vec![(16, 16)])); // two f64 operands
    Ok(())
}

/// A walk that writes into a mapped output leaves no dirty page behind when it returns: its
/// final flush writes the output back (in one chunk, across many, and for a 0-dimensional
/// output), as the guards' `flush` does. Without write-behind, which starts the write-back
/// of finished chunks on its own, the final flush is all that writes them.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_walk_writes_its_outputs_back_before_it_returns() -> TestResult {
    let Some(dir) = common::disk_tempdir() else { return Ok(()) };
    let page = common::page_size();
    // One chunk, and many: the walk's two ways to its end.
    for (shape, chunk) in [(vec![4, page / 8], 1 << 20), (vec![64, page / 8], page), (vec![], page)]
    {
        let rows = shape.first().copied().unwrap_or(0);
        let (a_path, c_path) =
            (dir.path().join(format!("a{rows}")), dir.path().join(format!("c{rows}")));
        let a = mapped_input(&a_path, &input_values(&shape, 1.0), false)?;
        // SAFETY: no other process touches files in this test's temporary folder.
        let c = unsafe { ArrayD::<f64>::create_file(&c_path, IxDyn(&shape))? };
        let mut state = (c, a);
        let observed = common::pages::assert_flush_writes_back(
            &c_path,
            &format!("a walk of {rows} rows in chunks of {chunk} bytes"),
            &mut state,
            |(c, _)| c.fill(-1.0),
            |(c, a)| {
                chunked::Zip::from(&mut *c)
                    .and(&*a)
                    .chunk_bytes(chunk)
                    .write_behind(false)
                    .for_each(|c, &a| *c = 2.0 * a)
                    .unwrap();
            },
        );
        if !observed {
            return Ok(());
        }
        let (c, a) = state;
        assert_eq!(*c, a.mapv(|a| 2.0 * a), "shape {shape:?}");
    }
    Ok(())
}
