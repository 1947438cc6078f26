//! Single-row appends: `push`es of one row of 16 `f32` (64 bytes) onto a `.npy` file with
//! default settings, with `set_sync_on_grow(false)`, onto a raw file, and, as the baseline,
//! plain `write`s of the same 64 bytes to a file. Every job ends with its data on disk
//! (`close`, or `fdatasync` for the plain writes) and prints the rows per second.
//!
//! ```text
//! cargo run --release --example push -- [ROWS] [DIR]
//! ```
//!
//! Defaults: 10,000 rows, in a temporary folder. Each job runs three times; the median
//! time is printed.

// Row counts and seconds for printing only: precision does not matter.
#![allow(clippy::cast_precision_loss)]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use ndmmap::prelude::*;

const WIDTH: usize = 16;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: usize = args.first().map_or(Ok(10_000), |s| s.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = args.get(1).map_or_else(|| temp.path().to_path_buf(), Into::into);
    println!("{rows} rows of {} bytes each, in {}", WIDTH * 4, dir.display());
    let mut baseline = None;
    for job in ["write(2) + fdatasync", "ndmmap raw", "ndmmap .npy", "ndmmap .npy, no sync"] {
        let mut times: Vec<Duration> =
            (0..3).map(|_| run(job, &dir.join("push.out"), rows)).collect::<Result<_, _>>()?;
        times.sort();
        let median = times[1].as_secs_f64();
        let rate = rows as f64 / median;
        let base = *baseline.get_or_insert(rate);
        println!(
            "  {job:<22} {:8.1} ms  {:>10.0} rows/s  {:5.2} x write(2)  [{:.1}-{:.1} ms]",
            median * 1e3,
            rate,
            rate / base,
            times[0].as_secs_f64() * 1e3,
            times[2].as_secs_f64() * 1e3
        );
    }
    Ok(())
}

fn run(job: &str, path: &Path, rows: usize) -> Result<Duration, Box<dyn std::error::Error>> {
    let _ = std::fs::remove_file(path);
    let row = Array1::<f32>::from_elem(WIDTH, 1.0);
    let start = Instant::now();
    if job.starts_with("write") {
        let mut file = std::fs::File::create(path)?;
        for _ in 0..rows {
            file.write_all(bytemuck::cast_slice(row.as_slice().unwrap()))?;
        }
        file.sync_data()?;
    } else {
        let mut log = if job == "ndmmap raw" {
            // SAFETY: this program is the only one that touches the file while it runs.
            unsafe { Array2::<f32>::create_file(path, (0, WIDTH))? }
        } else {
            // SAFETY: as above.
            unsafe { Array2::<f32>::create_npy(path, (0, WIDTH))? }
        };
        log.set_sync_on_grow(!job.ends_with("no sync"));
        for _ in 0..rows {
            log.push(row.view())?;
        }
        log.close()?;
    }
    let elapsed = start.elapsed();
    std::fs::remove_file(path)?;
    Ok(elapsed)
}
