//! Configuration: every field's validation, lines, all errors at once, secrets.

use datasync::config::{self, ConfigErrors, Mode, Routing, Target};
use datasync::schedule::Schedule;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse(text: &str) -> Result<config::Config, ConfigErrors> {
    config::parse(text, &no_env)
}

const CONN: &str = r#"
[connections.db]
kind = "sqlite"
url = "/tmp/x.db"
"#;

/// A sync with `extra` lines inserted into its table.
fn sync_with(extra: &str) -> String {
    format!(
        "{CONN}\n[syncs.s]\nconnection = \"db\"\nsql = \"SELECT 1 AS id\"\nkey = \"id\"\nschedule = \"every 5m\"\nchannel = \"team/chan\"\n{extra}\n[syncs.s.templates]\nadded = \"new {{{{ row.id }}}}\"\n"
    )
}

fn errors_of(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn a_valid_sync_parses_into_a_plan() {
    let plan = parse(&sync_with("")).unwrap();
    let s = plan.sync("s").unwrap();
    assert_eq!(s.diff.key, vec!["id".to_string()]);
    assert!(matches!(s.schedule, Schedule::Every(d) if d.as_secs() == 300));
    assert!(matches!(
        s.mode,
        Mode::Changes {
            added: Some(_),
            changed: None,
            removed: None
        }
    ));
    assert_eq!(
        s.routing,
        Routing::Fixed(Target::TeamChannel {
            team: "team".into(),
            channel: "chan".into()
        })
    );
    assert_eq!(s.max_messages, config::DEFAULT_MAX_MESSAGES);
}

/// Each case: extra lines for the sync, and a fragment every matching error must contain.
#[test]
fn each_field_is_validated_with_sync_field_and_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "shedule = \"every 5m\"",
            "shedule",
            "did you mean \"schedule\"",
        ),
        (
            "mode = \"digest\"",
            "mode",
            "not one of changes, batch, table, csv",
        ),
        (
            "first_run = \"sometimes\"",
            "first_run",
            "not one of \"baseline\", \"post\"",
        ),
        (
            "empty_result = \"ignore\"",
            "empty_result",
            "not one of \"post\", \"fail\"",
        ),
        ("max_messages = 0", "max_messages", "whole number from 1"),
        ("max_rows = \"many\"", "max_rows", "whole number"),
        (
            "statement_timeout = \"forever\"",
            "statement_timeout",
            "duration",
        ),
        ("link_previews = \"no\"", "link_previews", "true or false"),
        ("watched = []", "watched", "must not be empty"),
        ("path = \"/x\"", "path", "only http connections"),
        ("format = \"csv\"", "format", "only http connections"),
        ("batch_size = 5", "batch_size", "only batch mode"),
        ("channel_column = \"owner\"", "channel", "not both"),
        (
            "[syncs.s.sender]\nicon_url = \"ftp://x\"",
            "sender.icon_url",
            "http(s) URL",
        ),
        (
            "[syncs.s.attachments]\ncolor_added = \"pink\"",
            "attachments.color_added",
            "#RRGGBB",
        ),
    ];
    for (extra, field, fragment) in cases {
        let text = sync_with(extra);
        let errors = errors_of(&text);
        let hit = errors
            .iter()
            .find(|e| e.contains(&format!("field \"{field}\"")));
        let Some(hit) = hit else {
            panic!("{extra:?}: no error for field {field}; got {errors:#?}");
        };
        assert!(hit.starts_with("sync \"s\""), "{hit}");
        assert!(hit.contains(fragment), "{extra:?}: {hit}");
        // The line is where the offending text is.
        let first = extra.lines().last().unwrap_or(extra);
        let key = if *field == "channel" {
            "channel ="
        } else {
            first.split(['=', ' ']).next().unwrap()
        };
        let line = text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
        assert!(
            hit.contains(&format!("(line {line})")),
            "{extra:?}: {hit} (expected line {line})"
        );
    }
}

#[test]
fn bad_schedule_names_the_sync_field_and_line() {
    let text = sync_with("").replace("every 5m", "every 5 parsecs");
    let errors = errors_of(&text);
    let line = text.lines().position(|l| l.contains("parsecs")).unwrap() + 1;
    assert_eq!(
        errors,
        vec![format!(
            "sync \"s\", field \"schedule\" (line {line}): \"every 5 parsecs\" is not an interval like \"every 5m\" or \"every 1h30m\""
        )]
    );
}

