//! The out-of-core engine, `ndmmap::chunked::Zip`, on real files: results equal plain
//! ndarray `Zip` results for many shapes, orders, chunk sizes and thread counts; errors
//! come before anything is written; copy-on-write guards keep their changes, as outputs and
//! as inputs; guards with custom and negative strides are chunked and released; operands in
//! different memory orders are walked together over several chunks; the engine's own
//! resident set, measured in a child process, stays near the README's figure where a plain
//! `Zip`'s grows with the arrays.
//!
//! Every test maps files and so is ignored under Miri (rust-lang/miri#2520).

// Expected values are small integers held exactly in `f64`, so exact comparison is right.
#![allow(clippy::float_cmp)]
// Indices become `f64` values; all are far below 2^53.
#![allow(clippy::cast_precision_loss)]

use std::path::{Path, PathBuf};

use ndarray::RemoveAxis;
use ndmmap::chunked;
use ndmmap::prelude::*;

use crate::common;

mod arg;
mod cancel;
mod concat;
mod count;
mod filter;
mod folds;
mod gather;
mod into;
mod layouts;
mod limits;
mod matmul;
mod memory;
mod reductions;
mod scan;
mod walks;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Shapes covering zero-length axes, single elements, lengths that no chunk size divides,
/// and one to three dimensions.
const SHAPES: &[&[usize]] = &[
    &[0],
    &[1],
    &[7],
    &[1000],
    &[0, 4],
    &[4, 0],
    &[3, 5],
    &[17, 13],
    &[1, 9],
    &[9, 1],
    &[2, 3, 4],
    &[5, 1, 7],
    &[6, 11, 3],
];

/// Chunk sizes in bytes: smaller than an element, not dividing any row, and larger than
/// every array.
const CHUNKS: &[usize] = &[1, 8, 24, 200, 4096, 1 << 20];

fn options(shape: &[usize], fortran: bool) -> MapOptions<IxDyn> {
    MapOptions::new().shape(dyn_shape(shape, fortran))
}

/// A dynamic shape in C or Fortran order, for creating files.
fn dyn_shape(shape: &[usize], fortran: bool) -> StrideShape<IxDyn> {
    IxDyn(shape).set_f(fortran).into()
}

/// Writes `values` to a new file in the given order and maps it read-only.
fn mapped_input(
    path: &Path,
    values: &ArrayD<f64>,
    fortran: bool,
) -> Result<MmapArray<f64, IxDyn>, ndmmap::Error> {
    let shape = dyn_shape(values.shape(), fortran);
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut file = unsafe { ArrayD::<f64>::create_file(path, shape)? };
    file.assign(values);
    file.close()?;
    // SAFETY: as above.
    unsafe { ArrayD::<f64>::map_file_with(path, &options(values.shape(), fortran)) }
}

fn input_values(shape: &[usize], scale: f64) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(shape), |ix| {
        scale * ix.slice().iter().enumerate().map(|(k, &i)| (i * (k + 3)) as f64).sum::<f64>()
    })
}

/// The bytes of `values` in the order of a file of that layout.
fn file_bytes(values: &ArrayD<f64>, fortran: bool) -> Vec<u8> {
    let elems: Vec<f64> = if fortran {
        values.t().iter().copied().collect()
    } else {
        values.iter().copied().collect()
    };
    bytemuck::cast_slice(&elems).to_vec()
}

/// How each case runs the add.
#[derive(Clone, Copy, Debug)]
enum Run {
    ForEach,
    TryForEach,
    #[cfg(feature = "rayon")]
    Par(usize),
}

/// `c = 2 a + b` through the engine on three files; checks the file against plain `Zip`.
fn add_case(dir: &Path, shape: &[usize], fortran: bool, chunk: usize, run: Run) -> TestResult {
    let (a_path, b_path, c_path) = (dir.join("a.bin"), dir.join("b.bin"), dir.join("c.bin"));
    for path in [&a_path, &b_path, &c_path] {
        let _ = std::fs::remove_file(path);
    }
    let (a_values, b_values) = (input_values(shape, 1.0), input_values(shape, -0.5));
    let a = mapped_input(&a_path, &a_values, fortran)?;
    let b = mapped_input(&b_path, &b_values, fortran)?;
    // SAFETY: no other process touches files in this test's temporary folder.
    let mut c = unsafe { ArrayD::<f64>::create_file(&c_path, dyn_shape(shape, fortran))? };

    let mut expected = ArrayD::<f64>::zeros(IxDyn(shape).set_f(fortran));
    Zip::from(&mut expected).and(&a_values).and(&b_values).for_each(|c, &a, &b| *c = 2.0 * a + b);

    let mut reports = Vec::new();
    let zip = chunked::Zip::from(&mut c)
        .and(&a)
        .and(&b)
        .chunk_bytes(chunk)
        .progress(|done, total| reports.push((done, total)));
    match run {
        Run::ForEach => zip.for_each(|c, &a, &b| *c = 2.0 * a + b)?,
        Run::TryForEach => zip.try_for_each(|c, &a, &b| {
            *c = 2.0 * a + b;
            Ok::<(), ndmmap::Error>(())
        })?,
        #[cfg(feature = "rayon")]
        Run::Par(threads) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            pool.install(|| zip.par_for_each(|c, &a, &b| *c = 2.0 * a + b))?;
        }
    }
    let case = format!("shape {shape:?} fortran {fortran} chunk {chunk} {run:?}");
    assert_eq!(*c, expected, "{case}");
    drop(c);
    assert_eq!(std::fs::read(&c_path)?, file_bytes(&expected, fortran), "{case}");

    // Progress: increasing, ending at the total (the bytes of the three operands), never
    // called for empty arrays.
    let total = 3 * 8 * expected.len() as u64;
    assert!(reports.windows(2).all(|w| w[0].0 < w[1].0), "{case}: {reports:?}");
    assert!(reports.iter().all(|&(_, t)| t == total), "{case}");
    if total == 0 {
        assert!(reports.is_empty(), "{case}");
    } else {
        assert_eq!(reports.last().map(|r| r.0), Some(total), "{case}");
    }
    Ok(())
}

