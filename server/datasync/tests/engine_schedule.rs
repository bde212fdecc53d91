//! Scheduling on a cluster (the due check and the KV lease, several holders sharing one KV
//! store) and failure notices once per change of health.

use std::time::Duration;

use chrono::{DateTime, Utc};
use datasync::config::{self, Config};
use datasync::notify::{self, Notice};
use datasync::port::MemoryPort;
use datasync::run::HistoryRecord;
use datasync::scheduler::{self, NotNow, Reason};

fn config(schedules: &[(&str, &str)]) -> Config {
    let mut text = "[connections.db]\nkind = \"sqlite\"\nurl = \"x.db\"\n".to_string();
    for (name, schedule) in schedules {
        text.push_str(&format!(
            "[syncs.{name}]\nconnection = \"db\"\nsql = \"SELECT 1 AS id\"\nkey = \"id\"\nchannel = \"t/c\"\n{schedule}\n[syncs.{name}.templates]\nadded = \"x\"\n"
        ));
    }
    config::parse(&text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const TTL: Duration = Duration::from_secs(120);

#[test]
fn next_start_follows_the_schedule() {
    let c = config(&[
        ("a", "schedule = \"every 10m\""),
        ("b", "cron = \"0 9 * * *\"\ntimezone = \"Europe/Berlin\""),
        ("m", "schedule = \"manual\""),
        ("p", "schedule = \"every 10m\"\nenabled = false"),
    ]);
    let now = at("2026-11-30T10:00:00Z");
    // First run of an interval: soon after the scheduler first saw it, after a stable
    // jitter under a tenth of the interval.
    let first = scheduler::next_start(&c.syncs[0], None, now).unwrap();
    assert!(
        first >= now && first < now + chrono::Duration::seconds(60),
        "{first}"
    );
    assert_eq!(scheduler::next_start(&c.syncs[0], None, now), Some(first));
    let last = at("2026-11-30T09:55:00Z");
    assert_eq!(
        scheduler::next_start(&c.syncs[0], Some(last), now),
        Some(at("2026-11-30T10:05:00Z"))
    );
    // Cron: 09:00 Berlin = 08:00 UTC, the next day.
    assert_eq!(
        scheduler::next_start(&c.syncs[1], None, now),
        Some(at("2026-12-01T08:00:00Z"))
    );
    assert_eq!(scheduler::next_start(&c.syncs[2], None, now), None);
    assert_eq!(scheduler::next_start(&c.syncs[3], Some(last), now), None);
}

#[test]
fn jitter_differs_between_syncs_and_stays_small() {
    let interval = Duration::from_secs(3600);
    let jitters: std::collections::BTreeSet<Duration> = (0..50)
        .map(|i| scheduler::jitter(&format!("sync{i}"), interval))
        .collect();
    assert!(jitters.len() > 40, "{jitters:?}");
    assert!(jitters.iter().all(|j| *j < Duration::from_secs(60)));
    assert!(scheduler::jitter("x", Duration::from_secs(10)) < Duration::from_secs(1));
}

#[test]
fn one_holder_runs_each_due_slot_and_missed_slots_collapse() {
    let c = config(&[("a", "schedule = \"every 10m\"")]);
    let s = &c.syncs[0];
    let kv = MemoryPort::new();
    let t0 = at("2026-11-30T10:00:00Z");
    let mut lease = scheduler::claim(&kv, s, "node-a", Reason::Now, t0, TTL)
        .unwrap()
        .expect("free");
    // While it runs, nobody else gets it, not even to run now.
    assert!(matches!(
        scheduler::claim(&kv, s, "node-b", Reason::Now, t0, TTL).unwrap(),
        Err(NotNow::Busy { holder }) if holder == "node-a"
    ));
    assert!(
        lease
            .refresh(&kv, t0 + chrono::Duration::seconds(60), TTL)
            .unwrap()
    );
    lease.release(&kv, true).unwrap();
    // Released: not due again until ten minutes after the start.
    let soon = t0 + chrono::Duration::minutes(5);
    assert_eq!(
        scheduler::claim(&kv, s, "node-b", Reason::Schedule, soon, TTL).unwrap(),
        Err(NotNow::NotDue(Some(t0 + chrono::Duration::minutes(10))))
    );
    // Three hours of downtime: one run, not eighteen.
    let later = t0 + chrono::Duration::hours(3);
    let lease = scheduler::claim(&kv, s, "node-b", Reason::Schedule, later, TTL)
        .unwrap()
        .expect("due");
    lease.release(&kv, true).unwrap();
    assert!(matches!(
        scheduler::claim(&kv, s, "node-a", Reason::Schedule, later, TTL).unwrap(),
        Err(NotNow::NotDue(_))
    ));
    assert_eq!(scheduler::last_start(&kv, "a").unwrap(), Some(later));
}

#[test]
fn a_dead_holder_blocks_only_until_its_lease_expires() {
    let c = config(&[("a", "schedule = \"every 1m\"")]);
    let s = &c.syncs[0];
    let kv = MemoryPort::new();
    let t0 = at("2026-11-30T10:00:00Z");
    let mut dead = scheduler::claim(&kv, s, "node-a", Reason::Now, t0, TTL)
        .unwrap()
        .unwrap();
    let t1 = t0 + chrono::Duration::seconds(100);
    assert!(matches!(
        scheduler::claim(&kv, s, "node-b", Reason::Schedule, t1, TTL).unwrap(),
        Err(NotNow::Busy { .. })
    ));
    let t2 = t0 + chrono::Duration::seconds(121);
    let lease = scheduler::claim(&kv, s, "node-b", Reason::Schedule, t2, TTL)
        .unwrap()
        .expect("expired lease is free");
    // The old holder finds out at its next refresh and stops.
    assert!(!dead.refresh(&kv, t2, TTL).unwrap());
    lease.release(&kv, true).unwrap();
}

#[test]
fn an_unfinished_delivery_is_resumed_before_the_sync_is_due_again() {
    let c = config(&[("a", "schedule = \"every 1h\"")]);
    let s = &c.syncs[0];
    let kv = MemoryPort::new();
    let t0 = at("2026-11-30T10:00:00Z");
    // A holder dies mid-run: once its lease expires, the sync is taken to resume, not
    // to run again (its start time stays).
    scheduler::claim(&kv, s, "node-a", Reason::Now, t0, TTL)
        .unwrap()
        .unwrap();
    let t1 = t0 + chrono::Duration::seconds(121);
    let resume = scheduler::claim(&kv, s, "node-b", Reason::Schedule, t1, TTL)
        .unwrap()
        .expect("an unfinished delivery is resumed");
    assert!(resume.resume_only);
    assert_eq!(scheduler::last_start(&kv, "a").unwrap(), Some(t0));
    // Still unfinished (paused again): resumed again at the next tick.
    resume.release(&kv, false).unwrap();
    let t2 = t1 + chrono::Duration::seconds(10);
    let again = scheduler::claim(&kv, s, "node-a", Reason::Schedule, t2, TTL)
        .unwrap()
        .unwrap();
    assert!(again.resume_only);
    // Finished: nothing until the schedule says so.
    again.release(&kv, true).unwrap();
    assert!(matches!(
        scheduler::claim(&kv, s, "node-a", Reason::Schedule, t2, TTL).unwrap(),
        Err(NotNow::NotDue(Some(t))) if t == t0 + chrono::Duration::hours(1)
    ));
    let due = scheduler::claim(
        &kv,
        s,
        "node-a",
        Reason::Schedule,
        t0 + chrono::Duration::hours(1),
        TTL,
    )
    .unwrap()
    .unwrap();
    assert!(!due.resume_only);
}

#[test]
fn two_nodes_ticking_run_every_slot_of_every_sync_once() {
    let c = config(&[
        ("a", "schedule = \"every 1m\""),
        ("b", "schedule = \"every 2m\""),
        ("c", "cron = \"*/5 * * * *\""),
    ]);
    let kv = MemoryPort::new();
    let t0 = at("2026-11-30T10:00:00Z");
    let mut runs = std::collections::BTreeMap::<String, Vec<DateTime<Utc>>>::new();
    // Both nodes tick every 10 s for 30 minutes, in alternating order.
    for tick in 0..180 {
        let now = t0 + chrono::Duration::seconds(10 * tick);
        let nodes = if tick % 2 == 0 {
            ["n1", "n2"]
        } else {
            ["n2", "n1"]
        };
        for node in nodes {
            for s in &c.syncs {
                if let Ok(lease) =
                    scheduler::claim(&kv, s, node, Reason::Schedule, now, TTL).unwrap()
                {
                    runs.entry(s.name.clone()).or_default().push(now);
                    lease.release(&kv, true).unwrap();
                }
            }
        }
    }
    // Interval syncs: a first run within the jitter, then one per interval.
    let gaps = |name: &str| -> Vec<i64> {
        runs[name]
            .windows(2)
            .map(|w| (w[1] - w[0]).num_seconds())
            .collect()
    };
    assert!((runs["a"][0] - t0).num_seconds() < 60, "{:?}", runs["a"]);
    assert!(gaps("a").iter().all(|g| *g == 60), "{:?}", runs["a"]);
    assert!(runs["a"].len() >= 29, "{}", runs["a"].len());
    assert!(gaps("b").iter().all(|g| *g == 120), "{:?}", runs["b"]);
    // Cron: exactly at 10:05, 10:10, …, 10:25 (not at the start: it had not run before).
    let expected: Vec<DateTime<Utc>> = (1..6)
        .map(|i| t0 + chrono::Duration::minutes(5 * i))
        .collect();
    assert_eq!(runs["c"], expected);
}

#[test]
fn a_damaged_lock_is_replaced_and_said_so() {
    let c = config(&[("a", "schedule = \"every 1m\"")]);
    let kv = MemoryPort::new();
    let mut store = kv.kv_export();
    store.insert("ds1:a:lock".into(), b"{oops".to_vec());
    kv.kv_import(store);
    // Status output reports the damage rather than showing "never ran".
    assert!(scheduler::last_start(&kv, "a").is_err());
    let lease = scheduler::claim(
        &kv,
        &c.syncs[0],
        "n",
        Reason::Now,
        at("2026-11-30T10:00:00Z"),
        TTL,
    )
    .unwrap()
    .expect("claimed");
    assert!(
        lease
            .repaired
            .as_deref()
            .unwrap_or("")
            .contains("lock was unreadable")
    );
    // A reset of the sync's data keeps its lock.
    datasync::run::reset(&kv, "a").unwrap();
    assert!(kv.kv_keys().contains(&"ds1:a:lock".to_string()));
}

fn record(ok: bool, minute: i64, errors: &[&str]) -> HistoryRecord {
    let started = at("2026-11-30T10:00:00Z") + chrono::Duration::minutes(minute);
    serde_json::from_value(serde_json::json!({
        "sync": "s", "started": started, "duration_ms": 1, "rows": 0, "added": 0,
        "changed": 0, "removed": 0, "messages": 0, "ok": ok,
        "errors": errors,
    }))
    .unwrap()
}

#[test]
fn notices_go_out_once_per_change_of_health() {
    let kv = MemoryPort::new();
    let outcomes = [true, false, false, false, true, true, false, true];
    let mut notices = Vec::new();
    for (i, ok) in outcomes.iter().enumerate() {
        let errors: &[&str] = if *ok { &[] } else { &["source down"] };
        if let Some(n) = notify::after_run(&kv, &record(*ok, i as i64, errors)).unwrap() {
            notices.push((i, n));
        }
    }
    let kinds: Vec<(usize, bool)> = notices
        .iter()
        .map(|(i, n)| (*i, matches!(n, Notice::Failing { .. })))
        .collect();
    assert_eq!(kinds, [(1, true), (4, false), (6, true), (7, false)]);
    assert!(
        notices[1]
            .1
            .text()
            .contains("was failing from 2026-11-30 10:01 UTC to 2026-11-30 10:04 UTC")
    );
    // The state is in KV: a restarted plugin (same store) does not repeat a notice.
    assert_eq!(notify::after_run(&kv, &record(true, 9, &[])).unwrap(), None);
}

#[test]
fn notices_name_the_errors_without_mentioning_anyone() {
    let kv = MemoryPort::new();
    let errors: Vec<String> = (0..8)
        .map(|i| format!("row [\"@all {i}\"]: bad value"))
        .collect();
    let errors: Vec<&str> = errors.iter().map(String::as_str).collect();
    let n = notify::after_run(&kv, &record(false, 0, &errors))
        .unwrap()
        .unwrap();
    let text = n.text();
    assert!(text.contains("**s** is failing"), "{text}");
    assert!(text.contains("… and 3 more"), "{text}");
    assert!(!text.contains("@all"), "{text}");
    assert!(text.contains("bad value"), "{text}");
    assert_eq!(
        notify::failing_since(&kv, "s").unwrap(),
        Some(at("2026-11-30T10:00:00Z"))
    );
    let mut store = kv.kv_export();
    store.insert("ds1:s:health".into(), b"[".to_vec());
    kv.kv_import(store);
    assert!(notify::failing_since(&kv, "s").is_err());
}

#[test]
fn an_invalid_configuration_is_announced_once_per_list_of_problems_cluster_wide() {
    let kv = MemoryPort::new();
    let problems = vec![
        "Syncs: sync \"a\", field \"schedule\": bad".to_owned(),
        "Workers: \"0\" is not a whole number from 1 to 16 @channel".to_owned(),
    ];
    let text = notify::config_problems(&kv, &problems, true)
        .unwrap()
        .expect("first node announces");
    assert!(
        text.contains("2 problems; the last valid configuration keeps running"),
        "{text}"
    );
    assert!(
        text.contains("field \"schedule\": bad") && !text.contains("@channel"),
        "{text}"
    );
    // The other nodes, and this one again, find it announced.
    assert_eq!(notify::config_problems(&kv, &problems, true).unwrap(), None);
    // Other problems: announced; once valid, the same problems are announced again.
    let other = vec!["Secrets, line 1: expected NAME=value".to_owned()];
    let text = notify::config_problems(&kv, &other, false)
        .unwrap()
        .unwrap();
    assert!(
        text.contains("1 problem; nothing runs until it is fixed"),
        "{text}"
    );
    notify::config_valid(&kv).unwrap();
    assert!(
        notify::config_problems(&kv, &other, false)
            .unwrap()
            .is_some()
    );
    let many: Vec<String> = (0..13).map(|i| format!("problem {i}")).collect();
    notify::config_valid(&kv).unwrap();
    let text = notify::config_problems(&kv, &many, true).unwrap().unwrap();
    assert!(text.contains("problem 9\n- … and 3 more"), "{text}");
}
