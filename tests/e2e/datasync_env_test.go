package e2e

// Data Sync on the real server: installed once by scripts/deploy.sh (what `make deploy`
// runs), configured through the config API, observed through posts read by REST and the
// run lines the plugin writes to the server's log.

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"datasync/tests/e2e/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

const dsID = "datasync"

var dsInstalled struct {
	done     bool
	err      error
	bot      *model.User
	uploaded time.Duration // from the upload's start to the plugin running
}

// dataSync installs Data Sync the first time a test needs it and returns its bot.
func dataSync(t *testing.T) *model.User {
	t.Helper()
	if !dsInstalled.done {
		dsInstalled.done = true
		dsInstalled.bot, dsInstalled.err = deployDataSync()
	}
	if dsInstalled.err != nil {
		t.Fatal(dsInstalled.err)
	}
	return dsInstalled.bot
}

// deployDataSync runs scripts/deploy.sh with the admin's token, as an admin would.
func deployDataSync() (*model.User, error) {
	start := time.Now()
	cmd := exec.Command("bash", "scripts/deploy.sh", os.Getenv("E2E_DATASYNC_BUNDLE"))
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "MM_SERVICESETTINGS_SITEURL="+site.Server.URL, "MM_ADMIN_TOKEN="+site.Token, "MM_LOCALSOCKETPATH=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("scripts/deploy.sh: %v\n%s", err, out)
	}
	if err := site.WaitState(dsID, model.PluginStateRunning, time.Minute); err != nil {
		return nil, err
	}
	dsInstalled.uploaded = time.Since(start)
	var bot *model.User
	err := harness.WaitUntil(30*time.Second, func() (bool, error) {
		u, resp, err := site.Admin.Client.GetUserByUsername(harness.Ctx(), "datasync", "")
		if resp != nil && resp.StatusCode == 404 {
			return false, nil
		}
		bot = u
		return err == nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("the datasync bot: %w", err)
	}
	if !bot.IsBot {
		return nil, fmt.Errorf("user datasync is not a bot")
	}
	return bot, nil
}

func repoRoot() string {
	wd, _ := os.Getwd()
	return filepath.Dir(filepath.Dir(wd))
}

// configure saves Data Sync's settings through the config API: the syncs document, the
// secrets, a one-second tick (config-only) and pacing off unless extra says otherwise.
func configure(t *testing.T, syncs, secrets string, extra map[string]any) {
	t.Helper()
	must(t, site.SetPluginSettings(dsID, dsSettings(syncs, secrets, extra)))
}

func dsSettings(syncs, secrets string, extra map[string]any) map[string]any {
	s := map[string]any{
		"syncs": syncs, "secrets": secrets, "tickseconds": 1, "leaseseconds": 5,
		"postspersecond": 0, "noticechannel": "",
	}
	for k, v := range extra {
		s[strings.ToLower(k)] = v
	}
	return s
}

// run is one "run finished" / "run failed" line of the plugin's log.
type run = harness.LogLine

// runs is every run of a sync the plugin has logged, oldest first.
func runs(t *testing.T, sync string) []run {
	t.Helper()
	lines, err := site.Server.PluginLog(dsID)
	must(t, err)
	var out []run
	for _, l := range lines {
		m := l.Get("msg")
		if (m == "Data Sync: run finished" || m == "Data Sync: run failed") && l.Get("sync") == sync {
			out = append(out, l)
		}
	}
	return out
}

// waitRuns waits until a sync has logged at least n runs in all.
func waitRuns(t *testing.T, sync string, n int, limit time.Duration) []run {
	t.Helper()
	var got []run
	err := harness.WaitUntil(limit, func() (bool, error) {
		got = runs(t, sync)
		return len(got) >= n, nil
	})
	if err != nil {
		t.Fatalf("sync %s: %d runs, want %d: %v", sync, len(got), n, err)
	}
	return got
}

