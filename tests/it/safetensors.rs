//! `.safetensors` files against Python's `safetensors` package (its NumPy API), on real
//! files: Python's `save_file` writes and ndmmap lists, maps and reads; ndmmap writes and
//! Python's `load_file`, `load` (from the file's bytes) and `safe_open` read; every
//! malformed header is a typed error naming the file and the tensor; the open file is
//! held, so a file saved over the path later is not the one mapped.
//!
//! The Python tests drive `tests/python/safetensors_interop.py` with `common::run_script`:
//! without Python and its packages they skip, and under `CI=true` they fail.
#![cfg(feature = "safetensors")]
#![allow(clippy::float_cmp)]

use std::path::Path;

use ndmmap::prelude::*;
use ndmmap::safetensors::{
    Dtype, SAFETENSORS_ALIGN, SafeTensorsArray, SafeTensorsElement, SafeTensorsFile,
    SafeTensorsWriter, SafetensorsError, save_safetensors,
};
use ndmmap::{Error, MmapArray};
use num_complex::Complex;

use crate::{common, temp_file};

// ---------------------------------------------------------------------------------------
// Files by hand
// ---------------------------------------------------------------------------------------

/// Writes a file of the 8-byte length of `header`, `header` and `data`.
fn raw_file(path: &Path, header: &[u8], data: &[u8]) {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).expect("write the test file");
}

/// The detail and tensor of an [`Error::Safetensors`], or a panic naming the error.
#[track_caller]
fn detail(result: Result<impl std::fmt::Debug, Error>) -> (Option<String>, SafetensorsError) {
    match result {
        Err(Error::Safetensors { tensor, detail, .. }) => (tensor, *detail),
        other => panic!("expected Error::Safetensors, got {other:?}"),
    }
}

/// Maps the tensor `name` of `file`, a test file that nothing else writes.
#[track_caller]
fn mapped<A, D>(file: &SafeTensorsFile, name: &str) -> MmapArray<A, D>
where
    A: SafeTensorsElement + bytemuck::AnyBitPattern,
    D: Dimension,
{
    // SAFETY: the test files are in fresh temporary folders; nothing writes them while mapped.
    unsafe { file.map(name) }.unwrap()
}

/// Opening a file of `header` and `data` fails; its tensor and detail.
#[track_caller]
fn open_fails(header: &str, data: &[u8]) -> (Option<String>, SafetensorsError) {
    let (_dir, path) = temp_file("bad.safetensors");
    raw_file(&path, header.as_bytes(), data);
    let err = SafeTensorsFile::open(&path).unwrap_err();
    assert!(matches!(&err, Error::Safetensors { path: p, .. } if *p == path), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with(&path.display().to_string()), "{text}");
    assert!(text.contains("(.safetensors file): "), "{text}");
    detail(Err::<(), _>(err))
}

// ---------------------------------------------------------------------------------------
// Python writes, ndmmap lists, maps and reads
// ---------------------------------------------------------------------------------------

/// `np.arange(6, dtype='<f4').reshape(2, 3) / 4`, built here.
fn quarters() -> Array2<f32> {
    Array::from_iter((0u8..6).map(|i| f32::from(i) / 4.0)).into_shape_with_order((2, 3)).unwrap()
}

