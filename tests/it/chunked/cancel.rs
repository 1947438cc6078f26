//! Cancelling the engine's walks (`cancel_on` with a `CancelToken`): from the progress
//! callback, from another thread and from the parallel workers, serial and parallel; the
//! error says which entries of the outputs written in place are done, and those are on
//! disk; a cancelled `map_collect_*` leaves no file; progress counts bytes.

use std::sync::mpsc;

use ndmmap::Error;
use ndmmap::chunked::CancelToken;

use super::*;

/// The expected output of the walks below: `2 x + 1`.
fn doubled(x: &Array2<f64>) -> Array2<f64> {
    x.mapv(|x| 2.0 * x + 1.0)
}

/// A `(rows, cols)` input whose every entry is distinct and not zero.
fn input(rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| (i * cols + j + 1) as f64)
}

/// Checks that `out` (the file's contents) holds the walk's results in its first `done`
/// entries along `axis`, zeros from entry `done + 1` on (entry `done` may be partly
/// written), and that `done` is `expected`.
fn check_done(
    out: &Array2<f64>,
    x: &Array2<f64>,
    err: &Error,
    (axis, expected): (usize, usize),
) -> TestResult {
    let Error::Cancelled { axis: got_axis, done, len } = *err else {
        return Err(format!("not a cancellation: {err}").into());
    };
    assert_eq!((got_axis, done, len), (axis, expected, x.len_of(Axis(axis))), "{err}");
    let want = doubled(x);
    assert_eq!(
        out.slice_axis(Axis(axis), (..done).into()),
        want.slice_axis(Axis(axis), (..done).into())
    );
    assert!(out.slice_axis(Axis(axis), (done + 1..).into()).iter().all(|&v| v == 0.0));
    Ok(())
}

