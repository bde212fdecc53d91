//! The `Hooks` trait a plugin implements, and the `hooks!` macro that derives the
//! `Implemented` list from the methods the plugin actually writes.
//!
//! Why a macro: the server calls `Plugin.Implemented` once and never calls hooks missing from
//! the answer, so the list must match the overridden methods exactly. Rust cannot ask a trait
//! impl which default methods it replaced, so `hooks!` sees the impl block, emits it unchanged
//! and records the method names. `Hooks` requires the hidden `ImplementedHooks` supertrait,
//! which only the macro implements: a plain `impl Hooks for X` does not compile, so the list
//! cannot silently drift from the code.

// `Result<_, AppError>` by value is the plain shape for plugin authors; hooks run once per
// event, so the large error type costs nothing measurable.
#![allow(clippy::result_large_err)]

use crate::api::Api;
use crate::http::{HttpRequest, ResponseWriter};
use crate::model::{
    AppError, CommandArgs, CommandResponse, ConfigToSave, Context, PluginClusterEvent, Post,
};

/// Server hooks. Every method has a default; write the ones you need inside
/// `mattermost::hooks! { impl Hooks for MyPlugin { … } }`.
///
/// Hooks may run concurrently on several threads; a panic in a hook is caught and reported
/// (ExecuteCommand/OnActivate → AppError, ServeHTTP → 500), and the plugin keeps serving.
pub trait Hooks: Send + Sync + ImplementedHooks {
    /// OnActivate: the API is connected; register commands, ensure bots. An error aborts
    /// activation (shown to admins).
    fn on_activate(&self, api: &Api) -> Result<(), AppError> {
        let _ = api;
        Ok(())
    }

    /// OnDeactivate: the plugin is being disabled or the server shuts down (10 s limit).
    fn on_deactivate(&self, api: &Api) -> Result<(), AppError> {
        let _ = api;
        Ok(())
    }

    /// OnConfigurationChange: reload settings (`api.load_plugin_configuration()`). Also run
    /// once before `on_activate`, like the Go SDK does. Errors are only logged.
    fn on_configuration_change(&self, api: &Api) -> Result<(), AppError> {
        let _ = api;
        Ok(())
    }

    /// ExecuteCommand: a registered slash command was run (`args.command` is the whole text).
    fn execute_command(
        &self,
        api: &Api,
        ctx: &Context,
        args: &CommandArgs,
    ) -> Result<CommandResponse, AppError> {
        let _ = (api, ctx);
        Err(AppError::new(
            "plugin.execute_command.not_implemented",
            &format!("command not handled: {}", args.command),
            404,
        ))
    }

    /// MessageHasBeenPosted: a post was saved (including the plugin's own posts).
    fn message_has_been_posted(&self, api: &Api, ctx: &Context, post: &Post) {
        let _ = (api, ctx, post);
    }

    /// OnPluginClusterEvent (server 5.36+): an event this plugin published on another node
    /// of the cluster (`Api::publish_plugin_cluster_event`).
    fn on_plugin_cluster_event(&self, api: &Api, ctx: &Context, event: &PluginClusterEvent) {
        let _ = (api, ctx, event);
    }

    /// ConfigurationWillBeSaved (server 8.0+): the server is about to save `new_config`.
    /// `Ok(())` lets it be saved unchanged; an error rejects the save and its message is shown
    /// to the admin. The hook cannot change the configuration: a configuration rebuilt from
    /// the fields the bindings know would save every other setting as zero. A panic here
    /// is logged and the save goes ahead. Older servers never call it.
    fn configuration_will_be_saved(
        &self,
        api: &Api,
        new_config: &ConfigToSave,
    ) -> Result<(), AppError> {
        let _ = (api, new_config);
        Ok(())
    }

    /// ServeHTTP: a request to `/plugins/<id>/…`. The default answers 404.
    fn serve_http(
        &self,
        api: &Api,
        ctx: &Context,
        request: &mut HttpRequest,
        response: &mut ResponseWriter,
    ) {
        let _ = (api, ctx, request);
        let _ = response.send(404, "text/plain; charset=utf-8", b"404 page not found\n");
    }
}

