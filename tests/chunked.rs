//! The out-of-core engine, `ndmmap::chunked::Zip`, on real files: results equal plain
//! ndarray `Zip` results for many shapes, orders, chunk sizes and thread counts; errors
//! come before anything is written; copy-on-write guards keep their changes, as outputs and
//! as inputs; guards with custom and negative strides are chunked and released; operands in
//! different memory orders are walked together over several chunks; the engine's own
//! resident set, measured in a child process, stays near the README's figure where a plain
//! `Zip`'s grows with the arrays.
//!
//! Every test maps files and so is ignored under Miri (rust-lang/miri#2520).

// Expected values are small integers held exactly in `f64`, so exact comparison is right.
#![allow(clippy::float_cmp)]
// Indices become `f64` values; all are far below 2^53.
#![allow(clippy::cast_precision_loss)]

use std::path::{Path, PathBuf};

use ndarray::RemoveAxis;
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

// ---------------------------------------------------------------------------------------
// Mixed layouts over several chunks. An operand that crosses the cut makes every chunk at
// least 64 KiB of its runs thick (8192 rows where its runs along the cut are one `f64`), so
// the walks above, of at most a few thousand rows, are each one chunk. The arrays here are
// several times that long, and every walk counts its chunks through `progress`.

/// The chunk size these walks ask for: less than any crossing operand allows, so each
/// chunk is as thin as the engine lets it be.
const THIN: usize = 4096;

/// `1, 2, 3, ...` in C order over `shape`: every element distinct and exact in `f64`.
fn numbered<D: Dimension>(shape: D) -> Array<f64, D> {
    let n = shape.size();
    Array::from_shape_vec(shape, (1..=n).map(|i| i as f64).collect()).expect("n elements")
}

/// Saves `values` as a new `.npy` file at `path` in C or Fortran order and maps it
/// read-only.
fn mapped_npy<D: Dimension>(
    path: &Path,
    values: &Array<f64, D>,
    fortran: bool,
) -> Result<MmapArray<f64, D>, ndmmap::Error> {
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut file = unsafe { Array::<f64, D>::create_npy(path, values.raw_dim().set_f(fortran))? };
    file.assign(values);
    file.close()?;
    // SAFETY: as above.
    unsafe { Array::<f64, D>::map_npy(path) }
}

/// The data of the `.npy` file at `path` (what follows its header), and whether its
/// header says Fortran order.
fn npy_data(path: &Path) -> Result<(Vec<u8>, bool), Box<dyn std::error::Error>> {
    let header = ndmmap::npy::inspect(path)?;
    let bytes = std::fs::read(path)?;
    let at = bytes.len() - 8 * header.shape.iter().product::<usize>();
    Ok((bytes[at..].to_vec(), header.fortran_order))
}

/// The bytes of `values` in C or Fortran order.
fn order_bytes<D: Dimension>(values: &Array<f64, D>, fortran: bool) -> Vec<u8> {
    let elems: Vec<f64> = if fortran {
        values.t().iter().copied().collect()
    } else {
        values.iter().copied().collect()
    };
    bytemuck::cast_slice(&elems).to_vec()
}

/// Reads `x` and `y` through the engine's indexed `fold` in chunks: how many elements it
/// saw, how many of them differ from `a` and `b` at their index, and in how many chunks.
fn fold_against<'a, D>(
    x: &'a MmapArray<f64, D>,
    y: &'a MmapArray<f64, D>,
    a: &Array<f64, D>,
    b: &Array<f64, D>,
) -> Result<(usize, usize, usize), ndmmap::Error>
where
    D: Dimension + Copy,
    D::Pattern: ndarray::NdIndex<D> + Copy,
{
    let mut chunks = 0;
    let (seen, bad) = chunked::Zip::indexed(x)
        .and(y)
        .chunk_bytes(THIN)
        .progress(|_, _| chunks += 1)
        .fold((0, 0), |(seen, bad), ix, &x, &y| {
            (seen + 1, bad + usize::from(x != a[ix] || y != b[ix]))
        })?;
    Ok((seen, bad, chunks))
}

