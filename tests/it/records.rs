//! Structured (record) dtypes against NumPy: fixtures `np.save` and `np.savez` wrote, mapped
//! read-only, copy-on-write and read-write onto `npy_record!` structs and compared with
//! values computed here; files ndmmap writes (save, create, growth) read back by `np.load`,
//! byte-identical to `np.save`'s; every mismatch a typed error.
//!
//! The NumPy tests run `tests/python/records_interop.py` with `common::numpy_python`:
//! without NumPy they skip, and under `CI=true` they fail; a failing Python step fails the
//! test.
#![allow(
    clippy::float_cmp,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::many_single_char_names
)]

use std::path::Path;

use bytemuck::Pod;
use ndmmap::npy::{NpyElement, NpyRecord, RecordFieldsExt, read_npy};
use ndmmap::prelude::*;

use crate::common;
use ndmmap::{Error, MmapArray, MmapArrayMut, Result};

ndmmap::npy_record!(
    #[derive(Debug, PartialEq)]
    struct Point {
        x: f32,
        y: f32,
        id: i64,
    }
);
ndmmap::npy_record!(
    #[derive(Debug, PartialEq)]
    struct Aligned {
        a: u8,
        _pad: [u8; 7],
        b: f64,
    }
);
ndmmap::npy_record!(
    #[derive(Debug, PartialEq)]
    struct Inner {
        a: u8,
        _pad: [u8; 3],
        b: i32,
    }
);
ndmmap::npy_record!(
    #[derive(Debug, PartialEq)]
    struct Nested {
        p: Inner,
        pos: [f32; 3],
        _pad: [u8; 4],
        m: [[f64; 2]; 2],
    }
);
ndmmap::npy_record!(
    #[derive(Debug, PartialEq)]
    struct Trailing {
        a: i32,
        _gap: [u8; 4],
        b: f64,
        _end: [u8; 8],
    }
);
ndmmap::npy_record!(
    #[derive(Debug, PartialEq)]
    struct Big {
        a: i32,
        b: f32,
    }
);

// NumPy's default (packed) dtypes.
ndmmap::npy_record!(
    #[repr(C, packed)]
    #[derive(Debug, PartialEq)]
    struct Sample {
        t: f64,
        x: f32,
        y: f32,
        id: u32,
    }
);
ndmmap::npy_record!(
    #[repr(C, packed)]
    #[derive(Debug, PartialEq)]
    struct Mixed {
        a: u8,
        b: f64,
    }
);
ndmmap::npy_record!(
    /// A packed record holding a packed record and a sub-array.
    #[repr(C, packed)]
    #[derive(Debug, PartialEq)]
    struct PackedNested {
        flag: u8,
        p: Mixed,
        pos: [f32; 3],
        c: i16,
    }
);

fn samples(n: usize) -> Array1<Sample> {
    (0..n)
        .map(|i| Sample { t: i as f64 / 2.0, x: i as f32, y: 0.0 - i as f32, id: 100 + i as u32 })
        .collect()
}

fn mixed(n: usize) -> Array1<Mixed> {
    (0..n).map(|i| Mixed { a: (i % 256) as u8, b: i as f64 * 0.25 }).collect()
}

fn packed_nested(n: usize) -> Array1<PackedNested> {
    (0..n)
        .map(|i| PackedNested {
            flag: i as u8,
            p: Mixed { a: 2 * i as u8, b: -1.5 * i as f64 },
            pos: [i as f32, i as f32 + 1.0, i as f32 + 2.0],
            c: -(i as i16),
        })
        .collect()
}

fn point(i: usize) -> Point {
    Point { x: i as f32 + 0.5, y: 0.0 - i as f32, id: 1000 + i as i64 }
}

fn points(shape: &[usize], fortran: bool) -> ArrayD<Point> {
    let n = shape.iter().product();
    let c = ArrayD::from_shape_vec(shape, (0..n).map(point).collect()).unwrap();
    if fortran {
        let mut f = ArrayD::from_elem(IxDyn(shape).f(), point(0));
        f.assign(&c);
        f
    } else {
        c
    }
}

