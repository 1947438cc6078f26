use std::path::{Path, PathBuf};
use std::process::Command;

use quickcheck::{QuickCheck, TestResult};

use super::*;
use crate::npy::descr::{ByteOrder, Kind};
use crate::npy::literal::MAX_QUOTE;

/// A file prefix with header text `text` exactly as given (no padding added).
fn npy(version: (u8, u8), text: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[version.0, version.1]);
    if version.0 == 1 {
        out.extend_from_slice(&u16::try_from(text.len()).unwrap().to_le_bytes());
    } else {
        out.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
    }
    out.extend_from_slice(text);
    out
}

/// A version 1.0 file prefix with `text` padded with spaces and a newline to 128 bytes.
fn npy128(text: &str) -> Vec<u8> {
    let mut padded = text.as_bytes().to_vec();
    padded.resize(117, b' ');
    padded.push(b'\n');
    npy((1, 0), &padded)
}

fn header(descr: &str, fortran_order: bool, shape: &[usize]) -> Header {
    Header {
        descr: Descr::parse(descr).unwrap(),
        record: None,
        fortran_order,
        shape: shape.to_vec(),
    }
}

fn parse_ok(bytes: &[u8]) -> Header {
    match parse(bytes, DEFAULT_MAX_HEADER_SIZE) {
        Ok(parsed) => parsed.header,
        Err(e) => panic!("{e} for {:?}", bytes.escape_ascii().to_string()),
    }
}

fn parse_err(bytes: &[u8]) -> HeaderError {
    parse(bytes, DEFAULT_MAX_HEADER_SIZE).expect_err("header should be rejected")
}

fn dict(descr: &str, fortran: &str, shape: &str) -> String {
    format!("{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}")
}

