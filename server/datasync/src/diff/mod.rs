//! Change detection: compare a result with the previous snapshot.
//!
//! - [`diff_built`] (this file): the comparison and the [`Changes`] it reports; [`diff`]
//!   is the same for a result already in memory.
//! - [`snapshot`]: [`Snapshot`], the stored state, and its versioned binary format;
//!   [`SnapshotBuilder`], the [`crate::row::RowSink`] that encodes rows as a source reads
//!   them, so a result is never held as cells.
//! - `codec`: the compact encoding of one cell, and [`cells_equal`].
//! - `key`: resolving key/watched columns ([`key_positions`]), [`display_key`] for people,
//!   [`key_id`] for storage.
//!
//! # Semantics (the decisions callers can rely on)
//!
//! - A row's identity is the exact, typed value of its key cells: `Int(42)` and
//!   `Text("42")` are different keys, SQL NULL is a valid key value distinct from the text
//!   `"null"`, float keys compare by their bits, JSON keys by their exact content and order.
//! - A row is *changed* when a compared column differs by [`cells_equal`]: type changes
//!   count, `-0.0` equals `0.0`, JSON compares structurally.
//! - Compared columns are the watched columns (all columns without `watched`) that exist
//!   both now and in the previous snapshot. A column the query gained or lost is reported
//!   once in [`Changes::columns_added`] / [`Changes::columns_removed`] and never by itself
//!   makes rows changed. A gained column shows as `Cell::Null` in `previous` and in removed
//!   rows; a lost column's values are dropped from them.
//! - If the key columns differ from the previous snapshot's, rows cannot be matched: the
//!   run becomes a new baseline (`first_run` and `key_changed` set, nothing removed).
//! - An empty result is a result: with columns, every previous row is removed as usual;
//!   without columns (an HTTP JSON `[]`, where nothing names them) the key is not checked,
//!   every previous row is removed, and the new snapshot keeps the previous columns and
//!   key, so rows that come back are matched (reported as added), not a new baseline.
//! - Output order: current result order for added and changed, snapshot order for removed.

mod codec;
mod key;
pub mod snapshot;

pub use codec::cells_equal;
pub use key::{display_key, key_id, key_positions};
pub use snapshot::{SNAPSHOT_VERSION, Snapshot, SnapshotBuilder, SnapshotIndex};

use crate::row::{Columns, Row, RowSet};

/// How rows are identified and which columns count.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DiffOptions {
    /// One or more key columns; together they identify a row.
    pub key: Vec<String>,
    /// If set, only changes in these columns make a row "changed".
    pub watched: Option<Vec<String>>,
    /// On a first run, leave [`Changes::added`] empty instead of listing every row: a
    /// baseline run posts nothing, and listing a million rows would decode them all.
    /// `Changes::total` still counts them.
    pub omit_first_run_rows: bool,
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    pub columns: Columns,
    /// No previous snapshot existed (or its key differs): this run only records the
    /// baseline. `added` still lists every row (unless [`DiffOptions::omit_first_run_rows`]);
    /// the caller decides whether to post them.
    pub first_run: bool,
    pub added: Vec<Row>,
    pub changed: Vec<ChangedRow>,
    /// Rows that disappeared, with their last known values.
    pub removed: Vec<Row>,
    /// Rows read this run.
    pub total: usize,
    /// Columns in this result that the previous snapshot did not have.
    pub columns_added: Vec<String>,
    /// Columns of the previous snapshot that this result no longer has.
    pub columns_removed: Vec<String>,
    /// A previous snapshot existed but was keyed on other columns, so this run is a new
    /// baseline (`first_run` is set too).
    pub key_changed: bool,
}

/// Bad keys and unreadable snapshots.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum DiffError {
    #[error("key column {column:?} is not in the result (columns: {available})")]
    MissingKeyColumn { column: String, available: String },
    #[error("duplicate key {key} in the result")]
    DuplicateKey { key: String },
    #[error("snapshot is unreadable: {0}")]
    BadSnapshot(String),
    #[error("no key columns are configured")]
    NoKeyColumns,
    #[error("watched column {column:?} is not in the result (columns: {available})")]
    MissingWatchedColumn { column: String, available: String },
    #[error("row {row} of the result has {found} values for {expected} columns")]
    RowWidth {
        row: usize,
        expected: usize,
        found: usize,
    },
    #[error("a JSON value in column {column:?} nests deeper than {limit} levels")]
    JsonTooDeep { column: String, limit: usize },
    #[error("snapshot would exceed 4 GiB ({bytes} bytes of row data)")]
    SnapshotTooLarge { bytes: usize },
    #[error(
        "snapshot format version {found} is not supported (this build reads version \
         {supported}); delete the stored snapshot to record a new baseline"
    )]
    UnsupportedSnapshotVersion { found: u8, supported: u8 },
}

