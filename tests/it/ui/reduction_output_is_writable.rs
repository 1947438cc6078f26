//@ error: E0271
//@ message: type mismatch resolving
// A reduction's output must be writable: `sum_axis_into` takes `&mut MmapArrayMut` (or
// `&mut Array`), not a shared borrow of a guard that could be written.
use ndmmap::prelude::*;

pub fn check() -> Result<(), ndmmap::Error> {
    // SAFETY: never run; compiled only.
    let x = unsafe { Array2::<f64>::map_file_with("x.bin", &MapOptions::new().shape((4, 5)))? };
    // SAFETY: as above.
    let out = unsafe { Array1::<f64>::create_npy("s.npy", 5)? };
    ndmmap::chunked::Zip::from(&x).sum_axis_into(Axis(0), &out)
}