#[test]
#[cfg_attr(miri, ignore)]
fn python_writes_ndmmap_lists_maps_and_reads_every_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let Some(out) = common::run_script("safetensors_interop.py", &["write".as_ref(), dir.path()])
    else {
        return;
    };
    assert_eq!(out.trim(), "wrote 15");
    let path = dir.path().join("python.safetensors");
    let file = SafeTensorsFile::open(&path).unwrap();

    let listed: Vec<(&str, Dtype, &[usize])> =
        file.tensors().iter().map(|t| (t.name.as_str(), t.dtype, t.shape.as_slice())).collect();
    let mut sorted = listed.clone();
    sorted.sort_by_key(|(name, ..)| *name);
    assert_eq!(
        sorted,
        [
            ("cplx", Dtype::C64, &[2][..]),
            ("empty", Dtype::F32, &[0, 3]),
            ("f16", Dtype::F16, &[4]),
            ("f32", Dtype::F32, &[2, 3]),
            ("f64", Dtype::F64, &[5]),
            ("i16", Dtype::I16, &[2]),
            ("i32", Dtype::I32, &[3, 2]),
            ("i64", Dtype::I64, &[2, 2]),
            ("i8", Dtype::I8, &[2]),
            ("mask", Dtype::Bool, &[2, 3]),
            ("scalar", Dtype::F64, &[]),
            ("u16", Dtype::U16, &[3]),
            ("u32", Dtype::U32, &[1]),
            ("u64", Dtype::U64, &[2]),
            ("u8", Dtype::U8, &[7]),
        ]
    );
    // Listed in the order of their bytes, which tile the data buffer.
    let mut end = 0;
    for t in file.tensors() {
        assert_eq!(t.data_offsets.0, end, "{t:?}");
        assert_eq!(t.offset, file.data_start() + t.data_offsets.0);
        end = t.data_offsets.1;
    }
    assert_eq!(file.data_start() + end, std::fs::metadata(&path).unwrap().len());
    assert_eq!(file.metadata().len(), 2);
    assert_eq!(file.metadata()["framework"], "numpy");
    assert_eq!(file.metadata()["note"], "caf\u{e9} \"quoted\"");

    assert_eq!(*mapped::<f32, Ix2>(&file, "f32"), quarters());
    assert_eq!(*mapped::<f64, Ix1>(&file, "f64"), array![0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(*mapped::<i64, Ix2>(&file, "i64"), array![[-(1 << 62), 0], [1, 1 << 62]]);
    assert_eq!(*mapped::<u64, Ix1>(&file, "u64"), array![u64::MAX, 7]);
    assert_eq!(*mapped::<i32, Ix2>(&file, "i32"), array![[-3, -2], [-1, 0], [1, 2]]);
    assert_eq!(*mapped::<u32, Ix1>(&file, "u32"), array![4_000_000_000]);
    assert_eq!(*mapped::<i16, Ix1>(&file, "i16"), array![-300, 300]);
    assert_eq!(*mapped::<u16, Ix1>(&file, "u16"), array![65535, 1, 2]);
    assert_eq!(*mapped::<i8, Ix1>(&file, "i8"), array![-128, 127]);
    assert_eq!(*mapped::<u8, Ix1>(&file, "u8"), array![0, 1, 2, 3, 4, 5, 6]);
    let scalar = mapped::<f64, Ix0>(&file, "scalar");
    assert_eq!(scalar[()], 2.5);
    assert_eq!(mapped::<f32, Ix2>(&file, "empty").shape(), &[0, 3]);
    let cplx = mapped::<Complex<f32>, Ix1>(&file, "cplx");
    assert_eq!(*cplx, array![Complex::new(1.0, 2.0), Complex::new(0.0, -3.5)]);
    // SAFETY: as in `mapped`.
    let mask = unsafe { file.map_bool::<Ix2>("mask") }.unwrap();
    assert_eq!(*mask, array![[true, false, true], [false, false, true]]);
    assert_eq!(mapped::<f32, IxDyn>(&file, "f32").shape(), &[2, 3]);
    #[cfg(feature = "half")]
    {
        use half::f16;
        let want = array![0.5, -2.0, 65504.0, 2f32.powi(-24)].mapv(f16::from_f32);
        assert_eq!(*mapped::<f16, Ix1>(&file, "f16"), want);
        assert_eq!(file.read::<f16, Ix1>("f16").unwrap(), want);
    }

    assert_eq!(file.read::<f32, Ix2>("f32").unwrap(), quarters());
    assert_eq!(file.read::<f64, Ix0>("scalar").unwrap()[()], 2.5);
    assert_eq!(file.read::<f32, IxDyn>("empty").unwrap().shape(), &[0, 3]);
    let mask = file.read::<bool, Ix2>("mask").unwrap();
    assert_eq!(mask, array![[true, false, true], [false, false, true]]);
}

// ---------------------------------------------------------------------------------------
// ndmmap writes, Python reads
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore)]
fn ndmmap_writes_what_python_loads() {
    let (_dir, path) = temp_file("ndmmap.safetensors");
    let f32s = quarters();
    let f64s = array![0.0, 0.25, 0.5, 0.75, 1.0];
    let i64s = array![[-(1i64 << 62), 0], [1, 1 << 62]];
    let u64s = array![u64::MAX, 7];
    // A transposed view: written in C order, as Python's `np.ascontiguousarray` would.
    let i32s = array![[-3, -1, 1], [-2, 0, 2]];
    let i32s_t = i32s.t();
    let u32s = array![4_000_000_000u32];
    let i16s = array![-300i16, 300];
    let u16s = array![65535u16, 1, 2];
    let i8s = array![-128i8, 127];
    let u8s = Array1::from_iter(0u8..7);
    let mask = array![[true, false, true], [false, false, true]];
    let scalar = arr0(2.5f64);
    let empty = Array2::<f32>::zeros((0, 3));
    let cplx = array![Complex::new(1.0f32, 2.0), Complex::new(0.0, -3.5)];
    let mut tensors: Vec<(&str, &dyn SafeTensorsArray)> = vec![
        ("f32", &f32s),
        ("f64", &f64s),
        ("i64", &i64s),
        ("u64", &u64s),
        ("i32", &i32s_t),
        ("u32", &u32s),
        ("i16", &i16s),
        ("u16", &u16s),
        ("i8", &i8s),
        ("u8", &u8s),
        ("mask", &mask),
        ("scalar", &scalar),
        ("empty", &empty),
        ("cplx", &cplx),
    ];
    let mut specs = vec![
        "f32=np.arange(6, dtype='<f4').reshape(2, 3) / 4",
        "f64=np.linspace(0, 1, 5, dtype='<f8')",
        "i64=np.array([[-(2**62), 0], [1, 2**62]], dtype='<i8')",
        "u64=np.array([2**64 - 1, 7], dtype='<u8')",
        "i32=np.arange(-3, 3, dtype='<i4').reshape(3, 2)",
        "u32=np.array([4000000000], dtype='<u4')",
        "i16=np.array([-300, 300], dtype='<i2')",
        "u16=np.array([65535, 1, 2], dtype='<u2')",
        "i8=np.array([-128, 127], dtype='|i1')",
        "u8=np.arange(7, dtype='|u1')",
        "mask=np.array([[True, False, True], [False, False, True]])",
        "scalar=np.array(2.5, dtype='<f8')",
        "empty=np.zeros((0, 3), dtype='<f4')",
        "cplx=np.array([1 + 2j, -3.5j], dtype='<c8')",
    ];
    #[cfg(feature = "half")]
    let f16s = array![0.5, -2.0, 65504.0, 2f32.powi(-24)].mapv(half::f16::from_f32);
    #[cfg(feature = "half")]
    {
        tensors.push(("f16", &f16s));
        specs.push("f16=np.array([0.5, -2.0, 65504.0, 2.0**-24], dtype='<f2')");
    }
    let metadata = [("framework", "numpy"), ("note", "caf\u{e9} \"quoted\"")];
    save_safetensors(&path, &tensors, &metadata).unwrap();

    // Every tensor of ndmmap's file maps (each aligned for its type).
    let file = SafeTensorsFile::open(&path).unwrap();
    assert_eq!(file.data_start() % SAFETENSORS_ALIGN, 0);
    for t in file.tensors() {
        let size = u64::from(t.dtype.bits() / 8).max(1);
        assert_eq!(t.offset % size, 0, "{t:?}");
    }
    // SAFETY: the file is in a fresh temporary folder; nothing writes it while mapped.
    assert_eq!(*unsafe { file.map::<i32, Ix2>("i32") }.unwrap(), i32s_t);

    let mut args: Vec<&std::ffi::OsStr> = vec!["check".as_ref(), path.as_os_str()];
    let metadata_json = r#"{"framework": "numpy", "note": "caf\u00e9 \"quoted\""}"#;
    args.push(metadata_json.as_ref());
    args.extend(specs.iter().map(std::ffi::OsStr::new));
    let Some(out) = common::run_script("safetensors_interop.py", &args) else { return };
    assert_eq!(out.trim(), format!("checked {}", specs.len()));
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_file_without_tensors_or_metadata_is_python_s_empty_dict() {
    let (_dir, path) = temp_file("empty.safetensors");
    save_safetensors(&path, &[], &[]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, SAFETENSORS_ALIGN);
    assert_eq!(&bytes[..10], b"\x38\0\0\0\0\0\0\0{}");
    assert!(bytes[10..].iter().all(|&b| b == b' '));
    let args: [&std::ffi::OsStr; 3] = ["check".as_ref(), path.as_os_str(), "null".as_ref()];
    let Some(out) = common::run_script("safetensors_interop.py", &args) else { return };
    assert_eq!(out.trim(), "checked 0");
}

// ---------------------------------------------------------------------------------------
// The open file is held
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore)]
fn maps_and_reads_go_to_the_file_opened_not_to_a_file_saved_over_the_path_since() {
    let (_dir, path) = temp_file("w.safetensors");
    save_safetensors(&path, &[("w", &array![1.0f32, 2.0])], &[]).unwrap();
    let file = SafeTensorsFile::open(&path).unwrap();
    let save = || save_safetensors(&path, &[("w", &array![7.0f32, 8.0])], &[]);
    // (Wine and Windows before 10 1607 refuse to rename over the open file.)
    let saved = common::replace_while_open(&path, save);
    // SAFETY: the first file was replaced by a rename, not modified: its bytes stay.
    assert_eq!(*unsafe { file.map::<f32, Ix1>("w") }.unwrap(), array![1.0, 2.0]);
    assert_eq!(file.read::<f32, Ix1>("w").unwrap(), array![1.0, 2.0]);
    if saved.is_none() {
        drop(file);
        save().unwrap();
    }
    let again = SafeTensorsFile::open(&path).unwrap();
    assert_eq!(again.read::<f32, Ix1>("w").unwrap(), array![7.0, 8.0]);
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_mapped_tensor_is_saved_to_another_file() {
    let (dir, path) = temp_file("a.safetensors");
    let a = Array::from_iter(0u16..15).into_shape_with_order((3, 5)).unwrap();
    save_safetensors(&path, &[("a", &a)], &[]).unwrap();
    let file = SafeTensorsFile::open(&path).unwrap();
    // SAFETY: the file is in a fresh temporary folder; nothing writes it while mapped.
    let mapped = unsafe { file.map::<u16, Ix2>("a") }.unwrap();
    let copy = dir.path().join("copy.safetensors");
    save_safetensors(&copy, &[("a", &mapped)], &[("from", "a")]).unwrap();
    assert_eq!(SafeTensorsFile::open(&copy).unwrap().read::<u16, Ix2>("a").unwrap(), a);
}

// ---------------------------------------------------------------------------------------
// Malformed headers: each a typed error
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore)]
fn a_file_shorter_than_the_length_is_refused() {
    let (_dir, path) = temp_file("short.safetensors");
    std::fs::write(&path, [8, 0, 0]).unwrap();
    let (tensor, err) = detail(SafeTensorsFile::open(&path));
    assert_eq!(tensor, None);
    assert!(matches!(err, SafetensorsError::FileTooShort { len: 3 }), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_header_length_over_the_limit_or_past_the_end_is_refused() {
    let (_dir, path) = temp_file("long.safetensors");
    let mut bytes = 100_000_001u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&path, &bytes).unwrap();
    let (_, err) = detail(SafeTensorsFile::open(&path));
    assert!(
        matches!(err, SafetensorsError::HeaderTooLarge { len: 100_000_001, limit: 100_000_000 }),
        "{err:?}"
    );
    let mut bytes = 100u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&path, &bytes).unwrap();
    let (_, err) = detail(SafeTensorsFile::open(&path));
    assert!(matches!(err, SafetensorsError::HeaderPastEnd { end: 108, len: 10 }), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_header_that_is_not_a_json_object_is_refused() {
    let (_dir, path) = temp_file("utf8.safetensors");
    raw_file(&path, b"{\"\xff\": 1}", b"");
    assert!(matches!(detail(SafeTensorsFile::open(&path)).1, SafetensorsError::NotUtf8));
    for header in ["", "[1]", " {}", "null"] {
        let (_, err) = open_fails(header, b"");
        assert!(matches!(err, SafetensorsError::NotAnObject), "{header:?}: {err:?}");
    }
    for header in ["{\"a\": }", "{", "{} []", "{\"a\": 1e999999}"] {
        let (_, err) = open_fails(header, b"");
        assert!(matches!(err, SafetensorsError::InvalidJson { .. }), "{header:?}: {err:?}");
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn duplicate_keys_are_refused_at_every_level() {
    let entry = r#"{"dtype":"U8","shape":[1],"data_offsets":[0,1]}"#;
    let (_, err) = open_fails(&format!(r#"{{"a":{entry},"a":{entry}}}"#), b"x");
    assert!(matches!(err, SafetensorsError::DuplicateKey { key } if key == "a"));
    let (_, err) = open_fails(r#"{"__metadata__":{"k":"1","k":"2"}}"#, b"");
    assert!(matches!(err, SafetensorsError::DuplicateKey { key } if key == "k"));
    let header = r#"{"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}"#;
    let (tensor, err) = open_fails(header, b"x");
    assert_eq!(tensor.as_deref(), Some("a"));
    assert!(matches!(err, SafetensorsError::DuplicateKey { key } if key == "dtype"));
}

#[test]
#[cfg_attr(miri, ignore)]
fn metadata_that_is_not_a_map_of_strings_is_refused() {
    for header in [r#"{"__metadata__":{"epochs":3}}"#, r#"{"__metadata__":["a"]}"#] {
        let (_, err) = open_fails(header, b"");
        assert!(matches!(err, SafetensorsError::InvalidMetadata { .. }), "{header}: {err:?}");
    }
    let (_, err) = open_fails(r#"{"__metadata__":{"epochs":3}}"#, b"");
    assert!(err.to_string().contains("\"epochs\""), "{err}");
    // `null`, as some writers put for no metadata, is none.
    let (_dir, path) = temp_file("null.safetensors");
    raw_file(&path, br#"{"__metadata__":null}"#, b"");
    assert!(SafeTensorsFile::open(&path).unwrap().metadata().is_empty());
}

#[test]
#[cfg_attr(miri, ignore)]
fn invalid_tensor_entries_are_refused_naming_the_tensor() {
    for (entry, what) in [
        (r#""not an object""#, "not an object"),
        (r#"{"shape":[1],"data_offsets":[0,1]}"#, "no \"dtype\""),
        (r#"{"dtype":1,"shape":[1],"data_offsets":[0,1]}"#, "\"dtype\" is a number"),
        (r#"{"dtype":"U8","data_offsets":[0,1]}"#, "no \"shape\""),
        (r#"{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}"#, "\"shape\""),
        (r#"{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}"#, "\"shape\""),
        (r#"{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}"#, "\"data_offsets\""),
        (r#"{"dtype":"U8","shape":[1],"data_offsets":"0"}"#, "\"data_offsets\""),
        (r#"{"dtype":"U8","shape":[0],"data_offsets":[1,0]}"#, "end before"),
    ] {
        let (tensor, err) = open_fails(&format!(r#"{{"t":{entry}}}"#), b"x");
        assert_eq!(tensor.as_deref(), Some("t"), "{entry}");
        assert!(matches!(err, SafetensorsError::InvalidEntry { .. }), "{entry}: {err:?}");
        assert!(err.to_string().contains(what), "{entry}: {err}");
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn an_unknown_dtype_is_refused() {
    let (tensor, err) =
        open_fails(r#"{"t":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#, &[0; 16]);
    assert_eq!(tensor.as_deref(), Some("t"));
    assert!(matches!(err, SafetensorsError::UnknownDtype { dtype } if dtype == "F128"));
}

#[test]
#[cfg_attr(miri, ignore)]
fn offsets_that_do_not_match_the_shape_are_refused() {
    let (tensor, err) =
        open_fails(r#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, &[0; 4]);
    assert_eq!(tensor.as_deref(), Some("t"));
    assert!(
        matches!(&err, SafetensorsError::ShapeMismatch { shape, dtype: "F32", needed: Some(8), available: 4 } if shape == &[2]),
        "{err:?}"
    );
    // A shape whose byte count overflows 64 bits.
    let header = r#"{"t":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#;
    let (_, err) = open_fails(header, b"");
    assert!(matches!(err, SafetensorsError::ShapeMismatch { needed: None, .. }), "{err:?}");
    // Three 4-bit elements are not a whole number of bytes.
    let (_, err) = open_fails(r#"{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#, &[0; 2]);
    assert!(matches!(err, SafetensorsError::ShapeMismatch { needed: None, .. }), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore)]
fn offsets_past_the_end_overlapping_or_with_holes_are_refused() {
    let (tensor, err) =
        open_fails(r#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, &[0; 4]);
    assert_eq!(tensor.as_deref(), Some("t"));
    assert!(matches!(err, SafetensorsError::PastEnd { end: 8, len: 4 }), "{err:?}");

    let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                     "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    let (tensor, err) = open_fails(header, &[0; 12]);
    assert_eq!(tensor.as_deref(), Some("b"));
    assert!(matches!(err, SafetensorsError::Overlap { other } if other == "a"));

    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                     "b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    let (_, err) = open_fails(header, &[0; 12]);
    assert!(matches!(err, SafetensorsError::Hole { start: 4, end: 8 }), "{err:?}");
    // Bytes after the last tensor are a hole too.
    let (_, err) = open_fails(r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#, b"ab");
    assert!(matches!(err, SafetensorsError::Hole { start: 1, end: 2 }), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// Mapping and reading: each refusal a typed error
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore)]
fn a_missing_tensor_lists_the_names_there_are() {
    let (_dir, path) = temp_file("a.safetensors");
    save_safetensors(&path, &[("a", &array![1u8]), ("b", &array![2u8])], &[]).unwrap();
    let file = SafeTensorsFile::open(&path).unwrap();
    let (tensor, err) = detail(file.read::<u8, Ix1>("c"));
    assert_eq!(tensor.as_deref(), Some("c"));
    assert!(matches!(&err, SafetensorsError::NotFound { available } if available == &["a", "b"]));
    // SAFETY: the file is in a fresh temporary folder; nothing writes it while mapped.
    let (_, err) = detail(unsafe { file.map::<u8, Ix1>("c") });
    assert!(matches!(err, SafetensorsError::NotFound { .. }));
}

#[test]
#[cfg_attr(miri, ignore)]
fn another_dtype_is_refused_naming_both_and_the_type_to_use() {
    let (_dir, path) = temp_file("a.safetensors");
    save_safetensors(&path, &[("w", &array![1.0f32])], &[]).unwrap();
    let file = SafeTensorsFile::open(&path).unwrap();
    // SAFETY: the file is in a fresh temporary folder; nothing writes it while mapped.
    let err = unsafe { file.map::<u32, Ix1>("w") }.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("tensor \"w\""), "{text}");
    assert!(text.contains("holds F32 elements, not U32 (u32); map it as f32"), "{text}");
    let (_, err) = detail(Err::<(), _>(err));
    assert!(matches!(
        err,
        SafetensorsError::DtypeMismatch {
            found: "F32",
            found_type: Some("f32"),
            requested: "U32",
            requested_type: "u32"
        }
    ));
    let (_, err) = detail(file.read::<f64, Ix1>("w"));
    assert!(matches!(err, SafetensorsError::DtypeMismatch { requested: "F64", .. }));
    // SAFETY: as above.
    let (_, err) = detail(unsafe { file.map_bool::<Ix1>("w") });
    assert!(matches!(err, SafetensorsError::DtypeMismatch { requested: "BOOL", .. }));
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_dtype_without_an_element_type_is_listed_but_not_read() {
    let (_dir, path) = temp_file("f8.safetensors");
    raw_file(&path, br#"{"q":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}"#, &[1, 2]);
    let file = SafeTensorsFile::open(&path).unwrap();
    assert_eq!(file.tensor("q").unwrap().dtype, Dtype::F8E4M3);
    let (_, err) = detail(file.read::<u8, Ix1>("q"));
    assert!(matches!(
        err,
        SafetensorsError::DtypeMismatch { found: "F8_E4M3", found_type: None, .. }
    ));
}

#[test]
#[cfg_attr(miri, ignore)]
fn another_rank_is_refused() {
    let (_dir, path) = temp_file("a.safetensors");
    save_safetensors(&path, &[("m", &Array2::<i8>::zeros((2, 2)))], &[]).unwrap();
    let file = SafeTensorsFile::open(&path).unwrap();
    // SAFETY: the file is in a fresh temporary folder; nothing writes it while mapped.
    let (_, err) = detail(unsafe { file.map::<i8, Ix3>("m") });
    assert!(matches!(err, SafetensorsError::RankMismatch { expected: 3, found: 2 }), "{err:?}");
    let (_, err) = detail(file.read::<i8, Ix0>("m"));
    assert!(matches!(err, SafetensorsError::RankMismatch { expected: 0, found: 2 }), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_misaligned_tensor_is_refused_by_map_naming_the_remedy_and_read_reads_it() {
    // A header of 10 bytes: the data buffer starts at byte 18, 2 mod 4 (an unpadded writer).
    let (_dir, path) = temp_file("unpadded.safetensors");
    let header = br#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut padded = header.to_vec();
    padded.resize((8 + header.len()).next_multiple_of(4) + 2 - 8, b' ');
    let data = [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat();
    raw_file(&path, &padded, &data);
    let file = SafeTensorsFile::open(&path).unwrap();
    assert_eq!(file.data_start() % 4, 2);
    // SAFETY: the file is in a fresh temporary folder; nothing writes it while mapped.
    let err = unsafe { file.map::<f32, Ix1>("w") }.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("SafeTensorsFile::read") && text.contains("save_safetensors"), "{text}");
    let (_, err) = detail(Err::<(), _>(err));
    assert!(
        matches!(err, SafetensorsError::Misaligned { offset, align: 4 } if offset == file.data_start()),
        "{err:?}"
    );
    assert_eq!(file.read::<f32, Ix1>("w").unwrap(), array![1.5, -2.0]);
}

#[test]
#[cfg_attr(miri, ignore)]
fn a_bool_byte_other_than_0_or_1_is_refused_by_read_and_map_bool() {
    let (_dir, path) = temp_file("mask.safetensors");
    raw_file(&path, br#"{"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}"#, &[0, 1, 2]);
    let file = SafeTensorsFile::open(&path).unwrap();
    let (tensor, err) = detail(file.read::<bool, Ix1>("m"));
    assert_eq!(tensor.as_deref(), Some("m"));
    assert!(matches!(err, SafetensorsError::InvalidBool), "{err:?}");
    // SAFETY: the file is in a fresh temporary folder; nothing writes it while mapped.
    let (_, err) = detail(unsafe { file.map_bool::<Ix1>("m") });
    assert!(matches!(err, SafetensorsError::InvalidBool), "{err:?}");
}

// ---------------------------------------------------------------------------------------
// Writing: names checked before anything is written
// ---------------------------------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore)]
fn invalid_or_duplicate_names_are_refused_and_leave_the_old_file() {
    let (dir, path) = temp_file("a.safetensors");
    save_safetensors(&path, &[("old", &array![1u8])], &[]).unwrap();
    let before = std::fs::read(&path).unwrap();
    let a = array![2u8];
    for (tensors, metadata) in [
        (vec![("", &a as &dyn SafeTensorsArray)], vec![]),
        (vec![("__metadata__", &a as &dyn SafeTensorsArray)], vec![]),
    ] {
        let (_, err) = detail(save_safetensors(&path, &tensors, &metadata));
        assert!(matches!(err, SafetensorsError::InvalidName), "{err:?}");
    }
    let (tensor, err) = detail(save_safetensors(&path, &[("x", &a), ("x", &a)], &[]));
    assert_eq!(tensor.as_deref(), Some("x"));
    assert!(matches!(err, SafetensorsError::Duplicate { what: "tensor", .. }), "{err:?}");
    let (_, err) = detail(save_safetensors(&path, &[("x", &a)], &[("k", "1"), ("k", "2")]));
    assert!(matches!(err, SafetensorsError::Duplicate { what: "metadata key", .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "a file was left behind");
}

#[test]
#[cfg_attr(miri, ignore)]
fn saving_into_a_missing_folder_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("a.safetensors");
    let err = save_safetensors(&path, &[("a", &array![1u8])], &[]).unwrap_err();
    assert!(matches!(err, Error::FolderNotFound { .. } | Error::NotFound { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
#[cfg_attr(miri, ignore)]
fn the_writer_orders_tensors_largest_elements_first_so_that_all_are_aligned() {
    let (_dir, path) = temp_file("mixed.safetensors");
    let (a, b, c, d) = (array![1u8, 2, 3], array![1u16], array![1.0f64], array![1i32, 2, 3]);
    let mut writer = SafeTensorsWriter::new(&path);
    writer.add("a", &a).unwrap();
    writer.add("b", &b).unwrap();
    writer.add("c", &c).unwrap();
    writer.add("d", &d).unwrap();
    writer.finish().unwrap();
    let file = SafeTensorsFile::open(&path).unwrap();
    let order: Vec<_> = file.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(order, ["c", "d", "b", "a"]);
    assert_eq!(*mapped::<f64, Ix1>(&file, "c"), c);
    assert_eq!(*mapped::<i32, Ix1>(&file, "d"), d);
    assert_eq!(*mapped::<u16, Ix1>(&file, "b"), b);
    assert_eq!(*mapped::<u8, Ix1>(&file, "a"), a);
}