/// One shape of [`c_order_and_fortran_order_npy_walked_together_over_several_chunks`]:
/// for the input in each order, a new `.npy` output in the other order written with
/// `for_each` and `par_for_each`, an indexed fold over input and output, and
/// `map_collect_npy` over both into a file in the order of the cut (the long axis).
fn c_and_fortran_case<D>(dir: &Path, shape: D) -> TestResult
where
    D: Dimension + Copy,
    D::Pattern: ndarray::NdIndex<D> + Copy,
{
    let values = numbered(shape);
    let expected = values.mapv(|x| 2.0 * x - 1.0);
    let long = (0..shape.ndim()).max_by_key(|&k| shape[k]).expect("axes");
    for in_fortran in [false, true] {
        let what = format!("{:?} input fortran {in_fortran}", shape.slice());
        let out_fortran = !in_fortran;
        let in_path = dir.join("in.npy");
        let input = mapped_npy(&in_path, &values, in_fortran)?;
        assert_eq!(ndmmap::npy::inspect(&in_path)?.fortran_order, in_fortran, "{what}");
        for parallel in [false, true] {
            let what = format!("{what} parallel {parallel}");
            let out_path = dir.join(format!("out{parallel}.npy"));
            // SAFETY: no other process touches files in this test's temporary folder.
            let mut out =
                unsafe { Array::<f64, D>::create_npy(&out_path, shape.set_f(out_fortran))? };
            let mut chunks = 0;
            let zip = chunked::Zip::from(&mut out)
                .and(&input)
                .chunk_bytes(THIN)
                .progress(|_, _| chunks += 1);
            if parallel {
                #[cfg(feature = "rayon")]
                zip.par_for_each(|o, &x| *o = 2.0 * x - 1.0)?;
                #[cfg(not(feature = "rayon"))]
                zip.for_each(|o, &x| *o = 2.0 * x - 1.0)?;
            } else {
                zip.for_each(|o, &x| *o = 2.0 * x - 1.0)?;
            }
            assert!(chunks > 2, "{what}: {chunks} chunks");
            assert!(*out == expected, "{what}: the mapped output differs");
            out.close()?;
            assert!(
                npy_data(&out_path)? == (order_bytes(&expected, out_fortran), out_fortran),
                "{what}"
            );
        }
        // Reading both orders at once: every value at its index.
        // SAFETY: as above.
        let out = unsafe { Array::<f64, D>::map_npy(dir.join("outfalse.npy"))? };
        let (seen, bad, chunks) = fold_against(&input, &out, &values, &expected)?;
        assert_eq!((seen, bad), (values.len(), 0), "{what}: fold");
        assert!(chunks > 2, "{what}: fold in {chunks} chunks");
        // Into a new file in the order of the cut, along the long axis: Fortran order when
        // that is the last axis, C order otherwise, whatever the first operand's order.
        let collected = dir.join("collected.npy");
        let mut chunks = 0;
        chunked::Zip::from(&input)
            .and(&out)
            .chunk_bytes(THIN)
            .progress(|_, _| chunks += 1)
            .map_collect_npy(&collected, |&x, &y| y - x)?;
        assert!(chunks > 2, "{what}: map_collect_npy in {chunks} chunks");
        let difference = &expected - &values;
        let fortran = long == shape.ndim() - 1;
        assert!(npy_data(&collected)? == (order_bytes(&difference, fortran), fortran), "{what}");
        drop((input, out));
        for path in [&in_path, &dir.join("outfalse.npy"), &dir.join("outtrue.npy"), &collected] {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// A C-order `.npy` into a new Fortran-order one and back, over several chunks (one of the
/// two crosses the cut, so chunks are 8192 rows or columns thick): every value lands where
/// ndarray puts it, serial and parallel; an indexed fold over both orders reads every
/// value at its index; `map_collect_npy` over both writes a file in the order of the cut,
/// whichever the first operand's. 2-D with the long axis first and last, and 3-D.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn c_order_and_fortran_order_npy_walked_together_over_several_chunks() -> TestResult {
    let dir = tempfile::tempdir()?;
    c_and_fortran_case(dir.path(), Ix2(40_000, 3))?;
    c_and_fortran_case(dir.path(), Ix2(3, 40_000))?;
    c_and_fortran_case(dir.path(), Ix3(30_000, 3, 4))
}

/// A wrapped negative stride, as `MapOptions` takes it.
fn neg(step: usize) -> usize {
    (-isize::try_from(step).expect("small")).cast_unsigned()
}

/// Mapped operands that are views of their files (transposed, every other element,
/// reversed; permuted with a reversed axis) against a new C-order `.npy` output over
/// several chunks: `for_each`, `par_for_each`, an indexed fold, and `map_collect_npy`
/// of the view alone (a file in the order of its own outermost axis) and with the output
/// (a file in the order of the cut).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn strided_mapped_operands_against_a_c_order_output_over_several_chunks() -> TestResult {
    const R: usize = 20_000;
    const N: usize = 10_000;
    let dir = tempfile::tempdir()?;
    // 2-D: a file holding a C-order (3, 2R) array, mapped as (R, 3): x[i, j] = file[j, 2(R-1-i)],
    // transposed, every other column, last first. Its runs along axis 0 are 16 bytes
    // apart, so a chunk cut along axis 0 is at least 4096 rows: 5 chunks.
    let file2 = numbered(Ix2(3, 2 * R));
    let view2 = file2.slice(s![.., ..2 * R - 1;-2]).reversed_axes();
    let options2 = MapOptions::new().shape((R, 3).strides((neg(2), 2 * R)));
    // 3-D: a file holding a C-order (N, 3, 4) array, mapped as (3, N, 4): x[a, b, c] =
    // file[N-1-b, a, c]. The engine cuts along axis 1, the view's outermost, where the
    // C-order output crosses the cut in runs of 4 elements: chunks of 2048, 5 of them.
    let file3 = numbered(Ix3(N, 3, 4));
    let view3 = file3.slice(s![..;-1, .., ..]).permuted_axes([1, 0, 2]);
    let options3 = MapOptions::new().shape((3, N, 4).strides((4, neg(12), 1)));
    strided_case(dir.path(), &file2, &view2, &options2)?;
    strided_case(dir.path(), &file3, &view3, &options3)
}

/// One case of [`strided_mapped_operands_against_a_c_order_output_over_several_chunks`]:
/// `file` written raw, mapped with `options`, which must show `view` of it.
fn strided_case<D>(
    dir: &Path,
    file: &Array<f64, D>,
    view: &ArrayView<'_, f64, D>,
    options: &MapOptions<D>,
) -> TestResult
where
    D: Dimension + Copy,
    D::Pattern: ndarray::NdIndex<D> + Copy,
{
    let what = format!("{:?} strides {:?}", view.shape(), view.strides());
    let x_path = dir.join("x.bin");
    std::fs::write(&x_path, bytemuck::cast_slice(file.as_slice().expect("C order")))?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let x = unsafe { Array::<f64, D>::map_file_with(&x_path, options)? };
    assert_eq!(*x, *view, "{what}: the map shows the view");
    let expected = view.mapv(|v| 3.0 * v + 1.0);
    let shape = view.raw_dim();
    for parallel in [false, true] {
        let what = format!("{what} parallel {parallel}");
        let out_path = dir.join(format!("out{parallel}.npy"));
        // SAFETY: as above.
        let mut out = unsafe { Array::<f64, D>::create_npy(&out_path, shape)? };
        let mut chunks = 0;
        let zip =
            chunked::Zip::from(&mut out).and(&x).chunk_bytes(THIN).progress(|_, _| chunks += 1);
        if parallel {
            #[cfg(feature = "rayon")]
            zip.par_for_each(|o, &x| *o = 3.0 * x + 1.0)?;
            #[cfg(not(feature = "rayon"))]
            zip.for_each(|o, &x| *o = 3.0 * x + 1.0)?;
        } else {
            zip.for_each(|o, &x| *o = 3.0 * x + 1.0)?;
        }
        assert!(chunks > 2, "{what}: {chunks} chunks");
        assert!(*out == expected, "{what}: the mapped output differs");
        out.close()?;
        assert!(npy_data(&out_path)? == (order_bytes(&expected, false), false), "{what}");
    }
    // SAFETY: as above.
    let out = unsafe { Array::<f64, D>::map_npy(dir.join("outfalse.npy"))? };
    let view = view.to_owned();
    let (seen, bad, chunks) = fold_against(&x, &out, &view, &expected)?;
    assert_eq!((seen, bad), (view.len(), 0), "{what}: fold");
    assert!(chunks > 2, "{what}: fold in {chunks} chunks");
    // The view alone: a file in the order of its outermost axis (Fortran order for the
    // transposed 2-D view, C order for the 3-D one, cut along its middle axis).
    let alone = dir.join("alone.npy");
    let mut chunks = 0;
    chunked::Zip::from(&x)
        .chunk_bytes(THIN)
        .progress(|_, _| chunks += 1)
        .map_collect_npy(&alone, |&x| -x)?;
    assert!(chunks > 2, "{what}: map_collect_npy alone in {chunks} chunks");
    let fortran = x.ndim() == 2;
    assert!(npy_data(&alone)? == (order_bytes(&view.mapv(|v| -v), fortran), fortran), "{what}");
    // With the C-order output: the cut is the output's axis for the 2-D view, the view's
    // for the 3-D one; C order either way.
    let both = dir.join("both.npy");
    let mut chunks = 0;
    chunked::Zip::from(&x)
        .and(&out)
        .chunk_bytes(THIN)
        .progress(|_, _| chunks += 1)
        .map_collect_npy(&both, |&x, &o| o - 3.0 * x)?;
    assert!(chunks > 2, "{what}: map_collect_npy with the output in {chunks} chunks");
    let ones = Array::<f64, D>::ones(shape);
    assert!(npy_data(&both)? == (order_bytes(&ones, false), false), "{what}");
    drop((x, out));
    for name in ["x.bin", "outfalse.npy", "outtrue.npy", "alone.npy", "both.npy"] {
        std::fs::remove_file(dir.join(name))?;
    }
    Ok(())
}

/// `sum_axis_into` and `mean_var_axis_into` of a Fortran-order mapped `.npy` along each
/// axis into new mapped `.npy` outputs, over several chunks, equal ndarray's, in memory and
/// in the files. The walks cover each way the engine cuts a reduction into a mapped output,
/// and the chunk counts pin which one each case takes (they follow from [`THIN`] and the
/// documented 64 KiB runs of an operand that crosses the cut).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn reductions_of_a_fortran_order_npy_over_several_chunks() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cases = [
        // Cut along axis 0, which the input crosses: chunks of a page of each column's run
        // (512 rows of 4 KiB pages; `THIN` bytes would hold only 170 rows), each filling
        // its own slab of the output.
        (Ix2(40_000, 3), 1, 40_000usize.div_ceil(common::pages::page_size() / 8)),
        // Cut along the input's own axis 1, a column (320 KB, more than `THIN`) per chunk,
        // each filling one element of the output.
        (Ix2(40_000, 3), 0, 3),
        // Cut along the input's own axis 1, `THIN` bytes (170 columns) per chunk: each fills
        // its slab of the long result, or (along axis 1) is accumulated into the short one
        // in place.
        (Ix2(3, 40_000), 0, 40_000usize.div_ceil(THIN / 24)),
        (Ix2(3, 40_000), 1, 40_000usize.div_ceil(THIN / 24)),
    ];
    for (i, (shape, k, count)) in cases.into_iter().enumerate() {
        let values = numbered(shape);
        let x_path = dir.path().join(format!("x{i}.npy"));
        let x = mapped_npy(&x_path, &values, true)?;
        assert!(ndmmap::npy::inspect(&x_path)?.fortran_order);
        let axis = Axis(k);
        let what = format!("{shape:?} along axis {k}");
        let path = |name: &str| dir.path().join(format!("{name}{i}.npy"));
        let create = |name: &str| {
            // SAFETY: no other process touches files in this test's temporary folder.
            unsafe { Array1::<f64>::create_npy(path(name), shape[1 - k]) }
        };
        let (mut sum, mut mean, mut var) = (create("sum")?, create("mean")?, create("var")?);
        let mut chunks = 0;
        chunked::Zip::from(&x)
            .chunk_bytes(THIN)
            .progress(|_, _| chunks += 1)
            .sum_axis_into(axis, &mut sum)?;
        assert_eq!(chunks, count, "{what}: sum");
        let mut chunks = 0;
        chunked::Zip::from(&x)
            .chunk_bytes(THIN)
            .progress(|_, _| chunks += 1)
            .mean_var_axis_into(axis, 1.0, &mut mean, &mut var)?;
        assert_eq!(chunks, count, "{what}: mean and variance");
        // Sums of integers below 2^53: exact.
        let sum_expected = values.sum_axis(axis);
        let mean_expected = values.mean_axis(axis).expect("not empty");
        let var_expected = values.var_axis(axis, 1.0);
        assert!(*sum == sum_expected, "{what}: sum");
        assert!(close(&mean, &mean_expected), "{what}: mean");
        assert!(close(&var, &var_expected), "{what}: variance");
        // And in the files, mapped anew.
        for guard in [sum, mean, var] {
            guard.close()?;
        }
        // SAFETY: as above.
        let read = |name: &str| unsafe { Array1::<f64>::map_npy(path(name)) };
        assert!(*read("sum")? == sum_expected, "{what}: sum read back");
        assert!(close(&read("mean")?, &mean_expected), "{what}: mean read back");
        assert!(close(&read("var")?, &var_expected), "{what}: variance read back");
    }
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
    if let Some(how) = how.strip_prefix("wide_") {
        return wide_resident_set(how, &dir);
    }
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
    let growth = growth_during(|| {
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
        Ok(())
    })?;
    assert!(c.iter().step_by(4099).all(|&x| x == 7));
    eprintln!("@@ndmmap growth {growth}");
    Ok(())
}

