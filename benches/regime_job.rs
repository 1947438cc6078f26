//! One job of the memory-regime harness (`python3 benches/harness.py regimes`), done by
//! ndmmap, timed inside the process. The harness builds it and runs it once per job, regime
//! and round.
//!
//! ```text
//! regime_job CONTENDER JOB INPUT... OUTPUT
//! cargo run --release -p ndmmap-benches --bin regime_job -- engine add a.npy b.npy c.npy
//! ```
//!
//! `CONTENDER` is `engine` (the out-of-core engine, [`ndmmap::chunked::Zip`]) or `plain`
//! (plain ndarray on the same maps: `Zip::par_for_each`, `mean_axis`, `dot`, ...). The jobs,
//! on `.npy` files of `f64` that the harness's NumPy and Dask side reads too:
//!
//! - `add A B C`: `c = a + b` (1-D), `c` created with `create_npy` and flushed. The engine
//!   runs `chunked::Zip::par_for_each`.
//! - `standardize X Z`: `z = (x - mean) / std` per column of a 2-D `x` (`ddof` 0), in two
//!   passes: the column statistics, then `z`, created and flushed. The engine runs
//!   `mean_var_axis` (one pass over the file: two over each cache-sized block, Chan's
//!   merge between blocks), then
//!   `par_for_each` over `(z, x)` with the statistics added by `and_broadcast`.
//! - `c2f X F`: `F`, a new Fortran-order `.npy`, gets a copy of the C-order `X`. The engine
//!   walks the two memory orders together in tiles.
//! - `gram X G`: `G = Xᵀ X`, saved with `save_npy`. The engine folds chunks
//!   (`par_fold_chunks`) with `general_mat_mul`.
//! - `stats X S`: `S = [sum; mean; var]` along axis 0 (`3 x cols`, `ddof` 0), saved with
//!   `save_npy`. The engine runs `mean_var_axis` (one pass; the sum is the mean times the
//!   rows); plain ndarray calls `sum_axis`, `mean_axis` and `var_axis`.
//! - `rowsum X S`: `S`, a new `.npy`, gets the sums along axis 0 of a short, wide `x` (a
//!   result as long as `x`'s rows). The engine runs `sum_axis_into` into `S` created with
//!   `create_npy` (cut along the columns, the result written back and released as it
//!   goes); plain ndarray calls `sum_axis` and `save_npy`.
//! - `matmul X XW`: `XW = X · W`, a new `.npy` created with `create_npy` and flushed, `W` a
//!   `cols × cols` matrix of small integers in memory (`((l + 2 j) % 5) - 2`, as the
//!   harness's `matmul_w`). The engine runs `dot_into` (blocks of rows through
//!   `general_mat_mul` on rayon's pool); plain ndarray runs one `general_mat_mul` of the
//!   whole map into the output's map (matrixmultiply, on one thread).
//! - `rowsum_owned X S`: as `rowsum`, but the engine's owned `sum_axis` then `save_npy`.
//! - `cumsum X C`: `C`, a new `.npy`, gets the cumulative sums of `x` along axis 0. The
//!   engine runs `cumsum_into` into `C` created with `create_npy` (the carry passed from
//!   chunk to chunk); plain ndarray copies `x` into `C` and runs `accumulate_axis_inplace`.
//! - `histogram X H`: the counts of every element of `x` in 1000 equal bins over
//!   `(-300, 400)` (NumPy's `np.histogram`), saved with `save_npy`. The engine runs
//!   `par_histogram`; the plain contender runs the same counting on a plain view of the
//!   map, without the engine's kernel hints.
//! - `gather T B`: nanoGPT's batches from a 1-D `uint16` token file `T`: [`BATCHES`]
//!   batches of [`BATCH`] windows of [`BLOCK`] tokens at starts from [`window_start`] (the
//!   harness's NumPy side computes the same), each a `(BATCH, BLOCK)` array; the time is
//!   that of the gathers alone, and the batches are then saved into `B` for the check. The
//!   engine runs `select_windows`; plain ndarray copies the slices (`ndarray::stack`).
//! - `filter X M Y`: `Y`, a new `.npy`, gets the rows of `X` where the `bool` mask `M` is
//!   true, NumPy's `np.save(y, x[m])`. The engine runs `filter_npy`; plain ndarray `select`s
//!   the rows into memory and saves them.
//! - `concat A B OUT`: `OUT`, a new `.npy`, gets `[a, b, a, b]`. The engine runs
//!   `chunked::concatenate` of the files (`copy_file_range`); plain ndarray assigns the maps
//!   into a `create_npy` output, slice by slice, and flushes it.
//! - `collect A B C`: `c = a + b` as `add`, but the engine writes `c` with
//!   `par_map_collect_npy` (no output map: the file is built from each chunk's results);
//!   plain ndarray as in `add`.
//!
//! The time covers mapping the inputs, creating the output, the work and the flush (the
//! engine flushes its outputs before returning); the output's values are checked by the
//! caller afterwards. The last line printed is one JSON object: `contender`, `job`,
//! `seconds`, `peak_rss_mib` (`VmHWM`), `threads`, `status` (`ok`).

