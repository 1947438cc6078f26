//! `chunked::concatenate` and `chunked::stack`: the file equals ndarray's `concatenate` and
//! `stack` of the same pieces for random shapes, axes, memory orders (C, Fortran, strided
//! and permuted views, `.npy` files in either order, mapped guards shared and
//! copy-on-write) and chunk sizes; NumPy's `np.save(np.concatenate(...))` writes the same
//! bytes; the kernel's copy and the read-and-write fallback (across file systems) give the
//! same file; bad pieces are typed errors and leave no file.

// The test values are small: they fit i32 and u16 exactly.
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]

use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn, Slice};
use ndmmap::Error;
use ndmmap::chunked::{self, Piece};
use ndmmap::prelude::*;
use quickcheck::QuickCheck;

use super::TestResult;
use crate::common;

/// A small deterministic generator (xorshift), so that a failing case is named by its
/// number alone.
struct Rng(u64);

impl Rng {
    fn new(case: u64) -> Rng {
        Rng(case.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).expect("below n")
    }
}

/// How a piece is handed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An array in C order in memory.
    MemoryC,
    /// An array in Fortran order in memory.
    MemoryF,
    /// A view with permuted axes and a step along one axis.
    Strided,
    /// A `.npy` file in C order.
    NpyC,
    /// A `.npy` file in Fortran order.
    NpyF,
    /// A shared map of a `.npy` file in C order.
    MappedC,
    /// A shared map of a `.npy` file in Fortran order.
    MappedF,
    /// A copy-on-write map, changed in memory (the file differs from the map).
    CopyOnWrite,
}

const KINDS: [Kind; 8] = [
    Kind::MemoryC,
    Kind::MemoryF,
    Kind::Strided,
    Kind::NpyC,
    Kind::NpyF,
    Kind::MappedC,
    Kind::MappedF,
    Kind::CopyOnWrite,
];

/// The guards and arrays the pieces borrow, kept alive for the call.
enum Held {
    Array(ArrayD<f64>),
    Npy(std::path::PathBuf),
    Mapped(ndmmap::MmapArray<f64, IxDyn>),
    Writable(ndmmap::MmapArrayMut<f64, IxDyn>),
}

impl Held {
    fn piece(&self, strided: bool) -> Piece<'_, f64> {
        match self {
            Held::Array(a) if strided => Piece::from(strided_view(a)),
            Held::Array(a) => Piece::from(a),
            Held::Npy(path) => Piece::npy(path),
            Held::Mapped(guard) => Piece::from(guard),
            Held::Writable(guard) => Piece::from(guard),
        }
    }
}

/// The view a `Strided` piece shows of its backing array: every other element along the
/// last axis, axes reversed.
fn strided_view(backing: &ArrayD<f64>) -> ArrayViewD<'_, f64> {
    let last = backing.ndim().saturating_sub(1);
    let view = backing.slice_each_axis(|axis| {
        if axis.axis.index() == last { Slice::new(0, None, 2) } else { Slice::from(..) }
    });
    view.reversed_axes()
}

