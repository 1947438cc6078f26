//! Results too large to make are errors, never panics or aborts: empty arrays whose other
//! axes are huge (ndarray counts only the lengths that are not zero), lengths that add up
//! past `usize`, counts larger than memory; a filter cancelled half-way reports nothing
//! done, as it makes no file.

use ndmmap::Error;
use ndmmap::chunked::{CancelToken, Piece};

use super::*;

/// Whether `result` is `Error::Overflow`.
fn overflows<T: std::fmt::Debug>(result: &Result<T, Error>) -> bool {
    matches!(result, Err(Error::Overflow { .. }))
}

#[test]
fn results_too_large_to_make_are_overflow_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    // The most elements an empty array may have along one axis, on any target.
    let huge = isize::MAX as usize;
    // A window longer than memory can hold, of an empty batch.
    let tokens = Array1::<u8>::zeros(10);
    let windows = chunked::Zip::from(&tokens).select_windows(&[], usize::MAX);
    assert!(matches!(windows, Err(Error::Overflow { .. })), "{windows:?}");
    // Products whose result would have huge axes.
    let tall = Array2::<f64>::zeros((huge, 0));
    let wide = Array2::<f64>::zeros((0, huge));
    assert!(overflows(&chunked::Zip::from(&tall).dot(&wide).map(|_| ())));
    assert!(overflows(&chunked::Zip::from(&wide).t_dot(&wide).map(|_| ())));
    // Lengths along the joining axis that add up past usize, and an empty result of huge
    // other axes.
    let long = Array2::<u8>::zeros((0, huge));
    let out = dir.path().join("out.npy");
    let pieces = [&long, &long, &long, &long].map(Piece::from);
    assert!(overflows(&chunked::concatenate(Axis(1), pieces).write_npy(&out)));
    let deep = Array3::<f64>::zeros((0, huge / 2, 2));
    let pieces = [Piece::from(&deep), Piece::from(&deep)];
    assert!(overflows(&chunked::concatenate(Axis(1), pieces).write_raw(&out)));
    // A filter of no rows, each longer than memory.
    let rows = Array2::<u64>::zeros((0, huge));
    assert!(overflows(&chunked::Zip::from(&rows).filter_raw(&out, &[])));
    assert_eq!(common::names_in(dir.path()), Vec::<String>::new(), "a file was left");
    Ok(())
}

#[test]
fn a_bincount_longer_than_memory_is_refused() {
    let values = array![1u8, 2, 3];
    for minlength in [usize::MAX, isize::MAX as usize / 4] {
        let counts = chunked::Zip::from(&values).bincount(minlength);
        assert!(matches!(counts, Err(Error::InvalidOption { .. })), "{minlength}: {counts:?}");
    }
    assert_eq!(chunked::Zip::from(&values).bincount(6).map(|c| c.len()).ok(), Some(6));
}

#[test]
fn elements_of_no_bytes_concatenate_into_a_file_of_only_a_header() -> TestResult {
    let dir = tempfile::tempdir()?;
    let a = Array2::<()>::default((2, 3));
    let out = dir.path().join("unit.bin");
    chunked::concatenate(Axis(1), [Piece::from(&a), Piece::from(&a)]).write_raw(&out)?;
    assert_eq!(std::fs::metadata(&out)?.len(), 0);
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_filter_cancelled_after_its_first_chunk_reports_nothing_done() -> TestResult {
    let dir = tempfile::tempdir()?;
    let x = Array2::from_shape_fn((4000, 4), |(i, j)| (i * 4 + j) as f64);
    let token = CancelToken::new();
    let stop = token.clone();
    let mask = vec![true; 4000];
    let out = dir.path().join("kept.npy");
    let filtered = chunked::Zip::from(&x)
        .chunk_bytes(4096)
        .cancel_on(&token)
        .progress(move |done, _| {
            if done > 0 {
                stop.cancel();
            }
        })
        .filter_npy(&out, &mask);
    assert!(matches!(filtered, Err(Error::Cancelled { done: 0, .. })), "{filtered:?}");
    assert!(!out.exists());
    Ok(())
}
