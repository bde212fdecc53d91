//! Every piece of state a sync keeps, and its layout in the plugin KV store.
//!
//! All keys are built here and carry a format version (`ds1:`), so a later build can read
//! or migrate what an older one wrote. Per sync (`<s>` is the sync's key, see [`sync_key`]):
//!
//! | key | value |
//! |---|---|
//! | `ds1:<s>:meta` | [`Meta`] (JSON): generation, snapshot and outbox chunk counts, the delivery cursor, what produced the snapshot; replaced only by compare-and-set, the commit point |
//! | `ds1:<s>:snap:<gen>:<i>` | chunk `i` of snapshot generation `gen` |
//! | `ds1:<s>:out:<gen>:<i>` | chunk `i` of the outbox committed with generation `gen` |
//! | `ds1:<s>:thread:<hash>` | a row's thread root: post and channel id |
//! | `ds1:<s>:history` | the last [`HISTORY_LEN`] runs |
//! | `ds1:<s>:lock` | the cluster lock and the last scheduled start ([`crate::scheduler`]) |
//! | `ds1:<s>:health` | failing since when, for notices once per state change ([`crate::notify`]) |
//!
//! Two keys belong to no sync: `ds1::config-notice` (the last invalid configuration
//! announced, [`crate::notify`]) and `ds1::paused` (every paused sync, [`crate::pause`]).
//!
//! Chunks are written before the meta that points at them, and old generations are deleted
//! after it moved on, so a crash at any point leaves either the old state or the new one.
//! A value that cannot be read is a [`StateError::Damaged`], never silently "absent".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diff::Snapshot;
use crate::port::{Kv, PortError};

/// Largest value written to one KV key; bigger snapshots and outboxes are chunked.
pub const CHUNK_BYTES: usize = 512 * 1024;
/// History records kept per sync.
pub const HISTORY_LEN: usize = 50;
/// The format version in every key.
const PREFIX: &str = "ds1";

/// Why state could not be read or written.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum StateError {
    /// Mattermost's KV store failed: maybe temporary, the stored value may be fine.
    #[error("{0}")]
    Port(#[from] PortError),
    /// A stored value is damaged, incomplete or of a format this build does not read.
    #[error("sync {sync:?}: stored {what} is unreadable: {reason}")]
    Damaged {
        sync: String,
        what: &'static str,
        reason: String,
    },
    /// Another run (another node, or a run this one raced) committed first.
    #[error("sync {sync:?}: the state was changed by another run; this run's result was discarded")]
    Conflict { sync: String },
}

/// Stable 128-bit FNV-1a, hex: KV keys are limited to 150 characters and must not change
/// between Rust versions (std's hasher may).
pub fn stable_hash(s: &str) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for byte in s.bytes() {
        a = (a ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        b = (b ^ u64::from(byte))
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(5);
    }
    format!("{a:016x}{b:016x}")
}

/// The sync's name if it is short and plain, else its hash: keys stay under 150 characters.
pub fn sync_key(sync: &str) -> String {
    if sync.len() <= 64
        && sync
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        sync.to_string()
    } else {
        stable_hash(sync)
    }
}

fn sync_prefix(sync: &str) -> String {
    format!("{PREFIX}:{}:", sync_key(sync))
}

fn meta_key(sync: &str) -> String {
    format!("{}meta", sync_prefix(sync))
}

fn chunk_key(sync: &str, what: &str, generation: u64, i: usize) -> String {
    format!("{}{what}:{generation}:{i}", sync_prefix(sync))
}

fn thread_key(sync: &str, row_key: &str) -> String {
    format!("{}thread:{}", sync_prefix(sync), stable_hash(row_key))
}

fn history_key(sync: &str) -> String {
    format!("{}history", sync_prefix(sync))
}

pub(crate) fn lock_key(sync: &str) -> String {
    format!("{}lock", sync_prefix(sync))
}

/// Not a sync's key: no sync name is empty.
pub(crate) fn config_notice_key() -> String {
    format!("{PREFIX}::config-notice")
}

/// Every paused sync ([`crate::pause`]); not a sync's key either.
pub(crate) fn paused_key() -> String {
    format!("{PREFIX}::paused")
}

/// A sync's snoozed rows ([`crate::snooze`]); under the sync's prefix, so a reset forgets
/// them.
pub(crate) fn snooze_key(sync: &str) -> String {
    format!("{}snooze", sync_prefix(sync))
}

