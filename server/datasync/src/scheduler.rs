//! What is due, and the cluster lock that makes each due run happen once cluster-wide.
//!
//! Every node of a Mattermost cluster runs the plugin and its ticker. A run needs the
//! sync's lease, one KV value (`ds1:<s>:lock`) holding the holder, when the lease expires
//! and when the last scheduled run started. Taking the lease, and deciding that the sync is
//! due, is one compare-and-set on that value, so of all nodes that find a sync due at the
//! same moment exactly one runs it, and a node that comes a moment later sees the new start
//! time and finds nothing due. A node that dies while holding the lease blocks the sync
//! only until the lease expires; a live run refreshes it.
//!
//! Missed runs after downtime collapse into one: the next start is computed from the last
//! start, and once that is in the past the sync is due now, once. Interval schedules get a
//! small stable jitter per sync so a hundred syncs do not start in the same second.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::config::SyncConfig;
use crate::port::Kv;
use crate::schedule::Schedule;
use crate::state::{self, StateError};

/// The largest jitter added to the first run of an interval schedule.
const MAX_JITTER: Duration = Duration::from_secs(60);

/// When the sync should next start, given its last scheduled start (`None`: never ran)
/// and when the scheduler first saw it. `None` when it never runs by itself (manual,
/// paused).
pub fn next_start(
    sync: &SyncConfig,
    last: Option<DateTime<Utc>>,
    first_seen: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if !sync.enabled {
        return None;
    }
    match (&sync.schedule, last) {
        (Schedule::Manual, _) => None,
        (Schedule::Every(d), None) => {
            Some(first_seen + clock::chrono_duration(jitter(&sync.name, *d)))
        }
        (Schedule::Every(d), Some(last)) => Some(last + clock::chrono_duration(*d)),
        // A cron sync that never ran waits for its next time, like one that just ran.
        (cron, last) => cron.next_after(last.unwrap_or(first_seen)),
    }
}

/// A stable offset in `[0, min(interval / 10, 60 s))` from the sync's name.
pub fn jitter(name: &str, interval: Duration) -> Duration {
    let span = (interval / 10).min(MAX_JITTER).as_millis() as u64;
    if span == 0 {
        return Duration::ZERO;
    }
    let hash = u64::from_str_radix(&state::stable_hash(name)[..16], 16).unwrap_or(0);
    Duration::from_millis(hash % span)
}

/// The stored lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LockValue {
    /// Empty when nobody holds it.
    holder: String,
    expires: DateTime<Utc>,
    last_start: Option<DateTime<Utc>>,
    /// When the scheduler first saw the sync: a sync that never ran counts from here, so
    /// its first start stays put however often the ticker asks.
    #[serde(default)]
    first_seen: Option<DateTime<Utc>>,
    /// The last holder may have left messages undelivered: set while a run holds the
    /// lease (a holder that dies leaves it set) and kept at release when its outbox was
    /// not finished. The next claim, due or not, resumes the delivery.
    #[serde(default)]
    unfinished: bool,
}

/// Why a sync did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotNow {
    /// Not due before this time (`None`: never by itself).
    NotDue(Option<DateTime<Utc>>),
    /// Another holder is running it.
    Busy { holder: String },
}

/// The right to run a sync, until `expires` (refresh it while the run lasts).
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    sync: String,
    raw: Vec<u8>,
    value: LockValue,
    /// Set when the stored lock value was damaged and has been replaced.
    pub repaired: Option<String>,
    /// The sync is not due: this lease is only for delivering what an earlier run left
    /// (`run::RunMode::Resume`).
    pub resume_only: bool,
}

impl Lease {
    pub fn expires(&self) -> DateTime<Utc> {
        self.value.expires
    }

