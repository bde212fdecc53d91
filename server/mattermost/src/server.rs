//! The hooks RPC service (`Plugin.*` calls from the server) and `run`.
//!
//! Mirrors Go's `hooksRPCServer` (plugin/client_rpc.go): reply shapes must match Go exactly,
//! because a reply that does not decode into the host's variable kills the hooks stream.

// Hooks return `Result<_, AppError>` by value (the shape plugin authors expect); the error is
// large but hooks run once per event, so boxing would cost ergonomics for nothing.
#![allow(clippy::result_large_err)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, RwLock};

use gob::{Any, Empty, Encodable};
use goplugin::netrpc::{self, Service};
use goplugin::{Broker, Plugins, ServeConfig, Stream};

use crate::api::Api;
use crate::hooks::Hooks;
use crate::http::{BodyReader, Header, HttpRequest, ResponseWriter};
use crate::model::{
    AppError, CommandArgs, CommandResponse, ConfigToSave, Context, PluginClusterEvent, Post,
};

/// How long to wait for a host-reserved stream id to be accepted (the host waits 5 s).
const DIAL_TIMEOUT_NOTE: &str = "the host accepts reserved ids for 5 s";

macro_rules! z {
    ($name:ident { $($f:ident : $t:ty),* $(,)? }) => {
        #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, gob::GobType)]
        #[serde(rename_all = "PascalCase", default)]
        #[allow(non_camel_case_types)]
        pub(crate) struct $name { $(pub $f: $t),* }
    };
}

z!(Z_ErrorReturns { a: Any });
z!(Z_ExecuteCommandArgs { a: Option<Context>, b: Option<CommandArgs> });
z!(Z_ExecuteCommandReturns { a: Option<CommandResponse>, b: Option<AppError> });
z!(Z_MessageHasBeenPostedArgs { a: Option<Context>, b: Option<Post> });
z!(Z_OnPluginClusterEventArgs { a: Option<Context>, b: PluginClusterEvent });
// `{A *model.Config, B error}`: A is never sent (nil = "no change"), so the reply declares B
// only; gob matches fields by name.
z!(Z_ConfigurationWillBeSavedReturns { b: Any });
z!(Z_ServeHTTPArgs {
    response_writer_stream: u32,
    request: Option<HttpRequestWire>,
    context: Option<Context>,
    request_body_stream: u32,
});

/// The fields common to `*plugin.HTTPRequestSubset` (v0.3.0) and `*http.Request` (v0.1.0).
/// `URL` is a `*url.URL`, a BinaryMarshaler: its bytes are the URL string.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, gob::GobType)]
#[serde(rename_all = "PascalCase", default)]
#[gob(name = "HTTPRequestSubset")]
pub(crate) struct HttpRequestWire {
    pub method: String,
    /// `*url.URL` is a BinaryMarshaler; its bytes are the URL string.
    #[serde(rename = "URL")]
    pub url: String,
    pub proto: String,
    pub proto_major: i64,
    pub proto_minor: i64,
    pub header: Header,
    pub host: String,
    pub remote_addr: String,
    #[serde(rename = "RequestURI")]
    pub request_uri: String,
}

/// `Z_OnActivateArgs`: the host-reserved broker ids of the API and DB-driver streams.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, gob::GobType)]
#[serde(default)]
#[allow(non_camel_case_types)]
pub(crate) struct Z_OnActivateArgs {
    #[serde(rename = "APIMuxId")]
    pub api_mux_id: u32,
    #[serde(rename = "DriverMuxId")]
    pub driver_mux_id: u32,
}

/// Serves the hooks stream for one plugin instance.
pub(crate) struct HookServer<H: Hooks> {
    plugin: Arc<H>,
    broker: Broker,
    api: RwLock<Option<Api>>,
    /// The DB-driver stream: dialled like Go does (so the host's accept does not time out)
    /// and kept open; its calls are never served.
    driver: Mutex<Option<Stream>>,
}

type Reply = Result<Box<dyn Encodable>, String>;

