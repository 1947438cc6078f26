//! Mixed layouts over several chunks: C- and Fortran-order `.npy` files and strided guards
//! walked together, and reductions of a Fortran-order file.

use super::*;

// Mixed layouts over several chunks. An operand that crosses the cut makes every chunk at
// least 64 KiB of its runs thick (8192 rows where its runs along the cut are one `f64`), so
// the walks of `walks`, of at most a few thousand rows, are each one chunk. The arrays here are
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
        (Ix2(40_000, 3), 1, 40_000usize.div_ceil(common::page_size() / 8)),
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
