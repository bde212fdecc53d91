//! Rendering: lax names, Zeotap placeholders, mentions, filters, limits.

use std::sync::Arc;

use datasync::render::{self, Context, Kind, LaxObject, RenderError, RunInfo, UserCache, Vars};
use datasync::row::Cell;

fn cols(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Renders `template` over one row given as (column, cell) pairs.
fn render_row(template: &str, row: &[(&str, Cell)]) -> Result<String, RenderError> {
    let columns: Vec<String> = row.iter().map(|(c, _)| c.to_string()).collect();
    let cells: Vec<Cell> = row.iter().map(|(_, c)| c.clone()).collect();
    let t = render::compile(template).unwrap();
    let cx = Context::new("s", "changes", &RunInfo::default(), &columns);
    let obj = LaxObject::from_row(&columns, &cells);
    let vars = Vars {
        row: Some(&obj),
        kind: Some(Kind::Added),
        ..Vars::default()
    };
    render::render(&t, &cx, &vars, "templates.added")
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_string())
}

#[test]
fn table_of_templates() {
    let row = [
        ("name", text("Ann")),
        ("email", text("ann@example.com")),
        ("n", Cell::Int(1234567)),
        ("price", Cell::Decimal("1234.5".into())),
        ("at", Cell::Timestamp("2026-07-01T07:30:00Z".into())),
        ("day", Cell::Date("2026-01-15".into())),
        ("note", Cell::Null),
    ];
    let cases: &[(&str, &str)] = &[
        // Hightouch and Zeotap syntax side by side.
        (
            "{{ row[\"name\"] }} / {{ row.name }} / {{ name }} / {{name}}",
            "Ann / Ann / Ann / Ann",
        ),
        // Zeotap: unknown placeholders stay exactly as written.
        (
            "Hi {{ first_name }} {{last_name}}!",
            "Hi {{ first_name }} {{last_name}}!",
        ),
        ("{{ nope | upcase }}", "{{ nope | upcase }}"),
        ("{{- nope -}}", "{{- nope -}}"),
        // Missing row keys and tag conditions are lax (nil), not errors.
        ("[{{ row.missing }}]", "[]"),
        ("{% if missing %}yes{% else %}no{% endif %}", "no"),
        ("{{ nickname | default: 'friend' }}", "friend"),
        ("{{ note | default: 'none' }}", "none"),
        // Template-local variables are not unknown columns.
        ("{% assign x = name | upcase %}{{ x }}", "ANN"),
        ("{% for c in (1..2) %}{{ c }}{% endfor %}", "12"),
        // Slack-style mentions: the author's own become mentions; data without
        // `mattermost_user_lookup` stays plain text.
        ("<@{{ name | downcase }}> and <@bob>", "ann and @bob"),
        // Numbers.
        ("{{ n | number_with_delimiter }}", "1,234,567"),
        ("{{ price | number_with_delimiter: '.', ',' }}", "1.234,5"),
        ("{{ price | decimals: 2 }}", "1234.50"),
        ("{{ 3.14159 | decimals: 2 }}", "3.14"),
        // Dates with IANA zones, summer and winter time.
        (
            "{{ at | date_tz: '%Y-%m-%d %H:%M %Z', 'Europe/Berlin' }}",
            "2026-07-01 09:30 CEST",
        ),
        (
            "{{ day | date_tz: '%d.%m. %H:%M', 'America/New_York' }}",
            "14.01. 19:00",
        ),
        ("{{ at | date_tz: '%H:%M' }}", "07:30"),
        ("{{ 0 | date_tz: '%Y', 'UTC' }}", "1970"),
        ("{{ kind }}", "added"),
    ];
    for (template, expected) in cases {
        assert_eq!(
            &render_row(template, &row).unwrap(),
            expected,
            "template {template}"
        );
    }
}

#[test]
fn bad_zone_is_an_error_naming_sync_and_template() {
    let err = render_row(
        "{{ at | date_tz: '%H', 'Mars/Base' }}",
        &[("at", text("2026-01-01T00:00:00Z"))],
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("sync \"s\", template templates.added:"),
        "{msg}"
    );
    assert!(msg.contains("Mars/Base"), "{msg}");
}