#[test]
fn cron_and_timezone_are_checked() {
    let base = sync_with("").replace(
        "schedule = \"every 5m\"",
        "cron = \"0 9 * * MON-FRI\"\ntimezone = \"Europe/Berlin\"",
    );
    let plan = parse(&base).unwrap();
    assert!(matches!(
        plan.sync("s").unwrap().schedule,
        Schedule::Cron { .. }
    ));
    let bad_zone = base.replace("Europe/Berlin", "Europe/Atlantis");
    assert!(
        errors_of(&bad_zone)
            .iter()
            .any(|e| e.contains("field \"timezone\"") && e.contains("IANA"))
    );
    let bad_cron = base.replace("0 9 * * MON-FRI", "0 25 * * *");
    assert!(
        errors_of(&bad_cron)
            .iter()
            .any(|e| e.contains("field \"cron\""))
    );
    let both = base.replace("cron =", "schedule = \"every 5m\"\ncron =");
    assert!(errors_of(&both).iter().any(|e| e.contains("not both")));
}

#[test]
fn all_problems_are_reported_at_once_in_line_order() {
    let text = format!(
        "{CONN}\n[syncs.a]\nconnection = \"nope\"\nsql = \"SELECT 1\"\nschedule = \"soon\"\nmode = \"changes\"\nchannel = \"not a channel\"\n\n[syncs.b]\nconnection = \"db\"\nsql = \"\"\nschedule = \"manual\"\nmode = \"batch\"\nbatch_size = 21\nchannel = \"t/c\"\ncolour = 1\n[syncs.b.templates]\nrow = \"{{{{ row.x \"\n"
    );
    let errors = errors_of(&text);
    let expect = [
        (
            "sync \"a\"",
            "connection",
            "no connection named \"nope\" (defined: db)",
        ),
        ("sync \"a\"", "schedule", "is not an interval"),
        ("sync \"a\"", "channel", "is not a channel id"),
        ("sync \"a\"", "key", "needs key columns"),
        ("sync \"a\"", "templates", "at least one of added"),
        ("sync \"b\"", "sql", "must not be empty"),
        ("sync \"b\"", "batch_size", "from 1 to 20"),
        ("sync \"b\"", "colour", "unknown field"),
        ("sync \"b\"", "templates.row", "does not parse"),
    ];
    for (owner, field, fragment) in expect {
        assert!(
            errors.iter().any(|e| e.starts_with(owner)
                && e.contains(&format!("field \"{field}\""))
                && e.contains(fragment)),
            "missing {owner} {field} {fragment}: {errors:#?}"
        );
    }
    let lines: Vec<usize> = errors
        .iter()
        .filter_map(|e| e.split("(line ").nth(1)?.split(')').next()?.parse().ok())
        .collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
}

#[test]
fn malformed_toml_reports_the_line() {
    let errors = errors_of("[connections.db]\nkind = \"sqlite\"\nurl = \n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("line 3: malformed TOML"),
        "{}",
        errors[0]
    );
}

#[test]
fn unknown_top_level_and_connection_fields() {
    let text = format!("{}\nretries = 3\n", sync_with("")).replace(
        "url = \"/tmp/x.db\"",
        "url = \"/tmp/x.db\"\npasword = \"x\"",
    );
    let text = format!("allowed_chanels = []\n{text}");
    let errors = errors_of(&text);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("field \"allowed_chanels\" (line 1)")
                && e.contains("allowed_channels")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("connection \"db\", field \"pasword\"")),
        "{errors:#?}"
    );
}

#[test]
fn mode_specific_rules() {
    // batch needs a row template and a fixed channel; changes templates are not batch's.
    let text = sync_with("mode = \"batch\"");
    let errors = errors_of(&text);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("field \"templates.row\"") && e.contains("needs a row")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("field \"templates.added\"")
                && e.contains("batch mode does not use")),
        "{errors:#?}"
    );
    let text = sync_with("mode = \"table\"")
        .replace("channel = \"team/chan\"", "channel_column = \"owner\"");
    assert!(
        errors_of(&text)
            .iter()
            .any(|e| e.contains("per-row routing needs changes mode"))
    );
    // csv with a default file name.
    let text = sync_with("mode = \"csv\"").replace("added = ", "message = ");
    let plan = parse(&text).unwrap();
    assert!(matches!(plan.sync("s").unwrap().mode, Mode::Csv { .. }));
}

#[test]
fn allow_list_applies_to_fixed_channels() {
    let text = format!(
        "allowed_channels = [\"sales\", \"ops/alerts\"]\n{}",
        sync_with("")
    );
    let errors = errors_of(&text);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("field \"channel\"") && e.contains("not in allowed_channels")),
        "{errors:#?}"
    );
    let ok = text.replace("team/chan", "sales/deals");
    assert!(parse(&ok).is_ok());
    let ok = text.replace("team/chan", "ops/alerts");
    assert!(parse(&ok).is_ok());
    let dm = format!(
        "allow_direct_messages = false\n{}",
        sync_with("").replace("team/chan", "@ann")
    );
    assert!(errors_of(&dm).iter().any(|e| {
        e.contains("\"@ann\" would be a direct message, and allow_direct_messages = false")
    }));
}

