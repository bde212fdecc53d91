//! Paused syncs (`/datasync pause`): kept in one KV value for all syncs, so a ticker learns
//! every sync's state with one read per tick, on every node of a cluster.
//!
//! A paused sync is not started by its schedule, and an unfinished delivery of it waits
//! too: pausing during an incident stops the bot posting. `/datasync run` still runs it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::port::Kv;
use crate::state::{self, StateError};

/// Who paused a sync, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paused {
    /// The username of whoever paused it.
    pub by: String,
    pub at: DateTime<Utc>,
}

/// Every paused sync by name.
pub type PausedSyncs = BTreeMap<String, Paused>;

/// The paused syncs (none when nothing was ever paused).
pub fn paused(kv: &dyn Kv) -> Result<PausedSyncs, StateError> {
    let key = state::paused_key();
    Ok(state::read_json(kv, "", (&key, "list of paused syncs"))?.unwrap_or_default())
}

/// Pauses (`Some`) or resumes (`None`) a sync. Returns whether that changed anything: a
/// sync paused twice keeps its first pause.
pub fn set_paused(kv: &dyn Kv, sync: &str, pause: Option<Paused>) -> Result<bool, StateError> {
    let key = state::paused_key();
    let what = (key.as_str(), "list of paused syncs");
    state::update_json(kv, sync, what, |all: &mut PausedSyncs| match &pause {
        Some(p) if !all.contains_key(sync) => all.insert(sync.to_owned(), p.clone()).is_none(),
        Some(_) => false,
        None => all.remove(sync).is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::MemoryPort;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn pause_and_resume_round_trip_and_keep_the_first_pause() {
        let kv = MemoryPort::default();
        assert!(paused(&kv).unwrap().is_empty());
        let first = Paused {
            by: "ann".into(),
            at: at("2026-11-30T09:00:00Z"),
        };
        assert!(set_paused(&kv, "big_deals", Some(first.clone())).unwrap());
        let again = Paused {
            by: "bob".into(),
            at: at("2026-11-30T10:00:00Z"),
        };
        assert!(!set_paused(&kv, "big_deals", Some(again)).unwrap());
        assert!(set_paused(&kv, "usage_drop", Some(first.clone())).unwrap());
        let all = paused(&kv).unwrap();
        assert_eq!(all.get("big_deals"), Some(&first));
        assert_eq!(all.len(), 2);
        assert!(set_paused(&kv, "big_deals", None).unwrap());
        assert!(!set_paused(&kv, "big_deals", None).unwrap());
        assert_eq!(
            paused(&kv).unwrap().keys().collect::<Vec<_>>(),
            ["usage_drop"]
        );
    }

    #[test]
    fn a_damaged_list_is_reported_on_read_and_replaced_on_write() {
        let kv = MemoryPort::default();
        kv.kv_set(&state::paused_key(), b"{not json").unwrap();
        assert!(matches!(paused(&kv), Err(StateError::Damaged { .. })));
        let p = Paused {
            by: "ann".into(),
            at: at("2026-11-30T09:00:00Z"),
        };
        assert!(set_paused(&kv, "s", Some(p)).unwrap());
        assert_eq!(paused(&kv).unwrap().len(), 1);
    }
}