/// Makes a piece of `shape` (values from `first` on) as `kind`, in `dir`; returns what
/// holds it and the array it shows.
fn make(dir: &Path, name: &str, kind: Kind, shape: &[usize], first: f64) -> (Held, ArrayD<f64>) {
    let values = ArrayD::from_shape_fn(IxDyn(shape), |i| {
        first + i.slice().iter().fold(0.0, |acc, &k| acc * 10.0 + k as f64)
    });
    // The same values in Fortran order.
    let mut fortran = ArrayD::<f64>::zeros(IxDyn(shape).f());
    fortran.assign(&values);
    let path = dir.join(format!("{name}.npy"));
    let zero_d = shape.is_empty();
    let kind = if zero_d && kind == Kind::Strided { Kind::MemoryC } else { kind };
    let held = match kind {
        Kind::MemoryC => Held::Array(values.clone()),
        Kind::MemoryF => Held::Array(fortran.clone()),
        Kind::Strided => {
            // The backing array: axes reversed, the last one doubled.
            let mut back: Vec<usize> = shape.iter().rev().copied().collect();
            *back.last_mut().expect("not 0-d") *= 2;
            let mut backing = ArrayD::<f64>::from_elem(IxDyn(&back), -1.0);
            let reversed = values.view().reversed_axes();
            let last = back.len() - 1;
            backing
                .slice_each_axis_mut(|axis| {
                    if axis.axis.index() == last { Slice::new(0, None, 2) } else { Slice::from(..) }
                })
                .assign(&reversed);
            Held::Array(backing)
        }
        Kind::NpyC | Kind::MappedC => {
            values.save_npy(&path).expect("save");
            Held::Npy(path)
        }
        Kind::NpyF | Kind::MappedF | Kind::CopyOnWrite => {
            fortran.save_npy(&path).expect("save");
            Held::Npy(path)
        }
    };
    let held = match (kind, held) {
        (Kind::MappedC | Kind::MappedF, Held::Npy(path)) => {
            // SAFETY: nothing else touches this test's temporary files.
            Held::Mapped(unsafe { ArrayD::<f64>::map_npy(&path) }.expect("map"))
        }
        (Kind::CopyOnWrite, Held::Npy(path)) => {
            // SAFETY: as above.
            let mut guard = unsafe { ArrayD::<f64>::map_npy_copy(&path) }.expect("map");
            // The map now differs from the file: the copy must read the map.
            guard.mapv_inplace(|x| x + 0.5);
            Held::Writable(guard)
        }
        (_, held) => held,
    };
    let shown = if kind == Kind::CopyOnWrite { values.mapv(|x| x + 0.5) } else { values };
    (held, shown)
}

/// One random concatenation or stack, checked against ndarray's.
fn concat_equals_ndarray(case: u64) -> Result<(), String> {
    let mut rng = Rng::new(case);
    let stack = rng.below(3) == 0;
    let ndim = if stack { rng.below(3) } else { 1 + rng.below(3) };
    let dim = |rng: &mut Rng| if rng.below(10) == 0 { 0 } else { 1 + rng.below(4) };
    let base: Vec<usize> = (0..ndim).map(|_| dim(&mut rng)).collect();
    let axis = rng.below(if stack { ndim + 1 } else { ndim });
    let count = 1 + rng.below(4);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut held = Vec::new();
    let mut shown = Vec::new();
    let mut kinds = Vec::new();
    for p in 0..count {
        let mut shape = base.clone();
        if !stack {
            shape[axis] = rng.below(6);
        }
        let kind = KINDS[rng.below(KINDS.len())];
        let (h, s) = make(dir.path(), &format!("p{p}"), kind, &shape, 1000.0 * p as f64);
        held.push(h);
        shown.push(s);
        kinds.push(kind);
    }
    let chunk = [None, Some(8), Some(24), Some(100), Some(4096)][rng.below(5)];
    let order = [None, None, Some(Order::RowMajor), Some(Order::ColumnMajor)][rng.below(4)];
    let raw = rng.below(4) == 0;
    let describe = format!(
        "case {case}: {} along {axis} of {kinds:?} shapes {:?}, chunk {chunk:?}, order {order:?}, raw {raw}",
        if stack { "stack" } else { "concatenate" },
        shown.iter().map(|s| s.shape().to_vec()).collect::<Vec<_>>(),
    );
    let views: Vec<ArrayViewD<'_, f64>> = shown.iter().map(|s| s.view()).collect();
    let expected = if stack {
        ndarray::stack(Axis(axis), &views)
    } else {
        ndarray::concatenate(Axis(axis), &views)
    }
    .map_err(|e| format!("{describe}: ndarray: {e}"))?;
    let pieces = held.iter().zip(&kinds).map(|(h, k)| h.piece(*k == Kind::Strided));
    let mut join = if stack {
        chunked::stack(Axis(axis), pieces)
    } else {
        chunked::concatenate(Axis(axis), pieces)
    };
    if let Some(bytes) = chunk {
        join = join.chunk_bytes(bytes);
    }
    if let Some(order) = order {
        join = join.order(order);
    }
    // NumPy's order: Fortran when every piece of a concatenation is (and one is not C).
    let layouts: Vec<(bool, bool)> =
        held.iter().zip(&kinds).map(|(h, k)| layout_of(h, *k)).collect();
    let fortran = order.map_or_else(
        || {
            !stack
                && expected.ndim() >= 2
                && layouts.iter().all(|(_, f)| *f)
                && layouts.iter().any(|(c, _)| !c)
        },
        |o| o == Order::ColumnMajor,
    );
    let out = dir.path().join("out");
    if raw {
        join.write_raw(&out).map_err(|e| format!("{describe}: {e}"))?;
        let in_order = if fortran {
            expected.t().as_standard_layout().to_owned()
        } else {
            expected.as_standard_layout().to_owned()
        };
        let bytes = std::fs::read(&out).map_err(|e| e.to_string())?;
        let want: &[u8] = bytemuck::cast_slice(in_order.as_slice().expect("standard"));
        if bytes != want {
            return Err(format!("{describe}: raw bytes differ"));
        }
    } else {
        join.write_npy(&out).map_err(|e| format!("{describe}: {e}"))?;
        let header = ndmmap::npy::inspect(&out).map_err(|e| e.to_string())?;
        let got: ArrayD<f64> = ndmmap::npy::read_npy(&out).map_err(|e| e.to_string())?;
        if got != expected {
            return Err(format!("{describe}: got {got:?}, expected {expected:?}"));
        }
        if header.fortran_order != fortran {
            return Err(format!("{describe}: fortran_order {}", header.fortran_order));
        }
    }
    Ok(())
}