/// `2 x + 1` into a new `.npy` of `x`'s shape and order, through `run`, with the token
/// cancelled from the progress callback once `after` bytes are done; returns the error
/// and the file's contents, read back after the guard is gone.
fn cancelled_walk(
    x: &Array2<f64>,
    fortran: bool,
    chunk: usize,
    after: u64,
    run: impl FnOnce(
        chunked::Zip<'_, (ArrayViewMut2<'_, f64>, ArrayView2<'_, f64>), Ix2>,
    ) -> Result<(), Error>,
) -> Result<(Error, Array2<f64>), Error> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("out.npy");
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut out = unsafe { Array2::<f64>::create_npy(&path, x.raw_dim().set_f(fortran))? };
    let token = CancelToken::new();
    let stop = token.clone();
    let zip = chunked::Zip::from(&mut out).and(x).chunk_bytes(chunk).cancel_on(&token).progress(
        move |done, _| {
            if done >= after {
                stop.cancel();
            }
        },
    );
    let err = run(zip).expect_err("the walk was cancelled");
    drop(out);
    Ok((err, ndmmap::npy::read_npy::<f64, Ix2>(&path)?))
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_walk_cancelled_from_its_progress_callback_stops_after_that_chunk() -> TestResult {
    // (50, 10) f64 in C order, 800-byte chunks: 10 rows of the widest operand per chunk,
    // each chunk 1600 bytes of the two operands; cancelled once 3 chunks are done.
    let x = input(50, 10);
    let (err, out) =
        cancelled_walk(&x, false, 800, 3 * 1600, |zip| zip.for_each(|o, &x| *o = 2.0 * x + 1.0))?;
    check_done(&out, &x, &err, (0, 30))?;
    // The same in Fortran order: slabs are columns of 10 entries, 10 columns per chunk.
    let mut x = Array2::zeros((10, 60).f());
    x.assign(&input(10, 60));
    let (err, out) =
        cancelled_walk(&x, true, 800, 3 * 1600, |zip| zip.for_each(|o, &x| *o = 2.0 * x + 1.0))?;
    check_done(&out, &x, &err, (1, 30))?;
    // Chunks that end inside a row (7 entries per row, 10 per chunk): the first 4 rows are
    // done after 3 chunks, the fifth in part.
    let x = input(30, 7);
    let (err, out) = cancelled_walk(&x, false, 80, 3 * 160, |zip| {
        zip.try_for_each(|o, &x| {
            *o = 2.0 * x + 1.0;
            Ok::<(), Error>(())
        })
    })?;
    check_done(&out, &x, &err, (0, 4))?;
    assert_eq!(out.row(4).iter().filter(|&&v| v != 0.0).count(), 2);
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_walk_not_laid_out_in_one_piece_stops_at_a_slab() -> TestResult {
    // Every other column of a wider array: not contiguous, so walked in whole rows.
    let wide = input(40, 20);
    let x = wide.slice(s![.., ..;2]).to_owned();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("out.npy");
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut out = unsafe { Array2::<f64>::create_npy(&path, (40, 10))? };
    let token = CancelToken::new();
    let stop = token.clone();
    let err = chunked::Zip::from(&mut out)
        .and(wide.slice(s![.., ..;2]))
        .chunk_bytes(800) // 10 rows of 10 f64
        .cancel_on(&token)
        .progress(move |done, _| {
            if done == 2 * 1600 {
                stop.cancel();
            }
        })
        .for_each(|o, &x| *o = 2.0 * x + 1.0)
        .unwrap_err();
    drop(out);
    check_done(&ndmmap::npy::read_npy(&path)?, &x, &err, (0, 20))
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_walk_cancelled_from_another_thread_stops_within_a_chunk() -> TestResult {
    // The progress callback hands over to a thread that cancels, and waits until it has:
    // the cancellation lands between two chunks with no timing involved.
    let x = input(50, 10);
    let (to_canceller, go) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let token = CancelToken::new();
    let remote = token.clone();
    let canceller = std::thread::spawn(move || {
        if go.recv().is_ok() {
            remote.cancel();
            let _ = done_tx.send(());
        }
    });
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("out.npy");
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut out = unsafe { Array2::<f64>::create_npy(&path, (50, 10))? };
    let mut chunks = 0;
    let err = chunked::Zip::from(&mut out)
        .and(&x)
        .chunk_bytes(800)
        .cancel_on(&token)
        .progress(move |_, _| {
            chunks += 1;
            if chunks == 2 {
                to_canceller.send(()).expect("canceller alive");
                done_rx.recv().expect("canceller cancelled");
            }
        })
        .for_each(|o, &x| *o = 2.0 * x + 1.0)
        .unwrap_err();
    canceller.join().expect("canceller");
    drop(out);
    check_done(&ndmmap::npy::read_npy(&path)?, &x, &err, (0, 20))
}

#[cfg(feature = "rayon")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_parallel_walk_cancelled_by_its_workers_or_its_callback_stops_after_that_chunk() -> TestResult {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build()?;
    let x = input(60, 10);
    // A worker cancels as it meets row 25 (251 in its first entry; in the third chunk of 10
    // rows): the walk stops
    // once that chunk is done.
    let (err, out) = pool.install(|| {
        cancelled_walk(&x, false, 800, u64::MAX, |zip| {
            // The token given to the walk is the callback's: take a second one here.
            let token = CancelToken::new();
            let zip = zip.cancel_on(&token);
            zip.par_for_each(|o, &x| {
                if x == 251.0 {
                    token.cancel();
                }
                *o = 2.0 * x + 1.0;
            })
        })
    })?;
    check_done(&out, &x, &err, (0, 30))?;
    // From the callback, which runs on the walk's thread.
    let (err, out) = pool.install(|| {
        cancelled_walk(&x, false, 800, 1600, |zip| zip.par_for_each(|o, &x| *o = 2.0 * x + 1.0))
    })?;
    check_done(&out, &x, &err, (0, 10))?;
    // A parallel fold returns no result.
    let token = CancelToken::new();
    token.cancel();
    let err = chunked::Zip::from(&x)
        .cancel_on(&token)
        .par_fold(|| 0.0, |acc, &x| acc + x, |a, b| a + b)
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { axis: 0, done: 0, len: 60 }), "{err}");
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_token_cancelled_before_the_walk_leaves_the_outputs_untouched() -> TestResult {
    let token = CancelToken::new();
    token.cancel();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("out.bin");
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut out = unsafe { Array1::<f64>::create_file(&path, 100)? };
    let err = chunked::Zip::from(&mut out).cancel_on(&token).for_each(|o| *o = 1.0).unwrap_err();
    assert!(matches!(err, Error::Cancelled { axis: 0, done: 0, len: 100 }), "{err}");
    assert_eq!(out.sum(), 0.0);
    let mut zero = arr0(0.0);
    let err = chunked::Zip::from(&mut zero).cancel_on(&token).for_each(|o| *o = 1.0).unwrap_err();
    assert!(matches!(err, Error::Cancelled { axis: 0, done: 0, len: 1 }), "{err}");
    assert_eq!(zero[()], 0.0);
    // A walk whose last chunk is done before the token is cancelled returns its result.
    let late = CancelToken::new();
    let stop = late.clone();
    let sum = chunked::Zip::from(&out)
        .cancel_on(&late)
        .progress(move |done, total| {
            if done == total {
                stop.cancel();
            }
        })
        .fold(0.0, |acc, &x| acc + x)?;
    assert_eq!(sum, 0.0);
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_cancelled_map_collect_leaves_no_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let x = input(100, 10);
    for (name, npy) in [("out.npy", true), ("out.bin", false)] {
        let path = dir.path().join(name);
        let token = CancelToken::new();
        let stop = token.clone();
        let zip =
            chunked::Zip::from(&x).chunk_bytes(800).cancel_on(&token).progress(move |done, _| {
                if done == 800 {
                    stop.cancel();
                }
            });
        let err = if npy {
            zip.map_collect_npy(&path, |&x| 2.0 * x)
        } else {
            zip.map_collect_raw(&path, |&x| 2.0 * x)
        }
        .unwrap_err();
        assert!(matches!(err, Error::Cancelled { axis: 0, done: 0, len: 100 }), "{name}: {err}");
        assert!(!path.exists(), "{name}");
    }
    // Nothing else either: no temporary file beside the paths.
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
    Ok(())
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_cancelled_reduction_into_an_output_says_which_part_of_it_is_done() -> TestResult {
    let dir = tempfile::tempdir()?;
    // Sums of the 4 rows of a (4, 4096) matrix into a mapped output of 4096: the walk
    // fills the output in slabs of columns (1024 f64 = 8 KiB per chunk); cancelled after 2.
    let x = Array2::from_shape_fn((4, 4096), |(i, j)| (i * 4096 + j + 1) as f64);
    let path = dir.path().join("sums.npy");
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut sums = unsafe { Array1::<f64>::create_npy(&path, 4096)? };
    let token = CancelToken::new();
    let stop = token.clone();
    let err = chunked::Zip::from(&x)
        .chunk_bytes(8 << 10)
        .cancel_on(&token)
        .progress(move |done, _| {
            if done == 2 * (8 << 10) {
                stop.cancel();
            }
        })
        .sum_axis_into(Axis(0), &mut sums)
        .unwrap_err();
    drop(sums);
    assert!(matches!(err, Error::Cancelled { axis: 0, done: 512, len: 4096 }), "{err}");
    let sums: Array1<f64> = ndmmap::npy::read_npy(&path)?;
    let want = x.sum_axis(Axis(0));
    assert_eq!(sums.slice(s![..512]), want.slice(s![..512]));
    assert!(sums.slice(s![512..]).iter().all(|&v| v == 0.0));

    // The column sums of a tall (4096, 4) matrix: each chunk adds to all 4 sums, so none is
    // done until the last chunk.
    let x = x.t().as_standard_layout().to_owned();
    let mut sums = Array1::<f64>::zeros(4);
    let token = CancelToken::new();
    let stop = token.clone();
    let err = chunked::Zip::from(&x)
        .chunk_bytes(8 << 10)
        .cancel_on(&token)
        .progress(move |_, _| stop.cancel())
        .sum_axis_into(Axis(0), &mut sums)
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { axis: 0, done: 0, len: 4 }), "{err}");
    // A reduction into a new array returns none.
    let token = CancelToken::new();
    token.cancel();
    let err = chunked::Zip::from(&x).cancel_on(&token).mean_axis(Axis(1)).unwrap_err();
    assert!(matches!(err, Error::Cancelled { axis: 0, done: 0, len: 4096 }), "{err}");
    Ok(())
}

