//! Property: a mapped file equals the naive oracle, `Array::from_shape_vec` over the same
//! elements, for random shapes (up to 4 axes of length 0..5), C and Fortran order, random
//! aligned offsets, random bytes before and after the data, and several element types.
// quickcheck generates owned arguments, so the property functions take them by value.
#![allow(clippy::needless_pass_by_value)]

use bytemuck::Pod;
use ndmmap::prelude::*;
use quickcheck::{QuickCheck, TestResult};

use crate::temp_file;

/// Files written per element type: each case writes one, so the count stays modest.
const CASES: u64 = 100;

/// Writes `prefix` garbage bytes, the data, and `trailing` bytes to a file, maps it with
/// `offset(prefix).shape(shape)` read-only and copy-on-write, and compares both with
/// `from_shape_vec` of the same elements, bit for bit (random bytes make NaNs).
fn mapped_equals_owned<A: Pod>(
    dims: Vec<u8>,
    fortran: bool,
    offset_elems: u8,
    seed: Vec<u8>,
    trailing: Vec<u8>,
) -> TestResult {
    let shape: Vec<usize> = dims.iter().take(4).map(|&d| usize::from(d % 5)).collect();
    let len: usize = shape.iter().product();
    let data_bytes = len * size_of::<A>();
    if seed.is_empty() && data_bytes > 0 {
        return TestResult::discard();
    }
    let offset = usize::from(offset_elems % 8) * align_of::<A>();
    let data: Vec<u8> = seed.iter().copied().cycle().take(data_bytes).collect();
    let mut file = vec![0xA5u8; offset];
    file.extend_from_slice(&data);
    file.extend_from_slice(&trailing);
    let (_dir, path) = temp_file("prop.bin");
    std::fs::write(&path, &file).unwrap();

    let elems: Vec<A> = crate::elems(&data);
    let owned = Array::from_shape_vec(IxDyn(&shape).set_f(fortran), elems).unwrap();
    let options = MapOptions::new().offset(offset as u64).shape(IxDyn(&shape).set_f(fortran));
    let same = |a: &ArrayRef<A, IxDyn>| {
        a.shape() == owned.shape()
            && a.iter()
                .zip(owned.iter())
                .all(|(x, y)| bytemuck::bytes_of(x) == bytemuck::bytes_of(y))
    };
    // SAFETY: no other process touches files in this fresh temporary folder.
    let read = unsafe { ArrayD::<A>::map_file_with(&path, &options) };
    // SAFETY: as above.
    let copy = unsafe { ArrayD::<A>::map_file_copy_with(&path, &options) };
    let ok = match (read, copy) {
        (Ok(r), Ok(c)) => same(&r) && same(&c) && r.offset() == offset as u64,
        (r, c) => {
            eprintln!("shape {shape:?} offset {offset}: {:?} / {:?}", r.err(), c.err());
            false
        }
    };
    TestResult::from_bool(ok && std::fs::read(&path).unwrap() == file)
}

type Prop = fn(Vec<u8>, bool, u8, Vec<u8>, Vec<u8>) -> TestResult;

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn mapped_f32_equals_from_shape_vec() {
    QuickCheck::new().tests(CASES).quickcheck(mapped_equals_owned::<f32> as Prop);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn mapped_i64_equals_from_shape_vec() {
    QuickCheck::new().tests(CASES).quickcheck(mapped_equals_owned::<i64> as Prop);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn mapped_u8_equals_from_shape_vec() {
    QuickCheck::new().tests(CASES).quickcheck(mapped_equals_owned::<u8> as Prop);
}

/// The same property for a flat array without a shape: every whole element after the
/// offset up to `len(...)`, with the trailing bytes left out of the map.
fn flat_equals_elements(offset_elems: u8, seed: Vec<u8>, trailing: Vec<u8>) -> TestResult {
    let offset = usize::from(offset_elems % 8) * align_of::<i64>();
    let data_bytes = seed.len() / 8 * 8;
    let mut file = vec![0x5Au8; offset];
    file.extend_from_slice(&seed[..data_bytes]);
    file.extend_from_slice(&trailing);
    let (_dir, path) = temp_file("flat.bin");
    std::fs::write(&path, &file).unwrap();
    let options = MapOptions::new().offset(offset as u64).len(data_bytes as u64);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let Ok(a) = (unsafe { Array1::<i64>::map_file_with(&path, &options) }) else {
        return TestResult::failed();
    };
    let expected: Vec<i64> = crate::elems(&seed[..data_bytes]);
    TestResult::from_bool(a.to_vec() == expected)
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn mapped_flat_i64_with_len_equals_elements() {
    QuickCheck::new()
        .tests(CASES)
        .quickcheck(flat_equals_elements as fn(u8, Vec<u8>, Vec<u8>) -> TestResult);
}
