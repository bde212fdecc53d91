//! The snapshot's binary form: round trips, damage of every kind, versions; and the diff
//! checked against a naive model on random data.

use datasync::diff::{DiffError, DiffOptions, SNAPSHOT_VERSION, Snapshot, cells_equal, diff};
use datasync::row::{Cell, Row, RowSet};
use proptest::prelude::*;
use serde_json::json;
use std::collections::HashMap;

const HEADER_LEN: usize = 46;

fn key_id() -> DiffOptions {
    DiffOptions {
        key: vec!["id".into()],
        watched: None,
        ..DiffOptions::default()
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        any::<i64>().prop_map(|n| json!(n)),
        "[-]?[0-9]{1,5}\\.[0-9]{1,3}".prop_map(|t| serde_json::from_str(&t).unwrap_or(json!(0))),
        ".{0,8}".prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec(("[a-z]{0,4}", inner), 0..4)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn cell() -> impl Strategy<Value = Cell> {
    prop_oneof![
        Just(Cell::Null),
        any::<bool>().prop_map(Cell::Bool),
        any::<i64>().prop_map(Cell::Int),
        any::<f64>().prop_map(Cell::Float),
        "-?[0-9]{1,20}(\\.[0-9]{1,10})?".prop_map(Cell::Decimal),
        ".{0,12}".prop_map(Cell::Text),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}".prop_map(Cell::Date),
        "[0-9]{2}:[0-9]{2}:[0-9]{2}".prop_map(Cell::Time),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z?".prop_map(Cell::Timestamp),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(Cell::Bytes),
        json_value().prop_map(Cell::json),
    ]
}

/// A result with an `id` key column (unique ids drawn from `ids`) and `width` random columns.
fn result(width: usize, ids: std::ops::Range<i64>, rows: usize) -> impl Strategy<Value = RowSet> {
    let row = (ids, prop::collection::vec(cell(), width));
    prop::collection::vec(row, 0..rows).prop_map(move |rows| {
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<Row> = rows
            .into_iter()
            .filter(|(id, _)| seen.insert(*id))
            .map(|(id, cells)| std::iter::once(Cell::Int(id)).chain(cells).collect())
            .collect();
        let mut columns = vec!["id".to_string()];
        columns.extend((0..width).map(|c| format!("c{c}")));
        RowSet::new(columns, rows)
    })
}

/// Bit-exact cell equality (a round trip must keep -0.0 and NaN payloads, JSON order).
fn same_bits(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Float(x), Cell::Float(y)) => x.to_bits() == y.to_bits(),
        (Cell::Json(x), Cell::Json(y)) => serde_json::to_vec(x).ok() == serde_json::to_vec(y).ok(),
        _ => a == b,
    }
}

fn same_rows(a: &[Row], b: &[Row]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_bits(p, q)))
}

fn sample() -> (RowSet, Vec<u8>) {
    let rows = (0..40)
        .map(|i| {
            vec![
                Cell::Int(i),
                Cell::Text(format!("name {i} ü")),
                Cell::Float(i as f64 / 3.0),
                Cell::json(json!({"i": i, "tags": ["a", {"b": null}]})),
                if i % 3 == 0 {
                    Cell::Null
                } else {
                    Cell::Decimal(format!("{i}.50"))
                },
            ]
        })
        .collect();
    let set = RowSet::new(
        vec![
            "id".into(),
            "name".into(),
            "f".into(),
            "doc".into(),
            "d".into(),
        ],
        rows,
    );
    let (_, snap) = diff(None, &set, &key_id()).unwrap();
    let bytes = snap.encode();
    (set, bytes)
}

/// Builds snapshot bytes around arbitrary (possibly invalid) meta and row payloads, with
/// a correct header and checksum, so the decoder's inner checks are reached.
fn forge(meta: &[u8], rows: &[u8]) -> Vec<u8> {
    let meta_lz = lz4_flex::block::compress(meta);
    let rows_lz = lz4_flex::block::compress(rows);
    let mut out = b"DSSN".to_vec();
    out.push(SNAPSHOT_VERSION);
    out.push(0);
    out.extend_from_slice(&[0; 8]);
    for len in [meta.len(), meta_lz.len(), rows.len(), rows_lz.len()] {
        out.extend_from_slice(&(len as u64).to_le_bytes());
    }
    out.extend_from_slice(&meta_lz);
    out.extend_from_slice(&rows_lz);
    let sum = twox_hash::XxHash3_64::oneshot(&out[14..]);
    out[6..14].copy_from_slice(&sum.to_le_bytes());
    out
}

