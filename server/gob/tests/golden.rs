//! Golden vectors from Go's encoding/gob (tests/data, made by tests/golden):
//! decode every file and compare with Go's values; re-encode what we decoded
//! and let Go's decoder check it against the real types.

mod common;

use gob::{Decoder, Encoder, Error};

#[test]
fn decode_every_golden_file() {
    let cases = common::cases();
    assert!(cases.len() >= 30, "index lists {} cases", cases.len());
    for (name, count) in &cases {
        let data = common::bin(name);
        let want = common::expected(name);
        assert_eq!(want.len(), *count, "{name}: json entries");
        let mut dec = Decoder::new();
        let mut r = data.as_slice();
        for (i, w) in want.iter().enumerate() {
            let v = dec
                .decode_value(&mut r)
                .unwrap_or_else(|e| panic!("{name} value {i}: {e}"));
            if let Err(e) = common::check(&format!("{name}[{i}]"), &v.to_json(), w) {
                panic!("{name} value {i} differs: {e}\nvalue: {v:?}");
            }
        }
        assert!(
            matches!(dec.decode_value(&mut r), Err(Error::Eof)),
            "{name}: trailing data"
        );
    }
}

#[test]
fn reencoded_golden_values_decode_in_go() {
    let dir = common::temp_dir("reencode");
    for (name, count) in common::cases() {
        let data = common::bin(&name);
        let mut dec = Decoder::new();
        let mut enc = Encoder::new();
        let mut r = data.as_slice();
        let mut out = Vec::new();
        for i in 0..count {
            let (ty, v) = dec
                .decode_typed(&mut r)
                .unwrap_or_else(|e| panic!("{name} value {i}: {e}"));
            enc.encode_value(&ty, &v, &mut out)
                .unwrap_or_else(|e| panic!("{name} value {i} re-encode: {e}"));
            // Our own decoder must read back the same value.
            let mut check = Decoder::new();
            let mut single = Vec::new();
            Encoder::new()
                .encode_value(&ty, &v, &mut single)
                .expect("encode");
            let back = check
                .decode_value(&mut single.as_slice())
                .expect("decode own");
            // (Empty maps are omitted by design, so compare leniently.)
            if let Err(e) = common::check(&name, &back.to_json(), &v.to_json()) {
                panic!("{name} value {i} round trip: {e}");
            }
        }
        std::fs::write(dir.join(format!("{name}.bin")), out).expect("write");
    }
    if let Some((ok, text)) = common::go_verify(&dir) {
        println!("{text}");
        assert!(ok, "Go rejected re-encoded values:\n{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
