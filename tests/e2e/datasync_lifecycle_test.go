package e2e

// What an admin does to a running plugin, on the real server: saving a bad configuration,
// disabling and enabling it, upgrading it, the plugin process dying, a source failing, the
// whole server restarting. Each test feeds a PostgreSQL table to a sync that posts one
// message per new row, and checks that every row reaches the channel exactly once.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"datasync/tests/e2e/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

// feed is a table of events and the sync that posts each new one into its own channel.
type feed struct {
	t       *testing.T
	w       *warehouse
	name    string
	channel *model.Channel
	rows    int // rows inserted so far: ids 1..rows
}

func newFeed(t *testing.T, name string) *feed {
	t.Helper()
	w := newWarehouse(t, "CREATE TABLE {S}.events (id integer PRIMARY KEY, note text NOT NULL);")
	c, err := site.Channel(strings.ReplaceAll(name, "_", "-"), "pat")
	must(t, err)
	return &feed{t: t, w: w, name: name, channel: c}
}

// document is the whole Syncs setting: the warehouse connection and this feed's sync.
func (f *feed) document() string {
	return harness.EventsDocument(harness.EventSync{
		Name: f.name, Table: f.w.schema + ".events", Channel: f.channel.Name,
		Template: f.name + " {{ row.id }}: {{ row.note }}",
	})
}

// configure saves the feed's sync as the only one.
func (f *feed) configure(extra map[string]any) {
	f.t.Helper()
	configure(f.t, f.document(), f.w.secrets(), extra)
}

// add inserts n more rows.
func (f *feed) add(n int) {
	f.t.Helper()
	f.w.exec(fmt.Sprintf("INSERT INTO {S}.events SELECT i, 'event ' || i FROM generate_series(%d, %d) AS i;", f.rows+1, f.rows+n))
	f.rows += n
}

// posted is the ids of the feed's posts in the channel, in order.
func (f *feed) posted() []int {
	f.t.Helper()
	re := regexp.MustCompile(`^` + f.name + ` (\d+): event (\d+)$`)
	var ids []int
	for _, p := range channelPosts(f.t, f.channel.Id) {
		m := re.FindStringSubmatch(p.Message)
		if m == nil || m[1] != m[2] {
			f.t.Fatalf("an unexpected post in %s: %q", f.channel.Name, p.Message)
		}
		id, _ := strconv.Atoi(m[1])
		ids = append(ids, id)
	}
	return ids
}