/// Whether a piece, as handed over, is in C order and in Fortran order.
fn layout_of(held: &Held, kind: Kind) -> (bool, bool) {
    let of = |v: ArrayViewD<'_, f64>| (v.is_standard_layout(), v.t().is_standard_layout());
    match held {
        Held::Array(a) if kind == Kind::Strided => of(strided_view(a)),
        Held::Array(a) => of(a.view()),
        Held::Mapped(guard) => of(guard.view()),
        Held::Writable(guard) => of(guard.view()),
        Held::Npy(path) => {
            let header = ndmmap::npy::inspect(path).expect("inspect");
            let shape = &header.shape;
            let both = shape.contains(&0) || shape.iter().filter(|&&d| d > 1).count() <= 1;
            (both || !header.fortran_order, both || header.fortran_order)
        }
    }
}

/// The file equals ndarray's `concatenate` or `stack` of the pieces, for random cases.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn concatenate_and_stack_equal_ndarray() {
    QuickCheck::new().tests(300).quickcheck(concat_equals_ndarray as fn(u64) -> Result<(), String>);
}

/// NumPy's `np.save(np.concatenate(...))` and `np.save(np.stack(...))` write the same bytes,
/// for `.npy` pieces in C and Fortran order along every axis.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn numpy_writes_the_same_bytes() -> TestResult {
    if common::numpy_python().is_none() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let a = Array3::from_shape_fn((3, 4, 5), |(i, j, k)| (i * 100 + j * 10 + k) as i32);
    let b = Array3::from_shape_fn((3, 4, 5), |(i, j, k)| -((i * 100 + j * 10 + k) as i32));
    let mut bf = Array3::<i32>::zeros((3, 4, 5).f());
    bf.assign(&b);
    let mut af = Array3::<i32>::zeros((3, 4, 5).f());
    af.assign(&a);
    a.save_npy(d.join("a.npy"))?;
    bf.save_npy(d.join("bf.npy"))?;
    af.save_npy(d.join("af.npy"))?;
    for axis in 0..3 {
        let mixed = [Piece::<i32>::npy(d.join("a.npy")), Piece::npy(d.join("bf.npy"))];
        chunked::concatenate(Axis(axis), mixed)
            .chunk_bytes(64)
            .write_npy(d.join(format!("c{axis}.npy")))?;
        let fortran = [Piece::<i32>::npy(d.join("af.npy")), Piece::npy(d.join("bf.npy"))];
        chunked::concatenate(Axis(axis), fortran).write_npy(d.join(format!("f{axis}.npy")))?;
        let three = [Piece::from(&a), Piece::npy(d.join("bf.npy")), Piece::from(&af)];
        chunked::stack(Axis(axis), three)
            .chunk_bytes(48)
            .write_npy(d.join(format!("s{axis}.npy")))?;
    }
    chunked::stack(Axis(3), [Piece::from(&a), Piece::from(&b)]).write_npy(d.join("s3.npy"))?;
    let code = r#"
