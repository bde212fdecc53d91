//! The one row model every source produces and every later stage reads.
//!
//! A [`RowSet`] is an ordered list of column names shared by all its rows, and
//! rows of typed [`Cell`]s in the same order. Values keep what the source said:
//! numerics keep their precision as decimal text, timestamps are ISO-8601 text,
//! NULL stays [`Cell::Null`], bytes stay bytes (rendered as base64), JSON stays
//! JSON.

use std::sync::Arc;

/// One value of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    /// Floating point as the source gave it (not NaN/inf: those become text).
    Float(f64),
    /// Exact numerics (NUMERIC/DECIMAL) as their canonical decimal text.
    Decimal(String),
    Text(String),
    /// ISO-8601 date, `2026-11-21`.
    Date(String),
    /// ISO-8601 time of day, `09:30:00`.
    Time(String),
    /// ISO-8601 timestamp: `2026-11-21T09:30:00` without a zone,
    /// `2026-11-21T08:30:00Z` (always UTC) for zoned timestamps.
    Timestamp(String),
    Bytes(Vec<u8>),
    /// JSON documents, arrays and anything structured.
    Json(serde_json::Value),
}

/// Column names in result order, shared by every row of a result.
pub type Columns = Arc<[String]>;

/// One row: cells in the order of its [`RowSet`]'s columns.
pub type Row = Vec<Cell>;

/// A source's whole result.
#[derive(Debug, Clone, PartialEq)]
pub struct RowSet {
    pub columns: Columns,
    pub rows: Vec<Row>,
}

impl RowSet {
    pub fn new(columns: Vec<String>, rows: Vec<Row>) -> Self {
        RowSet {
            columns: columns.into(),
            rows,
        }
    }

    /// Position of a column by exact name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}
