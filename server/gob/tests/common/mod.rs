//! Shared helpers for the golden-vector tests.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// (case name, number of values) from index.txt.
pub fn cases() -> Vec<(String, usize)> {
    let index = std::fs::read_to_string(data_dir().join("index.txt")).expect("index.txt");
    index
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next().expect("name").to_string();
            let n = parts.next().expect("count").parse().expect("count");
            (name, n)
        })
        .collect()
}

pub fn bin(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(format!("{name}.bin"))).expect("bin")
}

pub fn expected(name: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(data_dir().join(format!("{name}.json"))).expect("json");
    let mut de = serde_json::Deserializer::from_str(&text);
    de.disable_recursion_limit();
    Vec::deserialize(&mut de).expect("json parse")
}

fn is_zero(v: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match v {
        J::Null => true,
        J::Bool(b) => !b,
        J::Number(n) => n.as_f64() == Some(0.0),
        J::String(s) => s.is_empty(),
        J::Array(a) => a.iter().all(is_zero),
        J::Object(o) => o.is_empty(),
    }
}

fn num_eq(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    a.as_f64() == b.as_f64()
}

/// Compare what Rust decoded with Go's view: a key missing on the Rust side
/// must hold a zero value in Go (gob omits those); nothing may be extra.
pub fn check(path: &str, got: &serde_json::Value, want: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value as J;
    match (got, want) {
        (J::Number(a), J::Number(b)) if num_eq(a, b) => Ok(()),
        (J::Object(g), J::Object(w)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => check(&format!("{path}.{k}"), gv, wv)?,
                    None if is_zero(wv) => {}
                    None => return Err(format!("{path}.{k}: missing, Go has {wv}")),
                }
            }
            for k in g.keys() {
                if !w.contains_key(k) {
                    return Err(format!("{path}.{k}: not in Go's value"));
                }
            }
            Ok(())
        }
        (J::Array(g), J::Array(w)) if g.len() == w.len() => {
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                check(&format!("{path}[{i}]"), gv, wv)?;
            }
            Ok(())
        }
        // A nil interface or omitted value decodes as null/absent.
        (J::Null, w) if is_zero(w) => Ok(()),
        (g, w) if g == w => Ok(()),
        (g, w) => Err(format!("{path}: got {g}, want {w}")),
    }
}

/// Run `go run . verify DIR`; `None` when Go is not installed.
pub fn go_verify(dir: &std::path::Path) -> Option<(bool, String)> {
    let go = std::process::Command::new("go").arg("version").output();
    if go.is_err() {
        println!("NOTICE: `go` not found on PATH; skipping the Go-side verification");
        return None;
    }
    let out = std::process::Command::new("go")
        .args(["run", ".", "verify"])
        .arg(dir)
        .current_dir(golden_dir())
        .output()
        .expect("run go");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gob-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