// delivered waits until the channel has as many posts as rows were added and for a quiet
// run after that, and checks that each row was posted exactly once, in order.
func (f *feed) delivered(limit time.Duration) {
	f.t.Helper()
	var ids []int
	err := harness.WaitUntil(limit, func() (bool, error) {
		ids = f.posted()
		return len(ids) >= f.rows, nil
	})
	if err != nil {
		f.t.Fatalf("%s: %d of %d rows posted: %v", f.name, len(ids), f.rows, err)
	}
	// The run that posted the last rows may log after its posts appear; a quiet run after
	// it shows that nothing more is coming, and a repeat would show in the ids below.
	after := len(runs(f.t, f.name))
	err = harness.WaitUntil(limit, func() (bool, error) {
		for _, r := range runs(f.t, f.name)[after:] {
			if r.Get("messages") == "0" && r.Get("ok") == "true" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		f.t.Fatalf("%s: no quiet run after the delivery: %v", f.name, err)
	}
	ids = f.posted()
	for i, id := range ids {
		if id != i+1 || len(ids) != f.rows {
			f.t.Fatalf("%s: posted ids %v; want 1..%d, each once, in order", f.name, ids, f.rows)
		}
	}
}

// baseline waits for the sync's first run: it records the table as it is and posts nothing.
func (f *feed) baseline() {
	f.t.Helper()
	r := waitRuns(f.t, f.name, 1, time.Minute)[0]
	if r.Get("ok") != "true" || r.Get("baseline") != "true" {
		f.t.Fatalf("%s: the first run: %v", f.name, r)
	}
}

// noRebaseline fails if any run of the sync but the first was a baseline: state was kept.
func (f *feed) noRebaseline() {
	f.t.Helper()
	for i, r := range runs(f.t, f.name) {
		if i > 0 && r.Get("baseline") == "true" {
			f.t.Fatalf("%s: run %d was a baseline again (state lost): %v", f.name, i+1, r)
		}
	}
}

// stopNoise is what the server logs about a plugin process that stops or dies while it
// is calling the plugin's hooks (MessageHasBeenPosted for each post, OnDeactivate): its
// RPC client's errors, not the plugin's.
var stopNoise = []string{"to plugin failed"}

func TestDataSyncInvalidConfig(t *testing.T) {
	dataSync(t)
	mark := logMark(t)
	f := newFeed(t, "guarded")
	f.configure(nil)
	f.baseline()
	good, err := site.PluginSettings(dsID)
	must(t, err)

	// Saved as the System Console saves: the server asks the plugin, which refuses.
	bad := strings.Replace(f.document(), `schedule = "every 10s"`, `schedule = "every tuesday"`, 1)
	bad = strings.Replace(bad, `key = "id"`, `key = "id"
watched = ["no_such_column", 5]`, 1)
	err = site.SetPluginSettings(dsID, dsSettings(bad, f.w.secrets(), nil))
	if err == nil {
		t.Fatal("the server saved an invalid Syncs document")
	}
	for _, want := range []string{"400", `sync "guarded", field "schedule" (line `, `"every tuesday"`, `field "watched"`} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("the refusal does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), f.w.password()) {
		t.Fatalf("the refusal shows the warehouse password:\n%v", err)
	}
	// A bad number elsewhere is refused too, naming the setting.
	err = site.SetPluginSettings(dsID, dsSettings(f.document(), f.w.secrets(), map[string]any{"workers": 99}))
	if err == nil || !strings.Contains(err.Error(), "Workers") {
		t.Fatalf("Workers = 99 saved or refused without naming it: %v", err)
	}
	now, err := site.PluginSettings(dsID)
	must(t, err)
	if now["syncs"] != good["syncs"] {
		t.Fatalf("the refused document replaced the saved one:\n%v", now["syncs"])
	}
	// The last good configuration keeps running.
	f.add(3)
	f.delivered(time.Minute)
	noPluginErrors(t, mark)
}

func TestDataSyncDisableEnableUpgrade(t *testing.T) {
	dataSync(t)
	mark := logMark(t)
	f := newFeed(t, "lifecycle")
	f.configure(nil)
	f.baseline()
	f.add(5)
	f.delivered(time.Minute)

	// Disabled between runs: rows added meanwhile are posted once it is enabled again.
	must(t, site.Disable(dsID))
	f.add(5)
	must(t, site.Enable(dsID))
	f.delivered(time.Minute)

	// An upgrade (the same plugin as version 0.1.1-e2e), uploaded as rows arrive.
	upgrade, err := harness.WithVersion(bundle(t, "E2E_DATASYNC_BUNDLE"), "0.1.1-e2e")
	must(t, err)
	f.add(5)
	_, err = site.Upload(upgrade)
	must(t, err)
	must(t, site.WaitState(dsID, model.PluginStateRunning, time.Minute))
	if _, v, _ := site.State(dsID); v != "0.1.1-e2e" {
		t.Fatalf("running version %q after the upgrade", v)
	}
	f.add(5)
	f.delivered(time.Minute)
	f.noRebaseline()
	// Back to the version under test, for the tests after this one.
	_, err = site.Upload(bundle(t, "E2E_DATASYNC_BUNDLE"))
	must(t, err)
	must(t, site.WaitState(dsID, model.PluginStateRunning, time.Minute))
	// The server's own lines about hook calls cut short by the stop are expected.
	noPluginErrors(t, mark, stopNoise...)
}

func TestDataSyncKill9DuringDelivery(t *testing.T) {
	dataSync(t)
	mark := logMark(t)
	f := newFeed(t, "burst")
	// Paced, so that killing "during delivery" is not a matter of luck.
	f.configure(map[string]any{"PostsPerSecond": 50})
	f.baseline()
	pid, err := site.Server.PluginPID(dsID)
	must(t, err)
	f.add(300)
	err = harness.WaitUntil(time.Minute, func() (bool, error) { return len(f.posted()) >= 40, nil })
	must(t, err)
	must(t, syscall.Kill(pid, syscall.SIGKILL))
	killedAt := len(f.posted())
	if killedAt >= 300 {
		t.Fatalf("all %d messages were posted before the kill", killedAt)
	}
	t.Logf("killed the plugin (pid %d) after %d of 300 messages", pid, killedAt)

	// The server notices the dead process and restarts it (its plugin health check).
	var restarted int
	err = harness.WaitUntil(2*time.Minute, func() (bool, error) {
		p, err := site.Server.PluginPID(dsID)
		restarted = p
		return err == nil && p != pid, nil
	})
	if err != nil {
		t.Fatalf("the server did not restart the killed plugin: %v", err)
	}
	must(t, site.WaitState(dsID, model.PluginStateRunning, time.Minute))
	t.Logf("the server restarted the plugin as pid %d", restarted)
	f.delivered(2 * time.Minute)
	f.noRebaseline()
	// What the server logs about the process it lost is expected.
	noPluginErrors(t, mark, append([]string{"plugin process exited"}, stopNoise...)...)
}

func TestDataSyncFailureNotices(t *testing.T) {
	dataSync(t)
	mark := logMark(t)
	notices, err := site.Channel("datasync-notices", "pat")
	must(t, err)
	f := newFeed(t, "flaky")
	f.configure(map[string]any{"NoticeChannel": "acme/" + notices.Name})
	f.baseline()

	// The source breaks: the table is gone for three runs.
	f.w.exec("ALTER TABLE {S}.events RENAME TO events_away;")
	n := len(runs(t, "flaky"))
	failed := waitRuns(t, "flaky", n+3, time.Minute)[n:]
	for _, r := range failed {
		if r.Get("ok") != "false" || r.Get("level") != "error" {
			t.Fatalf("a run while the table was away: %v", r)
		}
	}
	f.w.exec("ALTER TABLE {S}.events_away RENAME TO events;")
	f.add(2)
	f.delivered(time.Minute)

	got := messages(channelPosts(t, notices.Id))
	if len(got) != 2 {
		t.Fatalf("notices: %q; want one failure and one recovery", got)
	}
	if !strings.HasPrefix(got[0], ":warning: Data Sync: **flaky** is failing") || !strings.Contains(got[0], "events") {
		t.Fatalf("the failure notice: %q", got[0])
	}
	if !strings.HasPrefix(got[1], ":white_check_mark: Data Sync: **flaky** works again") {
		t.Fatalf("the recovery notice: %q", got[1])
	}
	for _, m := range got {
		if strings.Contains(m, f.w.password()) {
			t.Fatalf("a notice shows the warehouse password: %q", m)
		}
	}
	// The notice's Pause button, pressed through the post-action API as the admin.
	posts := channelPosts(t, notices.Id)
	_, err = site.Admin.Client.DoPostAction(harness.Ctx(), posts[0].Id, "pause")
	must(t, harness.Explain(err))
	resp, _, err := site.Admin.Client.ExecuteCommand(harness.Ctx(), notices.Id, "/datasync status flaky")
	must(t, harness.Explain(err))
	if !strings.Contains(resp.Text, "paused by @admin") {
		t.Fatalf("after pressing Pause, /datasync status says:\n%s", resp.Text)
	}
	noPluginErrors(t, mark, "Data Sync: run failed flaky")
}

func TestDataSyncServerRestart(t *testing.T) {
	dataSync(t)
	mark := logMark(t)
	f := newFeed(t, "survivor")
	f.configure(nil)
	f.baseline()
	f.add(3)
	f.delivered(time.Minute)

	// The whole server stops (as a service manager stops it); rows arrive meanwhile.
	must(t, site.Server.Stop())
	f.add(3)
	must(t, site.Server.Start())
	must(t, site.WaitState(dsID, model.PluginStateRunning, time.Minute))
	f.delivered(time.Minute)
	f.noRebaseline()
	noPluginErrors(t, mark, stopNoise...)
}
