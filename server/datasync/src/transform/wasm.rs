//! WebAssembly transforms on wasmtime: compiled once per module and process, run one
//! instance per run, with fuel per row and per run and a memory cap.
//!
//! A module imports nothing (no WASI, no host functions: it can compute and nothing
//! else) and exports `memory` and three functions:
//!
//! - `ds_alloc(len: i32) -> i32`: a buffer of `len` bytes in its memory, where the engine
//!   writes its input before the next call;
//! - `ds_columns(ptr: i32, len: i32) -> i64` and `ds_row(ptr: i32, len: i32) -> i64`: the
//!   input is the setup (the source's columns and the transform's parameters, once per
//!   run) or one row ([`super::abi`]); the result packs the answer's place,
//!   `ptr << 32 | len`.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use wasmtime::{
    Config, Engine, ExternType, Instance, Memory, Module, Store, StoreLimits, StoreLimitsBuilder,
    Trap, TypedFunc, ValType,
};

use super::abi::{self, Answer};
use super::{Limits, Transform, TransformError};
use crate::row::Cell;

/// The exports a module must have, with their parameter and result types.
const EXPORTS: &[(&str, &[ValType], &[ValType])] = &[
    ("ds_alloc", &[ValType::I32], &[ValType::I32]),
    ("ds_columns", &[ValType::I32, ValType::I32], &[ValType::I64]),
    ("ds_row", &[ValType::I32, ValType::I32], &[ValType::I64]),
];

/// The one wasmtime engine of the process (its compiled code is shared by every store).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        // Fuel, not epochs: a row's budget is the same on a busy node and an idle one.
        // (wasmtime is built without its `threads` feature: no shared memory either.)
        config.consume_fuel(true);
        Engine::new(&config).unwrap_or_else(|_| Engine::default())
    })
}

/// A module checked and compiled: cheap to clone, instantiated once per run.
#[derive(Clone)]
pub struct Compiled {
    module: Module,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled")
    }
}

/// Checks and compiles a module; the reason it cannot be a transform otherwise.
pub fn compile(bytes: &[u8]) -> Result<Compiled, String> {
    let module = Module::new(engine(), bytes).map_err(|e| format!("not a valid module: {e:#}"))?;
    if let Some(import) = module.imports().next() {
        return Err(format!(
            "it imports {}::{}; transforms get no imports (no WASI, no host functions)",
            import.module(),
            import.name()
        ));
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(m)) if !m.is_64() && !m.is_shared() => {}
        _ => return Err("it exports no 32-bit memory named \"memory\"".into()),
    }
    for (name, params, results) in EXPORTS {
        let ok = match module.get_export(name) {
            Some(ExternType::Func(f)) => same(f.params(), params) && same(f.results(), results),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "it lacks the export {name}: ({}) -> {}",
                names(params),
                names(results)
            ));
        }
    }
    Ok(Compiled { module })
}

fn same(got: impl ExactSizeIterator<Item = ValType>, want: &[ValType]) -> bool {
    got.len() == want.len() && got.zip(want).all(|(g, w)| ValType::eq(&g, w))
}

fn names(types: &[ValType]) -> String {
    types
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compiled modules by content hash: each is compiled once per process.
pub fn cached(
    hash: &str,
    bytes: impl FnOnce() -> Result<Vec<u8>, String>,
) -> Result<Compiled, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, Compiled>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(hash) {
        return Ok(c.clone());
    }
    let compiled = compile(&bytes()?)?;
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(hash.to_owned(), compiled.clone());
    Ok(compiled)
}

struct Host {
    limits: StoreLimits,
}

/// One run's instance of a module.
pub struct WasmTransform {
    compiled: Compiled,
    limits: Limits,
    live: Option<Live>,
    /// Fuel left for the rest of the run.
    run_fuel: u64,
    /// The transform's parameters (a JSON object), given to `ds_columns`.
    params: String,
    /// Where the last row's JSON values lie in `input`.
    json_at: Vec<Option<std::ops::Range<usize>>>,
    input: Vec<u8>,
}

struct Live {
    store: Store<Host>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    columns: TypedFunc<(i32, i32), i64>,
    row: TypedFunc<(i32, i32), i64>,
}

impl WasmTransform {
    pub fn new(compiled: &Compiled, limits: Limits, params: String) -> WasmTransform {
        WasmTransform {
            compiled: compiled.clone(),
            params,
            json_at: Vec::new(),
            run_fuel: limits.fuel_per_run,
            limits,
            live: None,
            input: Vec::with_capacity(256),
        }
    }

    /// The instance, made on first use and again after a trap (whose state is suspect).
    fn live(&mut self) -> Result<&mut Live, TransformError> {
        if self.live.is_none() {
            self.live = Some(instantiate(&self.compiled, &self.limits)?);
        }
        self.live
            .as_mut()
            .ok_or_else(|| TransformError::Module("no instance".into()))
    }

