//! The bytes a transform module and the engine exchange (ABI version 1).
//!
//! Little-endian throughout; `str` and `bytes` are a `u32` length and that many bytes
//! (`str` is UTF-8).
//!
//! - setup (to `ds_columns`): the source's columns — a `u32` count, then each name as
//!   `str` — then the transform's parameters as `str` (a JSON object, `{}` if none).
//! - columns (answered by `ds_columns`): a `u32` count, then each name as `str`.
//! - row: `u32` count, then each value: a tag byte and its payload —
//!   0 null · 1 bool (`u8` 0/1) · 2 int (`i64`) · 3 float (`f64`) · 4 decimal (`str`) ·
//!   5 text (`str`) · 6 date (`str`) · 7 time (`str`) · 8 timestamp (`str`) ·
//!   9 bytes (`bytes`) · 10 json (`str`, a JSON text).
//! - answer (from the module): a status byte — 0 then columns (to `ds_columns`) or a row
//!   (to `ds_row`); 1 drop the row (`ds_row` only); 2 then `str`, an error message.
//!
//! A custom format rather than a serde one: guests in any language must write it by
//! hand, and it costs one pass per value. The engine writes its input here, straight from
//! its cells; it reads the answers with the guest SDK's reader (`datasync-transform`),
//! so both sides read the bytes with the same code.

pub use datasync_transform::Answer;
use std::ops::Range;

use datasync_transform::Value;

use crate::row::Cell;

/// What `ds_columns` is given: the source's columns and the transform's parameters.
pub fn put_setup(out: &mut Vec<u8>, columns: &[String], params: &str) {
    put_columns(out, columns);
    put_str(out, params);
}

fn put_columns(out: &mut Vec<u8>, columns: &[String]) {
    put_len(out, columns.len());
    for c in columns {
        put_str(out, c);
    }
}

pub fn put_row(out: &mut Vec<u8>, row: &[Cell]) {
    put_row_noting(out, row, &mut Vec::new());
}

/// [`put_row`], noting where each JSON value's text lies in `out` (`None` for other
/// values), so an answer that passes one back unchanged can be recognised.
pub fn put_row_noting(out: &mut Vec<u8>, row: &[Cell], json_at: &mut Vec<Option<Range<usize>>>) {
    json_at.clear();
    put_len(out, row.len());
    for cell in row {
        let start = out.len() + 5; // the tag and the length
        put_cell(out, cell);
        json_at.push(matches!(cell, Cell::Json(_)).then(|| start..out.len()));
    }
}

/// The input a row's answer is read against: the row, the bytes it was written as, and
/// where its JSON values lie in them ([`put_row_noting`]).
pub struct Sent<'a> {
    pub row: &'a [Cell],
    pub bytes: &'a [u8],
    pub json_at: &'a [Option<Range<usize>>],
}

impl Sent<'_> {
    /// The input's cell at `i` if it is JSON written exactly as `text`.
    fn same_json(&self, i: usize, text: &str) -> Option<&Cell> {
        let at = self.json_at.get(i)?.clone()?;
        (self.bytes.get(at)? == text.as_bytes())
            .then(|| self.row.get(i))
            .flatten()
    }
}

fn put_cell(out: &mut Vec<u8>, cell: &Cell) {
    match cell {
        Cell::Null => out.push(0),
        Cell::Bool(b) => out.extend([1, u8::from(*b)]),
        Cell::Int(i) => {
            out.push(2);
            out.extend(i.to_le_bytes());
        }
        Cell::Float(f) => {
            out.push(3);
            out.extend(f.to_le_bytes());
        }
        Cell::Decimal(s) => tagged(out, 4, s.as_bytes()),
        Cell::Text(s) => tagged(out, 5, s.as_bytes()),
        Cell::Date(s) => tagged(out, 6, s.as_bytes()),
        Cell::Time(s) => tagged(out, 7, s.as_bytes()),
        Cell::Timestamp(s) => tagged(out, 8, s.as_bytes()),
        Cell::Bytes(b) => tagged(out, 9, b),
        Cell::Json(v) => tagged(out, 10, v.to_string().as_bytes()),
    }
}