fn aligned(n: usize) -> Array1<Aligned> {
    (0..n).map(|i| Aligned { a: (i % 256) as u8, _pad: [0; 7], b: i as f64 * 0.25 }).collect()
}

fn nested(n: usize) -> Array1<Nested> {
    (0..n)
        .map(|i| {
            let f = i as f64;
            Nested {
                p: Inner { a: i as u8, _pad: [0; 3], b: -(i as i32) },
                pos: [i as f32, i as f32 + 1.0, i as f32 + 2.0],
                _pad: [0; 4],
                m: [[f, 2.0 * f], [3.0 * f, 4.0 * f]],
            }
        })
        .collect()
}

fn trailing(n: usize) -> Array1<Trailing> {
    (0..n)
        .map(|i| Trailing { a: i as i32, _gap: [0; 4], b: 0.0 - i as f64 / 2.0, _end: [0; 8] })
        .collect()
}

// SAFETY (the helpers below): every file mapped here is a private temporary file, changed
// by no one else while it is mapped.

fn map<A: NpyElement + Pod, D: Dimension>(path: impl AsRef<Path>) -> Result<MmapArray<A, D>> {
    // SAFETY: see above.
    unsafe { Array::<A, D>::map_npy(path) }
}

fn map_mut<A: NpyElement + Pod, D: Dimension>(
    path: impl AsRef<Path>,
) -> Result<MmapArrayMut<A, D>> {
    // SAFETY: see above.
    unsafe { Array::<A, D>::map_npy_mut(path) }
}

fn map_copy<A: NpyElement + Pod, D: Dimension>(
    path: impl AsRef<Path>,
) -> Result<MmapArrayMut<A, D>> {
    // SAFETY: see above.
    unsafe { Array::<A, D>::map_npy_copy(path) }
}

fn create<A: NpyElement + Pod, D: Dimension, Sh: Into<StrideShape<D>>>(
    path: impl AsRef<Path>,
    shape: Sh,
) -> Result<MmapArrayMut<A, D>> {
    // SAFETY: see above.
    unsafe { Array::<A, D>::create_npy(path, shape) }
}

#[cfg(feature = "npz")]
fn map_member<A: NpyElement + Pod, D: Dimension>(
    archive: &ndmmap::npz::NpzArchive,
    name: &str,
) -> Result<MmapArray<A, D>> {
    // SAFETY: see above.
    unsafe { archive.map::<A, D>(name) }
}

/// Runs `records_interop.py COMMAND DIR`; `None` (through the skip policy) without NumPy.
fn interop(command: &str, dir: &Path) -> Option<String> {
    common::run_script("records_interop.py", &[command.as_ref(), dir.as_os_str()])
}

/// NumPy's fixtures in a fresh folder, or `None` without Python.
fn fixtures() -> Option<tempfile::TempDir> {
    let dir = tempfile::tempdir().unwrap();
    let out = interop("write", dir.path())?;
    assert_eq!(out.trim(), "wrote 13");
    Some(dir)
}

