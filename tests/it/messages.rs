//! The one rule for error messages (see `ndmmap::Error`, "Messages"), checked for every
//! variant: printed with `{}` alone, a message names the file (and the `.npz` member or
//! tensor) where there is one, states the numbers the variant carries and the cause (the
//! operating system's text, ndarray's, the archive's or header's reason), and no error
//! returns a `source()`, so that chain printers show each thing once. Every variant of
//! `Error` and of `NpzError` is built here (their lists are read from `src/`, so a new
//! variant without a case here fails), each with the fragments its message must hold.

use std::io;
use std::path::{Path, PathBuf};

use ndmmap::prelude::*;
use ndmmap::{Error, Lock};

use crate::common;

/// The file every sample names.
fn file() -> PathBuf {
    PathBuf::from("/data/run 7/samples.npy")
}

/// An operating system's error with a text of its own.
fn os_error() -> io::Error {
    io::Error::other("the disk said no (os error 5)")
}

/// One sample of a variant: its name, the error, and what its message must contain
/// beside the path.
struct Case {
    variant: &'static str,
    error: Error,
    fragments: Vec<String>,
    has_path: bool,
}

fn case(variant: &'static str, error: Error, fragments: &[&dyn ToString]) -> Case {
    let fragments = fragments.iter().map(|f| f.to_string()).collect();
    Case { variant, error, fragments, has_path: true }
}

fn pathless(variant: &'static str, error: Error, fragments: &[&dyn ToString]) -> Case {
    Case { has_path: false, ..case(variant, error, fragments) }
}

