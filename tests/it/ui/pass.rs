//@ compiles
// The control: the same calls as the snippets that must not compile, written correctly.
// If this stops compiling (a renamed API, a missing crate), the others prove nothing.
use ndmmap::prelude::*;

pub fn check() -> Result<(), ndmmap::Error> {
    // SAFETY: never run; compiled only.
    let guard = unsafe { Array1::<u8>::map_file("a.bin")? };
    let len = guard.view().len();
    // SAFETY: as above.
    let mut log = unsafe { Array2::<f32>::create_npy("log.npy", (1, 4))? };
    let first = log.row(0).sum();
    log.append(Array2::<f32>::ones((2, 4)).view())?;
    // SAFETY: as above.
    let mut w = unsafe { Array1::<f64>::map_file_mut("w.bin")? };
    w[0] = f64::from(first) + len as f64;
    // SAFETY: as above.
    let bytes = unsafe { Array1::<u8>::map_file("b.bin")? };
    assert_eq!(bytes.len(), len);
    // SAFETY: as above.
    let x = unsafe { Array2::<f64>::map_file_with("x.bin", &MapOptions::new().shape((4, 5)))? };
    // SAFETY: as above.
    let mut out = unsafe { Array1::<f64>::create_npy("s.npy", 5)? };
    ndmmap::chunked::Zip::from(&x).sum_axis_into(Axis(0), &mut out)?;
    Ok(())
}