#[test]
fn numpy_record_files_map_in_every_mode() {
    let Some(dir) = fixtures() else { return };
    let d = dir.path();
    let p = map::<Point, Ix1>(d.join("points.npy")).unwrap();
    assert_eq!(p.to_owned().into_dyn(), points(&[5], false));
    let p2 = map::<Point, Ix2>(d.join("points_2d.npy")).unwrap();
    assert_eq!(p2.to_owned().into_dyn(), points(&[3, 4], false));
    let pf = map::<Point, Ix2>(d.join("points_f.npy")).unwrap();
    assert!(pf.t().is_standard_layout());
    assert_eq!(pf.to_owned().into_dyn(), points(&[3, 4], true));
    let p0 = map::<Point, Ix0>(d.join("points_0d.npy")).unwrap();
    assert_eq!(p0[()], point(0));
    let pe = map::<Point, IxDyn>(d.join("points_empty.npy")).unwrap();
    assert_eq!(pe.shape(), [0, 3]);
    let a = map::<Aligned, Ix1>(d.join("aligned.npy")).unwrap();
    assert_eq!(a.to_owned(), aligned(6));
    let n = map::<Nested, Ix1>(d.join("nested.npy")).unwrap();
    assert_eq!(n.to_owned(), nested(4));
    let t = map::<Trailing, Ix1>(d.join("trailing.npy")).unwrap();
    assert_eq!(t.to_owned(), trailing(3));

    // Copy-on-write: changes stay in memory.
    let mut c = map_copy::<Point, Ix1>(d.join("points.npy")).unwrap();
    c[0].id = -1;
    drop(c);
    assert_eq!(read_npy::<Point, Ix1>(d.join("points.npy")).unwrap()[0], point(0));

    // Read-write: changes reach the file.
    let mut w = map_mut::<Nested, Ix1>(d.join("nested.npy")).unwrap();
    w[2].pos = [9.0, 9.0, 9.0];
    w.flush().unwrap();
    drop(w);
    assert_eq!(read_npy::<Nested, Ix1>(d.join("nested.npy")).unwrap()[2].pos, [9.0; 3]);
}

#[test]
fn field_views_are_numpy_a_x() {
    let Some(dir) = fixtures() else { return };
    let d = dir.path();
    let p2 = map::<Point, Ix2>(d.join("points_2d.npy")).unwrap();
    let x = p2.field::<f32>("x").unwrap();
    assert_eq!(x, Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f32 + 0.5));
    let id = p2.field::<i64>("id").unwrap();
    assert_eq!(id[[2, 3]], 1011);
    // Fortran order: the view keeps the layout.
    let pf = map::<Point, Ix2>(d.join("points_f.npy")).unwrap();
    assert_eq!(pf.field::<f32>("y").unwrap(), p2.field::<f32>("y").unwrap());
    // Nested records; a sub-array field whose 12 bytes do not divide the 56-byte records has
    // no ndarray view (strides count elements, not bytes).
    let mut n = map_mut::<Nested, Ix1>(d.join("nested.npy")).unwrap();
    assert_eq!(n.field::<Inner>("p").unwrap()[3].b, -3);
    assert!(matches!(n.field::<[f32; 3]>("pos"), Err(Error::FieldView { .. })));
    n.field_mut::<Inner>("p").unwrap().map_inplace(|p| p.b *= 10);
    n.flush().unwrap();
    drop(n);
    let back = read_npy::<Nested, Ix1>(d.join("nested.npy")).unwrap();
    assert_eq!(back.mapv(|r| r.p.b), array![0, -10, -20, -30]);
    assert_eq!(back[3].pos, [3.0, 4.0, 5.0]);
    // NumPy's a['pos'], a['m']: the sub-array's axes after the records'.
    let mut n = map_mut::<Nested, Ix1>(d.join("nested.npy")).unwrap();
    let pos = n.field_array::<f32>("pos").unwrap();
    assert_eq!(pos, Array2::from_shape_fn((4, 3), |(i, j)| (i + j) as f32).into_dyn());
    let m = n.field_array::<f64>("m").unwrap();
    assert_eq!(m.shape(), [4, 2, 2]);
    assert_eq!(m[[3, 1, 0]], 9.0);
    assert!(matches!(n.field_array::<f64>("pos"), Err(Error::NoSuchField { .. })));
    n.field_array_mut::<f32>("pos").unwrap().slice_mut(s![.., 1]).fill(-1.0);
    n.flush().unwrap();
    drop(n);
    let back = read_npy::<Nested, Ix1>(d.join("nested.npy")).unwrap();
    assert_eq!(back[3].pos, [3.0, -1.0, 5.0]);
    assert_eq!(back[3].p.b, -30);
    // A plain field: the records' shape.
    assert_eq!(p2.field_array::<f32>("x").unwrap(), p2.field::<f32>("x").unwrap().into_dyn());
    // A sub-array that divides the records: a view of arrays.
    ndmmap::npy_record!(
        struct Particle {
            pos: [f64; 2],
            id: i64,
            _pad: [u8; 8],
        }
    );
    let mut particles =
        Array1::from_shape_fn(3, |i| Particle { pos: [i as f64, 1.0], id: 0, _pad: [0; 8] });
    assert_eq!(particles.field::<[f64; 2]>("pos").unwrap()[2], [2.0, 1.0]);
    particles.field_mut::<[f64; 2]>("pos").unwrap().fill([5.0, 6.0]);
    assert!(particles.iter().all(|p| p.pos == [5.0, 6.0] && p.id == 0));
}

