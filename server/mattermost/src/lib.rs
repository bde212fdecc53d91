//! Mattermost server-plugin bindings for Rust.
//!
//! Modules:
//! - [`hooks`]: the [`Hooks`] trait and the [`hooks!`] macro (derives `Implemented`).
//! - [`api`]: [`Api`], one typed method per server API RPC.
//! - [`model`]: Post, CommandArgs, Bot, User, Channel, AppError … as gob structs.
//! - [`http`]: [`HttpRequest`] (streamed body) and [`ResponseWriter`] for ServeHTTP.
//! - [`bot`]: [`ensure_bot`] (works from server 5.37) and profile images from the bundle.
//! - [`error`]: [`ApiError`], the error of every API call.
//! - `server`: the hooks RPC service and [`run`], the whole `main` of a plugin.
//!
//! ```ignore
//! struct MyPlugin;
//! mattermost::hooks! {
//!     impl Hooks for MyPlugin {
//!         fn on_activate(&self, api: &Api) -> Result<(), AppError> { Ok(()) }
//!     }
//! }
//! fn main() { mattermost::run(MyPlugin) }
//! ```

pub mod api;
pub mod bot;
pub mod error;
pub mod hooks;
pub mod http;
pub mod model;
mod server;

pub use api::{Api, LogLevel};
pub use bot::{BotError, ensure_bot, set_profile_image_from_bundle};
pub use error::ApiError;
pub use gob::{Any, Bytes, GobType};
pub use hooks::Hooks;
pub use http::{BodyReader, Header, HttpRequest, ResponseWriter};
pub use model::*;
pub use server::run;

#[cfg(test)]
mod bot_tests;
#[cfg(test)]
mod golden_tests;
