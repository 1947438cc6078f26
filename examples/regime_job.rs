//! One job of `benches/regimes.sh`, done by ndmmap, timed inside the process.
//!
//! ```text
//! regime_job CONTENDER JOB INPUT... OUTPUT
//! cargo run --release --features rayon --example regime_job -- engine add a.npy b.npy c.npy
//! ```
//!
//! `CONTENDER` is `engine` (the out-of-core engine, [`ndmmap::chunked::Zip`]) or `plain`
//! (plain ndarray on the same maps: `Zip::par_for_each`, `mean_axis`, `dot`, ...). The jobs,
//! on `.npy` files of `f64` that `benches/numpy_jobs.py` (NumPy and Dask) reads too:
//!
//! - `add A B C`: `c = a + b` (1-D), `c` created with `create_npy` and flushed. The engine
//!   runs `chunked::Zip::par_for_each`.
//! - `standardize X Z`: `z = (x - mean) / std` per column of a 2-D `x` (`ddof` 0), in two
//!   passes: the column statistics, then `z`, created and flushed. The engine folds chunks
//!   (`par_fold`, merging per-piece moments as Chan et al.) for the statistics, and writes
//!   `z` by folding chunks of `(z, x)` with a broadcasting ndarray `Zip` inside.
//! - `c2f X F`: `F`, a new Fortran-order `.npy`, gets a copy of the C-order `X`. The engine
//!   cannot yet walk a C-order input with a Fortran-order output (it returns
//!   `Error::LayoutMismatch`): the job then reports `"status": "not yet: ..."`.
//! - `gram X G`: `G = Xᵀ X`, saved with `save_npy`. The engine folds chunks with
//!   `general_mat_mul`.
//! - `stats X S`: `S = [sum; mean; var]` along axis 0 (`3 x cols`, `ddof` 0), saved with
//!   `save_npy`. The engine folds chunks (one pass); plain ndarray calls `sum_axis`,
//!   `mean_axis` and `var_axis`.
//!
//! The time covers mapping the inputs, creating the output, the work and the flush (the
//! engine flushes its outputs before returning); the output's values are checked by the
//! caller afterwards. The last line printed is one JSON object: `contender`, `job`,
//! `seconds`, `peak_rss_mib` (`VmHWM`), `threads`, `status` (`ok`, or why not).

use std::path::Path;
use std::time::Instant;

use ndarray::linalg::general_mat_mul;
use ndmmap::prelude::*;

/// Any error, with its message, ends the job (exit status 1).
type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What a job reports besides its time.
enum Outcome {
    Done,
    /// Today's engine cannot do this job: the reason.
    NotYet(String),
}

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
    let needed = if job == "add" { 3 } else { 2 };
    if paths.len() != needed {
        return Err(format!("{job} takes {needed} paths, got {}", paths.len()).into());
    }

    let started = Instant::now();
    let outcome = match job.as_str() {
        "add" => add(engine, paths[0], paths[1], paths[2])?,
        "standardize" => standardize(engine, paths[0], paths[1])?,
        "c2f" => c_to_fortran(engine, paths[0], paths[1])?,
        "gram" => gram(engine, paths[0], paths[1])?,
        "stats" => stats(engine, paths[0], paths[1])?,
        other => return Err(format!("unknown job {other:?}").into()),
    };
    let seconds = started.elapsed().as_secs_f64();

    let peak_rss_mib = peak_rss_mib()?;
    let status = match outcome {
        Outcome::Done => "ok".to_string(),
        Outcome::NotYet(why) => format!("not yet: {why}"),
    };
    println!(
        "{{\"contender\": \"{contender}\", \"job\": \"{job}\", \"seconds\": {seconds}, \
         \"peak_rss_mib\": {peak_rss_mib:.1}, \"threads\": {}, \"status\": {status:?}}}",
        rayon::current_num_threads()
    );
    Ok(())
}

/// `c = a + b`.
fn add(engine: bool, a: &Path, b: &Path, c: &Path) -> BoxResult<Outcome> {
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
    Ok(Outcome::Done)
}

/// `z = (x - mean) / std` per column, in two passes.
fn standardize(engine: bool, x: &Path, z: &Path) -> BoxResult<Outcome> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    let (mean, std) = if engine {
        let m = column_moments(&x)?;
        let std = m.m2.mapv(|m2| (m2 / m.count).sqrt());
        (m.mean, std)
    } else {
        let mean = x.mean_axis(Axis(0)).ok_or("no rows")?;
        (mean, x.std_axis(Axis(0), 0.0))
    };
    // SAFETY: as in `add`.
    let mut z = unsafe { Array2::<f64>::create_npy(z, x.raw_dim())? };
    let scale = |z: &mut f64, &x: &f64, &mean: &f64, &std: &f64| *z = (x - mean) / std;
    if engine {
        // Today's engine has no broadcasting operands: each chunk of (z, x) gets a plain
        // ndarray Zip that broadcasts the statistics over its rows.
        ndmmap::chunked::Zip::from(&mut z).and(&x).par_fold(
            || (),
            |(), mut z, x| {
                Zip::from(&mut z).and(&x).and_broadcast(&mean).and_broadcast(&std).for_each(scale);
            },
            |(), ()| (),
        )?;
    } else {
        Zip::from(&mut *z).and(&*x).and_broadcast(&mean).and_broadcast(&std).par_for_each(scale);
        z.flush()?;
    }
    Ok(Outcome::Done)
}

