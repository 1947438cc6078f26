//! Counts: `histogram` and `bincount` (and their `par_` forms) equal plain loops for random
//! shapes, memory orders and chunk sizes; NumPy's `np.histogram` and `np.bincount` find
//! their own counts and edges, values on the edges, NaN, infinities and values outside the
//! range included; bad arguments and negative values are typed errors naming the numbers.

// Test values are small integers and floats made from them, so the casts between them are
// exact or deliberately rounding (f64 to f32, as NumPy's astype).
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::similar_names
)]

use std::fmt::Write as _;

use super::*;

/// The bin of `x` among `edges` by the definition NumPy documents: `edges[i] <= x <
/// edges[i + 1]`, the last bin closed; `None` outside them and for NaN.
fn naive_bin(edges: &[f64], x: f64) -> Option<usize> {
    let n = edges.len() - 1;
    if !(x >= edges[0] && x <= edges[n]) {
        return None;
    }
    Some((0..n).find(|&i| x < edges[i + 1]).unwrap_or(n - 1))
}

/// `bins + 1` edges over `(lo, hi)` as `np.linspace` makes them: `lo + i * step`, the last
/// `hi` itself.
fn naive_edges(bins: usize, lo: f64, hi: f64) -> Vec<f64> {
    let step = (hi - lo) / bins as f64;
    (0..=bins).map(|i| if i == bins { hi } else { i as f64 * step + lo }).collect()
}

/// `x` and the floats just above and below it.
fn neighbours(x: f64) -> [f64; 3] {
    let bits = x.to_bits();
    match x {
        0.0 => [x, f64::from_bits(1), -f64::from_bits(1)],
        x if x > 0.0 => [x, f64::from_bits(bits + 1), f64::from_bits(bits - 1)],
        _ => [x, f64::from_bits(bits - 1), f64::from_bits(bits + 1)],
    }
}

