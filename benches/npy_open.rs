//! Time to open a `.npy` file with `map_npy` (read the header, check it, map the data) and
//! read its last element, for a 16 GiB file and an 8 KiB one, side by side with NumPy's
//! `np.load(path, mmap_mode='r')` on the same files in the same run.
//!
//! Opening reads only the header and reserves address space, so the time must not grow with
//! the file's size. The 16 GiB file is sparse: a `(2147483648, 1)` `<f8` header (the header
//! `save_npy` writes for `(1, 1)`, with the shape patched in place: NumPy's growth padding
//! keeps the length) and `set_len`, so it takes no disk space. (`create_npy` would reserve
//! 16 GiB of blocks.) No `Throughput`: the work is O(1).
//!
//! After criterion's measurements, a table compares ndmmap and NumPy timed the same way (the
//! best of 7 rounds of 200 opens, per open) and gives the ratio. NumPy is `NDMMAP_PYTHON`,
//! else the crate's `.venv`; without it, only ndmmap is measured.
//!
//! `cargo bench --bench npy_open`

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndmmap::npy;
use ndmmap::prelude::*;

/// Rows of the big file: 2^31 rows of one f64, 16 GiB of data.
const BIG_ROWS: usize = 1 << 31;

/// Writes a sparse `.npy` file of shape `(BIG_ROWS, 1)`, `<f8`, without writing its data.
fn sparse_big(path: &Path) {
    array![[0.0f64]].save_npy(path).expect("save a (1, 1) array");
    let mut bytes = std::fs::read(path).expect("read it back");
    let offset = npy::inspect(path).expect("inspect").data_offset;
    let header_len = usize::try_from(offset).expect("small header");
    bytes.truncate(header_len);
    // Magic string, version and length field (10 bytes), then the ASCII dict.
    let text = String::from_utf8(bytes.split_off(10)).expect("ASCII header");
    let (old, new) = ("(1, 1)", format!("({BIG_ROWS}, 1)"));
    let grown = new.len() - old.len();
    // The growth padding holds the new digits: take them from the spaces before '\n'.
    let spaces = " ".repeat(grown);
    let patched = text.replacen(old, &new, 1).replacen(&format!("{spaces}\n"), "\n", 1);
    bytes.extend_from_slice(patched.as_bytes());
    assert_eq!(bytes.len(), header_len, "the header keeps its length");
    let mut file = File::create(path).expect("create");
    file.write_all(&bytes).expect("write the header");
    file.set_len(offset + (BIG_ROWS * 8) as u64).expect("sparse data");
    let header = npy::inspect(path).expect("inspect the patched header");
    assert_eq!((header.shape.as_slice(), header.data_offset), (&[BIG_ROWS, 1][..], offset));
}

/// The two files: `("16GiB", big)` and `("8KiB", small)`, in `dir`.
fn files(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let big = dir.join("big.npy");
    sparse_big(&big);
    let small = dir.join("small.npy");
    Array2::<f64>::from_shape_fn((1024, 1), |(i, _)| f64::from(u32::try_from(i).unwrap()))
        .save_npy(&small)
        .expect("save the small file");
    vec![("16GiB", big), ("8KiB", small)]
}

/// One open: map, read the last element, unmap.
fn open_and_read_last(path: &Path) -> f64 {
    // SAFETY: the file lives in this bench's own temporary folder; nothing else writes or
    // truncates it.
    let a = unsafe { Array2::<f64>::map_npy(path) }.expect("map_npy");
    a[[a.nrows() - 1, 0]]
}

fn npy_open(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let files = files(dir.path());
    let mut group = c.benchmark_group("npy_open");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (label, path) in &files {
        group.bench_with_input(BenchmarkId::new("map_npy", label), path, |b, path| {
            b.iter(|| black_box(open_and_read_last(path)));
        });
        group.bench_with_input(BenchmarkId::new("inspect", label), path, |b, path| {
            b.iter(|| black_box(npy::inspect(path).expect("inspect").data_offset));
        });
    }
    group.finish();
    side_by_side(&files);
    // The big file must still be sparse: the bench read one page of it.
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(&files[0].1) {
        use std::os::unix::fs::MetadataExt;
        eprintln!("big.npy: {} bytes long, {} bytes on disk", meta.len(), meta.blocks() * 512);
    }
}

/// The best of 7 rounds of 200 opens, per open, in nanoseconds.
fn ndmmap_ns(path: &Path) -> f64 {
    let rounds = (0..7).map(|_| {
        let start = Instant::now();
        for _ in 0..200 {
            black_box(open_and_read_last(path));
        }
        start.elapsed()
    });
    rounds.min().expect("7 rounds").as_secs_f64() * 1e9 / 200.0
}

/// NumPy's time for the same open (`np.load(mmap_mode='r')` and the last element), measured
/// the same way, or `None` without a Python with NumPy.
fn numpy_ns(paths: &[&Path]) -> Option<Vec<f64>> {
    let python = std::env::var_os("NDMMAP_PYTHON").map(PathBuf::from).or_else(|| {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
        venv.exists().then_some(venv)
    })?;
    let script = r"
import sys, timeit
import numpy as np
for path in sys.argv[1:]:
    def open_and_read_last():
        a = np.load(path, mmap_mode='r')
        return a[-1, 0]
    open_and_read_last()
    best = min(timeit.repeat(open_and_read_last, number=200, repeat=7)) / 200
    print(best * 1e9)
";
    let output = Command::new(&python).arg("-c").arg(script).args(paths).output().ok()?;
    if !output.status.success() {
        eprintln!("numpy timing failed:\n{}", String::from_utf8_lossy(&output.stderr));
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    text.lines().map(|line| line.trim().parse().ok()).collect()
}

/// Prints ndmmap's and NumPy's times per open, and their ratios.
fn side_by_side(files: &[(&str, PathBuf)]) {
    let ours: Vec<f64> = files.iter().map(|(_, path)| ndmmap_ns(path)).collect();
    let paths: Vec<&Path> = files.iter().map(|(_, path)| path.as_path()).collect();
    let numpy = numpy_ns(&paths);
    eprintln!("\nopen + read last element, best of 7 x 200, per open:");
    eprintln!("{:8} {:>12} {:>12} {:>14}", "file", "ndmmap", "numpy", "numpy/ndmmap");
    for (i, (label, _)) in files.iter().enumerate() {
        match &numpy {
            Some(numpy) => eprintln!(
                "{label:8} {:>9.1} us {:>9.1} us {:>13.1}x",
                ours[i] / 1e3,
                numpy[i] / 1e3,
                numpy[i] / ours[i]
            ),
            None => eprintln!("{label:8} {:>9.1} us   (no NumPy)", ours[i] / 1e3),
        }
    }
    eprintln!("16GiB/8KiB: ndmmap {:.2}x", ours[0] / ours[1]);
    if let Some(numpy) = &numpy {
        eprintln!("16GiB/8KiB: numpy  {:.2}x", numpy[0] / numpy[1]);
    }
}

criterion_group!(benches, npy_open);
criterion_main!(benches);
