//! The HTTP API under `/plugins/datasync/api/v1/`, for a System Console panel: the same
//! operations as `/datasync`, under the same permissions, as JSON.
//!
//! | request | answer |
//! |---|---|
//! | `GET syncs` | every sync the caller may see: schedule, target, state, last and next run |
//! | `GET syncs/<name>/history?n=10` | its last n runs, newest first |
//! | `POST validate` `{"syncs": "<TOML>"}` | `valid`, or `problems` with owner, field, line, message |
//! | `POST syncs/<name>/preview` | the messages its next run would post (nothing is posted) |
//! | `POST syncs/<name>/run`, `pause`, `resume` | what was done |
//! | `POST connections/<name>/test` | whether it answered, and what |
//!
//! The caller is the user the server names in `Mattermost-User-Id` (401 without one);
//! refusals are 403 with the reason, unknown names 404, malformed requests 400, bodies
//! over [`MAX_BODY`] 413. Errors are `{"error": "…"}`.

use datasync::clock::{Clock, SystemClock};
use datasync::config::{self, Routing, SyncConfig};
use datasync::notify;
use datasync::pause;
use datasync::run;
use datasync::scheduler;
use serde_json::{Value, json};

use super::access::Caller;
use super::parse::HISTORY_DEFAULT;
use super::{Cx, Sub, show};
use crate::settings::{Loaded, Settings};

/// Where the API lives under `/plugins/datasync`.
pub const PREFIX: &str = "/api/v1/";
/// The largest request body read (a Syncs document being edited).
pub const MAX_BODY: usize = 1024 * 1024;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Syncs,
    History(String, usize),
    Validate,
    Preview(String),
    Run(String),
    Pause(String),
    Resume(String),
    Test(String),
    /// The uploaded transform modules.
    Transforms,
    /// Upload a module (the request body) under a name; `true`: replace one.
    Upload(String, bool),
}

/// An answer: status code and JSON body.
pub type Answer = (u16, Value);

fn error(status: u16, message: impl Into<String>) -> Answer {
    (status, json!({ "error": message.into() }))
}

/// The route of `method` + `path` (below the plugin's prefix) + `query`; or the error
/// answer (404 unknown path, 405 wrong method, 400 bad parameter).
pub fn route(method: &str, path: &str, query: &str) -> Result<Route, Answer> {
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return Err(error(404, "no such endpoint"));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (want, route) = match parts.as_slice() {
        ["syncs"] => ("GET", Route::Syncs),
        ["syncs", name, "history"] => ("GET", Route::History(name.to_string(), history_n(query)?)),
        ["validate"] => ("POST", Route::Validate),
        ["syncs", name, "preview"] => ("POST", Route::Preview(name.to_string())),
        ["syncs", name, "run"] => ("POST", Route::Run(name.to_string())),
        ["syncs", name, "pause"] => ("POST", Route::Pause(name.to_string())),
        ["syncs", name, "resume"] => ("POST", Route::Resume(name.to_string())),
        ["connections", name, "test"] => ("POST", Route::Test(name.to_string())),
        ["transforms"] => ("GET", Route::Transforms),
        ["transforms", name] => ("POST", Route::Upload(name.to_string(), replace(query))),
        _ => return Err(error(404, "no such endpoint")),
    };
    if method != want {
        return Err(error(405, format!("use {want} here")));
    }
    Ok(route)
}

/// `?replace=true`: an upload replaces the module of that name.
fn replace(query: &str) -> bool {
    query
        .split('&')
        .any(|kv| kv == "replace=true" || kv == "replace=1")
}

fn history_n(query: &str) -> Result<usize, Answer> {
    let n = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("n="))
        .map(|v| v.parse::<usize>().ok().filter(|n| (1..=50).contains(n)));
    match n {
        None => Ok(HISTORY_DEFAULT),
        Some(Some(n)) => Ok(n),
        Some(None) => Err(error(400, "n must be a number of runs from 1 to 50")),
    }
}

impl Route {
    /// The subcommand with the same permission.
    fn sub(&self) -> Sub {
        match self {
            Route::Syncs => Sub::List,
            Route::History(n, k) => Sub::History(n.clone(), *k),
            Route::Validate => Sub::Validate,
            Route::Preview(n) => Sub::Preview(n.clone()),
            Route::Run(n) => Sub::Run(n.clone()),
            Route::Pause(n) => Sub::Pause(n.clone()),
            Route::Resume(n) => Sub::Resume(n.clone()),
            Route::Test(n) => Sub::Test(n.clone()),
            Route::Transforms => Sub::Transforms,
            Route::Upload(n, r) => Sub::TransformAdd(n.clone(), *r),
        }
    }
}

