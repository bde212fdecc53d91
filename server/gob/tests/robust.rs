//! Robustness: seeded property tests (encode → decode → encode is
//! byte-identical and value-preserving for random types and values) and a
//! fuzz smoke test (mutated golden streams never panic or hang the decoder).

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use gob::{
    Decoder, Encoder, Error, InterfaceValue, MarshalerKind, RecursiveType, StructType, Type, Value,
};

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

fn rand_type(rng: &mut Rng, depth: u32) -> Type {
    let leaf = depth >= 3;
    match rng.below(if leaf { 9 } else { 15 }) {
        0 => Type::Bool,
        1 => Type::Int,
        2 => Type::Uint,
        3 => Type::Float,
        4 => Type::Complex,
        5 => Type::Bytes,
        6 => Type::String,
        7 => Type::Interface,
        8 => Type::Marshaler(
            [
                MarshalerKind::Gob,
                MarshalerKind::Binary,
                MarshalerKind::Text,
            ][rng.below(3) as usize],
        ),
        9 => Type::Slice(Box::new(rand_type(rng, depth + 1))),
        10 => Type::Array(Box::new(rand_type(rng, depth + 1)), rng.below(4) as usize),
        11 => Type::Map(
            Box::new(
                [Type::String, Type::Int, Type::Uint, Type::Bool][rng.below(4) as usize].clone(),
            ),
            Box::new(rand_type(rng, depth + 1)),
        ),
        12 => recursive_types()[rng.below(2) as usize].clone(),
        _ => {
            let n = rng.below(5);
            let fields = (0..n)
                .map(|i| (format!("F{i}"), rand_type(rng, depth + 1)))
                .collect();
            Type::Struct(StructType::new(format!("S{}", rng.below(1000)), fields))
        }
    }
}

fn rand_string(rng: &mut Rng) -> String {
    const CHARS: &[&str] = &["a", "Z", "0", " ", "é", "✓", "日", "🎉", "\"", "\n"];
    (0..rng.below(6))
        .map(|_| CHARS[rng.below(CHARS.len() as u64) as usize])
        .collect()
}

fn rand_int(rng: &mut Rng) -> i64 {
    match rng.below(4) {
        0 => 0,
        1 => rng.below(200) as i64 - 100,
        2 => [i64::MIN, i64::MAX, -129, 128][rng.below(4) as usize],
        _ => rng.next() as i64,
    }
}

fn rand_value(rng: &mut Rng, ty: &Type, depth: u32) -> Value {
    match ty {
        Type::Bool => Value::Bool(rng.chance(50)),
        Type::Int => Value::Int(rand_int(rng)),
        Type::Uint => Value::Uint(rand_int(rng) as u64),
        Type::Float => Value::Float(f64::from(rand_int(rng) as i32) / 8.0),
        Type::Complex => Value::Complex(rng.below(9) as f64 - 4.0, 0.5),
        Type::Bytes => Value::Bytes((0..rng.below(5)).map(|_| rng.next() as u8).collect()),
        Type::String => Value::String(rand_string(rng)),
        Type::Marshaler(_) => {
            Value::Marshaled((0..rng.below(5)).map(|_| rng.next() as u8).collect())
        }
        Type::Interface => {
            if rng.chance(25) {
                Value::Interface(None)
            } else {
                let inner = rand_type(rng, depth + 1);
                let value = rand_value(rng, &inner, depth + 1);
                Value::Interface(Some(Box::new(InterfaceValue {
                    name: format!("T{}", rng.below(50)),
                    ty: inner,
                    value,
                })))
            }
        }
        Type::Slice(elem) => Value::Slice(
            (0..rng.below(4))
                .map(|_| rand_value(rng, elem, depth + 1))
                .collect(),
        ),
        Type::Array(elem, n) => {
            Value::Array((0..*n).map(|_| rand_value(rng, elem, depth + 1)).collect())
        }
        Type::Map(k, v) => Value::Map(
            (0..rng.below(4))
                .map(|_| (rand_value(rng, k, depth + 1), rand_value(rng, v, depth + 1)))
                .collect(),
        ),
        Type::Struct(st) => {
            let mut fields = Vec::new();
            for (name, fty) in st.fields() {
                if rng.chance(70) {
                    fields.push((name.clone(), rand_value(rng, fty, depth + 1)));
                }
            }
            Value::Struct(fields)
        }
        // Past a few levels, end the recursion with an empty slice or map.
        Type::Recursive(r) => match r.definition() {
            Type::Slice(_) if depth > 5 => Value::Slice(Vec::new()),
            Type::Map(..) if depth > 5 => Value::Map(Vec::new()),
            def => rand_value(rng, def, depth + 1),
        },
    }
}