/// A real `.npy` header error, from a truncated file.
fn npy_error(dir: &Path) -> Error {
    let path = dir.join("cut.npy");
    std::fs::write(&path, b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f8', ").unwrap();
    ndmmap::npy::inspect(&path).unwrap_err()
}

/// A real `.safetensors` header error, from a file shorter than its length prefix.
#[cfg(feature = "safetensors")]
fn safetensors_error(dir: &Path) -> Error {
    let path = dir.join("short.safetensors");
    std::fs::write(&path, b"\x01\x02").unwrap();
    ndmmap::safetensors::SafeTensorsFile::open(&path).unwrap_err()
}

// A table of one case per variant: long because the enum is.
#[allow(clippy::too_many_lines)]
fn error_cases(dir: &Path) -> Vec<Case> {
    let path = file();
    let some = || Some(file());
    let shape_error = ndarray::ShapeError::from_kind(ndarray::ErrorKind::IncompatibleShape);
    let shape_text = shape_error.to_string();
    let npy = npy_error(dir);
    let npy_path = dir.join("cut.npy");
    let mut cases = vec![
        case("NotFound", Error::NotFound { path: path.clone() }, &[&"does not exist"]),
        case(
            "FolderNotFound",
            Error::FolderNotFound { path: path.clone(), folder: "/data/run 7".into() },
            &[&"/data/run 7 does not exist"],
        ),
        case(
            "PermissionDenied",
            Error::PermissionDenied { path: path.clone(), action: "reading", error: os_error() },
            &[&"reading", &os_error()],
        ),
        case("IsADirectory", Error::IsADirectory { path: path.clone() }, &[&"directory"]),
        case("AlreadyExists", Error::AlreadyExists { path: path.clone() }, &[&"overwrite"]),
        case(
            "NoSpace",
            Error::NoSpace { path: path.clone(), bytes: 123_456, error: os_error() },
            &[&123_456, &os_error()],
        ),
        case(
            "Io",
            Error::Io { path: path.clone(), action: "flush", error: os_error() },
            &[&"flush", &os_error()],
        ),
        case(
            "NotAMultiple",
            Error::NotAMultiple { path: some(), available: 81, unit: 8, what: "element" },
            &[&81, &"8-byte element"],
        ),
        case("TooShort", Error::TooShort { path: some(), needed: 96, available: 80 }, &[&96, &80]),
        case(
            "OffsetPastEnd",
            Error::OffsetPastEnd { path: some(), offset: 100, len: 80 },
            &[&100, &80],
        ),
        case(
            "Misaligned",
            Error::Misaligned { path: some(), offset: 183, align: 8 },
            &[&183, &"8-byte alignment"],
        ),
        case(
            "Overflow",
            Error::Overflow { path: some(), shape: vec![usize::MAX / 2, 3], elem_size: 8 },
            &[&format!("[{}, 3]", usize::MAX / 2), &"8-byte"],
        ),
        case(
            "MultipleInferredAxes",
            Error::MultipleInferredAxes {
                path: some(),
                shape: vec![usize::MAX, 3, usize::MAX],
                count: 2,
            },
            &[&"[-1, 3, -1]", &"2 inferred"],
        ),
        case(
            "ShapeRequired",
            Error::ShapeRequired { path: some(), action: "map", ndim: 3 },
            &[&"3-dimensional"],
        ),
        case(
            "OverlappingStrides",
            Error::OverlappingStrides { path: some(), shape: vec![4, 3], strides: vec![1, 1] },
            &[&"[1, 1]", &"[4, 3]"],
        ),
        pathless("LengthMismatch", Error::LengthMismatch { expected: 24, actual: 20 }, &[&24, &20]),
        case(
            "InvalidOption",
            Error::InvalidOption { path: some(), message: "a shape of rank 0 cannot grow" },
            &[&"a shape of rank 0 cannot grow"],
        ),
        case("ViewNotInMap", Error::ViewNotInMap { path: some() }, &[&"not part of this map"]),
        case(
            "SliceOutOfBounds",
            Error::SliceOutOfBounds {
                path: some(),
                slice: "5.., ..".into(),
                shape: vec![4, 3],
                reason: "5 is past the end of axis 0".into(),
            },
            &[&"[5.., ..]", &"[4, 3]", &"5 is past the end of axis 0"],
        ),
        pathless(
            "ShapeMismatch",
            Error::ShapeMismatch { operand: 2, expected: vec![3, 4], actual: vec![4, 3] },
            &[&"operand 2", &"[4, 3]", &"[3, 4]"],
        ),
        Case {
            variant: "Npy",
            error: npy,
            fragments: vec![npy_path.display().to_string(), "header is truncated".into()],
            has_path: false,
        },
        pathless(
            "AxisOutOfRange",
            Error::AxisOutOfRange { axis: 3, ndim: 2 },
            &[&"axis 3", &"2-dimensional"],
        ),
        pathless(
            "InvalidDdof",
            Error::InvalidDdof { ddof: 5.0, len: 4, axis: 1 },
            &[&"ddof 5", &"4 elements", &"axis 1"],
        ),
        pathless("EmptyAxis", Error::EmptyAxis { axis: 1 }, &[&"axis 1", &"length zero"]),
        pathless(
            "CountOverflow",
            Error::CountOverflow { axis: 0, len: 300 },
            &[&"axis 0", &"300 elements"],
        ),
        pathless(
            "OutputShapeMismatch",
            Error::OutputShapeMismatch {
                output: 1,
                input: vec![3, 4],
                axis: 0,
                expected: vec![4],
                actual: vec![3],
            },
            &[&"output 1", &"[3]", &"[3, 4]", &"axis 0", &"[4]"],
        ),
        pathless(
            "DotShapeMismatch",
            Error::DotShapeMismatch { left: [5, 3], right: [4, 2] },
            &[&"5 × 3", &"4 × 2", &"3 columns against 4 rows"],
        ),
        pathless(
            "DotOutputShapeMismatch",
            Error::DotOutputShapeMismatch { expected: [5, 2], actual: [2, 5] },
            &[&"5 × 2", &"2 × 5"],
        ),
        pathless("EmptyArray", Error::EmptyArray { shape: vec![0, 3] }, &[&"[0, 3]", &"empty"]),
        pathless(
            "InvalidHistogram",
            Error::InvalidHistogram { bins: 0, lo: 1.5, hi: 0.5, reason: "no bins" },
            &[&"0 bins", &"(1.5, 0.5)", &"no bins"],
        ),
        pathless(
            "NegativeValue",
            Error::NegativeValue { value: -3, index: vec![2, 1] },
            &[&"[2, 1]", &"-3"],
        ),
        pathless(
            "CountsTooLarge",
            Error::CountsTooLarge { value: 1 << 60, index: vec![7] },
            &[&"[7]", &(1u64 << 60)],
        ),
        pathless(
            "Cancelled",
            Error::Cancelled { axis: 0, done: 50, len: 400 },
            &[&"cancelled", &"first 50 of 400", &"axis 0"],
        ),
        pathless(
            "IndexOutOfBounds",
            Error::IndexOutOfBounds { index: 12, position: 3, axis: 1, len: 10 },
            &[&"index 12", &"position 3", &"axis 1", &"size 10"],
        ),
        pathless(
            "WindowOutOfBounds",
            Error::WindowOutOfBounds { start: 90, window: 20, position: 1, len: 100 },
            &[&"90..110", &"position 1", &"100 elements"],
        ),
        pathless(
            "MaskLengthMismatch",
            Error::MaskLengthMismatch { mask: 7, len: 9 },
            &[&"7 elements", &"axis 0 has 9"],
        ),
        pathless(
            "SelectionShapeMismatch",
            Error::SelectionShapeMismatch { expected: vec![4, 256], actual: vec![4, 255] },
            &[&"[4, 255]", &"[4, 256]"],
        ),
        case(
            "PieceMismatch",
            Error::PieceMismatch {
                path: Some(path.clone()),
                index: 2,
                expected: vec![3, 4],
                actual: vec![3, 5],
                axis: Some(0),
            },
            &[&"index 2", &"[3, 5]", &"[3, 4]"],
        ),
        case(
            "DtypeMismatch",
            Error::DtypeMismatch {
                path: path.clone(),
                expected: "<f4".into(),
                found: "<f8".into(),
            },
            &[&"<f4", &"<f8"],
        ),
        case(
            "RankMismatch",
            Error::RankMismatch { path: path.clone(), expected: 1, found: 2 },
            &[&"2-dimensional", &"1-dimensional"],
        ),
        case(
            "ByteOrder",
            Error::ByteOrder { path: path.clone(), descr: ">f8".into() },
            &[&">f8", &"read_npy"],
        ),
        case(
            "RecordMismatch",
            Error::RecordMismatch {
                path: path.clone(),
                field: "b".into(),
                expected: "[('a', '|u1'), ('', '|V7'), ('b', '<f8')]".into(),
                found: "[('a', '|u1'), ('b', '<f8')]".into(),
                hint: "; the file's dtype is packed",
            },
            &[&"field b", &"('', '|V7')", &"[('a', '|u1'), ('b', '<f8')]", &"is packed"],
        ),
        pathless(
            "NoSuchField",
            Error::NoSuchField {
                field: "z".into(),
                wanted: "'<f4'".into(),
                layout: "[('x', '<f4')]".into(),
            },
            &[&"field z", &"'<f4'", &"[('x', '<f4')]"],
        ),
        pathless(
            "FieldView",
            Error::FieldView { field: "t".into(), reason: "the records are packed" },
            &[&"field t", &"the records are packed"],
        ),
        case("InvalidBool", Error::InvalidBool { path: path.clone() }, &[&"neither 0 nor 1"]),
        case("Locked", Error::Locked { path: path.clone(), lock: Lock::Exclusive }, &[&"lock"]),
        case("FileReplaced", Error::FileReplaced { path: path.clone() }, &[&"replaced"]),
        case(
            "NotGrowable",
            Error::NotGrowable { path: path.clone(), reason: "the map is copy-on-write" },
            &[&"the map is copy-on-write"],
        ),
        case(
            "AppendShape",
            Error::AppendShape {
                path: path.clone(),
                axis: 0,
                expected: vec![5, 3],
                found: vec![2, 4],
            },
            &[&"[5, 3]", &"[2, 4]", &"axis 0"],
        ),
        case(
            "NpyHeaderFull",
            Error::NpyHeaderFull {
                path: path.clone(),
                shape: vec![usize::MAX / 2],
                needed: 192,
                available: 128,
            },
            &[&(usize::MAX / 2), &192, &128, &"save_npy"],
        ),
        case(
            "Shape",
            Error::Shape { path: some(), error: shape_error },
            &[&"invalid shape or strides", &shape_text],
        ),
    ];
    #[cfg(feature = "npz")]
    cases.extend(npz_cases());
    #[cfg(feature = "safetensors")]
    cases.push(Case {
        variant: "Safetensors",
        error: safetensors_error(dir),
        fragments: vec!["short.safetensors".into(), "2".into()],
        has_path: false,
    });
    cases
}

/// One `Error::Npz` for every `NpzError` variant, the member named where one is involved.
#[cfg(feature = "npz")]
fn npz_cases() -> Vec<Case> {
    use ndmmap::npz::NpzError;
    let npz = |detail: NpzError, fragments: &[&dyn ToString]| {
        let variant = format!("{detail:?}");
        let error =
            Error::Npz { path: "/data/run.npz".into(), member: Some("w..b".into()), detail };
        let mut fragments: Vec<String> = fragments.iter().map(|f| f.to_string()).collect();
        fragments.extend(["/data/run.npz".into(), "\"w..b\"".into()]);
        (variant, Case { variant: "Npz", error, fragments, has_path: false })
    };
    let header_detail = {
        // A real header error: bytes that are not a .npy file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        std::fs::write(&path, b"not a .npy file at all, no magic here").unwrap();
        match ndmmap::npy::inspect(&path).unwrap_err() {
            Error::Npy { detail, .. } => detail,
            other => panic!("{other:?}"),
        }
    };
    let header_text = header_detail.to_string();
    let cases = vec![
        npz(
            NpzError::Malformed { detail: "no end of central directory".into() },
            &[&"no end of central directory"],
        ),
        npz(NpzError::UnsafeName, &[&"outside the archive"]),
        npz(NpzError::InvalidName, &[&"'..'"]),
        npz(NpzError::DuplicateName, &[&"two members"]),
        npz(NpzError::UnsupportedCompression { method: 93 }, &[&"method 93"]),
        npz(NpzError::Encrypted, &[&"encrypted"]),
        npz(NpzError::Overlapping { other: "x".into() }, &[&"\"x\""]),
        npz(NpzError::SizeMismatch { needed: 4096, available: 100 }, &[&4096, &100]),
        npz(NpzError::TooLarge { size: 1 << 33, limit: 1 << 30 }, &[&(1u64 << 33), &(1u64 << 30)]),
        npz(NpzError::Checksum, &[&"CRC-32"]),
        npz(NpzError::NotFound { available: vec!["a".into(), "b".into()] }, &[&"[\"a\", \"b\"]"]),
        npz(NpzError::Compressed, &[&"compressed", &"read"]),
        npz(NpzError::Misaligned { offset: 183, align: 8 }, &[&183, &"8-byte", &"realign_npz"]),
        npz(NpzError::DataDescriptor, &[&"data descriptor"]),
        npz(NpzError::Header(header_detail), &[&header_text]),
    ];
    let names: Vec<String> =
        cases.iter().map(|(v, _)| v.split(['(', ' ']).next().unwrap().to_owned()).collect();
    assert_eq!(names, common::enum_variants("pub enum NpzError {"), "a case for each NpzError");
    cases.into_iter().map(|(_, c)| c).collect()
}

#[test]
#[cfg_attr(miri, ignore = "miri writes no files")]
fn every_message_is_self_sufficient_under_one_rule() {
    let dir = tempfile::tempdir().unwrap();
    let cases = error_cases(dir.path());
    let mut seen: Vec<&str> = cases.iter().map(|c| c.variant).collect();
    seen.sort_unstable();
    seen.dedup();
    let mut all = common::enum_variants("pub enum Error {");
    // Variants behind features this build does not have.
    all.retain(|v| {
        (v != "Npz" || cfg!(feature = "npz"))
            && (v != "Safetensors" || cfg!(feature = "safetensors"))
    });
    all.sort();
    assert_eq!(seen, all, "a case for every variant of Error");
    for Case { variant, error, fragments, has_path } in &cases {
        // Each variant's sample is the variant it says (its Debug starts with the name).
        assert!(format!("{error:?}").starts_with(variant), "{variant}: {error:?}");
        let text = error.to_string();
        println!("{variant:22} {text}");
        assert!(std::error::Error::source(error).is_none(), "{variant} has a source: {text}");
        assert!(!text.is_empty() && !text.ends_with('.'), "{variant}: {text:?}");
        if *has_path {
            assert!(
                text.contains(&file().display().to_string()),
                "{variant} names no file: {text}"
            );
        }
        for fragment in fragments {
            assert!(text.contains(fragment.as_str()), "{variant}: no {fragment:?} in {text:?}");
        }
        // `anyhow`'s `{:#}` prints the chain: here the message alone, each thing once.
        let mut chain = text.clone();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            chain = format!("{chain}: {cause}");
            source = cause.source();
        }
        assert_eq!(chain, text);
    }
}

