//! Filters into new files (`filter_npy`, `filter_raw`, `filter_rows_npy`,
//! `filter_rows_raw`) against ndarray's selection of the kept rows, over random shapes,
//! memory orders, masks and chunk sizes; against NumPy's `np.save(path, x[mask])` byte for
//! byte; and their errors and panics leave no file behind.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::*;

#[allow(clippy::needless_pass_by_value)] // quickcheck hands arguments over by value
fn filters_equal_ndarray(dims: Vec<u8>, kind: u8, mask: Vec<bool>, chunk: u8) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let shape = small_shape(&dims);
    let values = input_values(&shape, 1.0);
    let chunk = CHUNKS[usize::from(chunk) % CHUNKS.len()];
    let rows = shape[0];
    let mask: Vec<bool> = (0..rows).map(|k| mask.get(k).copied().unwrap_or(k % 3 == 0)).collect();
    let kept: Vec<usize> = (0..rows).filter(|&k| mask[k]).collect();
    let expected = values.select(Axis(0), &kept);
    let case = format!("shape {shape:?} kind {kind} chunk {chunk} mask {mask:?}");

    // Mapped in C or Fortran order, or plain in another layout.
    let x_path = dir.path().join("x.bin");
    let mapped;
    let plain;
    let view = match kind % 7 {
        5 | 6 => {
            mapped = mapped_input(&x_path, &values, kind % 7 == 6).unwrap();
            mapped.view()
        }
        k => {
            plain = variant(&values, k);
            (plain.view)(&plain.storage)
        }
    };
    let zip = || chunked::Zip::from(view.view()).chunk_bytes(chunk);

    let npy = dir.path().join("mask.npy");
    assert_eq!(zip().filter_npy(&npy, &mask).unwrap(), kept.len(), "{case}");
    // SAFETY: no other process touches files in this test's temporary folder.
    let got = unsafe { ArrayD::<f64>::map_npy(&npy) }.unwrap();
    assert_eq!(*got, expected, "filter_npy {case}");
    assert!(!ndmmap::npy::inspect(&npy).unwrap().fortran_order, "{case}");

    let raw = dir.path().join("mask.bin");
    assert_eq!(zip().filter_raw(&raw, &mask).unwrap(), kept.len(), "{case}");
    assert_eq!(std::fs::read(&raw).unwrap(), file_bytes(&expected, false), "filter_raw {case}");

    // The predicate sees the rows in order: it keeps those the mask keeps, checking each.
    let by_rows = |path: &Path, npy: bool| {
        let mut next = 0;
        let keep = |row: ArrayViewD<'_, f64>| {
            assert_eq!(row, values.index_axis(Axis(0), next), "{case} row {next}");
            next += 1;
            mask[next - 1]
        };
        let kept = if npy {
            zip().filter_rows_npy(path, keep).unwrap()
        } else {
            zip().filter_rows_raw(path, keep).unwrap()
        };
        assert_eq!(next, rows, "{case}");
        kept
    };
    let npy_rows = dir.path().join("rows.npy");
    assert_eq!(by_rows(&npy_rows, true), kept.len(), "{case}");
    assert_eq!(std::fs::read(&npy_rows).unwrap(), std::fs::read(&npy).unwrap(), "{case}");
    let raw_rows = dir.path().join("rows.bin");
    assert_eq!(by_rows(&raw_rows, false), kept.len(), "{case}");
    assert_eq!(std::fs::read(&raw_rows).unwrap(), std::fs::read(&raw).unwrap(), "{case}");
    true
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn filters_equal_ndarray_for_random_shapes_orders_masks_and_chunks() {
    quickcheck::QuickCheck::new()
        .tests(150)
        .quickcheck(filters_equal_ndarray as fn(Vec<u8>, u8, Vec<bool>, u8) -> bool);
}

