//! serde_json values inside gob structs. The workspace also builds serde_json with
//! `arbitrary_precision` (the datasync crate needs exact numbers), and Cargo unifies features:
//! then a `serde_json::Number` serializes as a private one-field struct instead of a number.
//! Encoding must give Go the same interface values either way.

use gob::{Decoder, Encoder, GobType, Value};
use serde::Serialize;

#[derive(Serialize, GobType)]
#[serde(rename_all = "PascalCase")]
struct Holder {
    small: serde_json::Value,
    big: serde_json::Value,
    frac: serde_json::Value,
    nested: serde_json::Value,
}

fn interface(v: &Value, field: &str) -> (String, Value) {
    match v.field(field) {
        Some(Value::Interface(Some(iv))) => (iv.name.clone(), iv.value.clone()),
        other => panic!("field {field}: expected an interface value, got {other:?}"),
    }
}

#[test]
fn json_numbers_encode_as_go_numbers() {
    let holder = Holder {
        small: serde_json::json!(5),
        big: serde_json::json!(u64::MAX),
        frac: serde_json::json!(1.5),
        nested: serde_json::json!({"n": -7}),
    };
    let mut out = Vec::new();
    Encoder::new().encode(&holder, &mut out).expect("encode");
    let value = Decoder::new()
        .decode_value(&mut out.as_slice())
        .expect("decode");

    assert_eq!(
        interface(&value, "Small"),
        ("int64".to_owned(), Value::Int(5))
    );
    assert_eq!(
        interface(&value, "Big"),
        ("uint64".to_owned(), Value::Uint(u64::MAX))
    );
    assert_eq!(
        interface(&value, "Frac"),
        ("float64".to_owned(), Value::Float(1.5))
    );
    let (name, nested) = interface(&value, "Nested");
    assert_eq!(name, "map[string]interface {}");
    let Value::Map(entries) = nested else {
        panic!("nested: expected a map, got {nested:?}")
    };
    assert_eq!(entries.len(), 1);
    match &entries[0].1 {
        Value::Interface(Some(iv)) => {
            assert_eq!((iv.name.as_str(), &iv.value), ("int64", &Value::Int(-7)))
        }
        other => panic!("nested n: {other:?}"),
    }
}
