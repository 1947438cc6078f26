use super::*;

#[test]
fn native_table_matches_np_save() {
    let expected_le = [
        "|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8", "<c8",
        "<c16",
    ];
    for (descr, le) in Descr::ALL_NATIVE.iter().zip(expected_le) {
        let expected =
            if cfg!(target_endian = "big") { le.replace('<', ">") } else { le.to_owned() };
        assert_eq!(descr.to_string(), expected);
        assert!(descr.is_native());
        assert_eq!(Descr::parse(&expected).unwrap(), *descr);
    }
}

#[test]
fn parse_normalises_like_numpy() {
    // Each pair: what a header may say, and NumPy's `np.dtype(text).str` on little-endian.
    let cases = [
        ("<f8", "<f8"),
        (">i4", ">i4"),
        ("<f2", "<f2"),
        (">c16", ">c16"),
        ("<u1", "|u1"),
        (">u1", "|u1"),
        ("=u1", "|u1"),
        ("u1", "|u1"),
        (">b1", "|b1"),
        ("<i08", "<i8"),
    ];
    for (text, numpy) in cases {
        assert_eq!(Descr::parse(text).unwrap().to_string(), numpy, "{text}");
    }
    for text in ["=f8", "|f8", "f8"] {
        assert_eq!(Descr::parse(text).unwrap(), Descr::F64, "{text}");
    }
}

#[test]
fn byte_order_and_nativeness() {
    let big = Descr::parse(">i4").unwrap();
    let little = Descr::parse("<i4").unwrap();
    assert_eq!(big.order(), ByteOrder::Big);
    assert_eq!(little.order(), ByteOrder::Little);
    assert_eq!(big.is_native(), cfg!(target_endian = "big"));
    assert_eq!(little.is_native(), cfg!(target_endian = "little"));
    assert!(Descr::parse(">u1").unwrap().is_native());
    assert_eq!(Descr::parse("<c8").unwrap().kind(), Kind::Complex);
    assert_eq!(Descr::parse("<c8").unwrap().size(), 8);
    assert_eq!(Descr::new(Kind::Float, 8, ByteOrder::NotApplicable), Some(Descr::F64));
    assert_eq!(Descr::native(Kind::Float, 3), None);
    assert_eq!(Descr::native(Kind::Bool, 2), None);
}

#[test]
fn rejects_unsupported_dtypes_with_a_reason() {
    for text in ["<f16", "<c32", "<f12", "|S7", "<U3", "|V12", "|O", "|O8", "<M8[ns]", "<m8[s]"] {
        let err = Descr::parse(text).unwrap_err();
        assert!(
            matches!(&err, HeaderError::UnsupportedDtype { descr, .. } if descr == text),
            "{text}: {err:?}"
        );
    }
}

#[test]
fn rejects_invalid_descrs() {
    for text in [
        "",
        "<",
        "|",
        "<f",
        "<i3",
        "<F8",
        "<f+8",
        "< f8",
        "<f8 ",
        "?",
        "d",
        "float64",
        "<b2",
        "<i16",
        "<u99999999999999999999999",
        "<é8",
        "xx",
    ] {
        let err = Descr::parse(text).unwrap_err();
        assert!(matches!(&err, HeaderError::Descr { text: t } if t == text), "{text}: {err:?}");
    }
}
