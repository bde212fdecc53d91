package hosttest

// Data Sync under failure and misconfiguration (issue 8 § 5), with the real datasync-plugin
// executable (HOST_DATASYNC_BIN) under the real host code and SQLite sources written with
// the sqlite3 command-line tool:
//
//   - TestDataSyncNoticeOnce: a source down for three runs → one failure notice and one
//     recovery notice in NoticeChannel, and the rows added meanwhile posted once afterwards.
//   - TestDataSyncMalformedSettings: a table of malformed settings through the plugin's own
//     configuration path (ConfigurationWillBeSaved, then set anyway) while a good sync runs.
//
// Every secret they use is registered for the suite-wide scan (secrets_test.go).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

// chk is one environment with Data Sync installed (not yet activated).
type chk struct {
	t   *testing.T
	env *harness.Env
	srv *harness.Server
	id  string
}

// chkNew installs Data Sync in a fresh environment (newDataSync: the test runs in parallel
// with the other Data Sync tests; skipped without HOST_DATASYNC_BIN) and logs its time.
func chkNew(t *testing.T) *chk {
	t.Helper()
	d := newDataSync(t)
	start := time.Now()
	t.Cleanup(func() { t.Logf("%s took %v", t.Name(), time.Since(start).Round(100*time.Millisecond)) })
	return &chk{t: t, env: d.Env, srv: d.Server, id: d.id}
}

func (c *chk) activate() *model.User {
	c.t.Helper()
	if err := c.env.Activate(c.id); err != nil {
		c.t.Fatalf("activate: %v", err)
	}
	bot := c.srv.UserByUsername("datasync")
	if bot == nil || !bot.IsBot {
		c.t.Fatalf("no bot datasync after activation: %+v", bot)
	}
	return bot
}

func (c *chk) hooks() interface {
	OnConfigurationChange() error
	ConfigurationWillBeSaved(*model.Config) (*model.Config, error)
} {
	c.t.Helper()
	h, err := c.env.Hooks(c.id)
	if err != nil {
		c.t.Fatal(err)
	}
	return h
}

// config is a server configuration carrying these plugin settings (keys lower-cased, as
// the server stores them).
func (c *chk) config(settings map[string]any) *model.Config {
	cfg := &model.Config{}
	cfg.SetDefaults()
	lower := map[string]any{}
	for k, v := range settings {
		lower[strings.ToLower(k)] = v
	}
	cfg.PluginSettings.Plugins = map[string]map[string]any{c.id: lower}
	return cfg
}

// runs lists the finished runs (ok or not) of one sync as their logged fields.
func (c *chk) runs(sync string) []map[string]string {
	var out []map[string]string
	for _, l := range c.srv.Logs() {
		if l.Message != "Data Sync: run finished" && l.Message != "Data Sync: run failed" {
			continue
		}
		kv := logFields(l)
		if kv["sync"] == sync {
			out = append(out, kv)
		}
	}
	return out
}

func logFields(l harness.LogEntry) map[string]string {
	kv := map[string]string{}
	for i := 0; i+1 < len(l.KV); i += 2 {
		kv[fmt.Sprint(l.KV[i])] = fmt.Sprint(l.KV[i+1])
	}
	return kv
}

// messages lists a channel's posts; every one must be the bot's.
func (c *chk) messages(channelID, botID string) []string {
	c.t.Helper()
	var out []string
	for _, p := range c.srv.PostsInChannel(channelID) {
		if p.UserId != botID {
			c.t.Fatalf("a post not by the bot: %+v", p)
		}
		out = append(out, p.Message)
	}
	return out
}

// noPanic fails the test if the plugin panicked (its stderr is in the host log) or logged
// a caught panic.
func (c *chk) noPanic() {
	c.t.Helper()
	if log := c.env.HostLog.String(); strings.Contains(log, "panicked") {
		c.t.Errorf("the plugin panicked:\n%s", tail(log, 4000))
	}
	for _, l := range c.srv.Logs() {
		if strings.Contains(strings.ToLower(l.Message), "panic") {
			c.t.Errorf("the plugin logged a panic: %s %v", l.Message, l.KV)
		}
	}
}

