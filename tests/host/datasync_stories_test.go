package hosttest

// The five stories of product.md (assets/demo/, server/datasync/tests/engine_stories.rs)
// through the plugin: the real datasync-plugin under the real host code, reading the demo
// warehouse from the real PostgreSQL server that scripts/db/test.sh starts
// (DATASYNC_TEST_PG_URL). The demo's SQLite SQL is written for PostgreSQL here, and the
// report syncs' cron schedules become "every 10s" (the plugin has no "run now" yet, and a
// host test cannot wait for Monday 07:00); everything else is assets/demo/demo.toml.
//
// Under make test a missing DATASYNC_TEST_PG_URL fails the test; DATASYNC_SKIP_DB_TESTS=1
// skips it (the convention of the Rust source tests).

import (
	"fmt"
	"math/rand"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

// pfPostgres is the test server's URL, or a failure (a skip with DATASYNC_SKIP_DB_TESTS=1).
func pfPostgres(t *testing.T) string {
	t.Helper()
	pgURL := os.Getenv("DATASYNC_TEST_PG_URL")
	if pgURL != "" {
		if _, err := exec.LookPath("psql"); err != nil {
			t.Fatal("the psql command-line tool is missing (scripts/db/install.sh installs PostgreSQL)")
		}
		return pgURL
	}
	if os.Getenv("DATASYNC_SKIP_DB_TESTS") == "1" {
		t.Skip("DATASYNC_TEST_PG_URL is not set and DATASYNC_SKIP_DB_TESTS=1")
	}
	t.Fatal("DATASYNC_TEST_PG_URL is not set; run the host tests through scripts/db/test.sh " +
		"(make test does), or set DATASYNC_SKIP_DB_TESTS=1 to skip the PostgreSQL stories")
	return ""
}

// pfPsql runs SQL (several statements, one transaction) on the test server.
func pfPsql(t *testing.T, url, sql string) {
	t.Helper()
	cmd := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-d", url, "-f", "-")
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("psql: %v\n%s\n%s", err, out, sql)
	}
}

// The demo warehouse (assets/demo/schema.sql) in PostgreSQL, in schema {S}. Dates are UTC.
const pfStoriesSchema = `
CREATE SCHEMA {S};
CREATE TABLE {S}.account_usage (
    account_id text PRIMARY KEY, name text NOT NULL, owner_email text NOT NULL,
    last_week integer NOT NULL, this_week integer NOT NULL);
INSERT INTO {S}.account_usage VALUES
    ('acc-001', 'Acme Corp',        'ann.lee@example.com',   182400, 179950),
    ('acc-002', 'Globex',           'bob.stone@example.com',  96120,  91000),
    ('acc-003', 'Initech',          'ann.lee@example.com',    45230,  47010),
    ('acc-004', 'Umbrella Health',  'cara.diaz@example.com',  12880,  13020),
    ('acc-005', 'Stark Logistics',  'bob.stone@example.com', 250300, 248100),
    ('acc-006', 'Wayne Analytics',  'cara.diaz@example.com',  30550,  10200);
CREATE TABLE {S}.deals (
    id integer PRIMARY KEY, name text NOT NULL, account text NOT NULL,
    amount numeric NOT NULL, stage text NOT NULL, ae_email text NOT NULL);
INSERT INTO {S}.deals VALUES
    (101, 'Acme renewal 2027',        'Acme Corp',       180000, 'negotiation', 'dan.ng@example.com'),
    (102, 'Globex analytics add-on',  'Globex',           42000, 'proposal',    'eve.ross@example.com'),
    (103, 'Initech enterprise',       'Initech',          95000, 'discovery',   'dan.ng@example.com'),
    (104, 'Umbrella pilot',           'Umbrella Health',  18500, 'proposal',    'eve.ross@example.com'),
    (105, 'Stark global rollout',     'Stark Logistics', 410000, 'negotiation', 'dan.ng@example.com');
CREATE TABLE {S}.signups (
    id serial PRIMARY KEY, created_at timestamp NOT NULL, plan text NOT NULL, country text NOT NULL);
INSERT INTO {S}.signups (created_at, plan, country)
SELECT ((now() AT TIME ZONE 'UTC')::date - 1) + i * interval '53 minutes',
       CASE WHEN i % 5 = 0 THEN 'enterprise' WHEN i % 2 = 0 THEN 'team' ELSE 'free' END,
       CASE i % 4 WHEN 0 THEN 'DE' WHEN 1 THEN 'US' WHEN 2 THEN 'FR' ELSE 'BR' END
FROM generate_series(1, 23) AS i;
INSERT INTO {S}.signups (created_at, plan, country)
SELECT (((now() AT TIME ZONE 'UTC')::date - 1) - interval '1 month')::date + i * interval '61 minutes',
       CASE WHEN i % 6 = 0 THEN 'enterprise' WHEN i % 3 = 0 THEN 'team' ELSE 'free' END,
       CASE i % 3 WHEN 0 THEN 'DE' WHEN 1 THEN 'US' ELSE 'IN' END
FROM generate_series(1, 17) AS i;
CREATE TABLE {S}.feature_adoption (
    account text PRIMARY KEY, enabled integer NOT NULL, active_users integer NOT NULL, seats integer NOT NULL);
INSERT INTO {S}.feature_adoption
SELECT 'Account ' || lpad(i::text, 2, '0'), (i % 3 <> 0)::int, (i * 37) % 120, 120
FROM generate_series(1, 45) AS i;
`

