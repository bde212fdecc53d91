//! The compact tagged encoding of one [`Cell`], shared by the snapshot's row data and keys.
//!
//! Every cell starts with a tag byte. Lengths and integers are LEB128 varints (integers
//! zig-zagged), floats are their 8 IEEE bytes little-endian, text is UTF-8 with a length,
//! JSON is a small recursive binary tree (numbers kept as their exact text). The encoding is
//! exact (it round-trips every cell bit for bit, `-0.0` and JSON key order included), so two
//! cells with equal bytes are equal; unequal bytes are checked with [`cells_equal`], which
//! knows the few cases where different bytes still mean equal values.
//!
//! Reading is defensive: every length is checked against the bytes that remain before
//! anything is allocated, varints may not overflow, JSON may not nest deeper than
//! [`MAX_JSON_DEPTH`], and text must be valid UTF-8.

use crate::row::Cell;
use serde_json::Value;

/// Deepest JSON nesting the snapshot stores (serde_json's own parser stops at 128).
pub(crate) const MAX_JSON_DEPTH: usize = 256;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 4;
const DECIMAL: u8 = 5;
const TEXT: u8 = 6;
const DATE: u8 = 7;
const TIME: u8 = 8;
const TIMESTAMP: u8 = 9;
const BYTES: u8 = 10;
const JSON: u8 = 11;

const J_NULL: u8 = 0;
const J_FALSE: u8 = 1;
const J_TRUE: u8 = 2;
const J_NUMBER: u8 = 3;
const J_STRING: u8 = 4;
const J_ARRAY: u8 = 5;
const J_OBJECT: u8 = 6;

/// Why bytes could not be read; the snapshot layer adds where.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReadError(pub String);

type Read<T> = Result<T, ReadError>;

fn fail<T>(what: impl Into<String>) -> Read<T> {
    Err(ReadError(what.into()))
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends `cell`. Fails only for JSON nested deeper than [`MAX_JSON_DEPTH`].
pub(crate) fn encode_cell(cell: &Cell, out: &mut Vec<u8>) -> Result<(), usize> {
    match cell {
        Cell::Null => out.push(NULL),
        Cell::Bool(false) => out.push(FALSE),
        Cell::Bool(true) => out.push(TRUE),
        Cell::Int(n) => {
            out.push(INT);
            put_varint(out, ((n << 1) ^ (n >> 63)) as u64);
        }
        Cell::Float(f) => {
            out.push(FLOAT);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Cell::Decimal(s) => tagged_text(out, DECIMAL, s),
        Cell::Text(s) => tagged_text(out, TEXT, s),
        Cell::Date(s) => tagged_text(out, DATE, s),
        Cell::Time(s) => tagged_text(out, TIME, s),
        Cell::Timestamp(s) => tagged_text(out, TIMESTAMP, s),
        Cell::Bytes(b) => {
            out.push(BYTES);
            put_bytes(out, b);
        }
        Cell::Json(v) => {
            out.push(JSON);
            encode_json(v, out, 1)?;
        }
    }
    Ok(())
}

fn tagged_text(out: &mut Vec<u8>, tag: u8, text: &str) {
    out.push(tag);
    put_bytes(out, text.as_bytes());
}

fn encode_json(value: &Value, out: &mut Vec<u8>, depth: usize) -> Result<(), usize> {
    if depth > MAX_JSON_DEPTH {
        return Err(depth);
    }
    match value {
        Value::Null => out.push(J_NULL),
        Value::Bool(false) => out.push(J_FALSE),
        Value::Bool(true) => out.push(J_TRUE),
        Value::Number(n) => {
            // With serde_json's `arbitrary_precision` (enabled by this crate) a number is
            // the source's exact text.
            out.push(J_NUMBER);
            put_bytes(out, n.as_str().as_bytes());
        }
        Value::String(s) => {
            out.push(J_STRING);
            put_bytes(out, s.as_bytes());
        }
        Value::Array(items) => {
            out.push(J_ARRAY);
            put_varint(out, items.len() as u64);
            for item in items {
                encode_json(item, out, depth + 1)?;
            }
        }
        Value::Object(map) => {
            out.push(J_OBJECT);
            put_varint(out, map.len() as u64);
            for (key, item) in map {
                put_bytes(out, key.as_bytes());
                encode_json(item, out, depth + 1)?;
            }
        }
    }
    Ok(())
}

/// A cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn byte(&mut self) -> Read<u8> {
        let Some(&b) = self.bytes.get(self.pos) else {
            return fail("unexpected end of data");
        };
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, len: usize) -> Read<&'a [u8]> {
        if len > self.remaining() {
            return fail(format!(
                "a length of {len} bytes runs past the end ({} left)",
                self.remaining()
            ));
        }
        let slice = &self.bytes[self.pos..self.pos + len];
        self.pos += len;
        Ok(slice)
    }

    pub(crate) fn varint(&mut self) -> Read<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return fail("varint overflows 64 bits");
            }
            value |= part << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        fail("varint longer than 10 bytes")
    }

    /// A count or length that must fit in what remains (each item takes at least one byte),
    /// so a corrupted value can never cause a large allocation.
    pub(crate) fn count(&mut self) -> Read<usize> {
        let n = self.varint()?;
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => Ok(n),
            _ => fail(format!(
                "count {n} exceeds the {} bytes left",
                self.remaining()
            )),
        }
    }

    pub(crate) fn bytes_field(&mut self) -> Read<&'a [u8]> {
        let len = self.count()?;
        self.take(len)
    }

    pub(crate) fn str_field(&mut self) -> Read<&'a str> {
        let bytes = self.bytes_field()?;
        std::str::from_utf8(bytes).or_else(|e| fail(format!("text is not UTF-8: {e}")))
    }
}

