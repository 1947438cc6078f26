//! Fuzzes the `.npz` archive reader through the public API: the input is written to a file
//! (in `/dev/shm` when it exists, so the loop stays in memory), opened with
//! `NpzArchive::open_with` (a small read limit, so that zip bombs cost nothing), and every
//! member listed is read and mapped.
//!
//! What must hold: no panic, no abort, no SIGBUS; every failure is a typed `Error`; a
//! listed stored member lies inside the file; a successful read or map has the listed shape.
#![no_main]

use std::cell::OnceCell;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use ndmmap::npz::{NpzArchive, NpzOptions};
use ndmmap::prelude::*;

thread_local! {
    /// One file per fuzzing process, rewritten for every input.
    static PATH: OnceCell<PathBuf> = const { OnceCell::new() };
}

fn path() -> PathBuf {
    PATH.with(|cell| {
        cell.get_or_init(|| {
            let shm = std::path::Path::new("/dev/shm");
            let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
            dir.join(format!("ndmmap-fuzz-{}.npz", std::process::id()))
        })
        .clone()
    })
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(&path, data).expect("write the input file");
    let options = NpzOptions::new().max_read_size(1 << 20);
    let Ok(archive) = NpzArchive::open_with(&path, &options) else {
        return;
    };
    for member in archive.members() {
        if let Some(offset) = member.data_offset {
            assert!(offset <= data.len() as u64, "member data past the end: {member:?}");
        }
        if let Ok(a) = archive.read::<u8, IxDyn>(&member.name) {
            assert_eq!(a.shape(), member.shape.as_slice());
        }
        if let Ok(a) = archive.read::<f64, IxDyn>(&member.name) {
            assert_eq!(a.shape(), member.shape.as_slice());
        }
        // SAFETY: only this process writes the file, and not while the map lives.
        if let Ok(m) = unsafe { archive.map::<u8, IxDyn>(&member.name) } {
            assert_eq!(m.shape(), member.shape.as_slice());
        }
        // SAFETY: as above.
        if let Ok(m) = unsafe { archive.map::<f64, IxDyn>(&member.name) } {
            assert_eq!(m.shape(), member.shape.as_slice());
        }
    }
});
