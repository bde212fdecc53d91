//! rs-probe: a test plugin implementing every hook and exposing every API method over HTTP,
//! so Go host tests can drive the Rust bindings against a real server. Contract: README.md.

mod calls;
mod json;

use std::collections::BTreeMap;
use std::sync::Mutex;

use mattermost::{
    Api, AppError, AutocompleteData, Command, CommandArgs, CommandResponse, ConfigToSave, Context,
    HttpRequest, PluginClusterEvent, Post, ResponseWriter,
};
use serde_json::{Value, json};

/// Largest `/call` JSON body accepted (UploadFile data is base64 inside it).
const MAX_CALL_BODY: usize = 64 << 20;

/// What the hooks saw, for `GET /hooks`.
#[derive(Default)]
struct Seen {
    counts: BTreeMap<&'static str, u64>,
    last_post: Option<Value>,
    last_command: Option<Value>,
    config: Value,
    last_cluster_event: Option<Value>,
    last_config_check: Value,
}

#[derive(Default)]
struct Probe {
    seen: Mutex<Seen>,
    /// The plugin id (the bundle directory's name), for `PluginSettings.Plugins[<id>]`.
    id: Mutex<String>,
}

impl Probe {
    fn record(&self, hook: &'static str, update: impl FnOnce(&mut Seen)) {
        if let Ok(mut seen) = self.seen.lock() {
            *seen.counts.entry(hook).or_insert(0) += 1;
            update(&mut seen);
        }
    }

    fn hooks_json(&self) -> Value {
        match self.seen.lock() {
            Ok(seen) => json!({
                "counts": seen.counts,
                "last_post": seen.last_post,
                "last_command": seen.last_command,
                "config": seen.config,
                "last_cluster_event": seen.last_cluster_event,
                "last_config_check": seen.last_config_check,
            }),
            Err(_) => json!({"error": "state lock poisoned"}),
        }
    }

    fn handle_call(
        &self,
        api: &Api,
        method: &str,
        r: &mut HttpRequest,
        w: &mut ResponseWriter,
    ) -> std::io::Result<()> {
        let body = match r.read_body(MAX_CALL_BODY) {
            Ok(b) => b,
            Err(e) => return w.send_json(400, &json!({"error": e.to_string()})),
        };
        let args: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice(&body) {
                Ok(v @ Value::Object(_)) => v,
                // Go's json.Marshal of a nil map: no arguments.
                Ok(Value::Null) => json!({}),
                Ok(_) => return w.send_json(400, &json!({"error": "body must be a JSON object"})),
                Err(e) => return w.send_json(400, &json!({"error": format!("invalid JSON: {e}")})),
            }
        };
        match calls::call(api, method, &args) {
            Ok(out) => w.send_json(
                200,
                &json!({"result": out.result, "ok": out.ok, "error": null}),
            ),
            Err(calls::CallFailure::Api(e)) => w.send_json(
                200,
                &json!({"result": null, "ok": false, "error": calls::error_json(&e)}),
            ),
            Err(calls::CallFailure::BadRequest(msg)) => w.send_json(400, &json!({"error": msg})),
        }
    }
}

fn probe_command() -> Command {
    let mut data = AutocompleteData::new("probe", "[fail|echo <text>]", "Rust probe test command");
    let mut fail = AutocompleteData::new("fail", "", "Return an AppError");
    fail.role_id = String::new();
    data.add_command(fail);
    let mut echo = AutocompleteData::new("echo", "<text>", "Answer with the text");
    echo.add_text_argument("Text to echo", "text", "");
    data.add_command(echo);
    Command {
        trigger: "probe".to_owned(),
        auto_complete: true,
        auto_complete_desc: "Rust probe test command".to_owned(),
        display_name: "Probe".to_owned(),
        autocomplete_data: Some(data),
        ..Command::default()
    }
}