/// The (meta, rows) payloads of valid snapshot bytes.
fn payloads(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let (meta_lz, rows_lz) = (word(22), word(38));
    let meta =
        lz4_flex::block::decompress(&bytes[HEADER_LEN..HEADER_LEN + meta_lz], word(14)).unwrap();
    let rows = lz4_flex::block::decompress(
        &bytes[HEADER_LEN + meta_lz..HEADER_LEN + meta_lz + rows_lz],
        word(30),
    )
    .unwrap();
    (meta, rows)
}

#[test]
fn round_trip_keeps_rows_and_layout() {
    let (set, bytes) = sample();
    let decoded = Snapshot::decode(&bytes).unwrap();
    assert_eq!(decoded.len(), 40);
    assert_eq!(decoded.columns(), &set.columns[..]);
    let rows: Vec<Row> = decoded.rows().collect::<Result<_, _>>().unwrap();
    assert!(same_rows(&rows, &set.rows));
    assert_eq!(decoded.encode(), bytes, "encoding is deterministic");
}

#[test]
fn every_prefix_is_rejected() {
    let (_, bytes) = sample();
    for len in 0..bytes.len() {
        assert!(
            matches!(
                Snapshot::decode(&bytes[..len]),
                Err(DiffError::BadSnapshot(_))
            ),
            "prefix of {len} bytes was accepted"
        );
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let (_, bytes) = sample();
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut damaged = bytes.clone();
            damaged[at] ^= 1 << bit;
            assert!(
                Snapshot::decode(&damaged).is_err(),
                "flip at {at} bit {bit} accepted"
            );
        }
    }
}

#[test]
fn other_versions_get_a_clear_error() {
    let (_, bytes) = sample();
    for version in [0u8, 2, 255] {
        let mut other = bytes.clone();
        other[4] = version;
        let e = Snapshot::decode(&other).unwrap_err();
        assert_eq!(
            e,
            DiffError::UnsupportedSnapshotVersion {
                found: version,
                supported: 1
            }
        );
        assert!(
            e.to_string()
                .contains(&format!("version {version} is not supported")),
            "{e}"
        );
    }
    let e = Snapshot::decode(b"{\"rows\": []}").unwrap_err();
    assert!(e.to_string().contains("wrong magic"), "{e}");
}

#[test]
fn lengths_claiming_too_much_are_refused_before_allocating() {
    let (_, bytes) = sample();
    let mut big = bytes.clone();
    big[30..38].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    let sum = twox_hash::XxHash3_64::oneshot(&big[14..]);
    big[6..14].copy_from_slice(&sum.to_le_bytes());
    let e = Snapshot::decode(&big).unwrap_err();
    assert!(e.to_string().contains("claims"), "{e}");

    // A row count far beyond the data: fails on the data, without reserving for the count.
    let (mut meta, rows) = payloads(&bytes);
    meta.truncate(meta.len() - 1);
    meta.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(matches!(
        Snapshot::decode(&forge(&meta, &rows)),
        Err(DiffError::BadSnapshot(_))
    ));
}

#[test]
fn damaged_payloads_with_valid_checksums_never_panic() {
    let (_, bytes) = sample();
    let (meta, rows) = payloads(&bytes);
    assert_eq!(
        Snapshot::decode(&forge(&meta, &rows)).unwrap(),
        Snapshot::decode(&bytes).unwrap()
    );
    let mut rejected = 0;
    for at in 0..rows.len() {
        for value in [0x00, 0x07, 0x80, 0xff] {
            let mut bad = rows.clone();
            bad[at] = value;
            match Snapshot::decode(&forge(&meta, &bad)) {
                Err(DiffError::BadSnapshot(_)) => rejected += 1,
                Err(e) => panic!("unexpected error {e}"),
                // Some changes are still valid encodings (a different letter): then the
                // snapshot must be fully usable.
                Ok(snap) => {
                    snap.rows().collect::<Result<Vec<_>, _>>().unwrap();
                }
            }
        }
        let truncated = Snapshot::decode(&forge(&meta, &rows[..at]));
        assert!(
            matches!(truncated, Err(DiffError::BadSnapshot(_))),
            "rows cut at {at}"
        );
    }
    assert!(
        rejected > rows.len(),
        "most damage must be detected ({rejected})"
    );
    for at in 0..meta.len() {
        let mut bad = meta.clone();
        bad[at] ^= 0x55;
        if let Ok(snap) = Snapshot::decode(&forge(&bad, &rows)) {
            snap.rows().collect::<Result<Vec<_>, _>>().unwrap();
        }
    }
}

