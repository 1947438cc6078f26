use quickcheck::{QuickCheck, TestResult};

use super::super::header::{self, Header};
use super::*;

/// Parses a version-1.0 header with this descr text.
fn parse_descr(descr: &str) -> Result<Header, HeaderError> {
    let text = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (2,), }}\n");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend(u16::try_from(text.len()).unwrap().to_le_bytes());
    bytes.extend(text.bytes());
    header::parse(&bytes, usize::MAX).map(|p| p.header)
}

fn layout(descr: &str) -> RecordLayout {
    let header = parse_descr(descr).unwrap();
    assert_eq!(header.descr.kind(), Kind::Void);
    header.record.unwrap()
}

/// Descrs as NumPy 2.x's `np.lib.format.dtype_to_descr` spells them (copied from its output
/// for the dtypes in the comments), which must come back unchanged.
#[test]
fn numpy_descrs_round_trip() {
    for (descr, itemsize) in [
        // [('x', '<f4'), ('y', '<f4'), ('id', '<i8')]
        ("[('x', '<f4'), ('y', '<f4'), ('id', '<i8')]", 16),
        // [('a', 'u1'), ('b', '<f8')], align=True
        ("[('a', '|u1'), ('', '|V7'), ('b', '<f8')]", 16),
        // nested, sub-arrays, align=True
        (
            "[('p', [('a', '|u1'), ('', '|V3'), ('b', '<i4')]), ('pos', '<f4', (3,)), ('', '|V4'), ('m', '<f8', (2, 2))]",
            56,
        ),
        // offsets [0, 8], itemsize 24
        ("[('a', '<i4'), ('', '|V4'), ('b', '<f8'), ('', '|V8')]", 24),
        // mixed byte orders, complex, bool
        ("[('a', '>i4'), ('c', '<c16'), ('b', '|b1')]", 21),
        // a sub-array of records
        ("[('r', [('a', '<i2')], (2,)), ('z', '|u1')]", 5),
    ] {
        let layout = layout(descr);
        assert_eq!(layout.to_string(), descr);
        assert_eq!(layout.itemsize(), itemsize, "{descr}");
        assert_eq!(parse_descr(descr).unwrap().descr.size(), itemsize);
    }
}

#[test]
fn records_of_zero_bytes_are_refused_and_empty_sub_arrays_beside_others_kept() {
    // np.dtype([('f0', '<u8', (0,))]).itemsize == 0: nothing to map.
    for descr in ["[('f0', '<u8', (0,))]", "[('f0', '|u1', (0, 2)), ('g', [('h', '<f4', (0,))])]"] {
        let err = parse_descr(descr).unwrap_err();
        assert!(
            matches!(&err, HeaderError::UnsupportedDtype { reason, .. } if reason.contains("zero bytes")),
            "{descr}: {err:?}"
        );
    }
    // np.dtype([('f0', '<u8', (0,)), ('b', '<i4')]).itemsize == 4.
    let layout = layout("[('f0', '<u8', (0,)), ('b', '<i4')]");
    assert_eq!(layout.itemsize(), 4);
    assert_eq!(layout.to_string(), "[('f0', '<u8', (0,)), ('b', '<i4')]");
}

#[test]
fn spellings_numpy_reads_too() {
    // An int shape, an empty shape, double quotes, no order character, '=', trailing commas.
    let layout = layout("[(\"a\", 'f4', 3), ('b', '=i8', ()), ('c', '|u1',),]");
    if cfg!(target_endian = "little") {
        assert_eq!(layout.to_string(), "[('a', '<f4', (3,)), ('b', '<i8'), ('c', '|u1')]");
    }
    assert_eq!(layout.itemsize(), 21);
}

#[test]
fn nested_sub_arrays_flatten_like_numpy() {
    // np.dtype(('<f4', (2,)), (3,)) is '<f4', (3, 2).
    assert_eq!(
        <[[f32; 2]; 3]>::field_type(),
        FieldType(layout("[('a', '<f4', (3, 2))]").fields[0].ty.clone())
    );
}

#[test]
fn malformed_descrs_are_typed_errors() {
    for descr in [
        "[('a',)]",
        "[('a', '<i4', (2,), 1)]",
        "['a']",
        "[('a', 5)]",
        "[(1, '<i4')]",
        "[('a', '<i4'), ('a', '<f4')]",
        "[('a', '<i4', (-1,))]",
        "[('a', '<i4', 'x')]",
        "[('a', '<i4', (1.5,))]",
        "[('', '|V4', (2,)), ('a', '<i4')]",
        "[('a', 'xx')]",
        "[('a', '<f4', (99999999999, 99999999999, 99999999999))]",
    ] {
        let err = parse_descr(descr).unwrap_err();
        assert!(matches!(err, HeaderError::Descr { .. }), "{descr}: {err:?}");
    }
    for descr in [
        "[]",
        "[('', '|V4')]",
        "[(('title', 'a'), '<i4')]",
        "[('', '<i4')]",
        "[('a', '<U3')]",
        "[('a', '|O')]",
        "[('a', [('b', '<M8[ns]')])]",
    ] {
        let err = parse_descr(descr).unwrap_err();
        assert!(matches!(err, HeaderError::UnsupportedDtype { .. }), "{descr}: {err:?}");
    }
}

