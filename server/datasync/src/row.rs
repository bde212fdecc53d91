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
    /// JSON documents, arrays and anything structured. Boxed: a `serde_json::Value` is
    /// large, and boxing it keeps every `Cell` at 32 bytes (rows are arrays of cells).
    Json(Box<serde_json::Value>),
}

impl Cell {
    /// A JSON cell (boxes the value).
    pub fn json(value: serde_json::Value) -> Cell {
        Cell::Json(Box::new(value))
    }
}

/// Column names in result order, shared by every row of a result.
pub type Columns = Arc<[String]>;

/// One row: cells in the order of its [`RowSet`]'s columns.
pub type Row = Vec<Cell>;

/// Where a source puts its result, as it reads it: [`RowSink::columns`] once, then
/// [`RowSink::row`] for each row in result order. An empty result is zero rows: the
/// columns and no row. An empty list of columns means an empty result whose columns are
/// unknown (an HTTP JSON `[]`, an empty CSV body); no row follows it, and database
/// results always have columns (statements without any are refused). Either may refuse with a message (a
/// duplicate key, say); the source then stops reading and fails with
/// [`crate::source::SourceError::Rejected`] carrying that message, so a bad result is
/// reported as soon as it is seen, not after every row was read.
pub trait RowSink {
    fn columns(&mut self, columns: Columns) -> Result<(), String>;
    fn row(&mut self, row: Row) -> Result<(), String>;
}

/// Collects a whole result into a [`RowSet`] (batch, table and CSV modes post every row).
#[derive(Debug, Default)]
pub struct RowSetBuilder {
    set: RowSet,
}

impl RowSetBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn finish(self) -> RowSet {
        self.set
    }
}

impl RowSink for RowSetBuilder {
    fn columns(&mut self, columns: Columns) -> Result<(), String> {
        self.set.columns = columns;
        Ok(())
    }

    fn row(&mut self, row: Row) -> Result<(), String> {
        self.set.rows.push(row);
        Ok(())
    }
}

/// A source's whole result.
#[derive(Debug, Clone, PartialEq, Default)]
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

    /// Pushes this result into `sink`, as a source would (tests and stand-in sources).
    pub fn send_to(self, sink: &mut dyn RowSink) -> Result<(), String> {
        sink.columns(self.columns)?;
        self.rows.into_iter().try_for_each(|row| sink.row(row))
    }

    /// Position of a column by exact name.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_stay_small() {
        assert!(std::mem::size_of::<Cell>() <= 32);
    }

    #[test]
    fn a_collected_result_is_what_was_sent() {
        let set = RowSet::new(
            vec!["a".into(), "b".into()],
            vec![vec![Cell::Int(1), Cell::json(serde_json::json!({"x": 1}))]],
        );
        let mut builder = RowSetBuilder::new();
        set.clone().send_to(&mut builder).unwrap();
        assert_eq!(builder.finish(), set);
    }
}
