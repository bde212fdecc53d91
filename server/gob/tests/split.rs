//! Containers whose interface elements introduce a new type (issue 13): Go ends the message
//! after the element count to send the definition, and the elements go on in the next
//! message. Decoded in one piece and offered byte by byte through `decode_prefix`, as
//! `netrpc::Frames` receives a stream.

mod common;

use gob::{Decoder, Encoder, Error, Type, Value};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The issue's reproduction, byte for byte: `make([]any, 30)` with `v[0] = T{}`, `T`
/// registered as "T". Go ends the second message right after `T`'s definition; 29 nil
/// elements follow in the third.
fn issue_bytes() -> Vec<u8> {
    let mut b = hex(
        "0b7f020102ff8000011000001bff80001e0154ff81030101015401ff82000101010141010400000021ff8201",
    );
    b.extend([0u8; 30]);
    b
}

fn check_issue_value(v: &Value) {
    let Value::Slice(items) = v else {
        panic!("not a slice: {v:?}")
    };
    assert_eq!(items.len(), 30);
    let Value::Interface(Some(first)) = &items[0] else {
        panic!("element 0: {:?}", items[0])
    };
    assert_eq!(first.name, "T");
    assert_eq!(
        first.value,
        Value::Struct(Vec::new()),
        "T{{}} sends no fields"
    );
    assert!(
        items[1..].iter().all(|e| *e == Value::Interface(None)),
        "elements 1.. are nil"
    );
}

#[test]
fn issue_13_reproduction_decodes_in_one_piece() {
    let data = issue_bytes();
    let mut r = data.as_slice();
    let mut dec = Decoder::new();
    check_issue_value(&dec.decode_value(&mut r).expect("decode"));
    assert!(r.is_empty(), "{} bytes left", r.len());
    assert!(matches!(dec.decode_value(&mut r), Err(Error::Eof)));
    // With the sender's type too (what a re-encoding caller asks for).
    let (_, v) = Decoder::new()
        .decode_typed(&mut data.as_slice())
        .expect("decode typed");
    check_issue_value(&v);
}

#[test]
fn issue_13_reproduction_decodes_byte_by_byte() {
    let data = issue_bytes();
    let values = feed_byte_by_byte(&data);
    assert_eq!(values.len(), 1);
    check_issue_value(&values[0]);
}

/// Offer `data` one byte at a time, as `netrpc::Frames` does with what arrives: append,
/// decode what is complete, drop the bytes used.
fn feed_byte_by_byte(data: &[u8]) -> Vec<Value> {
    let mut dec = Decoder::new();
    let mut pending = Vec::new();
    let mut values = Vec::new();
    for &b in data {
        pending.push(b);
        while let Some((v, used)) = dec
            .decode_prefix(&pending)
            .unwrap_or_else(|e| panic!("after {} bytes: {e}", values.len()))
        {
            pending.drain(..used);
            values.push(v);
        }
    }
    assert!(pending.is_empty(), "{} bytes never decoded", pending.len());
    values
}

/// The split cases from Go (each of them fails the old "count exceeds the message"
/// check), plus every other golden stream: byte by byte gives what one piece gives,
/// and both agree with Go's view.
#[test]
fn golden_streams_decode_byte_by_byte() {
    let split = [
        "split_repro",
        "split_slice",
        "split_map",
        "split_array",
        "post_list",
        "post_list_mixed",
        "post_fifty_any_props",
    ];
    let cases = common::cases();
    for name in split {
        assert!(
            cases.iter().any(|(n, _)| n == name),
            "no golden case {name}"
        );
    }
    for (name, count) in &cases {
        let data = common::bin(name);
        let want = common::expected(name);
        let values = feed_byte_by_byte(&data);
        assert_eq!(values.len(), *count, "{name}: values");
        let mut dec = Decoder::new();
        let mut r = data.as_slice();
        for (i, (got, w)) in values.iter().zip(&want).enumerate() {
            let whole = dec.decode_value(&mut r).expect("decode in one piece");
            // (Debug, not ==: struct types compare by identity, and these are two decoders.)
            assert_eq!(
                format!("{got:?}"),
                format!("{whole:?}"),
                "{name}[{i}]: byte by byte differs from one piece"
            );
            if let Err(e) = common::check(&format!("{name}[{i}]"), &got.to_json(), w) {
                panic!("{name}[{i}] differs from Go: {e}");
            }
        }
    }
}

/// The PostList reply decodes into the bindings' shape: 200 posts, attachments intact.
#[test]
fn post_list_with_attachments_reads_back() {
    for name in ["post_list", "post_list_mixed"] {
        let v = Decoder::new()
            .decode_value(&mut common::bin(name).as_slice())
            .expect("decode");
        let list = v.field("A").expect("A");
        let Some(Value::Slice(order)) = list.field("Order") else {
            panic!("{name}: Order")
        };
        let Some(Value::Map(posts)) = list.field("Posts") else {
            panic!("{name}: Posts")
        };
        assert_eq!((order.len(), posts.len()), (200, 200), "{name}");
        let post0 = posts
            .iter()
            .find(|(k, _)| *k == Value::String("post000".into()))
            .map(|(_, p)| p)
            .expect("post000");
        let attachments = post0
            .field("Props")
            .and_then(|p| p.field("attachments"))
            .expect("post000 has attachments");
        let Value::Interface(Some(iv)) = attachments else {
            panic!("{name}: attachments are an interface value")
        };
        assert_eq!(iv.name, "[]*model.SlackAttachment");
        assert_eq!(
            iv.value.to_json()[0]["Fields"][0]["Title"],
            serde_json::json!("k")
        );
    }
}

/// An element count is not trusted for memory: a huge count whose elements are not there
/// is an error as soon as the message ends, without reserving storage for the count.
#[test]
fn hostile_counts_fail_when_the_elements_run_out() {
    // A one-element []any (type id 65), then its count replaced.
    let mut out = Vec::new();
    Encoder::new()
        .encode_value(
            &Type::Slice(Box::new(Type::Interface)),
            &Value::Slice(vec![Value::Interface(None)]),
            &mut out,
        )
        .expect("encode");
    let (defs, value) = out.split_at(out.len() - 6);
    assert_eq!(value, [5, 0xff, 0x82, 0, 1, 0], "value message");
    for count in [hex("f84000000000000000"), hex("fc7fffffff"), hex("3f")] {
        let body = [hex("ff8200"), count.clone(), vec![0]].concat();
        let stream = [defs.to_vec(), vec![body.len() as u8], body].concat();
        let err = Decoder::new()
            .decode_value(&mut stream.as_slice())
            .expect_err("elements are missing");
        assert!(matches!(err, Error::Malformed(_)), "{count:02x?}: {err}");
        assert!(
            matches!(
                Decoder::new().decode_prefix(&stream),
                Err(Error::Malformed(_))
            ),
            "{count:02x?}: decode_prefix must report it, not wait for more"
        );
    }
}

/// When the elements do go on in a later message, a stream cut there is "not yet" for
/// `decode_prefix` and an unexpected end for `decode_value`.
#[test]
fn a_split_container_cut_between_messages_waits() {
    let data = issue_bytes();
    let second_message_end = 0x0c + 0x1c; // 1 + 11 bytes, then 1 + 27 bytes
    let cut = &data[..second_message_end];
    assert!(matches!(Decoder::new().decode_prefix(cut), Ok(None)));
    let err = Decoder::new()
        .decode_value(&mut &cut[..])
        .expect_err("cut stream");
    assert!(matches!(err, Error::Io(_)), "{err}");
}
