//! Fuzzes the `.npz` archive reader through the public API: the input is written to a file
//! (in `/dev/shm` when it exists, so the loop stays in memory), opened with
//! `NpzArchive::open_with` (a small read limit, so that zip bombs cost nothing), and every
//! member listed is read and mapped.
//!
//! What must hold: no panic, no abort, no SIGBUS; every failure is a typed `Error`; a
//! listed stored member lies inside the file; a successful read or map has the listed shape.
#![no_main]

mod input_file;

use libfuzzer_sys::fuzz_target;
use ndmmap::npz::{NpzArchive, NpzOptions};
use ndmmap::prelude::*;

use self::input_file::write_input;

fuzz_target!(|data: &[u8]| {
    let path = write_input(data, "npz");
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
