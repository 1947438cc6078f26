//! Gathers (`select`, `select_windows` and their `_into` twins) against ndarray's `select`
//! and slices, over random shapes, memory orders (mapped and plain), axes, indices and
//! chunk sizes, into new arrays and into mapped outputs of either order; their errors come
//! before anything is written.

use super::*;

/// Storage that stays alive while a case's input view borrows it: a mapped file or a plain
/// array in one of [`variant`]'s layouts.
enum Input {
    Mapped(MmapArray<f64, IxDyn>),
    Plain(Variant),
}

impl Input {
    fn make(dir: &Path, values: &ArrayD<f64>, kind: u8) -> Result<Self, ndmmap::Error> {
        Ok(match kind % 7 {
            5 => Input::Mapped(mapped_input(&dir.join("x.bin"), values, false)?),
            6 => Input::Mapped(mapped_input(&dir.join("x.bin"), values, true)?),
            k => Input::Plain(variant(values, k)),
        })
    }

    fn view(&self) -> ArrayViewD<'_, f64> {
        match self {
            Input::Mapped(map) => map.view(),
            Input::Plain(v) => (v.view)(&v.storage),
        }
    }

    /// A Zip over the input: through the guard (with its page hooks) when mapped.
    fn zip(&self, chunk: usize) -> chunked::Zip<'_, (ArrayViewD<'_, f64>,), IxDyn> {
        match self {
            Input::Mapped(map) => chunked::Zip::from(map).chunk_bytes(chunk),
            Input::Plain(v) => chunked::Zip::from((v.view)(&v.storage)).chunk_bytes(chunk),
        }
    }
}

/// A new mapped output of `shape` in C or Fortran order, zero-filled.
fn mapped_output(path: &Path, shape: &[usize], fortran: bool) -> MmapArrayMut<f64, IxDyn> {
    let _ = std::fs::remove_file(path);
    // SAFETY: no other process touches files in this test's temporary folder.
    unsafe { ArrayD::<f64>::create_file(path, dyn_shape(shape, fortran)) }.unwrap()
}

#[allow(clippy::needless_pass_by_value)] // quickcheck hands arguments over by value
fn gathers_equal_ndarray(
    dims: Vec<u8>,
    kind: u8,
    axis: u8,
    picks: Vec<u16>,
    chunk: u8,
    out_fortran: bool,
) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let shape = small_shape(&dims);
    let values = input_values(&shape, 1.0);
    let input = Input::make(dir.path(), &values, kind).unwrap();
    let chunk = CHUNKS[usize::from(chunk) % CHUNKS.len()];
    let axis = Axis(usize::from(axis) % shape.len());
    let len = shape[axis.index()];
    let case = format!("shape {shape:?} kind {kind} axis {axis:?} chunk {chunk} picks {picks:?}");
    assert_eq!(input.view(), values, "{case}");

    if len == 0 && !picks.is_empty() {
        let err = input.zip(chunk).select(axis, &[usize::from(picks[0])]).unwrap_err();
        assert!(
            matches!(err, ndmmap::Error::IndexOutOfBounds { len: 0, position: 0, .. }),
            "{err}"
        );
        return true;
    }
    let indices: Vec<usize> = picks.iter().map(|&p| usize::from(p) % len.max(1)).collect();
    let expected = values.select(axis, &indices);
    let got = input.zip(chunk).select(axis, &indices).unwrap();
    assert_eq!(got, expected, "select {case}");
    assert!(got.is_standard_layout(), "{case}");

    let out_path = dir.path().join("out.bin");
    let mut out = mapped_output(&out_path, expected.shape(), out_fortran);
    input.zip(chunk).select_into(axis, &indices, &mut out).unwrap();
    assert_eq!(*out, expected, "select_into {case} fortran {out_fortran}");
    drop(out);
    assert_eq!(std::fs::read(&out_path).unwrap(), file_bytes(&expected, out_fortran), "{case}");

    // Windows along axis 0: every start that fits, a window length from the picks.
    let rows = shape[0];
    let window = picks.first().map_or(0, |&p| usize::from(p) % (rows + 1));
    let starts: Vec<usize> = picks.iter().map(|&p| usize::from(p) % (rows - window + 1)).collect();
    let slabs: Vec<ArrayViewD<'_, f64>> =
        starts.iter().map(|&s| values.slice_axis(Axis(0), (s..s + window).into())).collect();
    let mut windows_shape = vec![starts.len(), window];
    windows_shape.extend(&shape[1..]);
    let expected = if slabs.is_empty() {
        ArrayD::zeros(IxDyn(&windows_shape))
    } else {
        ndarray::stack(Axis(0), &slabs).unwrap()
    };
    let got = input.zip(chunk).select_windows(&starts, window).unwrap();
    assert_eq!(got, expected, "select_windows {case} window {window} starts {starts:?}");
    let mut out = mapped_output(&out_path, &windows_shape, out_fortran);
    input.zip(chunk).select_windows_into(&starts, window, &mut out).unwrap();
    assert_eq!(*out, expected, "select_windows_into {case} window {window}");
    true
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn gathers_equal_ndarray_for_random_shapes_orders_and_chunks() {
    quickcheck::QuickCheck::new()
        .tests(150)
        .quickcheck(gathers_equal_ndarray as fn(Vec<u8>, u8, u8, Vec<u16>, u8, bool) -> bool);
}

