//! Helpers shared by the whole-file examples (`add`, `out_of_core`): the input files both
//! use, and the process's memory figures. Not an example itself (Cargo builds only
//! `examples/*.rs` and `examples/*/main.rs`).

// Each example uses only some of these helpers.
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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
        file.read_exact_at(&mut bytes, 8 * i as u64)?;
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
/// that the next reads come from the disk. Needs no privileges, unlike `drop_caches`.
pub(crate) fn drop_from_cache(path: &Path) -> BoxResult<()> {
    let file = File::open(path)?;
    file.sync_data()?;
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
    Ok(())
}