/// Compares `current` with `previous` (None on the first run) and returns the changes and
/// the snapshot to store once the run's messages are safely delivered.
///
/// A convenience over [`diff_built`] for a result already in memory (tests, tools).
pub fn diff(
    previous: Option<&Snapshot>,
    current: &RowSet,
    options: &DiffOptions,
) -> Result<(Changes, Snapshot), DiffError> {
    let mut builder = SnapshotBuilder::new(options);
    crate::row::RowSink::columns(&mut builder, current.columns.clone())
        .map_err(|_| builder.error().cloned().unwrap_or(DiffError::NoKeyColumns))?;
    for row in &current.rows {
        builder.push(row)?;
    }
    diff_built(previous, builder, options)
}

/// Compares the result encoded by `builder` (fed by a source, row by row) with `previous`
/// (None on the first run) and returns the changes and the snapshot to store once the
/// run's messages are safely delivered. Rows are compared as encoded bytes; only added,
/// changed and removed rows are decoded into cells. Fails with the builder's refusal
/// (missing key column, duplicate key...) if it refused anything.
pub fn diff_built(
    previous: Option<&Snapshot>,
    builder: SnapshotBuilder,
    options: &DiffOptions,
) -> Result<(Changes, Snapshot), DiffError> {
    let watched = builder.watched.clone();
    let (next, next_index) = builder.finish()?;
    if next.columns().is_empty()
        && let Some(previous) = previous
    {
        return everything_removed(previous);
    }
    let columns: &[String] = next.columns();
    let key = next.key_positions().to_vec();
    let mut changes = Changes {
        columns: columns.into(),
        total: next.len(),
        ..Changes::default()
    };
    let key_names = |cols: &[String], key: &[usize]| -> Vec<String> {
        key.iter().filter_map(|&i| cols.get(i).cloned()).collect()
    };
    let previous = match previous {
        Some(p) if key_names(p.columns(), p.key_positions()) == key_names(columns, &key) => p,
        other => {
            changes.first_run = true;
            changes.key_changed = other.is_some_and(|p| !p.key_positions().is_empty());
            if !options.omit_first_run_rows {
                changes.added = next.rows().collect::<Result<_, _>>()?;
            }
            return Ok((changes, next));
        }
    };

    let mapping = column_mapping(columns, previous.columns());
    changes.columns_added = (0..columns.len())
        .filter(|&c| mapping.get(c).is_some_and(Option::is_none))
        .filter_map(|c| columns.get(c).cloned())
        .collect();
    changes.columns_removed = previous
        .columns()
        .iter()
        .enumerate()
        .filter(|(j, _)| !mapping.contains(&Some(*j)))
        .map(|(_, name)| name.clone())
        .collect();
    let compared: Vec<(usize, usize)> = watched
        .unwrap_or_else(|| (0..columns.len()).collect())
        .into_iter()
        .filter_map(|c| mapping.get(c).copied().flatten().map(|j| (c, j)))
        .collect();
    // Identical columns and key mean identical byte layouts: equal bytes, equal rows.
    let same_layout = previous.columns() == columns && previous.key_positions() == key;

    // Match each previous row in the new snapshot's key index (built anyway by the
    // builder's duplicate check), so the previous snapshot needs no index of its own.
    let mut matched: Vec<u32> = vec![UNMATCHED; next.len()];
    let mut gone: Vec<usize> = Vec::new();
    for j in 0..previous.len() {
        let slot = next
            .find_in(&next_index, previous.key_bytes(j))
            .and_then(|i| matched.get_mut(i))
            .filter(|slot| **slot == UNMATCHED);
        match (slot, u32::try_from(j)) {
            (Some(slot), Ok(j)) => *slot = j,
            _ => gone.push(j),
        }
    }
    drop(next_index);
    let mut scratch = Scratch::default();
    for (i, &j) in matched.iter().enumerate() {
        if j == UNMATCHED {
            changes.added.push(next.row(i)?);
            continue;
        }
        let j = j as usize;
        if same_layout && next.row_bytes(i) == previous.row_bytes(j) {
            continue;
        }
        let differing = scratch.differing(&next, i, previous, j, &compared)?;
        if differing.is_empty() {
            continue;
        }
        changes.changed.push(ChangedRow {
            row: next.row(i)?,
            previous: previous.aligned_row(j, &mapping)?,
            changed_columns: differing
                .iter()
                .filter_map(|&c| columns.get(c).cloned())
                .collect(),
        });
    }
    for j in gone {
        changes.removed.push(previous.aligned_row(j, &mapping)?);
    }
    Ok((changes, next))
}

