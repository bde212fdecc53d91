//! Row transforms on the shipped runtime (wasmi; wasmtime with `--features wasmtime`,
//! which `make test` runs too): the example modules (built by `make transforms`) through
//! the sink the sources push into, and every way a module can misbehave — an endless
//! loop, a memory bomb, a trap, imports, a module that is not one, wrong exports, garbage
//! answers, rows of the wrong width — each a clear error naming the transform and the row.

use std::path::PathBuf;

use datasync::row::{Cell, RowSetBuilder, RowSink};
use datasync::transform::wasm::{self, WasmTransform};
use datasync::transform::{Limits, Transform, TransformError, TransformSink};

/// An example module, built for wasm32 by `make transforms` (which `make test` runs).
fn example(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("DATASYNC_TRANSFORMS_DIR").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/wasm32-unknown-unknown/release")
        },
        PathBuf::from,
    );
    let path = dir.join(format!("transform_{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build the examples with `make transforms`",
            path.display()
        )
    })
}

fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Runs rows through a module as a source would; the rows that came out, or the error.
fn through(
    module: &[u8],
    params: &str,
    limits: Limits,
    cols: &[&str],
    rows: Vec<Vec<Cell>>,
) -> Result<(Vec<String>, Vec<Vec<Cell>>), String> {
    let compiled = wasm::compile(module)?;
    let mut t = WasmTransform::new(&compiled, limits, params.to_owned());
    let mut out = RowSetBuilder::new();
    let key = columns(&["id"]);
    let mut sink = TransformSink::new("t", &mut t, &mut out, &key);
    sink.columns(columns(cols).into())?;
    for r in rows {
        sink.row(r)?;
    }
    let set = out.finish();
    Ok((set.columns.to_vec(), set.rows))
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

#[test]
fn mask_email_masks_addresses() {
    let (cols, rows) = through(
        &example("mask_email"),
        r#"{"columns": ["email"]}"#,
        Limits::default(),
        &["id", "email", "note"],
        vec![vec![
            Cell::Int(1),
            text("jane@acme.com"),
            text("cc bob@x.io"),
        ]],
    )
    .unwrap();
    assert_eq!(cols, ["id", "email", "note"]);
    assert_eq!(
        rows,
        [vec![
            Cell::Int(1),
            text("j***@acme.com"),
            text("cc bob@x.io")
        ]]
    );
}

#[test]
fn score_adds_a_column_and_filters() {
    let (cols, rows) = through(
        &example("score"),
        r#"{"threshold": 50}"#,
        Limits::default(),
        &["id", "arr", "health", "seats"],
        vec![
            vec![
                Cell::Int(1),
                Cell::Decimal("50000.00".into()),
                Cell::Int(20),
                Cell::Int(10),
            ],
            vec![Cell::Int(2), Cell::Int(1000), Cell::Int(95), Cell::Int(10)],
        ],
    )
    .unwrap();
    assert_eq!(cols.last().map(String::as_str), Some("score"));
    assert_eq!(rows.len(), 1, "the low score is dropped");
    assert_eq!(rows[0][4], Cell::Int(68));
}

#[test]
fn flatten_json_makes_columns() {
    let doc = serde_json::json!({"customer": {"name": "Acme"}, "usage": {"seats": 12}});
    let (cols, rows) = through(
        &example("flatten_json"),
        r#"{"column": "payload", "fields": ["customer.name", "usage.seats", "plan"]}"#,
        Limits::default(),
        &["id", "payload"],
        vec![vec![Cell::Int(7), Cell::json(doc)]],
    )
    .unwrap();
    assert_eq!(cols, ["id", "customer.name", "usage.seats", "plan"]);
    assert_eq!(
        rows,
        [vec![Cell::Int(7), text("Acme"), Cell::Int(12), Cell::Null]]
    );
}

#[test]
fn a_module_refusing_its_parameters_or_a_row_says_so() {
    let e = through(&example("score"), "{}", Limits::default(), &["id"], vec![]).unwrap_err();
    assert!(
        e.contains("transform \"t\", on the columns: it refused: the source has no column \"arr\""),
        "{e}"
    );
    let e = through(
        &example("score"),
        "{}",
        Limits::default(),
        &["id", "arr", "health", "seats"],
        vec![vec![Cell::Int(3), text("lots"), Cell::Int(1), Cell::Int(1)]],
    )
    .unwrap_err();
    assert_eq!(
        e,
        "transform \"t\", row [3]: it refused: arr is not a number"
    );
}

/// A module in the text format whose `ds_columns` answers one column, "x", and whose
/// `ds_row` is `row_body` (an i64 result: where its answer is).
fn wat_module(row_body: &str) -> Vec<u8> {
    wat_module_with(
        "(memory (export \"memory\") 1)",
        "(i32.const 1024)",
        row_body,
    )
}

/// [`wat_module`] with its own memory (and any table) and `ds_alloc` body.
fn wat_module_with(memory: &str, alloc_body: &str, row_body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
            {memory}
            (data (i32.const 16) "\00\01\00\00\00\01\00\00\00x")
            (data (i32.const 32) "\00\02\00\00\00\00\00")
            (data (i32.const 48) "\01")
            (data (i32.const 64) "\00\01\00\00\00\00")
            (func (export "ds_alloc") (param i32) (result i32) {alloc_body})
            (func (export "ds_columns") (param i32 i32) (result i64) (i64.const 0x100000000a))
            (func (export "ds_row") (param i32 i32) (result i64) {row_body}))"#
    );
    wat::parse_str(text).unwrap()
}

