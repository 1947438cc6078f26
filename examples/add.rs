//! The 2002 `Numeric.add(a, b, c)` job, on two 512 MiB files.
//!
//! In 2002 maparray's author wrote: "I added two 512-mebibyte arrays to produce a third one
//! with `Numeric.add(a, b, c)`. It took eleven minutes." This program does the same job
//! with ndmmap: it maps two `f64` files read-only, creates a third, adds them into it on
//! every core with ndarray's `Zip`, flushes the result to disk and reports how long each
//! step took, the bandwidth and the peak memory.
//!
//! ```text
//! cargo run --release --features rayon --example add                # 2 x 512 MiB -> 512 MiB
//! cargo run --release --features rayon --example add -- --mib 64    # smaller arrays
//! cargo run --release --features rayon --example add -- --dir DIR   # files in DIR
//! ```
//!
//! Options:
//!
//! - `--dir DIR`: where `a.bin`, `b.bin` and `c.bin` live (default: `target/ndmmap-add`
//!   in the crate's folder). Input files that already hold the right values are reused
//!   and kept, so a second run measures the job with its inputs in the page cache, as the
//!   README says.
//! - `--fresh`: a new temporary folder instead, removed at the end: every run writes its
//!   inputs anew.
//! - `--mib N`: MiB per array (default 512); or `--n ELEMENTS`, elements per array.
//! - `--threads N`: add on a rayon pool of `N` threads (default: rayon's global pool, one
//!   thread per core or `RAYON_NUM_THREADS`).
//! - `--serial`: add with `for_each` instead of `par_for_each`, on the calling thread.
//! - `--in-ram`: the baseline without maps: read `a` and `b` into `Vec<f64>`s, add, write
//!   `c` back with `write_all` and `sync_data`, timing the same three steps.
//! - `--engine`: the same add through ndmmap's out-of-core engine, `ndmmap::chunked::Zip`:
//!   chunk by chunk, reading ahead, writing behind and releasing finished chunks, so the
//!   resident set stays near a few chunks whatever the size (its flush is part of `add`).
//! - `--cold`: drop `a` and `b` from the page cache first (`posix_fadvise(DONTNEED)` on
//!   these files only, untimed), so that the job reads them from the disk.
//!
//! # On a small machine
//!
//! maparray's machine in 2002 had 128 MiB of RAM. To give the job only that much (page cache
//! included), run it inside a memory cgroup (cgroup v1 here, as root; with cgroup v2 write
//! `memory.max` instead):
//!
//! ```text
//! mkdir -p /sys/fs/cgroup/memory/cap128
//! echo 128M > /sys/fs/cgroup/memory/cap128/memory.limit_in_bytes
//! cargo build --release --features rayon --example add
//! sh -c 'echo $$ > /sys/fs/cgroup/memory/cap128/cgroup.procs;
//!        exec target/release/examples/add --dir DIR --cold --engine'
//! ```
//!
//! The engine reads the cgroup's limit itself and sizes its chunks and read-ahead to it;
//! no flag is needed. The benchmark harness runs this job side by side with a plain `Zip`,
//! NumPy memmaps and Dask, cached, cold and under memory caps, and measures the disk in the
//! same run: `python3 benches/harness.py regimes 512M --jobs add` (see `benches/README.md`).
//!
//! Besides the human-readable report, the last line is one JSON object (`job`, `n`,
//! `seconds`, `bytes_moved`, `gb_per_s`, `peak_rss_mib`, `threads`), for scripts.
//!
//! Inputs hold known values, `a[i] = i` and `b[i] = 2 i`, so every result is exactly
//! `c[i] = 3 i` (all are integers below 2^53, exact in `f64`).

// Indices and byte counts become `f64` only for values and reports; all are below 2^53.
#![allow(clippy::cast_precision_loss)]
// The check compares integers held exactly in `f64`.
#![allow(clippy::float_cmp)]

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ndmmap::prelude::*;

// `Send`, so that a job can run inside a rayon pool of `--threads N`.
mod common;

use common::{BoxResult, drop_from_cache, ensure_input, peak_rss_kib, work_dir};

/// Where the job's files live.
enum Folder {
    /// `target/ndmmap-add` in the crate's folder: inputs are reused from run to run.
    Known,
    /// `--dir DIR`.
    Given(PathBuf),
    /// `--fresh`: a temporary folder, removed at the end.
    Fresh,
}

/// What the command line asked for.
#[allow(clippy::struct_excessive_bools, reason = "one switch per command-line flag")]
struct Args {
    folder: Folder,
    n: usize,
    threads: Option<usize>,
    serial: bool,
    in_ram: bool,
    engine: bool,
    cold: bool,
}