#[test]
fn field_view_errors_are_typed() {
    let records = points(&[4], false);
    let err = records.field::<f32>("z").unwrap_err();
    assert!(matches!(&err, Error::NoSuchField { field, .. } if field == "z"), "{err}");
    let err = records.field::<f64>("x").unwrap_err();
    assert!(matches!(&err, Error::NoSuchField { wanted, .. } if wanted == "'<f8'"), "{err}");
    // A reversed axis: negative strides have no view of the field.
    let reversed = records.slice(s![..;-1]);
    assert!(matches!(reversed.field::<f32>("x"), Err(Error::FieldView { .. })));
    // Not contiguous.
    let every_other = records.slice(s![..;2]);
    assert!(matches!(every_other.field::<f32>("x"), Err(Error::FieldView { .. })));
    // Packed 5-byte records: an i32 field is not a whole number of i32s per record.
    ndmmap::npy_record!(
        #[derive(Debug)]
        struct Packed {
            a: u8,
            b: [u8; 4],
        }
    );
    let packed = Array1::from_elem(3, Packed { a: 1, b: [2; 4] });
    assert!(matches!(packed.field::<[u8; 4]>("b"), Err(Error::FieldView { .. })));
    assert_eq!(packed.field::<u8>("a").unwrap(), array![1u8, 1, 1]);
    // ...but its bytes are: a (3, 4) view.
    assert_eq!(packed.field_array::<u8>("b").unwrap(), Array2::from_elem((3, 4), 2u8).into_dyn());
}

#[test]
fn numpy_reads_what_ndmmap_writes_byte_identical_to_np_save() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    points(&[5], false).save_npy(d.join("points.npy")).unwrap();
    points(&[3, 4], false).save_npy(d.join("points_2d.npy")).unwrap();
    points(&[3, 4], true).save_npy(d.join("points_f.npy")).unwrap();
    points(&[], false).save_npy(d.join("points_0d.npy")).unwrap();
    points(&[0, 3], false).save_npy(d.join("points_empty.npy")).unwrap();
    aligned(6).save_npy(d.join("aligned.npy")).unwrap();
    nested(4).save_npy(d.join("nested.npy")).unwrap();
    trailing(3).save_npy(d.join("trailing.npy")).unwrap();
    samples(5).save_npy(d.join("samples.npy")).unwrap();
    mixed(7).save_npy(d.join("mixed.npy")).unwrap();
    packed_nested(3).save_npy(d.join("packed_nested.npy")).unwrap();
    // Growth: two rows, then five more pushed and appended.
    {
        let mut grown = create::<Point, Ix1, _>(d.join("grown.npy"), 2).unwrap();
        grown.assign(&Array1::from_iter((0..2).map(point)));
        grown.push(ndarray::arr0(point(2)).view()).unwrap();
        grown.append(Array1::from_iter((3..7).map(point)).view()).unwrap();
        grown.flush().unwrap();
    }
    {
        let mut created = create::<Point, Ix2, _>(d.join("created.npy"), (2, 3)).unwrap();
        created.assign(&points(&[2, 3], false).into_dimensionality::<Ix2>().unwrap());
        created.flush().unwrap();
    }
    let Some(out) = interop("check", d) else { return };
    assert_eq!(out.trim(), "checked 13");
}

