//! The `datasync` command line, run as the binary it is: demo, dry run with a state file,
//! validate.

use datasync::demo;

/// Runs the binary; returns its exit code and standard output (with standard error after
/// it when the command failed, for the assertion message).
fn datasync(args: &[String]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_datasync"))
        .args(args)
        .output()
        .expect("run datasync");
    let code = out.status.code().unwrap_or(-1);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if code != 0 {
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    (code, text)
}

#[test]
fn demo_command_prints_every_step() {
    let (code, text) = datasync(&["demo".to_string()]);
    assert_eq!(code, 0, "{text}");
    for heading in ["═══ Run 1", "═══ Step 1:", "═══ Step 2:", "═══ Step 3:"]
    {
        assert!(text.contains(heading), "missing {heading}");
    }
    assert!(text.contains("→ @dan [added]"));
}

#[test]
fn dry_run_keeps_state_between_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    demo::build_demo_db(&db).unwrap();
    let config = dir.path().join("demo.toml");
    let text = demo::DEMO_CONFIG.replace("${env:DATASYNC_DEMO_DB}", &db.to_string_lossy());
    std::fs::write(&config, text).unwrap();
    let state = dir.path().join("state.json");
    let args = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "dry-run",
            "--config",
            config.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--sync",
            "usage_drop",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // An empty state file (made with `touch`) is an empty state.
    std::fs::write(&state, "").unwrap();
    let (code, text) = datasync(&args(&[]));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("first run: baseline recorded"), "{text}");
    assert!(!dir.path().join("state.json.tmp").exists());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&demo::demo_steps()[0].1)
        .unwrap();
    let (code, text) = datasync(&args(&["--format", "json"]));
    assert_eq!(code, 0, "{text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "two messages and a summary");
    assert_eq!(lines[0]["sync"], "usage_drop");
    assert_eq!(lines[0]["channel"], "acme/customer-success");
    assert!(
        lines[0]["message"]
            .as_str()
            .unwrap()
            .contains("@bob **Globex**")
    );
    assert_eq!(lines[2]["summary"]["added"], 2);

    // Globex recovers: the reply goes to the thread of the post the earlier run made, whose
    // id the state file still names correctly although each dry run starts a fresh port.
    let globex = lines[0]["post_id"].as_str().unwrap().to_string();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&demo::demo_steps()[1].1)
        .unwrap();
    let (code, text) = datasync(&args(&["--format", "json"]));
    assert_eq!(code, 0, "{text}");
    let recovered: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("Globex** has recovered"))
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(recovered["root_id"], globex.as_str());
    assert_ne!(recovered["post_id"], globex.as_str());

    // Another key: a new baseline, said as such (not "first run").
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("key = \"account_id\"", "key = \"name\"", 1),
    )
    .unwrap();
    let (code, text) = datasync(&args(&[]));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("new baseline recorded, nothing posted"),
        "{text}"
    );
    assert!(
        text.contains("note: sync \"usage_drop\": the sync now reads other data"),
        "{text}"
    );
}

#[test]
fn validate_command_lists_problems() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[connections.db]\nkind = \"oracle\"\nurl = \"x\"\n[syncs.a]\nconnection = \"db\"\nsql = \"SELECT 1\"\nschedule = \"every 5 parsecs\"\nchannel = \"t/c\"\n[syncs.a.templates]\nadded = \"x\"\nkey = \"id\"\n").unwrap();
    let (code, text) = datasync(&[
        "validate".into(),
        "--config".into(),
        config.to_string_lossy().into_owned(),
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("connection \"db\", field \"kind\" (line 2)"),
        "{text}"
    );
    assert!(
        text.contains("sync \"a\", field \"schedule\" (line 7)"),
        "{text}"
    );
    assert!(
        text.contains("sync \"a\", field \"templates.key\" (line 11): unknown field"),
        "{text}"
    );
}

#[test]
fn dry_run_runs_a_transform_from_a_file() {
    let module = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-unknown-unknown/release/transform_mask_email.wasm");
    assert!(
        module.exists(),
        "{}: run `make transforms`",
        module.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("leads.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE leads (id INTEGER PRIMARY KEY, email TEXT);
             INSERT INTO leads VALUES (1, 'jane.doe@acme.com');",
        )
        .unwrap();
    let config = dir.path().join("leads.toml");
    std::fs::write(
        &config,
        format!(
            r#"[transforms.mask]
module = {module:?}
params = {{ columns = ["email"] }}

[connections.db]
kind = "sqlite"
url = {db:?}

[syncs.leads]
connection = "db"
sql = "SELECT id, email FROM leads ORDER BY id"
key = "id"
schedule = "manual"
channel = "acme/leads"
first_run = "post"
transform = "mask"

[syncs.leads.templates]
added = "new lead {{{{ row.email }}}}"
"#
        ),
    )
    .unwrap();
    let args: Vec<String> = ["dry-run", "--config", config.to_str().unwrap()]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (code, text) = datasync(&args);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("new lead j***@"), "{text}");
    assert!(!text.contains("jane.doe"), "{text}");
}
