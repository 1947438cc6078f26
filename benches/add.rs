//! `c = a + b` over 16 Mi `f64` per array (128 MiB each), serial `Zip`, with the inputs in
//! the page cache: mapped arrays into a created, mapped output, against owned arrays.
//!
//! - `heap`: three `Array1<f64>` in process memory.
//! - `mmap`: `a` and `b` mapped read-only, `c` made by `create_file`, all held across
//!   iterations (after the first pass every page is resident in this process).
//! - `mmap_create`: every iteration maps `a` and `b`, creates `c` anew and adds: the
//!   example's job without the final flush to disk, page faults included.

// Element values are indices, below 2^53 and so exact in `f64`; the checks compare them exactly.
#![allow(clippy::cast_precision_loss, clippy::float_cmp)]

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ndmmap::prelude::*;

const N: usize = 16 << 20; // 16 Mi f64 = 128 MiB per array

/// Writes `x[i] = scale * i` as `n` native-endian f64s.
fn write_f64s(path: &Path, n: usize, scale: f64) {
    let mut file = File::create(path).expect("create");
    let values: Vec<f64> = (0..n).map(|i| scale * i as f64).collect();
    file.write_all(bytemuck::cast_slice(&values)).expect("write");
}

fn add_into(c: &mut ArrayRef1<f64>, a: &ArrayRef1<f64>, b: &ArrayRef1<f64>) {
    Zip::from(c).and(a).and(b).for_each(|c, &a, &b| *c = a + b);
}

fn add(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (a_path, b_path) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
    write_f64s(&a_path, N, 1.0);
    write_f64s(&b_path, N, 2.0);

    let a_heap = Array1::from_iter((0..N).map(|i| i as f64));
    let b_heap = Array1::from_iter((0..N).map(|i| 2.0 * i as f64));
    let mut c_heap = Array1::<f64>::zeros(N);
    // SAFETY: the files live in this bench's own temporary folder; nothing else writes or
    // truncates them.
    let a_map = unsafe { Array1::<f64>::map_file(&a_path) }.expect("map a");
    // SAFETY: as above.
    let b_map = unsafe { Array1::<f64>::map_file(&b_path) }.expect("map b");
    // SAFETY: as above.
    let mut c_map =
        unsafe { Array1::<f64>::create_file(dir.path().join("c.bin"), N) }.expect("create c");

    let mut group = c.benchmark_group("add");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Bytes((3 * 8 * N) as u64));
    group.bench_function(BenchmarkId::new("heap", N), |b| {
        b.iter(|| add_into(&mut c_heap, black_box(&a_heap), black_box(&b_heap)));
    });
    group.bench_function(BenchmarkId::new("mmap", N), |b| {
        b.iter(|| add_into(&mut c_map, black_box(&a_map), black_box(&b_map)));
    });
    let fresh = dir.path().join("c_fresh.bin");
    group.bench_function(BenchmarkId::new("mmap_create", N), |b| {
        // Untimed: removing the last pass's file, and unmapping (dropping) the guards.
        let setup = || match std::fs::remove_file(&fresh) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("remove: {e}"),
            _ => {}
        };
        b.iter_batched(
            setup,
            |()| {
                // SAFETY: as above.
                let a = unsafe { Array1::<f64>::map_file(&a_path) }.expect("map a");
                // SAFETY: as above.
                let b = unsafe { Array1::<f64>::map_file(&b_path) }.expect("map b");
                // SAFETY: as above.
                let mut c = unsafe { Array1::<f64>::create_file(&fresh, N) }.expect("create c");
                add_into(&mut c, &a, &b);
                (a, b, c)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();

    assert_eq!(c_map[N - 1], 3.0 * (N - 1) as f64);
    assert_eq!(*c_map, c_heap);
}

criterion_group!(benches, add);
criterion_main!(benches);