impl<H: Hooks + 'static> HookServer<H> {
    pub(crate) fn new(plugin: Arc<H>, broker: Broker) -> Self {
        HookServer {
            plugin,
            broker,
            api: RwLock::new(None),
            driver: Mutex::new(None),
        }
    }

    fn api(&self, hook: &str) -> Result<Api, String> {
        self.api
            .read()
            .map_err(|_| "API lock poisoned".to_owned())?
            .clone()
            .ok_or_else(|| format!("{hook} called before OnActivate connected the API"))
    }

    fn implemented(&self) -> Reply {
        let names: Vec<String> = self.plugin.implemented_hooks();
        Ok(Box::new(names))
    }

    fn on_activate(&self, body: gob::Value) -> Reply {
        let args: Z_OnActivateArgs =
            gob::from_value(body).map_err(|e| format!("OnActivate args: {e}"))?;
        let stream = self.broker.dial(args.api_mux_id).map_err(|e| {
            format!(
                "dial API stream {}: {e} ({DIAL_TIMEOUT_NOTE})",
                args.api_mux_id
            )
        })?;
        let api = Api::new(netrpc::Client::new(stream));
        if args.driver_mux_id != 0 {
            let driver = self.broker.dial(args.driver_mux_id).map_err(|e| {
                format!(
                    "dial driver stream {}: {e} ({DIAL_TIMEOUT_NOTE})",
                    args.driver_mux_id
                )
            })?;
            if let Ok(mut slot) = self.driver.lock() {
                *slot = Some(driver);
            }
        }
        if let Ok(mut slot) = self.api.write() {
            *slot = Some(api.clone());
        }
        // Like Go: the plugin's own OnConfigurationChange first, its error only printed.
        if let Err(e) = guarded("OnConfigurationChange", || {
            self.plugin.on_configuration_change(&api)
        }) {
            eprintln!("[ERROR] call to OnConfigurationChange failed, error: {e}");
        }
        let result = guarded("OnActivate", || self.plugin.on_activate(&api));
        Ok(Box::new(error_returns(result)))
    }

    fn simple_hook(
        &self,
        hook: &'static str,
        f: impl FnOnce(&H, &Api) -> Result<(), AppError>,
    ) -> Reply {
        let api = self.api(hook)?;
        let result = guarded(hook, || f(&self.plugin, &api));
        Ok(Box::new(error_returns(result)))
    }

    fn execute_command(&self, body: gob::Value) -> Reply {
        let args: Z_ExecuteCommandArgs =
            gob::from_value(body).map_err(|e| format!("ExecuteCommand args: {e}"))?;
        let api = self.api("ExecuteCommand")?;
        let ctx = args.a.unwrap_or_default();
        let cmd = args.b.unwrap_or_default();
        let result = guarded("ExecuteCommand", || {
            self.plugin.execute_command(&api, &ctx, &cmd)
        });
        // Always a non-nil A: with A and B both nil the server falls through to other commands.
        let reply = match result {
            Ok(response) => Z_ExecuteCommandReturns {
                a: Some(response),
                b: None,
            },
            Err(error) => Z_ExecuteCommandReturns {
                a: Some(CommandResponse::default()),
                b: Some(error),
            },
        };
        Ok(Box::new(reply))
    }

    fn message_has_been_posted(&self, body: gob::Value) -> Reply {
        let args: Z_MessageHasBeenPostedArgs =
            gob::from_value(body).map_err(|e| format!("MessageHasBeenPosted args: {e}"))?;
        let api = self.api("MessageHasBeenPosted")?;
        let ctx = args.a.unwrap_or_default();
        let post = args.b.unwrap_or_default();
        let result = guarded("MessageHasBeenPosted", || {
            self.plugin.message_has_been_posted(&api, &ctx, &post);
            Ok(())
        });
        if let Err(e) = result {
            api.log_error("MessageHasBeenPosted failed", &[("error", &e.to_string())]);
        }
        Ok(Box::new(Empty))
    }

    fn on_plugin_cluster_event(&self, body: gob::Value) -> Reply {
        let args: Z_OnPluginClusterEventArgs =
            gob::from_value(body).map_err(|e| format!("OnPluginClusterEvent args: {e}"))?;
        let api = self.api("OnPluginClusterEvent")?;
        let ctx = args.a.unwrap_or_default();
        let result = guarded("OnPluginClusterEvent", || {
            self.plugin.on_plugin_cluster_event(&api, &ctx, &args.b);
            Ok(())
        });
        if let Err(e) = result {
            api.log_error("OnPluginClusterEvent failed", &[("error", &e.to_string())]);
        }
        Ok(Box::new(Empty))
    }

    /// The reply never carries a configuration: nil A means "save it unchanged". A panic is
    /// no verdict on the configuration: it is logged and the save goes ahead (as it does when
    /// a Go plugin dies in this hook), so a broken hook cannot block every configuration save.
    fn configuration_will_be_saved(&self, body: gob::Value) -> Reply {
        let api = self.api("ConfigurationWillBeSaved")?;
        let config = ConfigToSave::new(body.field("A").cloned());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.plugin.configuration_will_be_saved(&api, &config)
        }));
        let b = match outcome {
            Ok(Ok(())) => Any::nil(),
            Ok(Err(e)) => e.to_any(),
            Err(payload) => {
                let message = panic_message(&payload);
                api.log_error(
                    "ConfigurationWillBeSaved panicked; the configuration is saved unchecked",
                    &[("panic", &message)],
                );
                Any::nil()
            }
        };
        Ok(Box::new(Z_ConfigurationWillBeSavedReturns { b }))
    }

    fn serve_http(&self, body: gob::Value) -> Reply {
        let args: Z_ServeHTTPArgs =
            gob::from_value(body).map_err(|e| format!("ServeHTTP args: {e}"))?;
        // Dial both host-reserved streams right away (5 s accept window).
        let writer_stream = self
            .broker
            .dial(args.response_writer_stream)
            .map_err(|e| format!("dial response writer stream: {e}"))?;
        let mut writer = ResponseWriter::new(netrpc::Client::new(writer_stream));
        let body_stream = match args.request_body_stream {
            0 => None,
            id => Some(
                self.broker
                    .dial(id)
                    .map_err(|e| format!("dial request body stream: {e}"))?,
            ),
        };
        let mut request = HttpRequest::new(
            args.request.unwrap_or_default(),
            BodyReader::new(body_stream),
        );
        let ctx = args.context.unwrap_or_default();
        let api = self.api("ServeHTTP");
        let outcome = match &api {
            Ok(api) => catch_unwind(AssertUnwindSafe(|| {
                self.plugin.serve_http(api, &ctx, &mut request, &mut writer)
            }))
            .map_err(|p| panic_message(&p)),
            Err(e) => Err(e.clone()),
        };
        if let Err(message) = outcome {
            eprintln!("[ERROR] ServeHTTP failed: {message}");
            if writer.status().is_none() {
                let _ = writer.send(500, "text/plain; charset=utf-8", b"internal plugin error\n");
            }
        }
        // Close both streams before replying: the host ends the response when the call returns.
        request.body().close();
        writer.close();
        Ok(Box::new(Empty))
    }
}

