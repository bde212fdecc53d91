//! Row transforms: a module an admin wrote (in any language that compiles to WebAssembly)
//! between the source and the diff, so keys and watched columns see the transformed rows.
//!
//! - [`Transform`]: the small interface the engine runs; it does not know the runtime.
//! - [`TransformSink`]: a [`RowSink`] in front of another — the source pushes rows into it,
//!   it passes on what the transform makes of them.
//! - `abi`: the bytes a module and the engine exchange; `wasm`: modules on wasmi (or
//!   wasmtime), with fuel, memory and table limits; `store`: uploaded modules in the KV store.

pub mod abi;
pub mod store;
pub mod wasm;

use std::collections::HashSet;

use crate::row::{Cell, Columns, Row, RowSink};

/// A transform as the engine runs it: once per run `columns`, then each row.
pub trait Transform {
    /// The columns its rows will have, given the source's.
    fn columns(&mut self, input: &[String]) -> Result<Vec<String>, TransformError>;
    /// The row transformed, or `None` to drop it.
    fn row(&mut self, row: &[Cell]) -> Result<Option<Vec<Cell>>, TransformError>;
}

/// What one run of a transform may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (about one unit per WebAssembly instruction) for one row.
    pub fuel_per_row: u64,
    /// Fuel for the whole run.
    pub fuel_per_run: u64,
    /// Linear memory, in bytes.
    pub memory_bytes: usize,
    /// Elements of its function table.
    pub table_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_row: 10_000_000,
            fuel_per_run: 10_000_000_000,
            memory_bytes: 16 << 20,
            table_elements: 10_000,
        }
    }
}

/// Why a transform failed; the sink adds which transform and which row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// It trapped, or could not be instantiated.
    #[error("{0}")]
    Module(String),
    /// It went over a limit (fuel, memory).
    #[error("{0}")]
    Limit(String),
    /// Its answer could not be read.
    #[error("its answer is malformed: {0}")]
    Garbage(String),
    /// It answered with an error of its own.
    #[error("it refused: {0}")]
    Refused(String),
}

/// Runs every row through a transform on its way to `inner`.
pub struct TransformSink<'a> {
    /// The transform's name in the configuration, for errors.
    pub name: &'a str,
    pub transform: &'a mut dyn Transform,
    pub inner: &'a mut dyn RowSink,
    /// The key columns, to name a row in errors.
    pub key: &'a [String],
    input: Option<Columns>,
    width: usize,
    rows: usize,
}

impl<'a> TransformSink<'a> {
    pub fn new(
        name: &'a str,
        transform: &'a mut dyn Transform,
        inner: &'a mut dyn RowSink,
        key: &'a [String],
    ) -> Self {
        TransformSink {
            name,
            transform,
            inner,
            key,
            input: None,
            width: 0,
            rows: 0,
        }
    }

    /// The row as errors name it: its key values if the source has the key columns, else
    /// its number.
    fn which(&self, row: &[Cell]) -> String {
        let columns = self.input.as_deref().unwrap_or(&[]);
        if !self.key.is_empty() && self.key.iter().all(|k| columns.contains(k)) {
            format!("row {}", crate::plan::row_key(columns, row, self.key))
        } else {
            format!("row {}", self.rows)
        }
    }
}

impl RowSink for TransformSink<'_> {
    fn columns(&mut self, columns: Columns) -> Result<(), String> {
        let out = self
            .transform
            .columns(&columns)
            .map_err(|e| format!("transform {:?}, on the columns: {e}", self.name))?;
        check_columns(&out).map_err(|e| format!("transform {:?}: {e}", self.name))?;
        self.input = Some(columns);
        self.width = out.len();
        self.inner.columns(out.into())
    }

    fn row(&mut self, row: Row) -> Result<(), String> {
        self.rows += 1;
        match self.transform.row(&row) {
            Ok(Some(out)) if out.len() == self.width => self.inner.row(out),
            Ok(Some(out)) => Err(format!(
                "transform {:?}, {}: it returned {} values for {} columns",
                self.name,
                self.which(&row),
                out.len(),
                self.width
            )),
            Ok(None) => Ok(()),
            Err(e) => Err(format!(
                "transform {:?}, {}: {e}",
                self.name,
                self.which(&row)
            )),
        }
    }
}

fn check_columns(columns: &[String]) -> Result<(), String> {
    if columns.is_empty() {
        return Err("it returned no columns".into());
    }
    let mut seen = HashSet::new();
    for c in columns {
        if c.trim().is_empty() {
            return Err("it returned an empty column name".into());
        }
        if !seen.insert(c) {
            return Err(format!("it returned the column {c:?} twice"));
        }
    }
    Ok(())
}

/// The compiled module a transform names: a file (read and compiled each time: the dry
/// run), or a module stored in the plugin (by name or digest; compiled once per process).
pub fn load(
    kv: &dyn crate::port::Kv,
    module: &crate::config::ModuleRef,
) -> Result<wasm::Compiled, String> {
    use crate::config::ModuleRef;
    let hash = match module {
        ModuleRef::File(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            return wasm::compile(&bytes);
        }
        ModuleRef::Hash(hash) => hash.clone(),
        ModuleRef::Uploaded(name) => {
            let all = store::list(kv).map_err(|e| e.to_string())?;
            let found = all.get(name).ok_or_else(|| {
                format!(
                    "no module was uploaded as {name:?} (send it to the bot: transform add {name})"
                )
            })?;
            found.sha256.clone()
        }
    };
    wasm::cached(&hash, || store::read(kv, &hash))
}