import io, numpy as np
a, bf, af = np.load("a.npy"), np.load("bf.npy"), np.load("af.npy")
assert bf.flags.f_contiguous and af.flags.f_contiguous
def saved(x):
    out = io.BytesIO()
    np.save(out, x)
    return out.getvalue()
for axis in range(3):
    for name, want in [
        (f"c{axis}.npy", np.concatenate([a, bf], axis)),
        (f"f{axis}.npy", np.concatenate([af, bf], axis)),
        (f"s{axis}.npy", np.stack([a, bf, af], axis)),
    ]:
        got = open(name, "rb").read()
        assert got == saved(want), (name, np.load(name), want)
assert open("s3.npy", "rb").read() == saved(np.stack([a, -a], 3))
print("ok")
"#;
    let out = common::run_code(d, code).expect("NumPy is there");
    assert_eq!(out.trim(), "ok");
    Ok(())
}

/// The same `.npy` pieces, joined by the kernel's copy (pieces beside the output, on one
/// file system) and by reading and writing (pieces on a tmpfs, the output on a disk: the
/// kernel refuses to copy across file systems), give the file ndarray's `concatenate`
/// says, along each axis.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn kernel_copy_and_fallback_agree() -> TestResult {
    let Some(disk) = common::disk_tempdir() else { return Ok(()) };
    let Some(tmpfs) = common::Tmpfs::new(64) else { return Ok(()) };
    let a = Array2::from_shape_fn((300, 70), |(i, j)| (i * 70 + j) as u16);
    let b = Array2::from_shape_fn((300, 50), |(i, j)| (60_000 - i * 50 - j) as u16);
    let c = Array2::from_shape_fn((10, 70), |(i, j)| (i + j) as u16);
    for folder in [disk.path(), tmpfs.path()] {
        a.save_npy(folder.join("a.npy"))?;
        b.save_npy(folder.join("b.npy"))?;
        c.save_npy(folder.join("c.npy"))?;
    }
    for (name, folder) in [("kernel", disk.path()), ("fallback", tmpfs.path())] {
        let out = disk.path().join(format!("{name}0.npy"));
        let pieces = [Piece::<u16>::npy(folder.join("a.npy")), Piece::npy(folder.join("c.npy"))];
        chunked::concatenate(Axis(0), pieces).chunk_bytes(4096).write_npy(&out)?;
        let got: Array2<u16> = ndmmap::npy::read_npy(&out)?;
        assert_eq!(got, ndarray::concatenate(Axis(0), &[a.view(), c.view()])?, "{name}");
        let out = disk.path().join(format!("{name}1.npy"));
        let pieces = [Piece::<u16>::npy(folder.join("a.npy")), Piece::npy(folder.join("b.npy"))];
        chunked::concatenate(Axis(1), pieces).write_npy(&out)?;
        let got: Array2<u16> = ndmmap::npy::read_npy(&out)?;
        assert_eq!(got, ndarray::concatenate(Axis(1), &[a.view(), b.view()])?, "{name}");
        // A mapped piece is copied from its file too.
        // SAFETY: nothing else touches this test's temporary files.
        let mapped = unsafe { Array2::<u16>::map_npy(folder.join("b.npy"))? };
        let out = disk.path().join(format!("{name}2.npy"));
        let pieces = [Piece::from(&mapped), Piece::npy(folder.join("a.npy"))];
        chunked::concatenate(Axis(1), pieces).chunk_bytes(1000).write_npy(&out)?;
        let got: Array2<u16> = ndmmap::npy::read_npy(&out)?;
        assert_eq!(got, ndarray::concatenate(Axis(1), &[b.view(), a.view()])?, "{name}");
    }
    Ok(())
}

