//@ error: E0596
//@ message: cannot borrow data in dereference of `MmapArray<
// A read-only map is read-only by type: `MmapArray` has no `DerefMut` (README, "read-only
// enforced ... by type").
use ndmmap::prelude::*;

pub fn check() {
    // SAFETY: never run; compiled only.
    let guard = unsafe { Array1::<f64>::map_file("w.bin").unwrap() };
    guard[0] = 1.0;
}