// assets/demo/steps.sql in PostgreSQL.
var pfStoriesSteps = []string{
	`UPDATE {S}.account_usage SET this_week = 52000 WHERE account_id = 'acc-002';
UPDATE {S}.account_usage SET this_week = 6100  WHERE account_id = 'acc-004';
UPDATE {S}.deals SET amount = 125000, stage = 'negotiation' WHERE id = 103;
UPDATE {S}.feature_adoption SET enabled = 1, active_users = 64 WHERE account = 'Account 03';`,
	`UPDATE {S}.account_usage SET this_week = 95500 WHERE account_id = 'acc-002';
UPDATE {S}.account_usage SET this_week = 2900  WHERE account_id = 'acc-004';
UPDATE {S}.account_usage SET this_week = 29800 WHERE account_id = 'acc-006';
INSERT INTO {S}.deals VALUES (106, 'Globex platform migration', 'Globex', 240000, 'proposal', 'eve.ross@example.com');
INSERT INTO {S}.signups (created_at, plan, country)
    VALUES (((now() AT TIME ZONE 'UTC')::date - 1) + interval '22 hours', 'enterprise', 'JP');`,
	`UPDATE {S}.deals SET amount = 19000 WHERE id = 104;
DELETE FROM {S}.deals WHERE id = 105;`,
}

// The two "changes" syncs of assets/demo/demo.toml (stories 1 and 2) on PostgreSQL.
const pfStoriesChanges = `
allowed_channels = ["acme"]

[connections.warehouse]
kind = "postgres"
url = "${env:WAREHOUSE_URL}"

[syncs.usage_drop]
connection = "warehouse"
sql = """
SELECT account_id, name, owner_email, last_week, this_week,
       round(100.0 * (last_week - this_week) / last_week, 1) AS drop_pct
FROM {S}.account_usage
WHERE this_week < last_week * 0.7
ORDER BY account_id
"""
key = "account_id"
watched = ["drop_pct"]
schedule = "every 10s"
mode = "changes"
channel = "acme/customer-success"

[syncs.usage_drop.templates]
added = """
:chart_with_downwards_trend: <@{{ row.owner_email | mattermost_user_lookup }}> **{{ row.name }}** used {{ row.drop_pct }} % less this week ({{ row.last_week | number_with_delimiter }} → {{ row.this_week | number_with_delimiter }} events)."""
changed = "{{ name }} is now down {{ drop_pct }} % (was {{ previous.drop_pct }} %)."
removed = ":white_check_mark: **{{ row.name }}** has recovered."

[syncs.big_deals]
connection = "warehouse"
sql = "SELECT id, name, account, amount, stage, ae_email FROM {S}.deals WHERE amount > 100000"
key = "id"
watched = ["amount", "stage"]
schedule = "every 10s"
mode = "changes"
channel_column = "ae_email"

[syncs.big_deals.templates]
added = "{{ row.account }}: **{{ row.name }}** is above 100k."
changed = "{{ row.name }} changed: {% for c in changed %}{{ c }} {{ previous[c] }} → {{ row[c] }}{% unless forloop.last %}, {% endunless %}{% endfor %}"

[syncs.big_deals.attachments]
title = "Deal {{ row.id }}: {{ row.name }}"
title_link = "https://crm.example.com/deals/{{ row.id }}"
fields = [
  { title = "Amount", value = "{{ row.amount | number_with_delimiter }} €", short = true },
  { title = "Stage", value = "{{ row.stage | capitalize }}", short = true },
]

[syncs.big_deals.sender]
display_name = "Deal Desk"
icon_emoji = "moneybag"
`

