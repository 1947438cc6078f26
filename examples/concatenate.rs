//! Joining `.npy` files into one, as `np.save(out, np.concatenate([...]))` and
//! `np.save(out, np.stack([...]))` would, without holding the result in memory: shards of
//! a dataset (`(rows, 64)` `f32` each) joined along the rows (file to file, with the
//! kernel's copy where it can), along the columns (a run per row of each shard), and
//! stacked along a new first axis. Each result is checked against ndarray's own
//! `concatenate`/`stack` of the shards read into memory, and the time printed.
//!
//! ```text
//! cargo run --release --example concatenate -- [ROWS] [DIR]
//! ```
//!
//! Defaults: 100,000 rows per shard (25 MiB), four shards, in a temporary folder.

// Byte counts and seconds for printing only: precision does not matter.
#![allow(clippy::cast_precision_loss)]

use std::time::Instant;

use ndmmap::chunked::{self, Piece};
use ndmmap::prelude::*;

const COLS: usize = 64;
const SHARDS: usize = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: usize = args.first().map_or(Ok(100_000), |s| s.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = args.get(1).map_or_else(|| temp.path().to_path_buf(), Into::into);
    let shards: Vec<std::path::PathBuf> =
        (0..SHARDS).map(|k| dir.join(format!("shard{k}.npy"))).collect();
    for (k, path) in shards.iter().enumerate() {
        let shard =
            Array2::from_shape_fn((rows, COLS), |(i, j)| (k * 1_000_000 + i * COLS + j) as f32);
        shard.save_npy(path)?;
    }
    let shard_bytes = rows * COLS * 4;
    println!(
        "{SHARDS} shards of ({rows}, {COLS}) f32 ({:.1} MiB each) in {}",
        shard_bytes as f64 / 1_048_576.0,
        dir.display()
    );
    let in_memory: Vec<Array2<f32>> =
        shards.iter().map(ndmmap::npy::read_npy).collect::<Result<_, _>>()?;
    let views: Vec<ArrayView2<'_, f32>> = in_memory.iter().map(|a| a.view()).collect();
    let pieces = || shards.iter().map(Piece::<f32>::npy);

    for (what, axis, stack) in [
        ("concatenate along rows", 0, false),
        ("concatenate along columns", 1, false),
        ("stack along a new axis 0", 0, true),
    ] {
        let out = dir.join("joined.npy");
        let started = Instant::now();
        let join = if stack {
            chunked::stack(Axis(axis), pieces())
        } else {
            chunked::concatenate(Axis(axis), pieces())
        };
        join.overwrite(true).write_npy(&out)?;
        let seconds = started.elapsed().as_secs_f64();
        let expected = if stack {
            ndarray::stack(Axis(axis), &views)?.into_dyn()
        } else {
            ndarray::concatenate(Axis(axis), &views)?.into_dyn()
        };
        let got: ArrayD<f32> = ndmmap::npy::read_npy(&out)?;
        assert_eq!(got, expected, "{what}");
        let moved = (SHARDS * shard_bytes) as f64;
        println!(
            "  {what:<26} {:8.1} ms  {:6.2} GB/s  shape {:?}",
            seconds * 1e3,
            moved / seconds / 1e9,
            got.shape()
        );
    }
    Ok(())
}
