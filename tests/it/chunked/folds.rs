//! Element-wise folds and indices against ndarray over random shapes, memory orders, chunk
//! sizes and thread counts.

use super::*;

/// `fold`, `par_fold`, `indexed`, `for_each` and `map_collect_*` (and its `par_` twins)
/// through the engine, with one mapped operand
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
        // The parallel collect writes the serial one's file, byte for byte.
        let (par_npy, par_raw) = (dir.path().join("par.npy"), dir.path().join("par.bin"));
        pool.install(|| {
            chunked::Zip::from(&a)
                .and(b.view())
                .chunk_bytes(chunk)
                .par_map_collect_npy(&par_npy, |&a, &b| a * b - 1.0)
        })
        .unwrap();
        pool.install(|| {
            chunked::Zip::from(&a).chunk_bytes(chunk).par_map_collect_raw(&par_raw, |&a| a as f32)
        })
        .unwrap();
        let what = format!("par_map_collect {shape:?} {fortran} {kind} {chunk} {threads}");
        assert_eq!(std::fs::read(&par_npy).unwrap(), std::fs::read(&npy).unwrap(), "{what}");
        assert_eq!(std::fs::read(&par_raw).unwrap(), std::fs::read(&raw).unwrap(), "{what}");
        std::fs::remove_file(&par_npy).unwrap();
        std::fs::remove_file(&par_raw).unwrap();
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