/// A folder where a file is expected is the same error from every entry point.
#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn a_folder_is_is_a_directory_from_every_entry_point() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("folder.npy");
    std::fs::create_dir(&folder).unwrap();
    let is_dir = |err: &Error| matches!(err, Error::IsADirectory { path } if path == &folder);
    // SAFETY: nothing is mapped: each call fails.
    let err = unsafe { Array1::<f64>::map_file(&folder) }.unwrap_err();
    assert!(is_dir(&err), "map_file: {err:?}");
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::map_npy(&folder) }.unwrap_err();
    assert!(is_dir(&err), "map_npy: {err:?}");
    let err = ndmmap::npy::read_npy::<f64, Ix1>(&folder).unwrap_err();
    assert!(is_dir(&err), "read_npy: {err:?}");
    let err = ndmmap::npy::inspect(&folder).unwrap_err();
    assert!(is_dir(&err), "inspect: {err:?}");
    #[cfg(feature = "npz")]
    {
        let err = ndmmap::npz::NpzArchive::open(&folder).unwrap_err();
        assert!(is_dir(&err), "NpzArchive::open: {err:?}");
    }
    #[cfg(feature = "safetensors")]
    {
        let err = ndmmap::safetensors::SafeTensorsFile::open(&folder).unwrap_err();
        assert!(is_dir(&err), "SafeTensorsFile::open: {err:?}");
    }
    assert!(err_text_names(&err, &folder));
}

fn err_text_names(err: &Error, path: &Path) -> bool {
    err.to_string().contains(&path.display().to_string())
}
