//! One run of one sync, end to end.
//!
//! finish an earlier run's outbox → fetch → diff against the stored snapshot → user
//! look-ups (one batch) → plan (render) → resolve routes (allow-list) → **commit** the new
//! snapshot together with the outbox → deliver the outbox → history.
//!
//! Nothing is posted before the commit point, so a failing source, bad data or a
//! Mattermost outage before it loses nothing: the next run sees the same changes again.
//! After it the outbox ([`crate::outbox`]) delivers each message once, across failures and
//! restarts. A row whose message cannot be made (template or routing error) is held back
//! in the snapshot as it was, so it is reported and retried by every run until it works.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::config::{AllowList, EmptyResult, FirstRun, Mode, SyncConfig, Target};
use crate::diff::{self, Changes, DiffError, HeldRow, Snapshot, SnapshotBuilder};
use crate::outbox::{self, Entry, FileBody, PostBody, ThreadStep};
use crate::plan::{self, Input, Message, MessagePlan, ThreadRole};
use crate::port::{Kv, LogLevel, Port};
use crate::render::{Context, RunInfo};
use crate::route::{self, RouteError};
use crate::row::{RowSet, RowSetBuilder, RowSink};
use crate::snooze;
use crate::source::{self, Connection, Query, SourceError};
use crate::state::{self, StateError};
use crate::transform::{self, TransformSink, wasm::WasmTransform};

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
    /// Asked before each message (pacing, stop); [`crate::gate::Open`] for none.
    pub gate: &'a dyn crate::gate::Gate,
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
    /// The result's columns (empty if the source failed), for template checks.
    pub columns: Vec<String>,
    /// Why the run stopped before its commit point, if it did.
    pub failure: Option<RunError>,
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
    /// Messages not posted because they rendered empty.
    #[serde(default)]
    pub skipped: usize,
    /// This run recorded the baseline (first run) without posting.
    #[serde(default)]
    pub baseline: bool,
    pub ok: bool,
    /// What an admin should know that is not an error (a new baseline and why, messages
    /// delivered for an earlier run).
    #[serde(default)]
    pub notes: Vec<String>,
    pub errors: Vec<String>,
}

impl HistoryRecord {
    /// Nothing posted, nothing to say (a resume that found the outbox delivered).
    pub fn did_nothing(&self) -> bool {
        self.messages == 0 && self.errors.is_empty() && self.notes.is_empty()
    }
}

/// Why a run stopped before its commit point: nothing was posted and nothing stored, so
/// the next run meets the same situation again. Messages name the sync and never a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The source could not be read (connection, query, limits).
    #[error("{0}")]
    Source(String),
    /// The source's rows were refused (a missing or duplicate key, a bad snapshot).
    #[error("{0}")]
    Data(String),
    /// Mattermost's user directory failed (a transient outage).
    #[error("{0}")]
    Directory(String),
    /// The KV store failed, or another run committed first.
    #[error("{0}")]
    State(String),
    /// A guard refused the run (the flood guard, `empty_result = "fail"`).
    #[error("{0}")]
    Refused(String),
    /// An earlier run's messages are not all delivered yet.
    #[error("{0}")]
    Pending(String),
    /// The runtime stopped delivery (the plugin is stopping, the lease was lost): not a
    /// failure of the sync; its outbox is delivered by the next run.
    #[error("{0}")]
    Paused(String),
}

impl RunError {
    /// The stage, for status output and notices.
    pub fn stage(&self) -> &'static str {
        match self {
            RunError::Source(_) => "source",
            RunError::Data(_) => "data",
            RunError::Directory(_) => "directory",
            RunError::State(_) => "state",
            RunError::Refused(_) => "guard",
            RunError::Pending(_) | RunError::Paused(_) => "delivery",
        }
    }
}

impl From<StateError> for RunError {
    fn from(e: StateError) -> Self {
        RunError::State(e.to_string())
    }
}

/// Whether the run may post and change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Post and store the snapshot and history.
    Deliver,
    /// Preview: plan and render only; nothing is posted or stored.
    Preview,
    /// Only deliver what an earlier run left in the outbox (a holder died or was stopped
    /// mid-delivery); the source is not read. Recorded in the history only if it did
    /// something.
    Resume,
}

