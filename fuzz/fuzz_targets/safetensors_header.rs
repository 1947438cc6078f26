//! Fuzzes the `.safetensors` header parser through the public API: the input is written to
//! a file (in `/dev/shm` when it exists, so the loop stays in memory), opened with
//! `SafeTensorsFile::open`, and every tensor listed is read and mapped.
//!
//! What must hold: no panic, no abort, no SIGBUS; every failure is a typed `Error`; the
//! listed tensors tile the data buffer, inside the file; a successful read or map has the
//! listed shape.
#![no_main]

use std::cell::OnceCell;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use ndmmap::prelude::*;
use ndmmap::safetensors::SafeTensorsFile;

thread_local! {
    /// One file per fuzzing process, rewritten for every input.
    static PATH: OnceCell<PathBuf> = const { OnceCell::new() };
}

fn path() -> PathBuf {
    PATH.with(|cell| {
        cell.get_or_init(|| {
            let shm = std::path::Path::new("/dev/shm");
            let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
            dir.join(format!("ndmmap-fuzz-{}.safetensors", std::process::id()))
        })
        .clone()
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(&path, data).expect("write the input file");
    let Ok(file) = SafeTensorsFile::open(&path) else {
        return;
    };
    let mut end = 0;
    for t in file.tensors() {
        assert_eq!(t.data_offsets.0, end, "a hole or an overlap was accepted: {t:?}");
        end = t.data_offsets.1;
        assert!(t.file_range().end <= data.len() as u64, "tensor past the end: {t:?}");
        if let Ok(a) = file.read::<u8, IxDyn>(&t.name) {
            assert_eq!(a.shape(), t.shape.as_slice());
        }
        if let Ok(a) = file.read::<bool, IxDyn>(&t.name) {
            assert_eq!(a.shape(), t.shape.as_slice());
        }
        // SAFETY: only this process writes the file, and not while the map lives.
        if let Ok(m) = unsafe { file.map::<f32, IxDyn>(&t.name) } {
            assert_eq!(m.shape(), t.shape.as_slice());
        }
        // SAFETY: as above.
        if let Ok(m) = unsafe { file.map_bool::<IxDyn>(&t.name) } {
            assert_eq!(m.shape(), t.shape.as_slice());
        }
    }
    assert_eq!(file.data_start() + end, data.len() as u64, "bytes after the last tensor");
});
