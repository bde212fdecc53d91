//! The `datasync` command line: `validate`, `dry-run`, `demo`, `bench`.
//!
//! Everything here runs without a Mattermost server: the in-memory port stands in for it
//! (channels and usernames exist on demand, e-mails resolve through `[dry_run.users]` or
//! `--user`), and snapshots live in a local state file so consecutive dry runs see changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::clock::{Clock, FixedClock, SystemClock};
use crate::config::{self, Plan};
use crate::port::MemoryPort;
use crate::render::{self, Context, LaxObject, RunInfo, Vars};
use crate::row::{Cell, RowSet};
use crate::run::{self, Engine, RunMode, RunReport};

/// The demo's files, built into the binary so `datasync demo` works from anywhere.
pub const DEMO_SCHEMA: &str = include_str!("../../../assets/demo/schema.sql");
pub const DEMO_STEPS: &str = include_str!("../../../assets/demo/steps.sql");
pub const DEMO_CONFIG: &str = include_str!("../../../assets/demo/demo.toml");

const USAGE: &str = "\
usage:
  datasync validate --config FILE
  datasync dry-run  --config FILE [--sync NAME] [--state FILE] [--format text|json]
                    [--now RFC3339] [--user EMAIL=USERNAME]...
  datasync demo
  datasync bench    [--messages N]";

/// Runs the command line; returns the process exit code.
pub fn main_with_args(args: &[String], out: &mut dyn std::io::Write) -> i32 {
    let result = match args.first().map(String::as_str) {
        Some("validate") => Flags::parse(&args[1..]).and_then(|f| validate(&f, out)),
        Some("dry-run") => Flags::parse(&args[1..]).and_then(|f| dry_run(&f, out)),
        Some("demo") => demo(out).map(|()| 0),
        Some("bench") => Flags::parse(&args[1..]).and_then(|f| bench(&f, out)),
        Some("help" | "--help" | "-h") => {
            let _ = writeln!(out, "{USAGE}");
            Ok(0)
        }
        _ => Err(format!("unknown command\n{USAGE}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("datasync: {e}");
            2
        }
    }
}

#[derive(Debug, Default)]
struct Flags {
    config: Option<PathBuf>,
    sync: Option<String>,
    state: Option<PathBuf>,
    json: bool,
    now: Option<DateTime<Utc>>,
    users: Vec<(String, String)>,
    messages: Option<usize>,
}

impl Flags {
    fn parse(args: &[String]) -> Result<Flags, String> {
        let mut f = Flags::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{a} needs a value"))
            };
            match a.as_str() {
                "--config" => f.config = Some(value()?.into()),
                "--sync" => f.sync = Some(value()?),
                "--state" => f.state = Some(value()?.into()),
                "--format" => {
                    f.json = match value()?.as_str() {
                        "json" => true,
                        "text" => false,
                        other => return Err(format!("--format {other:?}: use text or json")),
                    }
                }
                "--now" => {
                    let v = value()?;
                    let t = DateTime::parse_from_rfc3339(&v)
                        .map_err(|e| format!("--now {v:?} is not an RFC 3339 time: {e}"))?;
                    f.now = Some(t.with_timezone(&Utc));
                }
                "--user" => {
                    let v = value()?;
                    let (e, u) = v.split_once('=').ok_or("--user takes EMAIL=USERNAME")?;
                    f.users
                        .push((e.to_lowercase(), u.trim_start_matches('@').to_string()));
                }
                "--messages" => {
                    f.messages = Some(value()?.parse().map_err(|_| "--messages takes a number")?)
                }
                other => return Err(format!("unknown option {other:?}\n{USAGE}")),
            }
        }
        Ok(f)
    }

    fn load_plan(&self) -> Result<Result<Plan, config::ConfigErrors>, String> {
        let path = self.config.as_ref().ok_or("--config FILE is required")?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Ok(config::parse(&text, &config::process_env))
    }
}