pub(crate) fn health_key(sync: &str) -> String {
    format!("{}health", sync_prefix(sync))
}

/// Where a run's messages stand: committed with a generation, delivered up to `cursor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMeta {
    /// Chunks under `out:<generation>`.
    pub chunks: usize,
    pub bytes: usize,
    /// Entries in the outbox.
    pub len: usize,
    /// Index of the next entry to deliver.
    pub cursor: usize,
    /// When it was committed (reconciliation reads posts from then on).
    pub created: DateTime<Utc>,
}

/// A sync's index record: the commit point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub generation: u64,
    /// Chunks under `snap:<generation>`.
    pub chunks: usize,
    pub bytes: usize,
    /// What produced the snapshot ([`crate::run::source_fingerprint`]); a
    /// snapshot of other data is not diffed against.
    pub source: String,
    /// The messages of the committed run, until every one is delivered.
    pub outbox: Option<OutboxMeta>,
}

/// The meta as stored: the parsed value, and the exact bytes for compare-and-set.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub meta: Meta,
    raw: Vec<u8>,
}

/// A stored value of `what` that cannot be read (or, for our own values, written).
pub(crate) fn damaged(sync: &str, what: &'static str, reason: impl ToString) -> StateError {
    StateError::Damaged {
        sync: sync.to_string(),
        what,
        reason: reason.to_string(),
    }
}

/// The sync's meta (None before its first commit).
pub fn load_meta(kv: &dyn Kv, sync: &str) -> Result<Option<Stored>, StateError> {
    let Some(raw) = kv.kv_get(&meta_key(sync))? else {
        return Ok(None);
    };
    let meta = serde_json::from_slice(&raw).map_err(|e| damaged(sync, "state index", e))?;
    Ok(Some(Stored { meta, raw }))
}

/// Reads `chunks` values under `what:<generation>` and checks their total size.
fn read_chunks(
    kv: &dyn Kv,
    sync: &str,
    what: &'static str,
    generation: u64,
    chunks: usize,
    bytes: usize,
) -> Result<Vec<u8>, StateError> {
    let mut out = Vec::with_capacity(bytes.min(1 << 30));
    for i in 0..chunks {
        let chunk = kv
            .kv_get(&chunk_key(sync, what, generation, i))?
            .ok_or_else(|| damaged(sync, what, format!("chunk {i} is missing")))?;
        out.extend_from_slice(&chunk);
    }
    if out.len() != bytes {
        return Err(damaged(
            sync,
            what,
            format!("{} bytes, expected {bytes}", out.len()),
        ));
    }
    Ok(out)
}

fn write_chunks(
    kv: &dyn Kv,
    sync: &str,
    what: &str,
    generation: u64,
    bytes: &[u8],
) -> Result<usize, StateError> {
    let mut n = 0;
    for (i, c) in bytes.chunks(CHUNK_BYTES).enumerate() {
        kv.kv_set(&chunk_key(sync, what, generation, i), c)?;
        n = i + 1;
    }
    Ok(n)
}

fn delete_chunks(
    kv: &dyn Kv,
    sync: &str,
    what: &str,
    generation: u64,
    chunks: usize,
) -> Result<(), StateError> {
    for i in 0..chunks {
        kv.kv_delete(&chunk_key(sync, what, generation, i))?;
    }
    Ok(())
}

/// The snapshot the meta points at.
pub fn read_snapshot(kv: &dyn Kv, sync: &str, meta: &Meta) -> Result<Snapshot, StateError> {
    let bytes = read_chunks(kv, sync, "snap", meta.generation, meta.chunks, meta.bytes)?;
    Snapshot::decode(&bytes).map_err(|e| damaged(sync, "snap", e))
}

/// The committed outbox's bytes.
pub fn read_outbox(kv: &dyn Kv, sync: &str, meta: &Meta) -> Result<Vec<u8>, StateError> {
    match &meta.outbox {
        None => Ok(Vec::new()),
        Some(o) => read_chunks(kv, sync, "out", meta.generation, o.chunks, o.bytes),
    }
}

