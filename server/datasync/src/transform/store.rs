//! Uploaded transform modules in the KV store: each by its SHA-256, in chunks, and one
//! index of the names they were uploaded under (`transform add <name>`).
//!
//! Keys: `ds1::module:<sha256>` (its length and chunk count), `ds1::module:<sha256>:<i>`
//! (the bytes), `ds1::modules` (name → digest, who uploaded it and when). A module is
//! written before the index names it, and checked against its digest when read.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::port::Kv;
use crate::state::{self, CHUNK_BYTES, StateError};

/// The largest module accepted.
pub const MAX_MODULE_BYTES: usize = 8 << 20;

const INDEX: &str = "ds1::modules";

/// One uploaded name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    pub sha256: String,
    pub bytes: usize,
    /// The username of whoever uploaded it.
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ModuleMeta {
    bytes: usize,
    chunks: usize,
}

/// A module's SHA-256, lowercase hex.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn meta_key(hash: &str) -> String {
    format!("ds1::module:{hash}")
}

fn chunk_key(hash: &str, i: usize) -> String {
    format!("ds1::module:{hash}:{i}")
}

/// Stores a module (already checked) under its digest and names it; the digest.
pub fn save(
    kv: &dyn Kv,
    name: &str,
    bytes: &[u8],
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, StateError> {
    let hash = sha256(bytes);
    for (i, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
        kv.kv_set(&chunk_key(&hash, i), chunk)?;
    }
    let meta = ModuleMeta {
        bytes: bytes.len(),
        chunks: bytes.len().div_ceil(CHUNK_BYTES),
    };
    let raw = serde_json::to_vec(&meta).map_err(|e| state::damaged("", "module", e))?;
    kv.kv_set(&meta_key(&hash), &raw)?;
    let entry = Uploaded {
        sha256: hash.clone(),
        bytes: bytes.len(),
        by: by.to_owned(),
        at: now,
    };
    state::update_json(
        kv,
        "",
        (INDEX, "list of transform modules"),
        |all: &mut BTreeMap<String, Uploaded>| {
            all.insert(name.to_owned(), entry.clone()) != Some(entry.clone())
        },
    )?;
    Ok(hash)
}

/// Every uploaded name.
pub fn list(kv: &dyn Kv) -> Result<BTreeMap<String, Uploaded>, StateError> {
    Ok(state::read_json(kv, "", (INDEX, "list of transform modules"))?.unwrap_or_default())
}

/// A stored module's bytes, checked against its digest.
pub fn read(kv: &dyn Kv, hash: &str) -> Result<Vec<u8>, String> {
    let raw = kv
        .kv_get(&meta_key(hash))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no module sha256:{hash} is stored (upload it again)"))?;
    let meta: ModuleMeta = serde_json::from_slice(&raw)
        .map_err(|e| format!("module sha256:{hash}: unreadable record: {e}"))?;
    let mut bytes = Vec::with_capacity(meta.bytes.min(MAX_MODULE_BYTES));
    for i in 0..meta.chunks {
        let chunk = kv
            .kv_get(&chunk_key(hash, i))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("module sha256:{hash} is incomplete (upload it again)"))?;
        bytes.extend_from_slice(&chunk);
    }
    if sha256(&bytes) != hash {
        return Err(format!("module sha256:{hash} is damaged (upload it again)"));
    }
    Ok(bytes)
}