impl<H: Hooks + 'static> Service for HookServer<H> {
    fn call(&self, method: &str, body: gob::Value) -> Reply {
        match method {
            "Plugin.Implemented" => self.implemented(),
            "Plugin.OnActivate" => self.on_activate(body),
            "Plugin.OnDeactivate" => {
                self.simple_hook("OnDeactivate", |p, api| p.on_deactivate(api))
            }
            "Plugin.OnConfigurationChange" => self
                .simple_hook("OnConfigurationChange", |p, api| {
                    p.on_configuration_change(api)
                }),
            "Plugin.ExecuteCommand" => self.execute_command(body),
            "Plugin.MessageHasBeenPosted" => self.message_has_been_posted(body),
            "Plugin.ServeHTTP" => self.serve_http(body),
            "Plugin.OnPluginClusterEvent" => self.on_plugin_cluster_event(body),
            "Plugin.ConfigurationWillBeSaved" => self.configuration_will_be_saved(body),
            other => Err(format!("rpc: can't find method {other}")),
        }
    }
}

/// `{A error}` with nil or a `*model.AppError` interface value.
fn error_returns(result: Result<(), AppError>) -> Z_ErrorReturns {
    match result {
        Ok(()) => Z_ErrorReturns { a: Any::nil() },
        Err(e) => Z_ErrorReturns { a: e.to_any() },
    }
}

/// Runs a hook, turning a panic into an AppError so one bad hook does not kill the plugin.
fn guarded<T>(hook: &str, f: impl FnOnce() -> Result<T, AppError>) -> Result<T, AppError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(AppError::new(
            "plugin.hook.panic",
            &format!("{hook} panicked: {}", panic_message(&payload)),
            500,
        )),
    }
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// The whole `main` of a plugin: handshake, serve hooks until the server stops the plugin.
/// Exits the process with status 1 when started outside Mattermost or when serving fails.
pub fn run<H: Hooks + 'static>(plugin: H) {
    let plugin = Arc::new(plugin);
    let config = ServeConfig {
        magic_cookie_key: "MATTERMOST_PLUGIN".to_owned(),
        magic_cookie_value: "Securely message teams, anywhere.".to_owned(),
        app_protocol_version: 1,
    };
    let plugins = Plugins::new().with("hooks", move |broker: &Broker| {
        let service: Arc<dyn Service> = Arc::new(HookServer::new(plugin.clone(), broker.clone()));
        Ok(service)
    });
    if let Err(e) = goplugin::serve(config, plugins) {
        eprintln!("plugin stopped: {e}");
        std::process::exit(1);
    }
}
