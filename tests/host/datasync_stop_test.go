package hosttest

// Deactivation in the middle of a paced delivery: the run stops between two messages (a
// note in its history, not a failure), releases its lease, and after re-activation the
// outbox delivers the rest at once, each message once, in order.

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

const burstSyncs = `
[connections.crm]
kind = "sqlite"
url = "${env:BURST_DB}"

[syncs.burst]
connection = "crm"
sql = "SELECT id FROM items ORDER BY id"
key = "id"
schedule = "every 10s"
first_run = "post"
max_messages = 1000
channel = "acme/alerts"

[syncs.burst.templates]
added = "item {{ row.id }}"
`

// syncHistory reads a sync's run history from the KV store.
func syncHistory(t *testing.T, srv *harness.Server, id, sync string) []map[string]any {
	t.Helper()
	raw := srv.KV(id, "ds1:"+sync+":history")
	if raw == nil {
		return nil
	}
	var records []map[string]any
	if err := json.Unmarshal(raw, &records); err != nil {
		t.Fatalf("history: %v: %s", err, raw)
	}
	return records
}

func TestDataSyncStopsBetweenMessagesAndResumes(t *testing.T) {
	ds := newDataSync(t)
	id, srv := ds.id, ds.Server
	team := srv.AddTeam("acme", "Acme")
	alerts := srv.AddChannel(team.Id, "alerts", "Alerts")
	db := filepath.Join(t.TempDir(), "burst.db")
	harness.RegisterSecret(db) // the suite-wide scan (secrets_test.go) looks for it everywhere
	const total = 60
	sqlite(t, db, fmt.Sprintf("CREATE TABLE items (id INTEGER PRIMARY KEY);"+
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < %d) INSERT INTO items SELECT i FROM n;", total))
	settings := map[string]any{
		"Syncs": burstSyncs, "Secrets": "BURST_DB=" + db,
		"TickSeconds": 1, "LeaseSeconds": 3, "PostsPerSecond": 10,
	}
	srv.SetPluginSettings(id, settings)
	ds.activate(t)
	count := func() int { return len(srv.PostsInChannel(alerts.Id)) }

	// Paced: after the first second's burst of 10, one message every 100 ms.
	waitUntil(t, 20*time.Second, "15 posts", func() bool { return count() >= 15 })
	posts := srv.PostsInChannel(alerts.Id)
	if span := posts[14].CreateAt - posts[9].CreateAt; span < 400 {
		t.Fatalf("posts 10 to 15 came %d ms apart; pacing at 10/s needs at least 400 ms", span)
	}

	// Deactivate mid-delivery: the run stops at its next message and says so.
	pid := ds.PluginPID(id)
	ds.Env.Env.Deactivate(id)
	if pid != 0 {
		if _, gone := harness.WaitGone(pid, 10*time.Second); !gone {
			t.Fatalf("plugin process %d still running after deactivation", pid)
		}
	}
	stopped := count()
	if stopped >= total {
		t.Fatalf("all %d messages were delivered before the deactivation; the test needs slower pacing", total)
	}
	history := syncHistory(t, srv, id, "burst")
	if len(history) != 1 {
		t.Fatalf("history after the deactivation: %v", history)
	}
	last := history[0]
	notes := fmt.Sprint(last["notes"])
	if last["ok"] != true || !strings.Contains(notes, "the plugin is stopping") {
		t.Fatalf("the stopped run's record: %v; want ok with a note that the plugin is stopping", last)
	}
	if runs := srv.HasLog("error", "Data Sync: run failed"); runs {
		t.Fatal("the stopped run was logged as a failure")
	}

	// A long lease now: the stopped run released its own, or this would wait 10 minutes.
	settings["LeaseSeconds"] = 600
	settings["PostsPerSecond"] = 0
	srv.SetPluginSettings(id, settings)
	ds.activate(t)
	waitUntil(t, 20*time.Second, "the rest of the outbox", func() bool { return count() >= total })
	waitUntil(t, 20*time.Second, "a run after the outbox", func() bool { return len(syncHistory(t, srv, id, "burst")) >= 2 })
	got := ds.messages(alerts.Id)
	var want []string
	for i := 1; i <= total; i++ {
		want = append(want, fmt.Sprintf("item %d", i))
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("posts (%d, %d before the stop) = %q; want item 1 … item %d once each, in order", len(got), stopped, got, total)
	}
	resumed := syncHistory(t, srv, id, "burst")[1]
	if resumed["ok"] != true || !strings.Contains(fmt.Sprint(resumed["notes"]), "left from an earlier run") {
		t.Fatalf("the resuming run's record: %v", resumed)
	}
}

// With no NoticeChannel, failure and recovery notices reach every active system admin by
// direct message from the bot, once each; plain users get none.
func TestDataSyncNoticesGoToAdminsWithoutANoticeChannel(t *testing.T) {
	ds := newDataSync(t)
	id, srv := ds.id, ds.Server
	team := srv.AddTeam("acme", "Acme")
	srv.AddChannel(team.Id, "alerts", "Alerts")
	ann := srv.AddAdmin("ann", "ann@example.com")
	bob := srv.AddAdmin("bob", "bob@example.com")
	carl := srv.AddUser("carl", "carl@example.com")
	db := filepath.Join(t.TempDir(), "burst.db")
	harness.RegisterSecret(db) // the suite-wide scan (secrets_test.go) looks for it everywhere
	sqlite(t, db, "CREATE TABLE other (id INTEGER PRIMARY KEY);")
	srv.SetPluginSettings(id, map[string]any{"Syncs": burstSyncs, "Secrets": "BURST_DB=" + db, "TickSeconds": 1})
	ds.activate(t)
	bot := srv.UserByUsername("datasync")
	dm := func(user string) []string {
		ch, appErr := srv.NewAPI(ds.manifest).GetDirectChannel(bot.Id, user)
		if appErr != nil {
			t.Fatal(appErr)
		}
		return ds.messages(ch.Id)
	}
	// The table is missing: every run fails, one notice per admin.
	waitUntil(t, 20*time.Second, "the failure notices", func() bool { return len(dm(ann.Id)) >= 1 && len(dm(bob.Id)) >= 1 })
	failed := len(syncHistory(t, srv, id, "burst"))
	waitUntil(t, 20*time.Second, "another failed run", func() bool { return len(syncHistory(t, srv, id, "burst")) > failed })
	sqlite(t, db, "CREATE TABLE items (id INTEGER PRIMARY KEY);")
	waitUntil(t, 20*time.Second, "the recovery notices", func() bool { return len(dm(ann.Id)) >= 2 && len(dm(bob.Id)) >= 2 })
	recovered := len(syncHistory(t, srv, id, "burst"))
	waitUntil(t, 20*time.Second, "another run", func() bool { return len(syncHistory(t, srv, id, "burst")) > recovered })
	for _, admin := range []*model.User{ann, bob} {
		got := dm(admin.Id)
		if len(got) != 2 || !strings.Contains(got[0], "**burst** is failing") || !strings.Contains(got[0], "no such table") ||
			!strings.Contains(got[1], "**burst** works again") {
			t.Fatalf("notices to %s = %q; want one failure notice, then one recovery notice", admin.Username, got)
		}
		if strings.Contains(strings.Join(got, "\n"), db) {
			t.Fatalf("a notice shows the secret database path: %q", got)
		}
	}
	if got := dm(carl.Id); len(got) != 0 {
		t.Fatalf("a plain user got notices: %q", got)
	}
}

// update_original: a change to a row replies in its thread and edits the thread's first
// post through the real host (UpdatePost), keeping its delivery id.
func TestDataSyncUpdatesTheOriginalPost(t *testing.T) {
	ds := newDataSync(t)
	id, srv := ds.id, ds.Server
	team := srv.AddTeam("acme", "Acme")
	alerts := srv.AddChannel(team.Id, "alerts", "Alerts")
	db := filepath.Join(t.TempDir(), "deals.db")
	harness.RegisterSecret(db)
	sqlite(t, db, "CREATE TABLE deals (id INTEGER PRIMARY KEY, stage TEXT NOT NULL);")
	doc := `
[connections.crm]
kind = "sqlite"
url = "${env:STAGE_DB}"

[syncs.stages]
connection = "crm"
sql = "SELECT id, stage FROM deals ORDER BY id"
key = "id"
schedule = "every 10s"
channel = "acme/alerts"
update_original = true

[syncs.stages.templates]
added = "Deal {{ row.id }}: {{ row.stage }}"
changed = "Deal {{ row.id }} moved from {{ previous.stage }} to {{ row.stage }}"
`
	srv.SetPluginSettings(id, map[string]any{"Syncs": doc, "Secrets": "STAGE_DB=" + db, "TickSeconds": 1})
	ds.activate(t)
	runs := func() int { return len(syncHistory(t, srv, id, "stages")) }
	waitUntil(t, 20*time.Second, "the baseline", func() bool { return runs() >= 1 })
	sqlite(t, db, "INSERT INTO deals VALUES (7, 'lead');")
	waitUntil(t, 25*time.Second, "the new deal", func() bool { return len(srv.PostsInChannel(alerts.Id)) >= 1 })
	sqlite(t, db, "UPDATE deals SET stage = 'won' WHERE id = 7;")
	waitUntil(t, 25*time.Second, "the change", func() bool { return len(srv.PostsInChannel(alerts.Id)) >= 2 })
	after := runs()
	waitUntil(t, 25*time.Second, "one more run", func() bool { return runs() > after })
	posts := srv.PostsInChannel(alerts.Id)
	if len(posts) != 2 {
		t.Fatalf("posts = %d; want the original and one reply", len(posts))
	}
	root, reply := posts[0], posts[1]
	if root.Message != "Deal 7: won" || root.EditAt == 0 {
		t.Fatalf("the original post = %q (EditAt %d); want it edited to %q", root.Message, root.EditAt, "Deal 7: won")
	}
	if root.GetProp("datasync_delivery") == nil {
		t.Fatalf("the edit dropped the delivery id: %v", root.GetProps())
	}
	if reply.Message != "Deal 7 moved from lead to won" || reply.RootId != root.Id {
		t.Fatalf("the reply = %q (root %q); want it in the original's thread (%q)", reply.Message, reply.RootId, root.Id)
	}
	if n := srv.APICalls("UpdatePost"); n != 1 {
		t.Fatalf("UpdatePost called %d times; want 1", n)
	}
}