/// The `.npy` files equal NumPy's `np.save(path, x[mask])` byte for byte, for a mask and
/// for the same rows chosen by a predicate (whose header is written again at the end),
/// over several chunks, for 1 to 3 axes, keeping none, some and all rows.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn filter_npy_equals_numpy_boolean_indexing_byte_for_byte() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cases: [(&[usize], u8); 5] =
        [(&[5000], 0), (&[3000, 7], 1), (&[400, 3, 5], 2), (&[2000, 4], 3), (&[2000, 4], 4)];
    let mut script = String::from("import numpy as np\n");
    for (n, (shape, rule)) in cases.into_iter().enumerate() {
        let rows = shape[0];
        let x = ArrayD::from_shape_fn(IxDyn(shape), |ix| {
            ix.slice().iter().fold(0i32, |acc, &i| {
                acc.wrapping_mul(31).wrapping_add(i32::try_from(i).unwrap() * 7 - 3)
            })
        });
        let x_path = dir.path().join(format!("x{n}.npy"));
        x.save_npy(&x_path)?;
        let mask: Vec<bool> = (0..rows)
            .map(|k| match rule {
                0 => k.wrapping_mul(2_654_435_761) % 7 < 3,
                1 => k % 2 == 0,
                2 => (k / 50) % 2 == 1,
                3 => false,
                _ => true,
            })
            .collect();
        let bytes: Vec<u8> = mask.iter().map(|&m| u8::from(m)).collect();
        std::fs::write(dir.path().join(format!("m{n}.bin")), bytes)?;
        // SAFETY: no other process touches files in this test's temporary folder.
        let mapped = unsafe { ArrayD::<i32>::map_npy(&x_path)? };
        chunked::Zip::from(&mapped)
            .chunk_bytes(4096)
            .filter_npy(dir.path().join(format!("ours{n}.npy")), &mask)?;
        let mut k = 0;
        chunked::Zip::from(&mapped).chunk_bytes(4096).filter_rows_npy(
            dir.path().join(format!("rows{n}.npy")),
            |_| {
                k += 1;
                mask[k - 1]
            },
        )?;
        writeln!(
            script,
            "x = np.load('x{n}.npy'); m = np.fromfile('m{n}.bin', dtype=np.uint8).astype(bool)\n\
             np.save('numpy{n}.npy', x[m])"
        )?;
    }
    let Some(_) = common::run_code(dir.path(), &script) else { return Ok(()) };
    for n in 0..cases.len() {
        let numpy = std::fs::read(dir.path().join(format!("numpy{n}.npy")))?;
        assert_eq!(std::fs::read(dir.path().join(format!("ours{n}.npy")))?, numpy, "case {n}");
        assert_eq!(std::fs::read(dir.path().join(format!("rows{n}.npy")))?, numpy, "case {n}");
    }
    Ok(())
}

/// A mask of the wrong length, an existing file, a zero-dimensional input and a panicking
/// predicate: typed errors (or the panic), no file at the path and no temporary file beside
/// it, an existing file untouched.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn filter_errors_and_panics_leave_nothing_behind() -> TestResult {
    let dir = tempfile::tempdir()?;
    let values = input_values(&[3000, 2], 1.0);
    let x = mapped_input(&dir.path().join("x.bin"), &values, false)?;
    let existing = dir.path().join("existing.npy");
    std::fs::write(&existing, b"keep me")?;
    let before = common::names_in(dir.path());
    let out = dir.path().join("out.npy");

    let err = chunked::Zip::from(&x).filter_npy(&out, &[true; 2999]).unwrap_err();
    assert!(matches!(err, ndmmap::Error::MaskLengthMismatch { mask: 2999, len: 3000 }), "{err}");
    assert_eq!(
        err.to_string(),
        "the boolean mask has 2999 elements but axis 0 has 3000: they must match"
    );
    let err = chunked::Zip::from(&x).filter_raw(&out, &[]).unwrap_err();
    assert!(matches!(err, ndmmap::Error::MaskLengthMismatch { mask: 0, len: 3000 }));
    let err = chunked::Zip::from(&x).filter_npy(&existing, &[true; 3000]).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AlreadyExists { .. }), "{err}");
    let err = chunked::Zip::from(&x).filter_rows_raw(&existing, |_| true).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AlreadyExists { .. }), "{err}");
    let scalar = ArrayD::<f64>::zeros(IxDyn(&[]));
    let err = chunked::Zip::from(&scalar).filter_rows_npy(&out, |_| true).unwrap_err();
    assert!(matches!(err, ndmmap::Error::AxisOutOfRange { axis: 0, ndim: 0 }));

    for npy in [true, false] {
        let mut seen = 0;
        let keep = |_: ArrayViewD<'_, f64>| {
            seen += 1;
            assert!(seen < 2500, "a predicate that fails part way");
            true
        };
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            let zip = chunked::Zip::from(&x).chunk_bytes(4096);
            if npy { zip.filter_rows_npy(&out, keep) } else { zip.filter_rows_raw(&out, keep) }
        }));
        assert!(panicked.is_err());
    }
    assert_eq!(common::names_in(dir.path()), before);
    assert_eq!(std::fs::read(&existing)?, b"keep me");
    Ok(())
}