#[test]
fn empty_and_default_snapshots_round_trip() {
    let empty = RowSet::new(vec!["id".into()], vec![]);
    let (_, snap) = diff(None, &empty, &key_id()).unwrap();
    assert_eq!(Snapshot::decode(&snap.encode()).unwrap(), snap);
    let default = Snapshot::default();
    assert_eq!(Snapshot::decode(&default.encode()).unwrap(), default);
}

/// Naive reference: what changed, by key, comparing every column with `cells_equal`.
fn model(prev: &RowSet, cur: &RowSet) -> (Vec<i64>, Vec<i64>, Vec<i64>) {
    let id = |r: &Row| match r.first() {
        Some(Cell::Int(n)) => *n,
        _ => unreachable!(),
    };
    let before: HashMap<i64, &Row> = prev.rows.iter().map(|r| (id(r), r)).collect();
    let now: HashMap<i64, &Row> = cur.rows.iter().map(|r| (id(r), r)).collect();
    let added = cur
        .rows
        .iter()
        .filter(|r| !before.contains_key(&id(r)))
        .map(id)
        .collect();
    let changed = cur
        .rows
        .iter()
        .filter(|r| {
            before
                .get(&id(r))
                .is_some_and(|p| !p.iter().zip(r.iter()).all(|(a, b)| cells_equal(a, b)))
        })
        .map(id)
        .collect();
    let removed = prev
        .rows
        .iter()
        .filter(|r| !now.contains_key(&id(r)))
        .map(id)
        .collect();
    (added, changed, removed)
}

fn ids(rows: &[Row]) -> Vec<i64> {
    rows.iter()
        .filter_map(|r| match r.first() {
            Some(Cell::Int(n)) => Some(*n),
            _ => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn encode_decode_round_trip(set in result(4, -1000..1000, 30)) {
        let (_, snap) = diff(None, &set, &key_id()).unwrap();
        let decoded = Snapshot::decode(&snap.encode()).unwrap();
        prop_assert_eq!(&decoded, &snap);
        let rows: Vec<Row> = decoded.rows().collect::<Result<_, _>>().unwrap();
        prop_assert!(same_rows(&rows, &set.rows));
    }

    #[test]
    fn random_flips_never_panic(set in result(3, 0..50, 12), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let (_, snap) = diff(None, &set, &key_id()).unwrap();
        let (meta, mut rows) = payloads(&snap.encode());
        if !rows.is_empty() {
            for (at, value) in flips {
                let at = at % rows.len();
                rows[at] = value;
            }
        }
        if let Ok(s) = Snapshot::decode(&forge(&meta, &rows)) {
            let _ = s.rows().collect::<Vec<_>>();
            let _ = diff(Some(&s), &set, &key_id());
        }
    }

    #[test]
    fn diff_matches_a_naive_model(
        prev in result(2, 0..40, 30),
        cur in result(2, 0..40, 30),
    ) {
        let (_, snap) = diff(None, &prev, &key_id()).unwrap();
        let snap = Snapshot::decode(&snap.encode()).unwrap();
        let (changes, _) = diff(Some(&snap), &cur, &key_id()).unwrap();
        let (added, changed, removed) = model(&prev, &cur);
        prop_assert_eq!(ids(&changes.added), added);
        prop_assert_eq!(ids(&changes.changed.iter().map(|c| c.row.clone()).collect::<Vec<_>>()), changed);
        prop_assert_eq!(ids(&changes.removed), removed);
        for c in &changes.changed {
            prop_assert!(!c.changed_columns.is_empty());
            let p = prev.rows.iter().find(|r| r.first() == c.row.first()).unwrap();
            prop_assert!(same_rows(std::slice::from_ref(&c.previous), std::slice::from_ref(p)));
        }
    }
}
