//! Change detection across runs, data-driven: each case is a list of runs (a result and
//! what the diff must report), played through `play`, which stores the snapshot as bytes
//! between runs exactly as the engine does.

use datasync::diff::{
    Changes, DiffError, DiffOptions, Snapshot, SnapshotBuilder, diff, diff_built, display_key,
};
use datasync::row::{Cell, Row, RowSet, RowSink};
use serde_json::json;

fn text(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

fn table(columns: &[&str], rows: Vec<Row>) -> RowSet {
    RowSet::new(columns.iter().map(|c| c.to_string()).collect(), rows)
}

fn opts(key: &[&str], watched: Option<&[&str]>) -> DiffOptions {
    DiffOptions {
        key: key.iter().map(|s| s.to_string()).collect(),
        watched: watched.map(|w| w.iter().map(|s| s.to_string()).collect()),
        ..DiffOptions::default()
    }
}

/// What one run must report; keys as `display_key` shows them.
#[derive(Debug, PartialEq, Default)]
struct Expect {
    first_run: bool,
    added: Vec<String>,
    /// Key and changed column names.
    changed: Vec<(String, Vec<String>)>,
    removed: Vec<String>,
    total: usize,
}

fn expect(
    first_run: bool,
    added: &[&str],
    changed: &[(&str, &[&str])],
    removed: &[&str],
    total: usize,
) -> Expect {
    Expect {
        first_run,
        added: added.iter().map(|s| s.to_string()).collect(),
        changed: changed
            .iter()
            .map(|(k, cols)| (k.to_string(), cols.iter().map(|s| s.to_string()).collect()))
            .collect(),
        removed: removed.iter().map(|s| s.to_string()).collect(),
        total,
    }
}

fn summarize(changes: &Changes, options: &DiffOptions) -> Expect {
    let columns = &changes.columns;
    let key: Vec<usize> = options
        .key
        .iter()
        .filter_map(|k| columns.iter().position(|c| c == k))
        .collect();
    let show = |row: &Row| display_key(columns, &key, row);
    Expect {
        first_run: changes.first_run,
        added: changes.added.iter().map(show).collect(),
        changed: changes
            .changed
            .iter()
            .map(|c| (show(&c.row), c.changed_columns.clone()))
            .collect(),
        removed: changes.removed.iter().map(show).collect(),
        total: changes.total,
    }
}

/// Plays the runs in order, carrying the snapshot through encode/decode, checks each
/// run's summary and returns every run's full `Changes` for further checks.
fn play(name: &str, options: &DiffOptions, runs: Vec<(RowSet, Expect)>) -> Vec<Changes> {
    let mut stored: Option<Vec<u8>> = None;
    let mut all = Vec::new();
    for (n, (result, want)) in runs.into_iter().enumerate() {
        let previous = stored
            .as_deref()
            .map(|b| Snapshot::decode(b).unwrap_or_else(|e| panic!("{name} run {n}: {e}")));
        let (changes, next) = diff(previous.as_ref(), &result, options)
            .unwrap_or_else(|e| panic!("{name} run {n}: {e}"));
        assert_eq!(summarize(&changes, options), want, "{name}, run {n}");
        assert_eq!(
            next.len(),
            result.rows.len(),
            "{name}, run {n}: snapshot size"
        );
        stored = Some(next.encode());
        all.push(changes);
    }
    all
}

fn err(previous: Option<&Snapshot>, result: &RowSet, options: &DiffOptions) -> DiffError {
    match diff(previous, result, options) {
        Ok(_) => panic!("expected an error for {result:?}"),
        Err(e) => e,
    }
}

#[test]
fn single_key_across_runs() {
    let cols = ["id", "name", "score"];
    let r = |id, name: &str, score| vec![Cell::Int(id), text(name), Cell::Int(score)];
    play(
        "single key",
        &opts(&["id"], None),
        vec![
            (
                table(&cols, vec![r(1, "a", 10), r(2, "b", 20), r(3, "c", 30)]),
                expect(true, &["1", "2", "3"], &[], &[], 3),
            ),
            (
                table(&cols, vec![r(1, "a", 10), r(2, "b", 21), r(4, "d", 40)]),
                expect(false, &["4"], &[("2", &["score"])], &["3"], 3),
            ),
            (
                table(&cols, vec![r(4, "D", 41), r(1, "a", 10)]),
                expect(false, &[], &[("4", &["name", "score"])], &["2"], 2),
            ),
            (
                table(&cols, vec![r(4, "D", 41), r(1, "a", 10)]),
                expect(false, &[], &[], &[], 2),
            ),
        ],
    );
}

#[test]
fn composite_keys() {
    let cols = ["region", "id", "status"];
    let r = |region: &str, id, status: &str| vec![text(region), Cell::Int(id), text(status)];
    play(
        "composite",
        &opts(&["region", "id"], None),
        vec![
            (
                table(&cols, vec![r("eu", 1, "ok"), r("us", 1, "ok")]),
                expect(
                    true,
                    &["(region=eu, id=1)", "(region=us, id=1)"],
                    &[],
                    &[],
                    2,
                ),
            ),
            (
                table(&cols, vec![r("eu", 1, "down"), r("eu", 2, "ok")]),
                expect(
                    false,
                    &["(region=eu, id=2)"],
                    &[("(region=eu, id=1)", &["status"])],
                    &["(region=us, id=1)"],
                    2,
                ),
            ),
        ],
    );
}

#[test]
fn watched_columns_limit_what_counts() {
    let cols = ["id", "status", "seen_at"];
    let r = |id, status: &str, seen: &str| {
        vec![Cell::Int(id), text(status), Cell::Timestamp(seen.into())]
    };
    let runs = play(
        "watched",
        &opts(&["id"], Some(&["status"])),
        vec![
            (
                table(&cols, vec![r(1, "up", "t1"), r(2, "up", "t1")]),
                expect(true, &["1", "2"], &[], &[], 2),
            ),
            // Only the unwatched timestamp moves: nothing changed.
            (
                table(&cols, vec![r(1, "up", "t2"), r(2, "up", "t2")]),
                expect(false, &[], &[], &[], 2),
            ),
            (
                table(&cols, vec![r(1, "up", "t3"), r(2, "down", "t3")]),
                expect(false, &[], &[("2", &["status"])], &[], 2),
            ),
        ],
    );
    // `previous` is the whole previous row, including the unwatched column.
    assert_eq!(runs[2].changed[0].previous, r(2, "up", "t2"));
}

#[test]
fn watched_column_set_changed_by_config() {
    let cols = ["id", "a", "b"];
    let r = |id, a, b| vec![Cell::Int(id), Cell::Int(a), Cell::Int(b)];
    let first = table(&cols, vec![r(1, 1, 1), r(2, 2, 2)]);
    let (_, snap) = diff(None, &first, &opts(&["id"], Some(&["a"]))).unwrap();
    let second = table(&cols, vec![r(1, 1, 9), r(2, 3, 2)]);
    let (changes, _) = diff(Some(&snap), &second, &opts(&["id"], Some(&["b"]))).unwrap();
    let changed: Vec<_> = changes
        .changed
        .iter()
        .map(|c| (c.row.clone(), c.changed_columns.clone()))
        .collect();
    assert_eq!(changed, vec![(r(1, 1, 9), vec!["b".to_string()])]);
}

#[test]
fn duplicate_keys_name_the_key() {
    let single = table(
        &["id", "v"],
        vec![
            vec![Cell::Int(7), text("a")],
            vec![Cell::Int(8), text("b")],
            vec![Cell::Int(7), text("c")],
        ],
    );
    let e = err(None, &single, &opts(&["id"], None));
    assert_eq!(e, DiffError::DuplicateKey { key: "7".into() });
    assert_eq!(e.to_string(), "duplicate key 7 in the result");

    let composite = table(
        &["region", "id"],
        vec![
            vec![text("eu"), Cell::Int(42)],
            vec![text("eu"), Cell::Int(42)],
        ],
    );
    let e = err(None, &composite, &opts(&["region", "id"], None));
    assert_eq!(
        e.to_string(),
        "duplicate key (region=eu, id=42) in the result"
    );
}

#[test]
fn missing_key_and_watched_columns_are_named() {
    let result = table(&["id", "name"], vec![vec![Cell::Int(1), text("a")]]);
    let e = err(None, &result, &opts(&["ID"], None));
    assert_eq!(
        e,
        DiffError::MissingKeyColumn {
            column: "ID".into(),
            available: "\"id\", \"name\"".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "key column \"ID\" is not in the result (columns: \"id\", \"name\")"
    );

    let e = err(None, &result, &opts(&["id"], Some(&["name", "status"])));
    assert_eq!(
        e,
        DiffError::MissingWatchedColumn {
            column: "status".into(),
            available: "\"id\", \"name\"".into()
        }
    );

    assert_eq!(
        err(None, &result, &opts(&[], None)),
        DiffError::NoKeyColumns
    );
    // A result with columns but without the key column is still refused when it is empty.
    let empty_with_columns = table(&["name"], vec![]);
    assert_eq!(
        err(None, &empty_with_columns, &opts(&["id"], None)).to_string(),
        "key column \"id\" is not in the result (columns: \"name\")"
    );
}

/// An empty result without columns (an HTTP JSON `[]`) is zero rows: everything before is
/// removed, and rows that come back are added, not a new baseline.
#[test]
fn an_empty_result_without_columns_removes_every_row() {
    let cols = ["id", "name"];
    let r = |id, name: &str| vec![Cell::Int(id), text(name)];
    let runs = play(
        "empty without columns",
        &opts(&["id"], Some(&["name"])),
        vec![
            (
                table(&cols, vec![r(1, "a"), r(2, "b")]),
                expect(true, &["1", "2"], &[], &[], 2),
            ),
            (table(&[], vec![]), expect(false, &[], &[], &["1", "2"], 0)),
            (table(&[], vec![]), expect(false, &[], &[], &[], 0)),
            (
                table(&cols, vec![r(2, "b")]),
                expect(false, &["2"], &[], &[], 1),
            ),
        ],
    );
    assert_eq!(runs[1].columns.to_vec(), cols);
    assert_eq!(runs[1].removed, vec![r(1, "a"), r(2, "b")]);
    // A first run that is empty is an empty baseline.
    play(
        "empty first run",
        &opts(&["id"], None),
        vec![
            (table(&[], vec![]), expect(true, &[], &[], &[], 0)),
            (
                table(&cols, vec![r(1, "a")]),
                expect(true, &["1"], &[], &[], 1),
            ),
        ],
    );
}

#[test]
fn null_keys_are_values_distinct_from_the_text_null() {
    let cols = ["k", "v"];
    play(
        "null keys",
        &opts(&["k"], None),
        vec![
            (
                table(
                    &cols,
                    vec![
                        vec![Cell::Null, Cell::Int(1)],
                        vec![text("null"), Cell::Int(2)],
                    ],
                ),
                expect(true, &["NULL", "\"null\""], &[], &[], 2),
            ),
            (
                table(
                    &cols,
                    vec![
                        vec![text("null"), Cell::Int(2)],
                        vec![Cell::Null, Cell::Int(3)],
                    ],
                ),
                expect(false, &[], &[("NULL", &["v"])], &[], 2),
            ),
            (
                table(&cols, vec![vec![Cell::Null, Cell::Int(3)]]),
                expect(false, &[], &[], &["\"null\""], 1),
            ),
        ],
    );
    let two_nulls = table(
        &cols,
        vec![
            vec![Cell::Null, Cell::Int(1)],
            vec![Cell::Null, Cell::Int(2)],
        ],
    );
    assert_eq!(
        err(None, &two_nulls, &opts(&["k"], None)),
        DiffError::DuplicateKey { key: "NULL".into() }
    );
}

#[test]
fn typed_keys_do_not_mix() {
    // Int(1) and Text("1") are different keys: the same id changing type is a new row.
    let runs = play(
        "typed keys",
        &opts(&["k"], None),
        vec![
            (
                table(&["k"], vec![vec![Cell::Int(1)], vec![text("1")]]),
                expect(true, &["1", "1"], &[], &[], 2),
            ),
            (
                table(&["k"], vec![vec![text("1")]]),
                expect(false, &[], &[], &["1"], 1),
            ),
        ],
    );
    assert_eq!(runs[1].removed, vec![vec![Cell::Int(1)]]);
}

#[test]
fn column_set_changes_are_reported_not_counted() {
    let v1 = table(
        &["id", "old", "v"],
        vec![
            vec![Cell::Int(1), text("x"), Cell::Int(1)],
            vec![Cell::Int(2), text("y"), Cell::Int(2)],
        ],
    );
    let v2 = table(
        &["v", "id", "new"],
        vec![
            vec![Cell::Int(1), Cell::Int(1), text("n")],
            vec![Cell::Int(5), Cell::Int(2), text("n")],
            vec![Cell::Int(3), Cell::Int(3), text("n")],
        ],
    );
    let v3 = table(
        &["v", "id", "new"],
        vec![
            vec![Cell::Int(1), Cell::Int(1), text("n")],
            vec![Cell::Int(5), Cell::Int(2), text("m")],
            vec![Cell::Int(3), Cell::Int(3), text("n")],
        ],
    );
    let runs = play(
        "column set",
        &opts(&["id"], None),
        vec![
            (v1, expect(true, &["1", "2"], &[], &[], 2)),
            (v2, expect(false, &["3"], &[("2", &["v"])], &[], 3)),
            (v3, expect(false, &[], &[("2", &["new"])], &[], 3)),
        ],
    );
    assert_eq!(runs[1].columns_added, vec!["new".to_string()]);
    assert_eq!(runs[1].columns_removed, vec!["old".to_string()]);
    // Previous values are aligned to the current columns; the new column was NULL.
    assert_eq!(
        runs[1].changed[0].previous,
        vec![Cell::Int(2), Cell::Int(2), Cell::Null]
    );
    assert!(runs[2].columns_added.is_empty() && runs[2].columns_removed.is_empty());
}

#[test]
fn removed_rows_lose_dropped_columns_and_get_null_for_new_ones() {
    let v1 = table(
        &["id", "a"],
        vec![
            vec![Cell::Int(1), text("keep")],
            vec![Cell::Int(2), text("gone")],
        ],
    );
    let v2 = table(&["b", "id"], vec![vec![text("b1"), Cell::Int(1)]]);
    let runs = play(
        "removed alignment",
        &opts(&["id"], None),
        vec![
            (v1, expect(true, &["1", "2"], &[], &[], 2)),
            (v2, expect(false, &[], &[], &["2"], 1)),
        ],
    );
    assert_eq!(runs[1].removed, vec![vec![Cell::Null, Cell::Int(2)]]);
}

#[test]
fn type_changes_count_as_changes() {
    let cols = ["id", "v"];
    let runs = play(
        "types",
        &opts(&["id"], None),
        vec![
            (
                table(
                    &cols,
                    vec![
                        vec![Cell::Int(1), Cell::Int(5)],
                        vec![Cell::Int(2), Cell::Decimal("1.0".into())],
                    ],
                ),
                expect(true, &["1", "2"], &[], &[], 2),
            ),
            (
                table(
                    &cols,
                    vec![
                        vec![Cell::Int(1), text("5")],
                        vec![Cell::Int(2), Cell::Decimal("1.00".into())],
                    ],
                ),
                expect(false, &[], &[("1", &["v"]), ("2", &["v"])], &[], 2),
            ),
        ],
    );
    assert_eq!(
        runs[1].changed[0].previous,
        vec![Cell::Int(1), Cell::Int(5)]
    );
}

#[test]
fn equality_rules_for_floats_and_json() {
    let cols = ["id", "f", "j"];
    let r = |id, f: f64, j: serde_json::Value| vec![Cell::Int(id), Cell::Float(f), Cell::json(j)];
    play(
        "equality",
        &opts(&["id"], None),
        vec![
            (
                table(
                    &cols,
                    vec![
                        r(1, 0.0, json!({"a": 1, "b": [1, 2]})),
                        r(2, 1.5, json!({"n": 1})),
                        r(3, f64::NAN, json!(null)),
                    ],
                ),
                expect(true, &["1", "2", "3"], &[], &[], 3),
            ),
            // -0.0 == 0.0, object key order is irrelevant, NaN equals itself; 1 vs 1.0 differ.
            (
                table(
                    &cols,
                    vec![
                        r(1, -0.0, json!({"b": [1, 2], "a": 1})),
                        r(2, 1.5, serde_json::from_str(r#"{"n": 1.0}"#).unwrap()),
                        r(3, f64::NAN, json!(null)),
                    ],
                ),
                expect(false, &[], &[("2", &["j"])], &[], 3),
            ),
            (
                table(
                    &cols,
                    vec![
                        r(1, -0.0, json!({"b": [2, 1], "a": 1})),
                        r(2, 1.5000001, serde_json::from_str(r#"{"n": 1.0}"#).unwrap()),
                        r(3, f64::NAN, json!(null)),
                    ],
                ),
                expect(false, &[], &[("1", &["j"]), ("2", &["f"])], &[], 3),
            ),
        ],
    );
}

#[test]
fn unicode_keys_and_values() {
    let cols = ["name", "städte"];
    play(
        "unicode",
        &opts(&["name"], None),
        vec![
            (
                table(
                    &cols,
                    vec![
                        vec![text("Zoë"), text("Köln")],
                        vec![text("日本"), text("東京")],
                    ],
                ),
                expect(true, &["Zoë", "日本"], &[], &[], 2),
            ),
            (
                table(
                    &cols,
                    vec![
                        vec![text("日本"), text("大阪 🏯")],
                        vec![text("Zoe"), text("Köln")],
                    ],
                ),
                expect(false, &["Zoe"], &[("日本", &["städte"])], &["Zoë"], 2),
            ),
        ],
    );
}

#[test]
fn empty_results() {
    let cols = ["id"];
    play(
        "empty",
        &opts(&["id"], None),
        vec![
            (table(&cols, vec![]), expect(true, &[], &[], &[], 0)),
            (
                table(&cols, vec![vec![Cell::Int(1)], vec![Cell::Int(2)]]),
                expect(false, &["1", "2"], &[], &[], 2),
            ),
            (
                table(&cols, vec![]),
                expect(false, &[], &[], &["1", "2"], 0),
            ),
            (table(&cols, vec![]), expect(false, &[], &[], &[], 0)),
        ],
    );
}

#[test]
fn removed_rows_keep_their_last_values_in_snapshot_order() {
    let cols = ["id", "host", "state", "meta"];
    let r = |id, host: &str, state: &str| {
        vec![
            Cell::Int(id),
            text(host),
            text(state),
            Cell::json(json!({"dc": host, "n": id})),
        ]
    };
    let runs = play(
        "removed values",
        &opts(&["id"], None),
        vec![
            (
                table(
                    &cols,
                    vec![r(3, "c", "up"), r(1, "a", "up"), r(2, "b", "up")],
                ),
                expect(true, &["3", "1", "2"], &[], &[], 3),
            ),
            (
                table(
                    &cols,
                    vec![r(3, "c", "up"), r(1, "a", "down"), r(2, "b", "up")],
                ),
                expect(false, &[], &[("1", &["state"])], &[], 3),
            ),
            (
                table(&cols, vec![r(2, "b", "up")]),
                expect(false, &[], &[], &["3", "1"], 1),
            ),
        ],
    );
    assert_eq!(runs[2].removed, vec![r(3, "c", "up"), r(1, "a", "down")]);
}

#[test]
fn first_run_lists_every_row_and_key_change_rebaselines() {
    let cols = ["id", "email", "v"];
    let rows = vec![
        vec![Cell::Int(1), text("a@x"), Cell::Int(1)],
        vec![Cell::Int(2), text("b@x"), Cell::Int(2)],
    ];
    let result = table(&cols, rows.clone());
    let (first, snap) = diff(None, &result, &opts(&["id"], None)).unwrap();
    assert!(first.first_run && !first.key_changed);
    assert_eq!(first.added, rows);
    assert_eq!(first.total, 2);
    // The admin re-keys the sync on e-mail: rows cannot be matched, so it is a new baseline.
    let (rekeyed, _) = diff(Some(&snap), &result, &opts(&["email"], None)).unwrap();
    assert!(rekeyed.first_run && rekeyed.key_changed);
    assert!(rekeyed.removed.is_empty() && rekeyed.changed.is_empty());
    assert_eq!(rekeyed.added.len(), 2);
    // An empty default snapshot behaves like no snapshot.
    let (fresh, _) = diff(Some(&Snapshot::default()), &result, &opts(&["id"], None)).unwrap();
    assert!(fresh.first_run && !fresh.key_changed);
}

#[test]
fn a_baseline_can_skip_listing_rows() {
    let result = table(&["id"], vec![vec![Cell::Int(1)], vec![Cell::Int(2)]]);
    let options = DiffOptions {
        omit_first_run_rows: true,
        ..opts(&["id"], None)
    };
    let (first, snap) = diff(None, &result, &options).unwrap();
    assert!(first.first_run && first.added.is_empty());
    assert_eq!(first.total, 2);
    assert_eq!(snap.len(), 2);
    // Only first runs are affected: later added rows are listed.
    let more = table(&["id"], vec![vec![Cell::Int(1)], vec![Cell::Int(3)]]);
    let (next, _) = diff(Some(&snap), &more, &options).unwrap();
    assert_eq!(next.added, vec![vec![Cell::Int(3)]]);
    assert_eq!(next.removed, vec![vec![Cell::Int(2)]]);
}

#[test]
fn streamed_rows_diff_like_a_result_in_memory() {
    let cols = ["id", "v", "doc"];
    let first = table(
        &cols,
        (0..50)
            .map(|i| {
                vec![
                    Cell::Int(i),
                    text(&format!("v{i}")),
                    Cell::json(json!({"i": i})),
                ]
            })
            .collect(),
    );
    let second = table(
        &cols,
        (5..60)
            .map(|i| {
                vec![
                    Cell::Int(i),
                    text(&format!("v{}", i % 7)),
                    Cell::json(json!({"i": i})),
                ]
            })
            .collect(),
    );
    let options = opts(&["id"], None);
    let (_, snap) = diff(None, &first, &options).unwrap();
    let mut builder = SnapshotBuilder::new(&options);
    second.clone().send_to(&mut builder).unwrap();
    assert_eq!(builder.len(), 55);
    let streamed = diff_built(Some(&snap), builder, &options).unwrap();
    let in_memory = diff(Some(&snap), &second, &options).unwrap();
    assert_eq!(streamed, in_memory);
    assert_eq!(streamed.0.removed.len(), 5);
    assert_eq!(streamed.0.added.len(), 10);
}

#[test]
fn the_builder_refuses_bad_results_as_they_arrive() {
    let options = opts(&["id"], None);
    // A missing key column is refused with the columns, before any row.
    let mut builder = SnapshotBuilder::new(&options);
    let refusal = builder.columns(vec!["x".to_string()].into()).unwrap_err();
    assert_eq!(
        refusal,
        r#"key column "id" is not in the result (columns: "x")"#
    );
    // A duplicate key is refused at the row that repeats it, and the diff reports it.
    let mut builder = SnapshotBuilder::new(&options);
    builder.columns(vec!["id".to_string()].into()).unwrap();
    builder.row(vec![Cell::Int(7)]).unwrap();
    let refusal = builder.row(vec![Cell::Int(7)]).unwrap_err();
    assert_eq!(refusal, "duplicate key 7 in the result");
    assert_eq!(builder.len(), 1);
    assert_eq!(
        diff_built(None, builder, &options).unwrap_err(),
        DiffError::DuplicateKey { key: "7".into() }
    );
    // A source that sent nothing at all gave an empty result without columns.
    let (changes, snapshot) =
        diff_built(None, SnapshotBuilder::new(&options), &options).expect("empty result");
    assert!(changes.first_run && changes.added.is_empty() && snapshot.is_empty());
}

#[test]
fn malformed_rows_are_errors_not_panics() {
    let result = table(
        &["id", "v"],
        vec![vec![Cell::Int(1), Cell::Int(1)], vec![Cell::Int(2)]],
    );
    assert_eq!(
        err(None, &result, &opts(&["id"], None)),
        DiffError::RowWidth {
            row: 1,
            expected: 2,
            found: 1
        }
    );
}

#[test]
fn deep_json_is_refused_with_the_column() {
    let mut deep = json!(1);
    for _ in 0..300 {
        deep = json!([deep]);
    }
    let result = table(&["id", "doc"], vec![vec![Cell::Int(1), Cell::json(deep)]]);
    assert_eq!(
        err(None, &result, &opts(&["id"], None)),
        DiffError::JsonTooDeep {
            column: "doc".into(),
            limit: 256
        }
    );
}

#[test]
fn repeated_column_names_match_by_occurrence() {
    let cols = ["id", "x", "x"];
    play(
        "repeated names",
        &opts(&["id"], None),
        vec![
            (
                table(&cols, vec![vec![Cell::Int(1), Cell::Int(1), Cell::Int(2)]]),
                expect(true, &["1"], &[], &[], 1),
            ),
            (
                table(&cols, vec![vec![Cell::Int(1), Cell::Int(1), Cell::Int(3)]]),
                expect(false, &[], &[("1", &["x"])], &[], 1),
            ),
        ],
    );
}

#[test]
fn snapshot_index_finds_previous_rows() {
    let cols = ["region", "id", "v"];
    let result = table(
        &cols,
        vec![
            vec![text("eu"), Cell::Int(1), text("a")],
            vec![Cell::Null, Cell::Int(1), text("b")],
        ],
    );
    let (_, snap) = diff(None, &result, &opts(&["id", "region"], None)).unwrap();
    let snap = Snapshot::decode(&snap.encode()).unwrap();
    assert_eq!(snap.key_columns(), vec!["id", "region"]);
    let index = snap.index();
    assert_eq!(
        index.get(&[Cell::Int(1), Cell::Null]).unwrap(),
        Some(vec![Cell::Null, Cell::Int(1), text("b")])
    );
    assert_eq!(
        index.get(&[Cell::Int(1), text("eu")]).unwrap(),
        Some(vec![text("eu"), Cell::Int(1), text("a")])
    );
    assert_eq!(index.get(&[Cell::Int(1), text("us")]).unwrap(), None);
}