/// What one run commits.
pub struct Commit<'a> {
    /// Changes mode's new snapshot (other modes keep none).
    pub snapshot: Option<&'a Snapshot>,
    pub source: &'a str,
    /// The encoded outbox (empty: nothing to deliver).
    pub outbox: &'a [u8],
    pub outbox_len: usize,
    pub now: DateTime<Utc>,
}

/// Writes the new generation's chunks, then switches the meta to it by compare-and-set
/// (the commit point), then deletes the old generation. Fails with
/// [`StateError::Conflict`] if the meta is no longer `old`.
pub fn commit(
    kv: &dyn Kv,
    sync: &str,
    old: Option<&Stored>,
    c: &Commit<'_>,
) -> Result<Stored, StateError> {
    let generation = old.map_or(1, |o| o.meta.generation + 1);
    let snap = c.snapshot.map(Snapshot::encode).unwrap_or_default();
    let chunks = write_chunks(kv, sync, "snap", generation, &snap)?;
    let outbox = if c.outbox_len == 0 {
        None
    } else {
        Some(OutboxMeta {
            chunks: write_chunks(kv, sync, "out", generation, c.outbox)?,
            bytes: c.outbox.len(),
            len: c.outbox_len,
            cursor: 0,
            created: c.now,
        })
    };
    let meta = Meta {
        generation,
        chunks,
        bytes: snap.len(),
        source: c.source.to_string(),
        outbox,
    };
    let new = replace_meta(kv, sync, old, meta)?;
    if let Some(old) = old {
        delete_generation(kv, sync, &old.meta)?;
    }
    Ok(new)
}

fn delete_generation(kv: &dyn Kv, sync: &str, meta: &Meta) -> Result<(), StateError> {
    delete_chunks(kv, sync, "snap", meta.generation, meta.chunks)?;
    if let Some(o) = &meta.outbox {
        delete_chunks(kv, sync, "out", meta.generation, o.chunks)?;
    }
    Ok(())
}

/// The JSON value under `key` (`None` if absent); one that does not parse is damage.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(
    kv: &dyn Kv,
    sync: &str,
    (key, what): (&str, &'static str),
) -> Result<Option<T>, StateError> {
    match kv.kv_get(key)? {
        None => Ok(None),
        Some(raw) => serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| damaged(sync, what, e)),
    }
}

