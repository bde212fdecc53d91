//! Change detection: compare a result with the previous snapshot.
//!
//! CONTRACT (owned by the diff work; other modules call only what is here). The bodies
//! below are placeholders to be replaced.

use crate::row::{Columns, Row, RowSet};

/// How rows are identified and which columns count.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DiffOptions {
    /// One or more key columns; together they identify a row.
    pub key: Vec<String>,
    /// If set, only changes in these columns make a row "changed".
    pub watched: Option<Vec<String>>,
}

/// A row whose watched values differ from the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedRow {
    pub row: Row,
    /// The row as it was in the previous snapshot (same columns as `Changes::columns`
    /// where they exist; columns new since then are `Cell::Null`).
    pub previous: Row,
    /// Names of the columns whose values differ.
    pub changed_columns: Vec<String>,
}

/// What happened since the previous run. Rows are in the current result's column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub columns: Columns,
    /// No previous snapshot existed: this run only records the baseline.
    pub first_run: bool,
    pub added: Vec<Row>,
    pub changed: Vec<ChangedRow>,
    /// Rows that disappeared, with their last known values.
    pub removed: Vec<Row>,
    /// Rows read this run.
    pub total: usize,
}

/// The stored state of one sync's last result: keys, row fingerprints and last values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {}

impl Snapshot {
    /// Compact binary form for the KV store (possibly chunked by the caller).
    pub fn encode(&self) -> Vec<u8> {
        Vec::new()
    }
    pub fn decode(_bytes: &[u8]) -> Result<Snapshot, DiffError> {
        Ok(Snapshot {})
    }
}

/// Bad keys and unreadable snapshots.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DiffError {
    #[error("key column {column:?} is not in the result (columns: {available})")]
    MissingKeyColumn { column: String, available: String },
    #[error("duplicate key {key} in the result")]
    DuplicateKey { key: String },
    #[error("snapshot is unreadable: {0}")]
    BadSnapshot(String),
}

/// Compares `current` with `previous` (None on the first run) and returns the changes and
/// the snapshot to store once the run's messages are safely delivered.
pub fn diff(
    previous: Option<&Snapshot>,
    current: &RowSet,
    options: &DiffOptions,
) -> Result<(Changes, Snapshot), DiffError> {
    let _ = (previous, options);
    Ok((
        Changes {
            columns: current.columns.clone(),
            first_run: previous.is_none(),
            added: Vec::new(),
            changed: Vec::new(),
            removed: Vec::new(),
            total: current.rows.len(),
        },
        Snapshot {},
    ))
}