/// Runs one sync.
pub fn run_sync(engine: &Engine<'_>, sync: &SyncConfig, mode: RunMode) -> RunReport {
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
        skipped: 0,
        baseline: false,
        ok: false,
        notes: Vec::new(),
        errors: Vec::new(),
    };
    let mut report = RunReport {
        record: record.clone(),
        delivered: Vec::new(),
        columns: Vec::new(),
        failure: None,
    };
    let outcome = run_inner(engine, sync, mode, &mut record, &mut report);
    match outcome {
        Ok(()) => {}
        Err(e @ RunError::Paused(_)) => {
            record.notes.push(e.to_string());
            report.failure = Some(e);
        }
        Err(e) => {
            record.errors.insert(0, e.to_string());
            report.failure = Some(e);
        }
    }
    record.ok = record.errors.is_empty();
    let elapsed = engine.clock.now() - started;
    record.duration_ms = elapsed.num_milliseconds().max(0) as u64;
    if mode == RunMode::Deliver || (mode == RunMode::Resume && !record.did_nothing()) {
        match state::append_history(engine.port, &sync.name, &record) {
            Ok(None) => {}
            Ok(Some(damage)) => engine.port.log(
                LogLevel::Warn,
                &format!("{damage}; the history was started anew"),
            ),
            Err(e) => record.errors.push(e.to_string()),
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

/// Whether the sync's outbox still holds undelivered messages (the lease is released as
/// unfinished then, so the next claim resumes it). A damaged meta counts as pending: the
/// next run reports and clears it.
pub fn outbox_pending(kv: &dyn Kv, sync: &str) -> Result<bool, StateError> {
    match state::load_meta(kv, sync) {
        Ok(stored) => Ok(stored
            .and_then(|s| s.meta.outbox)
            .is_some_and(|o| o.cursor < o.len)),
        Err(StateError::Damaged { .. }) => Ok(true),
        Err(e) => Err(e),
    }
}

/// What the fetch produced: the diff (changes mode) or every row.
enum Fetched {
    Changes(Box<(Changes, Snapshot)>),
    Rows(RowSet),
}

fn run_inner(
    engine: &Engine<'_>,
    sync: &SyncConfig,
    mode: RunMode,
    record: &mut HistoryRecord,
    report: &mut RunReport,
) -> Result<(), RunError> {
    let stored = load_state(engine, sync, mode, record)?;
    let stored = match mode {
        RunMode::Deliver | RunMode::Resume => finish_outbox(engine, sync, stored, record)?,
        RunMode::Preview => stored,
    };
    if mode == RunMode::Resume {
        return Ok(());
    }
    let fetched = if matches!(sync.mode, Mode::Changes { .. }) {
        match fetch_and_diff(engine, sync, stored.as_ref(), mode, record, report)? {
            Some(d) => Fetched::Changes(Box::new(d)),
            None => return Ok(()),
        }
    } else {
        let mut builder = RowSetBuilder::new();
        fetch(engine, sync, &mut builder)?;
        let rows = builder.finish();
        record.rows = rows.rows.len();
        report.columns = rows.columns.to_vec();
        Fetched::Rows(rows)
    };
    let input = match &fetched {
        Fetched::Changes(d) => Input::Changes(&d.0),
        Fetched::Rows(rows) => Input::Rows(rows),
    };
    let (plan, users) = plan_messages(engine, sync, input, record)?;
    let routes = route::resolve_targets(engine.port, engine.allow, &users, &plan.messages);
    if let Some(e) = routes
        .values()
        .find_map(|r| r.as_ref().err().filter(|e| e.transient))
    {
        return Err(RunError::Directory(format!(
            "sync {:?}: {}; nothing was posted, the run is retried",
            sync.name, e.message
        )));
    }
    let (entries, messages, held) = outbox_entries(sync, &plan, &routes, record);
    if mode == RunMode::Preview {
        report.delivered = preview(engine, sync, &entries, messages);
        return Ok(());
    }
    let snapshot = match &fetched {
        Fetched::Changes(d) => {
            Some(diff::hold_back(&d.1, &sync.diff, &held).map_err(|e| diff_error(sync, &e))?)
        }
        Fetched::Rows(_) => None,
    };
    let encoded = outbox::encode(&entries)
        .map_err(|e| RunError::State(format!("sync {:?}: {e}", sync.name)))?;
    let commit = state::Commit {
        snapshot: snapshot.as_ref(),
        source: &source_fingerprint(sync),
        outbox: &encoded,
        outbox_len: entries.len(),
        now: engine.clock.now(),
    };
    let committed = state::commit(engine.port, &sync.name, stored.as_ref(), &commit)?;
    let (_, outcome) = deliver(engine, sync, committed, &entries, false);
    report.delivered = delivered(&entries, messages, &outcome);
    record.messages += report
        .delivered
        .iter()
        .filter(|d| d.post_id.is_some())
        .count();
    record.errors.extend(outcome.failed);
    record.errors.extend(outcome.stopped);
    record.notes.extend(outcome.paused);
    Ok(())
}

fn deliver(
    engine: &Engine<'_>,
    sync: &SyncConfig,
    stored: state::Stored,
    entries: &[Entry],
    resumed: bool,
) -> (state::Stored, outbox::Outcome) {
    let retry = outbox::Retry::default();
    let delivery = outbox::Delivery {
        port: engine.port,
        clock: engine.clock,
        retry: &retry,
        gate: engine.gate,
        sync: &sync.name,
    };
    delivery.deliver(stored, entries, resumed)
}

/// The stored state; a damaged index is reported and the sync starts over (its snapshot
/// and outbox cannot be found without it). A preview only reports it.
fn load_state(
    engine: &Engine<'_>,
    sync: &SyncConfig,
    mode: RunMode,
    record: &mut HistoryRecord,
) -> Result<Option<state::Stored>, RunError> {
    match state::load_meta(engine.port, &sync.name) {
        Ok(stored) => Ok(stored),
        Err(e @ StateError::Damaged { .. }) if mode == RunMode::Preview => {
            record.errors.push(e.to_string());
            Ok(None)
        }
        Err(e @ StateError::Damaged { .. }) => {
            let note = format!("{e}; the sync's state was cleared and a new baseline is recorded");
            engine.port.log(LogLevel::Warn, &note);
            record.errors.push(note);
            state::reset(engine.port, &sync.name)?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Delivers what an earlier run committed but did not finish, before this run reads its
/// source: the outbox is the truth, and a new run must not overtake it.
fn finish_outbox(
    engine: &Engine<'_>,
    sync: &SyncConfig,
    stored: Option<state::Stored>,
    record: &mut HistoryRecord,
) -> Result<Option<state::Stored>, RunError> {
    let Some(stored) = stored else {
        return Ok(None);
    };
    let Some(pending) = stored.meta.outbox.clone() else {
        return Ok(Some(stored));
    };
    let entries = match state::read_outbox(engine.port, &sync.name, &stored.meta)
        .and_then(|bytes| outbox::decode(&sync.name, &bytes))
    {
        Ok(entries) => entries,
        // Undeliverable: say how many messages are lost, and let the sync go on rather
        // than fail on it forever.
        Err(e @ StateError::Damaged { .. }) => {
            let lost = pending.len - pending.cursor;
            let note = format!("{e}; {lost} message(s) of an earlier run could not be delivered");
            engine.port.log(LogLevel::Error, &note);
            record.errors.push(note);
            let cleared = state::advance_cursor(engine.port, &sync.name, &stored, pending.len)?;
            return Ok(Some(cleared));
        }
        Err(e) => return Err(e.into()),
    };
    let (stored, outcome) = deliver(engine, sync, stored, &entries, true);
    let posted = outcome.posted.iter().filter(|p| p.1.is_some()).count();
    record.messages += posted;
    if posted > 0 {
        record.notes.push(format!(
            "delivered {posted} messages left from an earlier run"
        ));
    }
    record.errors.extend(outcome.failed);
    match (outcome.stopped, outcome.paused) {
        (Some(e), _) => Err(RunError::Pending(format!(
            "{e}; this run did not read its source"
        ))),
        (None, Some(p)) => Err(RunError::Paused(format!(
            "{p}; this run did not read its source"
        ))),
        (None, None) => Ok(Some(stored)),
    }
}

/// The users the run needs (mentions and direct messages, one batch), then the messages.
/// Refusals and look-up failures stop the run before anything is committed.
fn plan_messages(
    engine: &Engine<'_>,
    sync: &SyncConfig,
    input: Input<'_>,
    record: &mut HistoryRecord,
) -> Result<(MessagePlan, route::Users), RunError> {
    let info = RunInfo {
        time: engine.clock.now(),
        added: record.added,
        changed: record.changed,
        removed: record.removed,
        total: record.rows,
    };
    let mut cx = Context::new(&sync.name, sync.mode.name(), &info, input.columns());
    let wanted = plan::wanted_users(sync, input, &cx);
    let users = route::lookup_users(engine.port, &wanted).map_err(|e| {
        RunError::Directory(format!(
            "sync {:?}: looking up users: {e}; nothing was posted, the run is retried",
            sync.name
        ))
    })?;
    cx.users = std::sync::Arc::new(users.cache());
    let mut plan = plan::build(sync, input, &cx);
    if let Some(refusal) = &plan.refused {
        return Err(RunError::Refused(refusal.clone()));
    }
    hold_snoozed(engine, sync, &mut plan, record)?;
    record.errors.extend(plan.errors.iter().cloned());
    record.summarized = plan.summarized.unwrap_or(0);
    record.skipped = plan.skipped_empty;
    Ok((plan, users))
}

/// Takes the messages about snoozed rows out of the plan (syncs with the *Snooze* button).
/// A damaged list of snoozed rows is reported and ignored: posting is safer than silence.
fn hold_snoozed(
    engine: &Engine<'_>,
    sync: &SyncConfig,
    plan: &mut MessagePlan,
    record: &mut HistoryRecord,
) -> Result<(), RunError> {
    if !sync.buttons.snooze {
        return Ok(());
    }
    let snoozed = match snooze::snoozed(engine.port, &sync.name) {
        Ok(snoozed) => snoozed,
        Err(e @ StateError::Damaged { .. }) => {
            record.errors.push(e.to_string());
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let held = snooze::hold(plan, &snoozed, engine.clock.now());
    if held > 0 {
        record.notes.push(format!(
            "{held} message(s) not posted: their rows are snoozed"
        ));
    }
    Ok(())
}

/// The outbox of a run: one entry per routable message (in plan order), one per thread to
/// forget. Messages that cannot be routed are reported and their rows held back.
#[allow(clippy::type_complexity)]
fn outbox_entries(
    sync: &SyncConfig,
    plan: &MessagePlan,
    routes: &HashMap<Target, Result<String, RouteError>>,
    record: &mut HistoryRecord,
) -> (Vec<Entry>, Vec<Option<Message>>, Vec<HeldRow>) {
    let run_id = &state::stable_hash(&format!(
        "{}\u{1f}{}\u{1f}{}",
        sync.name,
        record.started.timestamp_nanos_opt().unwrap_or_default(),
        std::process::id()
    ))[..16];
    let mut entries = Vec::with_capacity(plan.messages.len());
    let mut messages = Vec::with_capacity(plan.messages.len());
    let mut held = plan.held.clone();
    for m in &plan.messages {
        let channel_id = match routes.get(&m.target) {
            Some(Ok(id)) => id.clone(),
            Some(Err(e)) => {
                let row = m
                    .row_key
                    .as_deref()
                    .map(|k| format!(", row {k}"))
                    .unwrap_or_default();
                record.errors.push(format!(
                    "sync {:?}{row}: {}; not posted",
                    sync.name, e.message
                ));
                held.extend(m.retry.clone());
                continue;
            }
            None => continue,
        };
        entries.push(entry(format!("{run_id}:{}", entries.len()), channel_id, m));
        messages.push(Some(m.clone()));
    }
    for key in &plan.forget_threads {
        entries.push(Entry {
            id: format!("{run_id}:{}", entries.len()),
            channel_id: String::new(),
            row_key: None,
            thread: Some((key.clone(), ThreadStep::End)),
            post: None,
            edit_root: None,
        });
        messages.push(None);
    }
    (entries, messages, held)
}

fn entry(id: String, channel_id: String, m: &Message) -> Entry {
    let step = |role| match role {
        ThreadRole::Root => ThreadStep::Start,
        ThreadRole::Reply => ThreadStep::Reply,
        ThreadRole::End => ThreadStep::End,
    };
    Entry {
        id,
        channel_id,
        row_key: m.row_key.clone(),
        thread: m.thread.as_ref().map(|t| (t.key.clone(), step(t.role))),
        post: (!m.edit_only).then(|| PostBody {
            message: m.message.clone(),
            props: m.props.clone(),
            file: m.file.as_ref().map(|f| FileBody {
                name: f.name.clone(),
                bytes: f.bytes.clone(),
            }),
        }),
        edit_root: m.edit_root.clone(),
    }
}

/// What a preview shows: each message with its channel and the thread it would reply in.
fn preview(
    engine: &Engine<'_>,
    sync: &SyncConfig,
    entries: &[Entry],
    messages: Vec<Option<Message>>,
) -> Vec<Delivered> {
    entries
        .iter()
        .zip(messages)
        .filter_map(|(e, m)| {
            let root_id = e
                .thread
                .as_ref()
                .filter(|(_, step)| *step != ThreadStep::Start)
                .and_then(|(key, _)| {
                    state::thread_root(engine.port, &sync.name, key)
                        .ok()
                        .flatten()
                })
                .filter(|r| r.channel == e.channel_id)
                .map(|r| r.post);
            Some(Delivered {
                message: m?,
                channel_id: e.channel_id.clone(),
                post_id: None,
                root_id,
            })
        })
        .collect()
}

/// The report's list of what was posted (or edited) this run.
fn delivered(
    entries: &[Entry],
    messages: Vec<Option<Message>>,
    outcome: &outbox::Outcome,
) -> Vec<Delivered> {
    let mut messages: Vec<Option<Message>> = messages;
    outcome
        .posted
        .iter()
        .filter_map(|(i, post_id, root_id)| {
            let message = messages.get_mut(*i)?.take()?;
            Some(Delivered {
                message,
                channel_id: entries.get(*i)?.channel_id.clone(),
                post_id: post_id.clone(),
                root_id: root_id.clone(),
            })
        })
        .collect()
}

/// What produced a snapshot: the connection's kind and location (never its credentials),
/// the query and the key. A snapshot made from other data is not diffed against.
pub fn source_fingerprint(sync: &SyncConfig) -> String {
    let c = &sync.connection;
    let q = &sync.query;
    state::stable_hash(&format!(
        "{:?}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}\u{1f}{}",
        c.kind,
        locator(c.url.expose()),
        q.sql.as_deref().unwrap_or(""),
        q.path.as_deref().unwrap_or(""),
        q.json_pointer,
        q.format,
        sync.diff.key.join("\u{1f}")
    ))
}

/// A connection string without credentials: `scheme://host:port/path` for URLs (no user,
/// password or query), the path for SQLite, keyword strings without `password=`.
fn locator(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let rest = rest.split(['?', '#']).next().unwrap_or("");
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return format!("{scheme}://{host}/{path}");
    }
    url.split_whitespace()
        .filter(|t| !t.to_ascii_lowercase().starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads the sync's source into `sink`, through its transform if it has one.
fn fetch(engine: &Engine<'_>, sync: &SyncConfig, sink: &mut dyn RowSink) -> Result<(), RunError> {
    let source = |e: SourceError| RunError::Source(e.to_string());
    let Some(t) = &sync.transform else {
        return (engine.fetch)(&sync.connection, &sync.query, sink).map_err(source);
    };
    let compiled = transform::load(engine.port, &t.module).map_err(|e| {
        RunError::Source(format!("sync {:?}: transform {:?}: {e}", sync.name, t.name))
    })?;
    let mut wasm = WasmTransform::new(&compiled, t.limits.clone(), t.params.clone());
    let mut through = TransformSink::new(&t.name, &mut wasm, sink, &sync.diff.key);
    (engine.fetch)(&sync.connection, &sync.query, &mut through).map_err(source)
}

/// Changes mode: streams the source into a [`SnapshotBuilder`], then diffs against the
/// stored snapshot. `None` when the run was a baseline and is complete (nothing to post).
fn fetch_and_diff(
    engine: &Engine<'_>,
    sync: &SyncConfig,
    stored: Option<&state::Stored>,
    mode: RunMode,
    record: &mut HistoryRecord,
    report: &mut RunReport,
) -> Result<Option<(Changes, Snapshot)>, RunError> {
    let mut builder = SnapshotBuilder::new(&sync.diff);
    if let Err(e) = fetch(engine, sync, &mut builder) {
        // A refusal by the builder reads like any diff error, whatever the source made of it.
        return Err(match builder.error() {
            Some(refusal) => diff_error(sync, refusal),
            None => e,
        });
    }
    record.rows = builder.len();
    report.columns = builder.result_columns().to_vec();
    let (previous, fresh) = previous_snapshot(engine, sync, stored, record)?;
    // A re-baseline (damaged snapshot, other source) posts nothing even with
    // `first_run = "post"`: the rows are not new, and posting them all would flood.
    let baseline = sync.first_run == FirstRun::Baseline || fresh;
    let options = diff::DiffOptions {
        // A baseline run posts nothing: don't decode every row just to list it.
        omit_first_run_rows: baseline,
        ..sync.diff.clone()
    };
    check_empty_result(sync, previous.as_ref(), record)?;
    let (changes, snapshot) =
        diff::diff_built(previous.as_ref(), builder, &options).map_err(|e| diff_error(sync, &e))?;
    record.added = if changes.first_run && baseline {
        changes.total
    } else {
        changes.added.len()
    };
    record.changed = changes.changed.len();
    record.removed = changes.removed.len();
    if changes.key_changed {
        record.notes.push(format!(
            "the key changed to {:?}: a new baseline was recorded",
            sync.diff.key
        ));
    }
    if changes.first_run && baseline {
        record.baseline = true;
        if mode != RunMode::Preview {
            let commit = state::Commit {
                snapshot: Some(&snapshot),
                source: &source_fingerprint(sync),
                outbox: &[],
                outbox_len: 0,
                now: engine.clock.now(),
            };
            state::commit(engine.port, &sync.name, stored, &commit)?;
        }
        return Ok(None);
    }
    Ok(Some((changes, snapshot)))
}

/// A result with no rows after one with rows: noted, and refused where the sync says a
/// sudden empty result means a broken source (`empty_result = "fail"`).
fn check_empty_result(
    sync: &SyncConfig,
    previous: Option<&Snapshot>,
    record: &mut HistoryRecord,
) -> Result<(), RunError> {
    let had = previous.map_or(0, Snapshot::len);
    if record.rows > 0 || had == 0 {
        return Ok(());
    }
    if sync.empty_result == EmptyResult::Fail {
        return Err(RunError::Refused(format!(
            "sync {:?}: the source returned no rows (the last run had {had}); with \
             empty_result = \"fail\" this is treated as a failure: nothing was posted",
            sync.name
        )));
    }
    record.notes.push(format!(
        "the source returned no rows (the last run had {had}): all of them are removed"
    ));
    Ok(())
}

fn diff_error(sync: &SyncConfig, e: &DiffError) -> RunError {
    RunError::Data(format!("sync {:?}: {e}", sync.name))
}

/// The snapshot to diff against, and whether this run must be a fresh baseline although
/// state was stored: a snapshot of other data (connection, query or key changed) or one
/// that cannot be read must not be diffed against, nor fail the sync forever. Either is
/// noted in the history and the log, and the rows' threads are forgotten.
fn previous_snapshot(
    engine: &Engine<'_>,
    sync: &SyncConfig,
    stored: Option<&state::Stored>,
    record: &mut HistoryRecord,
) -> Result<(Option<Snapshot>, bool), RunError> {
    let Some(stored) = stored.filter(|s| s.meta.chunks > 0) else {
        return Ok((None, false));
    };
    let rebaseline = "recording a new baseline (changes since the last run are not reported)";
    if stored.meta.source != source_fingerprint(sync) {
        let note = format!(
            "sync {:?}: the sync now reads other data (its connection, query or key \
             changed); {rebaseline}",
            sync.name
        );
        engine.port.log(LogLevel::Info, &note);
        record.notes.push(note);
    } else {
        match state::read_snapshot(engine.port, &sync.name, &stored.meta) {
            Ok(snapshot) => return Ok((Some(snapshot), false)),
            // Damage is an error of the run: changes may have been missed.
            Err(e @ StateError::Damaged { .. }) => {
                let note = format!("{e}; {rebaseline}");
                engine.port.log(LogLevel::Warn, &note);
                record.errors.push(note);
            }
            Err(e) => return Err(e.into()),
        }
    }
    state::forget_threads(engine.port, &sync.name)?;
    Ok((None, true))
}

/// The stored snapshot (None before the first baseline).
pub fn load_snapshot(kv: &dyn Kv, sync: &str) -> Result<Option<Snapshot>, String> {
    match state::load_meta(kv, sync).map_err(|e| e.to_string())? {
        Some(stored) if stored.meta.chunks > 0 => state::read_snapshot(kv, sync, &stored.meta)
            .map(Some)
            .map_err(|e| e.to_string()),
        _ => Ok(None),
    }
}

/// Forgets everything a sync stored (`/datasync reset`): the next run is a first run.
pub fn reset(kv: &dyn Kv, sync: &str) -> Result<(), StateError> {
    state::reset(kv, sync)
}

/// A sync's recent runs, oldest first.
pub fn history(kv: &dyn Kv, sync: &str) -> Result<Vec<HistoryRecord>, StateError> {
    state::history(kv, sync)
}

/// Runs several syncs one after another (dry run, demo).
pub fn run_all<'s>(
    engine: &Engine<'_>,
    syncs: impl IntoIterator<Item = &'s SyncConfig>,
    mode: RunMode,
) -> BTreeMap<String, RunReport> {
    syncs
        .into_iter()
        .map(|s| (s.name.clone(), run_sync(engine, s, mode)))
        .collect()
}
