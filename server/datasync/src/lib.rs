//! Data Sync for Mattermost: the engine.
//!
//! Module map (the path data takes through one run):
//! - [`config`]: the TOML document → a validated [`config::Config`] (templates compiled,
//!   schedules parsed, routing checked); every problem reported at once with its line. The
//!   model and `parse`, a crate-private spanned-TOML reader, one file per part (document,
//!   connection, sync, mode, attachments, checks).
//! - [`schedule`]: intervals, cron with IANA zones, manual.
//! - [`row`]: the cell/row model and [`row::RowSink`], where sources push rows as they read.
//! - [`source`]: read a result from a database or HTTP endpoint, row by row into a sink;
//!   one directory per kind, its configuration settings beside it (`source/<kind>/config.rs`).
//! - [`transform`]: WebAssembly row transforms between the source and the diff (wasmi, or
//!   wasmtime with the `wasmtime` feature; fuel and memory limits; the ABI shared with the
//!   guest SDK).
//! - [`diff`]: compare with the previous snapshot → added / changed / removed.
//! - [`render`]: Liquid templates (lax about unknown names, custom filters, output cap).
//! - [`plan`]: changes or rows + templates → the messages to post (modes, routing targets,
//!   attachments, sender props, table splitting, flood guard).
//! - [`route`]: the run's one batch of user look-ups; targets → channel ids (allow-list).
//! - [`port`]: the small traits (KV, messaging, directory, log) through which the engine
//!   reaches Mattermost, and an in-memory implementation.
//! - [`state`]: every KV key and value a sync keeps (snapshot, outbox, threads, history).
//! - [`outbox`]: a committed run's messages, delivered in order, each exactly once.
//! - [`gate`]: what delivery asks before each message: pacing (a token bucket), stop.
//! - [`scheduler`]: what is due, and the KV lease that runs each due run once cluster-wide.
//! - [`pause`]: the syncs paused by `/datasync pause`, one KV value for all.
//! - [`buttons`]: *Acknowledge* and *Snooze this row* on change messages, and the marks a
//!   press leaves on the post.
//! - [`snooze`]: a sync's snoozed rows (one KV value), and taking their messages out of a
//!   plan.
//! - [`notify`]: failure and recovery notices, once per change of a sync's health.
//! - [`run`]: one run end to end: plan, commit (snapshot + outbox), deliver.
//! - [`report`]: a run as people read it (dry run, demo, later `/datasync preview`).
//! - [`demo`]: the demo database, its steps and the in-memory Mattermost it posts to.
//!
//! The `datasync` command line (validate, dry run, demo, bench) is the binary in
//! `src/bin/datasync.rs`; it only parses arguments, keeps the state file and prints.
//! - [`clock`]: the one injectable source of time.
pub mod buttons;
pub mod clock;
pub mod config;
pub mod demo;
pub mod diff;
pub mod gate;
pub mod notify;
pub mod outbox;
pub mod pause;
pub mod plan;
pub mod port;
pub mod render;
pub mod report;
pub mod route;
pub mod row;
pub mod run;
pub mod schedule;
pub mod scheduler;
pub mod snooze;
pub mod source;
pub mod state;
pub mod transform;