/// Go `type RS []RS` and `type RM map[string]RM`.
fn recursive_types() -> [Type; 2] {
    struct Rs;
    struct Rm;
    fn rs() -> Type {
        Type::Recursive(RecursiveType::of::<Rs>("RS", || {
            Type::Slice(Box::new(rs()))
        }))
    }
    fn rm() -> Type {
        Type::Recursive(RecursiveType::of::<Rm>("RM", || {
            Type::Map(Box::new(Type::String), Box::new(rm()))
        }))
    }
    [rs(), rm()]
}

/// A recursive type like model.AutocompleteData.
fn node_type() -> Type {
    fn fields() -> Vec<(String, Type)> {
        vec![
            ("Name".into(), Type::String),
            ("Kids".into(), Type::Slice(Box::new(node_type()))),
        ]
    }
    struct Node;
    Type::Struct(StructType::of::<Node>("Node", fields))
}

fn node_value(rng: &mut Rng, depth: u32) -> Value {
    let kids = if depth < 3 { rng.below(3) } else { 0 };
    Value::Struct(vec![
        ("Name".into(), Value::String(rand_string(rng))),
        (
            "Kids".into(),
            Value::Slice((0..kids).map(|_| node_value(rng, depth + 1)).collect()),
        ),
    ])
}

fn random_stream(rng: &mut Rng) -> (Vec<u8>, Vec<(Type, Value)>) {
    let mut enc = Encoder::new();
    let mut out = Vec::new();
    let mut values = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let (ty, v) = if rng.chance(15) {
            (node_type(), node_value(rng, 0))
        } else {
            let ty = rand_type(rng, 0);
            let v = rand_value(rng, &ty, 0);
            (ty, v)
        };
        enc.encode_value(&ty, &v, &mut out)
            .expect("encode random value");
        values.push((ty, v));
    }
    (out, values)
}

#[test]
fn random_values_round_trip_byte_identical() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let cases = 3000;
    for case in 0..cases {
        let (bytes, values) = random_stream(&mut rng);
        let mut dec = Decoder::new();
        let mut r = bytes.as_slice();
        let mut again = Vec::new();
        let mut enc = Encoder::new();
        for (i, (_, want)) in values.iter().enumerate() {
            let (ty, got) = dec
                .decode_typed(&mut r)
                .unwrap_or_else(|e| panic!("case {case} value {i}: {e}\n{want:?}"));
            if let Err(e) = common::check("v", &got.to_json(), &want.to_json()) {
                panic!("case {case} value {i}: {e}\nwant {want:?}\ngot  {got:?}");
            }
            enc.encode_value(&ty, &got, &mut again).expect("re-encode");
        }
        assert!(
            matches!(dec.decode_value(&mut r), Err(Error::Eof)),
            "case {case}: trailing bytes"
        );
        assert_eq!(again, bytes, "case {case}: re-encoding differs");
    }
    println!("round-tripped {cases} random streams");
}

/// `decode_prefix` on a stream received in pieces gives what `decode_value` gives on the
/// whole stream: every strict prefix of a value is "not yet" and leaves the decoder as it was
/// (or the definitions it read would be duplicates on the next try), the whole value decodes.
#[test]
fn decode_prefix_matches_stream_decoding() {
    let mut rng = Rng(0x51f1_5eed_0000_0001);
    let mut streams: Vec<Vec<u8>> = common::cases()
        .iter()
        .map(|(name, _)| common::bin(name))
        .collect();
    streams.extend((0..500).map(|_| random_stream(&mut rng).0));
    let mut values = 0;
    for (case, bytes) in streams.iter().enumerate() {
        let (mut framed, mut streamed) = (Decoder::new(), Decoder::new());
        let mut r = bytes.as_slice();
        let mut rest = bytes.as_slice();
        while !rest.is_empty() {
            let want = streamed.decode_value(&mut r).expect("stream decode");
            let used = rest.len() - r.len();
            for cut in 0..used {
                let got = framed.decode_prefix(&rest[..cut]);
                assert!(
                    matches!(got, Ok(None)),
                    "case {case}: {cut} of {used} bytes: {got:?}"
                );
            }
            let (got, n) = framed
                .decode_prefix(rest)
                .unwrap_or_else(|e| panic!("case {case}: {e}"))
                .unwrap_or_else(|| panic!("case {case}: whole value not decoded"));
            assert_eq!(n, used, "case {case}: bytes used");
            assert_eq!(got.to_json(), want.to_json(), "case {case}");
            rest = &rest[n..];
            values += 1;
        }
    }
    println!(
        "decoded {values} values from {} streams piece by piece",
        streams.len()
    );
}

