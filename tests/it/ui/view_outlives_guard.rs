//@ error: E0597
//@ message: `guard` does not live long enough
// A view cannot outlive the guard that owns the map (src/guard.rs, `MmapArray`).
use ndmmap::prelude::*;

pub fn check() {
    let view = {
        // SAFETY: never run; compiled only.
        let guard = unsafe { Array1::<u8>::map_file("a.bin").unwrap() };
        guard.view()
    };
    assert_eq!(view.len(), 8);
}
