//! Time to map a file and read one element, for sparse files of 16 MiB, 1 GiB and 16 GiB.
//!
//! Mapping reserves address space and reads nothing, so the time must not grow with the
//! file's size. The files are made with `File::set_len` and are sparse: they take no disk
//! space. No `Throughput`: the work is O(1), and bytes per second would be meaningless.

use std::fs::File;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ndmmap::prelude::*;

fn map_latency(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut group = c.benchmark_group("map_latency");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    for (label, bytes) in [("16MiB", 16u64 << 20), ("1GiB", 1 << 30), ("16GiB", 16 << 30)] {
        let path = dir.path().join(format!("{label}.bin"));
        File::create(&path).and_then(|f| f.set_len(bytes)).expect("sparse file");
        group.bench_with_input(BenchmarkId::new("mmap", label), &path, |b, path| {
            b.iter(|| {
                // SAFETY: the file lives in this bench's own temporary folder; nothing
                // else writes or truncates it.
                let a = unsafe { Array1::<f64>::map_file(path) }.expect("map");
                black_box(a[a.len() - 1])
            });
        });
    }
    group.finish();
}

criterion_group!(benches, map_latency);
criterion_main!(benches);
