package e2e

// The buttons on change messages on the real server: pressed through
// POST /api/v4/posts/{id}/actions/{action}, as the webapp does. Acknowledge edits the post
// for the channel; Snooze this row (a select menu: the server passes the chosen option)
// keeps that row quiet while the others go on.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"datasync/tests/e2e/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

// buttonState is the ids of a post's actions and the texts of its attachments, read back
// from the server.
func buttonState(t *testing.T, postID string) (ids []string, texts string) {
	t.Helper()
	p, _, err := site.Admin.Client.GetPost(harness.Ctx(), postID, "")
	must(t, harness.Explain(err))
	raw, _ := json.Marshal(p.GetProp("attachments"))
	var atts []model.SlackAttachment
	if err := json.Unmarshal(raw, &atts); err != nil {
		t.Fatalf("the attachments of %q: %s (%v)", p.Message, raw, err)
	}
	var all []string
	for _, a := range atts {
		all = append(all, a.Text)
		for _, x := range a.Actions {
			ids = append(ids, x.Id)
		}
	}
	return ids, strings.Join(all, "\n")
}

func TestDataSyncRowButtons(t *testing.T) {
	dataSync(t)
	mark := logMark(t)
	w := newWarehouse(t, "CREATE TABLE {S}.alarms (id integer PRIMARY KEY, state text NOT NULL);")
	c, err := site.Channel("alarms", "pat")
	must(t, err)
	doc := fmt.Sprintf(`[connections.warehouse]
kind = "postgres"
url = "${env:WAREHOUSE_URL}"

[syncs.alarms]
connection = "warehouse"
sql = "SELECT id, state FROM %s.alarms ORDER BY id"
key = "id"
schedule = "manual"
channel = "acme/%s"
buttons = ["acknowledge", "snooze"]

[syncs.alarms.templates]
added = "alarm {{ row.id }}: {{ row.state }}"
changed = "alarm {{ row.id }} is now {{ row.state }}"
`, w.schema, c.Name)
	configure(t, doc, w.secrets(), map[string]any{"Operators": "pat"})
	admin, pat := site.Admin.Client, site.Users["pat"].Client
	runNow := runner(t, c.Id, "alarms")
	runNow() // the baseline
	w.exec("INSERT INTO {S}.alarms VALUES (1, 'disk full'), (2, 'cpu hot');")
	runNow()
	posts := channelPosts(t, c.Id)
	if got := messages(posts); len(got) != 2 || got[0] != "alarm 1: disk full" {
		t.Fatalf("posts: %q", got)
	}
	first, second := posts[0], posts[1]
	if ids, _ := buttonState(t, first.Id); strings.Join(ids, " ") != "acknowledge snooze" {
		t.Fatalf("the buttons: %v", ids)
	}

	// Acknowledge, pressed by the admin: the post says who, and loses that button.
	_, err = admin.DoPostAction(harness.Ctx(), first.Id, "acknowledge")
	must(t, harness.Explain(err))
	ids, texts := buttonState(t, first.Id)
	if strings.Join(ids, " ") != "snooze" || !strings.Contains(texts, "Acknowledged by @admin at ") {
		t.Fatalf("after Acknowledge: %v %q", ids, texts)
	}
	// Snooze this row for 1 hour, chosen by pat (an operator) in the select menu.
	_, err = pat.DoPostActionWithCookie(harness.Ctx(), first.Id, "snooze", "1h", "")
	must(t, harness.Explain(err))
	if _, texts := buttonState(t, first.Id); !strings.Contains(texts, "Snoozed by @pat until ") {
		t.Fatalf("after Snooze: %q", texts)
	}
	// Both rows change: only the row that is not snoozed is posted, in its thread.
	w.exec("UPDATE {S}.alarms SET state = state || ' again';")
	runNow()
	posts = channelPosts(t, c.Id)
	last := posts[len(posts)-1]
	if len(posts) != 3 || last.Message != "alarm 2 is now cpu hot again" || last.RootId != second.Id {
		t.Fatalf("after the snooze: %q", messages(posts))
	}
	resp, _, err := pat.ExecuteCommand(harness.Ctx(), c.Id, "/datasync status alarms")
	must(t, harness.Explain(err))
	if !strings.Contains(resp.Text, "**Snoozed rows:** 1") || !strings.Contains(resp.Text, "by @pat until") {
		t.Fatalf("/datasync status alarms as pat:\n%s", resp.Text)
	}
	noPluginErrors(t, mark)
}