#[test]
fn big_endian_fields_are_mapped_by_no_one_and_converted_by_read_npy() {
    let Some(dir) = fixtures() else { return };
    let path = dir.path().join("big.npy");
    let err = map::<Big, Ix1>(&path).unwrap_err();
    assert!(matches!(&err, Error::ByteOrder { descr, .. } if descr.contains("'a'")), "{err}");
    assert!(err.to_string().contains("read_npy"));
    assert!(!ndmmap::npy::inspect(&path).unwrap().native_byte_order);
    let read = read_npy::<Big, Ix1>(&path).unwrap();
    assert_eq!(read, Array1::from_iter((0..4).map(|i| Big { a: 3 * i, b: i as f32 })));
}

#[test]
fn layout_mismatches_name_the_file_the_field_and_both_layouts() {
    let Some(dir) = fixtures() else { return };
    let d = dir.path();
    ndmmap::npy_record!(
        #[derive(Debug)]
        struct Renamed {
            x: f32,
            z: f32,
            id: i64,
        }
    );
    ndmmap::npy_record!(
        #[derive(Debug)]
        struct Retyped {
            x: f32,
            y: f32,
            id: u64,
        }
    );
    ndmmap::npy_record!(
        #[derive(Debug)]
        struct Fewer {
            x: f32,
            y: f32,
        }
    );
    ndmmap::npy_record!(
        #[derive(Debug)]
        struct Longer {
            x: f32,
            y: f32,
            id: i64,
            _more: [u8; 8],
        }
    );
    ndmmap::npy_record!(
        #[derive(Debug)]
        struct InnerRenamed {
            a: u8,
            _pad: [u8; 3],
            c: i32,
        }
    );
    ndmmap::npy_record!(
        #[derive(Debug)]
        struct NestedRenamed {
            p: InnerRenamed,
            pos: [f32; 3],
            _pad: [u8; 4],
            m: [[f64; 2]; 2],
        }
    );
    ndmmap::npy_record!(
        #[derive(Debug)]
        struct WrongShape {
            p: Inner,
            pos: [f32; 3],
            _pad: [u8; 4],
            m: [f64; 4],
        }
    );
    ndmmap::npy_record!(
        #[derive(Debug)]
        struct Packed {
            a: u8,
            b: [u8; 8],
        }
    );

    let field_of = |err: Error| match err {
        Error::RecordMismatch { path, field, expected, found, .. } => {
            assert!(path.starts_with(d));
            assert!(found.starts_with("[(") && expected.starts_with("[("));
            field
        }
        other => panic!("{other}"),
    };
    let points = d.join("points.npy");
    assert_eq!(field_of(map::<Renamed, Ix1>(&points).unwrap_err()), "z");
    assert_eq!(field_of(map::<Retyped, Ix1>(&points).unwrap_err()), "id");
    assert_eq!(field_of(map_mut::<Retyped, Ix1>(&points).unwrap_err()), "id");
    assert_eq!(field_of(read_npy::<Retyped, Ix1>(&points).unwrap_err()), "id");
    assert_eq!(field_of(map::<Longer, Ix1>(&points).unwrap_err()), "(itemsize)");
    assert_eq!(field_of(map::<Fewer, Ix1>(&points).unwrap_err()), "id");
    let nested = d.join("nested.npy");
    assert_eq!(field_of(map::<NestedRenamed, Ix1>(&nested).unwrap_err()), "p.c");
    assert_eq!(field_of(map::<WrongShape, Ix1>(&nested).unwrap_err()), "m");
    // Padding is not a field: a packed 9-byte layout against the aligned 16 bytes.
    let aligned = d.join("aligned.npy");
    assert_eq!(field_of(map::<Packed, Ix1>(&aligned).unwrap_err()), "b");
}

