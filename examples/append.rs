//! A growing log: rows of 128 `f32` appended in batches to a `.npy` file (or a raw file),
//! with the throughput, the peak memory and the final shape printed; NumPy loads the result.
//!
//! ```text
//! cargo run --release --example append -- [PATH] [TOTAL_MIB] [BATCH_MIB] [npy|npy-nosync|raw]
//! ```
//!
//! Defaults: a file in a temporary folder, 256 MiB in all, 1 MiB batches, `.npy`. Each
//! `.npy` append waits until its rows are on disk before it rewrites the header, so even a
//! power loss leaves a file NumPy loads; `npy-nosync` skips that wait
//! ([`set_sync_on_grow(false)`](ndmmap::MmapArrayMut::set_sync_on_grow)) and relies on
//! `close`, as a raw log does. The last line, `RESULT ...`, is for `benches/harness.py append`.
//!
//! With NumPy at hand (`NDMMAP_PYTHON`, or the crate's `.venv`), the example finally checks
//! the file with `np.load(path, mmap_mode='r')` (unless `NDMMAP_APPEND_NO_CHECK` is set).

// Sample values and MiB figures only: precision does not matter.
#![allow(clippy::cast_precision_loss)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ndmmap::prelude::*;

const WIDTH: usize = 128;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir()?;
    let path = args.first().map_or_else(|| dir.path().join("log.npy"), PathBuf::from);
    let total_mib: usize = args.get(1).map_or(Ok(256), |s| s.parse())?;
    let batch_mib: usize = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let kind = args.get(3).map_or("npy", String::as_str);
    let npy = kind != "raw";

    let row_bytes = WIDTH * size_of::<f32>();
    let batch_rows = (batch_mib << 20) / row_bytes;
    let batches = total_mib / batch_mib;
    // One batch of data, changed before each append so that every row differs.
    let mut batch =
        Array2::<f32>::from_shape_fn((batch_rows, WIDTH), |(i, j)| (i * WIDTH + j) as f32);

    let start = Instant::now();
    let options = ndmmap::npy::NpyOptions::new().overwrite(true);
    let mut log = if npy {
        // SAFETY: this program is the only one that touches the file while it runs.
        unsafe { Array2::<f32>::create_npy_with(&path, (0, WIDTH), &options)? }
    } else {
        let options = MapOptions::new().overwrite(true);
        // SAFETY: as above.
        unsafe { Array2::<f32>::create_file_with(&path, (0, WIDTH), &options)? }
    };
    log.set_sync_on_grow(kind == "npy");
    for b in 0..batches {
        batch.column_mut(0).fill(b as f32);
        log.append(batch.view())?;
    }
    let appended = start.elapsed();
    let shape = log.shape().to_vec();
    log.close()?;
    let total = start.elapsed();

    let mib = (batches * batch_rows * row_bytes) as f64 / f64::from(1 << 20);
    println!("file        {}", path.display());
    println!("final shape {shape:?} ({mib:.0} MiB of f32, {batches} batches of {batch_rows} rows)");
    println!(
        "appending   {:.2} s, {:.0} MiB/s; with close (flush, trim): {:.2} s, {:.0} MiB/s",
        appended.as_secs_f64(),
        mib / appended.as_secs_f64(),
        total.as_secs_f64(),
        mib / total.as_secs_f64()
    );
    if let Some(memory) = peak_memory() {
        println!("memory      {memory}");
    }
    if npy && std::env::var_os("NDMMAP_APPEND_NO_CHECK").is_none() {
        numpy_load(&path, &shape);
    }
    println!("RESULT mib={mib:.0} seconds={:.3}", total.as_secs_f64());
    Ok(())
}

/// The process's peak resident set and its anonymous and file-backed parts now (Linux).
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).map(|l| l[name.len()..].trim().to_owned())
    };
    Some(format!(
        "peak RSS {}, anonymous now {}, file-backed now {}",
        field("VmHWM:")?,
        field("RssAnon:")?,
        field("RssFile:")?
    ))
}

/// Loads the file with NumPy, if there is a Python with NumPy, and prints what it sees.
fn numpy_load(path: &Path, shape: &[usize]) {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let python = std::env::var_os("NDMMAP_PYTHON")
        .map(PathBuf::from)
        .or_else(|| venv.exists().then_some(venv));
    let Some(python) = python else {
        println!("numpy       (no NDMMAP_PYTHON or .venv: not checked)");
        return;
    };
    let script = "import sys, numpy as np\n\
                  a = np.load(sys.argv[1], mmap_mode='r')\n\
                  print(a.shape, a.dtype, float(a[-1, -1]))";
    match Command::new(&python).args(["-c", script]).arg(path).output() {
        Ok(out) if out.status.success() => {
            print!("numpy       loads {}", String::from_utf8_lossy(&out.stdout));
            assert!(
                String::from_utf8_lossy(&out.stdout)
                    .starts_with(&format!("({}, {})", shape[0], shape[1]))
            );
        }
        Ok(out) => println!("numpy       failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => println!("numpy       cannot run {}: {e}", python.display()),
    }
}