fn one_row(module: &[u8], limits: Limits) -> Result<(Vec<String>, Vec<Vec<Cell>>), String> {
    through(module, "{}", limits, &["id"], vec![vec![Cell::Int(9)]])
}

#[test]
fn well_behaved_text_modules_pass_drop_and_answer() {
    let (cols, rows) = one_row(&wat_module("(i64.const 0x4000000006)"), Limits::default()).unwrap();
    assert_eq!(
        (cols, rows),
        (vec!["x".to_string()], vec![vec![Cell::Null]])
    );
    let (_, rows) = one_row(&wat_module("(i64.const 0x3000000001)"), Limits::default()).unwrap();
    assert!(rows.is_empty(), "dropped");
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let e = one_row(
        &wat_module("(loop $l (br $l)) (i64.const 0)"),
        Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        "transform \"t\", row [9]: it used more than 10000000 fuel on one row (an endless loop?)"
    );
}

#[test]
fn the_run_has_a_budget_too() {
    let limits = Limits {
        fuel_per_row: 100_000,
        fuel_per_run: 200_000,
        ..Limits::default()
    };
    let busy = wat_module(
        "(local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1))) (br_if $l (i32.lt_u (local.get $i) (i32.const 1000)))) (i64.const 0x3000000001)",
    );
    let rows: Vec<Vec<Cell>> = (0..100).map(|i| vec![Cell::Int(i)]).collect();
    let e = through(&busy, "{}", limits, &["id"], rows).unwrap_err();
    // A row costs a few thousand fuel (a thousand turns of the loop): some rows pass, then
    // the run's budget is spent, whichever runtime counts the fuel.
    assert!(e.ends_with("the run used all of its 200000 fuel"), "{e}");
    assert!(!e.contains("row [0]"), "{e}");
}

#[test]
fn a_memory_bomb_hits_the_cap() {
    let bomb = wat_module("(loop $l (drop (memory.grow (i32.const 16))) (br $l)) (i64.const 0)");
    let e = one_row(&bomb, Limits::default()).unwrap_err();
    assert_eq!(
        e,
        "transform \"t\", row [9]: it wanted more than its 16 MiB of memory"
    );
}

#[test]
fn a_table_bomb_hits_the_cap() {
    let bomb = wat_module_with(
        "(memory (export \"memory\") 1) (table 1 funcref)",
        "(i32.const 1024)",
        "(drop (table.grow (ref.null func) (i32.const 20000))) (i64.const 0)",
    );
    let e = one_row(&bomb, Limits::default()).unwrap_err();
    assert_eq!(
        e,
        "transform \"t\", row [9]: it wanted more than its 10000 table elements"
    );
}

#[test]
fn a_module_too_big_to_start_is_named() {
    // 300 pages of 64 KiB: 18.75 MiB before it has done anything.
    let big = wat_module_with(
        "(memory (export \"memory\") 300)",
        "(i32.const 1024)",
        "(i64.const 0)",
    );
    let e = one_row(&big, Limits::default()).unwrap_err();
    assert_eq!(
        e,
        "transform \"t\", on the columns: it wanted more than its 16 MiB of memory"
    );
}

