//! Change-detection benchmark: diff time, snapshot encode/decode time and size, peak memory.
//!
//! `cargo run -p datasync --release --example bench_diff [-- SIZES...]` (default 10000 100000
//! 1000000). Each size runs in a fresh child process of this binary (`--child N`) so that
//! its peak memory (`VmHWM`) is its own. In the child, the first run (baseline, which
//! clones every row into `added`) is measured apart: the peak is reset through
//! `/proc/self/clear_refs` before the steady-state run, which is what a sync does every
//! time: decode the stored snapshot, read the new result, diff, encode the new snapshot.
//!
//! Data: 8 columns (int key, text, decimal text, timestamp text, float, bool, nullable
//! text, small JSON); between the two results ~1% of rows change, ~0.5% are removed and
//! ~0.5% are added.

use datasync::diff::{DiffOptions, Snapshot, diff};
use datasync::row::{Cell, Row, RowSet};
use serde_json::json;
use std::process::Command;
use std::time::Instant;

fn mix(mut z: u64) -> u64 {
    // splitmix64: cheap, deterministic pseudo-random values per row.
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const WORDS: [&str; 8] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];

/// Row `id` as of `version` (a changed row differs in amount, score and updated_at).
fn row(id: u64, version: u64) -> Row {
    let r = mix(id);
    let amount = (r % 1_000_000) + version * 137;
    let tier = WORDS[(r >> 20) as usize % WORDS.len()];
    vec![
        Cell::Int(id as i64),
        Cell::Text(format!("customer {id} {}", WORDS[(r >> 8) as usize % WORDS.len()])),
        Cell::Decimal(format!("{}.{:02}", amount / 100, amount % 100)),
        Cell::Timestamp(format!(
            "2026-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            1 + (r >> 12) % 12,
            1 + (r >> 16) % 28,
            (r >> 24) % 24,
            (r >> 30) % 60,
            (version * 7 + (r >> 36)) % 60
        )),
        Cell::Float(((r >> 40) % 100_000) as f64 / 7.0 + version as f64),
        Cell::Bool(r & 1 == 1),
        if r & 2 == 0 { Cell::Null } else { Cell::Text(format!("note {}", r % 9973)) },
        Cell::Json(json!({"tier": tier, "n": (r >> 48) % 100, "tags": [WORDS[(r >> 52) as usize % 8]]})),
    ]
}

fn columns() -> Vec<String> {
    ["id", "name", "amount", "updated_at", "score", "active", "note", "attrs"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The first result: ids 0..n.
fn first(n: u64) -> RowSet {
    RowSet::new(columns(), (0..n).map(|id| row(id, 0)).collect())
}

/// The second result: of every 200 rows, 2 changed, 1 removed, 1 added (a new id).
fn second(n: u64) -> RowSet {
    let mut rows = Vec::with_capacity(n as usize + 1);
    for id in 0..n {
        match mix(id ^ 0x5eed) % 200 {
            0 | 1 => rows.push(row(id, 1)),
            2 => rows.push(row(n + id, 0)),
            3 => {}
            _ => rows.push(row(id, 0)),
        }
    }
    RowSet::new(columns(), rows)
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn child(n: u64) -> Result<(), String> {
    let options = DiffOptions { key: vec!["id".into()], watched: None };
    // First run: baseline.
    let a = first(n);
    let t = Instant::now();
    let (baseline, snap) = diff(None, &a, &options).map_err(|e| e.to_string())?;
    let first_ms = ms(t);
    drop(baseline);
    let stored = snap.encode();
    drop((a, snap));
    let first_peak = status_kb("VmHWM:");

    // Steady state, with the peak reset: decode, read the result, diff, encode.
    std::fs::write("/proc/self/clear_refs", "5").map_err(|e| format!("clear_refs: {e}"))?;
    let before = status_kb("VmRSS:");
    let t = Instant::now();
    let previous = Snapshot::decode(&stored).map_err(|e| e.to_string())?;
    let decode_ms = ms(t);
    drop(stored);
    let rss_snapshot = status_kb("VmRSS:");
    let b = second(n);
    let rss_rows = status_kb("VmRSS:");
    let t = Instant::now();
    let (changes, next) = diff(Some(&previous), &b, &options).map_err(|e| e.to_string())?;
    let diff_ms = ms(t);
    let t = Instant::now();
    let bytes = next.encode();
    let encode_ms = ms(t);
    let peak = status_kb("VmHWM:");
    println!(
        "RESULT {} {} {} {} {} {:.1} {:.1} {:.1} {:.1} {} {:.1} {:.1} {:.1} {:.1} {:.1} {}",
        b.rows.len(),
        changes.added.len(),
        changes.changed.len(),
        changes.removed.len(),
        bytes.len(),
        diff_ms,
        encode_ms,
        decode_ms,
        first_ms,
        0,
        mb(peak),
        mb(first_peak),
        mb(rss_rows.saturating_sub(rss_snapshot)),
        next.memory_bytes() as f64 / 1048576.0,
        mb(rss_snapshot.saturating_sub(before)),
        std::mem::size_of::<Cell>(),
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, n] = args.as_slice()
        && flag == "--child"
    {
        let n = n.parse().unwrap_or(0);
        if let Err(e) = child(n) {
            eprintln!("bench child {n}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let sizes: Vec<u64> = if args.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        args.iter().filter_map(|a| a.parse().ok()).collect()
    };
    let Ok(me) = std::env::current_exe() else {
        eprintln!("cannot find this executable to re-run it");
        std::process::exit(1);
    };
    println!(
        "{:>9} {:>6} {:>6} {:>6} | {:>8} {:>8} {:>8} {:>8} | {:>11} {:>6} | {:>9} {:>9} {:>8} {:>8}",
        "rows", "added", "chgd", "remvd", "diff ms", "enc ms", "dec ms", "1st ms",
        "bytes", "B/row", "peak MB", "1st pk MB", "rows MB", "snap MB"
    );
    for n in sizes {
        let out = match Command::new(&me).arg("--child").arg(n.to_string()).output() {
            Ok(out) if out.status.success() => out,
            Ok(out) => {
                eprintln!("size {n} failed: {}", String::from_utf8_lossy(&out.stderr));
                continue;
            }
            Err(e) => {
                eprintln!("size {n}: cannot start child: {e}");
                continue;
            }
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
            eprintln!("size {n}: no result line");
            continue;
        };
        let f: Vec<&str> = line.split(' ').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("?");
        let rows: f64 = get(0).parse().unwrap_or(1.0);
        let bytes: f64 = get(4).parse().unwrap_or(0.0);
        println!(
            "{:>9} {:>6} {:>6} {:>6} | {:>8} {:>8} {:>8} {:>8} | {:>11} {:>6.1} | {:>9} {:>9} {:>8} {:>8}",
            get(0), get(1), get(2), get(3), get(5), get(6), get(7), get(8),
            get(4), bytes / rows.max(1.0), get(10), get(11), get(12), get(13)
        );
        if let Some(cell) = f.get(15) {
            eprintln!("  (size_of::<Cell>() = {cell} bytes; decoded snapshot took {} MB of RSS)", get(14));
        }
    }
}