#[test]
fn output_is_capped() {
    let err = render_row("{% for i in (1..100000) %}xxxxxxxxxx{% endfor %}", &[]).unwrap_err();
    assert!(
        matches!(err, RenderError::TooLarge { ref field, .. } if field == "templates.added"),
        "{err}"
    );
}

#[test]
fn lookups_are_collected_then_resolved_without_io() {
    let columns = cols(&["owner"]);
    let t = render::compile(
        "<@{{ row.owner | mattermost_user_lookup }}> {{ 'x@y.org' | mattermost_user_lookup }}",
    )
    .unwrap();
    assert!(t.uses_lookup());
    let mut cx = Context::new("s", "changes", &RunInfo::default(), &columns);
    let obj = LaxObject::from_row(&columns, &[text("Ann@Example.com")]);
    let vars = Vars {
        row: Some(&obj),
        ..Vars::default()
    };
    let mut wanted = Default::default();
    render::collect_lookups(&t, &cx, &vars, &mut wanted);
    assert_eq!(
        wanted.into_iter().collect::<Vec<_>>(),
        vec!["Ann@Example.com".to_string(), "x@y.org".to_string()]
    );
    let mut users = UserCache::default();
    users.insert("ann@example.com", "ann");
    cx.users = Arc::new(users);
    // Found → @username; not found → the address as plain text, not a broken mention.
    assert_eq!(render::render(&t, &cx, &vars, "t").unwrap(), "@ann x@y.org");
}

#[test]
fn globals_sync_run_previous_changed() {
    let columns = cols(&["v"]);
    let t = render::compile("{{ sync.name }} {{ run.added }}/{{ run.total }} {{ previous.v }}→{{ row.v }} [{{ changed | join: ',' }}] {{ run.date }}").unwrap();
    let info = RunInfo {
        time: "2026-11-21T10:00:00Z".parse().unwrap(),
        added: 2,
        changed: 1,
        removed: 0,
        total: 9,
    };
    let cx = Context::new("usage", "changes", &info, &columns);
    let row = LaxObject::from_row(&columns, &[Cell::Int(5)]);
    let prev = LaxObject::from_row(&columns, &[Cell::Int(3)]);
    let vars = Vars {
        row: Some(&row),
        previous: Some(&prev),
        changed: vec!["v".into()],
        kind: Some(Kind::Changed),
        extra: None,
    };
    assert_eq!(
        render::render(&t, &cx, &vars, "t").unwrap(),
        "usage 2/9 3→5 [v] 2026-11-21"
    );
}

#[test]
fn cells_become_predictable_values() {
    let row = [
        ("b", Cell::Bytes(vec![1, 2, 3])),
        ("j", Cell::json(serde_json::json!({"a": [1, 2]}))),
        ("big", Cell::Decimal("123456789012345678901234.5".into())),
        ("f", Cell::Bool(true)),
    ];
    assert_eq!(
        render_row("{{ b }} {{ j.a[1] }} {{ big }} {{ f }}", &row).unwrap(),
        "AQID 2 123456789012345678901234.5 true"
    );
}

#[test]
fn syntax_errors_are_reported_at_compile_time() {
    let err = render::compile("{{ row.x | nosuchfilter }}").unwrap_err();
    assert!(err.contains("nosuchfilter"), "{err}");
    assert!(render::compile("{% if %}").is_err());
}

// ---------------------------------------------------------------------------------------
// Bounds: loops, output, time, per message and per run.

use datasync::render::{Limits, RunBudget, RunLimits};
use std::time::{Duration, Instant};

/// Renders over one row with the given limits and run budget.
fn render_bounded(
    template: &str,
    row: &[(&str, Cell)],
    limits: Limits,
    budget: &Arc<RunBudget>,
) -> Result<String, RenderError> {
    let columns: Vec<String> = row.iter().map(|(c, _)| c.to_string()).collect();
    let cells: Vec<Cell> = row.iter().map(|(_, c)| c.clone()).collect();
    let t = render::compile(template).unwrap_or_else(|e| panic!("{template}: {e}"));
    let mut cx = Context::new("big", "changes", &RunInfo::default(), &columns);
    cx.limits = limits;
    cx.budget = budget.clone();
    let obj = LaxObject::from_row(&columns, &cells);
    let vars = Vars {
        row: Some(&obj),
        ..Vars::default()
    };
    render::render(&t, &cx, &vars, "templates.added")
}