/// Checks one cell without building it, moving past it.
pub(crate) fn skip_cell(r: &mut Reader<'_>) -> Read<()> {
    match r.byte()? {
        NULL | FALSE | TRUE => Ok(()),
        INT => r.varint().map(drop),
        FLOAT => r.take(8).map(drop),
        DECIMAL | TEXT | DATE | TIME | TIMESTAMP => r.str_field().map(drop),
        BYTES => r.bytes_field().map(drop),
        JSON => skip_json(r, 1),
        tag => fail(format!("unknown cell tag {tag}")),
    }
}

fn skip_json(r: &mut Reader<'_>, depth: usize) -> Read<()> {
    if depth > MAX_JSON_DEPTH {
        return fail(format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"));
    }
    match r.byte()? {
        J_NULL | J_FALSE | J_TRUE => Ok(()),
        J_NUMBER => {
            let text = r.str_field()?;
            if is_json_number(text) {
                Ok(())
            } else {
                fail(format!("bad JSON number {text:?}"))
            }
        }
        J_STRING => r.str_field().map(drop),
        J_ARRAY => {
            for _ in 0..r.count()? {
                skip_json(r, depth + 1)?;
            }
            Ok(())
        }
        J_OBJECT => {
            for _ in 0..r.count()? {
                r.str_field()?;
                skip_json(r, depth + 1)?;
            }
            Ok(())
        }
        tag => fail(format!("unknown JSON tag {tag}")),
    }
}

/// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(c) if c.is_ascii_digit() => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Builds one cell (the bytes may be untrusted: every failure is an error).
pub(crate) fn decode_cell(r: &mut Reader<'_>) -> Read<Cell> {
    let text = |r: &mut Reader<'_>| r.str_field().map(str::to_owned);
    Ok(match r.byte()? {
        NULL => Cell::Null,
        FALSE => Cell::Bool(false),
        TRUE => Cell::Bool(true),
        INT => {
            let z = r.varint()?;
            Cell::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
        }
        FLOAT => {
            let raw = r.take(8)?;
            let mut le = [0u8; 8];
            le.copy_from_slice(raw);
            Cell::Float(f64::from_bits(u64::from_le_bytes(le)))
        }
        DECIMAL => Cell::Decimal(text(r)?),
        TEXT => Cell::Text(text(r)?),
        DATE => Cell::Date(text(r)?),
        TIME => Cell::Time(text(r)?),
        TIMESTAMP => Cell::Timestamp(text(r)?),
        BYTES => Cell::Bytes(r.bytes_field()?.to_vec()),
        JSON => Cell::json(decode_json(r, 1)?),
        tag => return fail(format!("unknown cell tag {tag}")),
    })
}

fn decode_json(r: &mut Reader<'_>, depth: usize) -> Read<Value> {
    if depth > MAX_JSON_DEPTH {
        return fail(format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"));
    }
    Ok(match r.byte()? {
        J_NULL => Value::Null,
        J_FALSE => Value::Bool(false),
        J_TRUE => Value::Bool(true),
        J_NUMBER => {
            let text = r.str_field()?;
            match serde_json::from_str::<serde_json::Number>(text) {
                Ok(n) if is_json_number(text) => Value::Number(n),
                _ => return fail(format!("bad JSON number {text:?}")),
            }
        }
        J_STRING => Value::String(r.str_field()?.to_owned()),
        J_ARRAY => {
            let n = r.count()?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(decode_json(r, depth + 1)?);
            }
            Value::Array(items)
        }
        J_OBJECT => {
            let n = r.count()?;
            let mut map = serde_json::Map::with_capacity(n);
            for _ in 0..n {
                let key = r.str_field()?.to_owned();
                let value = decode_json(r, depth + 1)?;
                map.insert(key, value);
            }
            Value::Object(map)
        }
        tag => return fail(format!("unknown JSON tag {tag}")),
    })
}

/// Equality of cells as change detection sees it: the same kind and the same value.
/// A type change (`Int(1)` → `Text("1")`) is a change. Floats compare by their bits except
/// that `-0.0` equals `0.0` (sources disagree about the sign of zero, readers can't see it),
/// and a NaN equals the same NaN (so it is not "changed" on every run). JSON compares
/// structurally: object key order does not matter, numbers compare by their exact text.
pub fn cells_equal(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => float_bits(*x) == float_bits(*y),
        _ => a == b,
    }
}

fn float_bits(f: f64) -> u64 {
    if f == 0.0 { 0 } else { f.to_bits() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_number_grammar() {
        for ok in ["0", "-0", "12", "1.5", "-1.5e10", "1E+2", "0.0e-0"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "+1", "1e+", "NaN", "1 "] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    #[test]
    fn varint_rejects_overflow_and_overlong() {
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.varint().is_err());
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(r.varint(), Ok(u64::MAX));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
        assert!(r.varint().is_err());
    }

    #[test]
    fn ints_round_trip_at_the_edges() {
        for n in [0, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            encode_cell(&Cell::Int(n), &mut out).unwrap();
            let mut r = Reader::new(&out);
            assert_eq!(decode_cell(&mut r), Ok(Cell::Int(n)));
            assert_eq!(r.remaining(), 0);
        }
    }

    #[test]
    fn count_cannot_exceed_remaining_bytes() {
        let mut out = Vec::new();
        put_varint(&mut out, 1 << 40);
        assert!(Reader::new(&out).count().is_err());
    }
}
