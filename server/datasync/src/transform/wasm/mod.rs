//! WebAssembly transforms: a module is checked and compiled once per process, and runs as
//! one instance per run, with fuel per row and per run and memory and table caps.
//!
//! A module imports nothing (no WASI, no host functions: it can compute and nothing
//! else) and exports `memory` and three functions:
//!
//! - `ds_alloc(len: i32) -> i32`: a buffer of `len` bytes in its memory, where the engine
//!   writes its inputs. The buffer must stay valid until the next `ds_alloc`: the engine
//!   asks again only when an input is larger than the last buffer;
//! - `ds_columns(ptr: i32, len: i32) -> i64` and `ds_row(ptr: i32, len: i32) -> i64`: the
//!   input is the setup (the source's columns and the transform's parameters, once per
//!   run) or one row ([`super::abi`]); the result packs the answer's place,
//!   `ptr << 32 | len`.
//!
//! Two runtimes can run them, behind [`Runtime`]: [`interpreter::Interpreter`] (wasmi,
//! what the plugin ships: 1.3 MB of executable) and, with the `wasmtime` feature,
//! [`jit::Jit`] (wasmtime and Cranelift: 1.6–11 times faster per row, 10 MB more executable).
//! ARCHITECTURE.md gives the measurements behind that choice.

pub mod interpreter;
#[cfg(feature = "wasmtime")]
pub mod jit;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::abi::{self, Answer};
use super::{Limits, Transform, TransformError};
use crate::row::Cell;

/// The runtime this build runs transforms on.
#[cfg(not(feature = "wasmtime"))]
pub type Shipped = interpreter::Interpreter;
#[cfg(feature = "wasmtime")]
pub type Shipped = jit::Jit;

/// What a WebAssembly runtime does for the transforms.
pub trait Runtime: 'static {
    type Module: Clone + Send + Sync + 'static;
    type Instance;
    /// Checks and compiles a module ([`check_exports`] and no imports); the reason it
    /// cannot be a transform otherwise.
    fn compile(bytes: &[u8]) -> Result<Self::Module, String>;
    fn instantiate(module: &Self::Module, limits: &Limits) -> Result<Self::Instance, Failure>;
    /// Sets the fuel the next calls may spend.
    fn set_fuel(instance: &mut Self::Instance, fuel: u64) -> Result<(), Failure>;
    /// The fuel the last calls left.
    fn fuel_left(instance: &Self::Instance) -> u64;
    /// Calls `ds_alloc(len)`.
    fn alloc(instance: &mut Self::Instance, len: i32) -> Result<i32, Failure>;
    /// Calls `which(ptr, len)`.
    fn call(
        instance: &mut Self::Instance,
        which: Which,
        ptr: i32,
        len: i32,
    ) -> Result<i64, Failure>;
    /// The instance's memory.
    fn memory(instance: &mut Self::Instance) -> &mut [u8];
}

/// The two calls a run makes.
#[derive(Clone, Copy)]
pub enum Which {
    Columns,
    Row,
}

impl Which {
    pub fn export(self) -> &'static str {
        match self {
            Which::Columns => "ds_columns",
            Which::Row => "ds_row",
        }
    }
}

/// Why a call or an instantiation failed, as a runtime tells it.
#[derive(Debug)]
pub enum Failure {
    OutOfFuel,
    /// The limiter refused to grow memory ("memory") or a table ("table").
    Denied(&'static str),
    Trap(String),
    Other(String),
}

/// What an instance may grow to; a store's limiter asks it, and it remembers a refusal
/// so the failure can say which limit it met.
pub struct Caps {
    memory_bytes: usize,
    table_elements: usize,
    pub denied: Option<&'static str>,
}

impl Caps {
    pub fn new(limits: &Limits) -> Caps {
        Caps {
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            denied: None,
        }
    }

    /// Whether memory may grow to `desired` bytes; a refusal traps.
    pub fn memory(&mut self, desired: usize) -> bool {
        self.allow("memory", desired <= self.memory_bytes)
    }

    /// Whether a table may grow to `desired` elements; a refusal traps.
    pub fn table(&mut self, desired: usize) -> bool {
        self.allow("table", desired <= self.table_elements)
    }

    fn allow(&mut self, what: &'static str, ok: bool) -> bool {
        if !ok {
            self.denied = Some(what);
        }
        ok
    }

    /// Instances, memories and tables a store may have (of each).
    pub const EACH: usize = 1;
}

/// A value type in an export's signature.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ty {
    I32,
    I64,
    Other,
}

/// The functions a module must export, with their parameter and result types.
const EXPORTS: &[(&str, &[Ty], &[Ty])] = &[
    ("ds_alloc", &[Ty::I32], &[Ty::I32]),
    ("ds_columns", &[Ty::I32, Ty::I32], &[Ty::I64]),
    ("ds_row", &[Ty::I32, Ty::I32], &[Ty::I64]),
];

/// Checks a module's interface, which `import` (its first import, if any), `memory_ok`
/// (it exports a 32-bit unshared `memory`) and `func` (an export's signature, if it is a
/// function) describe.
pub fn check_exports(
    import: Option<(&str, &str)>,
    memory_ok: bool,
    func: impl Fn(&str) -> Option<(Vec<Ty>, Vec<Ty>)>,
) -> Result<(), String> {
    if let Some((module, name)) = import {
        return Err(format!(
            "it imports {module}::{name}; transforms get no imports (no WASI, no host functions)"
        ));
    }
    if !memory_ok {
        return Err("it exports no 32-bit memory named \"memory\"".into());
    }
    for (name, params, results) in EXPORTS {
        if func(name).is_none_or(|(p, r)| p != *params || r != *results) {
            return Err(format!(
                "it lacks the export {name}: ({}) -> {}",
                names(params),
                names(results)
            ));
        }
    }
    Ok(())
}

