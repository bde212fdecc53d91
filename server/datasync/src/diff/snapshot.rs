//! The stored state of one sync's last result, in memory and as bytes.
//!
//! In memory a snapshot keeps every row already encoded (see the `codec` module) in one byte
//! buffer plus 8 bytes of offsets per row, instead of a `Vec<Cell>` per row: a million rows
//! of eight columns take about 100 MB this way instead of several hundred, and comparing a
//! row with its previous version is one byte comparison. Each row's bytes hold its key
//! cells first (in key order), then the other columns in result order, so a row's key is a
//! prefix of its bytes and the key index needs no copies.
//!
//! # Format, version 1
//!
//! ```text
//! offset size
//!  0      4   magic "DSSN"
//!  4      1   format version (1)
//!  5      1   flags, 0
//!  6      8   xxh3-64 (seed 0) of every byte from offset 14 to the end, little-endian
//! 14      8   meta: uncompressed length   (u64 LE)
//! 22      8   meta: compressed length
//! 30      8   rows: uncompressed length
//! 38      8   rows: compressed length
//! 46      .   meta block, then rows block, each one LZ4 block (lz4_flex, no frame)
//! ```
//!
//! meta = varint column count, each column name (varint length + UTF-8); varint key column
//! count, each a varint column position; varint row count. rows = each row's cells, key
//! cells first, then the remaining columns in order; rows are self-delimiting, so no
//! per-row lengths are stored. Decoding checks the magic, the version (before anything
//! else, so a future format gets a clear "unsupported version" error), the checksum (so
//! truncation and bit flips are caught before any large allocation), bounds every
//! decompressed length by what LZ4 can produce from the input, and then walks every cell.

use super::DiffError;
use super::codec::{self, Reader, decode_cell, encode_cell, put_varint, skip_cell};
use super::key::display_key;
use crate::row::{Cell, Columns, Row, RowSink};
use hashbrown::HashTable;
use twox_hash::XxHash3_64;

const MAGIC: &[u8; 4] = b"DSSN";
/// The format version this build writes and reads.
pub const SNAPSHOT_VERSION: u8 = 1;
const CHECKSUM_AT: usize = 6;
const HEADER_LEN: usize = 46;
/// An LZ4 block expands at most ~255 times; anything claiming more is corrupt.
const LZ4_MAX_RATIO: u64 = 255;

/// Where one row's bytes start and where its key ends, in [`Snapshot::data`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    start: u32,
    key_end: u32,
}

/// The stored state of one sync's last result: its columns, key and every row's values.
///
/// Build one with a [`SnapshotBuilder`] and [`super::diff_built`] (or [`super::diff`]), store
/// it with [`Snapshot::encode`], read it back with
/// [`Snapshot::decode`]. Look rows up by key with [`Snapshot::index`].
#[derive(Clone, PartialEq, Default)]
pub struct Snapshot {
    columns: Vec<String>,
    /// Key column positions, in key order.
    key: Vec<usize>,
    /// Column position of each cell in a row's bytes: the key columns, then the rest.
    order: Vec<usize>,
    data: Vec<u8>,
    rows: Vec<Span>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("columns", &self.columns)
            .field("key", &self.key_columns())
            .field("rows", &self.rows.len())
            .field("data_bytes", &self.data.len())
            .finish()
    }
}

fn storage_order(columns: usize, key: &[usize]) -> Vec<usize> {
    let mut order = key.to_vec();
    order.extend((0..columns).filter(|c| !key.contains(c)));
    order
}

pub(crate) fn key_hash(key: &[u8]) -> u64 {
    XxHash3_64::oneshot(key)
}

fn offset(len: usize) -> Result<u32, DiffError> {
    u32::try_from(len).map_err(|_| DiffError::SnapshotTooLarge { bytes: len })
}

impl Snapshot {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Heap bytes this snapshot holds (row data and offsets), for memory reporting.
    pub fn memory_bytes(&self) -> usize {
        self.data.capacity() + self.rows.capacity() * std::mem::size_of::<Span>()
    }

