//! One run of one sync, end to end.
//!
//! fetch → diff against the stored snapshot → user lookups (one batch) → render → resolve
//! routes (allow-list) → deliver → store the new snapshot → history. The snapshot is
//! written only after every message was delivered, so a failing source, bad data or a
//! Mattermost outage loses nothing: the next run sees the same changes again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::config::{AllowList, FirstRun, Mode, SyncPlan, Target};
use crate::diff::{self, Changes, DiffError, Snapshot, SnapshotBuilder};
use crate::mattermost::{LogLevel, NewPost, Port, PortError, User};
use crate::plan::{self, Input, Message, MessagePlan, ThreadRole};
use crate::render::{Context, RunInfo, UserCache};
use crate::row::{RowSet, RowSetBuilder, RowSink};
use crate::source::{self, Connection, Query, SourceError};

/// Largest value written to one KV key; bigger snapshots are chunked.
pub const SNAPSHOT_CHUNK_BYTES: usize = 512 * 1024;
/// History records kept per sync.
pub const HISTORY_LEN: usize = 50;

/// How rows are read (the real sources, or a stand-in in tests and benchmarks): the
/// columns and then each row are pushed into the sink as they are read, so changes mode
/// encodes rows straight into the new snapshot and never holds the result as cells.
pub type Fetch<'a> =
    &'a (dyn Fn(&Connection, &Query, &mut dyn RowSink) -> Result<(), SourceError> + Sync);

/// The real sources.
pub fn real_fetch(c: &Connection, q: &Query, sink: &mut dyn RowSink) -> Result<(), SourceError> {
    source::fetch_into(c, q, sink)
}

/// What a run needs from the outside world.
pub struct Engine<'a> {
    pub port: &'a dyn Port,
    pub clock: &'a dyn Clock,
    pub fetch: Fetch<'a>,
    pub allow: &'a AllowList,
}

/// One message as delivered (or, for previews, as it would be).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub message: Message,
    /// Resolved channel id (empty if routing failed).
    pub channel_id: String,
    pub post_id: Option<String>,
    /// The thread root it replied to.
    pub root_id: Option<String>,
}

/// The outcome of a run: the history record plus what was posted.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub record: HistoryRecord,
    pub delivered: Vec<Delivered>,
    pub plan: MessagePlan,
    /// The result's columns (empty if the source failed), for template checks.
    pub columns: Vec<String>,
}

/// One line of a sync's run history (stored as JSON in the KV store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub sync: String,
    pub started: DateTime<Utc>,
    pub duration_ms: u64,
    pub rows: usize,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub messages: usize,
    /// Messages the flood guard replaced with a summary.
    #[serde(default)]
    pub summarized: usize,
    /// This run recorded the baseline (first run) without posting.
    #[serde(default)]
    pub baseline: bool,
    pub ok: bool,
    pub errors: Vec<String>,
}

/// Whether the run may post and change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Post and store the snapshot and history.
    Deliver,
    /// Preview: plan and render only; nothing is posted or stored.
    Preview,
}

/// Runs one sync.
pub fn run_sync(engine: &Engine<'_>, sync: &SyncPlan, mode: RunMode) -> RunReport {
    let started = engine.clock.now();
    let mut record = HistoryRecord {
        sync: sync.name.clone(),
        started,
        duration_ms: 0,
        rows: 0,
        added: 0,
        changed: 0,
        removed: 0,
        messages: 0,
        summarized: 0,
        baseline: false,
        ok: false,
        errors: Vec::new(),
    };
    let mut report = RunReport {
        record: record.clone(),
        delivered: Vec::new(),
        plan: MessagePlan::default(),
        columns: Vec::new(),
    };
    let outcome = run_inner(engine, sync, mode, &mut record, &mut report);
    if let Err(e) = outcome {
        record.errors.insert(0, e);
    }
    record.ok = record.errors.is_empty();
    let elapsed = engine.clock.now() - started;
    record.duration_ms = elapsed.num_milliseconds().max(0) as u64;
    if mode == RunMode::Deliver {
        if let Err(e) = append_history(engine.port, &record) {
            record.errors.push(e.to_string());
        }
        if !record.ok {
            let msg = format!(
                "sync {:?} run failed: {}",
                sync.name,
                record.errors.join("; ")
            );
            engine.port.log(LogLevel::Warn, &msg);
        }
    }
    report.record = record;
    report
}

