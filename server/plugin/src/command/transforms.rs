//! Uploaded WebAssembly transform modules: `transforms` lists them; `transform add <name>`
//! (or `replace`) with the `.wasm` file attached, in a direct message to the bot, uploads
//! one; the HTTP API takes the bytes as the request body. A module is checked and
//! compiled before it is stored, and refused with the reason.

use chrono::{DateTime, Utc};
use datasync::port::Kv;
use datasync::render::neutralise;
use datasync::transform::store::{self, MAX_MODULE_BYTES};
use datasync::transform::wasm;
use mattermost::Api;

use super::Cx;
use super::access::Caller;
use super::show::when;

/// What an upload stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub name: String,
    pub sha256: String,
    pub bytes: usize,
    /// The same module was uploaded under that name already.
    pub unchanged: bool,
}

/// Checks, compiles and stores `bytes` under `name`. A name in use for other bytes is
/// refused unless `replace`.
pub fn add(
    kv: &dyn Kv,
    caller: &Caller,
    (name, replace): (&str, bool),
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<Stored, String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        || name.ends_with(".wasm")
    {
        return Err(format!(
            "`{}` cannot name a module: use letters, digits, `-`, `_` and `.` (64 at most, no `.wasm`).",
            neutralise(&name.chars().take(80).collect::<String>())
        ));
    }
    if bytes.len() > MAX_MODULE_BYTES {
        return Err(format!(
            "The module is {} KiB; the most is {} KiB.",
            bytes.len() >> 10,
            MAX_MODULE_BYTES >> 10
        ));
    }
    wasm::compile(bytes).map_err(|e| format!("This is not a module Data Sync can run: {e}."))?;
    let sha256 = store::sha256(bytes);
    let existing = store::list(kv).map_err(|e| e.to_string())?;
    let unchanged = existing.get(name).is_some_and(|u| u.sha256 == sha256);
    if let Some(other) = existing
        .get(name)
        .filter(|u| u.sha256 != sha256 && !replace)
    {
        return Err(format!(
            "A module is uploaded as **{name}** already (sha256:{}, by @{}). To replace it, say `transform replace {name}` with the file; the syncs using it run the new one from their next run.",
            short(&other.sha256, 12),
            other.by
        ));
    }
    if !unchanged {
        store::save(kv, name, bytes, &caller.username, now).map_err(|e| e.to_string())?;
    }
    Ok(Stored {
        name: name.to_owned(),
        sha256,
        bytes: bytes.len(),
        unchanged,
    })
}

/// A digest's first `n` characters (all of it if the stored index holds something shorter).
fn short(sha256: &str, n: usize) -> &str {
    sha256.get(..n).unwrap_or(sha256)
}

/// The answer for an upload.
pub fn told(s: &Stored) -> String {
    if s.unchanged {
        return format!(
            "**{}** is this module already (sha256:{}); nothing changed.",
            s.name, s.sha256
        );
    }
    format!(
        ":white_check_mark: Stored **{}** ({} KiB, sha256:{}). Use it in the configuration:\n```toml\n[transforms.{}]\nmodule = \"{}\"\n```\nand `transform = \"{}\"` in a sync.",
        s.name,
        s.bytes.div_ceil(1024),
        s.sha256,
        s.name,
        s.name,
        s.name
    )
}

/// `transform add` with the file attached to `file_ids` (exactly one `.wasm` file).
pub fn add_attached(
    cx: &Cx<'_>,
    caller: &Caller,
    (name, replace): (&str, bool),
    file_ids: &[String],
) -> String {
    let bytes = match attached(cx.api, file_ids) {
        Ok(bytes) => bytes,
        Err(e) => return e,
    };
    match add(cx.port, caller, (name, replace), &bytes, Utc::now()) {
        Ok(stored) => told(&stored),
        Err(e) => format!(":x: {e}"),
    }
}

fn attached(api: &Api, file_ids: &[String]) -> Result<Vec<u8>, String> {
    let [id] = file_ids else {
        return Err(attach_a_file_text(file_ids.len()));
    };
    let info = api
        .get_file_info(id)
        .map_err(|e| format!("Could not read the file: {e}"))?;
    if info.size < 0 || info.size as usize > MAX_MODULE_BYTES {
        return Err(format!(
            "The file is {} KiB; the most is {} KiB.",
            info.size.max(0) >> 10,
            MAX_MODULE_BYTES >> 10
        ));
    }
    api.get_file(id)
        .map_err(|e| format!("Could not read the file: {e}"))
}

/// `transform add` without a file (the slash command cannot carry one).
pub fn attach_a_file(name: &str) -> String {
    format!(
        "Send the module to the bot in a direct message: attach the `.wasm` file to `transform add {}`.",
        neutralise(name)
    )
}

fn attach_a_file_text(n: usize) -> String {
    format!("Attach exactly one `.wasm` file to the message (it had {n}): `transform add <name>`.")
}

/// The uploaded modules as a Markdown table.
pub fn list(cx: &Cx<'_>, now: DateTime<Utc>) -> String {
    let all = match store::list(cx.port) {
        Ok(all) => all,
        Err(e) => return format!("Could not read the list of modules: {e}"),
    };
    if all.is_empty() {
        return "No transform modules are uploaded. A system admin sends one to the bot: `transform add <name>` with the `.wasm` file attached.".into();
    }
    let mut text = String::from(
        "#### Transform modules\n| Name | Size | SHA-256 | Uploaded |\n| --- | --- | --- | --- |\n",
    );
    for (name, u) in &all {
        text.push_str(&format!(
            "| **{name}** | {} KiB | `{}…` | by @{}, {} |\n",
            u.bytes.div_ceil(1024),
            short(&u.sha256, 16),
            u.by,
            when(u.at, now, chrono_tz::Tz::UTC)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn a_damaged_digest_in_the_index_is_shown_whole() {
        assert_eq!(short(&"ab".repeat(32), 12), "abababababab");
        assert_eq!(short("abc", 12), "abc");
        assert_eq!(short("ééééééé", 3), "ééééééé");
    }
}