use std::path::Path;
use std::time::Instant;

use ndarray::linalg::general_mat_mul;
use ndmmap::prelude::*;

/// Any error, with its message, ends the job (exit status 1).
type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [contender, job, paths @ ..] = args.as_slice() else {
        return Err("usage: regime_job engine|plain JOB INPUT... OUTPUT".into());
    };
    let engine = match contender.as_str() {
        "engine" => true,
        "plain" => false,
        other => return Err(format!("unknown contender {other:?}: engine or plain").into()),
    };
    let paths: Vec<&Path> = paths.iter().map(Path::new).collect();
    let needed =
        if matches!(job.as_str(), "add" | "filter" | "concat" | "collect") { 3 } else { 2 };
    if paths.len() != needed {
        return Err(format!("{job} takes {needed} paths, got {}", paths.len()).into());
    }

    let started = Instant::now();
    let mut timed = None;
    match job.as_str() {
        "add" => add(engine, paths[0], paths[1], paths[2])?,
        "concat" => concat(engine, paths[0], paths[1], paths[2])?,
        "collect" => collect(engine, paths[0], paths[1], paths[2])?,
        "standardize" => standardize(engine, paths[0], paths[1])?,
        "c2f" => c_to_fortran(engine, paths[0], paths[1])?,
        "gram" => gram(engine, paths[0], paths[1])?,
        "stats" => stats(engine, paths[0], paths[1])?,
        "rowsum" => row_sum(engine, true, paths[0], paths[1])?,
        "rowsum_owned" => row_sum(engine, false, paths[0], paths[1])?,
        "matmul" => matmul(engine, paths[0], paths[1])?,
        "cumsum" => cumsum(engine, paths[0], paths[1])?,
        "histogram" => histogram(engine, paths[0], paths[1])?,
        "gather" => timed = Some(gather(engine, paths[0], paths[1])?),
        "filter" => filter(engine, paths[0], paths[1], paths[2])?,
        other => return Err(format!("unknown job {other:?}").into()),
    }
    let seconds = timed.unwrap_or_else(|| started.elapsed().as_secs_f64());

    let peak_rss_mib = peak_rss_mib()?;
    let status = "ok";
    println!(
        "{{\"contender\": \"{contender}\", \"job\": \"{job}\", \"seconds\": {seconds}, \
         \"peak_rss_mib\": {peak_rss_mib:.1}, \"threads\": {}, \"status\": {status:?}}}",
        rayon::current_num_threads()
    );
    Ok(())
}

/// `c = a + b`.
fn add(engine: bool, a: &Path, b: &Path, c: &Path) -> BoxResult<()> {
    // SAFETY: the benchmark's files are used by one job at a time; nothing else writes or
    // truncates them while they are mapped (this holds for every map in this program).
    let a = unsafe { Array1::<f64>::map_npy(a)? };
    // SAFETY: as above.
    let b = unsafe { Array1::<f64>::map_npy(b)? };
    // SAFETY: as above.
    let mut c = unsafe { Array1::<f64>::create_npy(c, a.len())? };
    if engine {
        ndmmap::chunked::Zip::from(&mut c).and(&a).and(&b).par_for_each(|c, &a, &b| *c = a + b)?;
    } else {
        Zip::from(&mut *c).and(&*a).and(&*b).par_for_each(|c, &a, &b| *c = a + b);
        c.flush()?;
    }
    Ok(())
}

/// `[a, b, a, b]` into a new `.npy`.
fn concat(engine: bool, a: &Path, b: &Path, out: &Path) -> BoxResult<()> {
    use ndmmap::chunked::Piece;
    if engine {
        let pieces = [Piece::<f64>::npy(a), Piece::npy(b), Piece::npy(a), Piece::npy(b)];
        ndmmap::chunked::concatenate(Axis(0), pieces).write_npy(out)?;
        return Ok(());
    }
    // SAFETY: as in `add`.
    let a = unsafe { Array1::<f64>::map_npy(a)? };
    // SAFETY: as in `add`.
    let b = unsafe { Array1::<f64>::map_npy(b)? };
    let (n, m) = (a.len(), b.len());
    // SAFETY: as in `add`.
    let mut out = unsafe { Array1::<f64>::create_npy(out, 2 * (n + m))? };
    let mut at = 0;
    for piece in [&a, &b, &a, &b] {
        let len = piece.len();
        out.slice_mut(ndarray::s![at..at + len]).assign(&**piece);
        at += len;
    }
    out.flush()?;
    Ok(())
}

