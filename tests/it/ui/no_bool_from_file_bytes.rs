//@ error: E0277
//@ message: the trait bound `bool
//@ message: AnyBitPattern` is not satisfied
// Element types are bounded by bytemuck: no `bool` can be conjured from file bytes (README,
// Safety).
use ndmmap::prelude::*;

pub fn check() {
    // SAFETY: never run; compiled only.
    let bools = unsafe { Array1::<bool>::map_file("b.bin").unwrap() };
    assert_eq!(bools.len(), 1);
}
