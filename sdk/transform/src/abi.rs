//! The bytes exchanged with Data Sync (ABI version 1; the engine's `transform::abi`
//! documents the format). Both sides read with this code: the module its input, the engine
//! the module's answers.

use super::{Row, Value};

/// Longest error message kept from a module's answer (a module may send megabytes).
const MAX_MESSAGE: usize = 1024;

/// What a module answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer<T> {
    Value(T),
    Drop,
    Error(String),
}

/// A module's answer to `ds_columns`, as the engine reads it.
pub fn decode_answer_columns(bytes: &[u8]) -> Result<Answer<Vec<String>>, String> {
    decode_answer(bytes, |r| r.columns())
}

/// A module's answer to `ds_row`, as the engine reads it.
pub fn decode_answer_row(bytes: &[u8]) -> Result<Answer<Row>, String> {
    decode_answer(bytes, |r| r.row())
}

fn decode_answer<T>(
    bytes: &[u8],
    body: impl FnOnce(&mut Reader<'_>) -> Result<T, String>,
) -> Result<Answer<T>, String> {
    let mut r = Reader { bytes, at: 0 };
    let answer = match r.take(1)?[0] {
        0 => Answer::Value(body(&mut r)?),
        1 => Answer::Drop,
        2 => {
            let raw = r.bytes()?;
            let cut = &raw[..raw.len().min(MAX_MESSAGE)];
            Answer::Error(String::from_utf8_lossy(cut).into_owned())
        }
        other => return Err(format!("unknown answer status {other}")),
    };
    r.end()?;
    Ok(answer)
}

/// The source's columns and the parameters, as `ds_columns` receives them.
pub fn decode_setup(bytes: &[u8]) -> Result<(Vec<String>, String), String> {
    let mut r = Reader { bytes, at: 0 };
    let columns = r.columns()?;
    let params = r.str()?;
    r.end()?;
    Ok((columns, params))
}

/// A row, as `ds_row` receives it.
pub fn decode_row(bytes: &[u8]) -> Result<Row, String> {
    let mut row = Row::new();
    decode_row_into(bytes, &mut row)?;
    Ok(row)
}

/// [`decode_row`] into `row`, reusing its values' text buffers (a row kept from the last
/// call saves most allocations per row).
pub fn decode_row_into(bytes: &[u8], row: &mut Row) -> Result<(), String> {
    let mut r = Reader { bytes, at: 0 };
    r.row_into(row)?;
    r.end()
}

/// The answer "these are my columns".
pub fn encode_columns(columns: &[String]) -> Vec<u8> {
    let mut out = vec![0];
    put_len(&mut out, columns.len());
    for c in columns {
        put_bytes(&mut out, c.as_bytes());
    }
    out
}

/// The answer "this is the row".
pub fn encode_row(row: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * row.len() + 5);
    encode_row_into(&mut out, row);
    out
}

/// [`encode_row`], appended to `out` (a buffer kept from row to row saves an allocation
/// per row).
pub fn encode_row_into(out: &mut Vec<u8>, row: &[Value]) {
    out.push(0);
    put_len(out, row.len());
    for v in row {
        match v {
            Value::Null => out.push(0),
            Value::Bool(b) => out.extend([1, u8::from(*b)]),
            Value::Int(i) => {
                out.push(2);
                out.extend(i.to_le_bytes());
            }
            Value::Float(f) => {
                out.push(3);
                out.extend(f.to_le_bytes());
            }
            Value::Decimal(s) => tagged(out, 4, s.as_bytes()),
            Value::Text(s) => tagged(out, 5, s.as_bytes()),
            Value::Date(s) => tagged(out, 6, s.as_bytes()),
            Value::Time(s) => tagged(out, 7, s.as_bytes()),
            Value::Timestamp(s) => tagged(out, 8, s.as_bytes()),
            Value::Bytes(b) => tagged(out, 9, b),
            Value::Json(s) => tagged(out, 10, s.as_bytes()),
        }
    }
}

/// The answer "this failed, because …".
pub fn encode_error(message: &str) -> Vec<u8> {
    let mut out = vec![2];
    put_bytes(&mut out, message.as_bytes());
    out
}

