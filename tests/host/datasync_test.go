package hosttest

// Data Sync as an admin installs it: the real datasync-plugin executable (HOST_DATASYNC_BIN,
// set by run.sh for the Rust runs) from a bundle directory with the repository's plugin.json,
// started by the real host code, with its settings in the in-memory API and a SQLite file
// as the source (written with the sqlite3 command-line tool).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

// Two syncs: "deals" posts new rows into acme/alerts; "owners" posts every row on its first
// run, routed per row to a channel id, a username or an e-mail address (a DM), mentioning
// the owner looked up by e-mail or username.
const dealsSyncs = `
allowed_channels = ["acme/alerts", "acme/owners"]

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

[syncs.owners]
connection = "crm"
sql = "SELECT id, target, owner FROM owners ORDER BY id"
key = "id"
schedule = "every 10s"
first_run = "post"
channel_column = "target"

[syncs.owners.templates]
added = "Account {{ row.id }} belongs to <@{{ row.owner | mattermost_user_lookup }}>."
`

func sqlite(t *testing.T, db, sql string) {
	t.Helper()
	if out, err := exec.Command("sqlite3", db, sql).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3 %s: %v\n%s", sql, err, out)
	}
}

// dealsRuns lists the finished runs (ok or not) of sync "deals" as their logged fields.
func dealsRuns(srv *harness.Server) []map[string]string {
	var out []map[string]string
	for _, l := range srv.Logs() {
		if l.Message != "Data Sync: run finished" && l.Message != "Data Sync: run failed" {
			continue
		}
		kv := map[string]string{}
		for i := 0; i+1 < len(l.KV); i += 2 {
			kv[fmt.Sprint(l.KV[i])] = fmt.Sprint(l.KV[i+1])
		}
		if kv["sync"] == "deals" {
			out = append(out, kv)
		}
	}
	return out
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settle waits until sync "deals" has finished a whole run after the last run that posted.
func settle(t *testing.T, srv *harness.Server, what string) {
	t.Helper()
	waitUntil(t, 25*time.Second, what, func() bool {
		runs := dealsRuns(srv)
		for i := len(runs) - 1; i >= 0; i-- {
			if runs[i]["messages"] != "0" {
				return i < len(runs)-1
			}
		}
		return false
	})
}

// waitRuns waits until sync "deals" has finished more than `after` runs.
func waitRuns(t *testing.T, srv *harness.Server, after int, what string) {
	t.Helper()
	waitUntil(t, 25*time.Second, what, func() bool { return len(dealsRuns(srv)) > after })
}

func TestDataSyncPlugin(t *testing.T) {
	ds := newDataSync(t)
	env, id, srv := ds.Env, ds.id, ds.Server
	team := srv.AddTeam("acme", "Acme")
	alerts := srv.AddChannel(team.Id, "alerts", "Alerts")
	owners := srv.AddChannel(team.Id, "owners", "Owners")
	alice := srv.AddUser("alice", "alice@example.com")
	admin := srv.AddAdmin("admin", "admin@example.com")
	db := filepath.Join(t.TempDir(), "deals.db")
	harness.RegisterSecret(db) // the suite-wide scan (secrets_test.go) looks for it everywhere
	sqlite(t, db, "CREATE TABLE deals (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO deals VALUES (1, 'Initech');"+
		"CREATE TABLE owners (id INTEGER PRIMARY KEY, target TEXT NOT NULL, owner TEXT NOT NULL);"+
		"INSERT INTO owners VALUES (1, '@alice', 'alice@example.com'), (2, '"+owners.Id+"', 'nobody@example.com'), (3, 'alice@example.com', 'alice');")

	secrets := "# the database\nDEALS_DB=" + db
	good := map[string]any{"Syncs": dealsSyncs, "Secrets": secrets, "TickSeconds": 1}
	badSyncs := strings.Replace(dealsSyncs, `schedule = "every 10s"`, `schedule = "every 5 parsecs"`, 1) +
		"\n[syncs.broken]\nconection = \"crm\"\n"
	bad := map[string]any{"Syncs": badSyncs, "Secrets": secrets, "TickSeconds": 1}
	srv.SetPluginSettings(id, good)
	ds.activate(t)
	bot := srv.UserByUsername("datasync")
	if bot == nil || !bot.IsBot {
		t.Fatalf("no bot datasync after activation: %+v", bot)
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	profile, err := os.ReadFile(filepath.Join(root, "..", "..", "assets", "profile.png"))
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.ProfileImage(bot.Id); len(got) == 0 || string(got) != string(profile) {
		t.Fatalf("the bot's profile image is %d bytes, not assets/profile.png (%d bytes)", len(got), len(profile))
	}
	// Every post in the channel, as "message" strings; all must be the bot's.
	posts := func() []string {
		var out []string
		for _, p := range srv.PostsInChannel(alerts.Id) {
			if p.UserId != bot.Id {
				t.Fatalf("a post not by the bot: %+v", p)
			}
			out = append(out, p.Message)
		}
		return out
	}
	hooks := func() interface {
		OnConfigurationChange() error
		ConfigurationWillBeSaved(*model.Config) (*model.Config, error)
	} {
		h, err := env.Hooks(id)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	// 1. The first run records the baseline and posts nothing.
	waitUntil(t, 15*time.Second, "the baseline run", func() bool {
		runs := dealsRuns(srv)
		return len(runs) > 0 && runs[0]["baseline"] == "true"
	})
	if got := posts(); len(got) != 0 {
		t.Fatalf("the baseline run posted %q", got)
	}
	// "owners" posts its rows on its first run: by channel id, and as DMs found by username
	// and by e-mail, with mentions of users looked up by e-mail and by username.
	dm, appErr := srv.NewAPI(&model.Manifest{Id: "test"}).GetDirectChannel(bot.Id, alice.Id)
	if appErr != nil {
		t.Fatal(appErr)
	}
	messages := ds.messages
	waitUntil(t, 15*time.Second, "the owners posts", func() bool {
		return len(messages(dm.Id)) >= 2 && len(messages(owners.Id)) >= 1
	})
	wantOwners := []string{"Account 2 belongs to nobody@example.com."}
	wantDM := []string{"Account 1 belongs to @alice.", "Account 3 belongs to @alice."}
	checkOwners := func(when string) {
		t.Helper()
		if got := messages(owners.Id); strings.Join(got, "|") != strings.Join(wantOwners, "|") {
			t.Fatalf("%s: owners channel = %q; want %q", when, got, wantOwners)
		}
		if got := messages(dm.Id); strings.Join(got, "|") != strings.Join(wantDM, "|") {
			t.Fatalf("%s: DM = %q; want %q", when, got, wantDM)
		}
	}
	checkOwners("after the first run")

	// 2. A new row → exactly one post in the channel.
	sqlite(t, db, "INSERT INTO deals VALUES (2, 'Globex');")
	waitUntil(t, 25*time.Second, "the post for the new row", func() bool { return len(posts()) >= 1 })
	settle(t, srv, "a run after the post")
	if got := posts(); len(got) != 1 || got[0] != "New deal: Globex" {
		t.Fatalf("posts after one insert: %q", got)
	}

	// 3. An invalid document: rejected at save time with every problem; set anyway, the
	// last good configuration keeps running.
	config := func(settings map[string]any) *model.Config {
		cfg := &model.Config{}
		cfg.SetDefaults()
		lower := map[string]any{}
		for k, v := range settings {
			lower[strings.ToLower(k)] = v
		}
		cfg.PluginSettings.Plugins = map[string]map[string]any{id: lower}
		return cfg
	}
	if got, err := hooks().ConfigurationWillBeSaved(config(good)); got != nil || err != nil {
		t.Fatalf("ConfigurationWillBeSaved(valid) = %v, %v; want nil, nil", got, err)
	}
	got, err := hooks().ConfigurationWillBeSaved(config(bad))
	if got != nil || err == nil {
		t.Fatalf("ConfigurationWillBeSaved(invalid) = %v, %v; want a rejection", got, err)
	}
	for _, want := range []string{"problems in the configuration", "parsecs", `sync "broken"`, "conection"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the rejection lacks %q: %v", want, err)
		}
	}
	srv.SetPluginSettings(id, bad)
	if err := hooks().OnConfigurationChange(); err != nil {
		t.Fatalf("OnConfigurationChange(invalid) = %v; want nil (problems are logged)", err)
	}
	// Saving other settings while ours stay as they are (invalid) is not blocked.
	if got, err := hooks().ConfigurationWillBeSaved(config(bad)); got != nil || err != nil {
		t.Fatalf("ConfigurationWillBeSaved(unchanged invalid settings) = %v, %v; want nil, nil", got, err)
	}
	if !srv.HasLog("error", "Data Sync: configuration problem") ||
		!srv.HasLog("error", "Data Sync: the new configuration is invalid; the last valid configuration keeps running") {
		t.Fatal("the invalid configuration was not logged")
	}
	// One notice to the admins (no NoticeChannel: by DM), however often it is saved again.
	if err := hooks().OnConfigurationChange(); err != nil {
		t.Fatal(err)
	}
	adminDM, appErr := srv.NewAPI(&model.Manifest{Id: "test"}).GetDirectChannel(bot.Id, admin.Id)
	if appErr != nil {
		t.Fatal(appErr)
	}
	notices := messages(adminDM.Id)
	if len(notices) != 1 || !strings.Contains(notices[0], "the new configuration was not applied: 7 problems; the last valid configuration keeps running") ||
		!strings.Contains(notices[0], "parsecs") {
		t.Fatalf("configuration notices to the admin = %q; want one naming the problems", notices)
	}
	sqlite(t, db, "INSERT INTO deals VALUES (3, 'Hooli');")
	waitUntil(t, 25*time.Second, "the post under the old configuration", func() bool { return len(posts()) >= 2 })
	settle(t, srv, "a run after the second post")

	// 4. Restart the plugin process: nothing is posted twice, and it goes on.
	srv.SetPluginSettings(id, good)
	if err := hooks().OnConfigurationChange(); err != nil {
		t.Fatal(err)
	}
	pid := env.PluginPID(id)
	env.Env.Deactivate(id)
	if pid != 0 {
		if _, gone := harness.WaitGone(pid, 10*time.Second); !gone {
			t.Fatalf("plugin process %d still running after deactivation", pid)
		}
	}
	if err := env.Activate(id); err != nil {
		t.Fatalf("re-activate: %v", err)
	}
	if newPid := env.PluginPID(id); newPid == 0 || newPid == pid {
		t.Fatalf("no new plugin process after re-activation (old %d, new %d)", pid, newPid)
	}
	waitRuns(t, srv, len(dealsRuns(srv)), "a run of the restarted process")
	if got := posts(); len(got) != 2 {
		t.Fatalf("posts after the restart: %q", got)
	}
	sqlite(t, db, "INSERT INTO deals VALUES (4, 'Umbrella');")
	waitUntil(t, 25*time.Second, "the post after the restart", func() bool { return len(posts()) >= 3 })
	settle(t, srv, "a run after the last post")
	want := []string{"New deal: Globex", "New deal: Hooli", "New deal: Umbrella"}
	if got := posts(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("posts = %q; want %q", got, want)
	}
	checkOwners("at the end")
	for _, l := range srv.Logs() {
		if l.Level == "error" && l.Message != "Data Sync: configuration problem" &&
			!strings.HasPrefix(l.Message, "Data Sync: the new configuration is invalid") {
			t.Fatalf("unexpected error log: %s %v", l.Message, l.KV)
		}
	}

	// The secret (the database path) never reached a log line.
	for _, l := range srv.Logs() {
		if strings.Contains(fmt.Sprint(l.Message, l.KV), db) {
			t.Fatalf("a log line shows the secret: %s %v", l.Message, l.KV)
		}
	}
	if strings.Contains(env.HostLog.String(), db) {
		t.Fatal("the host log shows the secret")
	}
}
