//! Runs end to end on the in-memory port: baseline, delivery, threads, lookups, routing,
//! failures (nothing posted, snapshot untouched), snapshot chunking, preview.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use datasync::clock::{Clock, FixedClock};
use datasync::config::{self, Config};
use datasync::gate::Gate;
use datasync::port::{Directory, MemoryPort};
use datasync::row::{Cell, RowSet, RowSink};
use datasync::run::{self, Engine, RunMode};
use datasync::source::{Connection, Query, SourceError};

fn plan_of(top: &str, body: &str) -> Config {
    let text = format!(
        "{top}\n[connections.db]\nkind = \"sqlite\"\nurl = \"x.db\"\n\n[syncs.s]\nconnection = \"db\"\nsql = \"SELECT 1\"\nschedule = \"manual\"\n{body}\n"
    );
    config::parse(&text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

/// A stand-in source whose result the test sets between runs.
struct FakeSource(Mutex<Result<RowSet, String>>);

impl FakeSource {
    fn new() -> Self {
        FakeSource(Mutex::new(Err("not set".into())))
    }
    fn set(&self, rows: &[(i64, &str, &str)]) {
        let set = RowSet::new(
            vec!["id".into(), "name".into(), "dest".into()],
            rows.iter()
                .map(|(i, n, d)| {
                    vec![
                        Cell::Int(*i),
                        Cell::Text(n.to_string()),
                        Cell::Text(d.to_string()),
                    ]
                })
                .collect(),
        );
        *self.0.lock().unwrap() = Ok(set);
    }
    /// What an HTTP source sends for `[]`: no columns, no rows.
    fn set_nothing(&self) {
        *self.0.lock().unwrap() = Ok(RowSet::new(Vec::new(), Vec::new()));
    }
    fn fail(&self, msg: &str) {
        *self.0.lock().unwrap() = Err(msg.to_string());
    }
    /// Pushes the set rows like a real source. A refusal by the sink is reported as a
    /// query error on purpose: the run must still name the diff's own error.
    fn fetch(&self, _c: &Connection, q: &Query, sink: &mut dyn RowSink) -> Result<(), SourceError> {
        let fail = |message| SourceError::Query {
            sync: q.sync.clone(),
            message,
        };
        let rows = self.0.lock().unwrap().clone().map_err(fail)?;
        rows.send_to(sink).map_err(fail)
    }
}

/// A gate that lets a set number of messages through, then says stop.
struct Budget(AtomicUsize);

impl Gate for Budget {
    fn before_post(&self) -> Result<(), String> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(|_| ())
            .map_err(|_| "the plugin is stopping".to_owned())
    }
}

struct World {
    port: MemoryPort,
    clock: FixedClock,
    source: FakeSource,
    plan: Config,
    gate: Budget,
}

impl World {
    fn new(top: &str, body: &str) -> World {
        let port = MemoryPort::new();
        port.add_channel("t", "c");
        port.add_channel("t", "other");
        port.add_channel("secret", "hr");
        World {
            port,
            clock: FixedClock::new("2026-11-21T09:00:00Z".parse().unwrap()),
            source: FakeSource::new(),
            plan: plan_of(top, body),
            gate: Budget(AtomicUsize::new(usize::MAX)),
        }
    }
    /// A world whose sync has run once on an empty result (the baseline is recorded).
    fn baselined(top: &str, body: &str) -> World {
        let w = World::new(top, body);
        w.source.set(&[]);
        w.run(RunMode::Deliver);
        w
    }
    fn run(&self, mode: RunMode) -> run::RunReport {
        let fetch =
            |c: &Connection, q: &Query, sink: &mut dyn RowSink| self.source.fetch(c, q, sink);
        let engine = Engine {
            port: &self.port,
            clock: &self.clock,
            fetch: &fetch,
            allow: &self.plan.allow,
            gate: &self.gate,
        };
        self.clock.advance(chrono::Duration::minutes(5));
        run::run_sync(&engine, &self.plan.syncs[0], mode)
    }
    fn messages(&self) -> Vec<String> {
        self.port.posts().into_iter().map(|p| p.message).collect()
    }
}

const CHANGES: &str = "key = \"id\"\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"+{{ name }}\"\nchanged = \"~{{ name }}\"\nremoved = \"-{{ name }}\"";

#[test]
fn first_run_records_the_baseline_then_changes_post() {
    let w = World::new("", CHANGES);
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok && r.record.baseline, "{:?}", r.record);
    assert!(w.port.posts().is_empty());
    w.source.set(&[(1, "a2", ""), (3, "c", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    assert_eq!(
        (
            r.record.added,
            r.record.changed,
            r.record.removed,
            r.record.messages
        ),
        (1, 1, 1, 3)
    );
    assert_eq!(w.messages(), ["+c", "~a2", "-b"]);
    // Nothing changed: nothing posted.
    let r = w.run(RunMode::Deliver);
    assert_eq!(r.record.messages, 0);
    let history = run::history(&w.port, "s").unwrap();
    assert_eq!(history.len(), 3);
    assert!(history[0].baseline && !history[1].baseline);
    assert_eq!(history[1].started.to_rfc3339(), "2026-11-21T09:10:00+00:00");
}

#[test]
fn first_run_post_posts_every_row() {
    let w = World::new("", &format!("first_run = \"post\"\n{CHANGES}"));
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(!r.record.baseline);
    assert_eq!(w.messages(), ["+a", "+b"]);
}

#[test]
fn batch_table_csv_post_on_every_run_including_the_first() {
    let w = World::new("", "mode = \"csv\"\nchannel = \"t/c\"");
    w.source.set(&[(1, "a", "")]);
    w.run(RunMode::Deliver);
    w.run(RunMode::Deliver);
    let posts = w.port.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].files[0].0, "s.csv");
    assert_eq!(posts[0].files[0].1, b"id,name,dest\n1,a,\n");
}

#[test]
fn source_failure_posts_nothing_and_keeps_the_snapshot() {
    let w = World::new("", CHANGES);
    w.source.set(&[(1, "a", "")]);
    w.run(RunMode::Deliver);
    let before = w.port.kv_export();
    w.source.fail("relation \"accounts\" does not exist");
    let r = w.run(RunMode::Deliver);
    assert!(!r.record.ok);
    assert!(
        r.record.errors[0].contains("sync \"s\": query failed: relation"),
        "{:?}",
        r.record.errors
    );
    assert!(w.port.posts().is_empty());
    let after = w.port.kv_export();
    let snaps = |kv: &std::collections::BTreeMap<String, Vec<u8>>| {
        kv.iter()
            .filter(|(k, _)| k.starts_with("ds:snap:"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(snaps(&before), snaps(&after));
    // Recovery: the change since the last good run is still seen.
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.run(RunMode::Deliver);
    assert_eq!(w.messages(), ["+b"]);
}

#[test]
fn bad_data_duplicate_key_fails_the_run_cleanly() {
    let w = World::new("", CHANGES);
    w.source.set(&[(1, "a", "")]);
    w.run(RunMode::Deliver);
    w.source.set(&[(1, "a", ""), (1, "again", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(!r.record.ok);
    assert_eq!(
        r.record.errors,
        [r#"sync "s": duplicate key 1 in the result"#]
    );
    assert!(w.port.posts().is_empty());
}

#[test]
fn a_missing_key_column_names_the_column() {
    let w = World::new("", &CHANGES.replace("key = \"id\"", "key = \"nope\""));
    w.source.set(&[(1, "a", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(!r.record.ok);
    assert_eq!(
        r.record.errors,
        [r#"sync "s": key column "nope" is not in the result (columns: "id", "name", "dest")"#]
    );
}

#[test]
fn an_unreadable_snapshot_is_noted_and_the_run_rebaselines() {
    // A flipped byte (checksum), and a snapshot from a future format version.
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 2] = [
        ("checksum mismatch", |b| {
            if let Some(last) = b.last_mut() {
                *last ^= 0x40;
            }
        }),
        ("version 99 is not supported", |b| b[4] = 99),
    ];
    for (what, damage) in damages {
        let w = World::new("", &format!("first_run = \"post\"\n{CHANGES}"));
        w.source.set(&[(1, "a", "")]);
        w.run(RunMode::Deliver);
        assert_eq!(w.messages(), ["+a"]);
        let mut kv = w.port.kv_export();
        let chunk = kv
            .iter_mut()
            .find(|(k, _)| k.starts_with("ds1:s:snap:"))
            .map(|(_, v)| v)
            .expect("a snapshot chunk");
        damage(chunk);
        w.port.kv_import(kv);

        w.source.set(&[(1, "a2", ""), (2, "b", "")]);
        let r = w.run(RunMode::Deliver);
        assert!(r.record.baseline, "{what}: {:?}", r.record);
        assert_eq!(r.record.errors.len(), 1, "{what}: {:?}", r.record.errors);
        let note = &r.record.errors[0];
        assert!(
            note.contains(what) && note.contains("new baseline"),
            "{note}"
        );
        // Nothing posted (not even with first_run = "post"), a warning logged.
        assert_eq!(w.messages(), ["+a"], "{what}");
        assert!(
            w.port.logs().iter().any(|(_, m)| m.contains(what)),
            "{what}: {:?}",
            w.port.logs()
        );
        let history = run::history(&w.port, "s").unwrap();
        assert_eq!(history.last().map(|h| &h.errors), Some(&r.record.errors));

        // The new baseline works: the next run diffs against it.
        w.source.set(&[(1, "a2", ""), (2, "b2", "")]);
        let r = w.run(RunMode::Deliver);
        assert!(r.record.ok, "{what}: {:?}", r.record.errors);
        assert_eq!(w.messages(), ["+a", "~b2"], "{what}");
    }
}

#[test]
fn delivery_failure_resumes_from_the_outbox_without_repeats() {
    let w = World::baselined("", CHANGES);
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.port.fail_posts_after(1);
    let r = w.run(RunMode::Deliver);
    assert!(!r.record.ok);
    assert!(
        r.record.errors[0].contains("CreatePost"),
        "{:?}",
        r.record.errors
    );
    assert_eq!(w.messages(), ["+a"]);
    // Still failing: the next run does not read its source while the outbox is pending.
    w.source.set(&[(1, "a", ""), (2, "b", ""), (3, "c", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(!r.record.ok);
    assert!(
        r.record.errors[0].contains("did not read its source"),
        "{:?}",
        r.record.errors
    );
    w.port.heal_posts();
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    // Exactly once: "a" is not posted again; "b" from the outbox, then this run's "c".
    assert_eq!(w.messages(), ["+a", "+b", "+c"]);
}

#[test]
fn a_closed_gate_stops_delivery_between_messages_and_the_outbox_resumes() {
    let w = World::baselined("", CHANGES);
    w.source.set(&[(1, "a", ""), (2, "b", ""), (3, "c", "")]);
    w.gate.0.store(1, Ordering::SeqCst);
    // Not a failure of the sync (no failure notice): a note says where delivery paused.
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    let note = r.record.notes.join("; ");
    assert!(
        note.contains("the plugin is stopping") && note.contains("message 2 of 3"),
        "{note}"
    );
    assert_eq!(w.messages(), ["+a"]);
    // Still closed: the pending outbox pauses again, and the source is not read.
    w.source.fail("must not be read");
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    assert!(
        r.record
            .notes
            .join("; ")
            .contains("did not read its source"),
        "{:?}",
        r.record.notes
    );
    w.gate.0.store(usize::MAX, Ordering::SeqCst);
    w.source
        .set(&[(1, "a", ""), (2, "b", ""), (3, "c", ""), (4, "d", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    assert_eq!(w.messages(), ["+a", "+b", "+c", "+d"]);
}

#[test]
fn a_resume_run_delivers_what_is_left_without_reading_the_source() {
    let w = World::baselined("", CHANGES);
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.gate.0.store(1, Ordering::SeqCst);
    w.run(RunMode::Deliver);
    assert!(run::outbox_pending(&w.port, "s").unwrap());
    w.gate.0.store(usize::MAX, Ordering::SeqCst);
    w.source.fail("must not be read");
    let r = w.run(RunMode::Resume);
    assert!(r.record.ok, "{:?}", r.record.errors);
    assert_eq!(r.record.messages, 1);
    assert_eq!(w.messages(), ["+a", "+b"]);
    assert!(!run::outbox_pending(&w.port, "s").unwrap());
    // Nothing left: a resume does nothing and is not recorded.
    let before = run::history(&w.port, "s").unwrap().len();
    let r = w.run(RunMode::Resume);
    assert!(r.record.did_nothing(), "{:?}", r.record);
    assert_eq!(run::history(&w.port, "s").unwrap().len(), before);
}

#[test]
fn later_changes_reply_in_the_rows_thread() {
    let w = World::baselined("", CHANGES);
    w.source.set(&[(1, "a", "")]);
    w.run(RunMode::Deliver);
    w.source.set(&[(1, "a2", "")]);
    w.run(RunMode::Deliver);
    w.source.set(&[]);
    w.run(RunMode::Deliver);
    let posts = w.port.posts();
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[0].root_id, None);
    assert_eq!(posts[1].root_id.as_deref(), Some(posts[0].id.as_str()));
    assert_eq!(posts[2].root_id.as_deref(), Some(posts[0].id.as_str()));
}

#[test]
fn user_lookups_and_dm_routing_are_batched() {
    let body = "key = \"id\"\nchannel_column = \"dest\"\n[syncs.s.templates]\nadded = \"<@{{ dest | mattermost_user_lookup }}> {{ name }}\"";
    let w = World::new("", body);
    w.port.add_user("ann", "ann@example.com");
    w.port.add_user("bob", "bob@example.com");
    w.source.set(&[]);
    w.run(RunMode::Deliver);
    let rows: Vec<(i64, String, String)> = (0..10)
        .map(|i| {
            (
                i,
                format!("r{i}"),
                if i % 2 == 0 {
                    "ann@example.com".into()
                } else {
                    "bob@example.com".into()
                },
            )
        })
        .collect();
    let rows: Vec<(i64, &str, &str)> = rows
        .iter()
        .map(|(i, n, d)| (*i, n.as_str(), d.as_str()))
        .collect();
    w.source.set(&rows);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    let calls = w.port.calls();
    // One batch for the template look-ups and the DM targets; one DM channel per user.
    assert_eq!(calls.users_by_emails, 1);
    assert_eq!(calls.direct_channel, 2);
    assert_eq!(w.port.posts().len(), 10);
    assert_eq!(w.port.posts()[0].message, "@ann r0");
    assert_eq!(w.port.channel_label(&w.port.posts()[1].channel_id), "@bob");
}

#[test]
fn rows_routed_outside_the_allow_list_are_errors_not_posts() {
    let body =
        "key = \"id\"\nchannel_column = \"dest\"\n[syncs.s.templates]\nadded = \"{{ name }}\"";
    let w = World::new(
        "allowed_channels = [\"t\"]\nallow_direct_messages = false",
        body,
    );
    w.port.add_user("ann", "ann@example.com");
    let hr_id = w.port.channel_by_name("secret", "hr").unwrap().unwrap().id;
    w.source.set(&[]);
    w.run(RunMode::Deliver);
    w.source.set(&[
        (1, "ok", "t/c"),
        (2, "hr", "secret/hr"),
        (3, "hr-by-id", &hr_id),
        (4, "dm", "@ann"),
        (5, "nowhere", "t/missing"),
    ]);
    let r = w.run(RunMode::Deliver);
    assert_eq!(w.messages(), ["ok"]);
    let errors = r.record.errors.join("\n");
    assert!(
        errors.contains("row [2]: channel secret/hr is not in allowed_channels; not posted"),
        "{errors}"
    );
    assert!(
        errors.contains("row [3]: channel secret/hr is not in allowed_channels"),
        "{errors}"
    );
    assert!(
        errors.contains("row [4]: @ann would be a direct message, and this configuration has allow_direct_messages = false"),
        "{errors}"
    );
    assert!(errors.contains("row [5]: no channel t/missing"), "{errors}");
    assert!(!r.record.ok);

    // The rows that could not be routed were held back: once the channel exists, the next
    // run posts row 5 (nothing changed in the data), and keeps reporting the others.
    w.port.add_channel("t", "missing");
    let r = w.run(RunMode::Deliver);
    assert_eq!(w.messages(), ["ok", "nowhere"]);
    assert_eq!(r.record.errors.len(), 3, "{:?}", r.record.errors);
}

#[test]
fn preview_changes_nothing() {
    let w = World::baselined("", CHANGES);
    let kv = w.port.kv_export();
    w.source.set(&[(1, "a", "")]);
    let r = w.run(RunMode::Preview);
    assert_eq!(r.delivered.len(), 1);
    assert_eq!(r.delivered[0].message.message, "+a");
    assert!(w.port.posts().is_empty());
    assert_eq!(w.port.kv_export(), kv);
}

#[test]
fn large_snapshots_are_chunked_and_old_generations_removed() {
    let w = World::new("", CHANGES);
    // Pseudo-random text, so the snapshot does not compress below one chunk.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let names: Vec<String> = (0..30_000)
        .map(|_| {
            (0..4)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    format!("{x:016x}")
                })
                .collect()
        })
        .collect();
    let rows: Vec<(i64, &str, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (i as i64, n.as_str(), ""))
        .collect();
    w.source.set(&rows);
    w.run(RunMode::Deliver);
    let chunk_keys = |port: &MemoryPort| {
        port.kv_keys()
            .into_iter()
            .filter(|k| k.starts_with("ds1:s:snap:"))
            .collect::<Vec<_>>()
    };
    let first = chunk_keys(&w.port);
    assert!(first.len() > 1, "expected several chunks, got {first:?}");
    assert!(run::load_snapshot(&w.port, "s").unwrap().is_some());
    w.source.set(&rows[1..]);
    let r = w.run(RunMode::Deliver);
    assert_eq!(r.record.removed, 1);
    let second = chunk_keys(&w.port);
    assert!(
        second.iter().all(|k| !first.contains(k)),
        "old generation left behind"
    );
    run::reset(&w.port, "s").unwrap();
    assert!(chunk_keys(&w.port).is_empty());
    assert!(run::load_snapshot(&w.port, "s").unwrap().is_none());
}

#[test]
fn update_original_edits_the_threads_first_post() {
    let w = World::baselined("", &format!("update_original = true\n{CHANGES}"));
    w.source.set(&[(1, "a", "")]);
    w.run(RunMode::Deliver);
    w.source.set(&[(1, "a2", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    let posts = w.port.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!((posts[0].message.as_str(), posts[0].edits), ("+a2", 1));
    assert!(
        posts[0].props.contains_key(datasync::outbox::DELIVERY_PROP),
        "the edit keeps the delivery id: {:?}",
        posts[0].props
    );
    assert_eq!(posts[1].message, "~a2");
    assert_eq!(w.port.calls().update_post, 1);
    // The report (dry run, preview) shows the edit.
    let label = |id: &str| w.port.channel_label(id);
    let text = datasync::report::text(&r, &label);
    assert!(
        text.contains("~a2\n     edits the row's first post to:\n       +a2"),
        "{text}"
    );
    let json = datasync::report::json_lines(&r, &label);
    assert!(json.contains("\"edit_root\":\"+a2\""), "{json}");

    let bad = config::parse(
        "[connections.db]\nkind = \"sqlite\"\nurl = \"x\"\n[syncs.s]\nconnection = \"db\"\nsql = \"SELECT 1\"\nschedule = \"manual\"\nmode = \"csv\"\nchannel = \"t/c\"\nupdate_original = true\n",
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("field \"update_original\" (line 10)"), "{bad}");
}

/// A configuration whose sync reads `sql` from the SQLite file `url`.
fn reading(url: &str, sql: &str, body: &str) -> Config {
    let text = format!(
        "[connections.db]\nkind = \"sqlite\"\nurl = \"{url}\"\n\n[syncs.s]\nconnection = \"db\"\nsql = \"{sql}\"\nschedule = \"manual\"\n{body}\n"
    );
    config::parse(&text, &|_| None).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_sync_pointed_at_other_data_starts_a_new_baseline() {
    let mut w = World::new("", CHANGES);
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.run(RunMode::Deliver);
    // Same name, other connection, query or key: the old rows are not "removed" and the
    // new table's rows are not "added".
    let others = [
        reading("other.db", "SELECT 1", CHANGES),
        reading("x.db", "SELECT * FROM other", CHANGES),
        reading(
            "x.db",
            "SELECT * FROM other",
            "key = \"name\"\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"+{{ name }}\"",
        ),
    ];
    for (n, plan) in others.into_iter().enumerate() {
        w.plan = plan;
        w.source.set(&[(7, &format!("x{n}"), ""), (8, "y", "")]);
        let r = w.run(RunMode::Deliver);
        assert!(r.record.ok, "{:?}", r.record.errors);
        assert!(r.record.baseline);
        assert!(
            r.record
                .notes
                .iter()
                .any(|n| n.contains("reads other data")),
            "{:?}",
            r.record.notes
        );
        assert!(w.messages().is_empty(), "{:?}", w.messages());
    }
    // The new baseline is used from then on.
    w.source.set(&[(7, "x2", ""), (8, "y", ""), (9, "z", "")]);
    let r = w.run(RunMode::Deliver);
    assert_eq!(r.record.notes, Vec::<String>::new());
    assert_eq!(w.messages(), ["+z"]);
}

#[test]
fn a_failed_user_lookup_posts_nothing_and_commits_nothing() {
    let bodies = [
        // A mention looked up by e-mail…
        "key = \"id\"\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"{{ dest | mattermost_user_lookup }} {{ name }}\"",
        // …and a DM routed by e-mail.
        "key = \"id\"\nchannel_column = \"dest\"\n[syncs.s.templates]\nadded = \"{{ name }}\"",
    ];
    for body in bodies {
        let w = World::new("", body);
        w.port.add_user("ann", "ann@example.com");
        w.source.set(&[]);
        w.run(RunMode::Deliver);
        let before = run::load_snapshot(&w.port, "s").unwrap();
        w.source.set(&[(1, "hello", "ann@example.com")]);
        w.port.fail_lookups(true);
        let r = w.run(RunMode::Deliver);
        assert!(!r.record.ok);
        assert!(
            r.record.errors[0].contains("nothing was posted, the run is retried"),
            "{:?}",
            r.record.errors
        );
        assert!(w.port.posts().is_empty());
        assert_eq!(run::load_snapshot(&w.port, "s").unwrap(), before);
        w.port.fail_lookups(false);
        let r = w.run(RunMode::Deliver);
        assert!(r.record.ok, "{:?}", r.record.errors);
        assert_eq!(w.port.posts().len(), 1, "{body}");
    }
}

#[test]
fn a_permanent_post_failure_is_recorded_and_skipped() {
    let w = World::baselined("", CHANGES);
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.port
        .fail_posts_after_with(1, datasync::port::ErrorKind::Permanent);
    let r = w.run(RunMode::Deliver);
    assert_eq!(r.record.errors.len(), 1, "{:?}", r.record.errors);
    assert!(
        r.record.errors[0].contains("row [2]"),
        "{:?}",
        r.record.errors
    );
    w.port.heal_posts();
    w.source.set(&[(1, "a", ""), (2, "b", ""), (3, "c", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    // "b" is not retried (a permanent failure would block the sync), "a" is not repeated.
    assert_eq!(w.messages(), ["+a", "+c"]);
}

#[test]
fn a_crash_between_post_and_cursor_never_posts_twice() {
    // Compare-and-set 0 is the commit; k > 0 fails the cursor write after message k, the
    // moment a crash leaves a message posted but not recorded.
    for k in 0..6 {
        let w = World::baselined("", CHANGES);
        let rows: Vec<(i64, String)> = (1..=5).map(|i| (i, format!("r{i}"))).collect();
        let rows: Vec<(i64, &str, &str)> = rows.iter().map(|(i, n)| (*i, n.as_str(), "")).collect();
        w.source.set(&rows);
        w.port.fail_cas_after(Some(k));
        let r = w.run(RunMode::Deliver);
        if k == 0 {
            assert!(w.port.posts().is_empty(), "a failed commit posts nothing");
        } else {
            assert_eq!(w.port.posts().len(), k, "{:?}", r.record.errors);
        }
        w.port.fail_cas_after(None);
        let r = w.run(RunMode::Deliver);
        assert!(r.record.ok, "k={k}: {:?}", r.record.errors);
        assert_eq!(w.messages(), ["+r1", "+r2", "+r3", "+r4", "+r5"], "k={k}");
        let r = w.run(RunMode::Deliver);
        assert!(
            r.record.ok && r.record.messages == 0,
            "k={k}: {:?}",
            r.record
        );
    }
}

#[test]
fn a_row_whose_template_fails_is_retried_once_the_data_is_fixed() {
    let body = "key = \"id\"\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"+{{ name }} {{ 0 | date_tz: '%Y', dest }}\"\nchanged = \"~{{ name }} {{ 0 | date_tz: '%Y', dest }}\"";
    let w = World::new("", body);
    w.source.set(&[(1, "a", "UTC")]);
    w.run(RunMode::Deliver);
    w.source
        .set(&[(1, "a", "UTC"), (2, "b", "Mars/Base"), (3, "c", "UTC")]);
    let r = w.run(RunMode::Deliver);
    assert_eq!(w.messages(), ["+c 1970"]);
    assert!(
        r.record
            .errors
            .iter()
            .any(|e| e.contains("row [2]") && e.contains("Mars/Base")),
        "{:?}",
        r.record.errors
    );
    // Still broken: reported again, not lost.
    let r = w.run(RunMode::Deliver);
    assert_eq!(r.record.errors.len(), 1, "{:?}", r.record.errors);
    // Fixed: posted as the addition it is.
    w.source
        .set(&[(1, "a", "UTC"), (2, "b", "UTC"), (3, "c", "UTC")]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    assert_eq!(w.messages(), ["+c 1970", "+b 1970"]);
    // A change that fails keeps the row's previous values: fixed, it posts as a change.
    w.source
        .set(&[(1, "a2", "Mars/Base"), (2, "b", "UTC"), (3, "c", "UTC")]);
    w.run(RunMode::Deliver);
    w.source
        .set(&[(1, "a2", "UTC"), (2, "b", "UTC"), (3, "c", "UTC")]);
    w.run(RunMode::Deliver);
    assert_eq!(w.messages(), ["+c 1970", "+b 1970", "~a2 1970"]);
}

#[test]
fn update_original_without_a_changed_template_edits_the_root() {
    let body = "key = \"id\"\nchannel = \"t/c\"\nupdate_original = true\n[syncs.s.templates]\nadded = \"{{ name }}\"\nremoved = \"gone\"";
    let w = World::baselined("", body);
    w.source.set(&[(1, "a", "")]);
    w.run(RunMode::Deliver);
    w.source.set(&[(1, "a2", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    let posts = w.port.posts();
    assert_eq!(posts.len(), 1, "no reply, only the edit");
    assert_eq!((posts[0].message.as_str(), posts[0].edits), ("a2", 1));
    // Removal replies in the thread and forgets it: a row with the same key starts anew.
    w.source.set(&[]);
    w.run(RunMode::Deliver);
    w.source.set(&[(1, "again", "")]);
    w.run(RunMode::Deliver);
    let posts = w.port.posts();
    assert_eq!(posts.len(), 3);
    assert_eq!(posts[1].root_id.as_deref(), Some(posts[0].id.as_str()));
    assert_eq!(posts[2].root_id, None);
    assert!(
        w.port
            .kv_keys()
            .iter()
            .filter(|k| k.contains(":thread:"))
            .count()
            == 1,
        "{:?}",
        w.port.kv_keys()
    );
}

#[test]
fn blank_messages_are_skipped_and_counted() {
    let body = "key = \"id\"\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"{% if name != 'quiet' %}+{{ name }}{% endif %}  \"";
    let w = World::baselined("", body);
    w.source.set(&[(1, "a", ""), (2, "quiet", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    assert_eq!(w.messages(), ["+a  "]);
    assert_eq!((r.record.messages, r.record.skipped), (1, 1));
}

#[test]
fn flood_guard_refusal_commits_nothing() {
    let body = "key = \"id\"\nmax_messages = 1\nchannel_column = \"dest\"\n[syncs.s.templates]\nadded = \"+{{ name }}\"";
    let w = World::baselined("", body);
    w.source.set(&[(1, "a", "t/c"), (2, "b", "t/other")]);
    let r = w.run(RunMode::Deliver);
    assert!(!r.record.ok);
    assert!(w.port.posts().is_empty());
    assert!(
        r.record.errors[0].contains("max_messages = 1"),
        "{:?}",
        r.record.errors
    );
    // Nothing was committed: the rows are still changes for the next run.
    let r = w.run(RunMode::Deliver);
    assert_eq!(r.record.added, 2);
}

#[test]
fn an_empty_result_removes_every_row_or_fails_when_told_to() {
    let w = World::new("", CHANGES);
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.run(RunMode::Deliver);
    w.source.set(&[]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    assert_eq!(w.messages(), ["-a", "-b"]);
    assert!(
        r.record.notes[0].contains("no rows (the last run had 2)"),
        "{:?}",
        r.record.notes
    );

    // An HTTP `[]` has no columns at all: the same removals, and the rows come back as
    // additions (the key was kept), not as a new baseline.
    let w = World::new("", CHANGES);
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.run(RunMode::Deliver);
    w.source.set_nothing();
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    assert_eq!(w.messages(), ["-a", "-b"]);
    w.source.set(&[(1, "a", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(!r.record.baseline);
    assert_eq!(w.messages(), ["-a", "-b", "+a"]);

    let w = World::new("", &format!("empty_result = \"fail\"\n{CHANGES}"));
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.run(RunMode::Deliver);
    w.source.set(&[]);
    let r = w.run(RunMode::Deliver);
    assert!(!r.record.ok);
    assert!(
        r.record.errors[0].contains("empty_result = \"fail\""),
        "{:?}",
        r.record.errors
    );
    assert!(w.port.posts().is_empty());
    // The state was kept: when the source is back, nothing is "added" again.
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok && r.record.added == 0, "{:?}", r.record);
}

#[test]
fn damaged_state_is_reported_and_never_blocks_the_sync() {
    // A damaged outbox: its messages are reported lost, the sync goes on.
    let w = World::baselined("", CHANGES);
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.port.fail_posts_after(1);
    w.run(RunMode::Deliver);
    let mut kv = w.port.kv_export();
    for (k, v) in kv.iter_mut() {
        if k.contains(":out:") {
            v.truncate(v.len() / 2);
        }
    }
    w.port.kv_import(kv);
    w.port.heal_posts();
    w.source.set(&[(1, "a", ""), (2, "b", ""), (3, "c", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(
        r.record
            .errors
            .iter()
            .any(|e| e.contains("1 message(s) of an earlier run could not be delivered")),
        "{:?}",
        r.record.errors
    );
    assert_eq!(w.messages(), ["+a", "+c"]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);

    // A damaged index: a preview reports it and changes nothing; a run starts over.
    let mut kv = w.port.kv_export();
    kv.insert("ds1:s:meta".into(), b"{not json".to_vec());
    w.port.kv_import(kv.clone());
    let r = w.run(RunMode::Preview);
    assert!(
        r.record.errors[0].contains("stored state index is unreadable"),
        "{:?}",
        r.record.errors
    );
    assert_eq!(w.port.kv_export(), kv);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.baseline, "{:?}", r.record);
    assert!(
        r.record.errors[0].contains("new baseline"),
        "{:?}",
        r.record.errors
    );
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok && r.record.messages == 0, "{:?}", r.record);

    // Damaged history: reported through the log and started anew, never silently empty.
    let mut kv = w.port.kv_export();
    kv.insert("ds1:s:history".into(), b"[{".to_vec());
    w.port.kv_import(kv);
    assert!(run::history(&w.port, "s").is_err());
    w.run(RunMode::Deliver);
    assert!(
        w.port
            .logs()
            .iter()
            .any(|(_, m)| m.contains("history was started anew")),
        "{:?}",
        w.port.logs()
    );
    assert_eq!(run::history(&w.port, "s").unwrap().len(), 1);
}

#[test]
fn a_failed_run_names_its_stage() {
    let stage = |r: &run::RunReport| r.failure.as_ref().map(|f| f.stage());
    let w = World::new("", CHANGES);
    w.source.fail("connection refused");
    assert_eq!(stage(&w.run(RunMode::Deliver)), Some("source"));
    w.source.set(&[(1, "a", ""), (1, "b", "")]);
    assert_eq!(stage(&w.run(RunMode::Deliver)), Some("data"));
    w.source.set(&[]);
    w.run(RunMode::Deliver);
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.port.fail_posts_after(0);
    let r = w.run(RunMode::Deliver);
    // Committed: delivery stopped, but the run itself did not fail before its commit.
    assert_eq!(stage(&r), None);
    assert!(!r.record.ok);
    assert_eq!(stage(&w.run(RunMode::Deliver)), Some("delivery"));
    w.port.heal_posts();
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok && r.failure.is_none(), "{:?}", r.record.errors);

    let body = "key = \"id\"\nchannel = \"t/c\"\n[syncs.s.templates]\nadded = \"{{ dest | mattermost_user_lookup }}\"";
    let w = World::baselined("", body);
    w.source.set(&[(1, "a", "x@example.com")]);
    w.port.fail_lookups(true);
    assert_eq!(stage(&w.run(RunMode::Deliver)), Some("directory"));
}

#[test]
fn row_buttons_go_on_added_and_changed_posts_and_snoozed_rows_stay_quiet() {
    use datasync::buttons;
    use datasync::snooze::{self, Snooze};
    let body = format!("buttons = [\"acknowledge\", \"snooze\"]\n{CHANGES}");
    let w = World::baselined("", &body);
    w.source.set(&[(1, "a", ""), (2, "b", "")]);
    w.run(RunMode::Deliver);
    let posts = w.port.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].message, "+a", "the text is the template's");
    assert_eq!(
        buttons::row_of(&posts[0].props),
        Some(("s".into(), "[1]".into()))
    );
    let actions = &posts[0].props["attachments"][0]["actions"];
    assert_eq!(actions[0]["id"], "acknowledge");
    assert_eq!(actions[1]["id"], "snooze");

    let until = w.clock.now() + chrono::Duration::hours(1);
    let s = Snooze {
        by: "ann".into(),
        until,
    };
    assert!(snooze::snooze(&w.port, "s", "[1]", &s, w.clock.now()).unwrap());
    w.source.set(&[(1, "a2", ""), (2, "b2", "")]);
    let r = w.run(RunMode::Preview);
    let previewed: Vec<&str> = r
        .delivered
        .iter()
        .map(|d| d.message.message.as_str())
        .collect();
    assert_eq!(previewed, ["~b2"], "the preview leaves the snoozed row out");
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    assert_eq!(
        r.record.notes,
        ["1 message(s) not posted: their rows are snoozed"]
    );
    assert_eq!(w.messages(), ["+a", "+b", "~b2"]);
    assert!(buttons::row_of(&w.port.posts()[2].props).is_some());

    // Removed while snoozed: no message, and the row's thread is forgotten.
    w.source.set(&[(2, "b2", "")]);
    w.run(RunMode::Deliver);
    assert_eq!(w.messages().len(), 3);
    assert!(
        datasync::state::thread_root(&w.port, "s", "s\u{1f}[1]")
            .unwrap()
            .is_none()
    );
    // The snooze ends: the row speaks again. A removal carries no buttons.
    w.clock.advance(chrono::Duration::hours(1));
    w.source.set(&[(1, "a3", "")]);
    w.run(RunMode::Deliver);
    let posts = w.port.posts();
    let last: Vec<(&str, bool)> = posts[3..]
        .iter()
        .map(|p| (p.message.as_str(), buttons::row_of(&p.props).is_some()))
        .collect();
    assert_eq!(last, [("+a3", true), ("-b2", false)]);
}

#[test]
fn row_buttons_need_changes_mode_and_known_names() {
    let bad = |body: &str| {
        config::parse(
            &format!("[connections.db]\nkind = \"sqlite\"\nurl = \"x\"\n[syncs.s]\nconnection = \"db\"\nsql = \"SELECT 1\"\nschedule = \"manual\"\nchannel = \"t/c\"\n{body}\n"),
            &|_| None,
        )
        .unwrap_err()
        .to_string()
    };
    let e = bad("mode = \"csv\"\nbuttons = [\"snooze\"]");
    assert!(
        e.contains("field \"buttons\" (line 10)") && e.contains("row buttons need changes mode"),
        "{e}"
    );
    let e = bad(
        "key = \"id\"\nbuttons = [\"acknowledge\", \"mute\"]\n[syncs.s.templates]\nadded = \"x\"",
    );
    assert!(
        e.contains("\"mute\" is not a button: give \"acknowledge\" and/or \"snooze\""),
        "{e}"
    );
}

/// An example transform module, built by `make transforms`.
fn example_module(name: &str) -> std::path::PathBuf {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-unknown-unknown/release")
        .join(format!("transform_{name}.wasm"));
    assert!(
        path.exists(),
        "{}: build the examples with `make transforms`",
        path.display()
    );
    path
}

#[test]
fn a_transform_changes_rows_before_the_diff() {
    let top = format!(
        "[transforms.mask]\nmodule = {:?}\nparams = {{ columns = [\"name\"] }}\n",
        example_module("mask_email")
    );
    let w = World::baselined(&top, &format!("transform = \"mask\"\n{CHANGES}"));
    w.source
        .set(&[(1, "ann@x.io", "bob@y.io"), (2, "plain", "")]);
    let r = w.run(RunMode::Deliver);
    assert!(r.record.ok, "{:?}", r.record.errors);
    // (Data never mentions anyone: the renderer breaks the `@`.)
    assert_eq!(w.messages(), ["+a***@\u{2060}x.io", "+plain"]);
    // The diff sees the masked value: another address that masks the same is no change.
    w.source
        .set(&[(1, "alice@x.io", "bob@y.io"), (2, "plain", "")]);
    let r = w.run(RunMode::Deliver);
    assert_eq!((r.record.changed, w.messages().len()), (0, 2));
}

#[test]
fn a_transform_that_fails_fails_the_run_naming_it_and_the_row() {
    let top = format!(
        "[transforms.score]\nmodule = {:?}\n",
        example_module("score")
    );
    let w = World::baselined(&top, &format!("transform = \"score\"\n{CHANGES}"));
    let r = w.run(RunMode::Deliver);
    let e = r.failure.expect("the run fails").to_string();
    assert!(
        e.contains(
            "transform \"score\", on the columns: it refused: the source has no column \"arr\""
        ),
        "{e}"
    );
    assert!(w.port.posts().is_empty());
}

#[test]
fn transforms_are_checked_with_the_configuration() {
    let bad = |top: &str, body: &str| {
        config::parse(
            &format!("{top}\n[connections.db]\nkind = \"sqlite\"\nurl = \"x\"\n[syncs.s]\nconnection = \"db\"\nsql = \"SELECT 1\"\nschedule = \"manual\"\nchannel = \"t/c\"\nkey = \"id\"\n{body}\n[syncs.s.templates]\nadded = \"x\"\n"),
            &|_| None,
        )
        .unwrap_err()
        .to_string()
    };
    let e = bad("", "transform = \"nope\"");
    assert!(
        e.contains("no transform named \"nope\" (defined: none)"),
        "{e}"
    );
    let e = bad(
        "[transforms.t]\nmodule = \"sha256:12\"\nparams = 3",
        "transform = \"t\"",
    );
    assert!(
        e.contains("transform \"t\", field \"module\" (line 2): sha256: needs"),
        "{e}"
    );
    assert!(
        e.contains("field \"params\" (line 3): expected a table"),
        "{e}"
    );
    assert!(
        !e.contains("no transform named"),
        "a broken transform is reported once: {e}"
    );
    let e = bad("[transforms.t]\nmodule = \"m\"\nmemory_mb = 0", "");
    assert!(e.contains("field \"memory_mb\""), "{e}");
}

#[test]
fn a_transforms_params_reach_it_as_json() {
    let doc = "[transforms.t]\nmodule = \"m\"\nparams = { n = 1_000, hex = 0xff, f = 2.5, on = true, day = 2026-11-30, list = [\"a\", { b = 1 }] }\n[connections.db]\nkind = \"sqlite\"\nurl = \"x\"\n[syncs.s]\nconnection = \"db\"\nsql = \"SELECT 1\"\nschedule = \"manual\"\nchannel = \"t/c\"\nkey = \"id\"\ntransform = \"t\"\n[syncs.s.templates]\nadded = \"x\"\n";
    let config = config::parse(doc, &|_| None).unwrap();
    let t = config.syncs[0].transform.as_ref().unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&t.params).unwrap(),
        serde_json::json!({"n": 1000, "hex": 255, "f": 2.5, "on": true, "day": "2026-11-30", "list": ["a", {"b": 1}]})
    );
}

#[test]
fn uploaded_modules_are_found_by_name_and_checked_by_digest() {
    use datasync::config::ModuleRef;
    use datasync::transform::{self, store};
    let port = MemoryPort::new();
    let bytes = std::fs::read(example_module("identity")).unwrap();
    let now = "2026-11-30T12:00:00Z".parse().unwrap();
    let hash = store::save(&port, "ident", &bytes, "ann", now).unwrap();
    assert_eq!(hash, store::sha256(&bytes));
    assert_eq!(store::list(&port).unwrap()["ident"].by, "ann");
    assert!(transform::load(&port, &ModuleRef::Uploaded("ident".into())).is_ok());
    assert!(transform::load(&port, &ModuleRef::Hash(hash.clone())).is_ok());
    let e = transform::load(&port, &ModuleRef::Uploaded("other".into())).unwrap_err();
    assert!(e.contains("no module was uploaded as \"other\""), "{e}");
    // A damaged chunk is found by its digest, not run.
    datasync::port::Kv::kv_set(&port, &format!("ds1::module:{hash}:0"), b"junk").unwrap();
    assert!(
        store::read(&port, &hash)
            .unwrap_err()
            .contains("is damaged"),
        "checked"
    );
}