// Reference section 2.10: np.save's headers from NumPy 2.4.6, as (dtype, order, shape,
// dict text, spaces after it).
const GOLDEN: [(&str, bool, &[usize], &str, usize); 10] = [
    ("<f8", false, &[2, 3], "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 58),
    (">i4", false, &[3], "{'descr': '>i4', 'fortran_order': False, 'shape': (3,), }", 60),
    ("|b1", false, &[3], "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", 60),
    ("|u1", false, &[4], "{'descr': '|u1', 'fortran_order': False, 'shape': (4,), }", 60),
    ("<c16", false, &[2], "{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", 59),
    ("<f4", true, &[2, 3], "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 59),
    ("<f8", false, &[], "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 62),
    ("<f8", false, &[0], "{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }", 60),
    ("<i8", false, &[0, 5], "{'descr': '<i8', 'fortran_order': False, 'shape': (0, 5), }", 58),
    ("<i2", false, &[3, 2], "{'descr': '<i2', 'fortran_order': False, 'shape': (3, 2), }", 58),
];

#[test]
fn golden_vectors_byte_for_byte() {
    for (descr, fortran, shape, text, spaces) in GOLDEN {
        let mut expected = b"\x93NUMPY\x01\x00v\x00".to_vec();
        expected.extend_from_slice(text.as_bytes());
        expected.extend(std::iter::repeat_n(b' ', spaces));
        expected.push(b'\n');
        assert_eq!(expected.len(), 128);
        let h = header(descr, fortran, shape);
        assert_eq!(write(&h).unwrap(), expected, "{text}");
        let parsed = parse(&expected, DEFAULT_MAX_HEADER_SIZE).unwrap();
        assert_eq!(parsed, ParsedHeader { header: h, version: Version::V1_0, data_offset: 128 });
    }
}

#[test]
fn data_len() {
    assert_eq!(header("<f8", false, &[2, 3]).data_len(), Some(48));
    assert_eq!(header("<f8", false, &[]).data_len(), Some(8));
    assert_eq!(header("|u1", false, &[3, 0, 2]).data_len(), Some(0));
    let max = usize::try_from(isize::MAX).unwrap();
    assert_eq!(header("|u1", false, &[max]).data_len(), Some(max));
    assert_eq!(header("|u1", false, &[max, 0]).data_len(), Some(0));
    assert_eq!(header("<i2", false, &[max]).data_len(), None);
    // Like ndarray and NumPy: a zero axis does not excuse the others from overflowing.
    assert_eq!(header("|u1", false, &[max, 2, 0]).data_len(), None);
}

#[test]
fn writer_alignment_edges() {
    // NumPy pads to 64 with 1 to 64 spaces, never 0: find shapes on both sides of a boundary.
    for n in 0..40 {
        let h = header("<f8", false, &vec![1; n]);
        let bytes = write(&h).unwrap();
        assert_eq!(bytes.len() % 64, 0);
        assert_eq!(bytes.last(), Some(&b'\n'));
        let close = bytes.iter().rposition(|&b| b == b'}').unwrap();
        let spaces = bytes.len() - close - 2;
        let growth = if n == 0 { 0 } else { 20 };
        assert!((growth + 1..=growth + 64).contains(&spaces), "{n}: {spaces}");
        assert_eq!(parse_ok(&bytes), h);
    }
}

#[test]
fn writer_growth_padding_follows_the_order() {
    let c = write(&header("<f8", false, &[10_000, 3])).unwrap();
    let f = write(&header("<f8", true, &[10_000, 3])).unwrap();
    let spaces = |b: &[u8]| b.iter().rev().skip(1).take_while(|&&c| c == b' ').count();
    // C order grows the first axis (5 digits): 16 growth spaces; F order the last (1 digit).
    let text_c = dict("'<f8'", "False", "(10000, 3)");
    let text_f = dict("'<f8'", "True", "(10000, 3)");
    assert_eq!(spaces(&c), 128 - 11 - text_c.len());
    assert_eq!(spaces(&f), 128 - 11 - text_f.len());
    assert_eq!(c.len(), 128);
    // The longest growth axis still fits the same header.
    let max = write(&header("|u1", false, &[usize::try_from(isize::MAX).unwrap()])).unwrap();
    assert_eq!(max.len(), 128);
}

#[test]
fn writer_switches_to_version_2_for_long_headers() {
    let h = header("|u1", false, &vec![1; 22_000]);
    let bytes = write(&h).unwrap();
    assert_eq!(&bytes[6..8], &[2, 0]);
    assert_eq!(bytes.len() % 64, 0);
    let parsed = parse(&bytes, usize::MAX).unwrap();
    assert_eq!(parsed.version, Version::V2_0);
    assert_eq!(parsed.header, h);
    // NumPy's default limit refuses it, as np.load does.
    assert!(matches!(
        parse(&bytes, DEFAULT_MAX_HEADER_SIZE),
        Err(HeaderError::TooLarge { len, limit: 10_000 }) if len == bytes.len() - 12
    ));
}

#[test]
fn writer_rejects_overflowing_shapes() {
    let err = write(&header("<f8", false, &[usize::MAX, 2])).unwrap_err();
    assert!(matches!(&err, HeaderError::ShapeOverflow { text } if text.ends_with(", 2)")));
}

#[test]
fn lenient_like_numpy() {
    let expect = header("<f8", false, &[2, 3]);
    let cases: &[&[u8]] = &[
        // No trailing comma, double quotes, key order, whitespace, comments.
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}\n",
        b"{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2, 3), }\n",
        b"{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}",
        b" \t\n\r\x0c{ 'descr' :'<f8'\n,'fortran_order'\t:False , 'shape':( 2 ,3 , ) , }\r\n  ",
        b"# a comment\n{'descr': '<f8', # the dtype\n 'fortran_order': False, 'shape': (2, 3)}",
        b"{u'descr': U\"<f8\", 'fortran_order': False, 'shape': (2, 3)}",
        // The last of duplicate keys wins.
        b"{'descr': 'xx', 'fortran_order': 0, 'shape': (2, 3), 'descr': '<f8', \
          'fortran_order': False}",
        // Integer spellings and parentheses.
        b"{'descr': '<f8', 'fortran_order': False, 'shape': ((2), (+3))}",
        b"{'descr': '<f8', 'fortran_order': False, 'shape': ((0x2, 0b1_1))}",
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (0o2, 3)}",
        b"{'descr': '=f8', 'fortran_order': False, 'shape': (2, 3)}",
        b"{'descr': 'f8', 'fortran_order': False, 'shape': (2, 3)}",
        // Python 2 longs, in versions 1.0 and 2.0.
        b"{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3 L), }",
    ];
    for text in cases {
        assert_eq!(parse_ok(&npy((1, 0), text)), expect, "{}", text.escape_ascii());
    }
    let py2 = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L)}";
    assert_eq!(parse_ok(&npy((2, 0), py2)), expect);

    let zero = header("<f8", false, &[0, 10]);
    let text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (-0, 1_0)}";
    assert_eq!(parse_ok(&npy((1, 0), text)), zero);
    let text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (00, 10)}";
    assert_eq!(parse_ok(&npy((1, 0), text)), zero);
    let text = b"{'descr': '<f8', 'fortran_order': False, 'shape': ( )}";
    assert_eq!(parse_ok(&npy((3, 0), text)), header("<f8", false, &[]));
}