fn main() -> BoxResult<()> {
    let args = parse_args()?;
    // A known folder unless `--fresh`, so that the inputs of one run are reused by the next.
    let dir = match &args.folder {
        Folder::Known => Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ndmmap-add")),
        Folder::Given(dir) => Some(dir.clone()),
        Folder::Fresh => None,
    };
    // Keep the temporary folder alive until the end of `main`; dropping it removes it.
    let (_temp, dir) = work_dir(dir.as_deref(), "ndmmap-add-")?;
    let n = args.n;
    let (a_path, b_path, c_path) = (dir.join("a.bin"), dir.join("b.bin"), dir.join("c.bin"));

    // Untimed preparation: the inputs, and no old output (NumPy's `'w+'` truncates it, and
    // `create_file` refuses to replace a file; either way the job starts from nothing).
    let started = Instant::now();
    let wrote_a = ensure_input(&a_path, n, 1.0)?;
    let wrote_b = ensure_input(&b_path, n, 2.0)?;
    match std::fs::remove_file(&c_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    if args.cold {
        drop_from_cache(&a_path)?;
        drop_from_cache(&b_path)?;
    }
    let mib = (n * 8) as f64 / f64::from(1 << 20);
    println!(
        "inputs: {} and {}, {n} f64 each ({mib:.0} MiB), {} in {:.2} s",
        a_path.display(),
        b_path.display(),
        if wrote_a || wrote_b { "written" } else { "reused" },
        started.elapsed().as_secs_f64(),
    );

    let job = if args.in_ram {
        "add-in-ram"
    } else if args.engine {
        if args.serial { "add-engine-serial" } else { "add-engine" }
    } else if args.serial {
        "add-serial"
    } else {
        "add"
    };
    let run = || match job {
        "add-in-ram" => add_in_ram(&a_path, &b_path, &c_path, n),
        "add-engine" | "add-engine-serial" => {
            add_engine(&a_path, &b_path, &c_path, job == "add-engine")
        }
        _ => add_mapped(&a_path, &b_path, &c_path, job == "add"),
    };
    // `par_for_each` uses the pool it runs in: rayon's global one (one thread per core, or
    // `RAYON_NUM_THREADS`), or one of exactly `--threads N`.
    let (times, threads) = match args.threads {
        Some(threads) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            pool.install(|| Ok::<_, Box<dyn std::error::Error + Send + Sync>>((run()?, threads)))?
        }
        None => (run()?, rayon::current_num_threads()),
    };
    report(job, n, &times, if job.ends_with("serial") { 1 } else { threads })
}

/// How long each step took.
struct Times {
    map: Duration,
    add: Duration,
    flush: Duration,
}

/// The job itself: map `a` and `b`, create `c`, `c = a + b`, flush `c`.
fn add_mapped(a_path: &Path, b_path: &Path, c_path: &Path, parallel: bool) -> BoxResult<Times> {
    let t0 = Instant::now();
    // SAFETY: the files live in a folder this program made or was given for its own use;
    // no other process writes or truncates them while they are mapped.
    let a = unsafe { Array1::<f64>::map_file(a_path)? };
    // SAFETY: as above.
    let b = unsafe { Array1::<f64>::map_file(b_path)? };
    // A new file of the same length, zeroed, its blocks reserved on disk (a full disk is
    // an error here, not a crash later).
    // SAFETY: as above.
    let mut c = unsafe { Array1::<f64>::create_file(c_path, a.len())? };
    let t1 = Instant::now();

    // Plain ndarray: the guards are `Zip` operands, so it runs over the mapped pages directly.
    // The kernel reads `a` and `b` from the page cache (or disk) as they are touched.
    if parallel {
        Zip::from(&mut c).and(&a).and(&b).par_for_each(|c, &a, &b| *c = a + b);
    } else {
        Zip::from(&mut c).and(&a).and(&b).for_each(|c, &a, &b| *c = a + b);
    }
    let t2 = Instant::now();

    // Wait until every page of `c` is on disk (`msync`), as NumPy's `c.flush()` does.
    c.flush()?;
    let t3 = Instant::now();

    check(c.as_slice().ok_or("a created 1-D array is contiguous")?)?;
    Ok(Times { map: t1 - t0, add: t2 - t1, flush: t3 - t2 })
}

/// The out-of-core engine: the same add, chunk by chunk, in bounded memory. The engine
/// flushes `c` before it returns, so the flush is part of the `add` time.
fn add_engine(a_path: &Path, b_path: &Path, c_path: &Path, parallel: bool) -> BoxResult<Times> {
    let t0 = Instant::now();
    // SAFETY: as in `add_mapped`.
    let a = unsafe { Array1::<f64>::map_file(a_path)? };
    // SAFETY: as above.
    let b = unsafe { Array1::<f64>::map_file(b_path)? };
    // SAFETY: as above.
    let mut c = unsafe { Array1::<f64>::create_file(c_path, a.len())? };
    let t1 = Instant::now();
    let zip = ndmmap::chunked::Zip::from(&mut c).and(&a).and(&b);
    if parallel {
        zip.par_for_each(|c, &a, &b| *c = a + b)?;
    } else {
        zip.for_each(|c, &a, &b| *c = a + b)?;
    }
    let t2 = Instant::now();
    drop(c);
    // Check through the file, not the map: touching the map would bring its pages back
    // into the resident set that the engine kept small.
    let file = File::open(c_path)?;
    let len = a.len();
    for i in (0..len).step_by(4099).chain(len.checked_sub(1)) {
        let mut bytes = [0u8; 8];
        (&file).seek(SeekFrom::Start(8 * i as u64))?;
        (&file).read_exact(&mut bytes)?;
        let (got, expected) = (f64::from_ne_bytes(bytes), 3.0 * i as f64);
        if got != expected {
            return Err(format!("c[{i}] = {got}, expected {expected}").into());
        }
    }
    Ok(Times { map: t1 - t0, add: t2 - t1, flush: Duration::ZERO })
}