/// Windows of a `u16` token file, the token loader's job, over several chunks: each row
/// of the batch is the file's tokens from its start on, and progress reaches the total.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn token_windows_from_a_mapped_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tokens.bin");
    let tokens: Vec<u16> =
        (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 16) as u16).collect();
    std::fs::write(&path, bytemuck::cast_slice(&tokens))?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let data = unsafe { Array1::<u16>::map_file(&path)? };
    let starts: Vec<usize> = (0..64).map(|k| (k * 4_649) % (tokens.len() - 1024)).collect();
    let mut reports = Vec::new();
    let batch = chunked::Zip::from(&data)
        .chunk_bytes(8 << 10)
        .progress(|done, total| reports.push((done, total)))
        .select_windows(&starts, 1024)?;
    assert_eq!(batch.shape(), [64, 1024]);
    for (row, &s) in batch.rows().into_iter().zip(&starts) {
        assert_eq!(row.as_slice(), Some(&tokens[s..s + 1024]));
    }
    assert!(reports.len() > 1, "{reports:?}");
    // Progress counts the bytes of the batch (u16 tokens).
    assert_eq!(reports.last(), Some(&(2 * 64 * 1024, 2 * 64 * 1024)));
    Ok(())
}

/// A gather copies what the map shows, whichever way it reads: a writable map's changes
/// not yet flushed, a copy-on-write map's private changes (which its file does not hold),
/// and a `.npy` file's data after its header; and after a cached gather of a shared map
/// no page of the map is resident (the rows are read from the file, not faulted in).
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn gathers_read_what_the_map_shows() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("x.npy");
    let values = Array2::from_shape_fn((4096, 16), |(i, j)| (i * 16 + j) as f64);
    values.save_npy(&path)?;
    let rows = [4095, 0, 17, 17, 2048];
    let starts = [0, 4000, 123];
    let expect_windows = |x: &ArrayView2<'_, f64>| -> Array3<f64> {
        let views: Vec<_> = starts.iter().map(|&s| x.slice(s![s..s + 96, ..])).collect();
        ndarray::stack(Axis(0), &views).unwrap()
    };

    // SAFETY: no other process touches files in this test's temporary folder.
    let mut writable = unsafe { Array2::<f64>::map_npy_mut(&path)? };
    writable.row_mut(17).fill(-1.0);
    writable[[4010, 3]] = -2.0;
    let got = chunked::Zip::from(&writable).select(Axis(0), &rows)?;
    assert_eq!(got, writable.select(Axis(0), &rows));
    assert_eq!(got[[2, 5]], -1.0);
    let got = chunked::Zip::from(&writable).chunk_bytes(4096).select_windows(&starts, 96)?;
    assert_eq!(got, expect_windows(&writable.view()));
    assert_eq!(got[[1, 10, 3]], -2.0);
    writable.flush()?;
    drop(writable);

    // SAFETY: as above.
    let mut private = unsafe { Array2::<f64>::map_npy_copy(&path)? };
    private.row_mut(2048).fill(7.0);
    let got = chunked::Zip::from(&private).select(Axis(0), &rows)?;
    assert_eq!(got.row(4), Array1::from_elem(16, 7.0));
    assert_eq!(got, private.select(Axis(0), &rows));
    drop(private);
    let on_disk: Array2<f64> = ndmmap::npy::read_npy(&path)?;
    assert_eq!(on_disk.row(2048), values.row(2048), "the private change stays in memory");

    // SAFETY: as above.
    let shared = unsafe { Array2::<f64>::map_npy(&path)? };
    let got = chunked::Zip::from(&shared).select_windows(&starts, 96)?;
    #[cfg(target_os = "linux")]
    {
        let start = shared.as_ptr() as usize;
        let resident = common::pages::resident_pages(start..start + shared.len() * 8);
        let count = resident.iter().filter(|&&r| r).count();
        assert_eq!(count, 0, "a gather from a shared map faulted {count} pages in");
    }
    assert_eq!(got, expect_windows(&shared.view()));
    Ok(())
}