    /// Column names of the result the snapshot was taken from.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Names of the key columns, in key order.
    pub fn key_columns(&self) -> Vec<&str> {
        self.key
            .iter()
            .filter_map(|&i| self.columns.get(i).map(String::as_str))
            .collect()
    }

    pub(crate) fn key_positions(&self) -> &[usize] {
        &self.key
    }

    /// The same columns and key without any row: what an empty result leaves behind, so
    /// the next rows are matched against this key again rather than starting over.
    pub(crate) fn without_rows(&self) -> Snapshot {
        Snapshot {
            columns: self.columns.clone(),
            key: self.key.clone(),
            order: self.order.clone(),
            data: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Bytes of the row's cells (in storage order).
    pub(crate) fn row_bytes(&self, i: usize) -> &[u8] {
        let start = self.rows.get(i).map_or(0, |s| s.start as usize);
        let end = self
            .rows
            .get(i + 1)
            .map_or(self.data.len(), |s| s.start as usize);
        self.data.get(start..end).unwrap_or(&[])
    }

    pub(crate) fn key_bytes(&self, i: usize) -> &[u8] {
        span_key(&self.data, &self.rows, i)
    }

    /// Fills `spans[c]` with the byte range of column `c` of row `i`.
    pub(crate) fn cell_spans(
        &self,
        i: usize,
        spans: &mut Vec<(usize, usize)>,
    ) -> Result<(), DiffError> {
        spans.clear();
        spans.resize(self.columns.len(), (0, 0));
        let bytes = self.row_bytes(i);
        let base = self.rows.get(i).map_or(0, |s| s.start as usize);
        let mut r = Reader::new(bytes);
        for &c in &self.order {
            let from = r.pos();
            skip_cell(&mut r).map_err(|e| self.corrupt(i, c, e))?;
            if let Some(slot) = spans.get_mut(c) {
                *slot = (base + from, base + r.pos());
            }
        }
        Ok(())
    }

    pub(crate) fn bytes_at(&self, span: (usize, usize)) -> &[u8] {
        self.data.get(span.0..span.1).unwrap_or(&[])
    }

    pub(crate) fn cell_at(&self, span: (usize, usize)) -> Result<Cell, DiffError> {
        decode_cell(&mut Reader::new(self.bytes_at(span)))
            .map_err(|e| DiffError::BadSnapshot(format!("cell at byte {}: {}", span.0, e.0)))
    }

    fn corrupt(&self, row: usize, column: usize, e: codec::ReadError) -> DiffError {
        let name = self.columns.get(column).map_or("?", String::as_str);
        DiffError::BadSnapshot(format!("row {row}, column {name:?}: {}", e.0))
    }

    /// Row `i` with its cells in the snapshot's own column order.
    pub fn row(&self, i: usize) -> Result<Row, DiffError> {
        let mut cells = vec![Cell::Null; self.columns.len()];
        let mut r = Reader::new(self.row_bytes(i));
        for &c in &self.order {
            let cell = decode_cell(&mut r).map_err(|e| self.corrupt(i, c, e))?;
            if let Some(slot) = cells.get_mut(c) {
                *slot = cell;
            }
        }
        Ok(cells)
    }

    /// Every row in the order of the result it was taken from.
    pub fn rows(&self) -> impl Iterator<Item = Result<Row, DiffError>> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }

    /// Row `i` laid out for other columns: `mapping[c]` is the snapshot column that feeds
    /// column `c`, `None` gives `Cell::Null`.
    pub(crate) fn aligned_row(
        &self,
        i: usize,
        mapping: &[Option<usize>],
    ) -> Result<Row, DiffError> {
        let mut own = self.row(i)?;
        Ok(mapping
            .iter()
            .map(|m| {
                m.and_then(|j| own.get_mut(j))
                    .map_or(Cell::Null, |c| std::mem::replace(c, Cell::Null))
            })
            .collect())
    }

    /// Position of the row whose encoded key is `key`, in `table` (this snapshot's index).
    pub(crate) fn find_in(&self, table: &HashTable<u32>, key: &[u8]) -> Option<usize> {
        table
            .find(key_hash(key), |&j| self.key_bytes(j as usize) == key)
            .map(|&j| j as usize)
    }

    /// A hash index of the rows by key.
    pub fn index(&self) -> SnapshotIndex<'_> {
        let mut table = HashTable::with_capacity(self.len());
        for i in 0..self.len() {
            let hash = key_hash(self.key_bytes(i));
            table.insert_unique(hash, i as u32, |&j| key_hash(self.key_bytes(j as usize)));
        }
        SnapshotIndex {
            snapshot: self,
            table,
        }
    }