fn validate(f: &Flags, out: &mut dyn std::io::Write) -> Result<i32, String> {
    match f.load_plan()? {
        Ok(plan) => {
            let _ = writeln!(
                out,
                "configuration is valid: {} connection(s), {} sync(s)",
                plan.connections.len(),
                plan.syncs.len()
            );
            for s in &plan.syncs {
                let _ = writeln!(
                    out,
                    "  {}: {} mode, {}",
                    s.name,
                    s.mode.name(),
                    s.schedule.describe()
                );
            }
            Ok(0)
        }
        Err(errors) => {
            let _ = write!(out, "{errors}");
            Ok(1)
        }
    }
}

/// State file: the in-memory KV store as JSON, values base64.
fn load_state(path: &Path, port: &MemoryPort) -> Result<(), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("reading state file {}: {e}", path.display())),
    };
    // An empty file (e.g. made with `touch`) is a state with nothing in it yet.
    if text.trim().is_empty() {
        return Ok(());
    }
    let map: BTreeMap<String, String> = serde_json::from_str(&text)
        .map_err(|e| format!("state file {} is not valid: {e}", path.display()))?;
    let mut kv = BTreeMap::new();
    for (k, v) in map {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|e| format!("state file {}: key {k}: {e}", path.display()))?;
        kv.insert(k, bytes);
    }
    port.kv_import(kv);
    Ok(())
}

fn save_state(path: &Path, port: &MemoryPort) -> Result<(), String> {
    let map: BTreeMap<String, String> = port
        .kv_export()
        .into_iter()
        .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
        .collect();
    let text = serde_json::to_string_pretty(&map).map_err(|e| e.to_string())?;
    // Write beside it, then rename: an interrupted run never leaves half a state file.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let failed = |e: std::io::Error| format!("writing state file {}: {e}", path.display());
    std::fs::write(&tmp, text).map_err(failed)?;
    std::fs::rename(&tmp, path).map_err(failed)
}

fn dry_run(f: &Flags, out: &mut dyn std::io::Write) -> Result<i32, String> {
    let plan = match f.load_plan()? {
        Ok(p) => p,
        Err(errors) => {
            let _ = write!(out, "{errors}");
            return Ok(1);
        }
    };
    let port = MemoryPort::auto();
    for (email, user) in plan
        .dry_run_users
        .iter()
        .chain(f.users.iter().map(|(a, b)| (a, b)))
    {
        port.add_user(user, email);
    }
    if let Some(state) = &f.state {
        load_state(state, &port)?;
    }
    let clock: Box<dyn Clock> = match f.now {
        Some(t) => Box::new(FixedClock::new(t)),
        None => Box::new(SystemClock),
    };
    let engine = Engine {
        port: &port,
        clock: clock.as_ref(),
        fetch: &run::real_fetch,
        allow: &plan.allow,
    };
    let selected: Vec<_> = match &f.sync {
        Some(name) => vec![
            plan.sync(name)
                .ok_or_else(|| format!("no sync named {name:?}"))?,
        ],
        None => plan.syncs.iter().collect(),
    };
    let mut failed = false;
    for sync in selected {
        let report = run::run_sync(&engine, sync, RunMode::Deliver);
        failed |= !report.record.ok;
        if !report.columns.is_empty() {
            for w in config::check_columns(sync, &report.columns) {
                eprintln!("warning: {w}");
            }
        }
        let text = if f.json {
            report_json(&report, &port)
        } else {
            report_text(&report, &port)
        };
        let _ = out.write_all(text.as_bytes());
    }
    if let Some(state) = &f.state {
        save_state(state, &port)?;
    }
    Ok(i32::from(failed))
}

/// A channel for people: `team/channel` or `@user` for DMs.
fn channel_label(port: &MemoryPort, id: &str) -> String {
    port.channel_label(id)
}

