//! Where the decoder follows Go on the edges issue 13 listed: strings that are not UTF-8,
//! the depth limit, recursive non-struct types, lossy serde conversions, complex numbers.
//! Every stream here is Go's (tests/data) or checked by Go's decoder (`go run . verify`).

mod common;

use std::collections::HashMap;

use gob::{
    Any, Complex64, Complex128, DEFAULT_MAX_DEPTH, Decoder, Encoder, Error, GobType, Limits,
    RecursiveType, StructType, Type, Value,
};
use serde::{Deserialize, Serialize};

fn decode_case<T: serde::de::DeserializeOwned>(name: &str, index: usize) -> Result<T, Error> {
    let data = common::bin(name);
    let mut dec = Decoder::new();
    let mut r = data.as_slice();
    for _ in 0..index {
        dec.decode_value(&mut r).expect("skip");
    }
    dec.decode(&mut r)
}

// ---------------------------------------------------------------------------------------
// Strings that are not UTF-8

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Utf8Text {
    s: String,
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Utf8Raw {
    s: gob::Bytes,
    keys: HashMap<gob::Bytes, i64>,
    list: Vec<gob::Bytes>,
}

#[test]
fn invalid_utf8_keeps_its_bytes_and_map_keys_stay_distinct() {
    let v = Decoder::new()
        .decode_value(&mut common::bin("invalid_utf8").as_slice())
        .expect("decode");
    assert_eq!(v.field("S"), Some(&Value::Bytes(b"a\xffb".to_vec())));
    let Some(Value::Map(keys)) = v.field("Keys") else {
        panic!("Keys: {v:?}")
    };
    assert_eq!(keys.len(), 3, "no keys merged: {keys:?}");
    let raw: Utf8Raw = decode_case("invalid_utf8", 0).expect("into bytes");
    assert_eq!(raw.s.0, b"a\xffb");
    let bytes = |b: &[u8]| gob::Bytes(b.to_vec());
    assert_eq!(
        raw.keys,
        HashMap::from([(bytes(b"k\xff"), 1), (bytes(b"k\xfe"), 2), (bytes(b"k"), 3)])
    );
    assert_eq!(raw.list, [bytes(b"\xc3"), bytes(b"ok")]);
}

#[test]
fn invalid_utf8_into_a_rust_string_is_a_clear_error() {
    let err = decode_case::<Utf8Text>("invalid_utf8", 0).expect_err("not UTF-8");
    let msg = err.to_string();
    assert!(
        msg.contains("field S") && msg.contains("not valid UTF-8"),
        "{msg}"
    );
    let err = decode_case::<String>("invalid_utf8", 1).expect_err("not UTF-8");
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    let err = decode_case::<HashMap<String, String>>("invalid_utf8", 2).expect_err("key");
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Depth

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Node {
    v: i64,
    next: Option<Box<Node>>,
}

fn node_type() -> Type {
    fn fields() -> Vec<(String, Type)> {
        vec![("V".into(), Type::Int), ("Next".into(), node_type())]
    }
    Type::Struct(StructType::of::<Node>("Node", fields))
}

/// A linked list of `n` nodes as our encoder writes it.
fn list_bytes(n: usize) -> Vec<u8> {
    let mut v = Value::Struct(vec![("V".into(), Value::Int(n as i64))]);
    for i in (1..n).rev() {
        v = Value::Struct(vec![("V".into(), Value::Int(i as i64)), ("Next".into(), v)]);
    }
    let mut out = Vec::new();
    let result = Encoder::new().encode_value(&node_type(), &v, &mut out);
    // Drop the deep value iteratively-enough: it is only n levels of Vec.
    drop(v);
    result.expect("encode list");
    out
}

fn list_len(mut node: &Node) -> usize {
    let mut n = 1;
    while let Some(next) = &node.next {
        node = next;
        n += 1;
    }
    n
}

/// Debug builds use about 4.5 KiB of stack per level; run deep cases on a larger stack
/// (release builds need under 512 KiB for 1000 levels).
fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(f)
        .expect("thread")
        .join()
        .expect("no panic")
}

#[test]
fn go_linked_list_of_150_decodes_into_rust() {
    let head: Node = decode_case("deep_list", 0).expect("150 nodes");
    assert_eq!(list_len(&head), 150);
    assert_eq!(head.v, 1);
    // deep_list[1] is []any{[]any{... nil}} 100 levels deep (200 levels of nesting).
    let nested: Any = decode_case("deep_list", 1).expect("nested []any");
    let mut depth = 0;
    let mut v = nested.to_json();
    while let serde_json::Value::Array(mut items) = v {
        assert_eq!(items.len(), 1);
        v = items.remove(0);
        depth += 1;
    }
    assert_eq!((depth, v), (100, serde_json::Value::Null));
}

#[test]
fn default_depth_limit_admits_what_our_encoder_can_send() {
    assert_eq!(DEFAULT_MAX_DEPTH, 1000);
    // Our encoder refuses values deeper than 1000 (a list's last V is as deep as the list
    // is long), so a 1000-node list is the deepest it sends.
    let len = on_big_stack(|| {
        let bytes = list_bytes(DEFAULT_MAX_DEPTH);
        let head: Node = Decoder::new()
            .decode(&mut bytes.as_slice())
            .expect("1000 nodes");
        list_len(&head)
    });
    assert_eq!(len, DEFAULT_MAX_DEPTH);
}

#[test]
fn depth_limit_is_exact_and_its_error_is_short() {
    let limits = Limits {
        max_depth: 300,
        ..Limits::default()
    };
    let (ok, err) = on_big_stack(move || {
        let ok = Decoder::with_limits(limits).decode_value(&mut list_bytes(300).as_slice());
        let err = Decoder::with_limits(limits).decode_value(&mut list_bytes(301).as_slice());
        (ok.is_ok(), err)
    });
    assert!(ok, "300 nodes: the last V is at depth 300");
    let err = err.expect_err("301 nodes");
    assert!(matches!(err, Error::Limit(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.len() < 400, "{} bytes: {msg}", msg.len());
    assert!(
        msg.contains("deeper than 300") && msg.contains("field Next"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------
// Recursive non-struct types

/// Go `type RS []RS`, through the derive.
#[derive(Serialize, Deserialize, GobType, Debug, Default, PartialEq, Clone)]
#[gob(recursive, name = "RS")]
struct Rs(Vec<Rs>);

/// Go `type RM map[string]RM`, by hand.
#[derive(Serialize, Deserialize, Debug, Default, PartialEq, Clone)]
struct Rm(HashMap<String, Rm>);

impl GobType for Rm {
    fn gob_type() -> Type {
        Type::Recursive(RecursiveType::of::<Rm>("RM", || {
            Type::Map(Box::new(Type::String), Box::new(Rm::gob_type()))
        }))
    }
}

fn rs(items: Vec<Rs>) -> Rs {
    Rs(items)
}

fn rm(entries: &[(&str, Rm)]) -> Rm {
    Rm(entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect())
}

#[test]
fn recursive_newtype_derive_names_itself() {
    let Type::Recursive(r) = Rs::gob_type() else {
        panic!("{:?}", Rs::gob_type())
    };
    assert_eq!(r.name(), "RS");
    assert_eq!(*r.definition(), Type::Slice(Box::new(Rs::gob_type())));
}

#[test]
fn recursive_non_struct_types_decode_typed_and_inside_interfaces() {
    let want_rs = rs(vec![rs(vec![]), rs(vec![rs(vec![]), rs(vec![])])]);
    let want_rm = rm(&[("a", rm(&[("b", rm(&[]))])), ("c", rm(&[]))]);
    assert_eq!(
        decode_case::<Rs>("recursive_nonstruct", 0).expect("RS"),
        want_rs
    );
    assert_eq!(
        decode_case::<Rm>("recursive_nonstruct", 1).expect("RM"),
        want_rm
    );
    let data = common::bin("recursive_nonstruct");
    let mut dec = Decoder::new();
    let mut r = data.as_slice();
    for want_name in ["RS", "RM"] {
        let (ty, _) = dec.decode_typed(&mut r).expect("typed");
        assert!(matches!(ty, Type::Recursive(_)), "{want_name}: {ty:?}");
    }
    let (_, v) = dec.decode_typed(&mut r).expect("[]any{RS, RM}");
    let Value::Slice(items) = v else {
        panic!("slice")
    };
    let names: Vec<_> = items
        .iter()
        .map(|i| match i {
            Value::Interface(Some(iv)) => {
                assert!(matches!(iv.ty, Type::Recursive(_)), "{:?}", iv.ty);
                iv.name.clone()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["RS", "RM"]);
}

// ---------------------------------------------------------------------------------------
// serde strictness

#[test]
fn float_out_of_f32_range_is_an_error_like_go() {
    // floats[4] is Go's 1e300.
    let err = decode_case::<f32>("floats", 4).expect_err("1e300 into f32");
    assert!(err.to_string().contains("out of range for f32"), "{err}");
    assert_eq!(decode_case::<f64>("floats", 4).expect("f64"), 1e300);
    assert_eq!(decode_case::<f32>("floats", 5).expect("3.25"), 3.25);
    for v in [f64::INFINITY, f64::NEG_INFINITY, f64::from(f32::MAX)] {
        assert_eq!(
            gob::from_value::<f32>(Value::Float(v)).expect("in range"),
            v as f32
        );
    }
    assert!(
        gob::from_value::<f32>(Value::Float(f64::NAN))
            .expect("NaN")
            .is_nan()
    );
    assert!(gob::from_value::<f32>(Value::Float(f64::MAX)).is_err());
}

#[test]
fn arrays_need_their_exact_length_like_go() {
    // arrays[0] is Go's [3]int{1, 0, -1}.
    assert_eq!(
        decode_case::<[i64; 3]>("arrays", 0).expect("[3]"),
        [1, 0, -1]
    );
    for err in [
        decode_case::<[i64; 2]>("arrays", 0).expect_err("[2]"),
        decode_case::<[i64; 4]>("arrays", 0)
            .map(|_| ())
            .expect_err("[4]"),
        decode_case::<(i64, i64)>("arrays", 0)
            .map(|_| ())
            .expect_err("pair"),
    ] {
        assert!(err.to_string().contains("fixed length"), "{err}");
    }
    // A slice still fills a Vec of any length.
    assert_eq!(
        decode_case::<Vec<i64>>("arrays", 0).expect("vec"),
        [1, 0, -1]
    );
}

// ---------------------------------------------------------------------------------------
// Complex numbers

#[derive(Serialize, Deserialize, GobType, Debug, Default, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
#[gob(name = "Complexes")]
struct Complexes {
    c64: Complex64,
    c128: Complex128,
}

#[test]
fn complex_kinds_decode_from_go() {
    let c: Complexes = decode_case("complex_kinds", 0).expect("complexes");
    assert_eq!(c.c64, Complex64 { re: 1.5, im: -2.0 });
    assert_eq!(c.c128, Complex128 { re: 1e300, im: 1.0 });
    let c: Complexes = decode_case("complex_kinds", 1).expect("zero C64");
    assert_eq!(c.c64, Complex64::default());
    assert_eq!(c.c128, Complex128 { re: 0.0, im: -0.5 });
    // Go's complex64 takes each part through float32's range check.
    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "PascalCase")]
    struct Narrow {
        #[allow(dead_code)]
        c128: Complex64,
    }
    let err = decode_case::<Narrow>("complex_kinds", 0).expect_err("1e300 into complex64");
    assert!(err.to_string().contains("out of range"), "{err}");
    // serde formats other than gob see [re, im], like Value::to_json.
    assert_eq!(
        serde_json::to_value(Complex128 { re: 1.0, im: -1.0 }).expect("json"),
        serde_json::json!([1.0, -1.0])
    );
    let back: Complex64 = serde_json::from_value(serde_json::json!([0.5, 2.0])).expect("json");
    assert_eq!(back, Complex64 { re: 0.5, im: 2.0 });
}

/// What Rust encodes for these cases, Go's decoder reads as exactly Go's values.
#[test]
fn rust_encoded_parity_values_decode_in_go() {
    let mut files: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    for c in [
        Complexes {
            c64: Complex64 { re: 1.5, im: -2.0 },
            c128: Complex128 { re: 1e300, im: 1.0 },
        },
        Complexes {
            c64: Complex64::default(),
            c128: Complex128 { re: 0.0, im: -0.5 },
        },
    ] {
        enc.encode(&c, &mut out).expect("encode complexes");
    }
    files.push(("complex_kinds", out));

    let (rs_value, rm_value): (Rs, Rm) = (
        decode_case("recursive_nonstruct", 0).expect("RS"),
        decode_case("recursive_nonstruct", 1).expect("RM"),
    );
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    enc.encode(&rs_value, &mut out).expect("RS");
    enc.encode(&rm_value, &mut out).expect("RM");
    let inner = vec![
        Any::new("RS", &rs(vec![rs(vec![])])).expect("any RS"),
        Any::new("RM", &rm(&[("m", rm(&[]))])).expect("any RM"),
    ];
    enc.encode(&inner, &mut out).expect("[]any");
    files.push(("recursive_nonstruct", out));

    let dir = common::temp_dir("parity");
    for (name, bytes) in &files {
        std::fs::write(dir.join(format!("typed_{name}.bin")), bytes).expect("write");
    }
    if let Some((ok, text)) = common::go_verify(&dir) {
        println!("{text}");
        assert!(ok, "Go rejected Rust-encoded values:\n{text}");
        assert!(
            text.contains(&format!("verified {} files", files.len())),
            "{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