#[test]
fn progress_counts_the_bytes_of_every_operand() -> TestResult {
    // An f32 output, an f64 input and a u8 input broadcast from a row: 13 bytes per entry.
    let x = Array2::<f64>::ones((100, 10));
    let row = Array1::<u8>::ones(10);
    let mut out = Array2::<f32>::zeros((100, 10));
    let x32 = x.mapv(|_| 1.0f32);
    let mut seen = Vec::new();
    chunked::Zip::from(&mut out)
        .and(&x)
        .and_broadcast(&row)
        .chunk_bytes(4000) // 500 entries of the widest, f64
        .progress(|done, total| seen.push((done, total)))
        .for_each(|o, &x, &r| *o = if x == 1.0 { 1.0 + f32::from(r) } else { 0.0 })?;
    assert_eq!(out, x32.mapv(|x| x + 1.0));
    assert_eq!(seen, [(500 * 13, 1000 * 13), (1000 * 13, 1000 * 13)]);
    // Indices count nothing.
    let mut seen = Vec::new();
    chunked::Zip::indexed(&x)
        .progress(|done, total| seen.push((done, total)))
        .for_each(|_, _| ())?;
    assert_eq!(seen.last(), Some(&(8000, 8000)));
    Ok(())
}

#[cfg(feature = "progress-bar")]
#[test]
fn a_walk_with_a_progress_bar_gives_the_same_result() -> TestResult {
    let x = input(300, 10);
    let mut out = Array2::<f64>::zeros((300, 10));
    chunked::Zip::from(&mut out).and(&x).chunk_bytes(800).progress_bar().for_each(|o, &x| {
        *o = 2.0 * x + 1.0;
    })?;
    assert_eq!(out, doubled(&x));
    Ok(())
}