/// `c = a + b`, `c` a new file built from the results.
fn collect(engine: bool, a: &Path, b: &Path, c: &Path) -> BoxResult<()> {
    if !engine {
        return add(false, a, b, c);
    }
    // SAFETY: as in `add`.
    let a = unsafe { Array1::<f64>::map_npy(a)? };
    // SAFETY: as in `add`.
    let b = unsafe { Array1::<f64>::map_npy(b)? };
    ndmmap::chunked::Zip::from(&a).and(&b).par_map_collect_npy(c, |&a, &b| a + b)?;
    Ok(())
}

/// `z = (x - mean) / std` per column, in two passes.
fn standardize(engine: bool, x: &Path, z: &Path) -> BoxResult<()> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    let (mean, std) = if engine {
        let (mean, var) = ndmmap::chunked::Zip::from(&x).mean_var_axis(Axis(0), 0.0)?;
        (mean, var.mapv(f64::sqrt))
    } else {
        let mean = x.mean_axis(Axis(0)).ok_or("no rows")?;
        (mean, x.std_axis(Axis(0), 0.0))
    };
    // SAFETY: as in `add`.
    let mut z = unsafe { Array2::<f64>::create_npy(z, x.raw_dim())? };
    let scale = |z: &mut f64, &x: &f64, &mean: &f64, &std: &f64| *z = (x - mean) / std;
    if engine {
        ndmmap::chunked::Zip::from(&mut z)
            .and(&x)
            .and_broadcast(&mean)
            .and_broadcast(&std)
            .par_for_each(scale)?;
    } else {
        Zip::from(&mut *z).and(&*x).and_broadcast(&mean).and_broadcast(&std).par_for_each(scale);
        z.flush()?;
    }
    Ok(())
}

/// A copy of C-order `x` into a new Fortran-order `.npy`.
fn c_to_fortran(engine: bool, x: &Path, f: &Path) -> BoxResult<()> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    // SAFETY: as in `add`.
    let mut f = unsafe { Array2::<f64>::create_npy(f, x.raw_dim().f())? };
    if engine {
        // Mixed memory orders: the engine walks them together in tiles.
        ndmmap::chunked::Zip::from(&mut f).and(&x).par_for_each(|f, &x| *f = x)?;
    } else {
        Zip::from(&mut *f).and(&*x).par_for_each(|f, &x| *f = x);
        f.flush()?;
    }
    Ok(())
}

/// `g = xᵀ x`.
fn gram(engine: bool, x: &Path, g: &Path) -> BoxResult<()> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    let cols = x.ncols();
    let g_value = if engine {
        ndmmap::chunked::Zip::from(&x).par_fold_chunks(
            || Array2::<f64>::zeros((cols, cols)),
            |mut g, piece| {
                general_mat_mul(1.0, &piece.t(), &piece, 1.0, &mut g);
                g
            },
            |a, b| a + b,
        )?
    } else {
        x.t().dot(&*x)
    };
    g_value.save_npy(g)?;
    Ok(())
}

/// `xw = x · w`.
fn matmul(engine: bool, x: &Path, xw: &Path) -> BoxResult<()> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    let cols = x.ncols();
    #[allow(clippy::cast_precision_loss, reason = "small integers")]
    let w = Array2::from_shape_fn((cols, cols), |(l, j)| ((l + 2 * j) % 5) as f64 - 2.0);
    // SAFETY: as in `add`.
    let mut out = unsafe { Array2::<f64>::create_npy(xw, x.raw_dim())? };
    if engine {
        ndmmap::chunked::Zip::from(&x).dot_into(&w, &mut out)?;
    } else {
        general_mat_mul(1.0, &*x, &w, 0.0, &mut *out);
        out.flush()?;
    }
    Ok(())
}

/// `[sum; mean; var]` along axis 0.
fn stats(engine: bool, x: &Path, s: &Path) -> BoxResult<()> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    let (sum, mean, var) = if engine {
        // One pass over the file: two over each cache-sized block, Chan's merge between blocks.
        let (mean, var) = ndmmap::chunked::Zip::from(&x).mean_var_axis(Axis(0), 0.0)?;
        #[allow(clippy::cast_precision_loss, reason = "row counts are far below 2^53")]
        let sum = &mean * x.nrows() as f64;
        (sum, mean, var)
    } else {
        let mean = x.mean_axis(Axis(0)).ok_or("no rows")?;
        (x.sum_axis(Axis(0)), mean, x.var_axis(Axis(0), 0.0))
    };
    ndarray::stack(Axis(0), &[sum.view(), mean.view(), var.view()])?.save_npy(s)?;
    Ok(())
}