    /// Compact binary form for the KV store (possibly chunked by the caller).
    pub fn encode(&self) -> Vec<u8> {
        let mut meta = Vec::new();
        put_varint(&mut meta, self.columns.len() as u64);
        for name in &self.columns {
            put_varint(&mut meta, name.len() as u64);
            meta.extend_from_slice(name.as_bytes());
        }
        put_varint(&mut meta, self.key.len() as u64);
        for &k in &self.key {
            put_varint(&mut meta, k as u64);
        }
        put_varint(&mut meta, self.rows.len() as u64);
        // Compress both blocks straight into the output (no intermediate copies: at a
        // million rows the row block is ~100 MB).
        let max_meta = lz4_flex::block::get_maximum_output_size(meta.len());
        let max_data = lz4_flex::block::get_maximum_output_size(self.data.len());
        let mut out = vec![0u8; HEADER_LEN + max_meta + max_data];
        let (header, body) = out.split_at_mut(HEADER_LEN);
        let (meta_out, data_out) = body.split_at_mut(max_meta);
        // The outputs are sized by lz4_flex's own bound, so this cannot run out of room;
        // should it ever, the allocating path still writes a correct snapshot.
        let (Ok(meta_lz), Ok(data_lz)) = (
            lz4_flex::block::compress_into(&meta, meta_out),
            lz4_flex::block::compress_into(&self.data, data_out),
        ) else {
            return self.encode_with_copies(&meta);
        };
        header[..4].copy_from_slice(MAGIC);
        header[4] = SNAPSHOT_VERSION;
        header[5] = 0;
        let lengths = [meta.len(), meta_lz, self.data.len(), data_lz];
        for (n, len) in lengths.into_iter().enumerate() {
            let at = CHECKSUM_AT + 8 + n * 8;
            header[at..at + 8].copy_from_slice(&(len as u64).to_le_bytes());
        }
        // Close the gap between the two blocks, then drop the unused tail.
        out.copy_within(
            HEADER_LEN + max_meta..HEADER_LEN + max_meta + data_lz,
            HEADER_LEN + meta_lz,
        );
        out.truncate(HEADER_LEN + meta_lz + data_lz);
        out.shrink_to_fit();
        let sum = XxHash3_64::oneshot(&out[CHECKSUM_AT + 8..]);
        out[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
        out
    }

    fn encode_with_copies(&self, meta: &[u8]) -> Vec<u8> {
        let meta_lz = lz4_flex::block::compress(meta);
        let data_lz = lz4_flex::block::compress(&self.data);
        let mut out = Vec::with_capacity(HEADER_LEN + meta_lz.len() + data_lz.len());
        out.extend_from_slice(MAGIC);
        out.push(SNAPSHOT_VERSION);
        out.push(0);
        out.extend_from_slice(&[0; 8]);
        for len in [meta.len(), meta_lz.len(), self.data.len(), data_lz.len()] {
            out.extend_from_slice(&(len as u64).to_le_bytes());
        }
        out.extend_from_slice(&meta_lz);
        out.extend_from_slice(&data_lz);
        let sum = XxHash3_64::oneshot(&out[CHECKSUM_AT + 8..]);
        out[CHECKSUM_AT..CHECKSUM_AT + 8].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads bytes written by [`Snapshot::encode`], checking everything: any damage gives
    /// [`DiffError::BadSnapshot`], another format version
    /// [`DiffError::UnsupportedSnapshotVersion`].
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, DiffError> {
        let bad = |what: String| DiffError::BadSnapshot(what);
        if bytes.get(..4) != Some(MAGIC.as_slice()) {
            return Err(bad("not a Data Sync snapshot (wrong magic bytes)".into()));
        }
        match bytes.get(4) {
            None => return Err(bad("truncated header".into())),
            Some(&SNAPSHOT_VERSION) => {}
            Some(&found) => {
                return Err(DiffError::UnsupportedSnapshotVersion {
                    found,
                    supported: SNAPSHOT_VERSION,
                });
            }
        }
        let Some(header) = bytes.get(..HEADER_LEN) else {
            return Err(bad(format!(
                "truncated header ({} of {HEADER_LEN} bytes)",
                bytes.len()
            )));
        };
        let word = |at: usize| {
            let mut le = [0u8; 8];
            le.copy_from_slice(&header[at..at + 8]);
            u64::from_le_bytes(le)
        };
        if header[5] != 0 {
            return Err(bad(format!("unknown flags {:#x}", header[5])));
        }
        if word(CHECKSUM_AT) != XxHash3_64::oneshot(&bytes[CHECKSUM_AT + 8..]) {
            return Err(bad(format!(
                "checksum mismatch ({} bytes): truncated or damaged",
                bytes.len()
            )));
        }
        let (meta_len, meta_lz, data_len, data_lz) = (word(14), word(22), word(30), word(38));
        let body = &bytes[HEADER_LEN..];
        if meta_lz.checked_add(data_lz) != Some(body.len() as u64) {
            return Err(bad("block lengths do not match the size".into()));
        }
        let (meta_block, data_block) = body.split_at(meta_lz as usize);
        let meta = decompress(meta_block, meta_len, "meta")?;
        let data = decompress(data_block, data_len, "rows")?;
        if data.len() > u32::MAX as usize {
            return Err(DiffError::SnapshotTooLarge { bytes: data.len() });
        }
        let (columns, key, count) = read_meta(&meta).map_err(|e| bad(format!("meta: {}", e.0)))?;
        let order = storage_order(columns.len(), &key);
        let mut snapshot = Snapshot {
            columns,
            key,
            order,
            data,
            rows: Vec::new(),
        };
        snapshot.rows = snapshot.walk_rows(count)?;
        Ok(snapshot)
    }

    /// Finds and checks every row boundary of `data`.
    fn walk_rows(&self, count: usize) -> Result<Vec<Span>, DiffError> {
        if count > 0 && (self.columns.is_empty() || self.key.is_empty()) {
            return Err(DiffError::BadSnapshot("rows without columns or key".into()));
        }
        let mut r = Reader::new(&self.data);
        // Each row takes at least one byte, so this capacity is bounded by the data.
        let mut rows = Vec::with_capacity(count.min(self.data.len()));
        for i in 0..count {
            let start = r.pos();
            let mut key_end = start;
            for (n, &c) in self.order.iter().enumerate() {
                if n == self.key.len() {
                    key_end = r.pos();
                }
                skip_cell(&mut r).map_err(|e| self.corrupt(i, c, e))?;
            }
            if self.order.len() == self.key.len() {
                key_end = r.pos();
            }
            rows.push(Span {
                start: start as u32,
                key_end: key_end as u32,
            });
        }
        if r.remaining() != 0 {
            return Err(DiffError::BadSnapshot(format!(
                "{} unexpected bytes after {count} rows",
                r.remaining()
            )));
        }
        Ok(rows)
    }
}

fn span_key<'d>(data: &'d [u8], rows: &[Span], i: usize) -> &'d [u8] {
    rows.get(i)
        .and_then(|s| data.get(s.start as usize..s.key_end as usize))
        .unwrap_or(&[])
}

