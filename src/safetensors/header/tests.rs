use super::*;

fn parse_str(json: &str, buffer_len: u64) -> Result<Header, Fault> {
    parse(json.as_bytes(), 8 + json.len() as u64, buffer_len)
}

#[test]
fn tensors_are_listed_in_the_order_of_their_bytes_with_absolute_offsets() {
    let json = r#"{"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},
                   "a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},
                   "e":{"dtype":"I64","shape":[0,5],"data_offsets":[6,6]}}   "#;
    let header = parse_str(json, 6).unwrap();
    let listed: Vec<_> =
        header.tensors.iter().map(|t| (t.name.as_str(), t.data_offsets, t.offset)).collect();
    let start = 8 + json.len() as u64;
    assert_eq!(listed, [("a", (0, 4), start), ("b", (4, 6), start + 4), ("e", (6, 6), start + 6)]);
    assert!(header.metadata.is_empty());
}

#[test]
fn sub_byte_dtypes_count_bits() {
    let json = r#"{"q":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]},
                   "r":{"dtype":"F6_E2M3","shape":[4],"data_offsets":[3,6]}}"#;
    let header = parse_str(json, 6).unwrap();
    assert_eq!(header.tensors[0].dtype, Dtype::F4);
    assert_eq!(header.tensors[1].byte_len(), 3);
}

#[test]
fn unknown_fields_of_an_entry_are_ignored_as_the_safetensors_crate_does() {
    let json = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"note":[1,{}]}}"#;
    assert_eq!(parse_str(json, 1).unwrap().tensors[0].name, "a");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let json = format!(r#"{{"a":{}{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    let err = parse_str(&json, 0).unwrap_err();
    assert!(matches!(err.detail, SafetensorsError::InvalidJson { .. }), "{err:?}");
}