// secretDir makes a directory whose name is a registered secret (so a leaked path is
// found by the suite-wide scan, whatever part of it leaks).
func secretDir(t *testing.T) string {
	t.Helper()
	token := "vault-" + model.NewId()
	harness.RegisterSecret(token)
	dir := filepath.Join(t.TempDir(), token)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

const ordersSyncs = `
allowed_channels = ["acme/alerts"]

[connections.shop]
kind = "sqlite"
url = "${env:ORDERS_DB}"

[syncs.orders]
connection = "shop"
sql = "SELECT id, item FROM orders ORDER BY id"
key = "id"
schedule = "every 10s"
channel = "acme/alerts"

[syncs.orders.templates]
added = "New order {{ row.id }}: {{ row.item }}"
`

// A source down for three runs (first its file gone, then its table gone) announces the
// failure once and the recovery once, in NoticeChannel, as the bot; the rows added while
// it was down are posted once after it recovers.
func TestDataSyncNoticeOnce(t *testing.T) {
	c := chkNew(t)
	team := c.srv.AddTeam("acme", "Acme")
	alerts := c.srv.AddChannel(team.Id, "alerts", "Alerts")
	ops := c.srv.AddChannel(team.Id, "ops", "Ops")
	db := filepath.Join(secretDir(t), "orders.db")
	harness.RegisterSecret(db)
	sqlite(t, db, "CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL); INSERT INTO orders VALUES (1, 'anvil');")
	c.srv.SetPluginSettings(c.id, map[string]any{
		"Syncs": ordersSyncs, "Secrets": "ORDERS_DB=" + db, "NoticeChannel": "acme/ops", "TickSeconds": 1,
	})
	bot := c.activate()
	alertsPosts := func() []string { return c.messages(alerts.Id, bot.Id) }
	notices := func() []string { return c.messages(ops.Id, bot.Id) }
	failedSince := func(n int) int {
		failed := 0
		for _, r := range c.runs("orders")[n:] {
			if r["ok"] == "false" {
				failed++
			}
		}
		return failed
	}

	waitUntil(t, 15*time.Second, "the baseline run", func() bool { return len(c.runs("orders")) > 0 })
	if r := c.runs("orders")[0]; r["ok"] != "true" || r["baseline"] != "true" {
		t.Fatalf("first run: %v", r)
	}
	sqlite(t, db, "INSERT INTO orders VALUES (2, 'rope');")
	waitUntil(t, 25*time.Second, "the post for row 2", func() bool { return len(alertsPosts()) >= 1 })

	// Down: the file is renamed away for two runs, then comes back without its table for a
	// third. Rows are added meanwhile.
	n0 := len(c.runs("orders"))
	away := db + ".away"
	if err := os.Rename(db, away); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 25*time.Second, "the first failed run", func() bool { return failedSince(n0) >= 1 })
	waitUntil(t, 5*time.Second, "the failure notice", func() bool { return len(notices()) >= 1 })
	sqlite(t, away, "INSERT INTO orders VALUES (3, 'dynamite');")
	waitUntil(t, 25*time.Second, "the second failed run", func() bool { return failedSince(n0) >= 2 })
	sqlite(t, away, "ALTER TABLE orders RENAME TO orders_down; INSERT INTO orders_down VALUES (4, 'bird seed');")
	if err := os.Rename(away, db); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 25*time.Second, "the third failed run", func() bool { return failedSince(n0) >= 3 })
	if got := notices(); len(got) != 1 {
		t.Fatalf("notices after three failed runs: %q; want exactly one", got)
	}
	if got := alertsPosts(); len(got) != 1 {
		t.Fatalf("posts while the source was down: %q", got)
	}
	var errs []string
	for _, r := range c.runs("orders")[n0:] {
		errs = append(errs, r["errors"])
	}
	t.Logf("errors of the failed runs: %q", errs)

	// Back: the table returns with one more row.
	sqlite(t, db, "ALTER TABLE orders_down RENAME TO orders; INSERT INTO orders VALUES (5, 'tornado seeds');")
	n1 := len(c.runs("orders"))
	waitUntil(t, 25*time.Second, "a successful run", func() bool {
		for _, r := range c.runs("orders")[n1:] {
			if r["ok"] == "true" {
				return true
			}
		}
		return false
	})
	waitUntil(t, 5*time.Second, "the recovery notice", func() bool { return len(notices()) >= 2 })
	// One more whole run after it: nothing more is posted.
	n2 := len(c.runs("orders"))
	waitUntil(t, 25*time.Second, "a run after the recovery", func() bool { return len(c.runs("orders")) > n2 })

	want := []string{"New order 2: rope", "New order 3: dynamite", "New order 4: bird seed", "New order 5: tornado seeds"}
	if got := alertsPosts(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("posts = %q; want %q (each row once, none lost)", got, want)
	}
	got := notices()
	if len(got) != 2 {
		t.Fatalf("notices = %q; want one failure and one recovery", got)
	}
	t.Logf("failure notice:\n%s", got[0])
	t.Logf("recovery notice:\n%s", got[1])
	if !strings.HasPrefix(got[0], ":warning: Data Sync: **orders** is failing") {
		t.Errorf("failure notice does not name the sync as failing: %q", got[0])
	}
	if !strings.Contains(got[0], "SQLite") {
		t.Errorf("failure notice does not say what failed: %q", got[0])
	}
	if !strings.Contains(got[1], "**orders** works again") {
		t.Errorf("recovery notice does not name the sync as recovered: %q", got[1])
	}
	for _, n := range got {
		if strings.Contains(n, "vault-") || strings.Contains(n, db) || strings.Contains(n, filepath.Dir(db)) {
			t.Errorf("a notice shows the secret path: %q", n)
		}
	}
	for _, r := range c.runs("orders") {
		if r["ok"] == "true" && r["errors"] != "" {
			t.Errorf("a successful run with errors: %v", r)
		}
	}
	c.noPanic()
}