// The three report syncs (stories 3, 4, 5) on PostgreSQL, every 10 s instead of their cron.
const pfStoriesReports = `
[syncs.daily_signups]
connection = "warehouse"
sql = """
WITH days AS (
  SELECT (now() AT TIME ZONE 'UTC')::date - 1 AS y,
         (((now() AT TIME ZONE 'UTC')::date - 1) - interval '1 month')::date AS m
)
SELECT plan,
       count(*) FILTER (WHERE created_at::date = (SELECT y FROM days)) AS yesterday,
       count(*) FILTER (WHERE created_at::date = (SELECT m FROM days)) AS last_month
FROM {S}.signups
GROUP BY plan
ORDER BY yesterday DESC
"""
schedule = "every 10s"
mode = "table"
channel = "acme/growth"

[syncs.daily_signups.templates]
header = "#### Sign-ups yesterday vs the same day last month ({{ run.time | date_tz: '%A %-d %B', 'Europe/Berlin' }})"
footer = "Total: {{ rows | map: 'yesterday' | sum }}"

[syncs.daily_signups.table]
columns = [
  { title = "Plan", value = "{{ row.plan | capitalize }}" },
  { title = "Yesterday", column = "yesterday" },
  { title = "Same day last month", column = "last_month" },
  { title = "Change", value = "{% if row.last_month > 0 %}{{ row.yesterday | minus: row.last_month | times: 100.0 | divided_by: row.last_month | round: 0 }} %{% else %}new{% endif %}" },
]

[syncs.feature_adoption]
connection = "warehouse"
sql = "SELECT account, enabled, active_users, seats FROM {S}.feature_adoption ORDER BY account"
schedule = "every 10s"
mode = "batch"
batch_size = 20
channel = "acme/product"
link_previews = false

[syncs.feature_adoption.templates]
header = "**Insights adoption**, part {{ batch.number }} of {{ batch.count }}"
row = "- {% if enabled == 1 %}:white_check_mark:{% else %}:x:{% endif %} {{ account }}: {{ active_users }}/{{ seats }} seats active"
footer = "_{{ batch.size }} accounts in this part. Dashboard: https://bi.example.com/adoption_"

[syncs.weekly_export]
connection = "warehouse"
sql = "SELECT id, name, account, amount, stage, ae_email FROM {S}.deals ORDER BY id"
schedule = "every 10s"
mode = "csv"
channel = "acme/sales-ops"

[syncs.weekly_export.csv]
filename = "deals-{{ run.time | date_tz: '%Y-%m-%d', 'Europe/Berlin' }}.csv"

[syncs.weekly_export.templates]
message = "Weekly deal export: {{ run.total }} deals."
`

const pfExportCSV = `id,name,account,amount,stage,ae_email
101,Acme renewal 2027,Acme Corp,180000,negotiation,dan.ng@example.com
102,Globex analytics add-on,Globex,42000,proposal,eve.ross@example.com
103,Initech enterprise,Initech,95000,discovery,dan.ng@example.com
104,Umbrella pilot,Umbrella Health,18500,proposal,eve.ross@example.com
105,Stark global rollout,Stark Logistics,410000,negotiation,dan.ng@example.com
`