/// The histogram and bincount of a random array (with NaN, infinities and values outside
/// the range when asked), mapped in C or Fortran order or a plain view in any of five
/// orders, in chunks of any size, serial and on rayon's pool, equal plain loops.
#[allow(clippy::needless_pass_by_value)] // quickcheck hands arguments over by value
fn counts_equal_plain_loops(
    dims: Vec<u8>,
    fortran: bool,
    kind: u8,
    chunk: u8,
    bins: u8,
    odd: bool,
) -> bool {
    let shape = small_shape(&dims);
    let chunk = CHUNKS[usize::from(chunk) % CHUNKS.len()];
    let bins = usize::from(bins % 12) + 1;
    let mut values = input_values(&shape, 0.25).mapv(|v| v % 9.0);
    if odd {
        for (k, v) in values.iter_mut().enumerate() {
            match k % 5 {
                1 => *v = f64::NAN,
                2 => *v = -1.0,
                3 => *v = f64::INFINITY,
                _ => {}
            }
        }
    }
    let (lo, hi) = (0.0, 8.0);
    let edges = naive_edges(bins, lo, hi);
    let mut expected = Array1::<u64>::zeros(bins);
    for &v in &values {
        if let Some(i) = naive_bin(&edges, v) {
            expected[i] += 1;
        }
    }
    let ints = values.mapv(|v| if v.is_finite() { v as i64 } else { 3 });
    let mut expected_counts = vec![0u64; 1];
    for &v in &ints {
        let i = usize::try_from(v).unwrap_or(0);
        if i >= expected_counts.len() {
            expected_counts.resize(i + 1, 0);
        }
        expected_counts[i] += 1;
    }
    if ints.is_empty() {
        expected_counts.clear();
    }
    let ints = ints.mapv(|v| v.max(0));

    let dir = tempfile::tempdir().unwrap();
    let mapped = mapped_input(&dir.path().join("x.bin"), &values, fortran).unwrap();
    let plain = variant(&values, kind);
    let view = (plain.view)(&plain.storage);
    let what = format!("{shape:?} fortran {fortran} kind {kind} chunk {chunk} bins {bins}");
    for zip in [chunked::Zip::from(&mapped), chunked::Zip::from(view.view())] {
        let (counts, got_edges) = zip.chunk_bytes(chunk).histogram(bins, (lo, hi)).unwrap();
        assert_eq!(counts, expected, "{what}");
        assert_eq!(got_edges.to_vec(), edges, "{what}");
    }
    // Counts do not depend on the order of the elements: the integers in the file's
    // order, mapped, and viewed transposed and reversed.
    let mut int_array = ArrayD::<i64>::zeros(IxDyn(&shape).set_f(fortran));
    int_array.assign(&ints);
    int_array.save_npy(dir.path().join("ints.npy")).unwrap();
    // SAFETY: no other process touches files in this test's temporary folder.
    let int_mapped = unsafe { ArrayD::<i64>::map_npy(dir.path().join("ints.npy")) }.unwrap();
    let mut reversed = int_array.view();
    reversed.invert_axis(Axis(0));
    let mut long = expected_counts.clone();
    long.resize(long.len().max(20), 0);
    for view in [int_mapped.view(), int_array.t(), reversed.view()] {
        let zip = || chunked::Zip::from(view.view()).chunk_bytes(chunk);
        let counts = zip().bincount(0).unwrap();
        assert_eq!(counts.to_vec(), expected_counts, "{what}");
        let counts = zip().bincount(20).unwrap();
        assert_eq!(counts.to_vec(), long, "{what}");
    }
    #[cfg(feature = "rayon")]
    {
        let (counts, _) =
            chunked::Zip::from(&mapped).chunk_bytes(chunk).par_histogram(bins, (lo, hi)).unwrap();
        assert_eq!(counts, expected, "par {what}");
        let counts = chunked::Zip::from(int_array.t()).chunk_bytes(chunk).par_bincount(0).unwrap();
        assert_eq!(counts.to_vec(), expected_counts, "par {what}");
    }
    true
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn counts_equal_plain_loops_for_random_shapes_orders_and_chunks() {
    quickcheck::QuickCheck::new()
        .tests(40)
        .quickcheck(counts_equal_plain_loops as fn(Vec<u8>, bool, u8, u8, u8, bool) -> bool);
}

/// NumPy's `np.histogram` (counts and edges) of `f64`, `f32`, `int16` and `uint64` files
/// for awkward bins and ranges (edges that are not exact in binary, values on every edge,
/// an empty range, a range inside the data, a huge one), and its `np.bincount` of `uint8`,
/// `int32` and `int64` files with and without `minlength`, equal the engine's, serial and
/// parallel, in small chunks.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
#[allow(clippy::too_many_lines, reason = "one table of cases, checked by one NumPy script")]
fn numpy_finds_its_histograms_and_bincounts() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    // Values on and near the edges of the ranges below, NaN, infinities, out of range.
    let mut x: Vec<f64> = (0..3000).map(|i| f64::from(i) * 0.0007 - 0.3).collect();
    x.extend([0.1, 0.7, 0.3, 0.5, 0.2, 0.4, 0.6, 1.0 / 3.0, 2.0 / 3.0, -0.0, 1.0, 0.0]);
    x.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300, 5e-324]);
    let ranges = [(0.1, 0.7), (0.0, 1.0), (-0.3, 1.8), (0.25, 0.25), (-1e300, 1e300), (1.0, 1.0)];
    let bin_counts = [1, 3, 7, 10, 64];
    // Every edge of every histogram below and its two neighbours: the offset to the first
    // edge puts some of them one bin off, which NumPy's correction against the edges fixes.
    for &(lo, hi) in &ranges {
        let (lo, hi) = if lo == hi { (lo - 0.5, hi + 0.5) } else { (lo, hi) };
        for &bins in &bin_counts {
            x.extend(naive_edges(bins, lo, hi).into_iter().flat_map(neighbours));
        }
    }
    let x = Array1::from(x);
    x.save_npy(d.join("x.npy"))?;
    x.mapv(|v| v as f32).save_npy(d.join("x32.npy"))?;
    let ints = Array2::from_shape_fn((40, 30), |(i, j)| ((i * 37 + j * 11) % 200) as i16 - 50);
    ints.save_npy(d.join("i16.npy"))?;
    let big = Array1::from_shape_fn(500, |i| (i as u64) << 55);
    big.save_npy(d.join("u64.npy"))?;

    // SAFETY: no other process touches files in this test's temporary folder (and so for
    // every map below).
    let xm = unsafe { Array1::<f64>::map_npy(d.join("x.npy"))? };
    // SAFETY: as above.
    let x32 = unsafe { Array1::<f32>::map_npy(d.join("x32.npy"))? };
    // SAFETY: as above.
    let i16m = unsafe { Array2::<i16>::map_npy(d.join("i16.npy"))? };
    // SAFETY: as above.
    let u64m = unsafe { Array1::<u64>::map_npy(d.join("u64.npy"))? };
    let mut lines = String::new();
    for (r, &range) in ranges.iter().enumerate() {
        for &bins in &bin_counts {
            for (name, result) in [
                ("x", chunked::Zip::from(&xm).chunk_bytes(1000).histogram(bins, range)),
                ("x32", chunked::Zip::from(&x32).chunk_bytes(1000).histogram(bins, range)),
                ("i16", chunked::Zip::from(&i16m).chunk_bytes(200).histogram(bins, range)),
                ("u64", chunked::Zip::from(&u64m).chunk_bytes(200).histogram(bins, range)),
            ] {
                // A range beyond f32's has infinite f32 edges: NumPy fails with an
                // IndexError for one bin and a ValueError for more; the engine counts.
                if name == "x32" && range.1 > f64::from(f32::MAX) && bins == 1 {
                    continue;
                }
                // NumPy's ValueError where it raises one.
                let (counts, edges) = match result {
                    Err(ndmmap::Error::InvalidHistogram { .. }) => {
                        writeln!(lines, "{name} {r} {bins} error")?;
                        continue;
                    }
                    other => other?,
                };
                #[cfg(feature = "rayon")]
                if name == "x" {
                    let par =
                        chunked::Zip::from(&xm).chunk_bytes(1000).par_histogram(bins, range)?;
                    assert_eq!(par, (counts.clone(), edges.clone()));
                }
                let counts: Vec<String> = counts.iter().map(u64::to_string).collect();
                let edges: Vec<String> =
                    edges.iter().map(|e| format!("{:?}", e.to_bits())).collect();
                writeln!(lines, "{name} {r} {bins} {} {}", counts.join(","), edges.join(","))?;
            }
        }
    }
    // bincount, with values in later chunks and a minlength shorter and longer than the
    // result.
    let u8s = Array1::from_shape_fn(5000, |i| ((i * 31) % 251) as u8);
    u8s.save_npy(d.join("u8.npy"))?;
    let i32s = Array2::from_shape_fn((100, 7), |(i, j)| ((i * j) % 97) as i32).reversed_axes();
    i32s.save_npy(d.join("i32.npy"))?;
    let i64s = Array1::from(vec![0i64, 5, 5, 1_000]);
    i64s.save_npy(d.join("i64.npy"))?;
    // SAFETY: as above.
    let u8m = unsafe { Array1::<u8>::map_npy(d.join("u8.npy"))? };
    // SAFETY: as above.
    let i32m = unsafe { Array2::<i32>::map_npy(d.join("i32.npy"))? };
    // SAFETY: as above.
    let i64m = unsafe { Array1::<i64>::map_npy(d.join("i64.npy"))? };
    for minlength in [0, 3, 2000] {
        for (name, counts) in [
            ("u8", chunked::Zip::from(&u8m).chunk_bytes(100).bincount(minlength)?),
            ("i32", chunked::Zip::from(&i32m).chunk_bytes(100).bincount(minlength)?),
            ("i64", chunked::Zip::from(&i64m).chunk_bytes(8).bincount(minlength)?),
        ] {
            let counts: Vec<String> = counts.iter().map(u64::to_string).collect();
            writeln!(lines, "bincount {name} {minlength} {}", counts.join(","))?;
        }
    }
    std::fs::write(d.join("got.txt"), lines)?;
    let code = r"