/// How far this process's resident set grew (KiB) while `job` ran, at its peak: the
/// kernel's `VmHWM`, reset first through `/proc/self/clear_refs`, so that a peak inside a
/// chunk is seen.
#[cfg(target_os = "linux")]
fn growth_during(job: impl FnOnce() -> TestResult) -> Result<u64, Box<dyn std::error::Error>> {
    std::fs::write("/proc/self/clear_refs", "5")?; // VmHWM := VmRSS
    let baseline = status_kib("VmRSS:");
    job()?;
    Ok(status_kib("VmHWM:").saturating_sub(baseline))
}

/// Rows and columns of the wide matrix of [`wide_resident_set`]: 32 MiB of `f32`.
const WIDE: (usize, usize) = (8192, 1024);

/// The wide half of [`resident_set_child`]: a C-order `WIDE` matrix (a sparse raw file)
/// copied into a new Fortran-order `.npy`, through the engine in 1 MiB chunks or through a
/// plain `Zip`; reports the growth of the resident set.
#[cfg(target_os = "linux")]
fn wide_resident_set(how: &str, dir: &Path) -> TestResult {
    let (x_path, f_path) = (dir.join("wide.bin"), dir.join("wide_f.npy"));
    std::fs::File::create(&x_path)?.set_len((WIDE.0 * WIDE.1 * 4) as u64)?;
    let _ = std::fs::remove_file(&f_path);
    let options = MapOptions::new().shape(WIDE);
    // SAFETY: no other process touches files in this test's temporary folder.
    let x = unsafe { Array2::<f32>::map_file_with(&x_path, &options)? };
    // SAFETY: as above.
    let mut f = unsafe { Array2::<f32>::create_npy(&f_path, WIDE.f())? };
    let growth = growth_during(|| {
        if how == "engine" {
            let zip = chunked::Zip::from(&mut f).and(&x).chunk_bytes(1 << 20);
            zip.for_each(|f, &x| *f = x + 1.0)?;
        } else {
            Zip::from(&mut *f).and(&*x).for_each(|f, &x| *f = x + 1.0);
            f.flush()?;
        }
        Ok(())
    })?;
    assert!(f.iter().step_by(4099).all(|&v| v == 1.0));
    eprintln!("@@ndmmap growth {growth}");
    Ok(())
}