#[test]
fn legacy_and_unaligned_files() {
    // numpy/lib/tests/data/python3.npy: NumPy < 1.14 aligned to 16 bytes.
    let legacy = b"\x93NUMPY\x01\x00F\x00{'descr': '<f8', 'fortran_order': False, \
                   'shape': (2,), }            \n";
    let parsed = parse(legacy, DEFAULT_MAX_HEADER_SIZE).unwrap();
    assert_eq!(parsed.data_offset, 80);
    assert_eq!(parsed.header, header("<f8", false, &[2]));
    // win64python2.npy style: Python 2 long in the shape.
    let py2 = npy128("{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }");
    assert_eq!(parse_ok(&py2).shape, [2]);
    // No padding and no newline: data at offset 68, unaligned, as NumPy accepts.
    let bare = npy((1, 0), b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}");
    assert_eq!(parse(&bare, DEFAULT_MAX_HEADER_SIZE).unwrap().data_offset, bare.len());
    // Trailing data after the header (the array, and more) is not looked at.
    let mut with_data = write(&header("|u1", false, &[4])).unwrap();
    with_data.extend_from_slice(b"\x00\x01\x02\x03garbage\x00\xff");
    assert_eq!(parse(&with_data, DEFAULT_MAX_HEADER_SIZE).unwrap().data_offset, 128);
    // Version 3.0 headers are UTF-8, with non-ASCII text allowed in comments.
    let v3 =
        npy((3, 0), "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} # é\n".as_bytes());
    assert_eq!(parse(&v3, DEFAULT_MAX_HEADER_SIZE).unwrap().version, Version::V3_0);
    let v1 = npy((1, 0), b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} # \xe9\n");
    assert_eq!(parse_ok(&v1).shape, [2]);
}

#[test]
fn descrs_are_normalised() {
    let text = |d: &str| npy128(&dict(d, "False", "(2,)"));
    assert_eq!(parse_ok(&text("'<u1'")).descr.to_string(), "|u1");
    assert_eq!(parse_ok(&text("'>b1'")).descr, Descr::BOOL);
    assert_eq!(parse_ok(&text("'|f8'")).descr, Descr::F64);
    let big = parse_ok(&text("'>f2'")).descr;
    assert_eq!((big.kind(), big.size(), big.order()), (Kind::Float, 2, ByteOrder::Big));
}

#[test]
fn bad_magic() {
    let mut file = write(&header("<f8", false, &[2])).unwrap();
    file[5] = b'X';
    assert!(matches!(parse_err(&file), HeaderError::BadMagic { found } if found == b"\x93NUMPX"));
    assert!(
        matches!(parse_err(b"PK\x03\x04"), HeaderError::BadMagic { found } if found == b"PK\x03\x04")
    );
    assert!(matches!(parse_err(b"x"), HeaderError::BadMagic { .. }));
}

#[test]
fn unsupported_versions() {
    let file = write(&header("<f8", false, &[2])).unwrap();
    for version in [(1, 1), (4, 0), (0, 0), (2, 1), (255, 255)] {
        let mut file = file.clone();
        file[6] = version.0;
        file[7] = version.1;
        assert!(
            matches!(parse_err(&file), HeaderError::UnsupportedVersion { major, minor }
                if (major, minor) == version),
            "{version:?}"
        );
    }
}

#[test]
fn truncated_says_how_much_is_needed() {
    let file = write(&header("<f8", false, &[2])).unwrap();
    for (len, needed) in
        [(0, 10), (3, 10), (6, 10), (7, 10), (8, 10), (9, 10), (10, 128), (127, 128)]
    {
        let err = parse_err(&file[..len]);
        assert!(
            matches!(err, HeaderError::Truncated { needed: n, available } if n == needed && available == len),
            "{len}: {err:?}"
        );
    }
    let v2 = npy((2, 0), b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}");
    assert!(matches!(parse_err(&v2[..11]), HeaderError::Truncated { needed: 12, available: 11 }));
    assert!(matches!(
        parse_err(&v2[..40]),
        HeaderError::Truncated { needed, available: 40 } if needed == v2.len()
    ));
}

#[test]
fn header_size_limit_compares_characters_like_numpy() {
    let file = write(&header("<f8", false, &[2, 3])).unwrap();
    assert!(parse(&file, 118).is_ok());
    assert!(matches!(parse(&file, 117), Err(HeaderError::TooLarge { len: 118, limit: 117 })));
    // Rejected from the length field alone, before the caller reads the header.
    assert!(matches!(parse(&file[..10], 117), Err(HeaderError::TooLarge { len: 118, limit: 117 })));
    // Version 3.0: 62 bytes but 60 characters.
    let v3 =
        npy((3, 0), "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)} #éé\n".as_bytes());
    assert_eq!(v3.len(), 12 + 62);
    assert!(parse(&v3, 60).is_ok());
    assert!(matches!(parse(&v3, 59), Err(HeaderError::TooLarge { len: 60, limit: 59 })));
    // Over four bytes per allowed character: rejected without reading the header.
    assert!(matches!(parse(&v3[..12], 15), Err(HeaderError::TooLarge { len: 62, limit: 15 })));
    assert!(matches!(parse(&v3[..12], 16), Err(HeaderError::Truncated { needed: 74, .. })));
}

