//! The five stories of product.md, end to end on the SQLite demo database (the same
//! `assets/demo/` files `datasync demo` and README.md use).

use datasync::clock::FixedClock;
use datasync::demo;
use datasync::port::{MemoryPort, StoredPost};
use datasync::run::{self, Engine, RunMode};

struct Demo {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    plan: datasync::config::Config,
    port: MemoryPort,
    clock: FixedClock,
}

impl Demo {
    fn new() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("demo.db");
        demo::build_demo_db(&db).unwrap();
        let (plan, users) = demo::demo_config(&db).unwrap();
        let port = demo::memory_port(&users);
        Demo {
            _dir: dir,
            db,
            plan,
            port,
            clock: FixedClock::new("2026-11-23T08:00:00Z".parse().unwrap()),
        }
    }

    /// Runs the named syncs (all if empty); returns the posts they made.
    fn run(&self, names: &[&str]) -> Vec<StoredPost> {
        let before = self.port.posts().len();
        let engine = Engine {
            port: &self.port,
            clock: &self.clock,
            fetch: &run::real_fetch,
            allow: &self.plan.allow,
            gate: &datasync::gate::Open,
        };
        for s in self
            .plan
            .syncs
            .iter()
            .filter(|s| names.is_empty() || names.contains(&s.name.as_str()))
        {
            let r = run::run_sync(&engine, s, RunMode::Deliver);
            assert!(r.record.ok, "{}: {:?}", s.name, r.record.errors);
        }
        self.port.posts().split_off(before)
    }

    fn step(&self, n: usize) {
        let (_, sql) = &demo::demo_steps()[n];
        rusqlite::Connection::open(&self.db)
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }

    fn channel(&self, p: &StoredPost) -> String {
        self.port.channel_label(&p.channel_id)
    }
}

#[test]
fn the_five_stories() {
    let d = Demo::new();
    assert_eq!(demo::demo_steps().len(), 3);

    // Baseline: changes syncs stay silent; the others post everything.
    let posts = d.run(&[]);
    assert!(
        posts
            .iter()
            .all(|p| !d.channel(p).ends_with("customer-success") && !d.channel(p).starts_with('@'))
    );

    // Story 3: the sign-up table, yesterday vs the same day last month.
    let signups: Vec<_> = posts
        .iter()
        .filter(|p| d.channel(p) == "acme/growth")
        .collect();
    assert_eq!(signups.len(), 1);
    let table = &signups[0].message;
    assert!(
        table.starts_with("#### Sign-ups yesterday vs the same day last month ("),
        "{table}"
    );
    assert!(
        table.contains(
            "| Plan | Yesterday | Same day last month | Change |\n| --- | --- | --- | --- |"
        ),
        "{table}"
    );
    assert!(table.contains("| Free | 10 | 12 | -17 % |"), "{table}");
    assert!(table.contains("| Team | 9 | 3 | 200 % |"), "{table}");
    assert!(table.ends_with("Total: 23"), "{table}");

    // Story 4: 45 accounts, 20 per message, header and footer.
    let digest: Vec<_> = posts
        .iter()
        .filter(|p| d.channel(p) == "acme/product")
        .collect();
    assert_eq!(digest.len(), 3);
    let counts: Vec<usize> = digest
        .iter()
        .map(|p| p.message.lines().filter(|l| l.starts_with("- ")).count())
        .collect();
    assert_eq!(counts, [20, 20, 5]);
    assert!(
        digest[2]
            .message
            .starts_with("**Insights adoption**, part 3 of 3")
    );
    assert!(
        digest[2]
            .message
            .ends_with("_5 accounts in this part. Dashboard: `https://bi.example.com/adoption`_")
    );

    // Story 5: the CSV export.
    let export: Vec<_> = posts
        .iter()
        .filter(|p| d.channel(p) == "acme/sales-ops")
        .collect();
    assert_eq!(export.len(), 1);
    assert_eq!(export[0].message, "Weekly deal export: 5 deals.");
    let (name, bytes) = &export[0].files[0];
    assert_eq!(name, "deals-2026-11-23.csv");
    let csv = String::from_utf8(bytes.clone()).unwrap();
    assert_eq!(csv.lines().count(), 6);
    assert!(csv.starts_with("id,name,account,amount,stage,ae_email\n101,Acme renewal 2027,"));

    // Step 1. Story 1: usage drops → one message per account, owner mentioned.
    d.step(0);
    let posts = d.run(&["usage_drop", "big_deals"]);
    let cs: Vec<_> = posts
        .iter()
        .filter(|p| d.channel(p) == "acme/customer-success")
        .collect();
    assert_eq!(cs.len(), 2);
    assert_eq!(
        cs[0].message,
        ":chart_with_downwards_trend: @bob **Globex** used 45.9 % less this week (96,120 → 52,000 events)."
    );
    assert!(cs[1].message.contains("@cara **Umbrella Health**"));
    // Story 2: the deal above 100k → DM to its account executive, as an attachment.
    let dms: Vec<_> = posts
        .iter()
        .filter(|p| d.channel(p).starts_with('@'))
        .collect();
    assert_eq!(dms.len(), 1);
    assert_eq!(d.channel(dms[0]), "@dan");
    let att = &dms[0].props["attachments"][0];
    assert_eq!(att["title"], "Deal 103: Initech enterprise");
    assert_eq!(att["fields"][0]["value"], "125,000 €");
    assert_eq!(dms[0].props["override_username"], "Deal Desk");

    // Step 2: recovery replies in the account's thread; a new big deal DMs Eve.
    d.step(1);
    let posts = d.run(&["usage_drop", "big_deals"]);
    let globex_root = &cs[0].id;
    let recovered = posts
        .iter()
        .find(|p| p.message.contains("**Globex** has recovered"))
        .unwrap();
    assert_eq!(recovered.root_id.as_ref(), Some(globex_root));
    let umbrella = posts
        .iter()
        .find(|p| p.message.starts_with("Umbrella Health is now down 77.5 %"))
        .unwrap();
    assert_eq!(umbrella.root_id.as_ref(), Some(&cs[1].id));
    assert!(umbrella.message.ends_with("(was 52.6 %)."));
    // Wayne was already low at the baseline: its recovery has no thread to reply to.
    let wayne = posts.iter().find(|p| p.message.contains("Wayne")).unwrap();
    assert_eq!(wayne.root_id, None);
    let eve: Vec<_> = posts.iter().filter(|p| d.channel(p) == "@eve").collect();
    assert_eq!(eve.len(), 1);

    // Step 3: a lost deal (no removed template) and a sub-threshold change: silence.
    d.step(2);
    assert!(d.run(&["usage_drop", "big_deals"]).is_empty());
    let history = run::history(&d.port, "big_deals").unwrap();
    assert_eq!(history.last().unwrap().removed, 1);
}