fn decompress(block: &[u8], len: u64, what: &str) -> Result<Vec<u8>, DiffError> {
    let bound = (block.len() as u64)
        .saturating_mul(LZ4_MAX_RATIO)
        .saturating_add(16);
    if len > bound || len > u32::MAX as u64 {
        return Err(DiffError::BadSnapshot(format!(
            "{what} block claims {len} bytes from {} compressed",
            block.len()
        )));
    }
    let mut out = vec![0u8; len as usize];
    match lz4_flex::block::decompress_into(block, &mut out) {
        Ok(n) if n as u64 == len => Ok(out),
        Ok(n) => Err(DiffError::BadSnapshot(format!(
            "{what} block holds {n} bytes, header says {len}"
        ))),
        Err(e) => Err(DiffError::BadSnapshot(format!("{what} block: {e}"))),
    }
}

type Meta = (Vec<String>, Vec<usize>, usize);

fn read_meta(meta: &[u8]) -> Result<Meta, codec::ReadError> {
    let err = |s: String| Err(codec::ReadError(s));
    let mut r = Reader::new(meta);
    let n = r.count()?;
    let mut columns = Vec::with_capacity(n);
    for _ in 0..n {
        columns.push(r.str_field()?.to_owned());
    }
    let k = r.count()?;
    let mut key = Vec::with_capacity(k);
    for _ in 0..k {
        let p = r.varint()?;
        match usize::try_from(p) {
            Ok(p) if p < columns.len() && !key.contains(&p) => key.push(p),
            _ => return err(format!("bad key column position {p}")),
        }
    }
    let count = r.varint()?;
    if r.remaining() != 0 {
        return err("trailing bytes".into());
    }
    match usize::try_from(count) {
        Ok(c) => Ok((columns, key, c)),
        Err(_) => err(format!("row count {count} too large")),
    }
}