fn tagged(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    // Rows and names are far below 4 GiB: sources cap their bytes.
    out.extend(u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Reads a module's answer to `ds_columns`.
pub fn read_columns(bytes: &[u8]) -> Result<Answer<Vec<String>>, String> {
    datasync_transform::decode_answer_columns(bytes)
}

/// Reads a module's answer to `ds_row`.
pub fn read_row(bytes: &[u8]) -> Result<Answer<Vec<Cell>>, String> {
    let none = Sent {
        row: &[],
        bytes: &[],
        json_at: &[],
    };
    read_row_from(bytes, &none)
}

/// [`read_row`] for an answer to `sent`: a JSON value the module passed back unchanged,
/// at the same place, is the input's cell again rather than its text parsed anew (the
/// costliest part of a row's trip).
pub fn read_row_from(bytes: &[u8], sent: &Sent<'_>) -> Result<Answer<Vec<Cell>>, String> {
    Ok(match datasync_transform::decode_answer_row(bytes)? {
        Answer::Value(values) => Answer::Value(
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    if let Value::Json(text) = &v
                        && let Some(same) = sent.same_json(i, text)
                    {
                        return Ok(same.clone());
                    }
                    cell(v).map_err(|e| format!("value {}: {e}", i + 1))
                })
                .collect::<Result<_, _>>()?,
        ),
        Answer::Drop => Answer::Drop,
        Answer::Error(m) => Answer::Error(m),
    })
}

fn cell(v: Value) -> Result<Cell, String> {
    Ok(match v {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(b),
        Value::Int(i) => Cell::Int(i),
        // The row model keeps NaN and infinities as text (as sources do).
        Value::Float(f) if f.is_finite() => Cell::Float(f),
        Value::Float(f) => Cell::Text(f.to_string()),
        Value::Decimal(s) => Cell::Decimal(s),
        Value::Text(s) => Cell::Text(s),
        Value::Date(s) => Cell::Date(s),
        Value::Time(s) => Cell::Time(s),
        Value::Timestamp(s) => Cell::Timestamp(s),
        Value::Bytes(b) => Cell::Bytes(b),
        Value::Json(text) => {
            Cell::json(serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Cell> {
        vec![
            Cell::Null,
            Cell::Bool(true),
            Cell::Int(-42),
            Cell::Float(1.5),
            Cell::Decimal("12.30".into()),
            Cell::Text("ünï".into()),
            Cell::Date("2026-11-30".into()),
            Cell::Time("09:30:00".into()),
            Cell::Timestamp("2026-11-30T09:30:00Z".into()),
            Cell::Bytes(vec![0, 255]),
            Cell::json(serde_json::json!({"a": [1, 2]})),
        ]
    }

    /// A row as a module would answer it: status 0, then the row.
    fn answer_of(row: &[Cell]) -> Vec<u8> {
        let mut out = vec![0];
        put_row(&mut out, row);
        out
    }

    #[test]
    fn every_kind_of_value_round_trips() {
        let row = every_kind();
        assert_eq!(read_row(&answer_of(&row)), Ok(Answer::Value(row)));
        let mut cols = vec![0];
        put_columns(&mut cols, &["a".into(), "b".into()]);
        let mut setup = Vec::new();
        put_setup(&mut setup, &["a".into()], "{}");
        assert_eq!(
            setup,
            [1, 0, 0, 0, 1, 0, 0, 0, b'a', 2, 0, 0, 0, b'{', b'}']
        );
        assert_eq!(
            read_columns(&cols),
            Ok(Answer::Value(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn the_bytes_are_the_documented_ones() {
        let mut out = Vec::new();
        put_row(&mut out, &[Cell::Int(1), Cell::Text("hi".into())]);
        assert_eq!(
            out,
            [
                2, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 5, 2, 0, 0, 0, b'h', b'i'
            ]
        );
    }

    #[test]
    fn drop_and_error_answers() {
        assert_eq!(read_row(&[1]), Ok(Answer::Drop));
        let mut e = vec![2];
        put_str(&mut e, "bad row");
        assert_eq!(read_row(&e), Ok(Answer::Error("bad row".into())));
        let mut long = vec![2];
        put_str(&mut long, &"x".repeat(5000));
        let Ok(Answer::Error(m)) = read_row(&long) else {
            panic!("not an error answer")
        };
        assert_eq!(m.len(), 1024);
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let good = answer_of(&every_kind());
        // Every prefix, and every single-byte change, reads as a value or an error.
        for n in 0..good.len() {
            assert!(read_row(&good[..n]).is_err(), "prefix {n}");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] = bad[i].wrapping_add(77);
            let _ = read_row(&bad);
        }
        assert!(
            read_row(&[9])
                .unwrap_err()
                .contains("unknown answer status 9")
        );
        assert!(
            read_row(&[0, 1, 0, 0, 0, 42])
                .unwrap_err()
                .contains("unknown value tag 42")
        );
        assert!(
            read_row(&[0, 255, 255, 255, 255])
                .unwrap_err()
                .contains("ends early")
        );
        assert!(read_row(&[1, 0]).unwrap_err().contains("1 bytes left over"));
        let nan = [&[0u8, 1, 0, 0, 0, 3][..], &f64::NAN.to_le_bytes()].concat();
        assert_eq!(
            read_row(&nan),
            Ok(Answer::Value(vec![Cell::Text("NaN".into())]))
        );
    }
}