    /// Extends the lease. `false`: it was lost (expired and taken by another holder): stop
    /// at the next safe point; the outbox lets the new holder finish.
    pub fn refresh(
        &mut self,
        kv: &dyn Kv,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StateError> {
        let value = LockValue {
            expires: now + clock::chrono_duration(ttl),
            ..self.value.clone()
        };
        match swap(kv, &self.sync, Some(&self.raw), &value)? {
            Some(raw) => {
                self.raw = raw;
                self.value = value;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Gives the lease up (keeping the start time). `finished`: the sync's outbox is
    /// delivered; if not, the next claim resumes it whatever the schedule. Losing the
    /// lease already is not an error.
    pub fn release(self, kv: &dyn Kv, finished: bool) -> Result<(), StateError> {
        let value = LockValue {
            holder: String::new(),
            expires: DateTime::<Utc>::MIN_UTC,
            unfinished: !finished,
            ..self.value
        };
        swap(kv, &self.sync, Some(&self.raw), &value).map(|_| ())
    }
}

/// What a caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The ticker: only if the schedule says the sync is due.
    Schedule,
    /// `/datasync run`: now, whatever the schedule (still never two runs at once).
    Now,
}

/// Takes the sync's lease if it is due (or asked for now) and free, and records the start;
/// or, when it is not due but the last holder left its delivery unfinished, takes it to
/// resume that delivery (`resume_only`, the start time unchanged).
pub fn claim(
    kv: &dyn Kv,
    sync: &SyncConfig,
    holder: &str,
    reason: Reason,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<Result<Lease, NotNow>, StateError> {
    let key = state::lock_key(&sync.name);
    let raw = kv.kv_get(&key)?;
    let (current, repaired) = match raw.as_deref().map(serde_json::from_slice::<LockValue>) {
        None => (None, None),
        Some(Ok(v)) => (Some(v), None),
        // A damaged lock must not stop the sync for good: it is replaced, and said so.
        Some(Err(e)) => (
            None,
            Some(format!(
                "sync {:?}: the stored lock was unreadable ({e}) and was replaced",
                sync.name
            )),
        ),
    };
    if let Some(c) = &current
        && !c.holder.is_empty()
        && c.expires > now
    {
        return Ok(Err(NotNow::Busy {
            holder: c.holder.clone(),
        }));
    }
    let last_start = current.as_ref().and_then(|c| c.last_start);
    let first_seen = current.as_ref().and_then(|c| c.first_seen);
    let unfinished = current.as_ref().is_some_and(|c| c.unfinished);
    let mut resume_only = false;
    if reason == Reason::Schedule {
        let next = next_start(sync, last_start, first_seen.unwrap_or(now));
        if next.is_none_or(|t| t > now) {
            if !unfinished {
                if first_seen.is_none() {
                    remember_first_seen(kv, &sync.name, raw.as_deref(), current, now)?;
                }
                return Ok(Err(NotNow::NotDue(next)));
            }
            resume_only = true;
        }
    }
    let value = LockValue {
        holder: holder.to_string(),
        expires: now + clock::chrono_duration(ttl),
        last_start: if resume_only { last_start } else { Some(now) },
        first_seen: Some(first_seen.unwrap_or(now)),
        unfinished: true,
    };
    Ok(match swap(kv, &sync.name, raw.as_deref(), &value)? {
        Some(raw) => Ok(Lease {
            sync: sync.name.clone(),
            raw,
            value,
            repaired,
            resume_only,
        }),
        // Another node was quicker.
        None => Err(NotNow::Busy {
            holder: String::new(),
        }),
    })
}

/// Stores when the scheduler first saw a sync that is not due yet (losing the race to
/// another node is fine: it stored its own time).
fn remember_first_seen(
    kv: &dyn Kv,
    sync: &str,
    raw: Option<&[u8]>,
    current: Option<LockValue>,
    now: DateTime<Utc>,
) -> Result<(), StateError> {
    let value = LockValue {
        first_seen: Some(now),
        ..current.unwrap_or(LockValue {
            holder: String::new(),
            expires: DateTime::<Utc>::MIN_UTC,
            last_start: None,
            first_seen: None,
            unfinished: false,
        })
    };
    swap(kv, sync, raw, &value).map(|_| ())
}

/// The last scheduled start (for status output); a damaged lock value is reported.
pub fn last_start(kv: &dyn Kv, sync: &str) -> Result<Option<DateTime<Utc>>, StateError> {
    let lock: Option<LockValue> = state::read_json(kv, sync, (&state::lock_key(sync), "lock"))?;
    Ok(lock.and_then(|v| v.last_start))
}

/// What status output shows of a sync's lock: when it next starts by itself (`None`:
/// never), and who runs it now (empty: nobody).
pub fn status(
    kv: &dyn Kv,
    sync: &SyncConfig,
    now: DateTime<Utc>,
) -> Result<(Option<DateTime<Utc>>, String), StateError> {
    let key = state::lock_key(&sync.name);
    let lock: Option<LockValue> = state::read_json(kv, &sync.name, (&key, "lock"))?;
    let (last, first_seen, holder) = match lock {
        Some(v) if v.expires > now => (v.last_start, v.first_seen, v.holder),
        Some(v) => (v.last_start, v.first_seen, String::new()),
        None => (None, None, String::new()),
    };
    Ok((next_start(sync, last, first_seen.unwrap_or(now)), holder))
}

/// Compare-and-set of the lock value; the new bytes, or `None` if it changed meanwhile.
fn swap(
    kv: &dyn Kv,
    sync: &str,
    old: Option<&[u8]>,
    value: &LockValue,
) -> Result<Option<Vec<u8>>, StateError> {
    state::swap_json(kv, sync, (&state::lock_key(sync), "lock"), old, value)
}
