//@ error: E0502
//@ message: cannot borrow `log` as mutable because it is also borrowed as immutable
// No view of an array can be alive while it grows, since the map may move
// (src/grow.rs, `MmapArrayMut::append`).
use ndmmap::prelude::*;

pub fn check() {
    // SAFETY: never run; compiled only.
    let mut log = unsafe { Array2::<f32>::create_npy("log.npy", (1, 4)) }.unwrap();
    let first = log.row(0);
    log.append(Array2::<f32>::ones((2, 4)).view()).unwrap();
    assert_eq!(first.sum(), 0.0);
}
