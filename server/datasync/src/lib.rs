//! Data Sync for Mattermost: the engine.
//!
//! Module map (the path data takes through one run):
//! - [`config`]: the TOML document → a validated [`config::Plan`] (templates compiled,
//!   schedules parsed, routing checked); every problem reported at once with its line.
//! - [`schedule`]: intervals, cron with IANA zones, manual.
//! - [`row`]: the cell/row model and [`row::RowSink`], where sources push rows as they read.
//! - [`source`]: read a result from a database or HTTP endpoint, row by row into a sink.
//! - [`diff`]: compare with the previous snapshot → added / changed / removed.
//! - [`render`]: Liquid templates (lax about unknown names, custom filters, output cap).
//! - [`plan`]: changes or rows + templates → the messages to post (modes, routing targets,
//!   attachments, sender props, table splitting, flood guard).
//! - [`mattermost`]: the port the engine uses to reach Mattermost, and an in-memory one.
//! - [`run`]: one run end to end, snapshot committed only after delivery.
//! - [`dryrun`]: the `datasync` command line: dry run, validate, demo, bench.
//! - [`clock`]: the one injectable source of time.
pub mod clock;
pub mod config;
pub mod diff;
pub mod dryrun;
pub mod mattermost;
pub mod plan;
pub mod render;
pub mod row;
pub mod run;
pub mod schedule;
pub mod source;
