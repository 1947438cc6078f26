//! `c = a + b` on `f64` files as large as you like, in bounded memory, with the out-of-core
//! engine ([`ndmmap::chunked::Zip`]), measured against the disk it runs on.
//!
//! ```text
//! cargo run --release --features rayon --example out_of_core                    # 3 x 1 GiB
//! cargo run --release --features rayon --example out_of_core -- --gib 10 --cold # > RAM
//! cargo run --release --features rayon --example out_of_core -- --mib 256 --plain
//! ```
//!
//! Options:
//!
//! - `--dir DIR`: where `a.bin`, `b.bin` and `c.bin` live (the same names and contents as
//!   `examples/add.rs`, so the two share files). Inputs of the right size are reused and
//!   kept. Without it, a fresh temporary folder is made and removed at the end.
//! - `--gib N` / `--mib N` (whole numbers) / `--n ELEMENTS`: the size of each array (default 1 GiB).
//! - `--chunk-mib N`: the engine's chunk size (default: the engine's own default).
//! - `--no-read-ahead`, `--no-write-behind`, `--no-release`, `--no-evict`: turn one of the engine's
//!   policies off, to see what it is worth.
//! - `--plain`: the baseline: a plain ndarray `Zip` over the same maps, then `flush`.
//! - `--serial`: one thread (`for_each`); otherwise, with the `rayon` feature, rayon's pool
//!   (`RAYON_NUM_THREADS` sets its size).
//! - `--cold`: drop `a` and `b` from the page cache first (`posix_fadvise(DONTNEED)` on
//!   these files only), so they are read from the disk, as they would be if larger than RAM.
//! - `--probe-mib N`: size of the file used to measure the disk (default: one array, at
//!   most 2 GiB); `--no-probe` skips the measurement.
//!
//! The disk's sequential bandwidth is measured in the same run: a probe file is written
//! with plain `write`s and `fdatasync`, dropped from the page cache, and read back. From it
//! the report gives the time the disk alone needs for the job (reading `a` and `b` when
//! cold, writing `c` always, since `c` is flushed) and the job's share of that bandwidth.
//!
//! Besides the report, the last line is one JSON object in the format of `examples/add.rs`
//! (plus `disk_write_gb_s` and `disk_read_gb_s` when the disk was measured), for scripts.

// Sizes become `f64` only for reports and values; all are below 2^53.
#![allow(clippy::cast_precision_loss)]
// The check compares integers held exactly in `f64`.
#![allow(clippy::float_cmp)]

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndmmap::prelude::*;

mod common;

use common::{BoxResult, drop_from_cache, ensure_input, peak_rss_kib, proc_kib, work_dir};

/// What the command line asked for (flags are plain switches, hence the bools).
#[allow(clippy::struct_excessive_bools)]
struct Args {
    dir: Option<PathBuf>,
    n: usize,
    chunk: Option<usize>,
    /// Engine settings turned off by `--no-read-ahead`, `--no-write-behind`, `--no-release`,
    /// `--no-evict`.
    read_ahead: bool,
    write_behind: bool,
    release: bool,
    evict: bool,
    plain: bool,
    serial: bool,
    cold: bool,
    probe: Option<usize>,
}