import struct, warnings
import numpy as np
warnings.simplefilter('ignore')
x, x32, i16, u64 = (np.load(f'{n}.npy') for n in ('x', 'x32', 'i16', 'u64'))
ranges = [(0.1, 0.7), (0.0, 1.0), (-0.3, 1.8), (0.25, 0.25), (-1e300, 1e300), (1.0, 1.0)]
checked = 0
for line in open('got.txt'):
    f = line.split()
    if f[0] == 'bincount':
        want = np.bincount(np.load(f'{f[1]}.npy').ravel(), minlength=int(f[2]))
        got = [int(c) for c in f[3].split(',')] if len(f) > 3 else []
        assert got == want.tolist(), (line, want)
    else:
        a = {'x': x, 'x32': x32, 'i16': i16, 'u64': u64}[f[0]]
        if f[3] == 'error':
            try:
                np.histogram(a, bins=int(f[2]), range=ranges[int(f[1])])
            except ValueError:
                checked += 1
                continue
            raise AssertionError(line)
        counts, edges = np.histogram(a, bins=int(f[2]), range=ranges[int(f[1])])
        got_counts = [int(c) for c in f[3].split(',')]
        got_edges = [struct.unpack('<d', struct.pack('<Q', int(e)))[0] for e in f[4].split(',')]
        assert got_counts == counts.tolist(), (line, counts)
        assert got_edges == edges.astype(np.float64).tolist(), (line, edges)
    checked += 1
