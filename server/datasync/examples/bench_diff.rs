//! Change-detection benchmark: diff time, snapshot encode/decode time and size, peak memory.
//!
//! `cargo run -p datasync --release --example bench_diff [-- [--rowset] SIZES...]` (default
//! 10000 100000 1000000). Measures the streaming path a changes-mode sync takes: rows are
//! generated one by one straight into a `SnapshotBuilder`, as a source pushes them, and no
//! `RowSet` is ever held. `--rowset` also measures the old path (whole result as a
//! `RowSet`, then `diff`) for comparison. Each measurement runs in a fresh child process of
//! this binary (`--child stream|rowset N`) so that its peak memory (`VmHWM`) is its own. In
//! the child, the first run (a baseline) is measured apart: the peak is reset through
//! `/proc/self/clear_refs` before the steady-state run, which is what a sync does every
//! time: decode the stored snapshot, read the new result, diff, encode the new snapshot.
//!
//! Data: 8 columns (int key, text, decimal text, timestamp text, float, bool, nullable
//! text, small JSON); between the two results ~1% of rows change, ~0.5% are removed and
//! ~0.5% are added.

use datasync::diff::{DiffOptions, Snapshot, SnapshotBuilder, diff, diff_built};
use datasync::row::{Cell, Columns, Row, RowSetBuilder, RowSink};
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

/// Pushes the first result (ids 0..n) into `sink`, row by row, as a source would.
fn first(n: u64, sink: &mut dyn RowSink) -> Result<(), String> {
    sink.columns(columns().into())?;
    (0..n).try_for_each(|id| sink.row(row(id, 0)))
}

/// Pushes the second result: of every 200 rows, 2 changed, 1 removed, 1 added (a new id).
fn second(n: u64, names: Vec<String>, sink: &mut dyn RowSink) -> Result<(), String> {
    sink.columns(names.into())?;
    for id in 0..n {
        match mix(id ^ 0x5eed) % 200 {
            0 | 1 => sink.row(row(id, 1))?,
            2 => sink.row(row(n + id, 0))?,
            3 => {}
            _ => sink.row(row(id, 0))?,
        }
    }
    Ok(())
}

/// Passes rows on to `inner`, adding up the time spent in it (the builder's encoding and
/// duplicate check, without the cost of producing the rows).
struct Timed<'a> {
    inner: &'a mut dyn RowSink,
    spent: std::time::Duration,
}

impl RowSink for Timed<'_> {
    fn columns(&mut self, columns: Columns) -> Result<(), String> {
        self.inner.columns(columns)
    }
    fn row(&mut self, row: Row) -> Result<(), String> {
        let t = Instant::now();
        let result = self.inner.row(row);
        self.spent += t.elapsed();
        result
    }
}

/// Counts rows and drops them: what generating a result costs by itself.
struct Discard(usize);