fn main() -> BoxResult<()> {
    let args = parse_args()?;
    // Keep the temporary folder alive until the end of `main`; dropping it removes it.
    let (_temp, dir) = work_dir(args.dir.as_deref(), "ndmmap-ooc-")?;
    let n = args.n;
    let bytes = 8 * n;
    let (a_path, b_path, c_path) = (dir.join("a.bin"), dir.join("b.bin"), dir.join("c.bin"));
    let ram = mem_total_bytes()?;
    println!(
        "arrays: 3 x {} ({n} f64 each), {} in all; RAM {}{}",
        size(bytes),
        size(3 * bytes),
        size(ram),
        if 3 * bytes as u64 > ram { " (the job exceeds RAM)" } else { "" }
    );

    let started = Instant::now();
    let wrote = ensure_input(&a_path, n, 1.0)? | ensure_input(&b_path, n, 2.0)?;
    remove_if_there(&c_path)?;
    println!(
        "inputs {} in {:.1} s",
        if wrote { "written" } else { "reused" },
        started.elapsed().as_secs_f64()
    );

    let disk = match args.probe {
        Some(probe) => Some(measure_disk(&dir.join("probe.bin"), probe)?),
        None => None,
    };
    if args.cold {
        drop_from_cache(&a_path)?;
        drop_from_cache(&b_path)?;
        println!("a and b dropped from the page cache: they are read from the disk");
    }

    let threads = if args.serial || cfg!(not(feature = "rayon")) { 1 } else { rayon_threads() };
    let job = if args.plain { "plain" } else { "chunked" };
    let t0 = Instant::now();
    if args.plain {
        add_plain(&a_path, &b_path, &c_path, args.serial)?;
    } else {
        add_chunked(&a_path, &b_path, &c_path, &args)?;
    }
    let seconds = t0.elapsed().as_secs_f64();
    check(&c_path, n)?;

    let moved = 3 * bytes;
    let gb_per_s = moved as f64 / seconds / 1e9;
    let peak_rss_mib = peak_rss_kib()? as f64 / 1024.0;
    println!(
        "job {job}: c = a + b, flushed, {threads} thread(s){}",
        args.chunk.map(|c| format!(", {} chunks", size(c))).unwrap_or_default()
    );
    println!("  time      {seconds:9.3} s   {gb_per_s:.2} GB/s (3 x {} moved)", size(bytes));
    println!("  peak RSS  {peak_rss_mib:9.1} MiB");
    if let Some(disk) = disk {
        // What the disk alone needs: writing c, and reading a and b if they are not cached.
        let read = if args.cold { 2.0 * bytes as f64 / disk.read } else { 0.0 };
        let disk_seconds = read + bytes as f64 / disk.write;
        println!(
            "  disk      write {:.2} GB/s, read {:.2} GB/s (probe of {}): the job needs {:.3} s \
             of disk time, {:.0}% of its sequential bandwidth used",
            disk.write / 1e9,
            disk.read / 1e9,
            size(disk.bytes),
            disk_seconds,
            100.0 * disk_seconds / seconds
        );
    }
    println!("  checked c[i] == 3 i at every 4099th element and the last");
    // The disk's figures, when measured, as two more keys.
    let disk_keys = disk.map_or(String::new(), |d| {
        format!(", \"disk_write_gb_s\": {}, \"disk_read_gb_s\": {}", d.write / 1e9, d.read / 1e9)
    });
    println!(
        "{{\"job\": \"ndmmap-{job}-add{}\", \"n\": {n}, \"seconds\": {seconds}, \
         \"bytes_moved\": {moved}, \"gb_per_s\": {gb_per_s}, \"peak_rss_mib\": {peak_rss_mib:.1}\
         {disk_keys}}}",
        if args.cold { "-cold" } else { "" }
    );
    Ok(())
}

/// The engine: map, create, `c = a + b` chunk by chunk with a progress bar; flushed.
fn add_chunked(a_path: &Path, b_path: &Path, c_path: &Path, args: &Args) -> BoxResult<()> {
    // SAFETY: the files live in a folder this program made or was given for its own use;
    // no other process writes or truncates them while they are mapped.
    let a = unsafe { Array1::<f64>::map_file(a_path)? };
    // SAFETY: as above.
    let b = unsafe { Array1::<f64>::map_file(b_path)? };
    // SAFETY: as above.
    let mut c = unsafe { Array1::<f64>::create_file(c_path, a.len())? };
    let started = Instant::now();
    let mut shown = 0;
    let mut zip = ndmmap::chunked::Zip::from(&mut c).and(&a).and(&b).progress(|done, total| {
        // Bytes of the three arrays done, and in all.
        let percent = usize::try_from(done * 100 / total.max(1)).unwrap_or(100);
        if percent > shown || done == total {
            shown = percent;
            let rate = done as f64 / started.elapsed().as_secs_f64() / 1e9;
            let bar = "#".repeat(percent / 5) + &".".repeat(20 - percent / 5);
            eprint!("\r  [{bar}] {percent:3}%  {rate:.2} GB/s  RSS {} MiB ", rss_kib() / 1024);
        }
    });
    if let Some(bytes) = args.chunk {
        zip = zip.chunk_bytes(bytes);
    }
    zip = zip
        .read_ahead(args.read_ahead)
        .write_behind(args.write_behind)
        .release_after_use(args.release)
        .evict_after_write(args.evict);
    if args.serial || cfg!(not(feature = "rayon")) {
        zip.for_each(|c, &a, &b| *c = a + b)?;
    } else {
        #[cfg(feature = "rayon")]
        zip.par_for_each(|c, &a, &b| *c = a + b)?;
    }
    eprintln!();
    Ok(())
}

/// The baseline: a plain ndarray `Zip` over the same maps, then `flush`.
fn add_plain(a_path: &Path, b_path: &Path, c_path: &Path, serial: bool) -> BoxResult<()> {
    // SAFETY: as in `add_chunked`.
    let a = unsafe { Array1::<f64>::map_file(a_path)? };
    // SAFETY: as above.
    let b = unsafe { Array1::<f64>::map_file(b_path)? };
    // SAFETY: as above.
    let mut c = unsafe { Array1::<f64>::create_file(c_path, a.len())? };
    if serial || cfg!(not(feature = "rayon")) {
        Zip::from(&mut c).and(&a).and(&b).for_each(|c, &a, &b| *c = a + b);
    } else {
        #[cfg(feature = "rayon")]
        Zip::from(&mut c).and(&a).and(&b).par_for_each(|c, &a, &b| *c = a + b);
    }
    c.flush()?;
    Ok(())
}