/// Rows of 2 MiB, longer than the chunk: in C order each run of kept rows is written
/// straight from the map, in Fortran order each row is gathered a megabyte at a time, and
/// the files equal ndarray's selection. The heap does not grow by a row (the resident set
/// of anonymous memory, read as the predicate sees each row, in a child process so that
/// other tests' memory does not count).
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn rows_longer_than_a_chunk_are_written_without_buffering_a_row() -> TestResult {
    const CHILD: &str = "NDMMAP_TEST_FILTER_LONG_ROWS_DIR";
    const NAME: &str = "rows_longer_than_a_chunk_are_written_without_buffering_a_row";
    const ROW: usize = 1 << 18; // f64: 2 MiB
    let anon_kib = || {
        let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
        let line = status.lines().find(|l| l.starts_with("RssAnon:")).expect("RssAnon");
        line["RssAnon:".len()..].trim().trim_end_matches("kB").trim().parse::<u64>().expect("kB")
    };
    if let Ok(dir) = std::env::var(CHILD) {
        let dir = Path::new(&dir);
        let values = input_values(&[9, 2, ROW / 2], 1.0);
        let mask = [true, true, false, true, false, false, true, true, true];
        let kept: Vec<usize> = (0..9).filter(|&k| mask[k]).collect();
        let expected = values.select(Axis(0), &kept);
        for fortran in [false, true] {
            let x = mapped_input(&dir.join(format!("x{fortran}.bin")), &values, fortran)?;
            // The same filter twice, measured the second time, so that the code it runs is
            // in memory before the measure (under an emulator, its translated code counts
            // in the heap).
            let (mut grown, mut n) = (0, 0);
            for pass in 0..2 {
                let out = dir.join(format!("out{fortran}{pass}.npy"));
                let before = anon_kib();
                let mut row = 0;
                n = chunked::Zip::from(&x).chunk_bytes(1 << 20).filter_rows_npy(&out, |_| {
                    grown = grown.max(anon_kib().saturating_sub(before));
                    row += 1;
                    mask[row - 1]
                })?;
                if pass == 0 {
                    grown = 0;
                    std::fs::remove_file(&out)?;
                }
            }
            let out = dir.join(format!("out{fortran}1.npy"));
            // SAFETY: no other process touches files in this test's temporary folder.
            let got = unsafe { ArrayD::<f64>::map_npy(&out)? };
            println!("fortran {fortran} ok {} heap_kib {grown}", n == 6 && *got == expected);
        }
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let child = ChildReport::run(module_path!(), NAME, CHILD, dir.path())?;
    assert!(
        child.says("fortran false ok true") && child.says("fortran true ok true"),
        "{}",
        child.0
    );
    for fortran in [false, true] {
        let grown = child.number(&format!("fortran {fortran} ok true heap_kib"));
        eprintln!("filter of 2 MiB rows, Fortran order {fortran}: heap growth {grown} KiB");
        // A 2 MiB row held in memory would show; the gathering buffer is 1 MiB.
        assert!(grown < 1536, "Fortran order {fortran}: the heap grew by {grown} KiB");
    }
    Ok(())
}
