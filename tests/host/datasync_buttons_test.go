package hosttest

// The buttons a sync may put on its change messages, through the real host code
// (ServeHTTP): Acknowledge marks the post for the channel, Snooze this row keeps the row
// quiet for the chosen time; both are checked against the post itself and the presser's
// rights, whatever the request says.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
)

const cmdAlerts = `
[syncs.alerts]
connection = "src"
sql = "SELECT id, item FROM orders ORDER BY id"
key = "id"
schedule = "manual"
channel = "acme/ops"
buttons = ["acknowledge", "snooze"]

[syncs.alerts.templates]
added = "alert {{ row.id }}: {{ row.item }}"
changed = "alert {{ row.id }} is now {{ row.item }}"
`

// alertPosts is the bot's posts about alerts in acme/ops, oldest first.
func (e *cmdEnv) alertPosts() []*model.Post {
	var out []*model.Post
	for _, x := range e.p.srv.PostsInChannel(e.ops.Id) {
		if strings.HasPrefix(x.Message, "alert ") {
			out = append(out, x)
		}
	}
	return out
}

// post is a stored post as it is now.
func (e *cmdEnv) post(id string) *model.Post {
	e.p.t.Helper()
	for _, x := range e.p.srv.Posts() {
		if x.Id == id {
			return x
		}
	}
	e.p.t.Fatalf("no post %s", id)
	return nil
}

// runAlerts runs alerts as the admin and waits until they are told it finished.
func (e *cmdEnv) runAlerts(n int) string {
	e.p.t.Helper()
	e.expect("admin", "/datasync run alerts", "Running **alerts** now")
	return e.told("admin", n)
}

// buttonsOf is the ids of the actions in a post's attachments, and their texts.
func buttonsOf(t *testing.T, p *model.Post) (ids, texts []string) {
	t.Helper()
	raw, _ := json.Marshal(p.GetProp("attachments"))
	var atts []model.SlackAttachment
	if err := json.Unmarshal(raw, &atts); err != nil {
		t.Fatalf("the attachments of %q: %s (%v)", p.Message, raw, err)
	}
	for _, a := range atts {
		texts = append(texts, a.Text)
		for _, x := range a.Actions {
			ids = append(ids, x.Id)
		}
	}
	return ids, texts
}

func TestDataSyncRowButtons(t *testing.T) {
	dataSyncBinary(t)
	t.Parallel()
	e := newCmdEnv(t)
	p := e.p
	e.users["una"] = p.srv.AddUser("una", "una@example.com") // a viewer who cannot read acme/ops
	settings := func(syncs string) map[string]any {
		return map[string]any{
			"Syncs": syncs, "Secrets": "CMD_DB=" + e.db, "TickSeconds": 1, "PostsPerSecond": 0,
			"Viewers": "vic, una", "Operators": "team:dataops",
		}
	}
	p.reconfigure(settings(cmdSyncs + cmdAlerts))
	if got := e.runAlerts(1); !strings.Contains(got, "baseline") {
		t.Fatalf("the first run: %q", got)
	}
	pfSqlite(t, e.db, "INSERT INTO orders VALUES (1, 'disk full'), (2, 'cpu hot');")
	e.runAlerts(2)
	posts := e.alertPosts()
	if len(posts) != 2 {
		t.Fatalf("posts: %d", len(posts))
	}
	first, second := posts[0], posts[1]
	if ids, _ := buttonsOf(t, first); strings.Join(ids, " ") != "acknowledge snooze" {
		t.Fatalf("the buttons on %q: %v", first.Message, ids)
	}

	press := func(user string, post *model.Post, what, option string) (int, string) {
		return e.press(user, []byte(fmt.Sprintf(
			`{"user_id":"forged","post_id":%q,"channel_id":"forged","context":{"do":%q,"selected_option":%q}}`,
			post.Id, what, option)))
	}
	expect := func(user string, post *model.Post, what, option, want string) {
		t.Helper()
		if code, text := press(user, post, what, option); code != 200 || !strings.Contains(text, want) {
			t.Fatalf("%s pressed %s on %q: %d %q; want %q", user, what, post.Message, code, text, want)
		}
	}
	// Who may press what.
	expect("pat", first, "acknowledge", "", "You may not use Data Sync's commands or buttons")
	expect("una", first, "acknowledge", "", "You cannot read the channel")
	expect("vic", first, "snooze", "1h", "nor snooze their rows")
	// Acknowledge: once, shown on the post, its button gone.
	expect("vic", first, "acknowledge", "", "Acknowledged")
	expect("olga", first, "acknowledge", "", "@vic acknowledged this message already")
	marked := e.post(first.Id)
	ids, texts := buttonsOf(t, marked)
	if strings.Join(ids, " ") != "snooze" || !strings.Contains(strings.Join(texts, "\n"), "Acknowledged by @vic at ") {
		t.Fatalf("the acknowledged post: %v %q", ids, texts)
	}
	if marked.Message != first.Message {
		t.Fatalf("the text changed: %q", marked.Message)
	}
	// Snooze: the operator snoozes row 1; its next change is not posted, row 2's is.
	expect("olga", first, "snooze", "1d", "No messages about row `[1]` of **alerts** for 1 day")
	marked = e.post(first.Id)
	if _, texts := buttonsOf(t, marked); !strings.Contains(strings.Join(texts, "\n"), "Snoozed by @olga until ") {
		t.Fatalf("the snoozed post: %q", texts)
	}
	pfSqlite(t, e.db, "UPDATE orders SET item = item || ' again';")
	if got := e.runAlerts(3); !strings.Contains(got, "1 message") {
		t.Fatalf("the run with a snoozed row: %q", got)
	}
	posts = e.alertPosts()
	if len(posts) != 3 || posts[2].Message != "alert 2 is now cpu hot again" || posts[2].RootId != second.Id {
		t.Fatalf("after the snooze: %d posts, last %q", len(posts), posts[len(posts)-1].Message)
	}
	e.expect("olga", "/datasync status alerts", "**Snoozed rows:** 1", "`[1]` by @olga until ",
		"note: 1 message(s) not posted: their rows are snoozed")

	// Requests that name a post the buttons do not act on.
	theirs, appErr := p.srv.CreateUserPost(&model.Post{UserId: e.users["vic"].Id, ChannelId: e.ops.Id, Message: "hi"})
	if appErr != nil {
		t.Fatal(appErr)
	}
	expect("admin", theirs, "acknowledge", "", "not a Data Sync message about a row")
	expect("admin", &model.Post{Id: model.NewId()}, "acknowledge", "", "That message is gone")
	for _, c := range []struct{ body, want string }{
		{`{"context":{"do":"acknowledge"}}`, "names no post"},
		{fmt.Sprintf(`{"post_id":%q,"context":{"do":"snooze","selected_option":"forever"}}`, second.Id), `"forever" is not a snooze time on offer`},
	} {
		if code, text := e.press("admin", []byte(c.body)); code != 400 || !strings.Contains(text, c.want) {
			t.Fatalf("%s: %d %q", c.body, code, text)
		}
	}
	// Buttons the sync no longer offers do nothing.
	p.reconfigure(settings(cmdSyncs + strings.Replace(cmdAlerts, `buttons = ["acknowledge", "snooze"]`, `buttons = "acknowledge"`, 1)))
	expect("olga", second, "snooze", "1h", "**alerts** no longer offers this button")
	expect("olga", second, "acknowledge", "", "Acknowledged")
	p.noErrors()
}
