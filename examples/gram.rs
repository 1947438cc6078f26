//! The Gram matrix `XᵀX` of a tall, skinny matrix mapped from a `.npy` file, in bounded
//! memory: each chunk of rows is a small matrix `Xᵢ` in memory, and `XᵀX = Σ XᵢᵀXᵢ`, summed
//! with ndarray's `dot` on every core ([`ndmmap::chunked::Zip::par_fold_chunks`]). It is the
//! heart of least squares (`XᵀX β = Xᵀy`) and of PCA on data too large for RAM.
//!
//! ```text
//! cargo run --release --features rayon --example gram                  # 1 GiB, 32 columns
//! cargo run --release --features rayon --example gram -- --mib 64 --cols 8
//! cargo run --release --features rayon --example gram -- --dir DIR     # keep and reuse x.npy
//! cargo run --release --features rayon --example gram -- --help
//! ```
//!
//! The input holds `x[i, j] = ((i * (j + 1)) % 7) - 3`; the program checks the result
//! against the same sum computed row by row in a second, untimed pass (a plain fold over
//! the engine's rows, independent of `dot`).

// Sizes become `f64` for values and reports; all are below 2^53.
#![allow(clippy::cast_precision_loss)]
// Sums of small integers are exact in f64.
#![allow(clippy::float_cmp)]

use std::time::Instant;

use ndmmap::chunked;
use ndmmap::prelude::*;

mod common;

use common::{BoxResult, MatrixArgs, ensure_matrix, peak_rss_kib, work_dir};

fn main() -> BoxResult<()> {
    let args = MatrixArgs::parse("gram", 32)?;
    let (_temp, dir) = work_dir(args.dir.as_deref(), "ndmmap-gram-")?;
    let (rows, cols, mib) = (args.rows(), args.cols, args.mib);
    let x_path = dir.join("x.npy");
    ensure_matrix(&x_path, (rows, cols), |i, j| ((i * (j + 1)) % 7) as f64 - 3.0)?;
    println!("x: {} ({rows} x {cols} f64, {mib} MiB)", x_path.display());

    let t0 = Instant::now();
    // SAFETY: the files live in a folder this program made or was given for its own use;
    // no other process writes or truncates them while they are mapped.
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