/// An empty result without columns (an HTTP JSON `[]`) after `previous`: every row is
/// removed, and the stored snapshot keeps `previous`'s columns and key.
fn everything_removed(previous: &Snapshot) -> Result<(Changes, Snapshot), DiffError> {
    let changes = Changes {
        columns: previous.columns().into(),
        removed: previous.rows().collect::<Result<_, _>>()?,
        ..Changes::default()
    };
    Ok((changes, previous.without_rows()))
}

/// No previous row has this current row's key.
const UNMATCHED: u32 = u32::MAX;

/// For each current column, the previous column of the same name: the n-th column called
/// `x` now matches the n-th column called `x` then (results may repeat a name).
fn column_mapping(current: &[String], previous: &[String]) -> Vec<Option<usize>> {
    current
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let nth = current[..c].iter().filter(|n| *n == name).count();
            previous
                .iter()
                .enumerate()
                .filter(|(_, n)| *n == name)
                .nth(nth)
                .map(|(j, _)| j)
        })
        .collect()
}

/// Buffers reused across rows by the per-cell comparison.
#[derive(Default)]
struct Scratch {
    now: Vec<(usize, usize)>,
    then: Vec<(usize, usize)>,
}

impl Scratch {
    /// Current column positions whose values differ between row `i` of `next` and row `j`
    /// of `previous`. Cells with equal bytes are equal; others are decoded and compared.
    fn differing(
        &mut self,
        next: &Snapshot,
        i: usize,
        previous: &Snapshot,
        j: usize,
        compared: &[(usize, usize)],
    ) -> Result<Vec<usize>, DiffError> {
        next.cell_spans(i, &mut self.now)?;
        previous.cell_spans(j, &mut self.then)?;
        let mut differing = Vec::new();
        for &(c, p) in compared {
            let (Some(&now), Some(&then)) = (self.now.get(c), self.then.get(p)) else {
                continue;
            };
            if next.bytes_at(now) == previous.bytes_at(then) {
                continue;
            }
            if !cells_equal(&next.cell_at(now)?, &previous.cell_at(then)?) {
                differing.push(c);
            }
        }
        Ok(differing)
    }
}

/// A row whose message could not be made this run (a template or routing error), and what
/// the stored snapshot should hold for it instead of its current values: its previous
/// values (changed, removed rows) or nothing (added rows). The next run then sees the same
/// change again and retries it, so a row is never lost because its message failed once.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldRow {
    pub current: Row,
    pub keep: Option<Row>,
}

/// `next` with each held row put back as it was before this run.
pub fn hold_back(
    next: &Snapshot,
    options: &DiffOptions,
    held: &[HeldRow],
) -> Result<Snapshot, DiffError> {
    if held.is_empty() {
        return Ok(next.clone());
    }
    let key = next.key_positions().to_vec();
    let mut ids = std::collections::HashSet::new();
    for h in held {
        ids.insert(key::key_id(&key, &h.current)?);
    }
    let mut builder = SnapshotBuilder::new(options);
    crate::row::RowSink::columns(&mut builder, next.columns().into())
        .map_err(|_| builder.error().cloned().unwrap_or(DiffError::NoKeyColumns))?;
    for row in next.rows() {
        let row = row?;
        if !ids.contains(&key::key_id(&key, &row)?) {
            builder.push(&row)?;
        }
    }
    for keep in held.iter().filter_map(|h| h.keep.as_ref()) {
        builder.push(keep)?;
    }
    Ok(builder.finish()?.0)
}