#[test]
fn not_utf8() {
    let mut text = dict("'<f8'", "False", "(2,)").into_bytes();
    text.extend_from_slice(b" #\xff\n");
    let err = parse_err(&npy((3, 0), &text));
    assert!(matches!(err, HeaderError::NotUtf8 { offset } if offset == 12 + text.len() - 2));
    // The same bytes are fine latin-1 in version 1.0.
    assert!(parse(&npy((1, 0), &text), DEFAULT_MAX_HEADER_SIZE).is_ok());
}

#[test]
fn syntax_errors() {
    let good = dict("'<f8'", "False", "(2,)");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (format!("{good}\x00\x00\n").into_bytes(), "after the value"),
        (b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,".to_vec(), "end of header"),
        (b"{'descr': '<f8' 'fortran_order': False}".to_vec(), "adjacent"),
        (b"{'descr' '<f8'}".to_vec(), "adjacent"),
        (b"{'descr': '\\x3cf8'}".to_vec(), "escape"),
        (b"{'descr': '''<f8'''}".to_vec(), "triple"),
        (b"{'descr': '<f8}".to_vec(), "unterminated"),
        (b"{'descr': '<f8\n'}".to_vec(), "unterminated"),
        (b"{'fortran_order': false}".to_vec(), "unknown name false"),
        (b"{'shape': (02, 3)}".to_vec(), "invalid number"),
        (b"{'shape': (1__0, 3)}".to_vec(), "invalid number"),
        (b"{'shape': (10_, 3)}".to_vec(), "invalid number"),
        (b"{'shape': (0x, 3)}".to_vec(), "invalid number"),
        (b"{'shape': (--2, 3)}".to_vec(), "number after the sign"),
        (b"{'shape': (-True,)}".to_vec(), "number after the sign"),
        (b"{'shape': (,)}".to_vec(), "expected a value"),
        (b"{'shape': (1,,)}".to_vec(), "expected a value"),
        (b"{'shape' (1,)}".to_vec(), "':' after a dict key"),
        (b"{'shape': (1 2)}".to_vec(), "',' or ')'"),
        (b"\x0b{}".to_vec(), "byte 0x0b"),
        (b"{} # \x00".to_vec(), "NUL"),
        (b"{'a': '\x00'}".to_vec(), "NUL"),
        (b"".to_vec(), "end of header"),
        (b"   ".to_vec(), "end of header"),
        (b"{'shape': (2L, 3)}".to_vec(), "invalid number"), // version 3.0 below
    ];
    for (i, (text, message)) in cases.iter().enumerate() {
        let version = if i + 1 == cases.len() { (3, 0) } else { (1, 0) };
        let err = parse_err(&npy(version, text));
        assert!(
            matches!(&err, HeaderError::Syntax { message: m, offset } if m.contains(message) && *offset >= 10),
            "{}: {err:?}",
            text.escape_ascii()
        );
    }
    // The offset points into the file at the problem.
    let err = parse_err(&npy((1, 0), b"{'shape': (1 2)}"));
    assert!(matches!(err, HeaderError::Syntax { offset: 23, .. }), "{err:?}");
}

#[test]
fn nesting_is_capped_like_python() {
    let nested = |n: usize| {
        let shape = format!("{}(2, 3){}", "(".repeat(n - 1), ")".repeat(n - 1));
        npy((1, 0), dict("'<f8'", "False", &shape).as_bytes())
    };
    // The dict's brace counts: 199 parentheses inside it make 200 levels, Python's limit.
    assert_eq!(parse_ok(&nested(199)).shape, [2, 3]);
    assert!(
        matches!(parse_err(&nested(200)), HeaderError::Syntax { message, .. } if message.contains("nested"))
    );
    // Far deeper than any stack would allow to recurse on, without a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(matches!(
        parse(&npy((2, 0), deep.as_bytes()), usize::MAX),
        Err(HeaderError::Syntax { .. })
    ));
}

#[test]
fn not_a_dict() {
    for (text, found) in [
        ("[1, 2]", "a list"),
        ("(1, 2)", "a tuple"),
        ("'x'", "a string"),
        ("3", "an integer"),
        ("-1.5e3", "a number"),
        ("None", "None"),
        ("True", "a bool"),
        ("({})", "a dict"), // parenthesised, still a dict: no error expected
    ] {
        let result = parse(&npy((1, 0), text.as_bytes()), DEFAULT_MAX_HEADER_SIZE);
        if found == "a dict" {
            assert!(matches!(result, Err(HeaderError::Keys { found }) if found.is_empty()));
        } else {
            assert!(
                matches!(&result, Err(HeaderError::NotADict { found: f }) if *f == found),
                "{text}: {result:?}"
            );
        }
    }
}