/// The sums along axis 0 of `x` into a new `.npy`: into a mapped output (`into`) or
/// through an owned array.
fn row_sum(engine: bool, into: bool, x: &Path, s: &Path) -> BoxResult<()> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    if engine && into {
        // SAFETY: as in `add`.
        let mut sums = unsafe { Array1::<f64>::create_npy(s, x.ncols())? };
        ndmmap::chunked::Zip::from(&x).sum_axis_into(Axis(0), &mut sums)?;
    } else if engine {
        ndmmap::chunked::Zip::from(&x).sum_axis(Axis(0))?.save_npy(s)?;
    } else {
        x.sum_axis(Axis(0)).save_npy(s)?;
    }
    Ok(())
}

/// The cumulative sums of `x` along axis 0 into a new `.npy`.
fn cumsum(engine: bool, x: &Path, c: &Path) -> BoxResult<()> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    // SAFETY: as in `add`.
    let mut c = unsafe { Array2::<f64>::create_npy(c, x.raw_dim())? };
    if engine {
        ndmmap::chunked::Zip::from(&x).cumsum_into(Axis(0), &mut c)?;
    } else {
        c.assign(&*x);
        c.accumulate_axis_inplace(Axis(0), |&prev, curr| *curr += prev);
        c.flush()?;
    }
    Ok(())
}

/// Batches per `gather` job.
const BATCHES: usize = 20;
/// Windows per batch.
const BATCH: usize = 64;
/// Tokens per window.
const BLOCK: usize = 1024;

/// The start of window `k` (over all batches) in a file of `n` tokens: a multiplicative
/// hash, the same in the harness's Python.
fn window_start(k: usize, n: usize) -> usize {
    let hashed = (k as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
    #[allow(clippy::cast_possible_truncation, reason = "below n, a usize")]
    let start = (hashed % (n - BLOCK) as u64) as usize;
    start
}

/// [`BATCHES`] batches of windows of the token file `t`; returns the seconds the gathers
/// took, then saves them into `b` (untimed).
fn gather(engine: bool, t: &Path, b: &Path) -> BoxResult<f64> {
    let started = Instant::now();
    // SAFETY: as in `add`.
    let data = unsafe { Array1::<u16>::map_npy(t)? };
    let n = data.len();
    let mut batches = Vec::with_capacity(BATCHES);
    for batch in 0..BATCHES {
        let starts: Vec<usize> = (0..BATCH).map(|k| window_start(batch * BATCH + k, n)).collect();
        let windows = if engine {
            ndmmap::chunked::Zip::from(&data).select_windows(&starts, BLOCK)?
        } else {
            let views: Vec<_> = starts.iter().map(|&s| data.slice(s![s..s + BLOCK])).collect();
            ndarray::stack(Axis(0), &views)?
        };
        batches.push(windows);
    }
    let seconds = started.elapsed().as_secs_f64();
    let views: Vec<ArrayView2<u16>> = batches.iter().map(|b| b.view()).collect();
    ndarray::concatenate(Axis(0), &views)?.save_npy(b)?;
    Ok(seconds)
}

/// The rows of `x` where the mask `m` is true, into the new `.npy` `y`.
fn filter(engine: bool, x: &Path, m: &Path, y: &Path) -> BoxResult<()> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    let mask: Array1<bool> = ndmmap::npy::read_npy(m)?;
    let mask = mask.as_slice().ok_or("a contiguous mask")?;
    if engine {
        ndmmap::chunked::Zip::from(&x).filter_npy(y, mask)?;
    } else {
        let rows: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
        x.select(Axis(0), &rows).save_npy(y)?;
    }
    Ok(())
}

/// The histogram of every element of `x`: 1000 bins over (-300, 400).
fn histogram(engine: bool, x: &Path, h: &Path) -> BoxResult<()> {
    const BINS: usize = 1000;
    const RANGE: (f64, f64) = (-300.0, 400.0);
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    let (counts, _edges) = if engine {
        ndmmap::chunked::Zip::from(&x).par_histogram(BINS, RANGE)?
    } else {
        ndmmap::chunked::Zip::from(x.view()).par_histogram(BINS, RANGE)?
    };
    counts.save_npy(h)?;
    Ok(())
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), in MiB.
fn peak_rss_mib() -> BoxResult<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or("no VmHWM")?;
    let kib: u32 = line["VmHWM:".len()..].trim().trim_end_matches("kB").trim().parse()?;
    Ok(f64::from(kib) / 1024.0)
}