#[test]
fn headers_of_records_are_written_as_np_save_writes_them() {
    let header = parse_descr("[('x', '<f4'), ('y', '<f4'), ('id', '<i8')]").unwrap();
    let bytes = header::write(&Header { shape: vec![3], ..header }).unwrap();
    if cfg!(target_endian = "little") {
        // np.save(f, np.zeros(3, [('x', '<f4'), ('y', '<f4'), ('id', '<i8')]))
        let mut expected = b"\x93NUMPY\x01\x00v\x00{'descr': [('x', '<f4'), ('y', '<f4'), ('id', '<i8')], 'fortran_order': False, 'shape': (3,), }".to_vec();
        expected.resize(127, b' ');
        expected.push(b'\n');
        assert_eq!(bytes, expected);
    }
    // Growth rewrites the shape and keeps the descr.
    let mut grown = bytes.clone();
    header::rewrite_shape(&mut grown, &[1000]).unwrap();
    let reparsed = header::parse(&grown, usize::MAX).unwrap().header;
    assert_eq!(reparsed.shape, [1000]);
    assert_eq!(reparsed.record, header::parse(&bytes, usize::MAX).unwrap().header.record);
}

#[test]
fn byte_swapping_converts_only_foreign_fields() {
    let layout = layout("[('a', '>i4'), ('b', '<i2'), ('c', '>c8', (1,))]");
    let mut bytes = vec![0, 0, 0, 1, 2, 0, 0, 0, 0, 3, 0, 0, 0, 4];
    layout.swap_to_native(&mut bytes);
    if cfg!(target_endian = "little") {
        assert_eq!(bytes, [1, 0, 0, 0, 2, 0, 3, 0, 0, 0, 4, 0, 0, 0]);
    }
}

/// Any list of fields (numbers in either byte order, sub-arrays, gaps, one level of
/// nesting), written as NumPy writes descrs, parses to a layout whose descr is the same
/// text and whose itemsize is the sum of the sizes.
#[test]
fn random_descrs_round_trip() {
    const PLAIN: [(&str, usize); 8] = [
        ("'|u1'", 1),
        ("'<i2'", 2),
        ("'>i4'", 4),
        ("'<f4'", 4),
        ("'>f8'", 8),
        ("'<c16'", 16),
        ("'|b1'", 1),
        ("'<u8'", 8),
    ];
    fn descr(spec: &[(u8, u8, u8)], depth: u8) -> (String, usize) {
        let mut parts = Vec::new();
        let mut size = 0;
        for (i, &(ty, shape, gap)) in spec.iter().enumerate() {
            if gap % 4 == 1 {
                parts.push(format!("('', '|V{}')", gap / 4 + 1));
                size += usize::from(gap / 4 + 1);
            }
            let (text, len) = if ty % 9 == 8 && depth == 0 {
                descr(&[(ty / 9, 0, 0), (ty / 3, shape, 0)], 1)
            } else {
                let (t, l) = PLAIN[usize::from(ty % 8)];
                (t.to_owned(), l)
            };
            let (suffix, count) = match shape % 4 {
                0 | 1 => (String::new(), 1),
                2 => (format!(", ({},)", shape / 4), usize::from(shape / 4)),
                _ => (format!(", ({}, 2)", shape / 4), usize::from(shape / 4) * 2),
            };
            parts.push(format!("('f{i}', {text}{suffix})"));
            size += len * count;
        }
        (format!("[{}]", parts.join(", ")), size)
    }
    fn prop(spec: Vec<(u8, u8, u8)>) -> TestResult {
        if spec.is_empty() {
            return TestResult::discard();
        }
        let (text, size) = descr(&spec, 0);
        if size == 0 {
            // Only empty sub-arrays: NumPy's itemsize 0, which ndmmap refuses.
            let refused = parse_descr(&text);
            return TestResult::from_bool(matches!(
                refused,
                Err(HeaderError::UnsupportedDtype { .. })
            ));
        }
        let layout = layout(&text);
        TestResult::from_bool(layout.to_string() == text && layout.itemsize() == size)
    }
    QuickCheck::new().tests(500).quickcheck(prop as fn(Vec<(u8, u8, u8)>) -> TestResult);
}