#[test]
fn routing_values_parse() {
    assert_eq!(Target::parse("@ann"), Ok(Target::Username("ann".into())));
    assert_eq!(
        Target::parse("ann@example.com"),
        Ok(Target::Email("ann@example.com".into()))
    );
    assert_eq!(
        Target::parse("abcdefghijklmnopqrstuvwxyz"),
        Ok(Target::ChannelId("abcdefghijklmnopqrstuvwxyz".into()))
    );
    assert!(Target::parse("town square").is_err());
    assert!(Target::parse("abc").is_err());
}

#[test]
fn secrets_resolve_from_env_and_never_show() {
    let secret = "hunter2-super-secret";
    let env = |name: &str| (name == "DB_URL").then(|| format!("postgres://u:{secret}@h/db"));
    let text = sync_with("").replace(
        "kind = \"sqlite\"\nurl = \"/tmp/x.db\"",
        "kind = \"postgres\"\nurl = \"${env:DB_URL}\"",
    );
    let plan = config::parse(&text, &env).unwrap();
    let conn = &plan.connections["db"];
    assert!(conn.url.expose().contains(secret));
    assert!(!format!("{plan:?}").contains(secret));

    // A secret of the wrong shape: the error names the reference, not the value.
    let env = |name: &str| (name == "DB_URL").then(|| secret.to_string());
    let errors = config::parse(&text, &env).unwrap_err().to_string();
    assert!(errors.contains("field \"url\""), "{errors}");
    assert!(!errors.contains(secret), "{errors}");
    let env = |name: &str| (name == "CHAN").then(|| format!("{secret} nope"));
    let text = sync_with("").replace("\"team/chan\"", "\"${env:CHAN}\"");
    let errors = config::parse(&text, &env).unwrap_err().to_string();
    assert!(errors.contains("${env:CHAN}"), "{errors}");
    assert!(!errors.contains(secret), "{errors}");
    // Unset variables are named.
    let errors = errors_of(&text);
    assert!(
        errors
            .iter()
            .any(|e| e.contains("environment variable CHAN is not set"))
    );
}

#[test]
fn http_connections_take_headers_and_auth() {
    let text = r#"
[connections.api]
kind = "http"
url = "https://api.example.com"
headers = { "X-Api-Key" = "k" }
auth = { kind = "bearer", token = "t" }

[syncs.h]
connection = "api"
path = "/v1/accounts"
json_pointer = "/data"
key = ["region", "id"]
schedule = "every 1h30m"
channel = "t/c"
[syncs.h.templates]
removed = "gone"
"#;
    let plan = parse(text).unwrap();
    let s = plan.sync("h").unwrap();
    assert_eq!(s.query.json_pointer, "/data");
    assert_eq!(s.diff.key, vec!["region".to_string(), "id".to_string()]);
    let bad = text
        .replace("\"/data\"", "\"data\"")
        .replace("bearer", "oauth");
    let errors = errors_of(&bad);
    assert!(
        errors.iter().any(|e| e.contains("json_pointer")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("auth.kind")),
        "{errors:#?}"
    );
}

#[test]
fn column_check_warns_about_unknown_template_names() {
    let text = sync_with("").replace(
        "new {{ row.id }}",
        "new {{ row.id }} {{ row['nmae'] }} {{ email }}",
    );
    let plan = parse(&text).unwrap();
    let warnings = config::check_columns(plan.sync("s").unwrap(), &["id".to_string()]);
    let names: Vec<&str> = warnings.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, vec!["email", "nmae"]);
    assert!(warnings[0].to_string().contains("templates.added"));
}

#[test]
fn the_demo_configuration_is_valid() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/demo/demo.toml"
    ))
    .unwrap();
    let env = |n: &str| (n == "DATASYNC_DEMO_DB").then(|| "/tmp/demo.db".to_string());
    let plan = config::parse(&text, &env).unwrap();
    let names: Vec<&str> = plan.syncs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "usage_drop",
            "big_deals",
            "daily_signups",
            "feature_adoption",
            "weekly_export"
        ]
    );
}

#[test]
fn readme_shows_the_demo_configuration_verbatim() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let demo = std::fs::read_to_string(format!("{root}/assets/demo/demo.toml")).unwrap();
    let doc = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    assert!(
        doc.contains(&format!("```toml\n{demo}```")),
        "README.md's configuration section is out of date with assets/demo/demo.toml"
    );
}