#[test]
fn records_against_numbers_map_any_and_inspect() {
    let Some(dir) = fixtures() else { return };
    let d = dir.path();
    let points = d.join("points.npy");
    // Records against numbers, both ways.
    let err = map::<f32, Ix1>(&points).unwrap_err();
    assert!(
        matches!(&err, Error::DtypeMismatch { found, .. } if found.starts_with("[('x'")),
        "{err}"
    );
    array![1.0f64, 2.0].save_npy(d.join("floats.npy")).unwrap();
    let err = map::<Point, Ix1>(d.join("floats.npy")).unwrap_err();
    assert!(matches!(err, Error::DtypeMismatch { .. }), "{err}");
    // SAFETY: see the helpers above.
    let err =
        unsafe { ndmmap::npy::map_any(&points, &ndmmap::npy::NpyOptions::new()) }.unwrap_err();
    assert!(
        matches!(&err, Error::DtypeMismatch { found, .. } if found.starts_with("[('x'")),
        "{err}"
    );
    let header = ndmmap::npy::inspect(&points).unwrap();
    assert_eq!(header.descr, "[('x', '<f4'), ('y', '<f4'), ('id', '<i8')]");
    assert!(header.native_byte_order);
    let err = map::<Point, Ix2>(&points).unwrap_err();
    assert!(matches!(err, Error::RankMismatch { .. }), "{err}");
}

#[cfg(feature = "npz")]
#[test]
fn npz_members_of_records_map_in_place() {
    let Some(dir) = fixtures() else { return };
    let archive = ndmmap::npz::NpzArchive::open(dir.path().join("records.npz")).unwrap();
    let n = map_member::<Nested, Ix1>(&archive, "nested").unwrap();
    assert_eq!(n.to_owned(), nested(4));
    assert!(matches!(n.field::<i32>("p"), Err(Error::NoSuchField { .. })));
    assert_eq!(n.field::<Inner>("p").unwrap()[1].b, -1);
    let p: Array1<Point> = archive.read("points").unwrap();
    assert_eq!(p.into_dyn(), points(&[5], false));
    let err = map_member::<Trailing, Ix1>(&archive, "points").unwrap_err();
    assert!(matches!(&err, Error::RecordMismatch { field, .. } if field == "a"), "{err}");
    let err = map_member::<f32, Ix1>(&archive, "points").unwrap_err();
    assert!(matches!(err, Error::DtypeMismatch { .. }), "{err}");
}