/// The baseline without maps: read both inputs into memory, add, write the sum back.
fn add_in_ram(a_path: &Path, b_path: &Path, c_path: &Path, n: usize) -> BoxResult<Times> {
    let t0 = Instant::now();
    let a = read_f64s(a_path, n)?;
    let b = read_f64s(b_path, n)?;
    let mut c = vec![0.0f64; n];
    let t1 = Instant::now();

    // The same `Zip` as the mapped job, over views of the vectors.
    Zip::from(ArrayViewMut1::from(&mut c[..]))
        .and(ArrayView1::from(&a[..]))
        .and(ArrayView1::from(&b[..]))
        .par_for_each(|c, &a, &b| *c = a + b);
    let t2 = Instant::now();

    let mut file = File::create(c_path)?;
    file.write_all(bytemuck::cast_slice(&c))?;
    file.sync_data()?; // on disk, like the mapped job's flush
    let t3 = Instant::now();

    check(&c)?;
    Ok(Times { map: t1 - t0, add: t2 - t1, flush: t3 - t2 })
}

/// Reads a file of `n` native-endian `f64`s into a vector.
fn read_f64s(path: &Path, n: usize) -> BoxResult<Vec<f64>> {
    let mut values = vec![0.0f64; n];
    File::open(path)?.read_exact(bytemuck::cast_slice_mut(&mut values))?;
    Ok(values)
}

/// Checks `c[i] == 3 i` at every 4099th element and the last one.
fn check(c: &[f64]) -> BoxResult<()> {
    let last = c.len().checked_sub(1);
    for i in (0..c.len()).step_by(4099).chain(last) {
        let expected = 3.0 * i as f64;
        if c[i] != expected {
            return Err(format!("c[{i}] = {}, expected {expected}", c[i]).into());
        }
    }
    Ok(())
}

/// Prints the human report and the JSON line.
fn report(job: &str, n: usize, times: &Times, threads: usize) -> BoxResult<()> {
    let total = times.map + times.add + times.flush;
    let bytes_moved = 3 * 8 * n; // read a, read b, write c
    let gb_per_s = bytes_moved as f64 / total.as_secs_f64() / 1e9;
    let peak_rss_mib = peak_rss_kib()? as f64 / 1024.0;
    let first = if job == "add-in-ram" { "read a, b" } else { "map" };
    let last = if job == "add-in-ram" { "write c" } else { "flush" };
    println!("job {job}: c = a + b over {n} f64, {threads} thread(s)");
    println!("  {first:<10} {:>9.3} s", times.map.as_secs_f64());
    println!("  {:<10} {:>9.3} s", "add", times.add.as_secs_f64());
    println!("  {last:<10} {:>9.3} s", times.flush.as_secs_f64());
    println!("  {:<10} {:>9.3} s   {gb_per_s:.2} GB/s", "total", total.as_secs_f64());
    let counted = if job == "add-in-ram" {
        "three vectors"
    } else {
        "mapped pages count while touched; the kernel may drop clean ones"
    };
    println!("  peak RSS {peak_rss_mib:.1} MiB ({counted})");
    println!("  checked c[i] == 3 i at every 4099th element and the last");
    println!(
        "{{\"job\": \"ndmmap-{job}\", \"n\": {n}, \"seconds\": {}, \"bytes_moved\": {bytes_moved}, \
         \"gb_per_s\": {gb_per_s}, \"peak_rss_mib\": {peak_rss_mib:.1}, \"threads\": {threads}}}",
        total.as_secs_f64()
    );
    Ok(())
}

fn parse_args() -> BoxResult<Args> {
    let mut args = Args {
        folder: Folder::Known,
        n: 512 << 20 >> 3,
        threads: None,
        serial: false,
        in_ram: false,
        engine: false,
        cold: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => args.folder = Folder::Given(PathBuf::from(value()?)),
            "--fresh" => args.folder = Folder::Fresh,
            "--mib" => args.n = value()?.parse::<usize>()? << 20 >> 3,
            "--n" => args.n = value()?.parse()?,
            "--threads" => args.threads = Some(value()?.parse()?),
            "--serial" => args.serial = true,
            "--in-ram" => args.in_ram = true,
            "--engine" => args.engine = true,
            "--cold" => args.cold = true,
            "-h" | "--help" => {
                println!(
                    "usage: add [--dir DIR | --fresh] [--mib N | --n ELEMENTS] [--threads N] [--serial] [--cold] [--engine | --in-ram]"
                );
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {flag:?} (try --help)").into()),
        }
    }
    if args.in_ram && (args.serial || args.engine) {
        return Err("--in-ram excludes --serial and --engine".into());
    }
    if args.threads == Some(0) {
        return Err("--threads needs at least 1".into());
    }
    Ok(args)
}