#[test]
fn wrong_keys() {
    let keys = |text: &str| match parse_err(&npy((1, 0), text.as_bytes())) {
        HeaderError::Keys { found } => found,
        other => panic!("{text}: {other:?}"),
    };
    assert_eq!(keys("{'descr': '<f8', 'shape': (2,)}"), ["descr", "shape"]);
    assert_eq!(
        keys("{'shape': (2,), 'extra': 1, 'descr': '<f8', 'fortran_order': False}"),
        ["descr", "extra", "fortran_order", "shape"]
    );
    assert_eq!(
        keys("{'descr': '<f8', 'fortran_order': False, 1: (2,)}"),
        ["1", "descr", "fortran_order"]
    );
    assert_eq!(keys("{'shape': 1, 'shape': 2}"), ["shape"]);
    assert!(keys("{}").is_empty());
}

#[test]
fn invalid_shapes() {
    for shape in
        ["[2, 3]", "2", "(2.0, 3)", "(-1, 3)", "(True, 3)", "('2', 3)", "None", "(1j,)", "((2,),)"]
    {
        let err = parse_err(&npy128(&dict("'<f8'", "False", shape)));
        assert!(matches!(&err, HeaderError::Shape { text } if text == shape), "{shape}: {err:?}");
    }
    // The order of checks is NumPy's: shape before fortran_order and descr.
    let err = parse_err(&npy128(&dict("'xx'", "0", "[2]")));
    assert!(matches!(err, HeaderError::Shape { .. }));
}

#[test]
fn shape_overflow() {
    for shape in [
        "(100000000000000000000, 1)",
        "(340282366920938463463374607431768211456,)", // 2**128
        "(9223372036854775807, 2)",
        "(4611686018427387904, 4611686018427387904, 0)",
    ] {
        let err = parse_err(&npy128(&dict("'|u1'", "False", shape)));
        assert!(
            matches!(&err, HeaderError::ShapeOverflow { text } if text == shape),
            "{shape}: {err:?}"
        );
    }
    // Exactly isize::MAX bytes is fine, one more element size is not.
    let max = isize::MAX.to_string();
    assert!(parse(&npy128(&dict("'|u1'", "False", &format!("({max},)"))), 10_000).is_ok());
    let err = parse_err(&npy128(&dict("'<u2'", "False", &format!("({max},)"))));
    assert!(matches!(err, HeaderError::ShapeOverflow { .. }));
}

#[test]
fn invalid_fortran_order() {
    for value in ["0", "1", "'False'", "None", "(False,)"] {
        let err = parse_err(&npy128(&dict("'<f8'", value, "(2,)")));
        assert!(
            matches!(&err, HeaderError::FortranOrder { text } if text == value),
            "{value}: {err:?}"
        );
    }
}

#[test]
fn invalid_and_unsupported_descrs() {
    for (descr, text) in
        [("'xx'", "xx"), ("'<i3'", "<i3"), ("8", "8"), ("None", "None"), ("'float64'", "float64")]
    {
        let err = parse_err(&npy128(&dict(descr, "False", "(2,)")));
        assert!(matches!(&err, HeaderError::Descr { text: t } if t == text), "{descr}: {err:?}");
    }
    for (descr, text) in [
        ("'<f16'", "<f16"),
        ("'|O'", "|O"),
        ("'<U3'", "<U3"),
        ("[(('t', 'a'), '<i4')]", "[(('t', 'a'), '<i4')]"),
        ("('<i4', (2,))", "('<i4', (2,))"),
    ] {
        let err = parse_err(&npy128(&dict(descr, "False", "(2,)")));
        assert!(
            matches!(&err, HeaderError::UnsupportedDtype { descr: d, .. } if d == text),
            "{descr}: {err:?}"
        );
    }
}

#[test]
fn long_quotes_are_cut() {
    let shape = format!("[{}]", "1, ".repeat(500));
    let err = parse_err(&npy((1, 0), dict("'<f8'", "False", &shape).as_bytes()));
    let HeaderError::Shape { text } = err else { panic!("{err:?}") };
    assert_eq!(text.chars().count(), MAX_QUOTE + 3);
    assert!(text.ends_with("..."));
}

#[test]
fn rewrite_shape_grows_like_np_save() {
    for (fortran, old, new) in [
        (false, vec![0, 3], vec![usize::try_from(12_345_678_901_u64).unwrap_or(123_456_789), 3]),
        (false, vec![5], vec![usize::try_from(isize::MAX).unwrap()]),
        (true, vec![3, 4, 0], vec![3, 4, 1_000_000]),
        (false, vec![2, 3], vec![2, 4]),
        (false, vec![2, 3], vec![]),
    ] {
        let mut file = write(&header("|u1", fortran, &old)).unwrap();
        file.extend_from_slice(b"data");
        rewrite_shape(&mut file, &new).unwrap();
        let expected = write(&header("|u1", fortran, &new)).unwrap();
        assert_eq!(&file[..expected.len()], expected, "{old:?} -> {new:?}");
        assert_eq!(&file[expected.len()..], b"data");
    }
}

