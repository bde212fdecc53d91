//! `datasync`: validate a configuration, dry-run syncs, run the demo, benchmark rendering.
//!
//! Everything here runs without a Mattermost server: the in-memory port stands in for it
//! (channels and usernames exist on demand, e-mails resolve through `[dry_run.users]` or
//! `--user`), and the KV store lives in a local state file so consecutive dry runs see
//! changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, Utc};

use datasync::clock::{Clock, FixedClock, SystemClock};
use datasync::config::{self, Config, DryRunUsers};
use datasync::demo;
use datasync::port::MemoryPort;
use datasync::report;
use datasync::run::{self, Engine, RunMode};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = main_with_args(&args, &mut std::io::stdout());
    std::process::exit(code);
}

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

    fn load_plan(&self) -> Result<Result<(Config, DryRunUsers), config::ConfigErrors>, String> {
        let path = self.config.as_ref().ok_or("--config FILE is required")?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        Ok(config::parse_with_dry_run(&text, &config::process_env))
    }
}

fn validate(f: &Flags, out: &mut dyn std::io::Write) -> Result<i32, String> {
    match f.load_plan()? {
        Ok((plan, _)) => {
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
    let (plan, users) = match f.load_plan()? {
        Ok(p) => p,
        Err(errors) => {
            let _ = write!(out, "{errors}");
            return Ok(1);
        }
    };
    let mut users = users;
    users.extend(f.users.iter().cloned());
    let port = demo::memory_port(&users);
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
        gate: &datasync::gate::Open,
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
        let label = |id: &str| port.channel_label(id);
        let text = if f.json {
            report::json_lines(&report, &label)
        } else {
            report::text(&report, &label)
        };
        let _ = out.write_all(text.as_bytes());
    }
    if let Some(state) = &f.state {
        save_state(state, &port)?;
    }
    Ok(i32::from(failed))
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

fn demo(out: &mut dyn std::io::Write) -> Result<(), String> {
    let dir = demo_dir()?;
    let db = dir.join("demo.db");
    demo::build_demo_db(&db)?;
    let (plan, users) = demo::demo_config(&db)?;
    let port = demo::memory_port(&users);
    let label = |id: &str| port.channel_label(id);
    let clock = SystemClock;
    let engine = Engine {
        port: &port,
        clock: &clock,
        fetch: &run::real_fetch,
        allow: &plan.allow,
        gate: &datasync::gate::Open,
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
        w(&report::text(
            &run::run_sync(&engine, s, RunMode::Deliver),
            &label,
        ));
    }
    let conn =
        rusqlite::Connection::open(&db).map_err(|e| format!("opening the demo database: {e}"))?;
    for (i, (title, sql)) in demo::demo_steps().iter().enumerate() {
        conn.execute_batch(sql)
            .map_err(|e| format!("demo step {}: {e}", i + 1))?;
        w(&format!("\n═══ Step {}: {title} ═══\n", i + 1));
        for s in plan.syncs.iter().filter(|s| s.mode.name() == "changes") {
            w(&report::text(
                &run::run_sync(&engine, s, RunMode::Deliver),
                &label,
            ));
        }
    }
    w("\n(batch, table and csv syncs post all rows on every run; shown once above)\n");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn bench(f: &Flags, out: &mut dyn std::io::Write) -> Result<i32, String> {
    let n = f.messages.unwrap_or(200_000);
    let per_sec = demo::bench_render(n)?;
    let _ = writeln!(
        out,
        "rendered {n} messages: {per_sec:.0} messages/s (one thread, row object built per message)"
    );
    Ok(0)
}