// runner runs a sync now, as the admin with `/datasync run` in its channel, and waits for
// the run to be logged; each call counts on the runs before it being the sync's only ones.
func runner(t *testing.T, channelID, sync string) func() {
	runs := 0
	return func() {
		t.Helper()
		_, _, err := site.Admin.Client.ExecuteCommand(harness.Ctx(), channelID, "/datasync run "+sync)
		must(t, harness.Explain(err))
		runs++
		waitRuns(t, sync, runs, time.Minute)
	}
}

// settle waits until a sync, after its first `after` runs, has finished a run that posted
// and then a run that posted nothing: what the data change caused has been delivered.
func settle(t *testing.T, sync string, after int, limit time.Duration) {
	t.Helper()
	err := harness.WaitUntil(limit, func() (bool, error) {
		posted, quiet := false, false
		for _, r := range runs(t, sync)[after:] {
			if r.Get("messages") != "0" {
				posted, quiet = true, false
			} else if posted {
				quiet = true
			}
		}
		return quiet, nil
	})
	if err != nil {
		t.Fatalf("sync %s: no run that posted followed by a quiet one: %v\n%v", sync, err, runs(t, sync)[after:])
	}
}

// quietRuns waits for n more runs of a sync and fails if any of them posted or failed.
func quietRuns(t *testing.T, sync string, after, n int, limit time.Duration) {
	t.Helper()
	for _, r := range waitRuns(t, sync, after+n, limit)[after:] {
		if r.Get("messages") != "0" || r.Get("ok") != "true" {
			t.Fatalf("sync %s: a run that should have posted nothing: %v", sync, r)
		}
	}
}

// logMark is how many lines the plugin has logged so far: a test's own lines come after.
func logMark(t *testing.T) int {
	t.Helper()
	lines, err := site.Server.PluginLog(dsID)
	must(t, err)
	return len(lines)
}

// noPluginErrors fails on any error line the plugin logged after mark, other than the
// expected ones.
func noPluginErrors(t *testing.T, mark int, allowed ...string) {
	t.Helper()
	lines, err := site.Server.PluginLog(dsID)
	must(t, err)
	for _, l := range lines[mark:] {
		if l.Get("level") != "error" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || strings.Contains(l.Get("msg")+" "+l.Get("sync")+" "+l.Get("error"), a)
		}
		if !ok {
			t.Errorf("the plugin logged an error: %v", l)
		}
	}
}

// warehouse is the PostgreSQL database the syncs read, with psql for the test's changes.
type warehouse struct {
	t      *testing.T
	url    string
	schema string
}

// newWarehouse creates a fresh schema for one test and drops it afterwards.
func newWarehouse(t *testing.T, ddl string) *warehouse {
	t.Helper()
	w := &warehouse{t: t, url: os.Getenv("E2E_WAREHOUSE_URL"), schema: fmt.Sprintf("e2e_%s_%d", strings.ToLower(t.Name()), time.Now().UnixNano()%1e6)}
	w.exec("CREATE SCHEMA " + w.schema + ";\n" + ddl)
	t.Cleanup(func() { w.exec("DROP SCHEMA " + w.schema + " CASCADE;") })
	return w
}

// sub puts the schema's name where the text says {S}.
func (w *warehouse) sub(s string) string { return strings.ReplaceAll(s, "{S}", w.schema) }

// exec runs SQL in one transaction.
func (w *warehouse) exec(sql string) {
	w.t.Helper()
	if err := harness.Psql(w.url, w.sub(sql)); err != nil {
		w.t.Fatalf("%v\n%s", err, sql)
	}
}

// secrets is the Secrets setting that gives the syncs the warehouse's URL.
func (w *warehouse) secrets() string { return "WAREHOUSE_URL=" + w.url }

// password is the warehouse password, which must never show in posts or logs.
func (w *warehouse) password() string {
	u, err := url.Parse(w.url)
	if err != nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}

// messages is the text of posts.
func messages(posts []*model.Post) []string {
	out := make([]string, 0, len(posts))
	for _, p := range posts {
		out = append(out, p.Message)
	}
	return out
}

// channelPosts is every non-system post of a channel, read as the admin.
func channelPosts(t *testing.T, channelID string) []*model.Post {
	t.Helper()
	all, err := harness.Posts(site.Admin.Client, channelID)
	must(t, err)
	return harness.UserPosts(all)
}
