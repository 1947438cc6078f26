//! Helpers shared by the whole-file examples (`add`, `out_of_core`, `gram`, `standardize`):
//! the input files they use, the matrix examples' command line, and the process's memory
//! figures. Not an example itself (Cargo builds only
//! `examples/*.rs` and `examples/*/main.rs`).

// Each example uses only some of these helpers.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ndmmap::prelude::*;

/// The examples' error type: any error, sendable between threads.
pub(crate) type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Writes `path` as `n` f64s with `x[i] = scale * i`, unless it already holds them (checked
/// by size and a few elements). Returns whether it wrote.
pub(crate) fn ensure_input(path: &Path, n: usize, scale: f64) -> BoxResult<bool> {
    const CHUNK: usize = 1 << 20; // elements per write: 8 MiB
    if holds_input(path, n, scale)? {
        return Ok(false);
    }
    let mut file = File::create(path)?;
    let mut chunk = Vec::with_capacity(CHUNK);
    for start in (0..n).step_by(CHUNK) {
        chunk.clear();
        chunk.extend((start..n.min(start + CHUNK)).map(|i| scale * i as f64));
        file.write_all(bytemuck::cast_slice(&chunk))?;
    }
    // On disk before the timed job starts, so its write-back cannot compete with `c`'s.
    file.sync_all()?;
    Ok(true)
}

/// Whether `path` has the size of `n` f64s and holds `scale * i` at a few places.
pub(crate) fn holds_input(path: &Path, n: usize, scale: f64) -> BoxResult<bool> {
    let Ok(file) = File::open(path) else { return Ok(false) };
    if file.metadata()?.len() != 8 * n as u64 {
        return Ok(false);
    }
    for i in [0, 1, n / 2, n.saturating_sub(1)] {
        if i >= n {
            continue;
        }
        let mut bytes = [0u8; 8];
        (&file).seek(SeekFrom::Start(8 * i as u64))?;
        (&file).read_exact(&mut bytes)?;
        if f64::from_ne_bytes(bytes) != scale * i as f64 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A field of `/proc/self/status` or `/proc/meminfo`, in KiB.
pub(crate) fn proc_kib(file: &str, field: &str) -> BoxResult<u64> {
    let text = std::fs::read_to_string(file)?;
    let line = text.lines().find(|l| l.starts_with(field)).ok_or("no such field")?;
    Ok(line[field.len()..].trim().trim_end_matches("kB").trim().parse()?)
}

/// The process's peak resident set size (`VmHWM`), in KiB.
pub(crate) fn peak_rss_kib() -> BoxResult<u64> {
    proc_kib("/proc/self/status", "VmHWM:")
}

/// The folder for the job's files: `dir` (made if missing, kept afterwards), or a fresh
/// temporary folder named `prefix…`, removed when the returned guard drops: keep it alive
/// until the end of `main`.
pub(crate) fn work_dir(
    dir: Option<&Path>,
    prefix: &str,
) -> BoxResult<(Option<tempfile::TempDir>, PathBuf)> {
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
        return Ok((None, dir.to_path_buf()));
    }
    let temp = tempfile::Builder::new().prefix(prefix).tempdir()?;
    let dir = temp.path().to_path_buf();
    Ok((Some(temp), dir))
}

/// Writes back and drops `path`'s pages from the page cache (`POSIX_FADV_DONTNEED`), so
/// that the next reads come from the disk. Needs no privileges, unlike `drop_caches`. Where
/// the call does not exist (macOS, Windows) the pages stay cached: the run is then warm.
pub(crate) fn drop_from_cache(path: &Path) -> BoxResult<()> {
    let file = File::open(path)?;
    file.sync_data()?;
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
    Ok(())
}

/// The command line of the matrix examples (`gram`, `standardize`), which work on a tall
/// `x.npy` of f64: `--dir DIR`, `--mib N`, `--cols N`, `--help`.
pub(crate) struct MatrixArgs {
    /// The folder to keep `x.npy` in (and reuse it from), or `None` for a temporary one.
    pub(crate) dir: Option<PathBuf>,
    /// The size of `x` in MiB.
    pub(crate) mib: usize,
    /// The columns of `x` (at least 1).
    pub(crate) cols: usize,
}

impl MatrixArgs {
    /// The options of example `name` from the command line, with `cols` columns unless
    /// `--cols` says otherwise; prints the usage and exits on `--help`.
    pub(crate) fn parse(name: &str, cols: usize) -> BoxResult<Self> {
        let mut parsed = Self { dir: None, mib: 1024, cols };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--dir" => parsed.dir = Some(PathBuf::from(value()?)),
                "--mib" => parsed.mib = value()?.parse()?,
                "--cols" => parsed.cols = value()?.parse()?,
                "--help" | "-h" => {
                    println!(
                        "usage: {name} [--dir DIR] [--mib N] [--cols N]\n\
                         \x20 --dir DIR  keep x.npy in DIR and reuse it (default: a temporary folder)\n\
                         \x20 --mib N    size of x in MiB (default: 1024)\n\
                         \x20 --cols N   columns of x (default: {cols})"
                    );
                    std::process::exit(0);
                }
                _ => {
                    let hint = "try --dir, --mib, --cols, --help";
                    return Err(format!("unknown argument {flag:?} ({hint})").into());
                }
            }
        }
        if parsed.cols == 0 {
            return Err("--cols needs at least 1".into());
        }
        Ok(parsed)
    }

    /// The rows of `x`: as many as fit in `mib` MiB.
    pub(crate) fn rows(&self) -> usize {
        (self.mib << 20) / (8 * self.cols)
    }
}

/// Makes `path` a `rows x cols` f64 `.npy` holding `x[i, j] = value(i, j)`, written chunk by
/// chunk through the engine, unless it already has that shape (made by an earlier run).
/// Returns whether it was reused.
pub(crate) fn ensure_matrix(
    path: &Path,
    (rows, cols): (usize, usize),
    value: impl Fn(usize, usize) -> f64,
) -> BoxResult<bool> {
    if ndmmap::npy::inspect(path).is_ok_and(|h| h.shape == [rows, cols]) {
        return Ok(true);
    }
    let _ = std::fs::remove_file(path);
    // SAFETY: the examples' files live in a folder the program made or was given for its
    // own use; no other process writes or truncates them while they are mapped.
    let mut x = unsafe { Array2::<f64>::create_npy(path, (rows, cols))? };
    ndmmap::chunked::Zip::indexed(&mut x).for_each(|(i, j), x| *x = value(i, j))?;
    Ok(false)
}
