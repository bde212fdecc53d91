//! `make bench-transforms`: what a WebAssembly transform costs.
//!
//! For each example module (built by `make transforms`): its compile time, then rows/s and
//! nanoseconds per row through the transform sink at 10 k and 1 M rows, against the same
//! rows pushed straight into the next sink (the run without a transform), on wasmi and, built
//! with the `wasmtime` feature (as `make bench-transforms` does), on wasmtime. Prints
//! figures; asserts nothing.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use datasync::row::{Cell, Columns, Row, RowSink};
use datasync::transform::wasm::interpreter::Interpreter;
use datasync::transform::wasm::{Compiled, Runtime, WasmTransform};
use datasync::transform::{Limits, TransformSink};

/// Counts what reaches it (the diff's place in a run).
#[derive(Default)]
struct Count(usize);

impl RowSink for Count {
    fn columns(&mut self, _: Columns) -> Result<(), String> {
        Ok(())
    }
    fn row(&mut self, row: Row) -> Result<(), String> {
        self.0 += row.len().min(1);
        Ok(())
    }
}

const COLUMNS: [&str; 7] = ["id", "email", "note", "arr", "health", "seats", "payload"];

/// A row like a CRM's: ids, text with an address, an exact number, small ints, JSON.
fn row(i: usize) -> Row {
    vec![
        Cell::Int(i as i64),
        Cell::Text(format!("user{i}@example.com")),
        Cell::Text(format!("renewal call with user{i}@example.com on Friday")),
        Cell::Decimal(format!("{}.00", 1000 + i % 90_000)),
        Cell::Int((i % 100) as i64),
        Cell::Int((i % 40) as i64),
        Cell::json(
            serde_json::json!({"customer": {"name": format!("Acme {i}")}, "plan": "pro", "usage": {"seats": i % 40}}),
        ),
    ]
}

/// Pushes `n` rows of the first `width` columns into `sink` (6 leaves the JSON column
/// out); the time it took.
fn push(sink: &mut dyn RowSink, n: usize, width: usize) -> Duration {
    let columns: Columns = COLUMNS[..width]
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .into();
    sink.columns(columns).expect("columns");
    let start = Instant::now();
    for i in 0..n {
        let mut r = row(i);
        r.truncate(width);
        sink.row(r).expect("row");
    }
    start.elapsed()
}

fn module(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-unknown-unknown/release");
    let path = dir.join(format!("transform_{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `make transforms`", path.display()))
}

const EXAMPLES: [(&str, &str, usize); 5] = [
    ("identity", "{}", 7),
    ("identity", "{}", 6),
    ("mask_email", r#"{"columns": ["email", "note"]}"#, 7),
    ("score", "{}", 7),
    (
        "flatten_json",
        r#"{"column": "payload", "fields": ["customer.name", "plan", "usage.seats"]}"#,
        7,
    ),
];

fn main() {
    println!(
        "{:<12} {:<14} {:>4} {:>10} {:>10} {:>12} {:>10} {:>10}",
        "runtime", "transform", "cols", "rows", "compile", "rows/s", "ns/row", "+ns/row"
    );
    for n in [10_000, 1_000_000] {
        let mut base_ns = [0.0; 8];
        for width in [7, 6] {
            let base = push(&mut Count::default(), n, width);
            base_ns[width] = base.as_nanos() as f64 / n as f64;
            println!(
                "{:<12} {:<14} {:>4} {:>10} {:>10} {:>12.0} {:>10.0} {:>10}",
                "-",
                "(none)",
                width,
                n,
                "-",
                n as f64 / base.as_secs_f64(),
                base_ns[width],
                "-"
            );
        }
        bench::<Interpreter>("wasmi", n, &base_ns);
        #[cfg(feature = "wasmtime")]
        bench::<datasync::transform::wasm::jit::Jit>("wasmtime", n, &base_ns);
    }
}

/// Each example on runtime `R`, `n` rows; `base_ns` is the cost per row without a
/// transform, by row width.
fn bench<R: Runtime>(runtime: &str, n: usize, base_ns: &[f64]) {
    let limits = Limits {
        fuel_per_run: u64::MAX,
        ..Limits::default()
    };
    for (name, params, width) in EXAMPLES {
        let bytes = module(name);
        let start = Instant::now();
        let compiled = Compiled::<R>::new(&bytes).expect("compile");
        let compile = start.elapsed();
        let mut t = WasmTransform::new(&compiled, limits.clone(), params.to_owned());
        let mut count = Count::default();
        let key = ["id".to_string()];
        let sink = &mut TransformSink::new(name, &mut t, &mut count, &key);
        let took = push(sink, n, width);
        let ns = took.as_nanos() as f64 / n as f64;
        println!(
            "{:<12} {:<14} {:>4} {:>10} {:>8.1}ms {:>12.0} {:>10.0} {:>10.0}",
            runtime,
            name,
            width,
            n,
            compile.as_secs_f64() * 1e3,
            n as f64 / took.as_secs_f64(),
            ns,
            ns - base_ns[width]
        );
    }
}