/// Growth of the resident set (KiB) of the `how` job of [`resident_set_child`], run alone
/// in a child process with its files in `dir`.
#[cfg(target_os = "linux")]
fn child_growth(how: &str, dir: &Path) -> Result<u64, Box<dyn std::error::Error>> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(["--exact", "resident_set_child", "--ignored", "--nocapture"])
        .env(RSS_CHILD, how)
        .env("NDMMAP_RSS_DIR", dir)
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{how} child failed:\n{stderr}");
    let value = stderr.split("@@ndmmap growth ").nth(1).and_then(|v| v.split_whitespace().next());
    Ok(value.unwrap_or_else(|| panic!("no report from the {how} child:\n{stderr}")).parse()?)
}

/// A wide matrix (1024 columns) copied from C order into Fortran order: each chunk of rows
/// is a run per column of the output, and chunks used to be thick enough for 64 KiB runs
/// whatever the chunk size (16384 rows here, so the whole 32 MiB at once). Now they are cut
/// near the chunk size, with a page per column in flight, and the resident set stays at a
/// few chunks where a plain `Zip` (and the old engine) holds both arrays. (The input is
/// sparse, all zeros: this measures memory; the values of such walks are checked element
/// by element in `c_order_and_fortran_order_npy_walked_together_over_several_chunks`.)
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn engine_bounds_its_resident_set_on_a_wide_matrix_across_orders() -> TestResult {
    // 1 MiB chunks, cut at one page (1024 rows of 4 KiB pages) per column of the output:
    // 4 MiB of each operand per chunk; the output's next two chunks are faulted in ahead
    // (measured: 26 MiB, against 66 MiB before the change, as much as a plain `Zip`).
    const BOUND_KIB: u64 = 32 << 10;
    if common::pages::page_size() > 4096 {
        common::skip("pages of 16 KiB or more make chunks of all 8192 rows: nothing to bound");
        return Ok(());
    }
    // A plain `Zip` holds nearly both arrays (64 MiB).
    engine_and_plain_growth("wide_", "C to Fortran order, 2 x 32 MiB", BOUND_KIB, 56 << 10)
}

