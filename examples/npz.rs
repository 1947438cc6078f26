//! A `.npz` archive with a large stored member: written by ndmmap (streamed from a mapped
//! `.npy`, never held in memory), listed, mapped in place and read; then the latency of
//! opening the archive and mapping the member is set beside NumPy's `np.load(path)[name]`
//! of the same member, which reads it (NumPy ignores `mmap_mode` for archives).
//!
//! ```text
//! cargo run --release --example npz -- [PATH] [MIB]
//! ```
//!
//! Defaults: an archive in a temporary folder, a 64 MiB member. With NumPy at hand
//! (`NDMMAP_PYTHON`, or the crate's `.venv`), NumPy loads the archive too and its time is
//! printed. Both are timed with the archive in the page cache (just written): NumPy's best
//! case.

// MiB and millisecond figures only: precision does not matter.
#![allow(clippy::cast_precision_loss)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ndmmap::npz::{NpzArchive, NpzWriter};
use ndmmap::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir()?;
    let path = args.first().map_or_else(|| dir.path().join("big.npz"), PathBuf::from);
    let mib: usize = args.get(1).map_or(Ok(64), |s| s.parse())?;
    let rows = (mib << 20) / (1024 * size_of::<f32>());

    // The large member comes from a mapped .npy file: it streams into the archive.
    let source = dir.path().join("source.npy");
    // SAFETY: a file in our own temporary folder, which no other process touches.
    let mut big = unsafe { Array2::<f32>::create_npy(&source, (rows, 1024))? };
    for (i, mut row) in big.rows_mut().into_iter().enumerate() {
        row.fill((i % 1000) as f32);
    }
    let started = Instant::now();
    let mut writer = NpzWriter::create(&path)?;
    writer.add("labels", &Array1::from_iter(0..u32::try_from(rows)?))?;
    writer.add("big", &big)?;
    writer.add_compressed("meta", &array![1.0f64, 2.0, 3.0])?;
    writer.finish()?;
    drop(big);
    std::fs::remove_file(&source)?;
    println!("wrote {} ({mib} MiB member) in {:.2?}", path.display(), started.elapsed());

    // Open, list, map (median of several runs: the figure is small and the machine noisy).
    let mut times = Vec::new();
    let mut total = 0.0f64;
    for _ in 0..9 {
        let started = Instant::now();
        let archive = NpzArchive::open(&path)?;
        // SAFETY: as above: only this process uses the archive, and it does not write it.
        let big = unsafe { archive.map::<f32, Ix2>("big")? };
        times.push(started.elapsed());
        total = f64::from(big[[rows - 1, 0]]);
    }
    times.sort();
    let map_time = times[times.len() / 2];
    let archive = NpzArchive::open(&path)?;
    for member in archive.members() {
        println!(
            "  {:8} {:5} {:?} {:?} {} offset {:?}",
            member.name,
            member.descr,
            member.shape,
            member.compression,
            if member.fortran_order { "F" } else { "C" },
            member.data_offset
        );
    }
    println!("last row starts with {total}");
    println!("ndmmap open + map of {mib} MiB member: {map_time:.2?} (median of 9)");

    // Reading it all (what NumPy does), for comparison.
    let started = Instant::now();
    let owned = archive.read::<f32, Ix2>("big")?;
    println!("ndmmap read of the member: {:.2?} ({} elements)", started.elapsed(), owned.len());
    drop(owned);

    if let Some(numpy) = numpy_load_time(&path) {
        println!("NumPy np.load(path)['big']: {numpy}");
    }
    Ok(())
}

/// NumPy's time to load the member, median of 3, as printed by Python; `None` without
/// NumPy.
fn numpy_load_time(path: &Path) -> Option<String> {
    let python = std::env::var_os("NDMMAP_PYTHON").map(PathBuf::from).or_else(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
        venv.exists().then_some(venv)
    })?;
    let script = "import sys, time, numpy as np\n\
                  ts = []\n\
                  for _ in range(3):\n\
                  \x20   t = time.perf_counter()\n\
                  \x20   with np.load(sys.argv[1], mmap_mode='r') as z: a = z['big']\n\
                  \x20   ts.append(time.perf_counter() - t)\n\
                  print(f'{sorted(ts)[1] * 1e3:.1f} ms (median of 3; {type(a).__name__}, {a.nbytes >> 20} MiB read)')";
    let output = Command::new(python).args(["-c", script]).arg(path).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
