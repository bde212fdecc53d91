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
use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

/// Counts live heap bytes and their peak, to tell what the memory is made of.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn heap_mb(bytes: usize) -> f64 {
    bytes as f64 / 1048576.0
}

fn mix(mut z: u64) -> u64 {
    // splitmix64: cheap, deterministic pseudo-random values per row.
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const WORDS: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];

/// Row `id` as of `version` (a changed row differs in amount, score and updated_at).
fn row(id: u64, version: u64) -> Row {
    let r = mix(id);
    let amount = (r % 1_000_000) + version * 137;
    let tier = WORDS[(r >> 20) as usize % WORDS.len()];
    vec![
        Cell::Int(id as i64),
        Cell::Text(format!(
            "customer {id} {}",
            WORDS[(r >> 8) as usize % WORDS.len()]
        )),
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
        if r & 2 == 0 {
            Cell::Null
        } else {
            Cell::Text(format!("note {}", r % 9973))
        },
        Cell::json(
            json!({"tier": tier, "n": (r >> 48) % 100, "tags": [WORDS[(r >> 52) as usize % 8]]}),
        ),
    ]
}

fn columns() -> Vec<String> {
    [
        "id",
        "name",
        "amount",
        "updated_at",
        "score",
        "active",
        "note",
        "attrs",
    ]
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
    let options = DiffOptions {
        key: vec!["id".into()],
        watched: None,
        ..DiffOptions::default()
    };
    // First run: baseline.
    let a = first(n);
    let t = Instant::now();
    let (baseline, snap) = diff(None, &a, &options).map_err(|e| e.to_string())?;
    let first_ms = ms(t);
    drop(baseline);
    let stored = snap.encode();
    drop((a, snap));
    let first_peak = status_kb("VmHWM:");

    // Steady state, with both peaks reset: decode, read the result, diff, encode.
    std::fs::write("/proc/self/clear_refs", "5").map_err(|e| format!("clear_refs: {e}"))?;
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let t = Instant::now();
    let previous = Snapshot::decode(&stored).map_err(|e| e.to_string())?;
    let decode_ms = ms(t);
    drop(stored);
    let after_decode = LIVE.load(Relaxed);
    let b = second(n);
    let rows_heap = LIVE.load(Relaxed) - after_decode;
    let t = Instant::now();
    let (changes, next) = diff(Some(&previous), &b, &options).map_err(|e| e.to_string())?;
    let diff_ms = ms(t);
    let t = Instant::now();
    let bytes = next.encode();
    let encode_ms = ms(t);
    let hwm = status_kb("VmHWM:");
    let heap_peak = PEAK.load(Relaxed).saturating_sub(base);
    let (total, added, changed, removed, snap_bytes) = (
        b.rows.len(),
        changes.added.len(),
        changes.changed.len(),
        changes.removed.len(),
        next.memory_bytes(),
    );
    drop((changes, next));

    // The one run after an admin renames a column: layouts differ, so every matched row is
    // compared cell by cell instead of as one byte string.
    let mut renamed = b.columns.to_vec();
    if let Some(note) = renamed.get_mut(6) {
        *note = "note_renamed".into();
    }
    let b = RowSet::new(renamed, b.rows);
    let t = Instant::now();
    let (slow, _) = diff(Some(&previous), &b, &options).map_err(|e| e.to_string())?;
    let slow_ms = ms(t);
    if slow.columns_added.len() != 1 || slow.changed.len() != changed {
        return Err(format!(
            "renamed-column run found {} changes",
            slow.changed.len()
        ));
    }
    let fields = [
        total.to_string(),
        added.to_string(),
        changed.to_string(),
        removed.to_string(),
        format!("{diff_ms:.1}"),
        format!("{slow_ms:.1}"),
        format!("{encode_ms:.1}"),
        format!("{decode_ms:.1}"),
        format!("{first_ms:.1}"),
        bytes.len().to_string(),
        format!("{:.1}", bytes.len() as f64 / total.max(1) as f64),
        format!("{:.1}", mb(hwm)),
        format!("{:.1}", mb(first_peak)),
        format!("{:.1}", heap_mb(heap_peak)),
        format!("{:.1}", heap_mb(rows_heap)),
        format!("{:.1}", heap_mb(snap_bytes)),
    ];
    println!("RESULT {}", fields.join(" "));
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
    let widths = [9, 6, 6, 6, 8, 8, 7, 7, 7, 10, 5, 8, 8, 8, 8, 8];
    let header = [
        "rows", "added", "chgd", "remvd", "diff ms", "slow ms", "enc ms", "dec ms", "1st ms",
        "bytes", "B/row", "HWM MB", "1st HWM", "heap pk", "rows MB", "snap MB",
    ];
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect();
        println!("{}", padded.join(" "));
    };
    println!("size_of::<Cell>() = {} bytes", std::mem::size_of::<Cell>());
    line(&header);
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
        match text.lines().find_map(|l| l.strip_prefix("RESULT ")) {
            Some(result) => line(&result.split(' ').collect::<Vec<_>>()),
            None => eprintln!("size {n}: no result line"),
        }
    }
    println!(
        "slow ms: diff after a column rename (cell-by-cell path, once per query edit); \
         HWM: VmHWM of the steady-state run (decode, read, diff, encode) in its own process; \
         1st HWM: the baseline run; heap pk: peak heap of the steady-state run; rows MB: heap \
         of the second result (RowSet); snap MB: one in-memory snapshot."
    );
}
