//! Gob primitives: Go's unsigned/signed integer, float and string encodings,
//! on an output `Vec<u8>` and over an input byte slice.

use crate::Error;

/// Append `x` in gob's uint form: one byte below 128, else the negated byte
/// count followed by the big-endian bytes with leading zeros dropped.
pub fn put_uint(out: &mut Vec<u8>, x: u64) {
    if x < 128 {
        out.push(x as u8);
        return;
    }
    let bytes = x.to_be_bytes();
    let skip = (x.leading_zeros() / 8) as usize;
    let n = 8 - skip;
    out.push((n as u8).wrapping_neg());
    out.extend_from_slice(&bytes[skip..]);
}

/// Append `i` in gob's int form (sign folded into the low bit).
pub fn put_int(out: &mut Vec<u8>, i: i64) {
    let u = if i < 0 {
        ((!i as u64) << 1) | 1
    } else {
        (i as u64) << 1
    };
    put_uint(out, u);
}

/// Go sends floats as the byte-reversed IEEE bits, so small integers are short.
pub fn float_bits(f: f64) -> u64 {
    f.to_bits().swap_bytes()
}

pub fn put_float(out: &mut Vec<u8>, f: f64) {
    put_uint(out, float_bits(f));
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A cursor over one message's bytes. Every read is bounds-checked.
#[derive(Debug, Default)]
pub struct Buf {
    pub data: Vec<u8>,
    pub pos: usize,
}

impl Buf {
    pub fn new(data: Vec<u8>) -> Self {
        Buf { data, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn byte(&mut self) -> Result<u8, Error> {
        let b = *self
            .data
            .get(self.pos)
            .ok_or_else(|| Error::malformed("unexpected end of message"))?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> Result<&[u8], Error> {
        if n > self.remaining() {
            return Err(Error::malformed(format!(
                "need {n} bytes, only {} left in message",
                self.remaining()
            )));
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.data[start..start + n])
    }

    pub fn uint(&mut self) -> Result<u64, Error> {
        let b = self.byte()?;
        if b < 0x80 {
            return Ok(u64::from(b));
        }
        let n = usize::from(b.wrapping_neg());
        if n > 8 {
            return Err(Error::malformed(format!(
                "invalid uint length byte {b:#04x}"
            )));
        }
        let mut x = 0u64;
        for &d in self.take(n)? {
            x = (x << 8) | u64::from(d);
        }
        Ok(x)
    }

    pub fn int(&mut self) -> Result<i64, Error> {
        let u = self.uint()?;
        Ok(if u & 1 == 1 {
            !((u >> 1) as i64)
        } else {
            (u >> 1) as i64
        })
    }

    pub fn float(&mut self) -> Result<f64, Error> {
        Ok(f64::from_bits(self.uint()?.swap_bytes()))
    }

    /// A length-prefixed byte string; the length is checked against the message.
    pub fn bytes(&mut self) -> Result<Vec<u8>, Error> {
        let n = self.uint()?;
        let n = usize::try_from(n)
            .map_err(|_| Error::malformed(format!("byte length {n} too large")))?;
        Ok(self.take(n)?.to_vec())
    }

    /// A string in a type definition (type and field names, which Go takes from its
    /// source code, so always UTF-8); invalid bytes are replaced. String *values* keep
    /// their bytes (see `decode::string_value`).
    pub fn string(&mut self) -> Result<String, Error> {
        let b = self.bytes()?;
        Ok(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(x: u64) -> Vec<u8> {
        let mut v = Vec::new();
        put_uint(&mut v, x);
        v
    }
    fn i(x: i64) -> Vec<u8> {
        let mut v = Vec::new();
        put_int(&mut v, x);
        v
    }

    #[test]
    fn uint_matches_go() {
        assert_eq!(u(0), [0]);
        assert_eq!(u(7), [7]);
        assert_eq!(u(256), [0xfe, 1, 0]);
        assert_eq!(u(70000), [0xfd, 1, 0x11, 0x70]);
        assert_eq!(u(u64::MAX), [0xf8, 255, 255, 255, 255, 255, 255, 255, 255]);
    }

    #[test]
    fn int_matches_go() {
        assert_eq!(i(-1), [1]);
        assert_eq!(i(1), [2]);
        assert_eq!(i(3), [6]);
        assert_eq!(i(300), [0xfe, 2, 0x58]);
        assert_eq!(i(-129), [0xfe, 1, 1]);
        for x in [i64::MIN, i64::MAX, -65, 0, 64] {
            let mut b = Buf::new(i(x));
            assert_eq!(b.int().unwrap(), x);
        }
    }

    #[test]
    fn float_matches_go() {
        let mut v = Vec::new();
        put_float(&mut v, 17.0);
        assert_eq!(v, [0xfe, 0x31, 0x40]);
        v.clear();
        put_float(&mut v, 1.5);
        assert_eq!(v, [0xfe, 0xf8, 0x3f]);
    }

    #[test]
    fn bad_uint_length_is_error() {
        assert!(Buf::new(vec![0xf7, 1, 2]).uint().is_err());
        assert!(Buf::new(vec![0xfe, 1]).uint().is_err());
    }
}
