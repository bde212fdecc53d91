//! Failure notices, once per change of state: a sync that starts failing is announced
//! once, stays silent while it keeps failing, and is announced once more when it
//! recovers. The state lives in the KV store (`ds1:<s>:health`), so neither a restart nor
//! another cluster node repeats a notice.
//!
//! Where a notice goes (a configured channel, or a DM to each system admin) is the
//! plugin's business; this module decides whether there is one and what it says.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::port::Kv;
use crate::render;
use crate::run::HistoryRecord;
use crate::state::{self, StateError};

/// What the KV store remembers about a sync's health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Health {
    /// When the current run of failures began; `None` while healthy.
    failing_since: Option<DateTime<Utc>>,
}

/// A notice to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The sync started failing with this run.
    Failing {
        sync: String,
        since: DateTime<Utc>,
        errors: Vec<String>,
    },
    /// The sync works again.
    Recovered {
        sync: String,
        failing_since: DateTime<Utc>,
        at: DateTime<Utc>,
    },
}

/// Most error lines a notice shows (the rest are in `/datasync history`).
const SHOWN_ERRORS: usize = 5;

impl Notice {
    /// The notice as Markdown. Error texts may quote data (row keys): they are neutralised
    /// so a notice never mentions anyone.
    pub fn text(&self) -> String {
        match self {
            Notice::Failing {
                sync,
                since,
                errors,
            } => {
                let mut text = format!(
                    ":warning: Data Sync: **{sync}** is failing (since {}).",
                    since.format("%Y-%m-%d %H:%M UTC")
                );
                for e in errors.iter().take(SHOWN_ERRORS) {
                    text.push_str("\n- ");
                    text.push_str(&render::neutralise(e));
                }
                if errors.len() > SHOWN_ERRORS {
                    let more = errors.len() - SHOWN_ERRORS;
                    text.push_str(&format!("\n- … and {more} more"));
                }
                // `/datasync status` is not there yet (issue 10): the history is in the logs.
                text.push_str(
                    "\n\nNo further notice until it recovers; each failed run is in the server log.",
                );
                text
            }
            Notice::Recovered {
                sync,
                failing_since,
                at,
            } => format!(
                ":white_check_mark: Data Sync: **{sync}** works again (it was failing from {} to {}).",
                failing_since.format("%Y-%m-%d %H:%M UTC"),
                at.format("%Y-%m-%d %H:%M UTC")
            ),
        }
    }
}

/// Records a finished run's outcome; returns the notice to post, if its health changed.
/// A damaged health record counts as healthy and is replaced (the worst case is one
/// notice too many, never a lost one).
pub fn after_run(kv: &dyn Kv, record: &HistoryRecord) -> Result<Option<Notice>, StateError> {
    let key = state::health_key(&record.sync);
    let health: Health = kv
        .kv_get(&key)?
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .unwrap_or_default();
    let (next, notice) = match (health.failing_since, record.ok) {
        (None, false) => (
            Some(record.started),
            Some(Notice::Failing {
                sync: record.sync.clone(),
                since: record.started,
                errors: record.errors.clone(),
            }),
        ),
        (Some(since), true) => (
            None,
            Some(Notice::Recovered {
                sync: record.sync.clone(),
                failing_since: since,
                at: record.started,
            }),
        ),
        (since, _) => (since, None),
    };
    if notice.is_some() {
        let health = Health {
            failing_since: next,
        };
        let raw =
            serde_json::to_vec(&health).map_err(|e| state::damaged(&record.sync, "health", e))?;
        kv.kv_set(&key, &raw)?;
    }
    Ok(notice)
}

/// Most problems a configuration notice lists.
const SHOWN_PROBLEMS: usize = 10;

/// An invalid configuration was given to the plugin: the notice to post, once per distinct
/// list of problems cluster-wide (every node is given the same configuration; the first to
/// record its hash posts). `keeps_running`: a last valid configuration still runs.
pub fn config_problems(
    kv: &dyn Kv,
    problems: &[String],
    keeps_running: bool,
) -> Result<Option<String>, StateError> {
    let key = state::config_notice_key();
    let hash = state::stable_hash(&problems.join("\n"));
    let old = kv.kv_get(&key)?;
    if old.as_deref() == Some(hash.as_bytes())
        || !kv.kv_compare_and_set(&key, old.as_deref(), hash.as_bytes())?
    {
        return Ok(None);
    }
    let n = problems.len();
    let mut text = format!(
        ":warning: Data Sync: the new configuration was not applied: {n} problem{}; {}.",
        if n == 1 { "" } else { "s" },
        if keeps_running {
            "the last valid configuration keeps running"
        } else {
            "nothing runs until it is fixed"
        }
    );
    for p in problems.iter().take(SHOWN_PROBLEMS) {
        text.push_str("\n- ");
        text.push_str(&render::neutralise(p));
    }
    if n > SHOWN_PROBLEMS {
        text.push_str(&format!("\n- … and {} more", n - SHOWN_PROBLEMS));
    }
    text.push_str("\n\nFix it in **System Console → Plugins → Data Sync**.");
    Ok(Some(text))
}

/// A valid configuration was applied: the next invalid one is announced again, even if it
/// has the same problems as an earlier one.
pub fn config_valid(kv: &dyn Kv) -> Result<(), StateError> {
    Ok(kv.kv_delete(&state::config_notice_key())?)
}

/// Since when the sync has been failing (`None`: healthy), for status output; a damaged
/// health record is reported.
pub fn failing_since(kv: &dyn Kv, sync: &str) -> Result<Option<DateTime<Utc>>, StateError> {
    let health: Option<Health> = state::read_json(kv, sync, (&state::health_key(sync), "health"))?;
    Ok(health.and_then(|h| h.failing_since))
}