fn run_inner(
    engine: &Engine<'_>,
    sync: &SyncPlan,
    mode: RunMode,
    record: &mut HistoryRecord,
    report: &mut RunReport,
) -> Result<(), String> {
    let is_changes = matches!(sync.mode, Mode::Changes { .. });
    let mut rows = RowSet::default();
    let mut diffed: Option<(Changes, Snapshot)> = None;
    if is_changes {
        let Some(d) = fetch_and_diff(engine, sync, mode, record, report)? else {
            return Ok(());
        };
        diffed = Some(d);
    } else {
        let mut builder = RowSetBuilder::new();
        (engine.fetch)(&sync.connection, &sync.query, &mut builder).map_err(|e| e.to_string())?;
        rows = builder.finish();
        record.rows = rows.rows.len();
        report.columns = rows.columns.to_vec();
    }
    let input = match &diffed {
        Some((c, _)) => Input::Changes(c),
        None => Input::Rows(&rows),
    };
    let info = RunInfo {
        time: engine.clock.now(),
        added: record.added,
        changed: record.changed,
        removed: record.removed,
        total: record.rows,
    };
    let mut cx = Context::new(&sync.name, sync.mode.name(), &info, input.columns());
    let wanted = plan::collect_lookups(sync, input, &cx);
    cx.users = std::sync::Arc::new(lookup_users(engine.port, &wanted).map_err(|e| e.to_string())?);
    let plan = plan::build(sync, input, &cx);
    record.errors.extend(plan.errors.iter().cloned());
    record.summarized = plan.summarized.unwrap_or(0);
    let routes = resolve_targets(engine.port, engine.allow, &plan.messages);
    report.plan = plan.clone();
    let delivered = deliver(engine.port, sync, plan.messages, &routes, mode, record);
    report.delivered = delivered?;
    record.messages = report
        .delivered
        .iter()
        .filter(|d| d.post_id.is_some())
        .count();
    if let (RunMode::Deliver, Some((_, snapshot))) = (mode, &diffed) {
        store_snapshot(engine.port, &sync.name, snapshot).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Changes mode: streams the source into a [`SnapshotBuilder`], then diffs against the
/// stored snapshot. `None` when the run was a baseline and is complete (nothing to post).
fn fetch_and_diff(
    engine: &Engine<'_>,
    sync: &SyncPlan,
    mode: RunMode,
    record: &mut HistoryRecord,
    report: &mut RunReport,
) -> Result<Option<(Changes, Snapshot)>, String> {
    let mut builder = SnapshotBuilder::new(&sync.diff);
    let fetched = (engine.fetch)(&sync.connection, &sync.query, &mut builder);
    if let Err(e) = fetched {
        // A refusal by the builder reads like any diff error, whatever the source made of it.
        return Err(match builder.error() {
            Some(refusal) => diff_error(sync, refusal),
            None => e.to_string(),
        });
    }
    record.rows = builder.len();
    report.columns = builder.result_columns().to_vec();
    let (previous, damaged) = previous_snapshot(engine, sync, record)?;
    // After a damaged snapshot the run re-baselines even with `first_run = "post"`: the
    // rows are not new, and posting every one of them would flood the channel.
    let baseline = sync.first_run == FirstRun::Baseline || damaged;
    let options = diff::DiffOptions {
        // A baseline run posts nothing: don't decode every row just to list it.
        omit_first_run_rows: baseline,
        ..sync.diff.clone()
    };
    let (changes, snapshot) =
        diff::diff_built(previous.as_ref(), builder, &options).map_err(|e| diff_error(sync, &e))?;
    record.added = if changes.first_run && baseline {
        changes.total
    } else {
        changes.added.len()
    };
    record.changed = changes.changed.len();
    record.removed = changes.removed.len();
    if changes.first_run && baseline {
        record.baseline = true;
        if mode == RunMode::Deliver {
            store_snapshot(engine.port, &sync.name, &snapshot).map_err(|e| e.to_string())?;
        }
        return Ok(None);
    }
    Ok(Some((changes, snapshot)))
}

fn diff_error(sync: &SyncPlan, e: &DiffError) -> String {
    format!("sync {:?}: {e}", sync.name)
}

/// The stored snapshot, or None on a first run. A snapshot that cannot be decoded (damaged,
/// or written by a format this build does not read) must not fail the sync on every run
/// forever: it is logged, noted in the run's history, and the run records a new baseline.
/// A Mattermost error reading it still fails the run (the snapshot may be fine).
/// Returns the snapshot and whether one was stored but unreadable.
fn previous_snapshot(
    engine: &Engine<'_>,
    sync: &SyncPlan,
    record: &mut HistoryRecord,
) -> Result<(Option<Snapshot>, bool), String> {
    match read_snapshot(engine.port, &sync.name) {
        Ok(snapshot) => Ok((snapshot, false)),
        Err(LoadError::Port(e)) => Err(e),
        Err(LoadError::Unreadable(e)) => {
            let note = format!(
                "{e}; recording a new baseline (changes since the last run are not reported)"
            );
            engine.port.log(LogLevel::Warn, &note);
            record.errors.push(note);
            Ok((None, true))
        }
    }
}

/// Resolves e-mails and usernames in one call each.
pub fn lookup_users(port: &dyn Port, wanted: &BTreeSet<String>) -> Result<UserCache, PortError> {
    let mut cache = UserCache::default();
    if wanted.is_empty() {
        return Ok(cache);
    }
    let (emails, names): (Vec<String>, Vec<String>) =
        wanted.iter().cloned().partition(|w| w.contains('@'));
    if !emails.is_empty() {
        for u in port.users_by_emails(&emails)? {
            cache.insert(&u.email, &u.username);
        }
    }
    if !names.is_empty() {
        for u in port.users_by_usernames(&names)? {
            cache.insert(&u.username, &u.username);
        }
    }
    Ok(cache)
}

/// Each distinct target → a channel id, or why it cannot be posted to.
fn resolve_targets(
    port: &dyn Port,
    allow: &AllowList,
    messages: &[Message],
) -> HashMap<Target, Result<String, String>> {
    let targets: BTreeSet<&Target> = messages.iter().map(|m| &m.target).collect();
    let mut users: HashMap<String, User> = HashMap::new();
    let emails: Vec<String> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Email(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let names: Vec<String> = targets
        .iter()
        .filter_map(|t| match t {
            Target::Username(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    let mut lookup_error = None;
    if !emails.is_empty() {
        match port.users_by_emails(&emails) {
            Ok(found) => users.extend(found.into_iter().map(|u| (u.email.to_lowercase(), u))),
            Err(e) => lookup_error = Some(e.to_string()),
        }
    }
    if !names.is_empty() {
        match port.users_by_usernames(&names) {
            Ok(found) => users.extend(found.into_iter().map(|u| (u.username.to_lowercase(), u))),
            Err(e) => lookup_error = Some(e.to_string()),
        }
    }
    let mut out = HashMap::new();
    for t in targets {
        let r = resolve_one(port, allow, t, &users, lookup_error.as_deref());
        out.insert(t.clone(), r);
    }
    out
}

fn resolve_one(
    port: &dyn Port,
    allow: &AllowList,
    t: &Target,
    users: &HashMap<String, User>,
    lookup_error: Option<&str>,
) -> Result<String, String> {
    match t {
        Target::Email(key) | Target::Username(key) => {
            if !allow.direct_messages {
                return Err(format!(
                    "direct messages are not allowed (allow_direct_messages = false): {t}"
                ));
            }
            let user = users
                .get(&key.to_lowercase())
                .ok_or_else(|| match lookup_error {
                    Some(e) => format!("looking up {t}: {e}"),
                    None => format!("no Mattermost user {t}"),
                })?;
            port.direct_channel(&user.id).map_err(|e| e.to_string())
        }
        Target::ChannelId(id) => {
            let c = port
                .channel_by_id(id)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no channel with id {id}"))?;
            if !allow.allows_channel(&c.team, &c.name) {
                return Err(format!(
                    "channel {}/{} is not in allowed_channels",
                    c.team, c.name
                ));
            }
            Ok(c.id)
        }
        Target::TeamChannel { team, channel } => {
            if !allow.allows_channel(team, channel) {
                return Err(format!("channel {t} is not in allowed_channels"));
            }
            port.channel_by_name(team, channel)
                .map_err(|e| e.to_string())?
                .map(|c| c.id)
                .ok_or_else(|| {
                    format!(
                        "no channel {t} (is the team/channel name right, and is the bot a member?)"
                    )
                })
        }
    }
}

/// Posts the messages in order. A Mattermost failure stops delivery and fails the run (so
/// the snapshot is not stored); a routing problem only skips that message.
fn deliver(
    port: &dyn Port,
    sync: &SyncPlan,
    messages: Vec<Message>,
    routes: &HashMap<Target, Result<String, String>>,
    mode: RunMode,
    record: &mut HistoryRecord,
) -> Result<Vec<Delivered>, String> {
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        let channel_id = match routes.get(&m.target) {
            Some(Ok(id)) => id.clone(),
            Some(Err(e)) => {
                let row = m
                    .row_key
                    .as_deref()
                    .map(|k| format!(", row {k}"))
                    .unwrap_or_default();
                record
                    .errors
                    .push(format!("sync {:?}{row}: {e}; not posted", sync.name));
                continue;
            }
            None => continue,
        };
        let root_id = match &m.thread {
            Some(t) if t.role == ThreadRole::Reply => thread_root(port, &t.key)
                .map_err(|e| e.to_string())?
                .and_then(|(post, ch)| (ch == channel_id).then_some(post)),
            _ => None,
        };
        if mode == RunMode::Preview {
            out.push(Delivered {
                message: m,
                channel_id,
                post_id: None,
                root_id,
            });
            continue;
        }
        let mut file_ids = Vec::new();
        if let Some(f) = &m.file {
            let id = port
                .upload_file(&channel_id, &f.name, &f.bytes)
                .map_err(|e| format!("sync {:?}: {e}", sync.name))?;
            file_ids.push(id);
        }
        let post = NewPost {
            channel_id: channel_id.clone(),
            message: m.message.clone(),
            props: m.props.clone(),
            root_id: root_id.clone(),
            file_ids,
        };
        let post_id = port
            .create_post(&post)
            .map_err(|e| format!("sync {:?}: {e}", sync.name))?;
        if let (Some(root), Some((text, props))) = (&root_id, &m.edit_root) {
            port.update_post(root, text, props)
                .map_err(|e| format!("sync {:?}: {e}", sync.name))?;
        }
        if let Some(t) = &m.thread
            && t.role == ThreadRole::Root
        {
            remember_thread(port, &t.key, &post_id, &channel_id).map_err(|e| e.to_string())?;
        }
        out.push(Delivered {
            message: m,
            channel_id,
            post_id: Some(post_id),
            root_id,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// KV layout.

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

fn sync_key(sync: &str) -> String {
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

#[derive(Debug, Serialize, Deserialize)]
struct SnapshotMeta {
    generation: u64,
    chunks: usize,
    bytes: usize,
}

fn meta_key(sync: &str) -> String {
    format!("ds:snap:{}", sync_key(sync))
}

fn chunk_key(sync: &str, generation: u64, i: usize) -> String {
    format!("ds:snap:{}:{generation}:{i}", sync_key(sync))
}

/// Reads the stored snapshot (None before the first successful run).
pub fn load_snapshot(port: &dyn Port, sync: &str) -> Result<Option<Snapshot>, String> {
    read_snapshot(port, sync).map_err(|e| match e {
        LoadError::Port(e) | LoadError::Unreadable(e) => e,
    })
}

/// Why a stored snapshot could not be loaded.
enum LoadError {
    /// Mattermost's KV store failed: maybe temporary, the snapshot may be fine.
    Port(String),
    /// The stored bytes are damaged, incomplete or of an unsupported format version.
    Unreadable(String),
}

fn read_snapshot(port: &dyn Port, sync: &str) -> Result<Option<Snapshot>, LoadError> {
    let kv = |key: &str| port.kv_get(key).map_err(|e| LoadError::Port(e.to_string()));
    let Some(meta) = kv(&meta_key(sync))? else {
        return Ok(None);
    };
    let unreadable = |what: String| LoadError::Unreadable(format!("sync {sync:?}: {what}"));
    let meta: SnapshotMeta = serde_json::from_slice(&meta)
        .map_err(|e| unreadable(format!("stored snapshot index is unreadable: {e}")))?;
    let mut bytes = Vec::with_capacity(meta.bytes.min(1 << 30));
    for i in 0..meta.chunks {
        let chunk = kv(&chunk_key(sync, meta.generation, i))?
            .ok_or_else(|| unreadable(format!("snapshot chunk {i} is missing")))?;
        bytes.extend_from_slice(&chunk);
    }
    if bytes.len() != meta.bytes {
        return Err(unreadable(format!(
            "stored snapshot has {} bytes, expected {}",
            bytes.len(),
            meta.bytes
        )));
    }
    Snapshot::decode(&bytes)
        .map(Some)
        .map_err(|e| unreadable(e.to_string()))
}

/// Writes the chunks of a new generation, then switches the index to it (the commit
/// point), then deletes the old generation's chunks.
pub fn store_snapshot(port: &dyn Port, sync: &str, snapshot: &Snapshot) -> Result<(), PortError> {
    let bytes = snapshot.encode();
    let old: Option<SnapshotMeta> = port
        .kv_get(&meta_key(sync))?
        .and_then(|m| serde_json::from_slice(&m).ok());
    let generation = old.as_ref().map_or(1, |m| m.generation + 1);
    let chunks: Vec<&[u8]> = if bytes.is_empty() {
        Vec::new()
    } else {
        bytes.chunks(SNAPSHOT_CHUNK_BYTES).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        port.kv_set(&chunk_key(sync, generation, i), c)?;
    }
    let meta = SnapshotMeta {
        generation,
        chunks: chunks.len(),
        bytes: bytes.len(),
    };
    let meta = serde_json::to_vec(&meta).map_err(|e| PortError::new("KVSet", e.to_string()))?;
    port.kv_set(&meta_key(sync), &meta)?;
    if let Some(old) = old {
        for i in 0..old.chunks {
            port.kv_delete(&chunk_key(sync, old.generation, i))?;
        }
    }
    Ok(())
}

/// Forgets a sync's snapshot (`/datasync reset`): the next run is a first run again.
pub fn reset_snapshot(port: &dyn Port, sync: &str) -> Result<(), PortError> {
    if let Some(meta) = port.kv_get(&meta_key(sync))?
        && let Ok(meta) = serde_json::from_slice::<SnapshotMeta>(&meta)
    {
        for i in 0..meta.chunks {
            port.kv_delete(&chunk_key(sync, meta.generation, i))?;
        }
    }
    port.kv_delete(&meta_key(sync))
}

fn thread_key(key: &str) -> String {
    format!("ds:thread:{}", stable_hash(key))
}

fn remember_thread(
    port: &dyn Port,
    key: &str,
    post_id: &str,
    channel_id: &str,
) -> Result<(), PortError> {
    let v = serde_json::json!({"post": post_id, "channel": channel_id}).to_string();
    port.kv_set(&thread_key(key), v.as_bytes())
}

/// The root post (and its channel) of a row's thread.
fn thread_root(port: &dyn Port, key: &str) -> Result<Option<(String, String)>, PortError> {
    let Some(v) = port.kv_get(&thread_key(key))? else {
        return Ok(None);
    };
    let v: serde_json::Value = serde_json::from_slice(&v).unwrap_or_default();
    Ok(match (v["post"].as_str(), v["channel"].as_str()) {
        (Some(p), Some(c)) => Some((p.to_string(), c.to_string())),
        _ => None,
    })
}

fn history_key(sync: &str) -> String {
    format!("ds:history:{}", sync_key(sync))
}

/// A sync's recent runs, oldest first.
pub fn history(port: &dyn Port, sync: &str) -> Result<Vec<HistoryRecord>, PortError> {
    Ok(port
        .kv_get(&history_key(sync))?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default())
}

fn append_history(port: &dyn Port, record: &HistoryRecord) -> Result<(), PortError> {
    let mut all = history(port, &record.sync)?;
    all.push(record.clone());
    let skip = all.len().saturating_sub(HISTORY_LEN);
    let all: Vec<_> = all.into_iter().skip(skip).collect();
    let v = serde_json::to_vec(&all).map_err(|e| PortError::new("KVSet", e.to_string()))?;
    port.kv_set(&history_key(&record.sync), &v)
}

/// Runs several syncs one after another (dry run, demo).
pub fn run_all<'s>(
    engine: &Engine<'_>,
    syncs: impl IntoIterator<Item = &'s SyncPlan>,
    mode: RunMode,
) -> BTreeMap<String, RunReport> {
    syncs
        .into_iter()
        .map(|s| (s.name.clone(), run_sync(engine, s, mode)))
        .collect()
}
