//! The demo: five syncs over a SQLite database built from `assets/demo/`, the steps that
//! change it, and the in-memory Mattermost they post to (`make demo`, the stories' tests).
//! Also the rendering benchmark's fixture.

use std::path::Path;
use std::time::Instant;

use crate::config::{self, Config, DryRunUsers};
use crate::port::MemoryPort;
use crate::render::{self, Context, LaxObject, RunInfo, Vars};
use crate::row::{Cell, RowSet};

/// The demo's files, built into the binary so `datasync demo` works from anywhere.
pub const DEMO_SCHEMA: &str = include_str!("../../../assets/demo/schema.sql");
pub const DEMO_STEPS: &str = include_str!("../../../assets/demo/steps.sql");
pub const DEMO_CONFIG: &str = include_str!("../../../assets/demo/demo.toml");

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

/// Builds the demo database at `path` from the schema script.
pub fn build_demo_db(path: &Path) -> Result<(), String> {
    let db =
        rusqlite::Connection::open(path).map_err(|e| format!("creating the demo database: {e}"))?;
    db.execute_batch(DEMO_SCHEMA)
        .map_err(|e| format!("building the demo database: {e}"))
}

/// The demo's configuration with its database at `db`, and its stand-in users.
pub fn demo_config(db: &Path) -> Result<(Config, DryRunUsers), String> {
    let db = db.to_string_lossy().into_owned();
    let env = move |name: &str| (name == "DATASYNC_DEMO_DB").then(|| db.clone());
    config::parse_with_dry_run(DEMO_CONFIG, &env).map_err(|e| e.to_string())
}

/// An in-memory Mattermost for dry runs: channels exist on demand; these users (e-mail →
/// username) can be looked up.
pub fn memory_port(users: &DryRunUsers) -> MemoryPort {
    let port = MemoryPort::auto();
    for (email, user) in users {
        port.add_user(user, email);
    }
    port
}

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
