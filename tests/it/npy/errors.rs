//! Bad input: typed errors, never a panic, nothing changed on disk.

use super::*;

/// Writes `bytes` to a fresh file; returns its folder and path.
fn file_with(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.npy");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// The header error from every entry point that reads the header of `path` (with the
/// options): `inspect`, `read_npy` and the three maps. Each must be `Error::Npy` naming the
/// file, and the file must be unchanged afterwards.
fn header_errors(path: &Path, options: &NpyOptions) -> Vec<HeaderError> {
    let before = std::fs::read(path).unwrap();
    let mut results = vec![npy::inspect(path).err(), npy::read_npy::<f64, IxDyn>(path).err()];
    results.extend(map_errors::<f64, IxDyn>(path, options));
    assert_eq!(std::fs::read(path).unwrap(), before, "the file changed");
    let mut sources = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        // inspect and read_npy use the default limit; the maps use `options`.
        match result {
            Some(Error::Npy { path: p, detail }) => {
                assert_eq!(p, path);
                sources.push(detail);
            }
            other => panic!("entry point {i}: expected Error::Npy, got {other:?}"),
        }
    }
    sources
}

/// Asserts that every entry point fails on a file of `bytes` with a header error matching
/// `check`.
#[track_caller]
fn assert_header_error(bytes: &[u8], check: impl Fn(&HeaderError) -> bool) {
    let (_dir, path) = file_with(bytes);
    for err in header_errors(&path, &NpyOptions::new()) {
        assert!(check(&err), "unexpected {err:?} ({err})");
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn wrong_magic() {
    let mut bytes = raw_npy(1, &aligned(1, &f8_dict("(2, 3)")), &six_f64());
    bytes[5] = b'Z';
    assert_header_error(
        &bytes,
        |e| matches!(e, HeaderError::BadMagic { found } if found == b"\x93NUMPZ"),
    );
    // A file that is not .npy at all, and one shorter than the magic string.
    assert_header_error(
        b"hello world",
        |e| matches!(e, HeaderError::BadMagic { found } if found == b"hello "),
    );
    assert_header_error(b"PK", |e| matches!(e, HeaderError::BadMagic { found } if found == b"PK"));
    // An empty file and a bare magic string are truncated, not bad.
    assert_header_error(b"", |e| matches!(e, HeaderError::Truncated { needed: 10, available: 0 }));
    assert_header_error(b"\x93NUMPY", |e| {
        matches!(e, HeaderError::Truncated { needed: 10, available: 6 })
    });
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn unsupported_version() {
    for (major, minor) in [(0, 0), (1, 1), (4, 0), (255, 255)] {
        let mut bytes = raw_npy(1, &aligned(1, &f8_dict("(2, 3)")), &six_f64());
        bytes[6] = major;
        bytes[7] = minor;
        assert_header_error(
            &bytes,
            |e| matches!(e, HeaderError::UnsupportedVersion { major: a, minor: b } if (*a, *b) == (major, minor)),
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn header_length_past_the_end() {
    // v1: the length field says 1000 bytes, the file has 100 in all.
    let mut bytes = raw_npy(1, &[b' '; 90], &[]);
    bytes[8..10].copy_from_slice(&1000u16.to_le_bytes());
    assert_eq!(bytes.len(), 100);
    assert_header_error(&bytes, |e| {
        matches!(e, HeaderError::Truncated { needed: 1010, available: 100 })
    });
    // v2 and v3, past the first 4096 bytes read: 5000 of 100,000 bytes.
    for major in [2, 3] {
        let mut bytes = raw_npy(major, &aligned(major, &f8_dict("(2, 3)")), &six_f64());
        bytes.resize(5000, b' ');
        bytes[8..12].copy_from_slice(&100_000u32.to_le_bytes());
        let (_dir, path) = file_with(&bytes);
        let options = NpyOptions::new().max_header_size(1 << 20);
        let errors = header_errors(&path, &options);
        // inspect and read_npy stop at the default limit of 10,000 characters first
        // (v3 counts UTF-8 characters, so up to 40,000 bytes pass that check).
        for (i, err) in errors.iter().enumerate() {
            let ok = if i < 2 {
                matches!(err, HeaderError::TooLarge { len: 100_000, limit: 10_000 })
            } else {
                matches!(err, HeaderError::Truncated { needed: 100_012, available: 5000 })
            };
            assert!(ok, "v{major} entry point {i}: {err:?}");
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn header_not_utf8_in_version_3() {
    let mut header = aligned(3, &f8_dict("(2, 3)"));
    // A lone continuation byte inside the padding.
    let at = header.len() - 5;
    header[at] = 0xff;
    let bytes = raw_npy(3, &header, &six_f64());
    assert_header_error(
        &bytes,
        |e| matches!(e, HeaderError::NotUtf8 { offset } if *offset == 12 + at),
    );
    // The same bytes are valid latin-1 in version 1.0, where 0xff in the padding is not
    // whitespace: a syntax error, not an encoding one.
    let mut header = aligned(1, &f8_dict("(2, 3)"));
    let at = header.len() - 5;
    header[at] = 0xff;
    let bytes = raw_npy(1, &header, &six_f64());
    assert_header_error(&bytes, |e| matches!(e, HeaderError::Syntax { .. }));
    // UTF-8 that is valid in version 3.0 maps: a comment with non-ASCII text.
    let header = aligned(3, &format!("{} # données", f8_dict("(2, 3)")));
    let (_dir, path) = file_with(&raw_npy(3, &header, &six_f64()));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array2::<f64>::map_npy(&path) }.unwrap();
    assert_eq!(a.row(1).to_vec(), [3.5, 4.5, 5.5]);
    assert_eq!(npy::inspect(&path).unwrap().version, (3, 0));
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn header_not_a_dict() {
    for text in ["[1, 2]", "(1, 2)", "'descr'", "42", "None", "True"] {
        let bytes = raw_npy(1, &aligned(1, text), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::NotADict { .. }));
    }
    for text in ["", "{", "{'descr': '<f8'", "{'descr' '<f8'}", "{'descr': <f8}", "garbage"] {
        let bytes = raw_npy(1, &aligned(1, text), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::Syntax { .. }));
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn missing_or_extra_keys() {
    let cases: [(&str, &[&str]); 4] = [
        ("{'descr': '<f8', 'shape': (2, 3)}", &["descr", "shape"]),
        ("{'descr': '<f8', 'fortran_order': False}", &["descr", "fortran_order"]),
        ("{}", &[]),
        (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
            &["descr", "extra", "fortran_order", "shape"],
        ),
    ];
    for (text, keys) in cases {
        let bytes = raw_npy(1, &aligned(1, text), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::Keys { found } if found == keys));
    }
    // A non-string key.
    let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 1: 2}";
    let bytes = raw_npy(1, &aligned(1, text), &six_f64());
    assert_header_error(
        &bytes,
        |e| matches!(e, HeaderError::Keys { found } if found.contains(&"1".to_owned())),
    );
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn bad_shape() {
    for shape in
        ["(2, -3)", "[2, 3]", "(2.0, 3)", "'2, 3'", "(2, None)", "(True, 3)", "6", "{2: 3}"]
    {
        let bytes = raw_npy(1, &aligned(1, &f8_dict(shape)), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::Shape { text } if text == shape));
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn fortran_order_not_a_bool() {
    for value in ["0", "1", "'False'", "None", "()"] {
        let text = format!("{{'descr': '<f8', 'fortran_order': {value}, 'shape': (2, 3), }}");
        let bytes = raw_npy(1, &aligned(1, &text), &six_f64());
        assert_header_error(
            &bytes,
            |e| matches!(e, HeaderError::FortranOrder { text } if text == value),
        );
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn unknown_or_unsupported_descr() {
    for descr in ["'<f3'", "'xyz'", "'float64'", "''", "3", "'<f8 '"] {
        let text = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2, 3), }}");
        let bytes = raw_npy(1, &aligned(1, &text), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::Descr { .. }));
    }
    // Valid NumPy dtypes ndmmap does not map: strings, objects, datetimes, void, fields
    // with titles or of strings (structured dtypes: the `records` tests).
    for descr in ["'<U3'", "'|O'", "'<M8[s]'", "[(('t', 'a'), '<f8')]", "[('a', '<U3')]", "'|V8'"] {
        let text = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2, 3), }}");
        let bytes = raw_npy(1, &aligned(1, &text), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::UnsupportedDtype { .. }));
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn mismatched_descr_and_rank() {
    let (_dir, path) = file_with(&raw_npy(1, &aligned(1, &f8_dict("(2, 3)")), &six_f64()));
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array2::<f32>::map_npy(&path) }.unwrap_err();
    assert!(
        matches!(&err, Error::DtypeMismatch { expected, found, .. } if expected == "<f4" && found == "<f8"),
        "{err:?}"
    );
    assert!(err.to_string().contains("<f4") && err.to_string().contains("<f8"), "{err}");
    // SAFETY: as above.
    let err = unsafe { Array2::<i64>::map_npy_mut(&path) }.unwrap_err();
    assert!(matches!(&err, Error::DtypeMismatch { expected, .. } if expected == "<i8"), "{err:?}");
    let err = npy::read_npy::<Complex<f32>, Ix2>(&path).unwrap_err();
    assert!(matches!(&err, Error::DtypeMismatch { expected, .. } if expected == "<c8"), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::map_npy_copy(&path) }.unwrap_err();
    assert!(matches!(err, Error::RankMismatch { expected: 1, found: 2, .. }), "{err:?}");
    let err = npy::read_npy::<f64, Ix3>(&path).unwrap_err();
    assert!(matches!(err, Error::RankMismatch { expected: 3, found: 2, .. }), "{err:?}");
    // SAFETY: as above.
    let err = unsafe { Array0::<f64>::map_npy(&path) }.unwrap_err();
    assert!(matches!(err, Error::RankMismatch { expected: 0, found: 2, .. }), "{err:?}");
    // The right type and IxDyn both work.
    // SAFETY: as above.
    let a = unsafe { Array2::<f64>::map_npy(&path) }.unwrap();
    // SAFETY: as above.
    let d = unsafe { ArrayD::<f64>::map_npy(&path) }.unwrap();
    assert_eq!(a.view().into_dyn(), d.view());
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn data_shorter_than_the_shape() {
    let header = aligned(1, &f8_dict("(2, 3)"));
    let data = &six_f64()[..40]; // five of the six f64s
    let bytes = raw_npy(1, &header, data);
    let (needed, available) = (128 + 48, 128 + 40u64);
    assert_eq!(bytes.len() as u64, available);
    let (_dir, path) = file_with(&bytes);
    let too_short = |e: &Error| matches!(e, Error::TooShort { path: Some(p), needed: n, available: a } if p == &path && *n == needed && *a == available);
    // Read-only maps refuse extend_file(true) outright (they cannot grow a file);
    // copy-on-write maps ignore it and report the short file.
    for extend in [false, true] {
        let options = NpyOptions::new().extend_file(extend);
        // Not `map_errors`: its read-write map would grow the file.
        // SAFETY: no other process touches files in this fresh temporary folder.
        let r = unsafe { Array2::<f64>::map_npy_with(&path, &options) }.err();
        // SAFETY: as above.
        let c = unsafe { Array2::<f64>::map_npy_copy_with(&path, &options) }.err();
        if extend {
            assert!(matches!(r, Some(Error::InvalidOption { .. })), "{r:?}");
        } else {
            assert!(r.as_ref().is_some_and(too_short), "{r:?}");
        }
        assert!(c.as_ref().is_some_and(too_short), "{c:?}");
    }
    // SAFETY: as above.
    let w = unsafe { Array2::<f64>::map_npy_mut(&path) }.err();
    assert!(w.as_ref().is_some_and(too_short), "{w:?}");
    let read = npy::read_npy::<f64, Ix2>(&path).err();
    assert!(read.as_ref().is_some_and(too_short), "{read:?}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "no mode changed the file");
    // Only on explicit request does the file grow (with zeros).
    let options = NpyOptions::new().extend_file(true);
    // SAFETY: as above.
    let a = unsafe { Array2::<f64>::map_npy_mut_with(&path, &options) }.unwrap();
    assert_eq!(a.to_owned(), array![[0.5, 1.5, 2.5], [3.5, 4.5, 0.0]]);
    a.close().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), needed);
    // A header that ends exactly at the end of the file, for a non-empty shape.
    let (_dir2, path2) = file_with(&raw_npy(1, &header, &[]));
    // SAFETY: as above.
    let err = unsafe { Array2::<f64>::map_npy(&path2) }.unwrap_err();
    assert!(matches!(err, Error::TooShort { needed: 176, available: 128, .. }), "{err:?}");
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn misaligned_data_offset() {
    // Version 1.0, 10-byte prefix, a 119-byte header: the data starts at byte 129.
    let dict = f8_dict("(2, 3)");
    let mut header = dict.into_bytes();
    header.resize(118, b' ');
    header.push(b'\n');
    let bytes = raw_npy(1, &header, &six_f64());
    let (_dir, path) = file_with(&bytes);
    assert_eq!(npy::inspect(&path).unwrap().data_offset, 129);
    for err in map_errors::<f64, Ix2>(&path, &NpyOptions::new()) {
        assert!(
            matches!(&err, Some(Error::Misaligned { path: Some(p), offset: 129, align })
                if p == &path && *align == align_of::<f64>()),
            "{err:?}"
        );
    }
    // The converting read copies, so alignment does not matter to it.
    let read: Array2<f64> = npy::read_npy(&path).unwrap();
    assert_eq!(read, array![[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]);
    // One-byte elements at an odd offset map fine.
    let header = {
        let mut h = b"{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }".to_vec();
        h.resize(118, b' ');
        h.push(b'\n');
        h
    };
    let (_dir2, path2) = file_with(&raw_npy(1, &header, &[7, 8, 9]));
    // SAFETY: as above.
    let a = unsafe { Array1::<u8>::map_npy(&path2) }.unwrap();
    assert_eq!(a.to_vec(), [7, 8, 9]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn header_over_the_size_limit() {
    // A valid version 2.0 header of 20,000 bytes (mostly padding).
    let mut header = f8_dict("(2, 3)").into_bytes();
    header.resize(20_000, b' ');
    while !(12 + header.len() + 1).is_multiple_of(64) {
        header.push(b' ');
    }
    header.push(b'\n');
    let len = header.len();
    let bytes = raw_npy(2, &header, &six_f64());
    let (_dir, path) = file_with(&bytes);
    for err in header_errors(&path, &NpyOptions::new()) {
        assert!(
            matches!(err, HeaderError::TooLarge { len: l, limit: 10_000 } if l == len),
            "{err:?}"
        );
    }
    // A raised limit lets it through, and the header is read past the first 4096 bytes.
    let options = NpyOptions::new().max_header_size(len);
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array2::<f64>::map_npy_with(&path, &options) }.unwrap();
    assert_eq!(a[[1, 2]].to_bits(), 5.5f64.to_bits());
    assert_eq!(a.offset(), 12 + len as u64);
    // A limit one below fails, naming it.
    let options = NpyOptions::new().max_header_size(len - 1);
    for err in header_errors(&path, &options).into_iter().skip(2) {
        assert!(matches!(err, HeaderError::TooLarge { limit, .. } if limit == len - 1), "{err:?}");
    }
    // Version 1.0 at exactly the default limit is accepted; one byte more is not.
    for (extra, ok) in [(0, true), (1, false)] {
        let mut header = f8_dict("(2, 3)").into_bytes();
        header.resize(10_000 - 1 + extra, b' ');
        header.push(b'\n');
        let (_dir, path) = file_with(&raw_npy(1, &header, &six_f64()));
        let result = npy::inspect(&path);
        assert_eq!(result.is_ok(), ok, "{:?}", result.err());
        if !ok {
            let err = result.unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Npy { detail: HeaderError::TooLarge { len: 10_001, limit: 10_000 }, .. }
                ),
                "{err:?}"
            );
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn shape_overflow() {
    for shape in [
        "(4611686018427387904, 4)",
        "(9223372036854775807,)",
        "(18446744073709551616,)",
        "(4294967296, 4294967296)",
    ] {
        let bytes = raw_npy(1, &aligned(1, &f8_dict(shape)), &six_f64());
        assert_header_error(&bytes, |e| matches!(e, HeaderError::ShapeOverflow { .. }));
    }
    // Zero anywhere makes the product zero: no overflow, an empty array.
    let bytes = raw_npy(1, &aligned(1, &f8_dict("(0, 18446744073709551615)")), &[]);
    let (_dir, path) = file_with(&bytes);
    let result = npy::read_npy::<f64, Ix2>(&path);
    assert!(
        matches!(&result, Err(Error::Npy { detail: HeaderError::ShapeOverflow { .. }, .. })),
        "{result:?}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn invalid_bool() {
    let header = aligned(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }");
    let (_dir, path) = file_with(&raw_npy(1, &header, &[0, 1, 2, 1]));
    let err = npy::read_npy::<bool, Ix1>(&path).unwrap_err();
    assert!(matches!(&err, Error::InvalidBool { path: p } if p == &path), "{err:?}");
    let (_dir2, path2) = file_with(&raw_npy(1, &header, &[0, 1, 1, 0]));
    assert_eq!(npy::read_npy::<bool, Ix1>(&path2).unwrap(), array![false, true, true, false]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn lenient_where_numpy_is() {
    // Legacy 16-byte alignment, double quotes, no trailing comma, `L` suffixes (v1),
    // keys out of order, and trailing data after the array.
    let text = "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f8\"}";
    let mut header = text.as_bytes().to_vec();
    while !(10 + header.len() + 1).is_multiple_of(16) {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut data = six_f64();
    data.extend([0xAB; 13]);
    let (_dir, path) = file_with(&raw_npy(1, &header, &data));
    let h = npy::inspect(&path).unwrap();
    assert_eq!(
        (h.shape.as_slice(), h.data_offset % 16, h.data_offset % 64 == 0),
        (&[2, 3][..], 0, false)
    );
    // SAFETY: no other process touches files in this fresh temporary folder.
    let a = unsafe { Array2::<f64>::map_npy(&path) }.unwrap();
    assert_eq!(a.to_owned(), array![[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]);
}

#[test]
#[cfg_attr(miri, ignore = "miri cannot map files")]
fn create_never_touches_an_existing_file_before_validating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.npy");
    array![[1.0f64, 2.0], [3.0, 4.0]].save_npy(&path).unwrap();
    let old = std::fs::read(&path).unwrap();
    let names = || {
        let mut v: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        v.sort();
        v
    };
    // No overwrite: AlreadyExists.
    // SAFETY: no other process touches files in this fresh temporary folder.
    let err = unsafe { Array2::<f64>::create_npy(&path, (3, 3)) }.unwrap_err();
    assert!(matches!(&err, Error::AlreadyExists { path: p } if p == &path), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), old);
    // Overwrite asked for, but the shape overflows: the old file is untouched.
    let overwrite = NpyOptions::new().overwrite(true);
    // Each overflows `usize`, whether an address has 64 bits or 32.
    let (quarter, root) = (1 << (usize::BITS - 2), 1 << (usize::BITS / 2 + 8));
    for shape in [vec![usize::MAX, 2], vec![quarter, 4], vec![root, root]] {
        // SAFETY: as above.
        let err = unsafe { ArrayD::<f64>::create_npy_with(&path, IxDyn(&shape), &overwrite) }
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::Overflow { .. }
                    | Error::Npy { detail: HeaderError::ShapeOverflow { .. }, .. }
            ),
            "{shape:?}: {err:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), old, "{shape:?}");
    }
    // Custom strides cannot be written as .npy: refused before the disk is touched.
    let strided = IxDyn(&[2, 3]).strides(IxDyn(&[1, 4]));
    // SAFETY: as above.
    let err = unsafe { ArrayD::<f64>::create_npy_with(&path, strided, &overwrite) }.unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), old);
    // Also in one dimension: a stride of 2 is not a .npy layout.
    // SAFETY: as above.
    let err = unsafe { Array1::<f64>::create_npy_with(&path, Ix1(3).strides(Ix1(2)), &overwrite) }
        .unwrap_err();
    assert!(matches!(err, Error::InvalidOption { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), old);
    assert_eq!(names(), ["old.npy"], "no temporary file was left behind");
    // A live read-only map of the old file keeps its contents when the file is replaced
    // (on Windows, which renames over no mapped file, the replace is refused instead).
    // SAFETY: as above; the file is replaced by rename, never modified in place.
    let live = unsafe { Array2::<f64>::map_npy(&path) }.unwrap();
    crate::common::replace_under_a_map(&path, || array![[9.0f64]].save_npy(&path));
    assert_eq!(live.to_owned(), array![[1.0, 2.0], [3.0, 4.0]]);
    let create = || -> Result<(), Error> {
        // SAFETY: as above.
        let mut new = unsafe { Array2::<f64>::create_npy_with(&path, (1, 2), &overwrite) }?;
        new.fill(5.0);
        new.close()
    };
    crate::common::replace_under_a_map(&path, create);
    assert_eq!(live.to_owned(), array![[1.0, 2.0], [3.0, 4.0]]);
    assert_eq!(names(), ["old.npy"]);
    if cfg!(windows) {
        assert_eq!(std::fs::read(&path).unwrap(), old);
        drop(live);
        create().unwrap();
    }
    assert_eq!(npy::read_npy::<f64, Ix2>(&path).unwrap(), array![[5.0, 5.0]]);
    assert_eq!(names(), ["old.npy"]);
}
