//! `fetch_add` throughput on shared maps against an in-process `Vec<AtomicU64>`.
//!
//! ```text
//! cargo bench --bench atomics
//! ```
//!
//! - `fetch_add/uncontended`: 1024 `Relaxed` adds spread over 1024 cells per iteration, by
//!   one thread, on a `Vec<AtomicU64>` (`heap`), an anonymous shared map, a file in the
//!   temporary folder, and a file on tmpfs (`/dev/shm`).
//! - `fetch_add/contended`: 1024 adds on one cache line (8 cells) while another party
//!   hammers the same line: a second thread on the `Vec` (`heap_2_threads`), or a second
//!   *process* mapping the same file (`map_2_processes`; this bench binary spawns itself
//!   with `NDMMAP_BENCH_HAMMER` set).

use std::hint::black_box;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use ndarray::ArrayView1;
use ndmmap::prelude::*;

const HAMMER_ENV: &str = "NDMMAP_BENCH_HAMMER";
const OPS: usize = 1024;
/// Cells of the contended file: one cache line of counters, then (a line away) the flags.
const LINE: usize = 8;
const READY: usize = 2 * LINE;
const STOP: usize = 3 * LINE;

fn adds(cells: &ArrayView1<'_, AtomicU64>) {
    for cell in cells {
        cell.fetch_add(1, Relaxed);
    }
}

fn adds_slice(cells: &[AtomicU64]) {
    for cell in cells {
        cell.fetch_add(1, Relaxed);
    }
}

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("fetch_add/uncontended");
    group.throughput(Throughput::Elements(OPS as u64));

    let heap: Vec<AtomicU64> = (0..OPS).map(|_| AtomicU64::new(0)).collect();
    group
        .bench_function(BenchmarkId::new("heap", OPS), |b| b.iter(|| adds_slice(black_box(&heap))));

    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        let mut anon = MmapArrayMut::<u64, Ix1>::anonymous(OPS).expect("anonymous map");
        let atomic = anon.atomic_view().expect("atomic view");
        group.bench_function(BenchmarkId::new("anonymous", OPS), |b| {
            b.iter(|| adds(black_box(&atomic)));
        });
    }

    let dir = tempfile::tempdir().expect("temporary folder");
    let mut folders = vec![("tempdir", dir.path().to_path_buf())];
    let shm = Path::new("/dev/shm");
    let shm_dir = shm.is_dir().then(|| tempfile::tempdir_in(shm).expect("folder in /dev/shm"));
    if let Some(shm_dir) = &shm_dir {
        folders.push(("dev_shm", shm_dir.path().to_path_buf()));
    }
    for (name, folder) in folders {
        // SAFETY: only this process maps the fresh file.
        let mut map =
            unsafe { Array1::<u64>::create_file(folder.join("counts"), OPS) }.expect("create");
        let atomic = map.atomic_view().expect("atomic view");
        group.bench_function(BenchmarkId::new(name, OPS), |b| b.iter(|| adds(black_box(&atomic))));
    }
    group.finish();
}

fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("fetch_add/contended");
    group.throughput(Throughput::Elements(OPS as u64));

    let heap: Vec<AtomicU64> = (0..OPS).map(|_| AtomicU64::new(0)).collect();
    group.bench_function(BenchmarkId::new("heap_1_thread", LINE), |b| {
        b.iter(|| (0..OPS / LINE).for_each(|_| adds_slice(black_box(&heap[..LINE]))));
    });
    let stop = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while stop.load(Acquire) == 0 {
                (0..OPS / LINE).for_each(|_| adds_slice(&heap[..LINE]));
            }
        });
        group.bench_function(BenchmarkId::new("heap_2_threads", LINE), |b| {
            b.iter(|| (0..OPS / LINE).for_each(|_| adds_slice(black_box(&heap[..LINE]))));
        });
        stop.store(1, Release);
    });

    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("contended");
    // SAFETY: both processes touch this file only through atomic views.
    let mut map = unsafe { Array1::<u64>::create_file(&path, STOP + 1) }.expect("create");
    let atomic = map.atomic_view().expect("atomic view");
    let line = atomic.slice(s![..LINE]);
    group.bench_function(BenchmarkId::new("map_1_process", LINE), |b| {
        b.iter(|| (0..OPS / LINE).for_each(|_| adds(black_box(&line))));
    });
    let mut hammer = spawn_hammer(&path);
    while atomic[READY].load(Acquire) == 0 {
        std::hint::spin_loop();
    }
    group.bench_function(BenchmarkId::new("map_2_processes", LINE), |b| {
        b.iter(|| (0..OPS / LINE).for_each(|_| adds(black_box(&line))));
    });
    atomic[STOP].store(1, Release);
    let status = hammer.wait().expect("wait for the hammer process");
    assert!(status.success(), "hammer process failed: {status}");
    group.finish();
}

fn spawn_hammer(path: &Path) -> Child {
    Command::new(std::env::current_exe().expect("current_exe"))
        .env(HAMMER_ENV, path)
        .spawn()
        .expect("spawn the hammer process")
}

/// The second process of `map_2_processes`: adds to the shared line until told to stop.
fn hammer(path: &Path) {
    // SAFETY: both processes touch this file only through atomic views.
    let mut map = unsafe { Array1::<u64>::map_file_mut(path) }.expect("map");
    let atomic = map.atomic_view().expect("atomic view");
    let line = atomic.slice(s![..LINE]);
    atomic[READY].store(1, Release);
    while atomic[STOP].load(Acquire) == 0 {
        (0..OPS / LINE).for_each(|_| adds(&line));
    }
}

criterion_group!(benches, uncontended, contended);

fn main() {
    if let Some(path) = std::env::var_os(HAMMER_ENV) {
        hammer(Path::new(&path));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