/// Compare-and-set of a JSON value under `key`: the new bytes, or `None` if the stored
/// value is no longer `old`.
pub(crate) fn swap_json<T: Serialize>(
    kv: &dyn Kv,
    sync: &str,
    (key, what): (&str, &'static str),
    old: Option<&[u8]>,
    value: &T,
) -> Result<Option<Vec<u8>>, StateError> {
    let raw = serde_json::to_vec(value).map_err(|e| damaged(sync, what, e))?;
    let swapped = kv.kv_compare_and_set(key, old, &raw)?;
    Ok(swapped.then_some(raw))
}

/// How often [`update_json`] retries when another node changed the value meanwhile.
const UPDATE_ATTEMPTS: usize = 10;

/// Read-modify-write of a small JSON value shared by every node (compare-and-set, retried
/// when another node wrote first). `change` edits the value and says whether it changed
/// anything; returns that. A damaged value starts over from the default: a list of
/// paused syncs or snoozed rows must not stay stuck for good.
pub(crate) fn update_json<T>(
    kv: &dyn Kv,
    sync: &str,
    (key, what): (&str, &'static str),
    mut change: impl FnMut(&mut T) -> bool,
) -> Result<bool, StateError>
where
    T: Serialize + for<'de> Deserialize<'de> + Default,
{
    for _ in 0..UPDATE_ATTEMPTS {
        let raw = kv.kv_get(key)?;
        let mut value: T = raw
            .as_deref()
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .unwrap_or_default();
        if !change(&mut value) {
            return Ok(false);
        }
        if swap_json(kv, sync, (key, what), raw.as_deref(), &value)?.is_some() {
            return Ok(true);
        }
    }
    Err(StateError::Conflict {
        sync: sync.to_owned(),
    })
}

/// Compare-and-set of the meta: the only way it changes.
fn replace_meta(
    kv: &dyn Kv,
    sync: &str,
    old: Option<&Stored>,
    meta: Meta,
) -> Result<Stored, StateError> {
    let key = meta_key(sync);
    let old = old.map(|o| o.raw.as_slice());
    match swap_json(kv, sync, (&key, "state index"), old, &meta)? {
        Some(raw) => Ok(Stored { meta, raw }),
        None => Err(StateError::Conflict {
            sync: sync.to_string(),
        }),
    }
}

/// Moves the delivery cursor (one KV write per delivered message; the compare-and-set also
/// fences a run that lost its place). At the end the outbox is dropped.
pub fn advance_cursor(
    kv: &dyn Kv,
    sync: &str,
    stored: &Stored,
    cursor: usize,
) -> Result<Stored, StateError> {
    let mut meta = stored.meta.clone();
    let Some(o) = meta.outbox.as_mut() else {
        return Ok(stored.clone());
    };
    if cursor < o.len {
        o.cursor = cursor;
        return replace_meta(kv, sync, Some(stored), meta);
    }
    let chunks = o.chunks;
    meta.outbox = None;
    let new = replace_meta(kv, sync, Some(stored), meta)?;
    delete_chunks(kv, sync, "out", new.meta.generation, chunks)?;
    Ok(new)
}

/// Forgets everything a sync stored (`/datasync reset`): snapshot, outbox, threads,
/// history, health. The next run is a first run again.
pub fn reset(kv: &dyn Kv, sync: &str) -> Result<(), StateError> {
    let prefix = sync_prefix(sync);
    // The lock stays: it belongs to whoever runs the sync, not to its data.
    let lock = lock_key(sync);
    let keys = kv.kv_list(&prefix)?;
    // The meta goes first: without it, leftover chunks are unreachable, never half-read.
    kv.kv_delete(&meta_key(sync))?;
    for key in keys.into_iter().filter(|k| *k != lock) {
        kv.kv_delete(&key)?;
    }
    Ok(())
}

/// Forgets every thread of a sync (its rows are no longer the same rows).
pub fn forget_threads(kv: &dyn Kv, sync: &str) -> Result<(), StateError> {
    for key in kv.kv_list(&format!("{}thread:", sync_prefix(sync)))? {
        kv.kv_delete(&key)?;
    }
    Ok(())
}

/// A row's thread: the root post and its channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadRoot {
    pub post: String,
    pub channel: String,
}

pub fn thread_root(
    kv: &dyn Kv,
    sync: &str,
    row_key: &str,
) -> Result<Option<ThreadRoot>, StateError> {
    read_json(kv, sync, (&thread_key(sync, row_key), "thread"))
}

pub fn remember_thread(
    kv: &dyn Kv,
    sync: &str,
    row_key: &str,
    root: &ThreadRoot,
) -> Result<(), StateError> {
    let v = serde_json::to_vec(root).map_err(|e| damaged(sync, "thread", e))?;
    Ok(kv.kv_set(&thread_key(sync, row_key), &v)?)
}

/// Deletes a row's thread (the row was removed: a later row with the same key starts anew).
pub fn forget_thread(kv: &dyn Kv, sync: &str, row_key: &str) -> Result<(), StateError> {
    Ok(kv.kv_delete(&thread_key(sync, row_key))?)
}

/// A sync's recent runs, oldest first.
pub fn history<T: for<'de> Deserialize<'de>>(
    kv: &dyn Kv,
    sync: &str,
) -> Result<Vec<T>, StateError> {
    read_json(kv, sync, (&history_key(sync), "history")).map(Option::unwrap_or_default)
}

/// Appends a record, keeping the last [`HISTORY_LEN`]. Damaged history is replaced (and the
/// caller told), so one bad value cannot stop every later run from recording.
pub fn append_history<T: Serialize + for<'de> Deserialize<'de>>(
    kv: &dyn Kv,
    sync: &str,
    record: &T,
) -> Result<Option<StateError>, StateError> {
    let (mut all, damage): (Vec<serde_json::Value>, _) = match history(kv, sync) {
        Ok(all) => (all, None),
        Err(e @ StateError::Damaged { .. }) => (Vec::new(), Some(e)),
        Err(e) => return Err(e),
    };
    all.push(serde_json::to_value(record).map_err(|e| damaged(sync, "history", e))?);
    let skip = all.len().saturating_sub(HISTORY_LEN);
    let v = serde_json::to_vec(&all[skip..]).map_err(|e| damaged(sync, "history", e))?;
    kv.kv_set(&history_key(sync), &v)?;
    Ok(damage)
}