    /// Passes `self.input` to `which` (columns or row) and returns the answer's bytes.
    fn call(&mut self, which: Which) -> Result<Vec<u8>, TransformError> {
        let per_row = self.limits.fuel_per_row;
        let budget = per_row.min(self.run_fuel);
        if budget == 0 {
            return Err(TransformError::Limit(format!(
                "the run used all of its {} fuel",
                self.limits.fuel_per_run
            )));
        }
        let input = std::mem::take(&mut self.input);
        let result = self.call_live(which, &input, budget);
        self.input = input;
        let used = match self.live.as_mut() {
            Some(live) => budget - live.store.get_fuel().unwrap_or(0),
            None => budget,
        };
        self.run_fuel -= used.min(self.run_fuel);
        result.map_err(|e| {
            // A trapped instance may be half-way through changing its state.
            self.live = None;
            trap_error(e, budget == per_row, &self.limits)
        })
    }

    fn call_live(
        &mut self,
        which: Which,
        input: &[u8],
        fuel: u64,
    ) -> Result<Vec<u8>, wasmtime::Error> {
        let live = self
            .live()
            .map_err(|e| wasmtime::Error::msg(e.to_string()))?;
        live.store.set_fuel(fuel)?;
        let len = i32::try_from(input.len())
            .map_err(|_| wasmtime::Error::msg("the input is over 2 GiB"))?;
        let ptr = live.alloc.call(&mut live.store, len)?;
        live.memory
            .write(&mut live.store, ptr as u32 as usize, input)?;
        let func = match which {
            Which::Columns => &live.columns,
            Which::Row => &live.row,
        };
        let packed = func.call(&mut live.store, (ptr, len))? as u64;
        let (at, n) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        let data = live.memory.data(&live.store);
        match at.checked_add(n).and_then(|end| data.get(at..end)) {
            Some(bytes) => Ok(bytes.to_vec()),
            None => Err(wasmtime::Error::msg(format!(
                "its answer at {at}+{n} lies outside its memory ({} bytes)",
                data.len()
            ))),
        }
    }
}

#[derive(Clone, Copy)]
enum Which {
    Columns,
    Row,
}

fn instantiate(compiled: &Compiled, limits: &Limits) -> Result<Live, TransformError> {
    let host = Host {
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .instances(1)
            .memories(1)
            .tables(1)
            .table_elements(limits.table_elements)
            .trap_on_grow_failure(true)
            .build(),
    };
    let mut store = Store::new(engine(), host);
    store.limiter(|h| &mut h.limits);
    let fail = |e: wasmtime::Error| TransformError::Module(format!("{e:#}"));
    store.set_fuel(limits.fuel_per_row).map_err(fail)?;
    let instance = Instance::new(&mut store, &compiled.module, &[]).map_err(fail)?;
    let memory = instance
        .get_memory(&mut store, "memory")
        .ok_or_else(|| TransformError::Module("no memory".into()))?;
    Ok(Live {
        alloc: instance
            .get_typed_func(&mut store, "ds_alloc")
            .map_err(fail)?,
        columns: instance
            .get_typed_func(&mut store, "ds_columns")
            .map_err(fail)?,
        row: instance
            .get_typed_func(&mut store, "ds_row")
            .map_err(fail)?,
        memory,
        store,
    })
}

/// What went wrong in a call, in an admin's words.
fn trap_error(e: wasmtime::Error, row_budget: bool, limits: &Limits) -> TransformError {
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) if row_budget => TransformError::Limit(format!(
            "it used more than {} fuel on one row (an endless loop?)",
            limits.fuel_per_row
        )),
        Some(Trap::OutOfFuel) => TransformError::Limit(format!(
            "the run used all of its {} fuel",
            limits.fuel_per_run
        )),
        Some(trap) => TransformError::Module(format!("it trapped: {trap}")),
        None if format!("{e:#}").contains("forcing trap when growing memory") => {
            TransformError::Limit(format!(
                "it wanted more than its {} MiB of memory",
                limits.memory_bytes >> 20
            ))
        }
        None => TransformError::Module(format!("{e:#}")),
    }
}

impl Transform for WasmTransform {
    fn columns(&mut self, input: &[String]) -> Result<Vec<String>, TransformError> {
        self.input.clear();
        abi::put_setup(&mut self.input, input, &self.params);
        let answer = self.call(Which::Columns)?;
        match abi::read_columns(&answer).map_err(TransformError::Garbage)? {
            Answer::Value(columns) => Ok(columns),
            Answer::Drop => Err(TransformError::Garbage(
                "it answered \"drop\" to the columns".into(),
            )),
            Answer::Error(m) => Err(TransformError::Refused(m)),
        }
    }

    fn row(&mut self, row: &[Cell]) -> Result<Option<Vec<Cell>>, TransformError> {
        self.input.clear();
        abi::put_row_noting(&mut self.input, row, &mut self.json_at);
        let answer = self.call(Which::Row)?;
        let sent = abi::Sent {
            row,
            bytes: &self.input,
            json_at: &self.json_at,
        };
        match abi::read_row_from(&answer, &sent).map_err(TransformError::Garbage)? {
            Answer::Value(row) => Ok(Some(row)),
            Answer::Drop => Ok(None),
            Answer::Error(m) => Err(TransformError::Refused(m)),
        }
    }
}
