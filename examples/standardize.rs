//! Standardise every column of a `.npy` file bigger than the memory you give it, into a
//! new `.npy`: `z = (x - mean) / std`, column by column, in two passes over the file with
//! ndmmap's out-of-core engine. The same job in NumPy is `(x - x.mean(0)) / x.std(0)`,
//! which needs the whole of `x` and `z` in memory; in Dask, `da.from_array(...)` and
//! `da.to_npy_stack`.
//!
//! ```text
//! cargo run --release --example standardize                          # 1 GiB input
//! cargo run --release --example standardize -- --mib 256 --cols 32
//! cargo run --release --example standardize -- --dir DIR             # keep and reuse x.npy
//! cargo run --release --example standardize -- --help
//! ```
//!
//! To run it under a memory cap (cgroup v1, as root), as maparray's 128 MiB machine of 2002:
//!
//! ```text
//! mkdir /sys/fs/cgroup/memory/cap && echo 128M > /sys/fs/cgroup/memory/cap/memory.limit_in_bytes
//! sh -c 'echo $$ > /sys/fs/cgroup/memory/cap/cgroup.procs; exec target/release/examples/standardize --dir DIR'
//! ```
//!
//! Pass 1 computes every column's mean and variance in one read of the file
//! ([`ndmmap::chunked::Zip::mean_var_axis`]: two passes over each cache-sized block of
//! rows, Chan's merge between blocks); pass 2 reads it again and writes `z` with
//! [`map_collect_npy`](ndmmap::chunked::Zip::map_collect_npy), the statistics broadcast
//! against each chunk ([`and_broadcast`](ndmmap::chunked::Zip::and_broadcast)). The engine
//! sizes its chunks to the memory available, so no knob is needed under a cap.
//!
//! Pass 2 shows its progress on standard error (a callback given the bytes done and in
//! all; the feature `progress-bar` draws a bar instead). The input holds
//! `x[i, j] = (i % 1000) * (j + 1) + j`, so each column's mean and standard deviation are
//! known in closed form; the program checks `z`'s column means and standard deviations (0
//! and 1) in a third, untimed pass. Last, untimed too, it starts pass 2 again into another
//! file and cancels it half-way from another thread (a [`chunked::CancelToken`], as a
//! Ctrl-C handler would): the walk stops within a chunk with `Error::Cancelled`, and leaves
//! no file.

// Sizes and indices become `f64` for values and reports; all are below 2^53.
#![allow(clippy::cast_precision_loss)]
// `common`'s input check compares integers held exactly in `f64`.
#![allow(clippy::float_cmp)]

use std::sync::mpsc;
use std::time::Instant;

use ndmmap::chunked;
use ndmmap::prelude::*;

mod common;

use common::{BoxResult, MatrixArgs, ensure_matrix, peak_rss_kib, work_dir};