/// The files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Bad pieces are typed errors naming the piece and the numbers, found before any file is
/// made: nothing is left in the folder.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn bad_pieces_are_errors_and_leave_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let a = Array2::<f64>::zeros((3, 4));
    let narrow = Array2::<f64>::zeros((3, 2));
    Array2::<f64>::zeros((2, 5)).save_npy(d.join("wide.npy"))?;
    Array2::<f32>::zeros((2, 4)).save_npy(d.join("single.npy"))?;
    std::fs::write(d.join("not.npy"), b"not a header")?;
    let before = files_in(d);
    let out = d.join("out.npy");

    let err = chunked::concatenate::<f64>(Axis(0), []).write_npy(&out).unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err}");

    let pieces = [Piece::from(&a), Piece::from(&narrow)];
    let err = chunked::concatenate(Axis(0), pieces).write_npy(&out).unwrap_err();
    assert!(
        matches!(&err, Error::PieceMismatch { index: 1, path: None, axis: Some(0), expected, actual }
            if expected == &[3, 4] && actual == &[3, 2]),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the array at index 1 has shape [3, 2] but the array at index 0 has shape [3, 4]: \
         all dimensions except for the concatenation axis (0) must match exactly"
    );

    let pieces = [Piece::from(&a), Piece::from(&a), Piece::npy(d.join("wide.npy"))];
    let err = chunked::concatenate(Axis(0), pieces).write_raw(&out).unwrap_err();
    assert!(
        matches!(&err, Error::PieceMismatch { index: 2, path: Some(p), .. } if p.ends_with("wide.npy")),
        "{err:?}"
    );

    let pieces = [Piece::from(&a), Piece::from(a.slice(s![..2, ..]))];
    let err = chunked::stack(Axis(0), pieces).write_npy(&out).unwrap_err();
    assert!(matches!(err, Error::PieceMismatch { index: 1, axis: None, .. }), "{err:?}");

    let err = chunked::concatenate(Axis(2), [Piece::from(&a)]).write_npy(&out).unwrap_err();
    assert!(matches!(err, Error::AxisOutOfRange { axis: 2, ndim: 2 }), "{err:?}");
    let err = chunked::stack(Axis(4), [Piece::from(&a)]).write_npy(&out).unwrap_err();
    assert!(matches!(err, Error::AxisOutOfRange { axis: 4, ndim: 3 }), "{err:?}");

    let scalar = ndarray::arr0(1.0f64);
    let err = chunked::concatenate(Axis(0), [Piece::from(&scalar)]).write_npy(&out).unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err:?}");

    let pieces = [Piece::from(&a), Piece::npy(d.join("single.npy"))];
    let err = chunked::concatenate(Axis(0), pieces).write_npy(&out).unwrap_err();
    assert!(matches!(err, Error::DtypeMismatch { .. }), "{err:?}");

    let pieces = [Piece::from(&a), Piece::npy(d.join("not.npy"))];
    let err = chunked::concatenate(Axis(0), pieces).write_npy(&out).unwrap_err();
    assert!(matches!(err, Error::Npy { .. }), "{err:?}");

    let pieces = [Piece::from(&a), Piece::npy(d.join("missing.npy"))];
    let err = chunked::concatenate(Axis(0), pieces).write_npy(&out).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    let pieces = [Piece::from(&a), Piece::from(&a)];
    let err = chunked::concatenate(Axis(0), pieces).write_npy(d.join("wide.npy")).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");

    assert_eq!(files_in(d), before);
    Ok(())
}