/// Builds a [`Snapshot`] from rows as a source produces them: each row is encoded into the
/// snapshot's byte buffer as it arrives and then dropped, so a result is never held as
/// `Cell`s (at a million rows that is ~110 MB of bytes instead of ~1 GB of cells).
///
/// It is a [`RowSink`]: a missing key or watched column is refused at
/// [`RowSink::columns`], a duplicate key, a row of the wrong width or too-deep JSON at the
/// row that has it, so the source stops reading at once. The refusal is kept and
/// [`super::diff_built`] returns it as the [`DiffError`] it is.
#[derive(Debug, Default)]
pub struct SnapshotBuilder {
    key_names: Vec<String>,
    watched_names: Option<Vec<String>>,
    columns: Columns,
    pub(crate) watched: Option<Vec<usize>>,
    key: Vec<usize>,
    order: Vec<usize>,
    data: Vec<u8>,
    rows: Vec<Span>,
    /// Row numbers by key, to refuse duplicates while rows arrive.
    seen: HashTable<u32>,
    error: Option<DiffError>,
    /// `columns` was called (a result without it has no columns at all).
    started: bool,
}

impl SnapshotBuilder {
    /// A builder for the key and watched columns of `options`.
    pub fn new(options: &super::DiffOptions) -> Self {
        SnapshotBuilder {
            key_names: options.key.clone(),
            watched_names: options.watched.clone(),
            ..SnapshotBuilder::default()
        }
    }

    /// Rows accepted so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The result's columns (empty until the source sent them).
    pub fn result_columns(&self) -> &Columns {
        &self.columns
    }

    /// Why a row or the columns were refused, if they were.
    pub fn error(&self) -> Option<&DiffError> {
        self.error.as_ref()
    }

    fn refuse(&mut self, e: DiffError) -> String {
        let message = e.to_string();
        self.error = Some(e);
        message
    }

    fn start(&mut self, columns: Columns) -> Result<(), DiffError> {
        self.started = true;
        self.columns = columns;
        // No columns is an empty result whose columns are unknown (an HTTP JSON `[]`):
        // there is nothing to resolve the key in, and no row follows.
        if self.columns.is_empty() {
            return Ok(());
        }
        self.key = super::key::key_positions(&self.columns, &self.key_names)?;
        if let Some(w) = &self.watched_names {
            self.watched = Some(super::key::watched_positions(&self.columns, w)?);
        }
        self.order = storage_order(self.columns.len(), &self.key);
        Ok(())
    }