fn main() -> BoxResult<()> {
    let args = MatrixArgs::parse("standardize", 16)?;
    let (_temp, dir) = work_dir(args.dir.as_deref(), "ndmmap-standardize-")?;
    let (rows, cols, mib) = (args.rows(), args.cols, args.mib);
    let (x_path, z_path) = (dir.join("x.npy"), dir.join("z.npy"));

    // Untimed: the input, made chunk by chunk through the engine, unless already there.
    let reuse = ensure_matrix(&x_path, (rows, cols), |i, j| ((i % 1000) * (j + 1) + j) as f64)?;
    let _ = std::fs::remove_file(&z_path);
    println!(
        "x: {} ({rows} x {cols} f64, {mib} MiB), {}",
        x_path.display(),
        if reuse { "reused" } else { "written" }
    );

    let t0 = Instant::now();
    // SAFETY: the files live in a folder this program made or was given for its own use;
    // no other process writes or truncates them while they are mapped.
    let x = unsafe { Array2::<f64>::map_npy(&x_path)? };
    let (mean, var) = chunked::Zip::from(&x).mean_var_axis(Axis(0), 0.0)?;
    let std = var.mapv(f64::sqrt);
    let t1 = Instant::now();
    let mut shown = 0;
    chunked::Zip::from(&x)
        .and_broadcast(&mean)
        .and_broadcast(&std)
        .progress(move |done, total| {
            // Bytes of x and of the two statistics broadcast against it, done and in all.
            let percent = done * 100 / total.max(1);
            if percent >= shown + 10 || done == total {
                shown = percent;
                eprint!("\r  pass 2: {percent:3}%");
                if done == total {
                    eprintln!();
                }
            }
        })
        .map_collect_npy(&z_path, |&x, &m, &s| (x - m) / s)?;
    let t2 = Instant::now();
    let peak = peak_rss_kib()? as f64 / 1024.0;

    // Untimed check: the known statistics, then z's own, through the engine.
    let known = |j: usize| {
        // (i % 1000) over `rows` rows: whole cycles of 0..1000 and a partial one.
        let (cycles, rest) = (rows / 1000, rows % 1000);
        let count = |k: usize| (cycles + usize::from(k < rest)) as f64;
        let m = (0..1000).map(|k| count(k) * k as f64).sum::<f64>() / rows as f64;
        let v = (0..1000).map(|k| count(k) * (k as f64 - m).powi(2)).sum::<f64>() / rows as f64;
        (m * (j + 1) as f64 + j as f64, v.sqrt() * (j + 1) as f64)
    };
    for j in 0..cols {
        let (m, s) = known(j);
        if (mean[j] - m).abs() > 1e-9 * m.abs().max(1.0) || (std[j] - s).abs() > 1e-9 * s {
            return Err(
                format!("column {j}: mean {} std {}, expected {m} {s}", mean[j], std[j]).into()
            );
        }
    }
    // SAFETY: as above.
    let z = unsafe { Array2::<f64>::map_npy(&z_path)? };
    let (z_mean, z_var) = chunked::Zip::from(&z).mean_var_axis(Axis(0), 0.0)?;
    if z_mean.iter().any(|m| m.abs() > 1e-9) || z_var.iter().any(|v| (v - 1.0).abs() > 1e-9) {
        return Err(format!("z: column means {z_mean}, variances {z_var}").into());
    }

    cancel_half_way(&x, &mean, &std, &dir.join("cancelled.npy"))?;

    let bytes = (rows * cols * 8) as f64;
    let (pass1, pass2) = ((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64());
    println!("pass 1 (mean, std of {cols} columns): {pass1:.3} s, {:.2} GB/s", bytes / pass1 / 1e9);
    println!(
        "pass 2 (z into {}): {pass2:.3} s, {:.2} GB/s",
        z_path.display(),
        2.0 * bytes / pass2 / 1e9
    );
    println!("peak RSS {peak:.1} MiB; checked the means and standard deviations, and z's");
    println!(
        "{{\"job\": \"ndmmap-standardize\", \"rows\": {rows}, \"cols\": {cols}, \"seconds\": {}, \
         \"bytes_moved\": {}, \"peak_rss_mib\": {peak:.1}}}",
        pass1 + pass2,
        3.0 * bytes
    );
    Ok(())
}

/// Pass 2 again into `path`, cancelled half-way by another thread, which the progress
/// callback tells how far the walk is; checks that it stopped with `Error::Cancelled` and
/// left no file.
fn cancel_half_way(
    x: &MmapArray<f64, Ix2>,
    mean: &Array1<f64>,
    std: &Array1<f64>,
    path: &std::path::Path,
) -> BoxResult<()> {
    let token = chunked::CancelToken::new();
    let (progress_tx, progress_rx) = mpsc::channel::<(u64, u64)>();
    let canceller = {
        let token = token.clone();
        std::thread::spawn(move || {
            // Until the walk ends (the sender dropped) or is half done.
            for (done, total) in progress_rx {
                if 2 * done >= total {
                    token.cancel();
                    break;
                }
            }
        })
    };
    let result = chunked::Zip::from(x)
        .and_broadcast(mean)
        .and_broadcast(std)
        .chunk_bytes(1 << 20) // more chunks than the default, to cancel between them
        .cancel_on(&token)
        .progress(move |done, total| {
            let _ = progress_tx.send((done, total));
        })
        .map_collect_npy(path, |&x, &m, &s| (x - m) / s);
    canceller.join().map_err(|_| "the cancelling thread panicked")?;
    match result {
        Err(ndmmap::Error::Cancelled { .. }) if !path.exists() => {
            println!("pass 2 again, cancelled half-way from another thread: no file left");
        }
        // The walk did its last chunk before the other thread cancelled (a small input).
        Ok(()) => {
            std::fs::remove_file(path)?;
            println!("pass 2 again: done before the other thread cancelled it");
        }
        other => {
            let left = path.exists();
            return Err(format!("cancelled pass 2: {other:?}, file left: {left}").into());
        }
    }
    Ok(())
}
