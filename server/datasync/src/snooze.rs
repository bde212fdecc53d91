//! Snoozed rows: *Snooze this row* on a change message stops the messages about that row
//! until a time. One KV value per sync, read once per run and only by syncs that offer
//! the button.
//!
//! A snoozed row's changes still reach the snapshot: when the snooze ends, the next
//! message is about the row's next change, not a backlog.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::plan::{MessagePlan, ThreadRole};
use crate::port::Kv;
use crate::state::{self, StateError};

/// Who snoozed a row, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snooze {
    /// The username of whoever snoozed it.
    pub by: String,
    pub until: DateTime<Utc>,
}

/// A sync's snoozed rows by row key (the JSON array of the key's values).
pub type Snoozed = BTreeMap<String, Snooze>;

/// The most rows one sync keeps snoozed at once (the value stays small enough to read on
/// every run).
pub const MAX_SNOOZED: usize = 10_000;

const WHAT: &str = "snoozed rows";

/// The sync's snoozed rows (some may have expired).
pub fn snoozed(kv: &dyn Kv, sync: &str) -> Result<Snoozed, StateError> {
    let key = state::snooze_key(sync);
    Ok(state::read_json(kv, sync, (&key, WHAT))?.unwrap_or_default())
}

/// Snoozes a row (a later snooze replaces an earlier one) and forgets expired snoozes.
/// `false`: [`MAX_SNOOZED`] rows are snoozed already.
pub fn snooze(
    kv: &dyn Kv,
    sync: &str,
    row_key: &str,
    snooze: &Snooze,
    now: DateTime<Utc>,
) -> Result<bool, StateError> {
    let key = state::snooze_key(sync);
    let mut full = false;
    state::update_json(kv, sync, (&key, WHAT), |all: &mut Snoozed| {
        all.retain(|_, s| s.until > now);
        full = all.len() >= MAX_SNOOZED && !all.contains_key(row_key);
        !full && all.insert(row_key.to_owned(), snooze.clone()).as_ref() != Some(snooze)
    })?;
    Ok(!full)
}

/// Takes the messages about rows snoozed at `now` out of a plan; returns how many. A
/// removed row's thread is still forgotten.
pub fn hold(plan: &mut MessagePlan, snoozed: &Snoozed, now: DateTime<Utc>) -> usize {
    if snoozed.is_empty() {
        return 0;
    }
    let mut held = 0;
    let mut forget = Vec::new();
    plan.messages.retain(|m| {
        let asleep = m
            .row_key
            .as_ref()
            .and_then(|k| snoozed.get(k))
            .is_some_and(|s| s.until > now);
        if asleep {
            held += 1;
            if let Some(t) = m.thread.as_ref().filter(|t| t.role == ThreadRole::End) {
                forget.push(t.key.clone());
            }
        }
        !asleep
    });
    plan.forget_threads.extend(forget);
    held
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::MemoryPort;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn by(who: &str, until: &str) -> Snooze {
        Snooze {
            by: who.into(),
            until: at(until),
        }
    }

    #[test]
    fn snoozes_are_kept_replaced_and_expired_ones_forgotten() {
        let kv = MemoryPort::default();
        let now = at("2026-11-30T12:00:00Z");
        assert!(snoozed(&kv, "s").unwrap().is_empty());
        let a = by("ann", "2026-11-30T13:00:00Z");
        assert!(snooze(&kv, "s", "[1]", &a, now).unwrap());
        assert!(snooze(&kv, "s", "[2]", &by("bob", "2026-11-30T12:30:00Z"), now).unwrap());
        let b = by("bob", "2026-12-07T12:00:00Z");
        assert!(snooze(&kv, "s", "[1]", &b, now).unwrap());
        assert_eq!(snoozed(&kv, "s").unwrap().get("[1]"), Some(&b));
        let later = at("2026-11-30T12:45:00Z");
        assert!(snooze(&kv, "s", "[3]", &a, later).unwrap());
        let keys: Vec<String> = snoozed(&kv, "s").unwrap().into_keys().collect();
        assert_eq!(keys, ["[1]", "[3]"]);
        assert!(snoozed(&kv, "other").unwrap().is_empty());
    }

    #[test]
    fn a_full_list_refuses_new_rows_but_not_known_ones() {
        let kv = MemoryPort::default();
        let now = at("2026-11-30T12:00:00Z");
        let s = by("ann", "2026-12-01T12:00:00Z");
        let all: Snoozed = (0..MAX_SNOOZED)
            .map(|i| (format!("[{i}]"), s.clone()))
            .collect();
        kv.kv_set(&state::snooze_key("s"), &serde_json::to_vec(&all).unwrap())
            .unwrap();
        assert!(!snooze(&kv, "s", "[new]", &s, now).unwrap());
        let longer = by("bob", "2026-12-02T12:00:00Z");
        assert!(snooze(&kv, "s", "[7]", &longer, now).unwrap());
    }

    #[test]
    fn a_damaged_value_is_reported_on_read_and_replaced_on_write() {
        let kv = MemoryPort::default();
        kv.kv_set(&state::snooze_key("s"), b"[").unwrap();
        assert!(matches!(snoozed(&kv, "s"), Err(StateError::Damaged { .. })));
        let now = at("2026-11-30T12:00:00Z");
        assert!(snooze(&kv, "s", "[1]", &by("a", "2026-12-01T00:00:00Z"), now).unwrap());
        assert_eq!(snoozed(&kv, "s").unwrap().len(), 1);
    }
}
