//! Finding the key and watched columns in a result, and showing key values to people.

use super::DiffError;
use super::codec::{MAX_JSON_DEPTH, encode_cell};
use super::snapshot::key_hash;
use crate::row::{Cell, Row};

/// Position of each name in `columns` (first occurrence), or the error `missing` builds.
fn resolve(
    columns: &[String],
    names: &[String],
    missing: impl Fn(String, String) -> DiffError,
) -> Result<Vec<usize>, DiffError> {
    names
        .iter()
        .map(|name| {
            columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| missing(name.clone(), available(columns)))
        })
        .collect()
}

fn available(columns: &[String]) -> String {
    if columns.is_empty() {
        return "none".to_owned();
    }
    columns
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Key column positions in key order; a name listed twice counts once.
pub fn key_positions(columns: &[String], key: &[String]) -> Result<Vec<usize>, DiffError> {
    if key.is_empty() {
        return Err(DiffError::NoKeyColumns);
    }
    let mut positions = resolve(columns, key, |column, available| {
        DiffError::MissingKeyColumn { column, available }
    })?;
    let mut seen = Vec::with_capacity(positions.len());
    positions.retain(|p| {
        let first = !seen.contains(p);
        seen.push(*p);
        first
    });
    Ok(positions)
}

pub(crate) fn watched_positions(
    columns: &[String],
    watched: &[String],
) -> Result<Vec<usize>, DiffError> {
    resolve(columns, watched, |column, available| {
        DiffError::MissingWatchedColumn { column, available }
    })
}

/// A key as people read it: `42` for a one-column key, `(region=eu, id=42)` for several.
/// Text is shown bare unless that would be ambiguous (empty, `NULL`, or containing
/// punctuation the composite form uses), then it is quoted; SQL NULL shows as `NULL`.
pub fn display_key(columns: &[String], key: &[usize], row: &Row) -> String {
    let value = |i: usize| row.get(i).map_or_else(|| "?".to_owned(), display_cell);
    match key {
        [single] => value(*single),
        _ => {
            let parts: Vec<String> = key
                .iter()
                .map(|&i| {
                    let name = columns.get(i).map_or("?", String::as_str);
                    format!("{name}={}", value(i))
                })
                .collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// A short stable identifier of a row's key (16 hex digits of the xxh3-64 of the key cells'
/// snapshot encoding), e.g. to remember the thread a row's messages go to. Stable for the
/// life of snapshot format version 1; equal keys in the diff's sense give equal ids.
pub fn key_id(key: &[usize], row: &Row) -> Result<String, DiffError> {
    let mut bytes = Vec::new();
    for &i in key {
        let cell = row.get(i).unwrap_or(&Cell::Null);
        encode_cell(cell, &mut bytes).map_err(|_| DiffError::JsonTooDeep {
            column: format!("key column {i}"),
            limit: MAX_JSON_DEPTH,
        })?;
    }
    Ok(format!("{:016x}", key_hash(&bytes)))
}

fn display_cell(cell: &Cell) -> String {
    match cell {
        Cell::Null => "NULL".to_owned(),
        Cell::Bool(b) => b.to_string(),
        Cell::Int(n) => n.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Decimal(s) | Cell::Date(s) | Cell::Time(s) | Cell::Timestamp(s) => s.clone(),
        Cell::Text(s) => display_text(s),
        Cell::Bytes(b) => format!(
            "0x{}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
        Cell::Json(v) => v.to_string(),
    }
}

fn display_text(s: &str) -> String {
    let ambiguous = s.is_empty()
        || s.eq_ignore_ascii_case("null")
        || s.trim() != s
        || s.contains([',', '=', '(', ')', '"'])
        || s.chars().any(char::is_control);
    if ambiguous {
        format!("{s:?}")
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn composite_keys_read_naturally() {
        let columns = cols(&["id", "region"]);
        let row = vec![Cell::Int(42), Cell::Text("eu".into())];
        assert_eq!(display_key(&columns, &[1, 0], &row), "(region=eu, id=42)");
        assert_eq!(display_key(&columns, &[0], &row), "42");
    }

    #[test]
    fn null_and_the_text_null_look_different() {
        let columns = cols(&["k"]);
        assert_eq!(display_key(&columns, &[0], &vec![Cell::Null]), "NULL");
        assert_eq!(
            display_key(&columns, &[0], &vec![Cell::Text("null".into())]),
            "\"null\""
        );
        assert_eq!(
            display_key(&columns, &[0], &vec![Cell::Text("a, b".into())]),
            "\"a, b\""
        );
    }

    #[test]
    fn key_ids_are_stable_and_typed() {
        let row = vec![Cell::Int(42), Cell::Text("42".into()), Cell::Null];
        assert_eq!(key_id(&[0], &row), key_id(&[0], &vec![Cell::Int(42)]));
        assert_ne!(key_id(&[0], &row), key_id(&[1], &row));
        assert_ne!(
            key_id(&[2], &row),
            key_id(&[0], &vec![Cell::Text("null".into())])
        );
        // Pinned: a change here orphans every stored thread mapping.
        assert_eq!(key_id(&[0], &row), Ok("e66eb11933743eec".to_owned()));
        assert_eq!(
            key_id(&[0], &row),
            Ok(format!("{:016x}", key_hash(&[3, 84])))
        );
    }

    #[test]
    fn repeated_key_names_count_once() {
        let columns = cols(&["a", "b"]);
        assert_eq!(
            key_positions(&columns, &cols(&["b", "a", "b"])),
            Ok(vec![1, 0])
        );
        assert_eq!(key_positions(&columns, &[]), Err(DiffError::NoKeyColumns));
    }
}