/// Bad indices, windows, axes and output shapes are typed errors naming the numbers, and
/// nothing is written to the output.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn gather_errors_come_before_anything_is_written() -> TestResult {
    let dir = tempfile::tempdir()?;
    let values = input_values(&[10, 3], 1.0);
    let x = mapped_input(&dir.path().join("x.bin"), &values, false)?;
    let out_path = dir.path().join("out.bin");
    let mut out = mapped_output(&out_path, &[3, 3], false);

    let err = chunked::Zip::from(&x).select_into(Axis(0), &[1, 2, 10], &mut out).unwrap_err();
    assert!(
        matches!(err, ndmmap::Error::IndexOutOfBounds { index: 10, position: 2, axis: 0, len: 10 }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "index 10 (at position 2 of the indices) is out of bounds for axis 0 with size 10"
    );
    let err = chunked::Zip::from(&x).select_into(Axis(1), &[0, 3, 1], &mut out).unwrap_err();
    assert!(matches!(
        err,
        ndmmap::Error::IndexOutOfBounds { index: 3, position: 1, axis: 1, len: 3 }
    ));
    let err = chunked::Zip::from(&x).select(Axis(2), &[0]).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AxisOutOfRange { axis: 2, ndim: 2 }));
    let err = chunked::Zip::from(&x).select_into(Axis(0), &[1, 2], &mut out).unwrap_err();
    assert!(
        matches!(&err, ndmmap::Error::SelectionShapeMismatch { expected, actual }
            if expected == &[2, 3] && actual == &[3, 3]),
        "{err}"
    );

    let mut windows = mapped_output(&dir.path().join("w.bin"), &[2, 4, 3], false);
    let err = chunked::Zip::from(&x).select_windows_into(&[6, 7], 4, &mut windows).unwrap_err();
    assert!(
        matches!(
            err,
            ndmmap::Error::WindowOutOfBounds { start: 7, window: 4, position: 1, len: 10 }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("window 7..11"), "{err}");
    let err = chunked::Zip::from(&x).select_windows(&[usize::MAX], 2).unwrap_err();
    assert!(matches!(err, ndmmap::Error::WindowOutOfBounds { start: usize::MAX, .. }));
    let scalar = ArrayD::<f64>::zeros(IxDyn(&[]));
    let err = chunked::Zip::from(&scalar).select_windows(&[0], 1).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AxisOutOfRange { axis: 0, ndim: 0 }));

    assert!(out.iter().all(|&v| v == 0.0) && windows.iter().all(|&v| v == 0.0));
    drop((out, windows));
    assert!(std::fs::read(&out_path)?.iter().all(|&b| b == 0));
    Ok(())
}
