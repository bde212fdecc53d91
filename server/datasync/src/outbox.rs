//! The outbox: a committed run's messages, delivered in order, each exactly once.
//!
//! A run plans its messages, resolves their channels and commits them together with the
//! new snapshot ([`crate::state::commit`]). From then on the outbox is the truth: delivery
//! posts entry after entry and moves the cursor after each one. A transient failure is
//! retried with back-off, then delivery stops where it is and the next run resumes it
//! before reading its source again; a permanent failure (channel gone, user gone) is
//! recorded and skipped, so one bad destination cannot block a sync.
//!
//! Each post carries its delivery id in its props ([`DELIVERY_PROP`]). Only the entry at the
//! cursor can have an unknown fate after a crash; before posting it again, a resumed
//! delivery looks for that id among the channel's recent posts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::Clock;
use crate::gate::Gate;
use crate::port::{NewPost, Port, PortError};
use crate::state::{self, StateError, Stored, ThreadRoot};

/// The post prop that carries an entry's delivery id.
pub const DELIVERY_PROP: &str = "datasync_delivery";

/// What happens to the row's thread when the entry is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThreadStep {
    /// The post starts the row's thread: remember it.
    Start,
    /// The post replies in the row's thread.
    Reply,
    /// Reply (if there is a post), then forget the thread: the row is gone.
    End,
}

/// A file attached to a post (bytes as base64 in the stored outbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileBody {
    pub name: String,
    #[serde(with = "base64_bytes")]
    pub bytes: Vec<u8>,
}

/// The post to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostBody {
    pub message: String,
    pub props: Map<String, Value>,
    pub file: Option<FileBody>,
}

/// One step of delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Unique across runs and resets: `<run id>:<index>`.
    pub id: String,
    /// The resolved channel (empty when there is no post).
    pub channel_id: String,
    /// The row's key, for errors.
    pub row_key: Option<String>,
    /// The row's thread key and what this entry does to it.
    pub thread: Option<(String, ThreadStep)>,
    /// `None`: nothing to post (an edit, or only forgetting a thread).
    pub post: Option<PostBody>,
    /// `update_original`: the new text and props for the thread's first post.
    pub edit_root: Option<(String, Map<String, Value>)>,
}

/// Encodes an outbox for the KV store.
pub fn encode(entries: &[Entry]) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(entries)
}

pub fn decode(sync: &str, bytes: &[u8]) -> Result<Vec<Entry>, StateError> {
    serde_json::from_slice(bytes).map_err(|e| state::damaged(sync, "out", e))
}

/// Back-off for transient failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Attempts per call, the first included.
    pub attempts: u32,
    /// Wait before the second attempt (± 25 %); doubled for each later one.
    pub first_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_delay: Duration::from_millis(250),
        }
    }
}

/// What delivery did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// For each delivered entry (by index): the post id and the thread root it replied to.
    pub posted: Vec<(usize, Option<String>, Option<String>)>,
    /// Entries that failed permanently and were skipped, with why.
    pub failed: Vec<String>,
    /// Delivery stopped here (transient failure, or the state moved on); the rest of the
    /// outbox is delivered by the next run.
    pub stopped: Option<String>,
    /// The gate stopped delivery here (the plugin is stopping, the run lost its lease): not
    /// a failure of the sync; the rest of the outbox is delivered by the next run.
    pub paused: Option<String>,
}

/// What delivery works with: where it posts, its clock, retry policy and gate.
pub struct Delivery<'a> {
    pub port: &'a dyn Port,
    pub clock: &'a dyn Clock,
    pub retry: &'a Retry,
    pub gate: &'a dyn Gate,
    pub sync: &'a str,
}

impl Delivery<'_> {
    /// Delivers `entries` from the stored cursor on. `resumed`: the outbox was committed by
    /// an earlier run, so the entry at the cursor may already be posted (look before
    /// posting). The gate is asked before each entry; when it says stop, delivery stops
    /// there and the next run resumes it.
    pub fn deliver(
        &self,
        mut stored: Stored,
        entries: &[Entry],
        resumed: bool,
    ) -> (Stored, Outcome) {
        let mut outcome = Outcome::default();
        let Some(outbox) = stored.meta.outbox.clone() else {
            return (stored, outcome);
        };
        let since = outbox.created - chrono::Duration::minutes(5);
        let mut check_first = resumed;
        for (i, entry) in entries.iter().enumerate().skip(outbox.cursor) {
            let stop = |why: String| {
                format!(
                    "{why}; delivery stopped at message {} of {} and resumes with the next run",
                    i + 1,
                    entries.len()
                )
            };
            if let Err(why) = self.gate.before_post() {
                outcome.paused = Some(stop(format!("sync {:?}: {why}", self.sync)));
                return (stored, outcome);
            }
            match self.entry(entry, check_first.then_some(since)) {
                Ok((post, root)) => outcome.posted.push((i, post, root)),
                Err(Failure::Permanent(e)) => outcome.failed.push(describe(self.sync, entry, &e)),
                Err(Failure::Transient(e)) => {
                    outcome.stopped = Some(stop(describe(self.sync, entry, &e)));
                    return (stored, outcome);
                }
            }
            check_first = false;
            match state::advance_cursor(self.port, self.sync, &stored, i + 1) {
                Ok(next) => stored = next,
                Err(e) => {
                    outcome.stopped = Some(e.to_string());
                    return (stored, outcome);
                }
            }
        }
        (stored, outcome)
    }
}

