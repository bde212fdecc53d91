//! Feed arbitrary bytes to the decoder: it must return errors, never panic,
//! hang or allocate without bound. Decoded values are re-encoded with their
//! received types and must decode again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut dec = gob::Decoder::new();
    let mut r = data;
    while let Ok((ty, value)) = dec.decode_typed(&mut r) {
        let mut out = Vec::new();
        if gob::Encoder::new().encode_value(&ty, &value, &mut out).is_ok() {
            let _ = gob::Decoder::new().decode_value(&mut out.as_slice());
        }
    }
});