/// Runs the `{prefix}engine` and `{prefix}plain` jobs of [`resident_set_child`] (each
/// alone in a child process), and checks that the engine's resident set grew by at most
/// `bound_kib` and the plain `Zip`'s by more than `plain_above_kib` (else the measure
/// cannot see growth).
#[cfg(target_os = "linux")]
fn engine_and_plain_growth(
    prefix: &str,
    what: &str,
    bound_kib: u64,
    plain_above_kib: u64,
) -> TestResult {
    let Some(dir) = common::disk_tempdir() else { return Ok(()) };
    let engine = child_growth(&format!("{prefix}engine"), dir.path())?;
    let plain = child_growth(&format!("{prefix}plain"), dir.path())?;
    eprintln!("{what}: resident set growth, engine {engine} KiB, plain Zip {plain} KiB");
    assert!(
        engine <= bound_kib,
        "engine: resident set grew by {engine} KiB (bound {bound_kib} KiB)"
    );
    assert!(
        plain > plain_above_kib,
        "plain Zip: resident set grew by only {plain} KiB, so the measure cannot see growth"
    );
    Ok(())
}

/// The engine keeps its resident set within four of its default 8 MiB chunks for
/// `c = a + b`, where a plain `Zip` over the same maps grows by the arrays' whole size.
/// Each job runs alone in a child process, which measures its own growth.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn engine_bounds_its_own_resident_set() -> TestResult {
    // The current chunk of each of the three operands (24 MiB), the pages around it and
    // the threads' stacks: measured 25-26.3 MiB, so 26 MiB failed now and then.
    const BOUND_KIB: u64 = 32 << 10;
    engine_and_plain_growth("", "c = a + b on 3 x 64 MiB", BOUND_KIB, 4 * BOUND_KIB)
}

