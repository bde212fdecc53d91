//! `[transforms.<name>]`: a WebAssembly module, its parameters and its limits; a sync
//! names one with `transform = "<name>"`.

use toml::de::DeValue;

use super::reader::{Cx, Fields};
use super::{ModuleRef, TransformConfig};
use crate::transform::Limits;

pub(super) const TRANSFORM_FIELDS: &[&str] = &[
    "module",
    "params",
    "fuel_per_row",
    "fuel_per_run",
    "memory_mb",
];

pub(super) fn read_transform(
    cx: &mut Cx<'_>,
    f: &Fields<'_, '_>,
    name: &str,
) -> Option<TransformConfig> {
    f.finish(cx);
    let before = cx.errors.len();
    let module = f.required_string(cx, "module").and_then(|m| {
        let parsed = module_ref(&m.value);
        if let Err(e) = &parsed {
            f.err(cx, "module", Some(m.span.clone()), e.clone());
        }
        parsed.ok()
    });
    let params = match f.get("params") {
        None => "{}".to_owned(),
        Some(item) => match item.get_ref() {
            DeValue::Table(_) => json(item.get_ref()).to_string(),
            other => {
                let msg = format!("expected a table, found {}", other.type_str());
                f.err(cx, "params", Some(item.span()), msg);
                String::new()
            }
        },
    };
    let defaults = Limits::default();
    let limits = Limits {
        fuel_per_row: f
            .integer(cx, "fuel_per_row", 1_000..10_000_000_001)
            .map_or(defaults.fuel_per_row, |n| n as u64),
        fuel_per_run: f
            .integer(cx, "fuel_per_run", 1_000..1_000_000_000_001)
            .map_or(defaults.fuel_per_run, |n| n as u64),
        memory_bytes: f
            .integer(cx, "memory_mb", 1..1025)
            .map_or(defaults.memory_bytes, |n| (n as usize) << 20),
        ..defaults
    };
    if cx.errors.len() > before {
        return None;
    }
    Some(TransformConfig {
        name: name.to_owned(),
        module: module?,
        params,
        limits,
    })
}

/// `sha256:<64 hex digits>` (a stored module by content), a file path (the dry run) —
/// anything with a `/` or ending in `.wasm` — or the name a module was uploaded under.
fn module_ref(value: &str) -> Result<ModuleRef, String> {
    let value = value.trim();
    if let Some(hash) = value.strip_prefix("sha256:") {
        return if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(ModuleRef::Hash(hash.to_ascii_lowercase()))
        } else {
            Err("sha256: needs the module's 64 hexadecimal digits".into())
        };
    }
    if value.contains('/') || value.ends_with(".wasm") {
        return Ok(ModuleRef::File(value.into()));
    }
    if super::is_name(value) {
        Ok(ModuleRef::Uploaded(value.to_owned()))
    } else {
        Err(format!(
            "{value:?} is neither an uploaded module's name, a file (path/to/module.wasm) nor sha256:<digest>"
        ))
    }
}

/// A TOML value as JSON (dates become their text).
fn json(v: &DeValue<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).map_or(J::Null, J::from),
        DeValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(J::Null, J::Number),
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Datetime(d) => J::String(d.to_string()),
        DeValue::Array(items) => J::Array(items.iter().map(|i| json(i.get_ref())).collect()),
        DeValue::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.get_ref().to_string(), json(v.get_ref())))
                .collect(),
        ),
    }
}