/// The run as text: a heading, then each message.
pub fn report_text(report: &RunReport, port: &MemoryPort) -> String {
    let r = &report.record;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "── {}: {} rows, {} added, {} changed, {} removed → {} message(s){}",
        r.sync,
        r.rows,
        r.added,
        r.changed,
        r.removed,
        r.messages,
        match (r.baseline, r.notes.is_empty()) {
            (true, true) => " (first run: baseline recorded, nothing posted)",
            (true, false) => " (new baseline recorded, nothing posted: see the note)",
            _ => "",
        }
    );
    for n in &r.notes {
        let _ = writeln!(s, "   note: {n}");
    }
    if r.skipped > 0 {
        let _ = writeln!(s, "   {} blank message(s) skipped", r.skipped);
    }
    if r.summarized > 0 {
        let _ = writeln!(
            s,
            "   flood guard: {} messages replaced by a summary",
            r.summarized
        );
    }
    for e in &r.errors {
        let _ = writeln!(s, "   ! {e}");
    }
    for d in &report.delivered {
        let thread = match (&d.root_id, &d.message.thread) {
            (Some(_), _) => " (reply in the row's thread)",
            _ => "",
        };
        let _ = writeln!(
            s,
            "   → {} [{}]{thread}",
            channel_label(port, &d.channel_id),
            d.message.kind.as_str()
        );
        for line in d.message.message.lines() {
            let _ = writeln!(s, "     {line}");
        }
        if let Some((text, _)) = &d.message.edit_root {
            let _ = writeln!(s, "     edits the row's first post to:");
            for line in text.lines() {
                let _ = writeln!(s, "       {line}");
            }
        }
        if !d.message.props.is_empty() {
            let _ = writeln!(
                s,
                "     props: {}",
                serde_json::Value::Object(d.message.props.clone())
            );
        }
        if let Some(file) = &d.message.file {
            let _ = writeln!(s, "     file: {} ({} bytes)", file.name, file.bytes.len());
            for line in String::from_utf8_lossy(&file.bytes).lines().take(4) {
                let _ = writeln!(s, "       {line}");
            }
        }
    }
    s
}

/// The run as JSON lines, one per message: `{sync, channel, message, props, file}`.
pub fn report_json(report: &RunReport, port: &MemoryPort) -> String {
    let mut s = String::new();
    for d in &report.delivered {
        let file = d.message.file.as_ref().map(|f| {
            json!({"name": f.name, "size": f.bytes.len(),
                   "base64": base64::engine::general_purpose::STANDARD.encode(&f.bytes)})
        });
        let line = json!({
            "sync": report.record.sync,
            "channel": channel_label(port, &d.channel_id),
            "kind": d.message.kind.as_str(),
            "reply": d.root_id.is_some(),
            "post_id": d.post_id,
            "root_id": d.root_id,
            "message": d.message.message,
            "edit_root": d.message.edit_root.as_ref().map(|(text, _)| text),
            "props": d.message.props,
            "file": file,
        });
        let _ = writeln!(s, "{line}");
    }
    let r = &report.record;
    let summary = json!({"sync": r.sync, "summary": r});
    let _ = writeln!(s, "{summary}");
    s
}

// ---------------------------------------------------------------------------------------
// Demo.

/// Splits `steps.sql` into (title, statements).
pub fn demo_steps() -> Vec<(String, String)> {
    let mut steps: Vec<(String, String)> = Vec::new();
    for line in DEMO_STEPS.lines() {
        if let Some(title) = line.strip_prefix("-- step:") {
            steps.push((title.trim().to_string(), String::new()));
        } else if let Some((_, sql)) = steps.last_mut()
            && !line.trim_start().starts_with("--")
        {
            sql.push_str(line);
            sql.push('\n');
        }
    }
    steps
}