// The new shape's length text needs 10^18 elements, more than a 32-bit `usize` counts (the
// padding rule itself does not depend on the platform).
#[cfg(target_pointer_width = "64")]
#[test]
fn rewrite_shape_pads_when_np_save_would_not_fit() {
    // np.save would write a 192-byte header for the new shape; it still fits in 128.
    let old = header("|u1", false, &[1; 8]);
    let new = [1, 10_usize.pow(9), 10_usize.pow(9), 1, 1, 1, 1, 1, 9];
    assert_eq!(write(&old).unwrap().len(), 128);
    assert_eq!(write(&header("|u1", false, &new)).unwrap().len(), 192);
    let mut file = write(&old).unwrap();
    rewrite_shape(&mut file, &new).unwrap();
    let parsed = parse(&file, DEFAULT_MAX_HEADER_SIZE).unwrap();
    assert_eq!((parsed.data_offset, parsed.header.shape.as_slice()), (128, &new[..]));

    // Legacy 16-byte-aligned file: keeps its 80-byte header and version.
    let mut legacy = b"\x93NUMPY\x01\x00F\x00{'descr': '<f8', 'fortran_order': False, \
                   'shape': (2,), }            \n"
        .to_vec();
    rewrite_shape(&mut legacy, &[1000]).unwrap();
    let parsed = parse(&legacy, DEFAULT_MAX_HEADER_SIZE).unwrap();
    assert_eq!((parsed.data_offset, parsed.header.shape.as_slice()), (80, &[1000][..]));

    // A version 2.0 header stays version 2.0.
    let mut v2 =
        npy((2, 0), b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}          \n");
    rewrite_shape(&mut v2, &[3, 4]).unwrap();
    let parsed = parse(&v2, DEFAULT_MAX_HEADER_SIZE).unwrap();
    assert_eq!((parsed.version, parsed.header.shape.as_slice()), (Version::V2_0, &[3, 4][..]));
}

#[test]
fn rewrite_shape_refuses_what_does_not_fit() {
    let mut file = write(&header("<f8", false, &[2, 3])).unwrap();
    let before = file.clone();
    let err = rewrite_shape(&mut file, &[1; 30]).unwrap_err();
    assert!(matches!(err, HeaderError::ShapeDoesNotFit { needed, available: 128 } if needed > 128));
    let err = rewrite_shape(&mut file, &[usize::MAX, 2]).unwrap_err();
    assert!(matches!(err, HeaderError::ShapeOverflow { .. }));
    let err = rewrite_shape(&mut file[..100], &[3]).unwrap_err();
    assert!(matches!(err, HeaderError::Truncated { needed: 128, available: 100 }));
    assert_eq!(file, before);
}

#[test]
fn error_is_send_sync_static_and_messages_are_lowercase() {
    fn assert_traits<E: std::error::Error + Send + Sync + 'static>() {}
    assert_traits::<HeaderError>();
    let errors = [
        HeaderError::BadMagic { found: b"PK\x03\x04".to_vec() },
        HeaderError::UnsupportedVersion { major: 1, minor: 1 },
        HeaderError::Truncated { needed: 128, available: 7 },
        HeaderError::TooLarge { len: 10_060, limit: 10_000 },
        HeaderError::NotUtf8 { offset: 40 },
        HeaderError::Syntax { offset: 20, message: "unexpected ')'".into() },
        HeaderError::NotADict { found: "a list" },
        HeaderError::Keys { found: vec!["descr".into(), "shape".into()] },
        HeaderError::Shape { text: "[2, 3]".into() },
        HeaderError::ShapeOverflow { text: "(100000000000000000000,)".into() },
        HeaderError::FortranOrder { text: "0".into() },
        HeaderError::Descr { text: "xx".into() },
        HeaderError::UnsupportedDtype { descr: "|O".into(), reason: "objects" },
        HeaderError::ShapeDoesNotFit { needed: 130, available: 128 },
    ];
    for err in errors {
        let message = err.to_string();
        let first = message.chars().next().unwrap();
        assert!(!first.is_uppercase() && !message.ends_with('.'), "{message}");
    }
    assert_eq!(
        HeaderError::BadMagic { found: b"\x93NUMPX".to_vec() }.to_string(),
        r#"not a .npy file: it starts with b"\x93NUMPX", not b"\x93NUMPY""#
    );
    assert_eq!(
        HeaderError::Keys { found: vec!["descr".into(), "shape".into()] }.to_string(),
        ".npy header has keys [descr, shape], expected [descr, fortran_order, shape]"
    );
}

