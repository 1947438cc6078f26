//! Fuzzes the `.npy` header parser through the public API: the input is written to a file
//! (in `/dev/shm` when it exists, so the loop stays in memory) and read back with
//! `npy::inspect`, `npy::read_npy` and `map_npy`. The parser is crate-private, and no public
//! function takes bytes, so files it is.
//!
//! What must hold: no panic; every failure is a typed `Error`; an accepted header lies inside
//! the file; a successful read or map has the header's shape.
#![no_main]

mod input_file;

use libfuzzer_sys::fuzz_target;
use ndmmap::npy;
use ndmmap::prelude::*;

use self::input_file::write_input;

fuzz_target!(|data: &[u8]| {
    let path = write_input(data, "npy");
    let header = npy::inspect(&path);
    let read = npy::read_npy::<f64, IxDyn>(&path);
    let bools = npy::read_npy::<bool, IxDyn>(&path);
    // SAFETY: only this process writes the file, and not while the map lives.
    let map = unsafe { ArrayD::<u8>::map_npy(&path) };
    match &header {
        Ok(h) => {
            assert!(h.data_offset <= data.len() as u64, "header past the end: {h:?}");
            if let Ok(a) = &read {
                assert_eq!(a.shape(), h.shape.as_slice());
            }
            if let Ok(a) = &bools {
                assert_eq!(a.shape(), h.shape.as_slice());
            }
            if let Ok(m) = &map {
                assert_eq!(m.shape(), h.shape.as_slice());
            }
        }
        Err(_) => assert!(read.is_err() && bools.is_err() && map.is_err()),
    }
});