func TestDataSyncStoriesPostgres(t *testing.T) {
	dataSyncBinary(t)
	pfHeavy(t) // the plugin's protocol use does not differ between the two server/public passes
	pgURL := pfPostgres(t)
	t.Parallel() // mostly waiting for schedules: alongside the other Data Sync proofs
	if u, err := url.Parse(pgURL); err == nil {
		if pw, ok := u.User.Password(); ok && len(pw) >= 6 {
			harness.RegisterSecret(pw) // the suite-wide secret scan looks for it everywhere
		}
	}
	schema := fmt.Sprintf("stories_%d_%d", time.Now().Unix(), rand.Intn(1_000_000))
	sub := func(s string) string { return strings.ReplaceAll(s, "{S}", schema) }
	pfPsql(t, pgURL, sub(pfStoriesSchema))
	t.Cleanup(func() { pfPsql(t, pgURL, "DROP SCHEMA "+schema+" CASCADE;") })

	secrets := "WAREHOUSE_URL=" + pgURL
	all := map[string]any{"Syncs": sub(pfStoriesChanges + pfStoriesReports), "Secrets": secrets, "TickSeconds": 1}
	p := pfNew(t, all)
	srv := p.srv
	team := srv.AddTeam("acme", "Acme")
	cs := srv.AddChannel(team.Id, "customer-success", "Customer Success")
	growth := srv.AddChannel(team.Id, "growth", "Growth")
	product := srv.AddChannel(team.Id, "product", "Product")
	salesOps := srv.AddChannel(team.Id, "sales-ops", "Sales Ops")
	users := map[string]*model.User{}
	for _, u := range []string{"ann.lee", "bob.stone", "cara.diaz", "dan.ng", "eve.ross"} {
		name := u[:strings.IndexByte(u, '.')]
		users[name] = srv.AddUser(name, u+"@example.com")
	}
	p.activate(0)
	bot := p.bot()
	dm := map[string]string{}
	for name, u := range users {
		c, appErr := srv.NewAPI(&model.Manifest{Id: "test"}).GetDirectChannel(bot.Id, u.Id)
		if appErr != nil {
			t.Fatal(appErr)
		}
		dm[name] = c.Id
	}
	posts := func(channelID string) []*model.Post { return srv.PostsInChannel(channelID) }
	messages := func(ps []*model.Post) []string {
		var out []string
		for _, x := range ps {
			out = append(out, x.Message)
		}
		return out
	}
	changes := []string{"usage_drop", "big_deals"}
	reports := []string{"daily_signups", "feature_adoption", "weekly_export"}

	// Baseline: every sync has run once; the changes syncs stay silent, the reports post.
	waitUntil(t, 40*time.Second, "a first run of each of the five syncs", func() bool {
		for _, s := range append(append([]string{}, changes...), reports...) {
			if len(p.runs(s)) == 0 {
				return false
			}
		}
		return true
	})
	// From now on only the two changes syncs run (the engine test runs them alone too).
	p.reconfigure(map[string]any{"Syncs": sub(pfStoriesChanges), "Secrets": secrets, "TickSeconds": 1})
	for _, s := range append(append([]string{}, changes...), reports...) {
		r := p.runs(s)[0]
		if r["ok"] != "true" || r["baseline"] != fmt.Sprint(s == "usage_drop" || s == "big_deals") {
			t.Fatalf("first run of %s: %v", s, r)
		}
	}
	if got := posts(cs.Id); len(got) != 0 {
		t.Fatalf("the baseline of usage_drop posted %q", messages(got))
	}
	for name, c := range dm {
		if got := posts(c); len(got) != 0 {
			t.Fatalf("the baseline of big_deals sent %s %q", name, messages(got))
		}
	}

	// Story 3: the sign-up table, yesterday vs the same day last month.
	signups := posts(growth.Id)
	if len(signups) == 0 {
		t.Fatal("no sign-up table in acme/growth")
	}
	table := signups[0].Message
	for _, want := range []string{
		"| Plan | Yesterday | Same day last month | Change |\n| --- | --- | --- | --- |",
		"| Free | 10 | 12 | -17 % |", "| Team | 9 | 3 | 200 % |", "| Enterprise | 4 | 2 | 100 % |",
	} {
		if !strings.Contains(table, want) {
			t.Fatalf("the sign-up table lacks %q:\n%s", want, table)
		}
	}
	if !strings.HasPrefix(table, "#### Sign-ups yesterday vs the same day last month (") || !strings.HasSuffix(table, "Total: 23") {
		t.Fatalf("the sign-up table's header or footer:\n%s", table)
	}

	// Story 4: 45 accounts, 20 per message, header and footer, links without previews.
	digest := posts(product.Id)
	if len(digest) < 3 {
		t.Fatalf("%d digest posts in acme/product; want 3 per run", len(digest))
	}
	for i, want := range []int{20, 20, 5} {
		m := digest[i].Message
		n := 0
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, "- ") {
				n++
			}
		}
		if n != want || !strings.HasPrefix(m, fmt.Sprintf("**Insights adoption**, part %d of 3", i+1)) ||
			!strings.HasSuffix(m, fmt.Sprintf("_%d accounts in this part. Dashboard: `https://bi.example.com/adoption`_", want)) {
			t.Fatalf("digest part %d (%d rows; want %d):\n%s", i+1, n, want, m)
		}
	}
	if !strings.Contains(digest[0].Message, "- :x: Account 03: 111/120 seats active") ||
		!strings.Contains(digest[0].Message, "- :white_check_mark: Account 01: 37/120 seats active") {
		t.Fatalf("digest part 1 rows:\n%s", digest[0].Message)
	}

	// Story 5: the CSV export, as a file attached to the post.
	export := posts(salesOps.Id)
	if len(export) == 0 || export[0].Message != "Weekly deal export: 5 deals." || len(export[0].FileIds) != 1 {
		t.Fatalf("the export post: %+v", export)
	}
	info, data := srv.File(export[0].FileIds[0])
	if info == nil {
		t.Fatalf("the export's file %s was not uploaded", export[0].FileIds[0])
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	day := time.UnixMilli(export[0].CreateAt).In(berlin)
	if !regexp.MustCompile(`^deals-\d{4}-\d\d-\d\d\.csv$`).MatchString(info.Name) ||
		(info.Name != day.Format("deals-2006-01-02.csv") && info.Name != day.Add(-time.Minute).Format("deals-2006-01-02.csv")) {
		t.Fatalf("the export's file name %q (posted %v)", info.Name, day)
	}
	if info.ChannelId != salesOps.Id || info.PostId != export[0].Id || info.Extension != "csv" || info.Size != int64(len(data)) {
		t.Fatalf("the export's file info: %+v", info)
	}
	if string(data) != pfExportCSV {
		t.Fatalf("the export's CSV:\n%s\nwant:\n%s", data, pfExportCSV)
	}

	// Step 1. Story 1: usage drops → one message per account, owner mentioned.
	// Story 2: the deal now above 100k → a DM to its account executive, as an attachment.
	before := p.runCounts(changes...)
	pfPsql(t, pgURL, sub(pfStoriesSteps[0]))
	p.settle(45*time.Second, before, changes...)
	alerts := posts(cs.Id)
	if len(alerts) != 2 {
		t.Fatalf("usage drop alerts after step 1: %q", messages(alerts))
	}
	if want := ":chart_with_downwards_trend: @bob **Globex** used 45.9 % less this week (96,120 → 52,000 events)."; alerts[0].Message != want {
		t.Fatalf("alert 1 = %q; want %q", alerts[0].Message, want)
	}
	if !strings.Contains(alerts[1].Message, "@cara **Umbrella Health** used 52.6 % less") {
		t.Fatalf("alert 2 = %q", alerts[1].Message)
	}
	for _, a := range alerts {
		if a.RootId != "" {
			t.Fatalf("an alert in a thread: %+v", a)
		}
	}
	// With attachments the text goes into the attachment (and its fallback), not the message.
	attachment := func(x *model.Post) map[string]any {
		t.Helper()
		props := pfProps(t, x)
		att, _ := props["attachments"].([]any)
		if len(att) != 1 || x.Message != "" {
			t.Fatalf("a DM's message %q and attachments: %v", x.Message, props)
		}
		a0, _ := att[0].(map[string]any)
		return a0
	}
	danDMs := posts(dm["dan"])
	if len(danDMs) != 1 {
		t.Fatalf("DMs to dan after step 1: %d", len(danDMs))
	}
	props := pfProps(t, danDMs[0])
	a0 := attachment(danDMs[0])
	fields, _ := a0["fields"].([]any)
	if a0["title"] != "Deal 103: Initech enterprise" || a0["title_link"] != "https://crm.example.com/deals/103" || len(fields) != 2 ||
		a0["text"] != "Initech: **Initech enterprise** is above 100k." || a0["fallback"] != a0["text"] {
		t.Fatalf("the DM's attachment: %v", a0)
	}
	f0, _ := fields[0].(map[string]any)
	f1, _ := fields[1].(map[string]any)
	if f0["title"] != "Amount" || f0["value"] != "125,000 €" || f0["short"] != true || f1["value"] != "Negotiation" {
		t.Fatalf("the DM's attachment fields: %v", fields)
	}
	if props["override_username"] != "Deal Desk" || props["override_icon_emoji"] != "moneybag" {
		t.Fatalf("the DM's sender: %v", props)
	}
	for _, other := range []string{"ann", "bob", "cara", "eve"} {
		if got := posts(dm[other]); len(got) != 0 {
			t.Fatalf("DMs to %s after step 1: %q", other, messages(got))
		}
	}

	// Step 2: recoveries and a change reply in the accounts' threads; a new big deal DMs Eve.
	before = p.runCounts(changes...)
	pfPsql(t, pgURL, sub(pfStoriesSteps[1]))
	p.settle(45*time.Second, before, changes...)
	now := posts(cs.Id)
	if len(now) != 5 {
		t.Fatalf("customer-success after step 2: %q", messages(now))
	}
	byText := func(prefix string) *model.Post {
		for _, x := range now[2:] {
			if strings.HasPrefix(x.Message, prefix) {
				return x
			}
		}
		t.Fatalf("no post starting %q after step 2: %q", prefix, messages(now))
		return nil
	}
	if x := byText(":white_check_mark: **Globex** has recovered."); x.RootId != alerts[0].Id {
		t.Fatalf("Globex's recovery is not a reply to its alert %s: %+v", alerts[0].Id, x)
	}
	if x := byText("Umbrella Health is now down 77.5 % (was 52.6 %)."); x.RootId != alerts[1].Id {
		t.Fatalf("Umbrella's change is not a reply to its alert %s: %+v", alerts[1].Id, x)
	}
	// Wayne was already low at the baseline: its recovery has no thread to reply to.
	if x := byText(":white_check_mark: **Wayne Analytics** has recovered."); x.RootId != "" {
		t.Fatalf("Wayne's recovery is a reply: %+v", x)
	}
	eve := posts(dm["eve"])
	if len(eve) != 1 || attachment(eve[0])["text"] != "Globex: **Globex platform migration** is above 100k." {
		t.Fatalf("DMs to eve after step 2: %d", len(eve))
	}
	if got := posts(dm["dan"]); len(got) != 1 {
		t.Fatalf("DMs to dan after step 2: %q", messages(got))
	}

	// Step 3: a lost deal (no removed template) and a sub-threshold change: silence.
	before = p.runCounts(changes...)
	total := len(srv.Posts())
	pfPsql(t, pgURL, sub(pfStoriesSteps[2]))
	p.quiet(45*time.Second, before, 2, changes...)
	if got := len(srv.Posts()); got != total {
		t.Fatalf("step 3 posted %d messages", got-total)
	}
	// The lost deal is the only row big_deals ever saw removed: one run recorded it, silently.
	logged := len(p.runs("big_deals")) // history is written just before the log line
	hist := p.history("big_deals")
	removals := 0
	for _, h := range hist {
		if h.Removed != 0 {
			removals++
			if h.Removed != 1 || h.Messages != 0 || !h.OK {
				t.Fatalf("big_deals' run that saw the lost deal: %+v", h)
			}
		}
	}
	if removals != 1 || len(hist) < logged || len(hist) > logged+1 {
		t.Fatalf("big_deals' history (%d runs logged): %+v", logged, hist)
	}
	if hist[0].Baseline != true || hist[0].Rows != 2 {
		t.Fatalf("the first run in big_deals' history: %+v", hist[0])
	}

	// Every report run posted the same complete report; nothing else was posted.
	perRun := map[string]int{"daily_signups": 1, "feature_adoption": 3, "weekly_export": 1}
	channelOf := map[string]string{"daily_signups": growth.Id, "feature_adoption": product.Id, "weekly_export": salesOps.Id}
	for _, s := range reports {
		n := len(p.runs(s))
		got := posts(channelOf[s])
		if len(got) != n*perRun[s] {
			t.Fatalf("%s: %d posts after %d runs; want %d per run", s, len(got), n, perRun[s])
		}
		for i, x := range got {
			if x.Message != got[i%perRun[s]].Message && s != "daily_signups" {
				t.Fatalf("%s: run %d posted %q; the first run %q", s, i/perRun[s]+1, x.Message, got[i%perRun[s]].Message)
			}
		}
	}
	pfCheckPosts(t, bot, srv.Posts())
	p.noErrors()
	p.noSecret(pgURL)
	if u, err := url.Parse(pgURL); err == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			p.noSecret(pw)
		}
	}
}