/// A fresh directory for the demo database.
fn demo_dir() -> Result<PathBuf, String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("datasync-demo-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Builds the demo database at `path` from the schema script.
pub fn build_demo_db(path: &Path) -> Result<(), String> {
    let db =
        rusqlite::Connection::open(path).map_err(|e| format!("creating the demo database: {e}"))?;
    db.execute_batch(DEMO_SCHEMA)
        .map_err(|e| format!("building the demo database: {e}"))
}

/// The demo's configuration with its database at `db`.
pub fn demo_plan(db: &Path) -> Result<Plan, String> {
    let db = db.to_string_lossy().into_owned();
    let env = move |name: &str| (name == "DATASYNC_DEMO_DB").then(|| db.clone());
    config::parse(DEMO_CONFIG, &env).map_err(|e| e.to_string())
}

/// The in-memory Mattermost for the demo: the acme team's channels and five people.
pub fn demo_port(plan: &Plan) -> MemoryPort {
    let port = MemoryPort::auto();
    for (email, user) in &plan.dry_run_users {
        port.add_user(user, email);
    }
    port
}

fn demo(out: &mut dyn std::io::Write) -> Result<(), String> {
    let dir = demo_dir()?;
    let db = dir.join("demo.db");
    build_demo_db(&db)?;
    let plan = demo_plan(&db)?;
    let port = demo_port(&plan);
    let clock = SystemClock;
    let engine = Engine {
        port: &port,
        clock: &clock,
        fetch: &run::real_fetch,
        allow: &plan.allow,
    };
    let mut w = |s: &str| {
        let _ = out.write_all(s.as_bytes());
    };
    w(&format!(
        "Data Sync demo: five syncs over a SQLite database built in {}\n\
         (in-memory Mattermost; every sync runs now, whatever its schedule)\n\n",
        dir.display()
    ));
    for s in &plan.syncs {
        w(&format!(
            "  {:<17} {:<8} {}\n",
            s.name,
            s.mode.name(),
            s.schedule.describe()
        ));
    }
    w(
        "\n═══ Run 1: the first run records the baseline; batch, table and csv syncs post everything ═══\n",
    );
    for s in &plan.syncs {
        w(&report_text(
            &run::run_sync(&engine, s, RunMode::Deliver),
            &port,
        ));
    }
    let conn =
        rusqlite::Connection::open(&db).map_err(|e| format!("opening the demo database: {e}"))?;
    for (i, (title, sql)) in demo_steps().iter().enumerate() {
        conn.execute_batch(sql)
            .map_err(|e| format!("demo step {}: {e}", i + 1))?;
        w(&format!("\n═══ Step {}: {title} ═══\n", i + 1));
        for s in plan.syncs.iter().filter(|s| s.mode.name() == "changes") {
            w(&report_text(
                &run::run_sync(&engine, s, RunMode::Deliver),
                &port,
            ));
        }
    }
    w("\n(batch, table and csv syncs post all rows on every run; shown once above)\n");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Benchmark.

/// Renders a typical changes-mode template `n` times; returns messages per second.
pub fn bench_render(n: usize) -> Result<f64, String> {
    let t = render::compile(
        ":chart_with_downwards_trend: <@{{ row.owner }}> **{{ row.name }}** used {{ row.drop_pct }} % less ({{ row.last_week | number_with_delimiter }} → {{ this_week | number_with_delimiter }}) {{ unknown }}",
    )?;
    let columns: Vec<String> = ["id", "name", "owner", "drop_pct", "last_week", "this_week"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<Vec<Cell>> = (0..1000)
        .map(|i| {
            vec![
                Cell::Int(i),
                Cell::Text(format!("Account {i}")),
                Cell::Text(format!("user{i}")),
                Cell::Decimal("42.5".into()),
                Cell::Int(182_400 + i),
                Cell::Int(91_000 + i),
            ]
        })
        .collect();
    let set = RowSet::new(columns.clone(), rows);
    let cx = Context::new("bench", "changes", &RunInfo::default(), &set.columns);
    let start = Instant::now();
    let mut bytes = 0;
    for i in 0..n {
        let row = &set.rows[i % set.rows.len()];
        let obj = LaxObject::from_row(&columns, row);
        let vars = Vars {
            row: Some(&obj),
            ..Vars::default()
        };
        bytes += render::render(&t, &cx, &vars, "bench")
            .map_err(|e| e.to_string())?
            .len();
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    Ok(n as f64 / secs.max(1e-9))
}

fn bench(f: &Flags, out: &mut dyn std::io::Write) -> Result<i32, String> {
    let n = f.messages.unwrap_or(200_000);
    let per_sec = bench_render(n)?;
    let _ = writeln!(
        out,
        "rendered {n} messages: {per_sec:.0} messages/s (one thread, row object built per message)"
    );
    Ok(0)
}
