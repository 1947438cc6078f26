//! ndmmap's prelude beside the globs a user of ndarray, ndarray-npy and std writes: no
//! name is imported twice, so every name below resolves (an ambiguous glob name is a
//! compile error where it is used, which this file would be). Linux only: names do not
//! differ by platform, and ndarray-npy's parser needs a C toolchain for the target.
#![cfg(target_os = "linux")]
#![allow(clippy::wildcard_imports, reason = "the globs are what is tested")]

use std::error::Error;
use std::io::*;

use ndarray::prelude::*;
use ndarray_npy::*;
use ndmmap::prelude::*;

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn prelude_coexists_with_ndarray_npy_and_std() -> std::result::Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let (ours, theirs) = (dir.path().join("ours.npy"), dir.path().join("theirs.npy"));
    let a = array![[1.0f64, 2.0], [3.0, 4.0]];

    // ndmmap's save_npy and ndarray-npy's write_npy (function and method) side by side.
    a.save_npy(&ours)?;
    write_npy(&theirs, &a)?;
    let mut buffer = Cursor::new(Vec::new());
    a.write_npy(&mut buffer)?;
    assert!(!buffer.into_inner().is_empty());

    // Their read of our file, our map of theirs; `Result` is still std's `io::Result`
    // from the `std::io` glob.
    let read: Array2<f64> = read_npy(&ours)?;
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mapped = unsafe { Array2::<f64>::map_npy(&theirs)? };
    assert_eq!(read, *mapped);
    let io_result: Result<usize> = Ok(1);
    assert_eq!(io_result?, 1);

    // `Error` is std's (the ndmmap error converts into `Box<dyn Error>` with `?`).
    // SAFETY: as above.
    let missing = unsafe { Array1::<f64>::map_file(dir.path().join("missing.bin")) };
    let boxed: Box<dyn Error> = missing.unwrap_err().into();
    assert!(boxed.to_string().contains("missing.bin"));
    Ok(())
}