mattermost::hooks! {
    impl Hooks for Probe {
        fn on_activate(&self, api: &Api) -> Result<(), AppError> {
            self.record("OnActivate", |_| {});
            let bundle = api.get_bundle_path()?;
            if let (Ok(mut id), Some(name)) = (self.id.lock(), std::path::Path::new(&bundle).file_name()) {
                *id = name.to_string_lossy().into_owned();
            }
            api.register_command(&probe_command())?;
            api.log_info("rs-probe activated", &[("version", env!("CARGO_PKG_VERSION"))]);
            Ok(())
        }

        fn on_deactivate(&self, api: &Api) -> Result<(), AppError> {
            self.record("OnDeactivate", |_| {});
            // In-memory state dies with the process; leave a trace the tests can read.
            api.kv_set("probe_deactivated", b"1")?;
            Ok(())
        }

        fn on_configuration_change(&self, api: &Api) -> Result<(), AppError> {
            let config: Value = api.load_plugin_configuration()?;
            self.record("OnConfigurationChange", |seen| seen.config = config);
            Ok(())
        }

        fn execute_command(&self, _api: &Api, _ctx: &Context, args: &CommandArgs)
            -> Result<CommandResponse, AppError>
        {
            let text = args.command.trim().strip_prefix("/probe").unwrap_or("").trim().to_owned();
            let record = json!({"command": args.command, "user_id": args.user_id,
                "channel_id": args.channel_id, "team_id": args.team_id, "root_id": args.root_id});
            self.record("ExecuteCommand", |seen| seen.last_command = Some(record));
            if text == "fail" {
                return Err(AppError::new("rs-probe.fail", "probe failure requested", 400)
                    .with_detail("the /probe fail command always fails"));
            }
            if text == "panic" {
                panic!("probe panic requested by /probe panic");
            }
            let echo = text.strip_prefix("echo").map(str::trim).unwrap_or(&text);
            Ok(CommandResponse::ephemeral(&format!("probe: {echo}")))
        }

        fn message_has_been_posted(&self, _api: &Api, _ctx: &Context, post: &Post) {
            let value = json::to_go_json(post);
            self.record("MessageHasBeenPosted", |seen| seen.last_post = Some(value));
        }

        fn on_plugin_cluster_event(&self, _api: &Api, _ctx: &Context, event: &PluginClusterEvent) {
            let value = json!({"id": event.id, "data": json::b64(&event.data.0)});
            self.record("OnPluginClusterEvent", |seen| seen.last_cluster_event = Some(value));
        }

        fn configuration_will_be_saved(&self, _api: &Api, new_config: &ConfigToSave)
            -> Result<(), AppError>
        {
            let id = self.id.lock().map(|id| id.clone()).unwrap_or_default();
            let settings = new_config.plugin_settings(&id).unwrap_or(Value::Null);
            let reject = settings.get("probesetting").and_then(Value::as_str) == Some("reject");
            let panic = settings.get("probesetting").and_then(Value::as_str) == Some("panic");
            self.record("ConfigurationWillBeSaved", |seen| seen.last_config_check = settings);
            if panic {
                panic!("probe panic requested by probesetting = \"panic\"");
            }
            if reject {
                return Err(AppError::new(&format!("{id}.config.rejected"), "configuration rejected", 400)
                    .with_detail("ProbeSetting: reject is not allowed"));
            }
            Ok(())
        }

        fn serve_http(&self, api: &Api, ctx: &Context, r: &mut HttpRequest, w: &mut ResponseWriter) {
            self.record("ServeHTTP", |_| {});
            let path = r.path().to_owned();
            let result = match (r.method.as_str(), path.as_str()) {
                ("POST", "/panic") => panic!("probe panic requested by POST /panic"),
                ("GET", "/hooks") => w.send_json(200, &self.hooks_json()),
                ("GET", "/request") => w.send_json(200, &json!({
                    "method": r.method, "url": r.url, "path": path, "query": r.query(),
                    "proto": r.proto, "header": r.header, "host": r.host,
                    "remote_addr": r.remote_addr, "request_uri": r.request_uri,
                    "user_id": r.user_id(), "context": json::to_go_json(ctx),
                })),
                ("POST", p) if p.starts_with("/call/") => {
                    let method = p.trim_start_matches("/call/").to_owned();
                    self.handle_call(api, &method, r, w)
                }
                _ => w.send(404, "text/plain; charset=utf-8", b"404 page not found\n"),
            };
            if let Err(e) = result {
                api.log_warn("rs-probe: HTTP response failed", &[("error", &e.to_string())]);
            }
        }
    }
}

fn main() {
    mattermost::run(Probe::default());
}
