//! The matrix product `X · W` of a tall matrix mapped from a `.npy` file and a small one in
//! memory, written into a new `.npy` file, in bounded memory: NumPy's `x @ w` on a memmap,
//! which builds the whole product in RAM, done one block of rows at a time
//! ([`ndmmap::chunked::Zip::dot_into`]), each block through ndarray's `dot` on every core.
//! It is how a linear layer or a projection (PCA's scores, `X · V`) is applied to data too
//! large for memory. Then `Xᵀ · XW` ([`ndmmap::chunked::Zip::t_dot`]) reads the two tall
//! matrices together in one pass.
//!
//! ```text
//! cargo run --release --features rayon --example matmul                  # 1 GiB, 64 columns
//! cargo run --release --features rayon --example matmul -- --mib 64 --cols 8
//! cargo run --release --features rayon --example matmul -- --dir DIR     # keep and reuse x.npy
//! cargo run --release --features rayon --example matmul -- --help
//! ```
//!
//! The input holds `x[i, j] = ((i * (j + 1)) % 7) - 3` and `w[l, j] = ((l + 2 j) % 5) - 2`
//! (64 columns); the program checks every element of the product against the same sums
//! computed element by element in a second, untimed pass.

// Sizes become `f64` for values and reports; all are below 2^53.
#![allow(clippy::cast_precision_loss)]
// Sums of small integers are exact in f64.
#![allow(clippy::float_cmp)]

use std::time::Instant;

use ndmmap::chunked;
use ndmmap::prelude::*;

mod common;

use common::{BoxResult, MatrixArgs, ensure_matrix, peak_rss_kib, work_dir};

/// The columns of `W`, and so of the product.
const OUT_COLS: usize = 64;

fn main() -> BoxResult<()> {
    let args = MatrixArgs::parse("matmul", 64)?;
    let (_temp, dir) = work_dir(args.dir.as_deref(), "ndmmap-matmul-")?;
    let (rows, cols, mib) = (args.rows(), args.cols, args.mib);
    let x_path = dir.join("x.npy");
    ensure_matrix(&x_path, (rows, cols), |i, j| ((i * (j + 1)) % 7) as f64 - 3.0)?;
    println!("x: {} ({rows} x {cols} f64, {mib} MiB)", x_path.display());
    let w = Array2::from_shape_fn((cols, OUT_COLS), |(l, j)| ((l + 2 * j) % 5) as f64 - 2.0);
    let xw_path = dir.join("xw.npy");
    let _ = std::fs::remove_file(&xw_path); // from an earlier run in --dir

    let t0 = Instant::now();
    // SAFETY: the files live in a folder this program made or was given for its own use;
    // no other process writes or truncates them while they are mapped.
    let x = unsafe { Array2::<f64>::map_npy(&x_path)? };
    // SAFETY: as above.
    let mut xw = unsafe { Array2::<f64>::create_npy(&xw_path, (rows, OUT_COLS))? };
    chunked::Zip::from(&x).dot_into(&w, &mut xw)?; // flushed when it returns
    let seconds = t0.elapsed().as_secs_f64();
    let peak = peak_rss_kib()? as f64 / 1024.0;

    // Untimed check, element by element, without `dot`.
    let wrong = chunked::Zip::indexed(&xw).fold(0usize, |wrong, (i, j), &v| {
        let expected: f64 = (0..cols).map(|l| x[[i, l]] * w[[l, j]]).sum();
        wrong + usize::from(v != expected)
    })?;
    if wrong > 0 {
        return Err(format!("{wrong} elements of X · W differ from the element-wise sums").into());
    }
    let bytes = (rows * (cols + OUT_COLS) * 8) as f64;
    println!(
        "X · W ({rows} x {OUT_COLS}) into {} in {seconds:.3} s, {:.2} GB/s read and written; \
         peak RSS {peak:.1} MiB",
        xw_path.display(),
        bytes / seconds / 1e9
    );
    println!("checked against element-wise sums; xw[0, 0..4] = {}", xw.row(0).slice(s![..4]));

    // Xᵀ · (X W) = (XᵀX) W: the two tall matrices read together, in one pass.
    let t1 = Instant::now();
    let xt_xw = chunked::Zip::from(&x).t_dot(&xw)?;
    let t_seconds = t1.elapsed().as_secs_f64();
    let gram = chunked::Zip::from(&x).t_dot(&x)?;
    if xt_xw != gram.dot(&w) {
        return Err("Xᵀ · XW differs from XᵀX · W".into());
    }
    println!("Xᵀ · XW ({cols} x {OUT_COLS}) in {t_seconds:.3} s, equal to XᵀX · W");
    println!(
        "{{\"job\": \"ndmmap-matmul\", \"rows\": {rows}, \"cols\": {cols}, \"out_cols\": {OUT_COLS}, \
         \"seconds\": {seconds}, \"bytes_moved\": {bytes}, \"peak_rss_mib\": {peak:.1}}}"
    );
    Ok(())
}
