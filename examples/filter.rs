//! Boolean-mask filtering into a new file, NumPy's `np.save(path, x[mask])`, in one pass
//! over a mapped `.npy` table in bounded memory ([`ndmmap::chunked::Zip::filter_npy`]), and
//! the same rows chosen by a predicate on each row
//! ([`ndmmap::chunked::Zip::filter_rows_npy`]).
//!
//! ```text
//! cargo run --release --example filter                       # 1 GiB, 8 columns
//! cargo run --release --example filter -- --mib 64 --cols 4
//! cargo run --release --example filter -- --help
//! ```
//!
//! The table holds `x[i, j] = ((i * (j + 1)) % 7) - 3`; the mask keeps the rows whose first
//! element is positive, a third of them or so. The program checks the count against the
//! formula, and that both files are the same bytes.

// Sizes become `f64` for reports; all are below 2^53.
#![allow(clippy::cast_precision_loss)]
// The shared helpers compare small integers held exactly in f64.
#![allow(clippy::float_cmp)]

use std::time::Instant;

use ndmmap::chunked;
use ndmmap::prelude::*;

mod common;

use common::{BoxResult, MatrixArgs, ensure_matrix, peak_rss_kib, work_dir};

fn main() -> BoxResult<()> {
    let args = MatrixArgs::parse("filter", 8)?;
    let (_temp, dir) = work_dir(args.dir.as_deref(), "ndmmap-filter-")?;
    let (rows, cols, mib) = (args.rows(), args.cols, args.mib);
    let x_path = dir.join("x.npy");
    ensure_matrix(&x_path, (rows, cols), |i, j| ((i * (j + 1)) % 7) as f64 - 3.0)?;
    println!("x: {} ({rows} x {cols} f64, {mib} MiB)", x_path.display());

    // SAFETY: the files live in a folder this program made or was given for its own use;
    // no other process writes or truncates them while they are mapped.
    let x = unsafe { Array2::<f64>::map_npy(&x_path)? };
    // The mask: one bool per row, here from the first column (a label file in practice).
    let mask: Vec<bool> = (0..rows).map(|i| (i % 7) as f64 - 3.0 > 0.0).collect();
    let expected = mask.iter().filter(|&&m| m).count();

    let out = dir.join("kept.npy");
    let _ = std::fs::remove_file(&out);
    let t0 = Instant::now();
    let kept = chunked::Zip::from(&x).filter_npy(&out, &mask)?;
    let seconds = t0.elapsed().as_secs_f64();
    let peak = peak_rss_kib()? as f64 / 1024.0;
    if kept != expected {
        return Err(format!("kept {kept} rows, expected {expected}").into());
    }
    println!(
        "x[mask] -> {}: {kept} of {rows} rows in {seconds:.3} s; peak RSS {peak:.1} MiB",
        out.display()
    );

    // The same rows by a predicate on each row.
    let by_rows = dir.join("kept_by_rows.npy");
    let _ = std::fs::remove_file(&by_rows);
    let t0 = Instant::now();
    let kept = chunked::Zip::from(&x).filter_rows_npy(&by_rows, |row| row[0] > 0.0)?;
    let seconds = t0.elapsed().as_secs_f64();
    if kept != expected || std::fs::read(&out)? != std::fs::read(&by_rows)? {
        return Err("the predicate kept other rows than the mask".into());
    }
    println!("x[x[:, 0] > 0] -> {}: the same {kept} rows in {seconds:.3} s", by_rows.display());
    Ok(())
}