/// Answers a routed request for `caller`; `body` is the request body (validate only).
pub fn handle(cx: &Cx<'_>, caller: &Caller, route: Route, body: &[u8]) -> Answer {
    if let Some(denied) = caller.denies(&route.sub()) {
        return error(403, denied);
    }
    match &route {
        Route::Validate => return validate(cx, body),
        Route::Transforms => return transforms(cx),
        Route::Upload(name, replace) => return upload(cx, caller, (name, *replace), body),
        _ => {}
    }
    let Some(loaded) = cx.shared.config() else {
        return error(503, "no valid configuration is running yet");
    };
    let sync = |name: &str| -> Result<&SyncConfig, Answer> {
        loaded
            .config
            .syncs
            .iter()
            .find(|s| s.name == name && caller.sees(cx, s))
            .ok_or_else(|| error(404, format!("no sync named {name:?} that you can see")))
    };
    let result = match &route {
        Route::Syncs => Ok(syncs(cx, caller, &loaded)),
        Route::History(name, n) => sync(name).map(|s| history(cx, s, *n)),
        Route::Preview(name) => sync(name).map(|s| preview(cx, &loaded, s)),
        Route::Run(name) => sync(name).map(|s| run_now(cx, caller, s)),
        Route::Pause(name) => sync(name).map(|s| set_paused(cx, caller, s, true)),
        Route::Resume(name) => sync(name).map(|s| set_paused(cx, caller, s, false)),
        Route::Test(name) => Ok(test(&loaded, name)),
        Route::Validate | Route::Transforms | Route::Upload(..) => {
            unreachable!("answered above")
        }
    };
    result.unwrap_or_else(|e| e)
}

fn transforms(cx: &Cx<'_>) -> Answer {
    match datasync::transform::store::list(cx.port) {
        Ok(all) => {
            let list: Vec<Value> = all
                .iter()
                .map(|(name, u)| {
                    json!({"name": name, "sha256": u.sha256, "bytes": u.bytes, "by": u.by, "at": u.at})
                })
                .collect();
            (200, json!({ "transforms": list }))
        }
        Err(e) => error(500, e.to_string()),
    }
}

fn upload(cx: &Cx<'_>, caller: &Caller, name: (&str, bool), body: &[u8]) -> Answer {
    match super::transforms::add(cx.port, caller, name, body, chrono::Utc::now()) {
        Ok(s) => (
            200,
            json!({"name": s.name, "sha256": s.sha256, "bytes": s.bytes, "unchanged": s.unchanged}),
        ),
        Err(e) => error(400, e),
    }
}

fn target(sync: &SyncConfig) -> String {
    match &sync.routing {
        Routing::Fixed(t) => t.to_string(),
        Routing::Column(c) => format!("column {c}"),
    }
}

fn syncs(cx: &Cx<'_>, caller: &Caller, loaded: &Loaded) -> Answer {
    let now = SystemClock.now();
    let paused = pause::paused(cx.port).unwrap_or_default();
    let list: Vec<Value> = loaded
        .config
        .syncs
        .iter()
        .filter(|s| caller.sees(cx, s))
        .map(|s| {
            let (next, holder) = scheduler::status(cx.port, s, now).unwrap_or_default();
            let last = run::history(cx.port, &s.name)
                .ok()
                .and_then(|h| h.last().cloned());
            json!({
                "name": s.name,
                "schedule": s.schedule.describe(),
                "posts_to": target(s),
                "mode": s.mode.name(),
                "paused": paused.get(&s.name),
                "running": !holder.is_empty(),
                "failing_since": notify::failing_since(cx.port, &s.name).ok().flatten(),
                "last_run": last,
                "next_run": next.filter(|_| !paused.contains_key(&s.name)),
            })
        })
        .collect();
    (200, json!({ "syncs": list }))
}

fn history(cx: &Cx<'_>, sync: &SyncConfig, n: usize) -> Answer {
    match run::history(cx.port, &sync.name) {
        Ok(records) => {
            let runs: Vec<_> = records.iter().rev().take(n).collect();
            (200, json!({ "sync": sync.name, "runs": runs }))
        }
        Err(e) => error(500, e.to_string()),
    }
}