    /// Encodes one row (by reference: [`super::diff`] feeds a `RowSet` without copies).
    pub(crate) fn push(&mut self, row: &Row) -> Result<(), DiffError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !self.started {
            self.start(Columns::default())?;
        }
        let i = self.rows.len();
        if row.len() != self.columns.len() {
            return Err(DiffError::RowWidth {
                row: i,
                expected: self.columns.len(),
                found: row.len(),
            });
        }
        let start = self.data.len();
        let mut key_end = start;
        for (n, &c) in self.order.iter().enumerate() {
            if n == self.key.len() {
                key_end = self.data.len();
            }
            if let Some(cell) = row.get(c) {
                encode_cell(cell, &mut self.data).map_err(|_| DiffError::JsonTooDeep {
                    column: self.columns.get(c).cloned().unwrap_or_default(),
                    limit: codec::MAX_JSON_DEPTH,
                })?;
            }
        }
        if self.order.len() == self.key.len() {
            key_end = self.data.len();
        }
        let span = Span {
            start: offset(start)?,
            key_end: offset(key_end)?,
        };
        offset(self.data.len())?;
        let (data, rows) = (&self.data, &self.rows);
        let key_bytes = &data[start..key_end];
        let bytes_of = |j: &u32| span_key(data, rows, *j as usize);
        let entry = self.seen.entry(
            key_hash(key_bytes),
            |j| bytes_of(j) == key_bytes,
            |j| key_hash(bytes_of(j)),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(_) => {
                // Forget the half-written row: the builder stays consistent.
                self.data.truncate(start);
                return Err(DiffError::DuplicateKey {
                    key: display_key(&self.columns, &self.key, row),
                });
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(offset(i)?);
            }
        }
        self.rows.push(span);
        Ok(())
    }

    /// The snapshot of every row pushed and its key index (the duplicate check's table,
    /// reused by the diff instead of indexing the previous snapshot), or the first
    /// refusal. A source that never sent its columns gave an empty result without columns.
    pub(crate) fn finish(mut self) -> Result<(Snapshot, HashTable<u32>), DiffError> {
        if !self.started {
            self.start(Columns::default())?;
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        self.data.shrink_to_fit();
        self.rows.shrink_to_fit();
        let snapshot = Snapshot {
            columns: self.columns.to_vec(),
            key: self.key,
            order: self.order,
            data: self.data,
            rows: self.rows,
        };
        Ok((snapshot, self.seen))
    }
}

impl RowSink for SnapshotBuilder {
    fn columns(&mut self, columns: Columns) -> Result<(), String> {
        self.start(columns).map_err(|e| self.refuse(e))
    }

    fn row(&mut self, row: Row) -> Result<(), String> {
        self.push(&row).map_err(|e| self.refuse(e))
    }
}

/// Rows of a [`Snapshot`] by key, built by [`Snapshot::index`].
pub struct SnapshotIndex<'a> {
    snapshot: &'a Snapshot,
    table: HashTable<u32>,
}

impl SnapshotIndex<'_> {
    /// Position of the row whose encoded key is `key`.
    pub(crate) fn find(&self, key: &[u8]) -> Option<usize> {
        self.snapshot.find_in(&self.table, key)
    }

    /// The stored row (in the snapshot's column order) whose key cells, in key order, are
    /// `key`; `Ok(None)` if there is none.
    pub fn get(&self, key: &[Cell]) -> Result<Option<Row>, DiffError> {
        let mut bytes = Vec::new();
        for cell in key {
            encode_cell(cell, &mut bytes).map_err(|_| DiffError::JsonTooDeep {
                column: "key".into(),
                limit: codec::MAX_JSON_DEPTH,
            })?;
        }
        self.find(&bytes).map(|i| self.snapshot.row(i)).transpose()
    }
}