fn limit_message(err: RenderError) -> String {
    match err {
        RenderError::Limit {
            sync,
            field,
            message,
        } => {
            assert_eq!((sync.as_str(), field.as_str()), ("big", "templates.added"));
            message
        }
        other => panic!("expected a limit error, got {other}"),
    }
}

#[test]
fn literal_loops_above_the_limit_are_refused_at_compile_time() {
    for template in [
        "{% for i in (1..100000000) %}{% endfor %}",
        "{% for i in (1..1000) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}",
        "{% for i in (1..1000) %}{% if true %}{% for j in (1..101) %}x{% endfor %}{% endif %}{% endfor %}",
    ] {
        let err = render::compile(template).unwrap_err();
        assert!(
            err.contains("more than the limit of 100000"),
            "{template}: {err}"
        );
    }
    // Within the limit, and with `limit:`, they compile.
    for template in [
        "{% for i in (1..100000) %}{% endfor %}",
        "{% for i in (1..100000000) limit: 5 %}{{ i }}{% endfor %}",
        "{% for i in (1..300) %}{% endfor %}{% for j in (1..300) %}{% endfor %}",
    ] {
        assert!(render::compile(template).is_ok(), "{template}");
    }
}

#[test]
fn data_driven_loops_fail_fast_with_a_clear_error() {
    let budget = Arc::new(RunBudget::default());
    let started = Instant::now();
    // The old 18 s / 5 GB case, with the range from data.
    let err = render_bounded(
        "{% for i in (1..row.n) %}{% endfor %}",
        &[("n", Cell::Int(100_000_000))],
        Limits::default(),
        &budget,
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    let message = limit_message(err);
    assert!(
        message.contains("more than 100000 loop iterations"),
        "{message}"
    );
    // Nested loops over data multiply.
    let err = render_bounded(
        "{% for i in (1..row.n) %}{% for j in (1..row.n) %}{% endfor %}{% endfor %}",
        &[("n", Cell::Int(1000))],
        Limits::default(),
        &budget,
    )
    .unwrap_err();
    assert!(limit_message(err).contains("limit per message"));
    // A loop within the limit still runs, `limit:`, `offset:`, `reversed` and `else` work.
    let ok = render_bounded(
        "{% for i in (1..row.n) offset: 1 limit: 3 reversed %}{{ i }}{% endfor %}|{% for x in row.none %}{% else %}empty{% endfor %}|{% for i in (1..3) %}{% for j in (1..2) %}{{ forloop.parentloop.index }}{{ j }}{% if j == 1 %}{% continue %}{% endif %}.{% endfor %}{% if i == 2 %}{% break %}{% endif %}{% endfor %}",
        &[("n", Cell::Int(100_000_000))],
        Limits::default(),
        &budget,
    )
    .unwrap();
    assert_eq!(ok, "432|empty|1112.2122.");
}

#[test]
fn growing_text_in_memory_is_bounded() {
    let budget = Arc::new(RunBudget::default());
    for template in [
        // Doubling a string: 2^40 bytes without the bound.
        "{% assign s = 'xxxxxxxx' %}{% for i in (1..40) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}",
        // Doubling an array.
        "{% assign a = 'x,y' | split: ',' %}{% for i in (1..40) %}{% assign a = a | concat: a %}{% endfor %}{{ a | size }}",
        // One filter call whose result is many times its input.
        "{% assign a = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' %}{% assign b = a | append: a | append: a | append: a %}{% assign c = b | replace: 'a', b | replace: 'a', b %}",
        "{% assign parts = row.big | split: '' %}{{ parts | size }}",
        "{% assign parts = row.big | split: '' %}{{ parts | join: row.big }}",
        // A capture that never reaches the output.
        "{% capture c %}{% for i in (1..100000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}{% endcapture %}",
    ] {
        let started = Instant::now();
        let big = ("big", text(&"x".repeat(1_000_000)));
        let err = render_bounded(template, &[big], Limits::default(), &budget).unwrap_err();
        assert!(
            limit_message(err).contains("more than 4194304 bytes"),
            "{template}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{template}");
    }
}

#[test]
fn rendering_time_is_bounded() {
    let limits = Limits {
        max_time: Duration::from_millis(20),
        max_iterations: u64::MAX,
        ..Limits::default()
    };
    let budget = Arc::new(RunBudget::new(RunLimits {
        max_iterations: u64::MAX,
        ..RunLimits::default()
    }));
    let started = Instant::now();
    let err = render_bounded(
        "{% for i in (1..row.n) %}{% assign x = i | plus: 1 %}{% endfor %}",
        &[("n", Cell::Int(i64::MAX))],
        limits,
        &budget,
    )
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(limit_message(err).contains("took more than 20 ms"));
}

#[test]
fn a_run_has_one_budget_for_all_its_messages() {
    let budget = Arc::new(RunBudget::new(RunLimits {
        max_iterations: 1_000,
        ..RunLimits::default()
    }));
    let template = "{% for i in (1..100) %}{% endfor %}ok";
    let results: Vec<bool> = (0..15)
        .map(|_| render_bounded(template, &[], Limits::default(), &budget).is_ok())
        .collect();
    // Ten messages of 100 iterations fit; the eleventh does not, nor any after it.
    assert_eq!(results.iter().filter(|ok| **ok).count(), 10);
    assert!(results[..10].iter().all(|ok| *ok));
    let err = render_bounded(template, &[], Limits::default(), &budget).unwrap_err();
    assert!(limit_message(err).contains("limit per run"));
}

#[test]
fn tags_that_print_data_unmarked_are_refused() {
    assert!(render::compile("{% cycle 'a', 'b' %}").is_ok());
    for template in [
        "{% cycle row.name, 'b' %}",
        "{% tablerow x in rows %}{% endtablerow %}",
        "{% include 'x' %}",
    ] {
        assert!(render::compile(template).is_err(), "{template}");
    }
}

// ---------------------------------------------------------------------------------------
// Numbers, JSON, time, blank renders.

#[test]
fn numbers_are_formatted_from_their_digits() {
    let big = format!("{}.5", "9".repeat(400));
    let row = [
        ("f", Cell::Float(2.675)),
        ("d", Cell::Decimal("2.675".into())),
        ("neg", Cell::Decimal("-2.675".into())),
        ("big", Cell::Decimal(big.clone())),
        ("large", Cell::Float(1e20)),
        (
            "jbig",
            Cell::json(serde_json::from_str(&"7".repeat(400)).unwrap()),
        ),
        ("jfrac", Cell::json(serde_json::json!({"x": 1.5}))),
    ];
    let cases: &[(&str, String)] = &[
        ("{{ f | decimals: 2 }}", "2.68".into()),
        ("{{ d | decimals: 2 }}", "2.68".into()),
        ("{{ 2.675 | decimals: 2 }}", "2.68".into()),
        ("{{ neg | decimals: 2 }}", "-2.68".into()),
        ("{{ d | decimals: 0 }}", "3".into()),
        ("{{ big | decimals: 0 }}", format!("1{}", "0".repeat(400))),
        (
            "{{ large | number_with_delimiter }}",
            "100,000,000,000,000,000,000".into(),
        ),
        ("{{ jbig }}", "7".repeat(400)),
        ("{{ jbig | decimals: 1 }}", format!("{}.0", "7".repeat(400))),
        ("{{ jfrac.x | decimals: 2 }}", "1.50".into()),
        (
            "{{ big | number_with_delimiter }}",
            format!("{}.5", group_of(&"9".repeat(400))),
        ),
    ];
    for (template, expected) in cases {
        let out = render_row(template, &row).unwrap();
        assert_eq!(&out, expected, "{template}");
        assert!(!out.contains("inf"), "{template}");
    }
}

fn group_of(digits: &str) -> String {
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn json_cells_print_as_compact_json_in_source_order() {
    let meta: serde_json::Value =
        serde_json::from_str(r#"{"tier":"gold","n":1,"z":{"b":[1,"x",null],"a":true}}"#).unwrap();
    let columns = cols(&["meta", "tags"]);
    let cells = [Cell::json(meta), Cell::json(serde_json::json!(["a", "b"]))];
    let t = render::compile(
        "{{ row.meta }} {{ previous.meta }} {{ meta }} {{ row.tags }} {{ row.meta.tier }} {{ row.meta.z.b[1] }} {{ row.tags[1] }} {{ row.tags | size }} {{ row.tags | join: '+' }} {{ row.meta.z }}",
    )
    .unwrap();
    let cx = Context::new("s", "changes", &RunInfo::default(), &columns);
    let row = LaxObject::from_row(&columns, &cells);
    let prev = LaxObject::from_row(&columns, &cells);
    let vars = Vars {
        row: Some(&row),
        previous: Some(&prev),
        ..Vars::default()
    };
    let json = r#"{"tier":"gold","n":1,"z":{"b":[1,"x",null],"a":true}}"#;
    let expected =
        format!(r#"{json} {json} {json} ["a","b"] gold x b 2 a+b {{"b":[1,"x",null],"a":true}}"#);
    // Hash maps would change the order from one object to the next: render many times.
    for _ in 0..20 {
        assert_eq!(render::render(&t, &cx, &vars, "t").unwrap(), expected);
    }
}

#[test]
fn now_is_the_runs_clock() {
    let info = RunInfo {
        time: "2020-02-03T04:05:06Z".parse().unwrap(),
        ..RunInfo::default()
    };
    let cx = Context::new("s", "changes", &info, &[]);
    let t = render::compile(
        "{{ 'now' | date_tz: '%Y-%m-%d %H:%M', 'Europe/Berlin' }} {{ 'now' | date: '%Y-%m-%d %H:%M' }} {{ 'today' | date: '%Y' }}",
    )
    .unwrap();
    assert_eq!(
        render::render(&t, &cx, &Vars::default(), "t").unwrap(),
        "2020-02-03 05:05 2020-02-03 04:05 2020"
    );
}

#[test]
fn blank_renders_are_recognisable() {
    assert!(render::is_blank(
        &render_row("{% if nope %}x{% endif %}\n  ", &[]).unwrap()
    ));
    assert!(render::is_blank(
        &render_row("{{ row.x }}", &[("x", Cell::Null)]).unwrap()
    ));
    assert!(!render::is_blank(
        &render_row("{{ x }}", &[("x", text("a"))]).unwrap()
    ));
}

#[test]
fn errors_do_not_show_internal_rewrites() {
    for template in [
        "{{ row.x | nosuchfilter }}",
        "{{ name | nosuchfilter }}",
        "{{ row.x | date_tz: }}",
        "{{ name | plus }}",
        "{% if %}{{ name }}",
    ] {
        let err = render::compile(template).unwrap_err();
        assert!(!err.contains("__ds"), "{template}: {err}");
    }
    let err = render_row(
        "{{ name | date_tz: '%H', 'Mars/Base' }} {{ row.at | divided_by: 0 }}",
        &[("name", text("2026-01-01T00:00:00Z")), ("at", Cell::Int(1))],
    )
    .unwrap_err();
    assert!(!err.to_string().contains("__ds"), "{err}");
}

#[test]
fn templates_that_would_overflow_the_parser_are_refused() {
    // Each of these aborted the process with a stack overflow in liquid's parser.
    let deep_blocks = format!(
        "{}x{}",
        "{% if true %}".repeat(2000),
        "{% endif %}".repeat(2000)
    );
    let deep_index = format!("{{{{ {}1{} }}}}", "x[".repeat(20000), "]".repeat(20000));
    let huge = "x".repeat(100 * 1024);
    for (template, expected) in [
        (deep_blocks, "nested more than 32 deep"),
        (deep_index, "nested more than 32 deep"),
        (huge, "the limit is 65536"),
    ] {
        let err = render::compile(&template).unwrap_err();
        assert!(err.contains(expected), "{err}");
    }
    let ok = format!(
        "{}x{}",
        "{% if true %}".repeat(32),
        "{% endif %}".repeat(32)
    );
    assert_eq!(render_row(&ok, &[]).unwrap(), "x");
}