impl RowSink for Discard {
    fn columns(&mut self, _: Columns) -> Result<(), String> {
        Ok(())
    }
    fn row(&mut self, _: Row) -> Result<(), String> {
        self.0 += 1;
        Ok(())
    }
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

fn options() -> DiffOptions {
    DiffOptions {
        key: vec!["id".into()],
        watched: None,
        ..DiffOptions::default()
    }
}

/// The streaming path a sync takes: rows go from the "source" straight into a
/// [`SnapshotBuilder`]; only added/changed/removed rows are ever cells.
fn child_stream(n: u64) -> Result<Vec<String>, String> {
    let options = options();
    // First run: a baseline, which lists nothing (`first_run = "baseline"`).
    let baseline = DiffOptions {
        omit_first_run_rows: true,
        ..options.clone()
    };
    let t = Instant::now();
    let mut builder = SnapshotBuilder::new(&baseline);
    first(n, &mut builder)?;
    let (_, snap) = diff_built(None, builder, &baseline).map_err(|e| e.to_string())?;
    let first_ms = ms(t);
    let stored = snap.encode();
    drop(snap);
    let first_peak = status_kb("VmHWM:");

    // What producing the rows costs alone (the source's share of the stream time).
    let t = Instant::now();
    let mut discard = Discard(0);
    second(n, columns(), &mut discard)?;
    let gen_ms = ms(t);

    // Steady state, with both peaks reset: decode, read the result into the builder, diff,
    // encode.
    std::fs::write("/proc/self/clear_refs", "5").map_err(|e| format!("clear_refs: {e}"))?;
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let t = Instant::now();
    let previous = Snapshot::decode(&stored).map_err(|e| e.to_string())?;
    let decode_ms = ms(t);
    drop(stored);
    let t = Instant::now();
    let mut builder = SnapshotBuilder::new(&options);
    let mut timed = Timed {
        inner: &mut builder,
        spent: std::time::Duration::ZERO,
    };
    second(n, columns(), &mut timed)?;
    let encode_rows_ms = timed.spent.as_secs_f64() * 1000.0;
    let t_cmp = Instant::now();
    let (changes, next) =
        diff_built(Some(&previous), builder, &options).map_err(|e| e.to_string())?;
    let cmp_ms = ms(t_cmp);
    let stream_ms = ms(t);
    let t = Instant::now();
    let bytes = next.encode();
    let encode_ms = ms(t);
    let hwm = status_kb("VmHWM:");
    let heap_peak = PEAK.load(Relaxed).saturating_sub(base);
    let (total, added, changed, removed, snap_bytes) = (
        changes.total,
        changes.added.len(),
        changes.changed.len(),
        changes.removed.len(),
        next.memory_bytes(),
    );
    drop((changes, next));

    // The one run after an admin renames a column: layouts differ, so every matched row is
    // compared cell by cell instead of as one byte string.
    let mut renamed = columns();
    if let Some(note) = renamed.get_mut(6) {
        *note = "note_renamed".into();
    }
    let t = Instant::now();
    let mut builder = SnapshotBuilder::new(&options);
    second(n, renamed, &mut builder)?;
    let (slow, _) = diff_built(Some(&previous), builder, &options).map_err(|e| e.to_string())?;
    let slow_ms = ms(t);
    if slow.columns_added.len() != 1 || slow.changed.len() != changed {
        return Err(format!(
            "renamed-column run found {} changes",
            slow.changed.len()
        ));
    }
    Ok(vec![
        total.to_string(),
        added.to_string(),
        changed.to_string(),
        removed.to_string(),
        format!("{stream_ms:.1}"),
        format!("{gen_ms:.1}"),
        format!("{:.1}", encode_rows_ms + cmp_ms),
        format!("{encode_rows_ms:.1}"),
        format!("{cmp_ms:.1}"),
        format!("{slow_ms:.1}"),
        format!("{encode_ms:.1}"),
        format!("{decode_ms:.1}"),
        format!("{first_ms:.1}"),
        bytes.len().to_string(),
        format!("{:.1}", bytes.len() as f64 / total.max(1) as f64),
        format!("{:.1}", mb(hwm)),
        format!("{:.1}", mb(first_peak)),
        format!("{:.1}", heap_mb(heap_peak)),
        format!("{:.1}", heap_mb(snap_bytes)),
    ])
}

/// The old path, for comparison: the whole result held as a `RowSet`, then diffed.
fn child_rowset(n: u64) -> Result<Vec<String>, String> {
    let options = options();
    let mut rows = RowSetBuilder::new();
    first(n, &mut rows)?;
    let (_, snap) = diff(None, &rows.finish(), &options).map_err(|e| e.to_string())?;
    let stored = snap.encode();
    drop(snap);
    std::fs::write("/proc/self/clear_refs", "5").map_err(|e| format!("clear_refs: {e}"))?;
    let previous = Snapshot::decode(&stored).map_err(|e| e.to_string())?;
    drop(stored);
    let t = Instant::now();
    let mut rows = RowSetBuilder::new();
    second(n, columns(), &mut rows)?;
    let rows = rows.finish();
    let read_ms = ms(t);
    let t = Instant::now();
    let (changes, next) = diff(Some(&previous), &rows, &options).map_err(|e| e.to_string())?;
    let diff_ms = ms(t);
    let bytes = next.encode();
    let hwm = status_kb("VmHWM:");
    drop((changes, bytes));
    Ok(vec![
        rows.rows.len().to_string(),
        format!("{read_ms:.1}"),
        format!("{diff_ms:.1}"),
        format!("{:.1}", mb(hwm)),
    ])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, path, n] = args.as_slice()
        && flag == "--child"
    {
        let n = n.parse().unwrap_or(0);
        let result = match path.as_str() {
            "rowset" => child_rowset(n),
            _ => child_stream(n),
        };
        match result {
            Ok(fields) => println!("RESULT {}", fields.join(" ")),
            Err(e) => {
                eprintln!("bench child {path} {n}: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let rowset = args.iter().any(|a| a == "--rowset");
    let sizes: Vec<u64> = match args
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect::<Vec<_>>()
    {
        s if s.is_empty() => vec![10_000, 100_000, 1_000_000],
        s => s,
    };
    let Ok(me) = std::env::current_exe() else {
        eprintln!("cannot find this executable to re-run it");
        std::process::exit(1);
    };
    println!("size_of::<Cell>() = {} bytes", std::mem::size_of::<Cell>());
    println!("streaming path (source -> SnapshotBuilder -> diff_built):");
    let table = Table::new(
        &[9, 6, 6, 6, 9, 7, 8, 7, 7, 8, 7, 7, 7, 10, 5, 7, 8, 8, 8],
        &[
            "rows",
            "added",
            "chgd",
            "remvd",
            "stream ms",
            "gen ms",
            "diff ms",
            "push ms",
            "cmp ms",
            "slow ms",
            "enc ms",
            "dec ms",
            "1st ms",
            "bytes",
            "B/row",
            "HWM MB",
            "1st HWM",
            "heap pk",
            "snap MB",
        ],
    );
    for &n in &sizes {
        table.row(child(&me, "stream", n));
    }
    println!(
        "stream ms: first row pushed until Changes and the new snapshot are ready (rows \
         generated, encoded, compared); gen ms: generating the same rows alone (the source's \
         share); diff ms = push ms (time inside the builder: encoding rows, duplicate check) + \
         cmp ms (diff_built after the last row: index, compare, decode changes); slow ms: the same after a column \
         rename (cell-by-cell path); HWM: VmHWM of the steady-state run (decode, stream, \
         diff, encode) in its own process; 1st HWM: the baseline run; heap pk: peak heap of \
         the steady-state run; snap MB: one in-memory snapshot."
    );
    if rowset {
        println!("\nold path for comparison (whole result as a RowSet, then diff):");
        let table = Table::new(&[9, 8, 8, 8], &["rows", "read ms", "diff ms", "HWM MB"]);
        for &n in &sizes {
            table.row(child(&me, "rowset", n));
        }
    }
}

/// Runs one measurement in a fresh process, so its peak memory is its own.
fn child(me: &std::path::Path, path: &str, n: u64) -> Option<Vec<String>> {
    let out = match Command::new(me)
        .args(["--child", path, &n.to_string()])
        .output()
    {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            eprintln!("size {n} failed: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Err(e) => {
            eprintln!("size {n}: cannot start child: {e}");
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let found = text.lines().find_map(|l| l.strip_prefix("RESULT "));
    if found.is_none() {
        eprintln!("size {n}: no result line");
    }
    found.map(|r| r.split(' ').map(String::from).collect())
}

struct Table {
    widths: Vec<usize>,
}

impl Table {
    fn new(widths: &[usize], header: &[&str]) -> Table {
        let table = Table {
            widths: widths.to_vec(),
        };
        table.row(Some(header.iter().map(|h| h.to_string()).collect()));
        table
    }

    fn row(&self, cells: Option<Vec<String>>) {
        let Some(cells) = cells else { return };
        let padded: Vec<String> = cells
            .iter()
            .zip(&self.widths)
            .map(|(c, &w)| format!("{c:>w$}"))
            .collect();
        println!("{}", padded.join(" "));
    }
}
