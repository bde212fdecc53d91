//! goplugin: the plugin side of HashiCorp go-plugin's "netrpc" protocol, with threads and
//! blocking I/O. Knows nothing about Mattermost.
//!
//! Module map:
//! - [`handshake`]: magic-cookie check, unix socket, the `1|1|unix|<path>|netrpc|` line.
//! - [`yamux`]: the yamux server session and streams (hashicorp/yamux behaviour).
//! - [`broker`]: go-plugin's MuxBroker (streams tagged with a 4-byte little-endian id).
//! - [`netrpc`]: Go `net/rpc` over gob, server and client.
//! - [`server`]: [`serve`], the entry point tying it together (control stream, dispenser).
//! - `workers`: the reusable threads net/rpc calls run on (one per in-flight call).
//! - `log`: `[LEVEL]`-prefixed stderr lines, the format go-plugin's host parses.

//!
//! Usage (what `main` of a plugin does; `Hooks` is a [`Service`] answering `Plugin.*` calls):
//!
//! ```no_run
//! use std::sync::Arc;
//! use goplugin::{Broker, Client, Plugins, ServeConfig, Service};
//!
//! struct Hooks { broker: Broker }
//! impl Service for Hooks {
//!     fn call(&self, method: &str, body: gob::Value) -> Result<Box<dyn gob::Encodable>, String> {
//!         match method {
//!             "Plugin.Implemented" => Ok(Box::new(vec!["OnActivate".to_string()])),
//!             "Plugin.OnActivate" => {
//!                 // The host reserved an id and waits 5 s for us to dial it.
//!                 let api_id: u32 = 1; // from the decoded arguments
//!                 let api = Client::new(self.broker.dial(api_id).map_err(|e| e.to_string())?);
//!                 let _version: String = api
//!                     .call("Plugin.GetServerVersion", &gob::Empty)
//!                     .map_err(|e| e.to_string())?;
//!                 Ok(Box::new(gob::Empty))
//!             }
//!             _ => Err(goplugin::netrpc::unknown_method(method)),
//!         }
//!     }
//! }
//!
//! let config = ServeConfig {
//!     magic_cookie_key: "MATTERMOST_PLUGIN".into(),
//!     magic_cookie_value: "Securely message teams, anywhere.".into(),
//!     app_protocol_version: 1,
//! };
//! let plugins = Plugins::new().with("hooks", |broker: &Broker| {
//!     Ok(Arc::new(Hooks { broker: broker.clone() }) as Arc<dyn Service>)
//! });
//! if let Err(e) = goplugin::serve(config, plugins) {
//!     eprintln!("[ERROR] {e}");
//!     std::process::exit(1);
//! }
//! ```

mod log;
mod workers;

pub mod broker;
pub mod handshake;
pub mod netrpc;
pub mod server;
pub mod yamux;

#[cfg(test)]
mod fuzz_tests;

pub use broker::{Broker, BrokerError};
pub use handshake::ServeConfig;
pub use netrpc::{CallError, Client, Service};
pub use server::{PluginFactory, Plugins, ServeError, serve, serve_session};
pub use yamux::{Session, Stream};