/// Implemented only by `hooks!`: the Go names of the hooks the impl block overrides.
#[doc(hidden)]
pub trait ImplementedHooks {
    fn implemented_hooks(&self) -> Vec<String>;
}

/// Rust hook method name → Go hook name.
const HOOK_NAMES: &[(&str, &str)] = &[
    ("on_activate", "OnActivate"),
    ("on_deactivate", "OnDeactivate"),
    ("on_configuration_change", "OnConfigurationChange"),
    ("execute_command", "ExecuteCommand"),
    ("message_has_been_posted", "MessageHasBeenPosted"),
    ("serve_http", "ServeHTTP"),
    ("on_plugin_cluster_event", "OnPluginClusterEvent"),
    ("configuration_will_be_saved", "ConfigurationWillBeSaved"),
];

/// Maps the method names `hooks!` saw to Go hook names (used by the macro expansion).
#[doc(hidden)]
pub fn go_hook_names(methods: &[&str]) -> Vec<String> {
    methods
        .iter()
        .filter_map(|m| HOOK_NAMES.iter().find(|(rust, _)| rust == m))
        .map(|(_, go)| (*go).to_owned())
        .collect()
}

/// Implements `Hooks` for a type and derives its `Implemented` list from the methods written:
///
/// ```ignore
/// mattermost::hooks! {
///     impl Hooks for MyPlugin {
///         fn on_activate(&self, api: &Api) -> Result<(), AppError> { Ok(()) }
///     }
/// }
/// ```
#[macro_export]
macro_rules! hooks {
    (
        impl Hooks for $ty:ty {
            $(
                $(#[$attr:meta])*
                fn $name:ident ( $($params:tt)* ) $( -> $ret:ty )? $body:block
            )*
        }
    ) => {
        impl $crate::Hooks for $ty {
            $(
                $(#[$attr])*
                fn $name ( $($params)* ) $( -> $ret )? $body
            )*
        }

        impl $crate::hooks::ImplementedHooks for $ty {
            fn implemented_hooks(&self) -> ::std::vec::Vec<::std::string::String> {
                $crate::hooks::go_hook_names(&[$(stringify!($name)),*])
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct OnlyCommand;
    crate::hooks! {
        impl Hooks for OnlyCommand {
            fn execute_command(&self, _api: &Api, _ctx: &Context, args: &CommandArgs)
                -> Result<CommandResponse, AppError>
            {
                Ok(CommandResponse::ephemeral(&args.command))
            }
        }
    }

    struct Several;
    crate::hooks! {
        impl Hooks for Several {
            /// Doc comments and attributes pass through.
            fn on_activate(&self, _api: &Api) -> Result<(), AppError> { Ok(()) }
            fn serve_http(&self, _api: &Api, _ctx: &Context, _r: &mut HttpRequest, _w: &mut ResponseWriter) {}
            fn message_has_been_posted(&self, _api: &Api, _ctx: &Context, _post: &Post) {}
        }
    }

    struct Cluster;
    crate::hooks! {
        impl Hooks for Cluster {
            fn on_plugin_cluster_event(&self, _api: &Api, _ctx: &Context, _ev: &PluginClusterEvent) {}
            fn configuration_will_be_saved(&self, _api: &Api, _cfg: &ConfigToSave) -> Result<(), AppError> { Ok(()) }
        }
    }

    struct Nothing;
    crate::hooks! { impl Hooks for Nothing {} }

    #[test]
    fn implemented_lists_exactly_the_written_methods() {
        assert_eq!(OnlyCommand.implemented_hooks(), vec!["ExecuteCommand"]);
        assert_eq!(
            Several.implemented_hooks(),
            vec!["OnActivate", "ServeHTTP", "MessageHasBeenPosted"]
        );
        assert_eq!(
            Cluster.implemented_hooks(),
            vec!["OnPluginClusterEvent", "ConfigurationWillBeSaved"]
        );
        assert!(Nothing.implemented_hooks().is_empty());
    }
}