#[test]
fn numpy_packed_records_map_in_place_and_read_equal() {
    let Some(dir) = fixtures() else { return };
    let d = dir.path();
    assert_eq!(size_of::<Sample>(), 20);
    assert_eq!(size_of::<Mixed>(), 9);
    assert_eq!(size_of::<PackedNested>(), 24);
    let s = map::<Sample, Ix1>(d.join("samples.npy")).unwrap();
    assert_eq!(s.to_owned(), samples(5));
    assert_eq!(read_npy::<Sample, Ix1>(d.join("samples.npy")).unwrap(), samples(5));
    // `x` at offset 8 of 20-byte records is 4-aligned: a view in place; `t` (an f64 every
    // 20 bytes) is not: an error naming the copying accessor, which gives its values.
    assert_eq!(s.field::<f32>("x").unwrap(), array![0.0f32, 1.0, 2.0, 3.0, 4.0]);
    assert_eq!(s.field::<u32>("id").unwrap()[4], 104);
    let err = s.field::<f64>("t").unwrap_err();
    assert!(
        matches!(&err, Error::FieldView { field, reason } if field == "t" && reason.contains("field_values")),
        "{err}"
    );
    assert_eq!(s.field_values::<f64>("t").unwrap(), array![0.0, 0.5, 1.0, 1.5, 2.0]);
    let m = map::<Mixed, Ix1>(d.join("mixed.npy")).unwrap();
    assert_eq!(m.to_owned(), mixed(7));
    assert!(matches!(m.field::<f64>("b"), Err(Error::FieldView { .. })));
    assert_eq!(m.field_values::<f64>("b").unwrap(), Array1::from_shape_fn(7, |i| i as f64 * 0.25));
    assert_eq!(m.field::<u8>("a").unwrap(), Array1::from_shape_fn(7, |i| i as u8));
    let n = map::<PackedNested, Ix1>(d.join("packed_nested.npy")).unwrap();
    assert_eq!(n.to_owned(), packed_nested(3));
    assert_eq!(n.field_values::<Mixed>("p").unwrap()[2], Mixed { a: 4, b: -3.0 });
    assert_eq!(n.field_values::<[f32; 3]>("pos").unwrap()[1], [1.0, 2.0, 3.0]);
    assert_eq!(n.field_values::<i16>("c").unwrap(), array![0i16, -1, -2]);
    // A write through a read-write map lands where NumPy's field is.
    drop((s, m, n));
    let mut w = map_mut::<Mixed, Ix1>(d.join("mixed.npy")).unwrap();
    w[3].b = 99.5;
    w.flush().unwrap();
    drop(w);
    assert_eq!({ read_npy::<Mixed, Ix1>(d.join("mixed.npy")).unwrap()[3].b }, 99.5);
    // A packed type against an aligned file, and the other way round: the first field
    // that differs, as for any record, and the message says which way to go.
    let err = map::<Mixed, Ix1>(d.join("aligned.npy")).unwrap_err();
    assert!(
        matches!(&err, Error::RecordMismatch { field, hint, .. } if field == "b" && hint.contains("_pad")),
        "{err}"
    );
    let err = map::<Aligned, Ix1>(d.join("mixed.npy")).unwrap_err();
    assert!(
        matches!(&err, Error::RecordMismatch { field, hint, .. }
            if field == "b" && hint.contains("#[repr(C, packed)]")),
        "{err}"
    );
    assert!(err.to_string().contains("declare the record #[repr(C, packed)]"), "{err}");
    // Other differences give no hint.
    let err = map::<Point, Ix1>(d.join("mixed.npy")).unwrap_err();
    assert!(matches!(&err, Error::RecordMismatch { hint: "", .. }), "{err}");
}

#[cfg(feature = "npz")]
#[test]
fn npz_members_of_packed_records_map_wherever_numpy_put_them() {
    let Some(dir) = fixtures() else { return };
    let archive = ndmmap::npz::NpzArchive::open(dir.path().join("records.npz")).unwrap();
    // Alignment 1: np.savez's unaligned member data maps.
    assert!(archive.member("mixed").unwrap().data_offset.is_some());
    let m = map_member::<Mixed, Ix1>(&archive, "mixed").unwrap();
    assert_eq!(m.to_owned(), mixed(7));
    assert_eq!(m.field_values::<f64>("b").unwrap()[6], 1.5);
}

#[test]
fn packed_records_in_misaligned_memory_have_values_but_no_views() {
    // Records starting at an odd address: no view of an f32 field there, whatever its
    // offset, and field_values reads each value unaligned.
    let records = samples(3);
    let mut buffer = [0u8; 4 + 60];
    // The start in the buffer that is 1 past a multiple of 4.
    let start = (0..4).find(|i| (buffer.as_ptr() as usize + i) % 4 == 1).unwrap();
    buffer[start..start + 60].copy_from_slice(bytemuck::cast_slice(records.as_slice().unwrap()));
    let view = ArrayView1::<Sample>::view_bytes(&buffer[start..start + 60], 3).unwrap();
    assert_eq!(view.to_owned(), records);
    let err = view.field::<f32>("x").unwrap_err();
    assert!(
        matches!(&err, Error::FieldView { field, reason } if field == "x" && reason.contains("field_values")),
        "{err}"
    );
    assert_eq!(view.field_values::<f32>("y").unwrap(), array![0.0f32, -1.0, -2.0]);
    assert_eq!(view.field_values::<f64>("t").unwrap(), array![0.0, 0.5, 1.0]);
    // Reversed and strided: field_values takes any layout.
    assert_eq!(view.slice(s![..;-2]).field_values::<u32>("id").unwrap(), array![102u32, 100]);
}