#[test]
fn an_input_buffer_outside_memory_is_named() {
    let e = one_row(
        &wat_module_with(
            "(memory (export \"memory\") 1)",
            "(i32.const 65530)",
            "(i64.const 0)",
        ),
        Limits::default(),
    )
    .unwrap_err();
    assert!(
        e.starts_with("transform \"t\", on the columns: its ds_alloc(")
            && e.ends_with(") gave 65530, which lies outside its memory (65536 bytes)"),
        "{e}"
    );
}

#[test]
fn endless_recursion_is_a_trap_not_a_crash() {
    let deep = wat_module_with(
        "(memory (export \"memory\") 1) (func $down (call $down))",
        "(i32.const 1024)",
        "(call $down) (i64.const 0)",
    );
    let e = one_row(&deep, Limits::default()).unwrap_err();
    assert!(
        e.starts_with("transform \"t\", row [9]: it trapped: ") && e.contains("stack"),
        "{e}"
    );
}

#[test]
fn a_trap_is_named() {
    let e = one_row(&wat_module("(unreachable)"), Limits::default()).unwrap_err();
    assert!(
        e.starts_with("transform \"t\", row [9]: it trapped: "),
        "{e}"
    );
    assert!(e.contains("unreachable"), "{e}");
}

#[test]
fn garbage_answers_are_errors() {
    for (body, want) in [
        (
            "(i64.const 0x1000000003)",
            "its answer is malformed: it ends early",
        ),
        ("(i64.const 0x7fffffff00000010)", "lies outside its memory"),
        (
            "(i64.const 0x2000000007)",
            "it returned 2 values for 1 columns",
        ),
    ] {
        let e = one_row(&wat_module(body), Limits::default()).unwrap_err();
        assert!(e.contains(want), "{body}: {e}");
        assert!(e.starts_with("transform \"t\", row [9]: "), "{e}");
    }
}

#[test]
fn modules_that_cannot_be_transforms_are_refused_with_the_reason() {
    let refused = |bytes: &[u8]| wasm::compile(bytes).unwrap_err();
    assert!(refused(b"not wasm").starts_with("not a valid module: "));
    let wasi = wat::parse_str(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))"#,
    )
    .unwrap();
    assert_eq!(
        refused(&wasi),
        "it imports wasi_snapshot_preview1::fd_write; transforms get no imports (no WASI, no host functions)"
    );
    let no_memory = wat::parse_str("(module)").unwrap();
    assert_eq!(
        refused(&no_memory),
        "it exports no 32-bit memory named \"memory\""
    );
    let wrong = wat::parse_str(
        r#"(module (memory (export "memory") 1)
            (func (export "ds_alloc") (param i32) (result i32) (i32.const 0))
            (func (export "ds_columns") (param i32 i32) (result i64) (i64.const 0))
            (func (export "ds_row") (param i32) (result i64) (i64.const 0)))"#,
    )
    .unwrap();
    assert_eq!(
        refused(&wrong),
        "it lacks the export ds_row: (i32, i32) -> i64"
    );
}

#[test]
fn a_failed_row_does_not_poison_the_next_run() {
    let compiled = wasm::compile(&wat_module("(unreachable)")).unwrap();
    let mut t = WasmTransform::new(&compiled, Limits::default(), "{}".into());
    assert_eq!(t.columns(&columns(&["id"])), Ok(columns(&["x"])));
    assert!(matches!(
        t.row(&[Cell::Int(1)]),
        Err(TransformError::Module(_))
    ));
    // A new instance after the trap: the setup is asked again by the next run's sink.
    assert_eq!(t.columns(&columns(&["id"])), Ok(columns(&["x"])));
}

#[test]
fn modules_are_compiled_once_per_content_hash() {
    let mut reads = 0;
    let mut bytes = || {
        reads += 1;
        Ok(example("identity"))
    };
    assert!(wasm::cached("test-identity", &mut bytes).is_ok());
    assert!(wasm::cached("test-identity", &mut bytes).is_ok());
    assert_eq!(reads, 1);
    let e = wasm::cached("test-bad", || Ok(b"junk".to_vec())).unwrap_err();
    assert!(e.starts_with("not a valid module"), "{e}");
    let e = wasm::cached("test-unreadable", || Err("no such module".into())).unwrap_err();
    assert_eq!(e, "no such module");
}
