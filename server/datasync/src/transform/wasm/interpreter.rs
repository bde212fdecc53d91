//! Transforms on wasmi, an interpreter: what the plugin ships (see the module above).

use std::sync::OnceLock;

use wasmi::{
    Config, Engine, ExternType, Instance, Memory, Module, ResourceLimiter, Store, TypedFunc,
    ValType,
};
use wasmi_core::LimiterError;

use super::{Caps, Failure, Runtime, Ty, Which, check_exports};
use crate::transform::Limits;

/// The wasmi runtime.
pub struct Interpreter;

/// The one wasmi engine of the process (its translated code is shared by every store).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::default();
        config.consume_fuel(true);
        Engine::new(&config)
    })
}

pub struct Live {
    store: Store<Caps>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    columns: TypedFunc<(i32, i32), i64>,
    row: TypedFunc<(i32, i32), i64>,
}

impl Runtime for Interpreter {
    type Module = Module;
    type Instance = Live;

    fn compile(bytes: &[u8]) -> Result<Module, String> {
        let module =
            Module::new(engine(), bytes).map_err(|e| format!("not a valid module: {e}"))?;
        let import = module.imports().next();
        let memory_ok =
            matches!(module.get_export("memory"), Some(ExternType::Memory(m)) if !m.is_64());
        check_exports(
            import.as_ref().map(|i| (i.module(), i.name())),
            memory_ok,
            |name| match module.get_export(name) {
                Some(ExternType::Func(f)) => Some((tys(f.params()), tys(f.results()))),
                _ => None,
            },
        )?;
        Ok(module)
    }

    fn instantiate(module: &Module, limits: &Limits) -> Result<Live, Failure> {
        let mut store = Store::new(engine(), Caps::new(limits));
        store.limiter(|caps| caps as &mut dyn ResourceLimiter);
        let instance = Instance::new(&mut store, module, &[]).map_err(|e| failure(e, &store))?;
        let memory = instance
            .get_memory(&store, "memory")
            .ok_or_else(|| Failure::Other("no memory".into()))?;
        Ok(Live {
            alloc: func(&instance, &store, "ds_alloc")?,
            columns: func(&instance, &store, Which::Columns.export())?,
            row: func(&instance, &store, Which::Row.export())?,
            memory,
            store,
        })
    }

    fn set_fuel(live: &mut Live, fuel: u64) -> Result<(), Failure> {
        live.store
            .set_fuel(fuel)
            .map_err(|e| Failure::Other(e.to_string()))
    }

    fn alloc(live: &mut Live, len: i32) -> Result<i32, Failure> {
        live.alloc
            .call(&mut live.store, len)
            .map_err(|e| failure(e, &live.store))
    }

    fn call(live: &mut Live, which: Which, ptr: i32, len: i32) -> Result<i64, Failure> {
        let func = match which {
            Which::Columns => &live.columns,
            Which::Row => &live.row,
        };
        func.call(&mut live.store, (ptr, len))
            .map_err(|e| failure(e, &live.store))
    }

    fn memory(live: &mut Live) -> &mut [u8] {
        live.memory.data_mut(&mut live.store)
    }

    fn fuel_left(live: &Live) -> u64 {
        live.store.get_fuel().unwrap_or(0)
    }
}

fn func<P: wasmi::WasmParams, R: wasmi::WasmResults>(
    instance: &Instance,
    store: &Store<Caps>,
    name: &str,
) -> Result<TypedFunc<P, R>, Failure> {
    instance
        .get_typed_func(store, name)
        .map_err(|e| Failure::Other(e.to_string()))
}

fn tys(types: &[ValType]) -> Vec<Ty> {
    let ty = |t: &ValType| match t {
        ValType::I32 => Ty::I32,
        ValType::I64 => Ty::I64,
        _ => Ty::Other,
    };
    types.iter().map(ty).collect()
}

fn failure(e: wasmi::Error, store: &Store<Caps>) -> Failure {
    if let Some(what) = store.data().denied {
        return Failure::Denied(what);
    }
    match e.as_trap_code() {
        Some(wasmi::TrapCode::OutOfFuel) => Failure::OutOfFuel,
        Some(trap) => Failure::Trap(trap.to_string()),
        None => Failure::Other(e.to_string()),
    }
}

impl ResourceLimiter for Caps {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        self.memory(desired)
            .then_some(true)
            .ok_or(LimiterError::ResourceLimiterDeniedAllocation)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> Result<bool, LimiterError> {
        self.table(desired)
            .then_some(true)
            .ok_or(LimiterError::ResourceLimiterDeniedAllocation)
    }

    fn instances(&self) -> usize {
        Caps::EACH
    }

    fn tables(&self) -> usize {
        Caps::EACH
    }

    fn memories(&self) -> usize {
        Caps::EACH
    }
}