/// `d` scaled by a random factor in [0.75, 1.25), so the nodes and syncs that met the same
/// outage do not all retry in the same instant.
fn jittered(d: Duration) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let r = RandomState::new().hash_one(d) % 1000;
    d.mul_f64(0.75 + r as f64 / 2000.0)
}

fn describe(sync: &str, entry: &Entry, e: &str) -> String {
    let row = entry
        .row_key
        .as_deref()
        .map(|k| format!(", row {k}"))
        .unwrap_or_default();
    format!("sync {sync:?}{row}: {e}")
}

enum Failure {
    Transient(String),
    Permanent(String),
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Port(p) if !p.is_transient() => Failure::Permanent(p.to_string()),
            other => Failure::Transient(other.to_string()),
        }
    }
}

impl From<PortError> for Failure {
    fn from(e: PortError) -> Self {
        if e.is_transient() {
            Failure::Transient(e.to_string())
        } else {
            Failure::Permanent(e.to_string())
        }
    }
}

impl Delivery<'_> {
    /// Calls `f`, retrying transient failures with back-off.
    fn call<T>(&self, mut f: impl FnMut() -> Result<T, PortError>) -> Result<T, PortError> {
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            match f() {
                Err(e) if e.is_transient() && attempt < self.retry.attempts => {
                    self.clock.sleep(jittered(delay));
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Delivers one entry: the post (unless reconciliation finds it), the root edit, the
    /// thread map. Returns the post id and the root it replied to.
    fn entry(
        &self,
        entry: &Entry,
        look_since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(Option<String>, Option<String>), Failure> {
        let root = self.root(entry)?;
        let post_id = match &entry.post {
            None => None,
            Some(body) => Some(match self.already_posted(entry, look_since)? {
                Some(id) => id,
                None => self.post(entry, body, root.clone())?,
            }),
        };
        if let (Some(root), Some((text, props))) = (&root, &entry.edit_root) {
            self.call(|| self.port.update_post(root, text, props))?;
        }
        match (&entry.thread, &post_id) {
            (Some((key, ThreadStep::Start)), Some(post)) => {
                let root = ThreadRoot {
                    post: post.clone(),
                    channel: entry.channel_id.clone(),
                };
                state::remember_thread(self.port, self.sync, key, &root)?;
            }
            (Some((key, ThreadStep::End)), _) => state::forget_thread(self.port, self.sync, key)?,
            _ => {}
        }
        Ok((post_id, root))
    }

    /// The thread root a reply or edit goes to: only in the same channel (a row routed
    /// elsewhere since starts over there).
    fn root(&self, entry: &Entry) -> Result<Option<String>, Failure> {
        let Some((key, step)) = &entry.thread else {
            return Ok(None);
        };
        if *step == ThreadStep::Start {
            return Ok(None);
        }
        let root = match state::thread_root(self.port, self.sync, key) {
            Ok(root) => root,
            // A damaged thread record loses the thread, not the message.
            Err(StateError::Damaged { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(root
            .filter(|r| entry.post.is_none() || r.channel == entry.channel_id)
            .map(|r| r.post))
    }

    fn already_posted(
        &self,
        entry: &Entry,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Option<String>, Failure> {
        let Some(since) = since else {
            return Ok(None);
        };
        let posts = self.call(|| self.port.recent_posts(&entry.channel_id, since))?;
        Ok(posts
            .into_iter()
            .find(|p| p.props.get(DELIVERY_PROP).and_then(Value::as_str) == Some(&entry.id))
            .map(|p| p.id))
    }

    fn post(
        &self,
        entry: &Entry,
        body: &PostBody,
        root: Option<String>,
    ) -> Result<String, Failure> {
        let mut file_ids = Vec::new();
        if let Some(f) = &body.file {
            // A re-upload after a crash only leaves an unattached file behind.
            file_ids
                .push(self.call(|| self.port.upload_file(&entry.channel_id, &f.name, &f.bytes))?);
        }
        let mut props = body.props.clone();
        props.insert(DELIVERY_PROP.into(), Value::String(entry.id.clone()));
        let post = NewPost {
            channel_id: entry.channel_id.clone(),
            message: body.message.clone(),
            props,
            root_id: root,
            file_ids,
        };
        Ok(self.call(|| self.port.create_post(&post))?)
    }
}

mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}
