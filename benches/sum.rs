//! Sum of 64 MiB of `f64` held in the page cache and mapped, against the same data in an
//! owned `Array1` ("heap"). Both run ndarray's own `sum` on an `ArrayRef`.
//!
//! - `heap`: an `Array1<f64>` in process memory.
//! - `mmap`: one map held across iterations; after the first pass its pages are resident
//!   in this process, so this measures reading mapped memory.
//! - `mmap_remap`: map, sum, unmap on every iteration, so each pass also pays the minor
//!   page faults that wire the (cached) file pages into the process, as a first pass does.

// Element values are indices, below 2^53 and so exact in `f64`; the checks compare them exactly.
#![allow(clippy::cast_precision_loss, clippy::float_cmp)]

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndmmap::prelude::*;

const N: usize = 8 << 20; // 8 Mi f64 = 64 MiB

/// Writes `x[i] = i` as `n` native-endian f64s.
fn write_f64s(path: &Path, n: usize) {
    let mut file = File::create(path).expect("create");
    let values: Vec<f64> = (0..n).map(|i| i as f64).collect();
    file.write_all(bytemuck::cast_slice(&values)).expect("write");
}

fn sum(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("a.bin");
    write_f64s(&path, N);
    let heap = Array1::from_iter((0..N).map(|i| i as f64));
    // SAFETY: the file lives in this bench's own temporary folder; nothing else writes or
    // truncates it.
    let mapped = unsafe { Array1::<f64>::map_file(&path) }.expect("map");
    assert_eq!(mapped.sum(), heap.sum(), "same data, same order of additions");

    let mut group = c.benchmark_group("sum");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes((N * 8) as u64));
    group.bench_function(BenchmarkId::new("heap", N), |b| b.iter(|| black_box(&heap).sum()));
    group.bench_function(BenchmarkId::new("mmap", N), |b| b.iter(|| black_box(&*mapped).sum()));
    group.bench_function(BenchmarkId::new("mmap_remap", N), |b| {
        b.iter(|| {
            // SAFETY: as above.
            let a = unsafe { Array1::<f64>::map_file(&path) }.expect("map");
            a.sum()
        });
    });
    group.finish();
}

criterion_group!(benches, sum);
criterion_main!(benches);
