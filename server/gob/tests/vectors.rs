//! Byte-exact vectors from protocol.md (§3, §4, produced by Go's encoding/gob
//! on a fresh encoder, so user ids start at 65 like ours).

use std::collections::BTreeMap;

use gob::{Any, Decoder, Empty, Encoder, Error, GobType, Limits, Value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct Request {
    service_method: String,
    seq: u64,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
struct Point {
    #[serde(rename = "X")]
    x: i64,
    #[serde(rename = "Y")]
    y: i64,
}

#[derive(Serialize, Deserialize, GobType, Default, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
struct Ret {
    a: Any,
}

fn hex(s: &str) -> Vec<u8> {
    // Tokens: hex bytes, or "quoted text".
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        if let Some(text) = tok.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            out.extend_from_slice(text.as_bytes());
        } else {
            for i in (0..tok.len()).step_by(2) {
                out.push(u8::from_str_radix(&tok[i..i + 2], 16).expect("hex"));
            }
        }
    }
    out
}

/// A message: gob uint length (all test messages are < 128 bytes) + body.
fn msg(body: &str) -> Vec<u8> {
    let b = hex(body);
    assert!(b.len() < 128);
    [vec![b.len() as u8], b].concat()
}

#[test]
fn rpc_request_header_and_bool_body() {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    let req = Request {
        service_method: "Control.Ping".into(),
        seq: 0,
    };
    enc.encode(&req, &mut out).unwrap();
    enc.encode(&true, &mut out).unwrap();
    let want = hex(
        "2f ff81 03 01 01 07 \"Request\" 01 ff82 00 01 02 01 0d \"ServiceMethod\" 01 0c 00 01 03 \"Seq\" 01 06 00 00 00 \
         11 ff82 01 0c \"Control.Ping\" 00 \
         03 02 00 01",
    );
    assert_eq!(out, want);
    // Second call: no definition again, Seq 1 present.
    out.clear();
    enc.encode(
        &Request {
            service_method: "Control.Ping".into(),
            seq: 1,
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out, hex("13 ff82 01 0c \"Control.Ping\" 01 01 00"));

    let mut dec = Decoder::new();
    let all = [want, out].concat();
    let mut r = all.as_slice();
    assert_eq!(dec.decode::<Request, _>(&mut r).unwrap(), req);
    assert!(dec.decode::<bool, _>(&mut r).unwrap());
    assert_eq!(dec.decode::<Request, _>(&mut r).unwrap().seq, 1);
    assert!(matches!(dec.decode_value(&mut r), Err(Error::Eof)));
}

#[test]
fn point_definition() {
    let mut out = Vec::new();
    Encoder::new()
        .encode(&Point { x: 0, y: 0 }, &mut out)
        .unwrap();
    let def = hex(
        "1f ff81 03 01 01 05 \"Point\" 01 ff82 00 01 02 01 01 \"X\" 01 04 00 01 01 \"Y\" 01 04 00 00 00",
    );
    assert_eq!(out, [def, hex("03 ff82 00")].concat());
}

#[test]
fn empty_struct_and_string_slice() {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    enc.encode(&Empty, &mut out).unwrap();
    assert_eq!(out, hex("0a ff81 03 01 02 ff82 00 00 00 03 ff82 00"));
    out.clear();
    enc.encode(&vec!["a".to_string()], &mut out).unwrap();
    assert_eq!(
        out,
        hex("0c ff83 02 01 02 ff84 00 01 0c 00 00 06 ff84 00 01 01 61")
    );
    out.clear();
    enc.encode(&3i64, &mut out).unwrap();
    assert_eq!(out, hex("03 04 00 06"));
}

#[test]
fn interface_map_entries() {
    let mut m = BTreeMap::new();
    m.insert("n".to_string(), Any::from_json(&serde_json::json!(5)));
    let mut out = Vec::new();
    Encoder::new().encode(&m, &mut out).unwrap();
    // map[string]interface{} definition, then the value: count 1, key "n",
    // interface: name "int64", id 2 (int), byte count 2, singleton 00 + int 5.
    let want = [
        msg("ff81 04 01 02 ff82 00 01 0c 01 10 00 00"),
        msg("ff82 00 01 01 \"n\" 05 \"int64\" 04 02 00 0a"),
    ]
    .concat();
    assert_eq!(out, want);
    let back: BTreeMap<String, Any> = Decoder::new().decode(&mut out.as_slice()).unwrap();
    assert_eq!(back["n"].to_json(), serde_json::json!(5));
}

#[test]
fn nil_and_present_interface_fields() {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    enc.encode(&Ret { a: Any::nil() }, &mut out).unwrap();
    // Ret {A interface}: a nil interface field is omitted.
    assert!(out.ends_with(&hex("03 ff82 00")), "{out:02x?}");
    out.clear();
    enc.encode(
        &Ret {
            a: Any::from_json(&serde_json::json!("x")),
        },
        &mut out,
    )
    .unwrap();
    assert_eq!(out, msg("ff82 01 06 \"string\" 0c 03 00 01 \"x\" 00"));
}

#[test]
fn split_interface_message_from_go() {
    // protocol.md §4.5: Go flushed after the interface's inline definition.
    // struct {S string; E error} with E = &AppError-like {Id, Message string}.
    let def = msg(
        "ff81 03 01 01 03 \"Ret\" 01 ff82 00 01 02 01 01 \"S\" 01 0c 00 01 01 \"E\" 01 10 00 00 00",
    );
    let inner_def = hex(
        "03 01 01 08 \"AppError\" 01 ff84 00 01 02 01 02 \"Id\" 01 0c 00 01 07 \"Message\" 01 0c 00 00 00",
    );
    let mut msg1 = hex("ff82 01 02 \"hi\" 01 0f \"*model.AppError\" ff83");
    msg1.extend_from_slice(&inner_def);
    let msg2 = hex("ff84 0b 01 01 \"x\" 01 01 \"m\" 00 00");
    let mut stream = def;
    stream.push(msg1.len() as u8);
    stream.extend_from_slice(&msg1);
    stream.push(msg2.len() as u8);
    stream.extend_from_slice(&msg2);
    let v = Decoder::new().decode_value(&mut stream.as_slice()).unwrap();
    let Value::Interface(Some(iv)) = v.field("E").unwrap().clone() else {
        panic!("interface")
    };
    assert_eq!(iv.name, "*model.AppError");
    assert_eq!(iv.value.field("Message"), Some(&Value::String("m".into())));
    assert_eq!(v.field("S"), Some(&Value::String("hi".into())));
}

#[test]
fn limits_are_enforced() {
    let limits = Limits {
        max_message_bytes: 16,
        max_depth: 3,
    };
    let mut out = Vec::new();
    Encoder::new().encode(&"x".repeat(40), &mut out).unwrap();
    let err = Decoder::with_limits(limits)
        .decode_value(&mut out.as_slice())
        .unwrap_err();
    assert!(matches!(err, Error::Limit(_)), "{err}");
    out.clear();
    Encoder::new()
        .encode(&vec![vec![vec![vec![1u8 as i64]]]], &mut out)
        .unwrap();
    let err = Decoder::with_limits(Limits {
        max_message_bytes: 1 << 20,
        max_depth: 3,
    })
    .decode_value(&mut out.as_slice())
    .unwrap_err();
    assert!(matches!(err, Error::Limit(_)), "{err}");
    // A hostile element count reserves nothing up front and fails when the elements run out.
    let evil = hex("0c ff81 02 01 02 ff82 00 01 0c 00 00 07 ff82 00 f8 7fffffff");
    let err = Decoder::new()
        .decode_value(&mut evil.as_slice())
        .unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");
}

#[test]
fn truncated_streams_are_errors() {
    let mut out = Vec::new();
    Encoder::new()
        .encode(&Point { x: 1, y: -1 }, &mut out)
        .unwrap();
    for cut in 1..out.len() {
        let res = Decoder::new().decode_value(&mut &out[..cut]);
        assert!(res.is_err(), "cut at {cut} decoded");
        assert!(
            !matches!(res, Err(Error::Eof)),
            "cut at {cut} looked like a clean end"
        );
    }
    assert!(matches!(
        Decoder::new().decode_value(&mut &out[..0]),
        Err(Error::Eof)
    ));
}

#[test]
fn failed_encode_leaves_stream_consistent() {
    use gob::{StructType, Type};
    let inner = Type::Struct(StructType::new("Inner", vec![("N".into(), Type::Int)]));
    let outer = Type::Struct(StructType::new(
        "Outer",
        vec![("I".into(), inner.clone()), ("S".into(), Type::String)],
    ));
    let bad = Value::Struct(vec![(
        "I".into(),
        Value::Struct(vec![("N".into(), Value::String("x".into()))]),
    )]);
    let good = Value::Struct(vec![
        (
            "I".into(),
            Value::Struct(vec![("N".into(), Value::Int(-3))]),
        ),
        ("S".into(), Value::String("ok".into())),
    ]);
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    let err = enc.encode_value(&outer, &bad, &mut out).unwrap_err();
    assert!(
        err.to_string().contains("Inner.N") || err.to_string().contains("Outer.I"),
        "{err}"
    );
    assert!(out.is_empty(), "nothing written on error");
    enc.encode_value(&outer, &good, &mut out).unwrap();
    let v = Decoder::new().decode_value(&mut out.as_slice()).unwrap();
    assert_eq!(v, good);
}