/// A random header from quickcheck's values: any supported descr in either byte order, any
/// order, up to 8 axes spread over every digit count.
fn arbitrary_header(dims: &[u64], fortran_order: bool, descr: u8) -> Header {
    let all = Descr::ALL_NATIVE;
    let native = all[usize::from(descr) % all.len()];
    let order = if descr >= 128 { ByteOrder::Big } else { ByteOrder::Little };
    let descr = Descr::new(native.kind(), native.size(), order).unwrap();
    let shape = dims
        .iter()
        .take(8)
        .map(|&d| usize::try_from(d >> (d % 64)).unwrap_or(usize::MAX))
        .collect();
    Header { descr, record: None, fortran_order, shape }
}

#[test]
fn prop_parse_inverts_write() {
    fn prop(dims: Vec<u64>, fortran_order: bool, descr: u8) -> bool {
        let h = arbitrary_header(&dims, fortran_order, descr);
        match write(&h) {
            Ok(bytes) => {
                let parsed = parse(&bytes, usize::MAX).unwrap();
                bytes.len() % 64 == 0
                    && parsed.data_offset == bytes.len()
                    && parsed.version == Version::V1_0
                    && parsed.header == h
            }
            Err(HeaderError::ShapeOverflow { .. }) => h.data_len().is_none(),
            Err(_) => false,
        }
    }
    QuickCheck::new().tests(2000).quickcheck(prop as fn(Vec<u64>, bool, u8) -> bool);
}

#[test]
fn prop_rewrite_growth_axis_equals_write() {
    fn prop(dims: Vec<u64>, fortran_order: bool, descr: u8, grown: u64) -> TestResult {
        let old = arbitrary_header(&dims, fortran_order, descr);
        let mut new = old.clone();
        let axis = if fortran_order { new.shape.last_mut() } else { new.shape.first_mut() };
        let Some(axis) = axis else { return TestResult::discard() };
        *axis = usize::try_from(grown >> (grown % 64)).unwrap_or(usize::MAX);
        let (Ok(mut bytes), Ok(expected)) = (write(&old), write(&new)) else {
            return TestResult::discard();
        };
        TestResult::from_bool(rewrite_shape(&mut bytes, &new.shape).is_ok() && bytes == expected)
    }
    QuickCheck::new().tests(2000).quickcheck(prop as fn(Vec<u64>, bool, u8, u64) -> TestResult);
}

#[test]
fn prop_parse_never_panics_on_random_bytes() {
    fn prop(bytes: Vec<u8>, prefix: u8) -> bool {
        // Most random bytes fail at the magic; give the parser real work too.
        let mut file = match prefix % 3 {
            0 => Vec::new(),
            1 => npy((1, 0), &[]),
            _ => npy((3, 0), &[]),
        };
        file.extend_from_slice(&bytes);
        if !prefix.is_multiple_of(3) {
            let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_le_bytes();
            file[8..10].copy_from_slice(&len);
        }
        let result = parse(&file, usize::MAX);
        result.is_err() || result.is_ok_and(|p| p.data_offset <= file.len())
    }
    QuickCheck::new().tests(5000).quickcheck(prop as fn(Vec<u8>, u8) -> bool);
}

#[test]
fn prop_parse_never_panics_on_token_soup() {
    const TOKENS: [&str; 32] = [
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ",",
        ":",
        "'",
        "\"",
        "'descr'",
        "'shape'",
        "'fortran_order'",
        "True",
        "False",
        "None",
        "0",
        "17",
        "-",
        "+",
        "L",
        "2L",
        "e",
        "1e-",
        ".",
        "_",
        "0x",
        "#",
        "\n",
        " ",
        "'<f8'",
        "u",
    ];
    fn prop(picks: Vec<u8>, version: bool) -> bool {
        let text: String = picks.iter().map(|&p| TOKENS[usize::from(p) % TOKENS.len()]).collect();
        let file = npy(if version { (1, 0) } else { (3, 0) }, text.as_bytes());
        let _ = parse(&file, usize::MAX);
        true
    }
    QuickCheck::new().tests(5000).quickcheck(prop as fn(Vec<u8>, bool) -> bool);
}

#[test]
fn prop_parse_never_panics_on_mutated_headers() {
    fn prop(dims: Vec<u64>, fortran_order: bool, descr: u8, edits: Vec<(u8, u8)>, cut: u8) -> bool {
        let Ok(mut bytes) = write(&arbitrary_header(&dims, fortran_order, descr)) else {
            return true;
        };
        let len = bytes.len();
        for (at, byte) in edits {
            bytes[usize::from(at) % len] = byte;
        }
        bytes.truncate(len - usize::from(cut) % 4 * usize::from(cut % 2));
        let _ = parse(&bytes, usize::MAX);
        let mut copy = bytes.clone();
        let _ = rewrite_shape(&mut copy, &[1, 2, 3]);
        true
    }
    QuickCheck::new()
        .tests(5000)
        .quickcheck(prop as fn(Vec<u64>, bool, u8, Vec<(u8, u8)>, u8) -> bool);
}

