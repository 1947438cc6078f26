//! The Gram matrix `XᵀX` of a tall, skinny matrix mapped from a `.npy` file, in bounded
//! memory: each chunk of rows is a small matrix `Xᵢ` in memory, and `XᵀX = Σ XᵢᵀXᵢ`, summed
//! with ndarray's `dot` on every core ([`ndmmap::chunked::Zip::par_fold_chunks`]). It is the
//! heart of least squares (`XᵀX β = Xᵀy`) and of PCA on data too large for RAM.
//!
//! ```text
//! cargo run --release --features rayon --example gram                  # 1 GiB, 32 columns
//! cargo run --release --features rayon --example gram -- --mib 64 --cols 8
//! cargo run --release --features rayon --example gram -- --dir DIR     # keep and reuse x.npy
//! ```
//!
//! The input holds `x[i, j] = ((i * (j + 1)) % 7) - 3`; the program checks the result
//! against the same sum computed row by row in a second, untimed pass (a plain fold over
//! the engine's rows, independent of `dot`).

// Sizes become `f64` for values and reports; all are below 2^53.
#![allow(clippy::cast_precision_loss)]
// Sums of small integers are exact in f64.
#![allow(clippy::float_cmp)]

use std::path::PathBuf;
use std::time::Instant;

use ndmmap::chunked;
use ndmmap::prelude::*;

mod common;

use common::{BoxResult, peak_rss_kib, work_dir};

fn main() -> BoxResult<()> {
    let mut dir: Option<PathBuf> = None;
    let (mut mib, mut cols) = (1024usize, 32usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value()?)),
            "--mib" => mib = value()?.parse()?,
            "--cols" => cols = value()?.parse()?,
            _ => return Err(format!("unknown argument {flag:?} (try --dir, --mib, --cols)").into()),
        }
    }
    if cols == 0 {
        return Err("--cols needs at least 1".into());
    }
    let (_temp, dir) = work_dir(dir.as_deref(), "ndmmap-gram-")?;
    let rows = (mib << 20) / (8 * cols);
    let x_path = dir.join("x.npy");
    let value = |i: usize, j: usize| ((i * (j + 1)) % 7) as f64 - 3.0;

    let reuse = ndmmap::npy::inspect(&x_path).is_ok_and(|h| h.shape == [rows, cols]);
    if !reuse {
        let _ = std::fs::remove_file(&x_path);
        // SAFETY: the files live in a folder this program made or was given for its own
        // use; no other process writes or truncates them while they are mapped.
        let mut x = unsafe { Array2::<f64>::create_npy(&x_path, (rows, cols))? };
        chunked::Zip::indexed(&mut x).for_each(|(i, j), x| *x = value(i, j))?;
    }
    println!("x: {} ({rows} x {cols} f64, {mib} MiB)", x_path.display());

    let t0 = Instant::now();
    // SAFETY: as above.
    let x = unsafe { Array2::<f64>::map_npy(&x_path)? };
    let gram = chunked::Zip::from(&x).par_fold_chunks(
        || Array2::<f64>::zeros((cols, cols)),
        |acc, chunk| acc + chunk.t().dot(&chunk),
        |a, b| a + b,
    )?;
    let seconds = t0.elapsed().as_secs_f64();
    let peak = peak_rss_kib()? as f64 / 1024.0;

    // Untimed check, row by row, without `dot`.
    let check = chunked::Zip::from(&x).fold_chunks(
        Array2::<f64>::zeros((cols, cols)),
        |mut acc, chunk| {
            for row in chunk.rows() {
                for (a, &xa) in row.iter().enumerate() {
                    for (b, &xb) in row.iter().enumerate() {
                        acc[[a, b]] += xa * xb;
                    }
                }
            }
            acc
        },
    )?;
    if gram != check {
        return Err(format!("XᵀX differs from the row-by-row sum:\n{gram}\n{check}").into());
    }
    let bytes = (rows * cols * 8) as f64;
    println!(
        "XᵀX ({cols} x {cols}) in {seconds:.3} s, {:.2} GB/s; peak RSS {peak:.1} MiB",
        bytes / seconds / 1e9
    );
    println!(
        "checked against a row-by-row sum; XᵀX[0, 0..4] = {}",
        gram.row(0).slice(s![..cols.min(4)])
    );
    println!(
        "{{\"job\": \"ndmmap-gram\", \"rows\": {rows}, \"cols\": {cols}, \"seconds\": {seconds}, \
         \"bytes_moved\": {bytes}, \"peak_rss_mib\": {peak:.1}}}"
    );
    Ok(())
}