/// Decode everything in `data` until the first error; true if it ended cleanly.
fn decode_all(data: &[u8]) -> bool {
    let mut dec = Decoder::new();
    // Decoding from a partial buffer must not panic either, whatever the bytes.
    let _ = Decoder::new().decode_prefix(data);
    let mut r = data;
    loop {
        match dec.decode_value(&mut r) {
            Ok(_) => continue,
            Err(Error::Eof) => return true,
            Err(_) => return false,
        }
    }
}

fn mutate(rng: &mut Rng, seed: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut d = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = d.len().max(1) as u64;
        let at = rng.below(len) as usize;
        match rng.below(8) {
            0 if !d.is_empty() => d[at] ^= 1 << rng.below(8),
            1 if !d.is_empty() => {
                d[at] = [0x00, 0x01, 0x7f, 0x80, 0xf8, 0xfe, 0xff][rng.below(7) as usize]
            }
            2 if !d.is_empty() => d[at] = rng.next() as u8,
            3 => d.insert(at.min(d.len()), rng.next() as u8),
            4 if !d.is_empty() => {
                d.remove(at);
            }
            5 => d.truncate(at),
            6 => {
                // Splice in a chunk of another seed (type defs from elsewhere).
                let other = &seeds[rng.below(seeds.len() as u64) as usize];
                if !other.is_empty() {
                    let from = rng.below(other.len() as u64) as usize;
                    let to = (from + 1 + rng.below(40) as usize).min(other.len());
                    let at = at.min(d.len());
                    d.splice(at..at, other[from..to].iter().copied());
                }
            }
            _ => {
                let n = rng.below(16) as usize;
                d.extend((0..n).map(|_| rng.next() as u8));
            }
        }
    }
    d
}

#[test]
fn fuzz_smoke_no_panic_no_hang() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seeds: Vec<Vec<u8>> = common::cases()
            .iter()
            .map(|(name, _)| common::bin(name))
            .collect();
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for _ in 0..50 {
            seeds.push(random_stream(&mut rng).0);
        }
        let (mut execs, mut clean, mut panics) = (0u64, 0u64, Vec::new());
        for i in 0..100_000u64 {
            let input = if i % 10 == 9 {
                (0..rng.below(64)).map(|_| rng.next() as u8).collect()
            } else {
                let seed = &seeds[rng.below(seeds.len() as u64) as usize];
                mutate(&mut rng, seed, &seeds)
            };
            execs += 1;
            match catch_unwind(AssertUnwindSafe(|| decode_all(&input))) {
                Ok(true) => clean += 1,
                Ok(false) => {}
                Err(_) => panics.push(input),
            }
        }
        let _ = tx.send((execs, clean, panics));
    });
    // Generous bound: a hang (not slowness) is what this guards against.
    let (execs, clean, panics) = rx
        .recv_timeout(Duration::from_secs(600))
        .expect("decoder hung");
    println!(
        "fuzz smoke: {execs} executions, {clean} decoded cleanly, {} panics",
        panics.len()
    );
    assert!(
        panics.is_empty(),
        "decoder panicked on {:02x?}",
        panics.first()
    );
}

#[test]
fn hostile_definitions_are_errors() {
    let evil: Vec<Vec<u8>> = vec![
        vec![0x03, 0xff, 0x81, 0x00],                // wireType with no kind
        vec![0x05, 0x01, 0x03, 0x01, 0x02, 0x00],    // id -1: reserved
        vec![0x04, 0xff, 0x81, 0x09, 0x00],          // unknown wireType field
        vec![0x02, 0xff, 0x82],                      // value of undefined type 65
        vec![0x09, 0xf8, 0x80, 0, 0, 0, 0, 0, 0, 0], // int id i64::MIN
        vec![0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // absurd length
        vec![0x00],                                  // empty message
        vec![0x03, 0x10, 0x00, 0x7f],                // interface name longer than message
    ];
    for e in evil {
        assert!(!decode_all(&e), "accepted {e:02x?}");
    }
    // A self-recursive slice type (type T []T) must not loop.
    let t = [
        vec![
            0x0b, 0xff, 0x81, 0x02, 0x01, 0x02, 0xff, 0x82, 0x00, 0x01, 0xff, 0x82, 0x00, 0x00,
        ],
        vec![0x04, 0xff, 0x82, 0x00, 0x00],
    ]
    .concat();
    let _ = decode_all(&t);
}