/// Storage for one memory order of a logical array, and how to view it as that array.
struct Variant {
    storage: ArrayD<f64>,
    view: fn(&ArrayD<f64>) -> ArrayViewD<'_, f64>,
}

/// The logical array `x` laid out in the `kind`-th of five ways: C order, Fortran order,
/// axis 0 reversed in memory (negative stride), every other element of a larger array
/// (sliced), and the transpose of a C-order array of the reversed shape.
fn variant(x: &ArrayD<f64>, kind: u8) -> Variant {
    match kind % 5 {
        0 => Variant { storage: x.as_standard_layout().into_owned(), view: |s| s.view() },
        1 => {
            let mut f = ArrayD::zeros(x.raw_dim().f());
            f.assign(x);
            Variant { storage: f, view: |s| s.view() }
        }
        2 => {
            let mut flipped = x.view();
            flipped.invert_axis(Axis(0));
            Variant {
                storage: flipped.as_standard_layout().into_owned(),
                view: |s| {
                    let mut v = s.view();
                    v.invert_axis(Axis(0));
                    v
                },
            }
        }
        3 => {
            let big: Vec<usize> = x.shape().iter().map(|&d| 2 * d).collect();
            let mut storage = ArrayD::from_elem(IxDyn(&big), f64::NAN);
            storage.slice_each_axis_mut(|_| ndarray::Slice::new(0, None, 2)).assign(x);
            Variant { storage, view: |s| s.slice_each_axis(|_| ndarray::Slice::new(0, None, 2)) }
        }
        _ => Variant { storage: x.t().as_standard_layout().into_owned(), view: |s| s.t() },
    }
}

/// A random shape of 1 to 3 axes of length 0 to 6, from quickcheck's bytes.
fn small_shape(dims: &[u8]) -> Vec<usize> {
    let mut shape: Vec<usize> = dims.iter().take(3).map(|&d| usize::from(d % 7)).collect();
    if shape.is_empty() {
        shape.push(5);
    }
    shape
}

/// Whether `got` equals `expected` within a relative tolerance, NaN matching NaN.
fn close<D: Dimension>(got: &ArrayRef<f64, D>, expected: &ArrayRef<f64, D>) -> bool {
    got.shape() == expected.shape()
        && got.iter().zip(expected).all(|(&g, &e)| {
            (g.is_nan() && e.is_nan()) || g == e || (g - e).abs() <= 1e-9 * e.abs().max(1.0)
        })
}

/// NumPy's `min`/`max` along an axis, lane by lane: NaN wins.
fn naive_extreme(x: &ArrayD<f64>, axis: Axis, max: bool) -> ArrayD<f64> {
    x.map_axis(axis, |lane| {
        lane.iter()
            .copied()
            .reduce(|m, v| {
                if m.is_nan() || v.is_nan() {
                    f64::NAN
                } else if max {
                    m.max(v)
                } else {
                    m.min(v)
                }
            })
            .expect("non-empty lane")
    })
}

/// Peak resident set growth in KiB while `job` runs (resets the peak first).
#[cfg(target_os = "linux")]
fn peak_growth_kib(job: impl FnOnce()) -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident set");
    let before = status_kib("VmRSS:");
    job();
    status_kib("VmHWM:").saturating_sub(before)
}

/// A field of this process's `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
#[cfg(target_os = "linux")]
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status.lines().find(|l| l.starts_with(field)).expect("the field");
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().expect("kB")
}

/// What a test run again in a child process (`common::rerun`) printed.
#[cfg(target_os = "linux")]
struct ChildReport(String);

#[cfg(target_os = "linux")]
impl ChildReport {
    /// Runs test `name` of `module` in a child process with the variable `child` set to
    /// `dir` (the child does the measured work there and prints `key value` pairs), and
    /// asserts that it succeeded.
    fn run(module: &str, name: &str, child: &str, dir: &Path) -> std::io::Result<Self> {
        let out = common::rerun(module, name).env(child, dir).output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Self(stdout))
    }

    /// The number printed after `key ` (libtest may print the test's name on the same line
    /// first).
    fn number(&self, key: &str) -> u64 {
        let pattern = format!("{key} ");
        let at = self.0.find(&pattern).unwrap_or_else(|| panic!("no {key} in {}", self.0));
        let rest = &self.0[at + pattern.len()..];
        rest.split_whitespace().next().and_then(|n| n.parse().ok()).expect("a number")
    }

    /// Whether the child printed `text`.
    fn says(&self, text: &str) -> bool {
        self.0.contains(text)
    }
}