#[test]
fn env_references_inside_a_value_are_expanded() {
    let secret = "pw-inside-url";
    let env = |name: &str| (name == "PW").then(|| secret.to_string());
    let text = sync_with("").replace(
        "kind = \"sqlite\"\nurl = \"/tmp/x.db\"",
        "kind = \"postgres\"\nurl = \"postgres://app:${env:PW}@db.internal/sales\"",
    );
    let plan = config::parse(&text, &env).unwrap();
    assert_eq!(
        plan.connections["db"].url.expose(),
        format!("postgres://app:{secret}@db.internal/sales")
    );
    // Unset or malformed references are errors naming the reference.
    let errors = errors_of(&text).join("\n");
    assert!(
        errors.contains("environment variable PW is not set"),
        "{errors}"
    );
    let bad = text.replace("${env:PW}", "${env:P W}");
    let errors = config::parse(&bad, &env).unwrap_err().to_string();
    assert!(
        errors.contains("not a valid environment reference"),
        "{errors}"
    );
    assert!(!errors.contains(secret), "{errors}");
}

#[test]
fn what_cannot_work_is_refused_at_validation() {
    let cases: &[(&str, &str)] = &[
        ("key = \"\"", "a column name must not be empty"),
        (
            "watched = [\"id\", \" \"]",
            "a column name must not be empty",
        ),
        (
            "timezone = \"Mars/Base\"",
            "\"Mars/Base\" is not an IANA time zone",
        ),
    ];
    for (extra, want) in cases {
        let text = sync_with(extra).replace(
            "key = \"id\"\n",
            if extra.starts_with("key") {
                ""
            } else {
                "key = \"id\"\n"
            },
        );
        let errors = errors_of(&text).join("\n");
        assert!(errors.contains(want), "{extra}: {errors}");
    }
    let cron = |pattern: &str, zone: &str| {
        sync_with(&format!("cron = \"{pattern}\"\ntimezone = \"{zone}\""))
            .replace("schedule = \"every 5m\"\n", "")
    };
    let errors = errors_of(&cron("* * * * * *", "UTC")).join("\n");
    assert!(
        errors.contains("field \"cron\"") && errors.contains("the shortest interval is 10s"),
        "{errors}"
    );
    let errors = errors_of(&cron("0 0 30 2 *", "UTC")).join("\n");
    assert!(errors.contains("never fires"), "{errors}");
    // A bad pattern and a bad zone are both reported.
    let errors = errors_of(&cron("61 * * * *", "Nowhere/Zone")).join("\n");
    assert!(
        errors.contains("field \"cron\"") && errors.contains("field \"timezone\""),
        "{errors}"
    );
}

#[test]
fn timeouts_take_durations_or_seconds() {
    for (value, secs) in [("\"3s\"", 3), ("3", 3), ("\"2m\"", 120)] {
        let text = sync_with("").replace(
            "url = \"/tmp/x.db\"",
            &format!("url = \"/tmp/x.db\"\nconnect_timeout = {value}"),
        );
        let plan = parse(&text).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(plan.connections["db"].connect_timeout.as_secs(), secs);
    }
    let text = sync_with("statement_timeout = \"0s\"");
    let errors = errors_of(&text).join("\n");
    assert!(errors.contains("(1s to 1d)"), "{errors}");
}

#[test]
fn a_csv_sync_whose_name_looks_like_liquid_is_kept() {
    let text = format!(
        "{CONN}\n[syncs.\"x{{{{ y }}}}\"]\nconnection = \"db\"\nsql = \"SELECT 1\"\nschedule = \"manual\"\nmode = \"csv\"\nchannel = \"t/c\"\n"
    );
    let plan = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    assert!(plan.sync("x{{ y }}").is_some());
}

#[test]
fn a_duplicate_name_is_named() {
    let text = format!("{}\n[syncs.s]\nconnection = \"db\"\n", sync_with(""));
    let errors = errors_of(&text);
    assert!(!errors.is_empty(), "accepted a sync defined twice");
    assert!(
        errors.iter().all(|e| e.contains("duplicate key `")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("`s`") || e.contains("`syncs.s`")),
        "{errors:#?}"
    );
}

#[test]
fn a_value_from_the_environment_is_never_quoted_back() {
    let env = |name: &str| (name == "TOKEN").then(|| "tok-very-secret-123".to_string());
    for extra in [
        "schedule = \"${env:TOKEN}\"",
        "mode = \"${env:TOKEN}\"",
        "first_run = \"${env:TOKEN}\"",
        "timezone = \"${env:TOKEN}\"",
    ] {
        let text = sync_with(extra).replacen(
            "schedule = \"every 5m\"\n",
            "",
            usize::from(extra.starts_with("schedule")),
        );
        let errors: Vec<String> = match config::parse(&text, &env) {
            Ok(_) => panic!("{extra}: accepted"),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        };
        let all = errors.join("\n");
        assert!(!all.contains("tok-very-secret-123"), "{extra}: {all}");
        assert!(all.contains("${env:TOKEN}"), "{extra}: {all}");
    }
}