/// A file that does not fit the disk is an `Error::NoSpace`, and no file (nor a temporary
/// one) is left behind.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn full_disk_leaves_nothing() {
    let Some(tmpfs) = common::Tmpfs::new(4) else { return };
    if !tmpfs.mounted() {
        common::skip("the tmpfs was not mounted for the test: its size is not 4 MiB");
        return;
    }
    let a = Array1::<u8>::from_elem(3 << 20, 7);
    let out = tmpfs.path().join("out.npy");
    let err = chunked::concatenate(Axis(0), [Piece::from(&a), Piece::from(&a)])
        .write_npy(&out)
        .unwrap_err();
    assert!(matches!(err, Error::NoSpace { .. }), "{err:?}");
    assert_eq!(files_in(tmpfs.path()), Vec::<String>::new());
}

/// A `.npy` piece in Fortran order joined into a C-order file, with columns of 8 MiB
/// and 1 MiB chunks: it is transposed a tile at a time, so that the process's peak
/// resident set grows by a few chunks, not by a column (measured in a child process, so
/// that other tests' memory does not count), and the file equals ndarray's.
#[cfg(target_os = "linux")]
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn fortran_pieces_with_columns_longer_than_a_chunk_are_transposed_in_tiles() -> TestResult {
    const CHILD: &str = "NDMMAP_TEST_CONCAT_TILES_DIR";
    const NAME: &str = "fortran_pieces_with_columns_longer_than_a_chunk_are_transposed_in_tiles";
    const ROWS: usize = 1 << 20; // f64: 8 MiB a column
    if let Ok(dir) = std::env::var(CHILD) {
        let dir = Path::new(&dir);
        let a = Array2::from_shape_fn((ROWS, 3).f(), |(i, j)| (i * 3 + j) as f64);
        let b = Array2::from_shape_fn((5, 3), |(i, j)| -((i * 3 + j) as f64));
        a.save_npy(dir.join("a.npy"))?;
        b.save_npy(dir.join("b.npy"))?;
        assert!(ndmmap::npy::inspect(dir.join("a.npy"))?.fortran_order);
        let expected = ndarray::concatenate(Axis(0), &[b.view(), a.view()])?;
        drop((a, b));
        let out = dir.join("out.npy");
        let pieces = [Piece::<f64>::npy(dir.join("b.npy")), Piece::npy(dir.join("a.npy"))];
        let join =
            chunked::concatenate(Axis(0), pieces).order(Order::RowMajor).chunk_bytes(1 << 20);
        // The same join in small first, so that the code it runs is in memory before the
        // measure (the test binary's pages count in the resident set).
        let small = Array2::from_shape_fn((64, 3).f(), |(i, j)| (i + j) as f64);
        small.save_npy(dir.join("small.npy"))?;
        let warm = [Piece::<f64>::npy(dir.join("b.npy")), Piece::npy(dir.join("small.npy"))];
        let warm = chunked::concatenate(Axis(0), warm).order(Order::RowMajor).chunk_bytes(64);
        warm.write_npy(dir.join("warm.npy"))?;
        let growth = super::peak_growth_kib(|| join.write_npy(&out).expect("concatenate"));
        let got: Array2<f64> = ndmmap::npy::read_npy(&out)?;
        println!("ok {} growth_kib {growth}", got == expected);
        return Ok(());
    }
    let Some(dir) = common::disk_tempdir() else { return Ok(()) };
    let child = super::ChildReport::run(module_path!(), NAME, CHILD, dir.path())?;
    let growth = child.number("ok true growth_kib");
    eprintln!(
        "Fortran piece with 8 MiB columns into C order: peak resident set growth {growth} KiB"
    );
    assert!(growth < 6 << 10, "the resident set grew by {growth} KiB");
    Ok(())
}