fn tagged(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_bytes(out, bytes);
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend((n as u32).to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!(
                "it ends early: {n} bytes wanted at byte {} of {}",
                self.at,
                self.bytes.len()
            )
        })?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn len(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.len()?;
        self.take(n)
    }

    fn str(&mut self) -> Result<String, String> {
        self.str_into(String::new())
    }

    /// The next text, written into `buffer`.
    fn str_into(&mut self, mut buffer: String) -> Result<String, String> {
        let at = self.at;
        let text =
            utf8(self.bytes()?).ok_or_else(|| format!("the text at byte {at} is not UTF-8"))?;
        buffer.clear();
        buffer.push_str(text);
        Ok(buffer)
    }

    fn columns(&mut self) -> Result<Vec<String>, String> {
        let n = self.len()?;
        let mut columns = Vec::with_capacity(n.min(4096));
        for _ in 0..n {
            columns.push(self.str()?);
        }
        Ok(columns)
    }

    fn row(&mut self) -> Result<Row, String> {
        let mut row = Row::new();
        self.row_into(&mut row)?;
        Ok(row)
    }

    fn row_into(&mut self, row: &mut Row) -> Result<(), String> {
        let n = self.len()?;
        row.truncate(n);
        row.reserve(n.min(4096).saturating_sub(row.len()));
        for i in 0..n {
            let value = self.value(row.get_mut(i).map(text_buffer).unwrap_or_default())?;
            match row.get_mut(i) {
                Some(slot) => *slot = value,
                None => row.push(value),
            }
        }
        Ok(())
    }

    fn end(&self) -> Result<(), String> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(format!("{} bytes left over", self.bytes.len() - self.at))
        }
    }

    /// The next value; a text one is written into `buffer`.
    fn value(&mut self, buffer: String) -> Result<Value, String> {
        let at = self.at;
        Ok(match self.take(1)?[0] {
            0 => Value::Null,
            1 => Value::Bool(self.take(1)?[0] != 0),
            2 => Value::Int(i64::from_le_bytes(self.array()?)),
            3 => Value::Float(f64::from_le_bytes(self.array()?)),
            4 => Value::Decimal(self.str_into(buffer)?),
            5 => Value::Text(self.str_into(buffer)?),
            6 => Value::Date(self.str_into(buffer)?),
            7 => Value::Time(self.str_into(buffer)?),
            8 => Value::Timestamp(self.str_into(buffer)?),
            9 => Value::Bytes(self.bytes()?.to_vec()),
            10 => Value::Json(self.str_into(buffer)?),
            tag => return Err(format!("unknown value tag {tag} at byte {at}")),
        })
    }
}

/// `bytes` as text, if they are UTF-8. Most text is ASCII, and checking it eight bytes at
/// a time costs a guest a fraction of the general check's instructions (which the rest
/// gets).
fn utf8(bytes: &[u8]) -> Option<&str> {
    let (words, tail) = bytes.as_chunks::<8>();
    let ascii = words
        .iter()
        .all(|w| u64::from_le_bytes(*w) & 0x8080_8080_8080_8080 == 0)
        && tail.is_ascii();
    if ascii {
        // SAFETY: every byte is below 0x80, and ASCII text is UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

/// A value's text buffer, taken out of it for reuse (empty for values without text).
fn text_buffer(value: &mut Value) -> String {
    match std::mem::replace(value, Value::Null) {
        Value::Decimal(s)
        | Value::Text(s)
        | Value::Date(s)
        | Value::Time(s)
        | Value::Timestamp(s)
        | Value::Json(s) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_the_bytes_are_the_documented_ones() {
        let row = vec![Value::Int(1), Value::Text("hi".into())];
        let encoded = encode_row(&row);
        assert_eq!(
            encoded,
            [
                0, 2, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 5, 2, 0, 0, 0, b'h', b'i'
            ]
        );
        assert_eq!(decode_row(&encoded[1..]), Ok(row));
        assert_eq!(
            decode_setup(&[1, 0, 0, 0, 1, 0, 0, 0, b'a', 2, 0, 0, 0, b'{', b'}']),
            Ok((vec!["a".into()], "{}".into()))
        );
        assert!(decode_row(&[1, 0, 0, 0, 42]).is_err());
        assert_eq!(decode_answer_row(&[1]), Ok(Answer::Drop));
        assert_eq!(
            decode_answer_row(&encode_error(&"x".repeat(5000))),
            Ok(Answer::Error("x".repeat(MAX_MESSAGE)))
        );
    }

    #[test]
    fn a_row_read_into_the_last_one_is_the_row_itself() {
        let rows = [
            vec![
                Value::Text("first".into()),
                Value::Int(1),
                Value::Json("{}".into()),
            ],
            vec![Value::Int(2), Value::Decimal("2.50".into())],
            vec![
                Value::Null,
                Value::Text("a longer text than before".into()),
                Value::Bytes(vec![1, 2]),
                Value::Date("2026-11-30".into()),
            ],
        ];
        let mut spare = Row::new();
        for row in rows {
            let encoded = encode_row(&row);
            decode_row_into(&encoded[1..], &mut spare).unwrap();
            assert_eq!(spare, row);
        }
        assert!(decode_row_into(&[2, 0, 0, 0, 0], &mut spare).is_err());
    }

    #[test]
    fn text_is_checked_for_utf8_ascii_or_not() {
        for ok in [
            "",
            "abc",
            "exactly8",
            "longer than eight bytes",
            "née à Zürich",
            "ab€cdefgh€",
        ] {
            assert_eq!(utf8(ok.as_bytes()), Some(ok));
        }
        for bad in [
            &b"\xff"[..],
            b"12345678\xc3",
            b"1234567\x80abcdefgh",
            b"\xe2\x82",
        ] {
            assert_eq!(utf8(bad), None, "{bad:?}");
        }
    }
}
