//! A `.safetensors` file with a large tensor: written by ndmmap (streamed from a mapped
//! file, never held in memory), listed, mapped in place and read; then the latency of
//! opening the file and mapping the tensor is set beside Python's `safetensors` loaders of
//! the same tensor, which read it: `safetensors.numpy.load_file(path)` (every tensor) and
//! `safe_open(path, framework="numpy").get_tensor(name)` (one).
//!
//! ```text
//! cargo run --release --example safetensors -- [PATH] [MIB]
//! ```
//!
//! Defaults: a file in a temporary folder, a 64 MiB tensor. With Python's `safetensors` at
//! hand (`NDMMAP_PYTHON`, or the crate's `.venv`), Python loads the file too and its times
//! are printed. All are timed with the file in the page cache (just written): Python's
//! best case.

// Row numbers below 1000 as f32 (exact), compared exactly.
#![allow(clippy::cast_precision_loss, clippy::float_cmp)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ndmmap::prelude::*;
use ndmmap::safetensors::{SafeTensorsFile, SafeTensorsWriter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir()?;
    let path = args.first().map_or_else(|| dir.path().join("model.safetensors"), PathBuf::from);
    let mib: usize = args.get(1).map_or(Ok(64), |s| s.parse())?;
    let rows = (mib << 20) / (1024 * size_of::<f32>());

    // The large tensor comes from a mapped scratch file: it streams into the new file.
    let scratch = dir.path().join("scratch.bin");
    // SAFETY: a file in our own temporary folder, which no other process touches.
    let mut big = unsafe { Array2::<f32>::create_file(&scratch, (rows, 1024))? };
    for (i, mut row) in big.rows_mut().into_iter().enumerate() {
        row.fill((i % 1000) as f32);
    }
    let bias = Array1::<f32>::from_elem(1024, 0.5);
    let ids = Array1::from_iter(0..i64::try_from(rows)?);
    let started = Instant::now();
    let mut writer = SafeTensorsWriter::new(&path);
    writer.add("big", &big)?;
    writer.add("bias", &bias)?;
    writer.add("ids", &ids)?;
    writer.metadata("format", "np")?;
    writer.finish()?;
    drop(big);
    std::fs::remove_file(&scratch)?;
    println!("wrote {} ({mib} MiB tensor) in {:.2?}", path.display(), started.elapsed());

    // Open, list, map (median of several runs: the figure is small and the machine noisy).
    let mut times = Vec::new();
    let mut last = 0.0f32;
    for _ in 0..9 {
        let started = Instant::now();
        let file = SafeTensorsFile::open(&path)?;
        // SAFETY: as above: only this process uses the file, and it does not write it.
        let big = unsafe { file.map::<f32, Ix2>("big")? };
        times.push(started.elapsed());
        last = big[[rows - 1, 0]];
    }
    times.sort();
    let map_time = times[times.len() / 2];
    let file = SafeTensorsFile::open(&path)?;
    for t in file.tensors() {
        println!("  {:5} {:4} {:?} bytes {:?}", t.name, t.dtype, t.shape, t.file_range());
    }
    if last != ((rows - 1) % 1000) as f32 {
        return Err(format!("the last row starts with {last}, not {}", (rows - 1) % 1000).into());
    }
    println!("ndmmap open + map of the {mib} MiB tensor: {map_time:.2?} (median of 9)");

    // Reading it all (what Python does), for comparison.
    let started = Instant::now();
    let owned = file.read::<f32, Ix2>("big")?;
    println!("ndmmap read of the tensor: {:.2?} ({} elements)", started.elapsed(), owned.len());
    drop(owned);

    if let Some(times) = python_load_times(&path) {
        println!("{times}");
    }
    Ok(())
}

/// Python's times to load the tensor, median of 3, as printed by Python; `None` without
/// Python's `safetensors`.
fn python_load_times(path: &Path) -> Option<String> {
    let python = std::env::var_os("NDMMAP_PYTHON").map(PathBuf::from).or_else(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
        venv.exists().then_some(venv)
    })?;
    let script = "import sys, time\n\
                  from safetensors import safe_open\n\
                  from safetensors.numpy import load_file\n\
                  def median(f):\n\
                  \x20   ts = []\n\
                  \x20   for _ in range(3):\n\
                  \x20       t = time.perf_counter(); a = f(); ts.append(time.perf_counter() - t)\n\
                  \x20   return sorted(ts)[1] * 1e3, a\n\
                  ms, a = median(lambda: load_file(sys.argv[1])['big'])\n\
                  print(f'Python load_file(path)[\"big\"]: {ms:.1f} ms (median of 3; {a.nbytes >> 20} MiB read)')\n\
                  def one():\n\
                  \x20   with safe_open(sys.argv[1], framework='numpy') as f: return f.get_tensor('big')\n\
                  ms, a = median(one)\n\
                  print(f'Python safe_open(path).get_tensor(\"big\"): {ms:.1f} ms (median of 3; {a.nbytes >> 20} MiB read)')";
    let output = Command::new(python).args(["-c", script]).arg(path).output().ok()?;
    if !output.status.success() {
        eprintln!("Python failed: {}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