const dealsCheckSyncs = `allowed_channels = ["acme/alerts"]

[connections.crm]
kind = "sqlite"
url = "${env:DEALS_DB}"

[syncs.deals]
connection = "crm"
sql = "SELECT id, name FROM deals ORDER BY id"
key = "id"
schedule = "every 10s"
channel = "acme/alerts"

[syncs.deals.templates]
added = "New deal: {{ row.name }}"
`

// badSync is the good document plus a sync "bad" made of these fields: each line
// "field = value" replaces the default of that field, "-field" drops it.
func badSync(lines ...string) string {
	fields := []string{"connection", "sql", "key", "schedule", "channel", "templates.added"}
	values := map[string]string{
		"connection": `"crm"`, "sql": `"SELECT id, name FROM deals"`, "key": `"id"`,
		"schedule": `"every 1m"`, "channel": `"acme/alerts"`, "templates.added": `"{{ row.name }}"`,
	}
	for _, l := range lines {
		if name, ok := strings.CutPrefix(l, "-"); ok {
			delete(values, name)
			continue
		}
		name, value, _ := strings.Cut(l, " = ")
		if _, known := values[name]; !known && !containsString(fields, name) {
			fields = append(fields, name)
		}
		values[name] = value
	}
	var b strings.Builder
	b.WriteString(dealsCheckSyncs + "\n[syncs.bad]\n")
	for _, f := range fields {
		if v, ok := values[f]; ok {
			fmt.Fprintf(&b, "%s = %s\n", f, v)
		}
	}
	return b.String()
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// badCase is one malformed configuration: Syncs (empty: the good document) and other
// settings over the good ones, and the substrings its rejection must contain.
type badCase struct {
	name     string
	syncs    string
	settings map[string]any
	want     []string
}

// Malformed settings go through the plugin's own configuration path: ConfigurationWillBeSaved
// rejects each with a message naming the sync, field and problem; set anyway, each is logged
// as problems while the plugin process stays the same and the good sync configured before
// keeps posting every new row once.
func TestDataSyncMalformedSettings(t *testing.T) {
	c := chkNew(t)
	team := c.srv.AddTeam("acme", "Acme")
	alerts := c.srv.AddChannel(team.Id, "alerts", "Alerts")
	c.srv.AddChannel(team.Id, "ops", "Ops")
	db := filepath.Join(secretDir(t), "deals.db")
	harness.RegisterSecret(db)
	sqlite(t, db, "CREATE TABLE deals (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO deals VALUES (1, 'Initech');")
	token := "tok-" + model.NewId()         // an HTTP header token, in Secrets
	password := "pw-" + model.NewId()       // a password written inline in a URL
	strayLine := "hunter2-" + model.NewId() // a Secrets line without "=": a bare secret
	for _, s := range []string{token, password, strayLine} {
		harness.RegisterSecret(s)
	}
	secrets := "# the source\nDEALS_DB=" + db + "\nAPI_TOKEN=" + token + "\n"
	good := map[string]any{"Syncs": dealsCheckSyncs, "Secrets": secrets, "TickSeconds": 1}
	secretValues := []string{db, filepath.Base(filepath.Dir(db)), token, password, strayLine}

	cases := []badCase{
		// The document.
		{name: "malformed TOML", syncs: dealsCheckSyncs + "\n[syncs.bad\nconnection = \"crm\"\n",
			want: []string{"Syncs: line 17: malformed TOML"}},
		{name: "duplicate sync name", syncs: dealsCheckSyncs + "\n[syncs.deals]\nconnection = \"crm\"\n",
			want: []string{"Syncs: line 17: malformed TOML: duplicate key `deals`"}},
		{name: "duplicate connection name", syncs: dealsCheckSyncs + "\n[connections.crm]\nkind = \"sqlite\"\n",
			want: []string{"Syncs: line 17: malformed TOML: duplicate key `crm`"}},
		{name: "unknown top-level key", syncs: "colour = \"red\"\n" + dealsCheckSyncs,
			want: []string{`field "colour" (line 1): unknown field`}},
		{name: "no syncs", syncs: "[connections.crm]\nkind = \"sqlite\"\nurl = \"${env:DEALS_DB}\"\n",
			want: []string{"no [syncs.<name>] defined"}},
		{name: "unknown sync key (typo)", syncs: badSync("-schedule", `shedule = "every 1m"`),
			want: []string{`sync "bad", field "shedule"`, `did you mean "schedule"?`}},
		{name: "unknown template key", syncs: badSync("-templates.added", `templates.addded = "x"`),
			want: []string{`sync "bad", field "templates.addded"`, `did you mean "added"?`}},
		// Schedules.
		{name: "schedule not an interval", syncs: badSync(`schedule = "every 5 parsecs"`),
			want: []string{`sync "bad", field "schedule"`, `"every 5 parsecs" is not an interval`}},
		{name: "schedule too short", syncs: badSync(`schedule = "every 1s"`),
			want: []string{`sync "bad", field "schedule"`, "too short: the shortest interval is 10s"}},
		{name: "bad cron", syncs: badSync("-schedule", `cron = "61 * * * *"`),
			want: []string{`sync "bad", field "cron"`, `"61 * * * *" is not a cron pattern`}},
		{name: "cron that never fires", syncs: badSync("-schedule", `cron = "0 0 30 2 *"`),
			want: []string{`sync "bad", field "cron"`, "never fires"}},
		{name: "bad time zone", syncs: badSync("-schedule", `cron = "0 9 * * MON-FRI"`, `timezone = "Mars/Olympus_Mons"`),
			want: []string{`sync "bad", field "timezone"`, `"Mars/Olympus_Mons" is not an IANA time zone`}},
		{name: "schedule and cron", syncs: badSync(`cron = "0 9 * * *"`),
			want: []string{`sync "bad", field "schedule"`, "not both"}},
		{name: "no schedule", syncs: badSync("-schedule"),
			want: []string{`sync "bad", field "schedule"`, "is required"}},
		// Connections.
		{name: "sync without connection", syncs: badSync("-connection"),
			want: []string{`sync "bad", field "connection"`, "is required"}},
		{name: "unknown connection", syncs: badSync(`connection = "nope"`),
			want: []string{`sync "bad", field "connection"`, `no connection named "nope" (defined: crm)`}},
		{name: "unknown connection kind", syncs: dealsCheckSyncs + "\n[connections.odd]\nkind = \"oracle\"\nurl = \"x\"\n",
			want: []string{`connection "odd", field "kind"`, `"oracle" is not one of postgres, mysql, sqlite, http`}},
		{name: "connection without url", syncs: dealsCheckSyncs + "\n[connections.nourl]\nkind = \"sqlite\"\n",
			want: []string{`connection "nourl", field "url"`, "is required"}},
		{name: "URL of the wrong kind, inline password", syncs: dealsCheckSyncs +
			"\n[connections.pg]\nkind = \"postgres\"\nurl = \"mysql://admin:" + password + "@db.example.com/crm\"\n",
			want: []string{`connection "pg", field "url"`, "expected a postgres://user:password@host/db URL"}},
		{name: "headers on a sqlite connection", syncs: dealsCheckSyncs +
			"\n[connections.lite]\nkind = \"sqlite\"\nurl = \"${env:DEALS_DB}\"\nheaders = { Authorization = \"Bearer ${env:API_TOKEN}\" }\n",
			want: []string{`connection "lite", field "headers"`, "only http connections take headers"}},
		{name: "bad auth kind", syncs: dealsCheckSyncs +
			"\n[connections.api]\nkind = \"http\"\nurl = \"https://api.example.com\"\nauth = { kind = \"digest\", password = \"${env:API_TOKEN}\" }\n",
			want: []string{`connection "api", field "auth.kind"`, `"digest" is not "basic" or "bearer"`}},
		{name: "connect_timeout too long", syncs: dealsCheckSyncs +
			"\n[connections.slow]\nkind = \"sqlite\"\nurl = \"${env:DEALS_DB}\"\nconnect_timeout = \"2d\"\n",
			want: []string{`connection "slow", field "connect_timeout"`, "(1s to 1d)"}},
		{name: "statement_timeout not a duration", syncs: badSync(`statement_timeout = "forever"`),
			want: []string{`sync "bad", field "statement_timeout"`, `expected a duration like "30s"`}},
		{name: "missing secret", syncs: dealsCheckSyncs + "\n[connections.gone]\nkind = \"sqlite\"\nurl = \"${env:NO_SUCH_SECRET}\"\n",
			want: []string{`connection "gone", field "url"`, "environment variable NO_SUCH_SECRET is not set"}},
		{name: "bad secret reference", syncs: dealsCheckSyncs + "\n[connections.odd]\nkind = \"sqlite\"\nurl = \"${env:bad-name}\"\n",
			want: []string{`connection "odd", field "url"`, `"${env:bad-name}" is not a valid environment reference`}},
		{name: "unclosed secret reference", syncs: dealsCheckSyncs + "\n[connections.odd]\nkind = \"sqlite\"\nurl = \"${env:DEALS_DB\"\n",
			want: []string{`connection "odd", field "url"`, "is not a valid environment reference"}},
		// Routing.
		{name: "channel not a target", syncs: badSync(`channel = "not a channel"`),
			want: []string{`sync "bad", field "channel"`, `"not a channel" is not a channel id`}},
		{name: "channel outside allowed_channels", syncs: badSync(`channel = "acme/random"`),
			want: []string{`sync "bad", field "channel"`, `"acme/random" is not in allowed_channels`}},
		{name: "channel and channel_column", syncs: badSync(`channel_column = "target"`),
			want: []string{`sync "bad", field "channel"`, "give channel or channel_column, not both"}},
		{name: "no channel", syncs: badSync("-channel"),
			want: []string{`sync "bad", field "channel"`, "is required"}},
		{name: "channel from a secret that is not one", syncs: badSync(`channel = "${env:API_TOKEN}"`),
			want: []string{`sync "bad", field "channel"`, "${env:API_TOKEN} is not a channel"}},
		// Templates and modes.
		{name: "template syntax", syncs: badSync(`templates.added = "New {{ row.name "`),
			want: []string{`sync "bad", field "templates.added"`, "template does not parse"}},
		{name: "unknown template tag", syncs: badSync(`templates.added = "{% frobnicate %}"`),
			want: []string{`sync "bad", field "templates.added"`, "template does not parse", "frobnicate"}},
		{name: "unclosed raw block", syncs: badSync(`templates.added = "{% raw %} x"`),
			want: []string{`sync "bad", field "templates.added"`, "raw"}},
		{name: "template of another mode", syncs: badSync(`mode = "batch"`, `templates.row = "{{ row.id }}"`),
			want: []string{`sync "bad", field "templates.added"`, "batch mode does not use this template"}},
		{name: "unknown mode", syncs: badSync(`mode = "fancy"`),
			want: []string{`sync "bad", field "mode"`, `"fancy" is not one of changes, batch, table, csv`}},
		// Keys and limits.
		{name: "empty key column", syncs: badSync(`key = ""`),
			want: []string{`sync "bad", field "key"`, "a column name must not be empty"}},
		{name: "no key in changes mode", syncs: badSync("-key"),
			want: []string{`sync "bad", field "key"`, "changes mode needs key columns"}},
		{name: "key not a string", syncs: badSync("key = 5"),
			want: []string{`sync "bad", field "key"`, "expected a string or an array of strings, found integer"}},
		{name: "max_messages 0", syncs: badSync("max_messages = 0"),
			want: []string{`sync "bad", field "max_messages"`, "expected a whole number from 1 to 10000"}},
		{name: "first_run unknown", syncs: badSync(`first_run = "sometimes"`),
			want: []string{`sync "bad", field "first_run"`, `"sometimes" is not one of "baseline", "post"`}},
		// Values from secrets in fields that are not secret: the value is still not shown.
		{name: "schedule from a secret", syncs: badSync(`schedule = "${env:API_TOKEN}"`),
			want: []string{`sync "bad", field "schedule"`, `"${env:API_TOKEN}" is not an interval`}},
		{name: "mode from a secret", syncs: badSync(`mode = "${env:API_TOKEN}"`),
			want: []string{`sync "bad", field "mode"`, `"${env:API_TOKEN}" is not one of changes, batch, table, csv`}},
		{name: "time zone from a secret", syncs: badSync("-schedule", `cron = "0 9 * * *"`, `timezone = "${env:API_TOKEN}"`),
			want: []string{`sync "bad", field "timezone"`, `"${env:API_TOKEN}" is not an IANA time zone`}},
		// The other settings.
		{name: "Secrets line without =", settings: map[string]any{"Secrets": secrets + "oops " + strayLine + "\n"},
			want: []string{"Secrets, line 4: expected NAME=value"}},
		{name: "Secrets name with a dash", settings: map[string]any{"Secrets": secrets + "API-KEY=" + strayLine + "\n"},
			want: []string{"Secrets, line 4: expected NAME=value"}},
		{name: "NoticeChannel without team", settings: map[string]any{"NoticeChannel": "ops"},
			want: []string{`NoticeChannel: "ops" is not "team/channel"`}},
		{name: "NoticeChannel with two slashes", settings: map[string]any{"NoticeChannel": "acme/ops/x"},
			want: []string{`NoticeChannel: "acme/ops/x" is not "team/channel"`}},
		{name: "TickSeconds 0", settings: map[string]any{"TickSeconds": 0},
			want: []string{`TickSeconds: "0" is not a whole number from 1 to 3600`}},
		{name: "TickSeconds 3601", settings: map[string]any{"TickSeconds": 3601},
			want: []string{`TickSeconds: "3601" is not a whole number from 1 to 3600`}},
		{name: "TickSeconds 1.5", settings: map[string]any{"TickSeconds": 1.5},
			want: []string{`TickSeconds: "1.5" is not a whole number from 1 to 3600`}},
		{name: "TickSeconds text", settings: map[string]any{"TickSeconds": "soon"},
			want: []string{`TickSeconds: "soon" is not a whole number from 1 to 3600`}},
		{name: "LeaseSeconds 1", settings: map[string]any{"LeaseSeconds": 1},
			want: []string{`LeaseSeconds: "1" is not a whole number from 2 to 3600`}},
		{name: "LeaseSeconds 3601", settings: map[string]any{"LeaseSeconds": 3601},
			want: []string{`LeaseSeconds: "3601" is not a whole number from 2 to 3600`}},
		{name: "LeaseSeconds under 2 x TickSeconds", settings: map[string]any{"TickSeconds": 10, "LeaseSeconds": 15},
			want: []string{"LeaseSeconds: 15 is less than twice TickSeconds (10)"}},
		{name: "PostsPerSecond -1", settings: map[string]any{"PostsPerSecond": -1},
			want: []string{`PostsPerSecond: "-1" is not a whole number from 0 to 1000`}},
		{name: "PostsPerSecond 1001", settings: map[string]any{"PostsPerSecond": 1001},
			want: []string{`PostsPerSecond: "1001" is not a whole number from 0 to 1000`}},
		{name: "Workers 0", settings: map[string]any{"Workers": 0},
			want: []string{`Workers: "0" is not a whole number from 1 to 16`}},
		{name: "Workers 17", settings: map[string]any{"Workers": 17},
			want: []string{`Workers: "17" is not a whole number from 1 to 16`}},
		{name: "MaxMessages 0", settings: map[string]any{"MaxMessages": 0},
			want: []string{`MaxMessages: "0" is not a whole number from 1 to 10000`}},
		{name: "Workers 2.5", settings: map[string]any{"Workers": 2.5},
			want: []string{`Workers: "2.5" is not a whole number from 1 to 16`}},
		{name: "MaxMessages text", settings: map[string]any{"MaxMessages": "lots"},
			want: []string{`MaxMessages: "lots" is not a whole number from 1 to 10000`}},
		{name: "MaxMessages 10001", settings: map[string]any{"MaxMessages": 10001},
			want: []string{`MaxMessages: "10001" is not a whole number from 1 to 10000`}},
	}

	c.srv.SetPluginSettings(c.id, good)
	bot := c.activate()
	pid := c.env.PluginPID(c.id)
	if pid == 0 {
		t.Fatal("no plugin process")
	}
	posts := func() []string { return c.messages(alerts.Id, bot.Id) }
	waitUntil(t, 15*time.Second, "the baseline run", func() bool { return len(c.runs("deals")) > 0 })
	if got, err := c.hooks().ConfigurationWillBeSaved(c.config(good)); got != nil || err != nil {
		t.Fatalf("ConfigurationWillBeSaved(good) = %v, %v; want nil, nil", got, err)
	}

	// A row every few cases; before the next one, the last must have been posted.
	var want []string
	names := []string{"Globex", "Hooli", "Umbrella", "Soylent", "Tyrell", "Wonka", "Cyberdyne", "Acme"}
	insert := func() {
		t.Helper()
		if len(want) > 0 {
			last := want[len(want)-1]
			waitUntil(t, 25*time.Second, "the post "+last, func() bool { return containsString(posts(), last) })
		}
		id := len(want) + 2
		sqlite(t, db, fmt.Sprintf("INSERT INTO deals VALUES (%d, '%s');", id, names[len(want)]))
		want = append(want, "New deal: "+names[len(want)])
	}
	var report []string
	for i, tc := range cases {
		if i%16 == 0 {
			insert()
		}
		settings := map[string]any{}
		for k, v := range good {
			settings[k] = v
		}
		if tc.syncs != "" {
			settings["Syncs"] = tc.syncs
		}
		for k, v := range tc.settings {
			settings[k] = v
		}
		ok := t.Run(tc.name, func(t *testing.T) {
			_, err := c.hooks().ConfigurationWillBeSaved(c.config(settings))
			if err == nil {
				t.Fatalf("ConfigurationWillBeSaved accepted it")
			}
			msg := err.Error()
			report = append(report, fmt.Sprintf("%-40s %s", tc.name, strings.ReplaceAll(msg, "\n", " | ")))
			if !strings.HasPrefix(msg, "Data Sync: ") || !strings.Contains(msg, "in the configuration:") {
				t.Errorf("the rejection does not say it is Data Sync's configuration: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the rejection lacks %q:\n%s", w, msg)
				}
			}
			for _, s := range secretValues {
				if strings.Contains(msg, s) {
					t.Errorf("the rejection shows a secret (%q):\n%s", s, msg)
				}
			}
			// Set anyway: logged, the process stays, the good configuration keeps running.
			before := len(c.srv.Logs())
			c.srv.SetPluginSettings(c.id, settings)
			if err := c.hooks().OnConfigurationChange(); err != nil {
				t.Fatalf("OnConfigurationChange = %v; want nil (problems are logged)", err)
			}
			var problems []string
			kept := false
			for _, l := range c.srv.Logs()[before:] {
				switch l.Message {
				case "Data Sync: configuration problem":
					problems = append(problems, logFields(l)["problem"])
				case "Data Sync: the new configuration is invalid; the last valid configuration keeps running":
					kept = true
				case "Data Sync: configuration loaded":
					t.Errorf("the invalid configuration was loaded")
				}
			}
			logged := strings.Join(problems, "\n")
			for _, w := range tc.want {
				if !strings.Contains(logged, w) {
					t.Errorf("the logged problems lack %q:\n%s", w, logged)
				}
			}
			if !kept {
				t.Errorf("no log line saying the last valid configuration keeps running")
			}
			if now := c.env.PluginPID(c.id); now != pid {
				t.Fatalf("the plugin process changed: %d → %d", pid, now)
			}
		})
		if !ok && c.env.PluginPID(c.id) != pid {
			t.FailNow()
		}
	}
	t.Logf("rejections:\n%s", strings.Join(report, "\n"))

	// Back to the good settings: loaded, and the good sync goes on.
	before := len(c.srv.Logs())
	c.srv.SetPluginSettings(c.id, good)
	if err := c.hooks().OnConfigurationChange(); err != nil {
		t.Fatal(err)
	}
	loaded := false
	for _, l := range c.srv.Logs()[before:] {
		loaded = loaded || l.Message == "Data Sync: configuration loaded"
	}
	if !loaded {
		t.Error("the good settings were not loaded again")
	}
	insert()
	last := want[len(want)-1]
	waitUntil(t, 25*time.Second, "the post "+last, func() bool { return containsString(posts(), last) })
	n := len(c.runs("deals"))
	waitUntil(t, 25*time.Second, "a run after the last post", func() bool { return len(c.runs("deals")) > n })
	if got := posts(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("posts = %q; want %q (each row once)", got, want)
	}
	if now := c.env.PluginPID(c.id); now != pid {
		t.Fatalf("the plugin process changed: %d → %d", pid, now)
	}
	for _, r := range c.runs("deals") {
		if r["ok"] != "true" {
			t.Errorf("a failed run of the good sync: %v", r)
		}
	}
	c.noPanic()
}