/// The Python that runs `tests/python/npy_golden_headers.py`: `NDMMAP_PYTHON`, else the
/// crate's `.venv`, else none (the NumPy tests are then skipped).
fn python() -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("NDMMAP_PYTHON") {
        return Some(python.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv");
    [venv.join("bin/python"), venv.join("Scripts/python.exe")].into_iter().find(|p| p.exists())
}

/// The script's output for `mode`, or `None` (with a message) if there is no Python;
/// under CI (`CI=true`), where every test must run, no Python fails the test, as the
/// integration tests' skip policy does. Panics if the script fails.
fn numpy_says(mode: &str) -> Option<String> {
    let Some(python) = python() else {
        let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        assert!(!ci, "this test must run under CI (CI=true), but there is no NumPy");
        eprintln!("skipped: set NDMMAP_PYTHON or create .venv with numpy to compare with NumPy");
        return None;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/npy_golden_headers.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(mode)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    assert!(
        output.status.success(),
        "{} {} {mode} failed:\n{}",
        python.display(),
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn shape_field(field: &str) -> Vec<u128> {
    field.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect()
}

#[test]
fn numpy_writes_what_we_write() {
    let Some(lines) = numpy_says("write") else { return };
    let mut count = 0;
    for line in lines.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let ["W", descr, order, shape, hex] = fields[..] else { panic!("bad line {line}") };
        let numpy = unhex(hex);
        let Ok(shape) = shape_field(shape).into_iter().map(usize::try_from).collect() else {
            continue; // Only on targets with a narrower usize.
        };
        let h = Header {
            descr: Descr::parse(descr).unwrap(),
            record: None,
            fortran_order: order == "F",
            shape,
        };
        assert_eq!(encode(&h).as_deref(), Some(&numpy[..]), "{line}");
        if h.data_len().is_some() {
            assert_eq!(write(&h).unwrap(), numpy, "{line}");
            let parsed = parse(&numpy, usize::MAX).unwrap();
            assert_eq!((parsed.header, parsed.data_offset), (h, numpy.len()), "{line}");
        } else {
            assert!(matches!(write(&h), Err(HeaderError::ShapeOverflow { .. })), "{line}");
        }
        count += 1;
    }
    assert!(count > 600, "only {count} cases");
}

/// Cases where ndmmap deliberately rejects what NumPy's reader accepts, and how.
fn deviation(name: &str) -> Option<fn(&HeaderError) -> bool> {
    Some(match name {
        "shape huge" => |e| matches!(e, HeaderError::ShapeOverflow { .. }),
        "descr '<f16'" | "descr '<c32'" | "descr '|S7'" | "descr '<U3'" | "descr '|V12'"
        | "descr '<M8[ns]'" | "descr '<m8[s]'" => {
            |e| matches!(e, HeaderError::UnsupportedDtype { .. })
        }
        "descr '?'" | "descr 'float64'" | "descr '<f+8'" => {
            |e| matches!(e, HeaderError::Descr { .. })
        }
        r"descr '\x3cf8'" | "descr '<' 'f8'" => |e| matches!(e, HeaderError::Syntax { .. }),
        _ => return None,
    })
}

#[test]
fn numpy_accepts_what_we_accept() {
    let Some(lines) = numpy_says("read") else { return };
    let mut count = 0;
    for line in lines.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let ["R", name, limit, hex, verdict, rest @ ..] = &fields[..] else {
            panic!("bad line {line}")
        };
        let ours = parse(&unhex(hex), limit.parse().unwrap());
        match (deviation(name), *verdict, rest, &ours) {
            (Some(expected), "OK", _, Err(e)) => assert!(expected(e), "{name}: {e:?}"),
            (Some(_), _, _, _) => panic!("{name}: NumPy says {verdict}, we say {ours:?}"),
            (None, "OK", [descr, order, shape], Ok(parsed)) => {
                let h = &parsed.header;
                assert_eq!(h.descr.to_string(), *descr, "{name}");
                assert_eq!(h.fortran_order, *order == "F", "{name}");
                let dims: Vec<u128> = h.shape.iter().map(|&d| d as u128).collect();
                assert_eq!(dims, shape_field(shape), "{name}");
            }
            (None, "ERR", _, Err(_)) => {}
            _ => panic!("{name}: NumPy says {}, we say {ours:?}", rest.join(" ")),
        }
        count += 1;
    }
    assert!(count > 90, "only {count} cases");
}