/// Checks `c[i] == 3 i` at every 4099th element and the last, reading the file itself.
fn check(c_path: &Path, n: usize) -> BoxResult<()> {
    let file = File::open(c_path)?;
    let last = n.checked_sub(1);
    for i in (0..n).step_by(4099).chain(last) {
        let mut bytes = [0u8; 8];
        (&file).seek(SeekFrom::Start(8 * i as u64))?;
        (&file).read_exact(&mut bytes)?;
        let (got, expected) = (f64::from_ne_bytes(bytes), 3.0 * i as f64);
        if got != expected {
            return Err(format!("c[{i}] = {got}, expected {expected}").into());
        }
    }
    Ok(())
}

/// The disk's sequential bandwidth, in bytes per second.
#[derive(Clone, Copy)]
struct Disk {
    bytes: usize,
    write: f64,
    read: f64,
}

/// Writes `bytes` to `path` in 8 MiB `write`s and `fdatasync`s, drops it from the page
/// cache, reads it back in 8 MiB `read`s, and removes it.
fn measure_disk(path: &Path, bytes: usize) -> BoxResult<Disk> {
    const BLOCK: usize = 8 << 20;
    let block: Vec<u8> = (0..=250u8).cycle().take(BLOCK).collect();
    let t0 = Instant::now();
    let mut file = File::create(path)?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(BLOCK);
        file.write_all(&block[..n])?;
        left -= n;
    }
    file.sync_data()?;
    let write = bytes as f64 / t0.elapsed().as_secs_f64();
    drop(file);
    drop_from_cache(path)?;
    let t1 = Instant::now();
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; BLOCK];
    let mut read_bytes = 0;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        read_bytes += n;
    }
    let read = read_bytes as f64 / t1.elapsed().as_secs_f64();
    std::fs::remove_file(path)?;
    Ok(Disk { bytes, write, read })
}

fn remove_if_there(path: &Path) -> BoxResult<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

fn rss_kib() -> u64 {
    proc_kib("/proc/self/status", "VmRSS:").unwrap_or(0)
}

fn mem_total_bytes() -> BoxResult<u64> {
    Ok(proc_kib("/proc/meminfo", "MemTotal:")? * 1024)
}

/// The size of rayon's global pool: `RAYON_NUM_THREADS` if set, else one per core.
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

fn size(bytes: impl TryInto<u64>) -> String {
    let bytes = bytes.try_into().unwrap_or(u64::MAX) as f64;
    if bytes >= f64::from(1 << 30) {
        format!("{:.2} GiB", bytes / f64::from(1 << 30))
    } else {
        format!("{:.0} MiB", bytes / f64::from(1 << 20))
    }
}

fn parse_args() -> BoxResult<Args> {
    let mut args = Args {
        dir: None,
        n: 1 << 27,
        chunk: None,
        read_ahead: true,
        write_behind: true,
        release: true,
        evict: true,
        plain: false,
        serial: false,
        cold: false,
        probe: Some(0),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            "--gib" => args.n = value()?.parse::<usize>()? << 27,
            "--mib" => args.n = value()?.parse::<usize>()? << 17,
            "--n" => args.n = value()?.parse()?,
            "--chunk-mib" => args.chunk = Some(value()?.parse::<usize>()? << 20),
            "--no-read-ahead" => args.read_ahead = false,
            "--no-write-behind" => args.write_behind = false,
            "--no-release" => args.release = false,
            "--no-evict" => args.evict = false,
            "--plain" => args.plain = true,
            "--serial" => args.serial = true,
            "--cold" => args.cold = true,
            "--probe-mib" => args.probe = Some(value()?.parse::<usize>()? << 20),
            "--no-probe" => args.probe = None,
            "-h" | "--help" => {
                println!(
                    "usage: out_of_core [--dir DIR] [--gib N | --mib N | --n ELEMENTS] \
                     [--chunk-mib N] [--no-read-ahead] [--no-write-behind] [--no-release] [--no-evict] [--plain] [--serial] [--cold] [--probe-mib N | --no-probe]"
                );
                std::process::exit(0);
            }
            _ => return Err(format!("unknown argument {flag:?} (try --help)").into()),
        }
    }
    if args.probe == Some(0) {
        args.probe = Some((8 * args.n).clamp(64 << 20, 2 << 30));
    }
    Ok(args)
}