#[test]
fn layouts_state_numpy_descrs() {
    assert_eq!(
        Nested::layout().to_string(),
        "[('p', [('a', '|u1'), ('', '|V3'), ('b', '<i4')]), ('pos', '<f4', (3,)), ('', '|V4'), ('m', '<f8', (2, 2))]"
            .replace('<', if cfg!(target_endian = "big") { ">" } else { "<" })
    );
    assert_eq!(Trailing::layout().itemsize(), 24);
}

ndmmap::npy_record!(
    #[derive(Debug)]
    struct Empty {}
);

/// A record type whose hand-written layout states fewer bytes than the type has.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct Understated {
    a: u64,
    b: u64,
}

impl NpyRecord for Understated {
    fn layout() -> ndmmap::npy::RecordLayout {
        use ndmmap::npy::NpyField;
        ndmmap::npy::RecordLayout::new(8, [("a", 0, u64::field_type())])
    }
}

/// The error a record type without a dtype gets on the paths that write.
fn unsupported_record(err: &Error) -> bool {
    matches!(err, Error::Npy { detail: ndmmap::npy::HeaderError::UnsupportedDtype { .. }, .. })
}

#[test]
fn records_without_a_dtype_are_typed_errors_on_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let flags = dir.path().join("flags.npy");
    array![true, false, true].save_npy(&flags).unwrap();
    let points = dir.path().join("points.npy");
    Array1::from_shape_fn(3, point).save_npy(&points).unwrap();
    for file in [&flags, &points] {
        let err = read_npy::<Empty, Ix1>(file).unwrap_err();
        assert!(matches!(err, Error::DtypeMismatch { .. } | Error::RecordMismatch { .. }), "{err}");
        let err = map::<Empty, Ix1>(file).unwrap_err();
        assert!(matches!(err, Error::DtypeMismatch { .. } | Error::RecordMismatch { .. }), "{err}");
        let err = map_mut::<Empty, Ix1>(file).unwrap_err();
        assert!(matches!(err, Error::DtypeMismatch { .. } | Error::RecordMismatch { .. }), "{err}");
        let err = read_npy::<Understated, Ix1>(file).unwrap_err();
        assert!(matches!(err, Error::DtypeMismatch { .. } | Error::RecordMismatch { .. }), "{err}");
    }
    let empty = dir.path().join("empty.npy");
    let err = Array1::from_elem(3, Empty {}).save_npy(&empty).unwrap_err();
    assert!(unsupported_record(&err), "{err}");
    let err = create::<Empty, Ix1, _>(&empty, 3).unwrap_err();
    assert!(unsupported_record(&err), "{err}");
    let err = Array1::from_elem(2, Understated { a: 1, b: 2 }).save_npy(&empty).unwrap_err();
    assert!(unsupported_record(&err), "{err}");
    let err = create::<Understated, Ix1, _>(&empty, 2).unwrap_err();
    assert!(unsupported_record(&err), "{err}");
    assert!(!empty.exists(), "a refused save leaves no file");
    #[cfg(feature = "npz")]
    {
        let archive = dir.path().join("empty.npz");
        let zeros = Array1::from_elem(3, Empty {});
        let err = ndmmap::npz::save_npz(&archive, &[("z", &zeros)]).unwrap_err();
        assert!(matches!(err, Error::Npz { .. } | Error::Npy { .. }), "{err}");
        assert!(!archive.exists(), "a refused save leaves no file");
    }
}
