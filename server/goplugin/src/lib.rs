//! goplugin: the plugin side of HashiCorp go-plugin's "netrpc" protocol, with threads and
//! blocking I/O. Knows nothing about Mattermost.
//!
//! Module map:
//! - [`handshake`]: magic-cookie check, unix socket, the `1|1|unix|<path>|netrpc|` line.
//! - [`yamux`]: the yamux server session and streams (hashicorp/yamux behaviour).
//! - [`broker`]: go-plugin's MuxBroker (streams tagged with a 4-byte little-endian id).
//! - [`netrpc`]: Go `net/rpc` over gob, server and client.
//! - [`server`]: [`serve`], the entry point tying it together (control stream, dispenser).
//! - `log`: `[LEVEL]`-prefixed stderr lines, the format go-plugin's host parses.

mod log;

pub mod broker;
pub mod handshake;
pub mod netrpc;
pub mod server;
pub mod yamux;

pub use broker::{Broker, BrokerError};
pub use handshake::ServeConfig;
pub use netrpc::{CallError, Client, Service};
pub use server::{PluginFactory, Plugins, ServeError, serve, serve_session};
pub use yamux::{Session, Stream};
