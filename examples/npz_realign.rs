//! A `.npz` archive as NumPy writes it (`np.savez`, its one member's data at byte 183, not
//! aligned for `f64`): NumPy's `np.load(path)['x']`, ndmmap's `NpzArchive::load` before and
//! after `realign_npz`, each timed, with the memory it leaves resident.
//!
//! ```text
//! cargo run --release --example npz_realign -- [MIB]
//! ```
//!
//! Default: a 256 MiB member, in a temporary folder. Needs NumPy (`NDMMAP_PYTHON`, or the
//! crate's `.venv`), which writes the archive and loads it. Everything is timed with the
//! archive in the page cache (just written): NumPy's best case. Resident memory is the
//! process's `VmRSS` (Linux; elsewhere not shown), after the load minus before it: a
//! mapped member's pages count only once touched, and then as shared page cache.

// MiB and millisecond figures only: precision does not matter; the values checked are
// integers below 2^53, exact as f64.
#![allow(clippy::cast_precision_loss, clippy::float_cmp)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ndmmap::npz::{NpzArchive, realign_npz};
use ndmmap::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: usize = std::env::args().nth(1).map_or(Ok(256), |s| s.parse())?;
    let n = (mib << 20) / size_of::<f64>();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("numpy.npz");
    let Some(python) = python() else {
        println!("no NumPy: set NDMMAP_PYTHON or create .venv with numpy");
        return Ok(());
    };
    // NumPy writes the archive, then loads the member three times in fresh processes.
    let write =
        format!("import numpy as np, sys; np.savez(sys.argv[1], x=np.arange({n}, dtype='<f8'))");
    run(&python, &write, &path)?;
    let load = "import sys, time, resource, numpy as np\n\
                def rss():\n\
                \x20   return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) // 1024\n\
                before = rss()\n\
                t = time.perf_counter()\n\
                with np.load(sys.argv[1]) as z: a = z['x']\n\
                t = time.perf_counter() - t\n\
                print(f'{t * 1e3:.1f} {rss() - before}')";
    let mut numpy = Vec::new();
    for _ in 0..3 {
        numpy.push(run(&python, load, &path)?);
    }
    numpy.sort_by(|a, b| {
        a.split(' ')
            .next()
            .unwrap_or("")
            .parse::<f64>()
            .unwrap_or(0.0)
            .total_cmp(&b.split(' ').next().unwrap_or("").parse::<f64>().unwrap_or(0.0))
    });
    let (ms, rss) = numpy[1].split_once(' ').unwrap_or(("?", "?"));
    println!(
        "np.load(path)['x'] ({mib} MiB):           {ms} ms, +{rss} MiB resident (median of 3)"
    );

    let archive = NpzArchive::open(&path)?;
    println!("member x: data at byte {:?} of the archive", archive.member("x")?.data_offset);
    let (time, rss, mapped) = timed_load(&path)?;
    println!(
        "NpzArchive::load before realign_npz:    {}, +{rss} MiB resident ({mapped})",
        ms_of(time)
    );

    let started = Instant::now();
    realign_npz(&path)?;
    println!("realign_npz:                            {} (once)", ms_of(started.elapsed()));
    let archive = NpzArchive::open(&path)?;
    println!("member x: data at byte {:?} of the archive", archive.member("x")?.data_offset);
    let mut times = Vec::new();
    let mut rss_after = 0;
    let mut how = String::new();
    for _ in 0..9 {
        let (time, rss, mapped) = timed_load(&path)?;
        times.push(time);
        (rss_after, how) = (rss, mapped);
    }
    times.sort();
    println!(
        "NpzArchive::load after realign_npz:     {}, +{rss_after} MiB resident ({how}; median of 9)",
        ms_of(times[times.len() / 2])
    );
    // Touching every page: what a computation over the whole member costs once mapped.
    // SAFETY: the archive is in our own temporary folder, which no other process touches.
    let x = unsafe { NpzArchive::open(&path)?.load::<f64, Ix1>("x")? };
    let started = Instant::now();
    let sum = x.sum();
    println!("sum over the mapped member:             {} (sum {sum:e})", ms_of(started.elapsed()));
    Ok(())
}

/// Opens the archive and loads `x`: the time, the resident memory it added (MiB), and
/// whether it was mapped or read.
fn timed_load(path: &Path) -> Result<(Duration, i64, String), Box<dyn std::error::Error>> {
    let before = rss_mib();
    let started = Instant::now();
    // SAFETY: the archive is in our own temporary folder, which no other process touches.
    let x = unsafe { NpzArchive::open(path)?.load::<f64, Ix1>("x")? };
    let time = started.elapsed();
    let added = rss_mib() - before;
    let how = match x.not_mapped() {
        None => "mapped".to_owned(),
        Some(why) => format!("read: {why:?}"),
    };
    assert_eq!(x[x.len() - 1], (x.len() - 1) as f64);
    Ok((time, added, how))
}

fn ms_of(time: Duration) -> String {
    format!("{:.3} ms", time.as_secs_f64() * 1e3)
}

/// The process's resident memory in MiB (`VmRSS`), or 0 where `/proc` is not.
fn rss_mib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<i64>().ok()
        })
        .map_or(0, |kib| kib / 1024)
}

/// The Python with NumPy: `NDMMAP_PYTHON`, else the crate's `.venv`.
fn python() -> Option<PathBuf> {
    std::env::var_os("NDMMAP_PYTHON").map(PathBuf::from).or_else(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
        venv.exists().then_some(venv)
    })
}

/// Runs Python `code` with `path` as its argument; its standard output, trimmed.
fn run(python: &Path, code: &str, path: &Path) -> Result<String, Box<dyn std::error::Error>> {
    let output = Command::new(python).args(["-c", code]).arg(path).output()?;
    if !output.status.success() {
        return Err(format!("Python failed: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