fn names(types: &[Ty]) -> String {
    let name = |t: &Ty| format!("{t:?}").to_lowercase();
    types.iter().map(name).collect::<Vec<_>>().join(", ")
}

/// An instance and the room its `ds_alloc` last gave for input.
struct Live<I> {
    instance: I,
    room: (usize, usize),
}

/// Gives `which` the `input` and returns the answer's bytes. `ds_alloc` is called only
/// when the input outgrows the room it last gave (the ABI lets the engine reuse it).
fn exchange<R: Runtime>(
    live: &mut Live<R::Instance>,
    which: Which,
    input: &[u8],
) -> Result<Vec<u8>, Failure> {
    let len =
        i32::try_from(input.len()).map_err(|_| Failure::Other("the input is over 2 GiB".into()))?;
    if input.len() > live.room.1 {
        let ptr = R::alloc(&mut live.instance, len)?;
        live.room = (ptr as u32 as usize, input.len());
    }
    let at = live.room.0;
    let memory = R::memory(&mut live.instance);
    let size = memory.len();
    at.checked_add(input.len())
        .and_then(|end| memory.get_mut(at..end))
        .ok_or_else(|| {
            Failure::Other(format!(
                "its ds_alloc({len}) gave {at}, which lies outside its memory ({size} bytes)"
            ))
        })?
        .copy_from_slice(input);
    let packed = R::call(&mut live.instance, which, at as i32, len)? as u64;
    let (at, n) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    let memory = R::memory(&mut live.instance);
    match at.checked_add(n).and_then(|end| memory.get(at..end)) {
        Some(bytes) => Ok(bytes.to_vec()),
        None => Err(Failure::Other(format!(
            "its answer at {at}+{n} lies outside its memory ({} bytes)",
            memory.len()
        ))),
    }
}

/// A module checked and compiled for runtime `R`: cheap to clone, instantiated once per run.
pub struct Compiled<R: Runtime = Shipped>(R::Module);

impl<R: Runtime> Compiled<R> {
    pub fn new(bytes: &[u8]) -> Result<Self, String> {
        R::compile(bytes).map(Compiled)
    }
}

impl<R: Runtime> Clone for Compiled<R> {
    fn clone(&self) -> Self {
        Compiled(self.0.clone())
    }
}

impl<R: Runtime> std::fmt::Debug for Compiled<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compiled")
    }
}

/// Checks and compiles a module for the shipped runtime.
pub fn compile(bytes: &[u8]) -> Result<Compiled, String> {
    Compiled::new(bytes)
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

/// One run's instance of a module.
pub struct WasmTransform<R: Runtime = Shipped> {
    compiled: Compiled<R>,
    limits: Limits,
    live: Option<Live<R::Instance>>,
    /// Fuel left for the rest of the run.
    run_fuel: u64,
    /// The transform's parameters (a JSON object), given to `ds_columns`.
    params: String,
    /// Where the last row's JSON values lie in `input`.
    json_at: Vec<Option<std::ops::Range<usize>>>,
    input: Vec<u8>,
}

impl<R: Runtime> WasmTransform<R> {
    pub fn new(compiled: &Compiled<R>, limits: Limits, params: String) -> Self {
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

    /// Passes `self.input` to `which` and returns the answer's bytes.
    fn call(&mut self, which: Which) -> Result<Vec<u8>, TransformError> {
        let per_row = self.limits.fuel_per_row;
        let budget = per_row.min(self.run_fuel);
        if budget == 0 {
            return Err(self.error(Failure::OutOfFuel, false));
        }
        // The instance is made on first use, and again after a failure (whose state is
        // suspect).
        let mut live = match self.live.take() {
            Some(live) => live,
            None => Live {
                instance: R::instantiate(&self.compiled.0, &self.limits)
                    .map_err(|f| self.error(f, true))?,
                room: (0, 0),
            },
        };
        let result = R::set_fuel(&mut live.instance, budget)
            .and_then(|()| exchange::<R>(&mut live, which, &self.input));
        self.run_fuel -= (budget - R::fuel_left(&live.instance).min(budget)).min(self.run_fuel);
        match result {
            Ok(answer) => {
                self.live = Some(live);
                Ok(answer)
            }
            Err(f) => Err(self.error(f, budget == per_row)),
        }
    }

    /// A failure in an admin's words; `row_budget` is whether the call had a whole row's
    /// fuel (rather than what was left of the run's).
    fn error(&self, failure: Failure, row_budget: bool) -> TransformError {
        let limits = &self.limits;
        match failure {
            Failure::OutOfFuel if row_budget => TransformError::Limit(format!(
                "it used more than {} fuel on one row (an endless loop?)",
                limits.fuel_per_row
            )),
            Failure::OutOfFuel => TransformError::Limit(format!(
                "the run used all of its {} fuel",
                limits.fuel_per_run
            )),
            Failure::Denied("table") => TransformError::Limit(format!(
                "it wanted more than its {} table elements",
                limits.table_elements
            )),
            Failure::Denied(_) => TransformError::Limit(format!(
                "it wanted more than its {} MiB of memory",
                limits.memory_bytes >> 20
            )),
            Failure::Trap(m) => TransformError::Module(format!("it trapped: {m}")),
            Failure::Other(m) => TransformError::Module(m),
        }
    }
}

impl<R: Runtime> Transform for WasmTransform<R> {
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