/// `Error::Cancelled`, or a message saying what `what` returned instead.
fn is_cancelled<T: std::fmt::Debug>(what: &str, result: Result<T, Error>) -> Result<(), String> {
    match result {
        Err(Error::Cancelled { .. }) => Ok(()),
        other => Err(format!("{what}: {other:?}, not a cancellation")),
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn every_operation_of_the_engine_stops_on_a_cancelled_token() -> TestResult {
    let dir = tempfile::tempdir()?;
    let x_path = dir.path().join("x.npy");
    input(64, 8).save_npy(&x_path)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let x = unsafe { Array2::<f64>::map_npy(&x_path)? };
    let counts = Array1::from_shape_fn(512, |i| (i % 7) as u64);
    let w = Array2::<f64>::eye(8);
    let token = CancelToken::new();
    token.cancel();
    let zip = || chunked::Zip::from(&x).chunk_bytes(512).cancel_on(&token);
    let mut failures = Vec::new();
    let mut check = |what: &str, result: Result<(), String>| {
        if let Err(e) = result {
            failures.push(format!("{what}: {e}"));
        }
    };
    check("select", is_cancelled("select", zip().select(Axis(0), &[3, 1, 60])));
    check("select_windows", is_cancelled("select_windows", zip().select_windows(&[0, 30], 20)));
    check("dot", is_cancelled("dot", zip().dot(&w)));
    let mut product = Array2::<f64>::zeros((64, 8));
    check("dot_into", is_cancelled("dot_into", zip().dot_into(&w, &mut product)));
    check("t_dot", is_cancelled("t_dot", zip().t_dot(&x)));
    check("argmax_axis", is_cancelled("argmax_axis", zip().argmax_axis(Axis(0))));
    check("argmin", is_cancelled("argmin", zip().argmin()));
    check("cumsum", is_cancelled("cumsum", zip().cumsum(Axis(0))));
    check("histogram", is_cancelled("histogram", zip().histogram(10, (0.0, 600.0))));
    check(
        "bincount",
        is_cancelled(
            "bincount",
            chunked::Zip::from(&counts).chunk_bytes(512).cancel_on(&token).bincount(0),
        ),
    );
    check("sum_axis", is_cancelled("sum_axis", zip().sum_axis(Axis(0))));
    // The operations that make a new file leave none.
    let mask: Vec<bool> = (0..64).map(|i| i % 3 == 0).collect();
    let filtered = dir.path().join("filtered.npy");
    check("filter_npy", is_cancelled("filter_npy", zip().filter_npy(&filtered, &mask)));
    check(
        "filter_rows_npy",
        is_cancelled("filter_rows_npy", zip().filter_rows_npy(&filtered, |_| true)),
    );
    let collected = dir.path().join("collected.npy");
    check(
        "map_collect_npy",
        is_cancelled("map_collect_npy", zip().map_collect_npy(&collected, |&v| v + 1.0)),
    );
    let joined = dir.path().join("joined.npy");
    for pieces in [
        [chunked::Piece::npy(&x_path), chunked::Piece::npy(&x_path)],
        [chunked::Piece::from(&x), chunked::Piece::from(x.view())],
    ] {
        check(
            "concatenate",
            is_cancelled(
                "concatenate",
                chunked::concatenate(Axis(1), pieces).cancel_on(&token).write_npy(&joined),
            ),
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        common::names_in(dir.path()),
        vec!["x.npy".to_owned()],
        "a cancelled operation left a file"
    );
    Ok(())
}