print('numpy ok', checked)
";
    let Some(out) = common::run_code(d, code) else { return Ok(()) };
    assert!(out.contains("numpy ok 128"), "{out}");
    Ok(())
}

/// Bad bins and ranges are refused before anything is read, naming the numbers, as
/// NumPy's `ValueError`s: no bins, a reversed range, a range that is not finite, more bins
/// than an `f32` range has distinct edges; and more bins than memory holds.
#[test]
fn histogram_arguments_are_checked() {
    let x = array![1.0f32, 2.0, 3.0];
    let zip = || chunked::Zip::from(&x);
    let err = zip().histogram(0, (0.0, 1.0)).unwrap_err();
    assert!(matches!(err, ndmmap::Error::InvalidHistogram { bins: 0, .. }), "{err}");
    let err = zip().histogram(3, (2.0, 1.0)).unwrap_err();
    assert!(
        matches!(err, ndmmap::Error::InvalidHistogram { bins: 3, lo: 2.0, hi: 1.0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("max must be larger than min"), "{err}");
    let err = zip().histogram(3, (f64::NAN, 1.0)).unwrap_err();
    assert!(matches!(err, ndmmap::Error::InvalidHistogram { bins: 3, hi: 1.0, .. }), "{err}");
    let err = zip().histogram(3, (0.0, f64::INFINITY)).unwrap_err();
    assert!(err.to_string().contains("not finite"), "{err}");
    let err = zip().histogram(1000, (1.0, 1.0001)).unwrap_err();
    assert!(matches!(err, ndmmap::Error::InvalidHistogram { bins: 1000, .. }), "{err}");
    assert!(err.to_string().contains("too many bins"), "{err}");
    let err = zip().histogram(usize::MAX, (0.0, 1.0)).unwrap_err();
    assert!(matches!(err, ndmmap::Error::InvalidHistogram { bins: usize::MAX, .. }), "{err}");
    assert!(err.to_string().contains("memory"), "{err}");
    // The same bins fit an f64 range.
    let wide = x.mapv(f64::from);
    assert!(chunked::Zip::from(&wide).histogram(1000, (1.0, 1.0001)).is_ok());
}

/// A negative element is an error naming its value and its index, found in a later chunk
/// of a C-order and a Fortran-order file, serial and parallel; an element too large to
/// count up to is one too.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn bincount_names_the_bad_element() -> TestResult {
    let dir = tempfile::tempdir()?;
    for fortran in [false, true] {
        let path = dir.path().join(format!("x{fortran}.npy"));
        let mut x = Array2::from_shape_fn((300, 4).set_f(fortran), |(i, j)| (i + j) as i32 % 5);
        x[[211, 2]] = -7;
        x.save_npy(&path)?;
        // SAFETY: no other process touches files in this test's temporary folder.
        let mapped = unsafe { Array2::<i32>::map_npy(&path)? };
        let err = chunked::Zip::from(&mapped).chunk_bytes(256).bincount(0).unwrap_err();
        assert!(
            matches!(&err, ndmmap::Error::NegativeValue { value: -7, index } if index == &[211, 2]),
            "{err}"
        );
        assert!(err.to_string().contains("[211, 2] is -7"), "{err}");
        #[cfg(feature = "rayon")]
        {
            let err = chunked::Zip::from(&mapped).chunk_bytes(256).par_bincount(0).unwrap_err();
            assert!(
                matches!(&err, ndmmap::Error::NegativeValue { value: -7, index } if index == &[211, 2]),
                "{err}"
            );
        }
    }
    let huge = array![1u64, 2, u64::MAX, 0];
    let err = chunked::Zip::from(&huge).bincount(0).unwrap_err();
    assert!(
        matches!(&err, ndmmap::Error::CountsTooLarge { value: u64::MAX, index } if index == &[2]),
        "{err}"
    );
    let scalar = ndarray::arr0(-1i8);
    let err = chunked::Zip::from(&scalar).bincount(0).unwrap_err();
    assert!(
        matches!(&err, ndmmap::Error::NegativeValue { value: -1, index } if index.is_empty()),
        "{err}"
    );
    Ok(())
}
