//! Finding the key and watched columns in a result, and showing key values to people.

use super::DiffError;
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
pub(crate) fn key_positions(columns: &[String], key: &[String]) -> Result<Vec<usize>, DiffError> {
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
    fn repeated_key_names_count_once() {
        let columns = cols(&["a", "b"]);
        assert_eq!(
            key_positions(&columns, &cols(&["b", "a", "b"])),
            Ok(vec![1, 0])
        );
        assert_eq!(key_positions(&columns, &[]), Err(DiffError::NoKeyColumns));
    }
}
