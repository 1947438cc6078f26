//! A histogram shared by several processes: each process draws pseudo-random values and
//! counts them with `fetch_add` on an atomic view of the same mapped file, by default a
//! file on tmpfs (`/dev/shm`), which lives in memory and never touches a disk.
//!
//! ```text
//! cargo run --release --example shared_counter -- --procs 2 --ops 20000000 --buckets 64
//! ```
//!
//! The parent creates the file, spawns `--procs` copies of itself as children, and checks
//! that the histogram's total is exactly `procs * ops`. The children start together (they
//! wait at a counter in the same file) and report their own running time; the parent
//! prints the histogram, the total and the combined `fetch_add`s per second.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::time::Instant;

use ndmmap::prelude::*;

/// Cells from the end of the histogram to the start gate: a cache line apart.
const GATE_GAP: usize = 8;

struct Args {
    procs: usize,
    ops: u64,
    buckets: usize,
    path: Option<PathBuf>,
}

fn parse_args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut args = Args { procs: 2, ops: 10_000_000, buckets: 64, path: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--procs" => args.procs = value.parse()?,
            "--ops" => args.ops = value.parse()?,
            "--buckets" => args.buckets = value.parse()?,
            "--path" => args.path = Some(value.into()),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if args.procs == 0 || args.buckets == 0 {
        return Err("--procs and --buckets must be positive".into());
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(child) = std::env::var("SHARED_COUNTER_CHILD") {
        return run_child(&child);
    }
    let args = parse_args()?;
    let dir = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")?
    } else {
        tempfile::tempdir()?
    };
    let path = args.path.clone().unwrap_or_else(|| dir.path().join("histogram"));
    let cells = args.buckets + GATE_GAP + 1;
    // SAFETY: every process that maps this file touches it only through atomic views.
    let counts = unsafe {
        Array1::<u64>::create_file_with(&path, cells, &MapOptions::new().overwrite(true))?
    };
    drop(counts);

    let started = Instant::now();
    let children: Vec<_> = (0..args.procs)
        .map(|seed| {
            Command::new(std::env::current_exe()?)
                .env(
                    "SHARED_COUNTER_CHILD",
                    format!(
                        "{}|{}|{}|{}|{seed}",
                        path.display(),
                        args.ops,
                        args.buckets,
                        args.procs
                    ),
                )
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let mut slowest = 0.0f64;
    for child in children {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("a child failed: {}", out.status).into());
        }
        let secs: f64 = String::from_utf8(out.stdout)?.trim().parse()?;
        slowest = slowest.max(secs);
    }
    let wall = started.elapsed().as_secs_f64();

    // SAFETY: the children have exited; only this process maps the file now.
    let counts = unsafe { Array1::<u64>::map_file(&path)? };
    let histogram = counts.slice(s![..args.buckets]);
    let total: u64 = histogram.sum();
    let expected = args.procs as u64 * args.ops;
    println!("file: {} ({} buckets)", path.display(), args.buckets);
    println!("first buckets: {:?}", histogram.iter().take(8).collect::<Vec<_>>());
    println!(
        "total: {total} (expected {expected}: {})",
        if total == expected { "exact" } else { "LOST UPDATES" }
    );
    #[allow(clippy::cast_precision_loss, reason = "a rate for people to read")]
    let rate = expected as f64 / slowest;
    println!(
        "{} processes x {} fetch_adds: {:.1} M ops/s combined \
         ({slowest:.3} s counting, {wall:.3} s with process start)",
        args.procs,
        args.ops,
        rate / 1e6
    );
    if total != expected {
        return Err("lost updates".into());
    }
    Ok(())
}

/// A child: map, wait at the gate, count, report seconds spent counting.
fn run_child(spec: &str) -> Result<(), Box<dyn std::error::Error>> {
    let parts: Vec<&str> = spec.split('|').collect();
    let [path, ops, buckets, procs, seed] = parts[..] else {
        return Err(format!("bad child spec {spec}").into());
    };
    let (ops, buckets, procs): (u64, usize, u64) = (ops.parse()?, buckets.parse()?, procs.parse()?);
    // SAFETY: every process that maps this file touches it only through atomic views.
    let mut counts = unsafe { Array1::<u64>::map_file_mut(path)? };
    let atomic = counts.atomic_view()?;
    let gate = &atomic[buckets + GATE_GAP];
    gate.fetch_add(1, AcqRel);
    while gate.load(Acquire) < procs {
        std::hint::spin_loop();
    }
    let start = Instant::now();
    let mut x: u64 =
        0x9E37_79B9_7F4A_7C15 ^ seed.parse::<u64>()?.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let buckets = buckets as u64;
    for _ in 0..ops {
        // xorshift64: a cheap stream of values to histogram.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        #[allow(clippy::cast_possible_truncation, reason = "x % buckets < buckets, a usize")]
        atomic[(x % buckets) as usize].fetch_add(1, Relaxed);
    }
    println!("{}", start.elapsed().as_secs_f64());
    Ok(())
}