// ---------------------------------------------------------------------------------------
// Element-wise folds and indices, against ndarray, over random shapes, memory orders
// (C, Fortran, transposed, sliced, negative strides), chunk sizes and thread counts.

/// Storage for one memory order of a logical array, and how to view it as that array.
struct Variant {
    storage: ArrayD<f64>,
    view: fn(&ArrayD<f64>) -> ArrayViewD<'_, f64>,
}

/// The logical array `x` laid out in the `kind`-th of five ways: C order, Fortran order,
/// axis 0 reversed in memory (negative stride), every other element of a larger array
/// (sliced), and the transpose of a C-order array of the reversed shape.
fn variant(x: &ArrayD<f64>, kind: u8) -> Variant {
    match kind % 5 {
        0 => Variant { storage: x.as_standard_layout().into_owned(), view: |s| s.view() },
        1 => {
            let mut f = ArrayD::zeros(x.raw_dim().f());
            f.assign(x);
            Variant { storage: f, view: |s| s.view() }
        }
        2 => {
            let mut flipped = x.view();
            flipped.invert_axis(Axis(0));
            Variant {
                storage: flipped.as_standard_layout().into_owned(),
                view: |s| {
                    let mut v = s.view();
                    v.invert_axis(Axis(0));
                    v
                },
            }
        }
        3 => {
            let big: Vec<usize> = x.shape().iter().map(|&d| 2 * d).collect();
            let mut storage = ArrayD::from_elem(IxDyn(&big), f64::NAN);
            storage.slice_each_axis_mut(|_| ndarray::Slice::new(0, None, 2)).assign(x);
            Variant { storage, view: |s| s.slice_each_axis(|_| ndarray::Slice::new(0, None, 2)) }
        }
        _ => Variant { storage: x.t().as_standard_layout().into_owned(), view: |s| s.t() },
    }
}

/// A random shape of 1 to 3 axes of length 0 to 6, from quickcheck's bytes.
fn small_shape(dims: &[u8]) -> Vec<usize> {
    let mut shape: Vec<usize> = dims.iter().take(3).map(|&d| usize::from(d % 7)).collect();
    if shape.is_empty() {
        shape.push(5);
    }
    shape
}

