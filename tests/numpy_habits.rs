//! NumPy users' habits, with NumPy itself as the peer: boolean masks saved by `np.save`,
//! and ndmmap's files handed to Dask.
//!
//! Python comes from `NDMMAP_PYTHON`, else the crate's `.venv`; without either the tests
//! print a message and skip (under `CI=true` they fail instead).
#![allow(clippy::float_cmp, reason = "exact small values")]
#![allow(clippy::cast_precision_loss, reason = "small integers, exact in f64")]

use std::path::{Path, PathBuf};
use std::process::Command;

use ndmmap::npy::{self, NpyOptions};
use ndmmap::prelude::*;

/// The Python to run NumPy with: `NDMMAP_PYTHON`, else the crate's `.venv`.
fn python() -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("NDMMAP_PYTHON") {
        return Some(python.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let found = venv.exists().then_some(venv);
    assert!(
        found.is_some() || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but no Python: set NDMMAP_PYTHON"
    );
    found
}

/// Runs `code` with Python in `dir` and returns its standard output, or `None` (with a
/// message) without Python. Panics with Python's stderr if the code fails.
fn run_python(dir: &Path, code: &str) -> Option<String> {
    let Some(python) = python() else {
        eprintln!("skipped: set NDMMAP_PYTHON or create .venv with numpy to test against NumPy");
        return None;
    };
    let output = Command::new(&python)
        .current_dir(dir)
        .args(["-c", code])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "{} failed:\n{code}\n{}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).expect("Python printed UTF-8"))
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn numpy_bool_masks_map_as_bool_and_as_u8() {
    let dir = tempfile::tempdir().unwrap();
    let code = "import numpy as np\n\
                m = np.array([[True, False, True], [False, False, True]])\n\
                np.save('mask.npy', m)\n\
                np.save('mask_f.npy', np.asfortranarray(m))\n\
                np.save('bytes.npy', m.astype(np.uint8))\n";
    if run_python(dir.path(), code).is_none() {
        return;
    }
    let expected = array![[true, false, true], [false, false, true]];
    let (mask, mask_f) = (dir.path().join("mask.npy"), dir.path().join("mask_f.npy"));
    let options = NpyOptions::new();

    // SAFETY: no other process touches files in this fresh temporary folder.
    let m = unsafe { npy::map_bool::<Ix2>(&mask, &options) }.unwrap();
    assert_eq!(*m, expected);
    // SAFETY: as above.
    let f = unsafe { npy::map_bool::<IxDyn>(&mask_f, &options) }.unwrap();
    assert_eq!(*f, expected.clone().into_dyn());
    assert!(f.t().is_standard_layout());
    // As bytes, in every mode; NumPy's `m.view(np.uint8)`.
    // SAFETY: as above.
    let bytes = unsafe { Array2::<u8>::map_npy(&mask) }.unwrap();
    assert_eq!(*bytes, expected.mapv(u8::from));
    drop((m, bytes));
    // Copy-on-write: writable bools, the file unchanged.
    // SAFETY: as above.
    let mut c = unsafe { npy::map_bool_copy::<Ix2>(&mask, &options) }.unwrap();
    c.fill(true);
    assert!(c.iter().all(|&b| b));
    drop(c);
    assert_eq!(npy::read_npy::<bool, Ix2>(&mask).unwrap(), expected);

    // A uint8 file is not a bool file.
    // SAFETY: as above.
    let err = unsafe { npy::map_bool::<Ix2>(dir.path().join("bytes.npy"), &options) }.unwrap_err();
    assert!(
        matches!(&err, ndmmap::Error::DtypeMismatch { expected, found, .. }
            if expected == "|b1" && found == "|u1"),
        "{err:?}"
    );
    // A byte of 2 in a bool file: an error, not a `bool` that is neither.
    let mut raw = std::fs::read(&mask).unwrap();
    let last = raw.len() - 1;
    raw[last] = 2;
    let bad = dir.path().join("bad.npy");
    std::fs::write(&bad, &raw).unwrap();
    // SAFETY: as above.
    let err = unsafe { npy::map_bool::<Ix2>(&bad, &options) }.unwrap_err();
    assert!(matches!(&err, ndmmap::Error::InvalidBool { path } if path == &bad), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { npy::map_bool_copy::<Ix2>(&bad, &options) }.unwrap_err();
    assert!(matches!(err, ndmmap::Error::InvalidBool { .. }), "{err:?}");
    // SAFETY: as above.
    let as_bytes = unsafe { Array2::<u8>::map_npy_copy(&bad) }.unwrap();
    assert_eq!(as_bytes[[1, 2]], 2);
}

/// The sum of a real array's elements as `f64`, whatever its element type.
fn real_sum(any: &npy::AnyNpy) -> Option<f64> {
    use npy::AnyNpy as N;
    Some(match any {
        N::Bool(a) => a.iter().filter(|&&b| b).count() as f64,
        N::I8(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::I16(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::I32(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::I64(a) => a.iter().map(|&x| x as f64).sum(),
        N::U8(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::U16(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::U32(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::U64(a) => a.iter().map(|&x| x as f64).sum(),
        N::F32(a) => a.iter().map(|&x| f64::from(x)).sum(),
        N::F64(a) => a.sum(),
        N::C64(a) => a.iter().map(|x| f64::from(x.re)).sum(),
        N::C128(a) => a.iter().map(|x| x.re).sum(),
        _ => return None,
    })
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn map_any_chooses_the_variant_numpy_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let code = r"
import numpy as np
names = ['bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32',
         'uint64', 'float32', 'float64', 'complex64', 'complex128', 'float16']
for i, name in enumerate(names):
    a = (np.arange(2 * 3 * (i % 3 + 1)) % 3).astype(name).reshape(2, 3, -1)
    a = np.asfortranarray(a) if i % 2 else a
    np.save(name + '.npy', a)
    print(name, a.dtype.name, ','.join(map(str, a.shape)), float(a.real.sum()))
np.save('big_endian.npy', np.arange(3, dtype='>f8'))
";
    let Some(listing) = run_python(dir.path(), code) else { return };
    let options = NpyOptions::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [name, dtype, shape, sum] = fields[..] else { panic!("unexpected line {line:?}") };
        let path = dir.path().join(format!("{name}.npy"));
        // SAFETY: no other process touches files in this fresh temporary folder.
        let any = unsafe { npy::map_any(&path, &options) };
        if name == "float16" && !cfg!(feature = "half") {
            let err = any.unwrap_err();
            assert!(matches!(&err, ndmmap::Error::DtypeMismatch { found, .. } if found == "<f2"));
            continue;
        }
        let any = any.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(any.dtype(), dtype);
        let shape: Vec<usize> = shape.split(',').map(|n| n.parse().unwrap()).collect();
        assert_eq!(any.shape(), shape);
        assert_eq!(any.path(), path);
        if let Some(ours) = real_sum(&any) {
            assert_eq!(ours, sum.parse::<f64>().unwrap(), "{name}");
        }
    }
    // SAFETY: as above.
    let err = unsafe { npy::map_any(dir.path().join("big_endian.npy"), &options) }.unwrap_err();
    assert!(matches!(&err, ndmmap::Error::ByteOrder { descr, .. } if descr == ">f8"), "{err:?}");
}

/// The README's Dask section: an array ndmmap wrote, opened by Dask in chunks through
/// NumPy's own memory map. Dask is installed by `.ci/run`; elsewhere, without Dask, the
/// same file is checked with NumPy alone (the part Dask builds on) and a message says so.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn dask_reads_what_ndmmap_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.npy");
    // SAFETY: no other process touches files in this fresh temporary folder.
    let mut x = unsafe { Array2::<f64>::create_npy(&path, (1000, 64)) }.unwrap();
    azip!((index (i, j), x in &mut x) *x = (i * 64 + j) as f64);
    x.close().unwrap();
    // Computed here in integers, independently of either side: 0 + 1 + ... + 63999.
    let expected = 63_999 * 64_000 / 2;

    let code = r"
import numpy as np
m = np.load('big.npy', mmap_mode='r')
try:
    import dask.array as da
except ImportError:
    print('numpy', int(m.sum()), m.shape[0], 0)
else:
    x = da.from_array(m, chunks=(250, 64))
    print('dask', int(x.sum().compute()), x.shape[0], x.numblocks[0])
";
    let Some(out) = run_python(dir.path(), code) else { return };
    let fields: Vec<&str> = out.split_whitespace().collect();
    let [engine, sum, rows, blocks] = fields[..] else { panic!("unexpected output {out:?}") };
    if engine == "numpy" {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but Dask is not installed");
        eprintln!("Dask not installed: checked with NumPy alone (bash .ci/run installs Dask)");
    } else {
        assert_eq!(blocks, "4");
    }
    assert_eq!(sum.parse::<u64>().unwrap(), expected);
    assert_eq!(rows, "1000");
}
