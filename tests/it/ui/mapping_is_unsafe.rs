//@ error: E0133
//@ message: call to unsafe function
// Mapping a file is `unsafe`, as in memmap2: nothing at run time can check that no one
// else changes the file (README, Safety).
use ndmmap::prelude::*;

pub fn check() {
    let guard = Array1::<u8>::map_file("a.bin").unwrap();
    assert_eq!(guard.len(), 1);
}