/// `fold`, `par_fold`, `indexed` and `for_each` through the engine, with one mapped operand
/// (C or Fortran order) and one plain one in any of the five orders, equal ndarray's own.
#[allow(clippy::needless_pass_by_value)] // quickcheck hands arguments over by value
#[allow(clippy::cast_possible_truncation)] // small integers, exact in f32
fn folds_and_indices_equal_ndarray(dims: Vec<u8>, fortran: bool, kind: u8, chunk: u8) -> bool {
    let shape = small_shape(&dims);
    let chunk = CHUNKS[usize::from(chunk) % CHUNKS.len()];
    let dir = tempfile::tempdir().unwrap();
    let a_values = input_values(&shape, 1.0);
    let b_values = input_values(&shape, -0.5) + 3.0;
    let a = mapped_input(&dir.path().join("a.bin"), &a_values, fortran).unwrap();
    let b_variant = variant(&b_values, kind);
    let b = (b_variant.view)(&b_variant.storage);
    assert_eq!(b, b_values);

    // A fold whose result does not depend on the order of visits (sums of small integers
    // are exact in f64), and one that does not either: the count.
    let expected =
        Zip::from(&a_values).and(&b_values).fold((0.0, 0), |(s, n), &a, &b| (s + a * b, n + 1));
    let got = chunked::Zip::from(&a)
        .and(b.view())
        .chunk_bytes(chunk)
        .fold((0.0, 0), |(s, n), &a, &b| (s + a * b, n + 1))
        .unwrap();
    assert_eq!(got, expected, "fold {shape:?} fortran {fortran} kind {kind} chunk {chunk}");

    // Indices (fixed rank, as ndarray's `Zip::indexed`): every element sees its own index.
    let mut shape3 = shape.clone();
    shape3.resize(3, 1);
    let mut a3 = a.view();
    while a3.ndim() < 3 {
        let last = Axis(a3.ndim());
        a3 = a3.insert_axis(last);
    }
    let a3 = a3.into_dimensionality::<Ix3>().unwrap();
    let mut c = Array3::<f64>::zeros((shape3[0], shape3[1], shape3[2]));
    chunked::Zip::indexed(&mut c)
        .and(a3.view())
        .chunk_bytes(chunk)
        .for_each(|(i, j, k), c, &a| *c = a - (100 * i + 10 * j + k) as f64)
        .unwrap();
    let mut expected_c = c.clone();
    expected_c.fill(0.0);
    Zip::indexed(&mut expected_c)
        .and(&a3)
        .for_each(|(i, j, k), c, &a| *c = a - (100 * i + 10 * j + k) as f64);
    assert_eq!(c, expected_c, "indexed {shape:?} fortran {fortran} kind {kind} chunk {chunk}");

    // Results into new files: the same values as in memory, read back in the order the
    // file declares (.npy) or the engine's order (raw: C unless the operands are Fortran).
    let npy = dir.path().join("out.npy");
    chunked::Zip::from(&a)
        .and(b.view())
        .chunk_bytes(chunk)
        .map_collect_npy(&npy, |&a, &b| a * b - 1.0)
        .unwrap();
    let expected_out = Zip::from(&a_values).and(&b_values).map_collect(|&a, &b| a * b - 1.0);
    // SAFETY: no other process touches files in this test's temporary folder.
    let out = unsafe { ArrayD::<f64>::map_npy(&npy) }.unwrap();
    assert_eq!(*out, expected_out, "map_collect_npy {shape:?} {fortran} {kind} {chunk}");
    let raw = dir.path().join("out.bin");
    chunked::Zip::from(&a).chunk_bytes(chunk).map_collect_raw(&raw, |&a| a as f32).unwrap();
    let file_fortran = fortran && shape.len() > 1;
    // SAFETY: as above.
    let out = unsafe {
        ArrayD::<f32>::map_file_with(
            &raw,
            &MapOptions::new().shape(IxDyn(&shape).set_f(file_fortran)),
        )
    }
    .unwrap();
    assert_eq!(*out, a_values.mapv(|a| a as f32), "map_collect_raw {shape:?} {fortran} {chunk}");

    #[cfg(feature = "rayon")]
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let got = pool
            .install(|| {
                chunked::Zip::from(&a).and(b.view()).chunk_bytes(chunk).par_fold(
                    || (0.0, 0),
                    |(s, n), &a, &b| (s + a * b, n + 1),
                    |x, y| (x.0 + y.0, x.1 + y.1),
                )
            })
            .unwrap();
        assert_eq!(got, expected, "par_fold {shape:?} {fortran} {kind} {chunk} {threads}");
    }
    true
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn folds_and_indices_equal_ndarray_for_random_shapes_and_orders() {
    quickcheck::QuickCheck::new()
        .tests(60)
        .quickcheck(folds_and_indices_equal_ndarray as fn(Vec<u8>, bool, u8, u8) -> bool);
}