/// A copy of C-order `x` into a new Fortran-order `.npy`.
fn c_to_fortran(engine: bool, x: &Path, f: &Path) -> BoxResult<Outcome> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    // SAFETY: as in `add`.
    let mut f = unsafe { Array2::<f64>::create_npy(f, x.raw_dim().f())? };
    if engine {
        match ndmmap::chunked::Zip::from(&mut f).and(&x).par_for_each(|f, &x| *f = x) {
            Ok(()) => {}
            Err(e @ ndmmap::Error::LayoutMismatch { .. }) => {
                return Ok(Outcome::NotYet(format!("chunked::Zip: {e}")));
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        Zip::from(&mut *f).and(&*x).par_for_each(|f, &x| *f = x);
        f.flush()?;
    }
    Ok(Outcome::Done)
}

/// `g = xᵀ x`.
fn gram(engine: bool, x: &Path, g: &Path) -> BoxResult<Outcome> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    let cols = x.ncols();
    let g_value = if engine {
        ndmmap::chunked::Zip::from(&x).par_fold(
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
    Ok(Outcome::Done)
}

/// `[sum; mean; var]` along axis 0.
fn stats(engine: bool, x: &Path, s: &Path) -> BoxResult<Outcome> {
    // SAFETY: as in `add`.
    let x = unsafe { Array2::<f64>::map_npy(x)? };
    let (sum, mean, var) = if engine {
        let m = column_moments(&x)?;
        let var = m.m2.mapv(|m2| m2 / m.count);
        (m.sum, m.mean, var)
    } else {
        let mean = x.mean_axis(Axis(0)).ok_or("no rows")?;
        (x.sum_axis(Axis(0)), mean, x.var_axis(Axis(0), 0.0))
    };
    ndarray::stack(Axis(0), &[sum.view(), mean.view(), var.view()])?.save_npy(s)?;
    Ok(Outcome::Done)
}

/// Per-column count, sum, mean and sum of squared deviations of a block of rows.
struct Moments {
    count: f64,
    sum: Array1<f64>,
    mean: Array1<f64>,
    m2: Array1<f64>,
}

impl Moments {
    fn empty(cols: usize) -> Self {
        Moments {
            count: 0.0,
            sum: Array1::zeros(cols),
            mean: Array1::zeros(cols),
            m2: Array1::zeros(cols),
        }
    }

    /// The moments of `rows` (two passes over a block small enough to stay in cache).
    #[allow(clippy::cast_precision_loss, reason = "row counts are far below 2^53")]
    fn of(rows: &ArrayView2<'_, f64>) -> Self {
        let cols = rows.ncols();
        if rows.nrows() == 0 {
            return Self::empty(cols);
        }
        let count = rows.nrows() as f64;
        let sum = rows.sum_axis(Axis(0));
        let mean = &sum / count;
        let mut m2 = Array1::zeros(cols);
        for row in rows.rows() {
            Zip::from(&mut m2).and(&row).and(&mean).for_each(|m2, &x, &mean| {
                let d = x - mean;
                *m2 += d * d;
            });
        }
        Moments { count, sum, mean, m2 }
    }

    /// The pairwise merge of Chan et al. (1979): counts, means and squared deviations.
    fn merge(self, other: Self) -> Self {
        if other.count == 0.0 {
            return self;
        }
        if self.count == 0.0 {
            return other;
        }
        let count = self.count + other.count;
        let delta = &other.mean - &self.mean;
        let mean = &self.mean + &(&delta * (other.count / count));
        let m2 = &self.m2 + &other.m2 + &(&delta * &delta * (self.count * other.count / count));
        Moments { count, sum: self.sum + other.sum, mean, m2 }
    }
}

/// The moments of every column of `x`, in one pass of the engine.
fn column_moments(x: &MmapArray<f64, Ix2>) -> ndmmap::Result<Moments> {
    let cols = x.ncols();
    ndmmap::chunked::Zip::from(x).par_fold(
        || Moments::empty(cols),
        |acc, piece| acc.merge(Moments::of(&piece)),
        Moments::merge,
    )
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), in MiB.
fn peak_rss_mib() -> BoxResult<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or("no VmHWM")?;
    let kib: u32 = line["VmHWM:".len()..].trim().trim_end_matches("kB").trim().parse()?;
    Ok(f64::from(kib) / 1024.0)
}