/// Checks a document as it is being edited, with the saved secrets.
fn validate(cx: &Cx<'_>, body: &[u8]) -> Answer {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return error(400, format!("the body is not JSON: {e}")),
    };
    let Some(document) = request.get("syncs").and_then(Value::as_str) else {
        return error(400, "the body has no \"syncs\" text");
    };
    let saved = match cx.api.load_plugin_configuration::<Value>() {
        Ok(v) => Settings::from_json(&v),
        Err(e) => return error(500, format!("could not read the settings: {e}")),
    };
    let secrets = saved.secret_values();
    let env = |name: &str| {
        secrets
            .get(name)
            .cloned()
            .or_else(|| config::process_env(name))
    };
    match config::parse(document, &env) {
        Ok(c) => (
            200,
            json!({"valid": true, "syncs": c.syncs.len(), "connections": c.connections.len()}),
        ),
        Err(errors) => {
            let problems: Vec<Value> = errors
                .0
                .iter()
                .map(|e| json!({"owner": e.owner, "field": e.field, "line": e.line, "message": e.message}))
                .collect();
            (200, json!({"valid": false, "problems": problems}))
        }
    }
}

fn preview(cx: &Cx<'_>, loaded: &Loaded, sync: &SyncConfig) -> Answer {
    let report = super::preview_report(cx, loaded, sync);
    let messages: Vec<Value> = report
        .delivered
        .iter()
        .map(|d| {
            json!({
                "channel": show::channel_label(cx.api, &d.channel_id),
                "channel_id": d.channel_id,
                "kind": d.message.kind.as_str(),
                "message": d.message.message,
                "props": d.message.props,
                "thread_reply": d.root_id.is_some(),
                "file": d.message.file.as_ref().map(|f| json!({"name": f.name, "bytes": f.bytes.len()})),
            })
        })
        .collect();
    (
        200,
        json!({ "sync": sync.name, "run": report.record, "messages": messages }),
    )
}

fn run_now(cx: &Cx<'_>, caller: &Caller, sync: &SyncConfig) -> Answer {
    super::queue_run(cx, caller, sync);
    (202, json!({ "sync": sync.name, "queued": true }))
}

fn set_paused(cx: &Cx<'_>, caller: &Caller, sync: &SyncConfig, paused: bool) -> Answer {
    match super::set_pause(cx, caller, sync, paused) {
        Ok(changed) => (
            200,
            json!({ "sync": sync.name, "paused": paused, "changed": changed }),
        ),
        Err(e) => error(500, e.to_string()),
    }
}

fn test(loaded: &Loaded, name: &str) -> Answer {
    let Some(conn) = loaded.config.connections.get(name) else {
        return error(404, format!("no connection named {name:?}"));
    };
    match datasync::source::test_connection(conn, super::TEST_TIMEOUT) {
        Ok(detail) => (
            200,
            json!({ "connection": name, "ok": true, "detail": detail }),
        ),
        Err(e) => (
            200,
            json!({ "connection": name, "ok": false, "detail": e.to_string() }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_methods_and_parameters() {
        let ok = |m: &str, p: &str, q: &str| route(m, p, q).expect(p);
        assert_eq!(ok("GET", "/api/v1/syncs", ""), Route::Syncs);
        assert_eq!(
            ok("GET", "/api/v1/syncs/a/history", "n=3"),
            Route::History("a".into(), 3)
        );
        assert_eq!(
            ok("GET", "/api/v1/syncs/a/history", ""),
            Route::History("a".into(), 10)
        );
        assert_eq!(ok("POST", "/api/v1/validate", ""), Route::Validate);
        assert_eq!(
            ok("POST", "/api/v1/syncs/a/run", ""),
            Route::Run("a".into())
        );
        assert_eq!(
            ok("POST", "/api/v1/connections/w/test", ""),
            Route::Test("w".into())
        );
        let status = |m: &str, p: &str, q: &str| route(m, p, q).expect_err(p).0;
        assert_eq!(status("GET", "/api/v1/nope", ""), 404);
        assert_eq!(status("GET", "/api/v2/syncs", ""), 404);
        assert_eq!(status("POST", "/api/v1/syncs", ""), 405);
        assert_eq!(status("GET", "/api/v1/syncs/a/run", ""), 405);
        assert_eq!(status("GET", "/api/v1/syncs/a/history", "n=0"), 400);
        assert_eq!(status("GET", "/api/v1/syncs/a/history", "n=x"), 400);
    }
}