/// `indexed` on a fixed-rank mapped output gives ndarray's index patterns (tuples).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn indexed_writes_a_mapped_output_with_tuple_indices() -> TestResult {
    let dir = tempfile::tempdir()?;
    for fortran in [false, true] {
        let path = dir.path().join(format!("c{fortran}.bin"));
        // SAFETY: no other process touches files in this test's temporary folder.
        let mut c = unsafe { Array3::<f64>::create_file(&path, (9, 4, 5).set_f(fortran))? };
        for chunk in [8, 100, 1 << 20] {
            chunked::Zip::indexed(&mut c)
                .chunk_bytes(chunk)
                .for_each(|(i, j, k), c| *c = (100 * i + 10 * j + k) as f64)?;
            let expected =
                Array3::from_shape_fn((9, 4, 5), |(i, j, k)| (100 * i + 10 * j + k) as f64);
            assert_eq!(*c, expected, "fortran {fortran} chunk {chunk}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reductions along an axis, against ndarray's own (`sum_axis`, `mean_axis`, `var_axis`,
// `std_axis`) and a naive NaN-propagating minimum and maximum.

/// Whether `got` equals `expected` within a relative tolerance, NaN matching NaN.
fn close<D: Dimension>(got: &ArrayRef<f64, D>, expected: &ArrayRef<f64, D>) -> bool {
    got.shape() == expected.shape()
        && got.iter().zip(expected).all(|(&g, &e)| {
            (g.is_nan() && e.is_nan()) || g == e || (g - e).abs() <= 1e-9 * e.abs().max(1.0)
        })
}

/// NumPy's `min`/`max` along an axis, lane by lane: NaN wins.
fn naive_extreme(x: &ArrayD<f64>, axis: Axis, max: bool) -> ArrayD<f64> {
    x.map_axis(axis, |lane| {
        lane.iter()
            .copied()
            .reduce(|m, v| {
                if m.is_nan() || v.is_nan() {
                    f64::NAN
                } else if max {
                    m.max(v)
                } else {
                    m.min(v)
                }
            })
            .expect("non-empty lane")
    })
}

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

/// Peak resident set growth in KiB while `job` runs (resets the peak first).
fn peak_growth_kib(job: impl FnOnce()) -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident set");
    let before = status_kib("VmRSS:");
    job();
    status_kib("VmHWM:").saturating_sub(before)
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
    const BOUND_KIB: u64 = 8 << 10; // a few 1 MiB chunks, with room
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
    let out = std::process::Command::new(std::env::current_exe()?)
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .output()?;
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
    assert!(unbounded > 4 * BOUND_KIB, "without release: grew by only {unbounded} KiB");
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

// ---------------------------------------------------------------------------------------
// Reductions into a given output (`_into`, NumPy's `out=`): into a mapped `.npy` and into a
// plain array, against ndarray's own reductions.

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
    assert_eq!(right, Array1::zeros(3));
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
    // 6.6 MiB; with the cut forced along axis 0 (the whole output resident, and one 16 MiB
    // row per chunk) 49 MiB.
    const BOUND_KIB: u64 = 10 << 10;
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
    let out = std::process::Command::new(std::env::current_exe()?)
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let number = |key: &str| -> u64 {
        let pattern = format!("{key} ");
        let at = stdout.find(&pattern).unwrap_or_else(|| panic!("no {key} in {stdout}"));
        let rest = &stdout[at + pattern.len()..];
        rest.split_whitespace().next().and_then(|n| n.parse().ok()).expect("a number")
    };
    assert!(stdout.contains("into ok true"), "{stdout}");
    let (mapped, owned) = (number("mapped_kib"), number("owned_kib"));
    eprintln!(
        "(4, 2 Mi) f64 summed along axis 0: resident set growth into a mapped .npy {mapped} KiB, \
         into an owned array {owned} KiB"
    );
    assert!(mapped < BOUND_KIB, "into a mapped output: grew by {mapped} KiB (bound {BOUND_KIB})");
    assert!(owned >= 16 << 10, "owned result: grew by only {owned} KiB, less than the result");
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
    let page = common::pages::page_size();
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
