package hosttest

// /datasync through the real host code (ExecuteCommand, ServeHTTP): every subcommand, the
// argument errors, the autocomplete registration and its dynamic list of syncs, and who
// may do what: a system admin, a viewer, an operator, a user with no access, and users
// who cannot read a sync's channel.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

const cmdSyncs = `
allowed_channels = ["acme"]

[connections.src]
kind = "sqlite"
url = "${env:CMD_DB}"

# Runs only when asked: the test decides when.
[syncs.orders]
connection = "src"
sql = "SELECT id, item FROM orders ORDER BY id"
key = "id"
schedule = "manual"
channel = "acme/ops"

[syncs.orders.templates]
added = "order {{ row.id }}: {{ row.item }}"

[syncs.ticking]
connection = "src"
sql = "SELECT id FROM orders ORDER BY id"
key = "id"
schedule = "every 10s"
channel = "acme/ops"

[syncs.ticking.templates]
added = "ticking {{ row.id }}"

# Each row picks its own channel: only admins see it.
[syncs.routed]
connection = "src"
sql = "SELECT id, 'acme/ops' AS target FROM orders"
key = "id"
schedule = "manual"
channel_column = "target"

[syncs.routed.templates]
added = "routed {{ row.id }}"

[syncs.secret]
connection = "src"
sql = "SELECT id FROM orders"
key = "id"
schedule = "manual"
channel = "acme/board"

[syncs.secret.templates]
added = "secret {{ row.id }}"
`

// cmdEnv is Data Sync with its users: an admin, a viewer (vic), an operator (olga) and a
// user with no access (pat); vic and olga can read acme/ops, nobody but admins acme/board.
type cmdEnv struct {
	p          *pfPlugin
	db         string
	ops, board *model.Channel
	users      map[string]*model.User
}

func newCmdEnv(t *testing.T) *cmdEnv {
	db := filepath.Join(t.TempDir(), "cmd.db")
	pfSqlite(t, db, "CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL);")
	p := pfNew(t, map[string]any{
		"Syncs": cmdSyncs, "Secrets": "CMD_DB=" + db, "TickSeconds": 1, "PostsPerSecond": 0,
		"Viewers": "vic, @Nobody", "Operators": "team:dataops",
	})
	e := &cmdEnv{p: p, db: db, users: map[string]*model.User{}}
	team := p.srv.AddTeam("acme", "Acme")
	dataops := p.srv.AddTeam("dataops", "Data ops")
	e.ops = p.srv.AddChannel(team.Id, "ops", "Ops")
	e.board = p.srv.AddChannel(team.Id, "board", "Board")
	e.users["admin"] = p.srv.AddAdmin("admin", "admin@example.com")
	for _, name := range []string{"vic", "olga", "pat"} {
		e.users[name] = p.srv.AddUser(name, name+"@example.com")
	}
	for _, name := range []string{"vic", "olga"} {
		p.srv.GrantChannel(e.users[name].Id, e.ops.Id, model.PermissionReadChannel.Id)
	}
	p.srv.GrantTeam(e.users["olga"].Id, dataops.Id, model.PermissionViewTeam.Id)
	p.activate(0)
	return e
}

// run runs a command as a user in acme/ops; the ephemeral reply.
func (e *cmdEnv) run(user, text string) string {
	e.p.t.Helper()
	hooks, err := e.p.nodes[0].Hooks(e.p.id)
	if err != nil {
		e.p.t.Fatal(err)
	}
	resp, appErr := hooks.ExecuteCommand(&plugin.Context{RequestId: model.NewId()}, &model.CommandArgs{
		UserId: e.users[user].Id, ChannelId: e.ops.Id, Command: text,
		UserMentions: model.UserMentionMap{}, ChannelMentions: model.ChannelMentionMap{},
	})
	if appErr != nil {
		e.p.t.Fatalf("%s as %s: %v", text, user, appErr)
	}
	if resp.ResponseType != model.CommandResponseTypeEphemeral {
		e.p.t.Fatalf("%s as %s: a %q reply, not ephemeral", text, user, resp.ResponseType)
	}
	return resp.Text
}

// expect runs a command and checks that the reply holds every wanted text.
func (e *cmdEnv) expect(user, text string, want ...string) string {
	e.p.t.Helper()
	reply := e.run(user, text)
	for _, w := range want {
		if !strings.Contains(reply, w) {
			e.p.t.Fatalf("%s as %s: the reply lacks %q:\n%s", text, user, w, reply)
		}
	}
	return reply
}

// told waits for the n-th ephemeral post the bot sent a user (a run's result).
func (e *cmdEnv) told(user string, n int) string {
	e.p.t.Helper()
	var got []string
	waitUntil(e.p.t, 20*time.Second, fmt.Sprintf("%d ephemeral posts to %s", n, user), func() bool {
		got = nil
		for _, p := range e.p.srv.Ephemerals() {
			if p.UserID == e.users[user].Id {
				got = append(got, p.Post.Message)
			}
		}
		return len(got) >= n
	})
	return got[n-1]
}

// autocomplete asks one of the plugin's dynamic lists ("syncs", "connections") as a user
// ("" = no session).
func (e *cmdEnv) autocomplete(list, user string) (int, []string) {
	e.p.t.Helper()
	hooks, err := e.p.nodes[0].Hooks(e.p.id)
	if err != nil {
		e.p.t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/api/v1/autocomplete/"+list+"?user_input=x", nil)
	if user != "" {
		r.Header.Set("Mattermost-User-Id", e.users[user].Id)
	}
	w := httptest.NewRecorder()
	hooks.ServeHTTP(&plugin.Context{RequestId: model.NewId()}, w, r)
	var items []model.AutocompleteListItem
	_ = json.Unmarshal(w.Body.Bytes(), &items)
	var names []string
	for _, it := range items {
		names = append(names, it.Item)
	}
	return w.Code, names
}

func TestDataSyncCommands(t *testing.T) {
	dataSyncBinary(t)
	t.Parallel()
	e := newCmdEnv(t)
	p := e.p

	// The registration: /datasync for every team, every subcommand in its autocomplete.
	cmd := p.srv.Command(p.id, "datasync")
	if cmd == nil || cmd.AutocompleteData == nil || cmd.TeamId != "" {
		t.Fatalf("the /datasync registration: %+v", cmd)
	}
	var subs []string
	for _, s := range cmd.AutocompleteData.SubCommands {
		subs = append(subs, s.Trigger)
		if len(s.Arguments) == 1 && s.Arguments[0].Type != model.AutocompleteArgTypeDynamicList {
			t.Fatalf("the sync argument of %s is a %s", s.Trigger, s.Arguments[0].Type)
		}
	}
	if got := strings.Join(subs, " "); got != "list validate help status history run preview pause resume reset test" {
		t.Fatalf("autocomplete subcommands: %s", got)
	}
	for _, c := range []struct {
		list, user string
		code       int
		names      string
	}{
		{"syncs", "admin", 200, "orders ticking routed secret"},
		{"syncs", "vic", 200, "orders ticking"},
		{"syncs", "pat", 200, ""},
		{"syncs", "", 401, ""},
		{"connections", "olga", 200, "src"},
		{"connections", "vic", 200, ""},
		{"connections", "", 401, ""},
	} {
		if code, names := e.autocomplete(c.list, c.user); code != c.code || strings.Join(names, " ") != c.names {
			t.Fatalf("autocomplete %s as %q: %d %v", c.list, c.user, code, names)
		}
	}

	// Who sees what.
	e.expect("admin", "/datasync list", "| **orders** | manual only | acme/ops |", "**routed**", "**secret**", "each row's `target`")
	vicList := e.expect("vic", "/datasync list", "**orders**", "**ticking**")
	if strings.Contains(vicList, "routed") || strings.Contains(vicList, "secret") {
		t.Fatalf("vic sees a sync posting where vic cannot read:\n%s", vicList)
	}
	e.expect("vic", "/datasync status secret", "You cannot see **secret**")
	e.expect("vic", "/datasync status nope", "There is no sync named `nope`. Syncs: `orders`, `ticking`.")
	e.expect("vic", "/datasync run orders", "You may look at syncs but not run", "*Operators*")
	e.expect("vic", "/datasync preview orders", "not run, preview")
	e.expect("pat", "/datasync list", "You may not use Data Sync's commands", "*Viewers* or *Operators*")
	e.expect("pat", "/datasync help", "You may not use Data Sync's commands")
	e.expect("olga", "/datasync run secret", "You cannot see **secret**")
	e.expect("olga", "/datasync help", "| `/datasync run <sync>` |", "on the syncs that post into channels you can read")

	// Argument errors.
	e.expect("admin", "/datasync run", "Which sync? Usage: `/datasync run <sync>`")
	e.expect("admin", "/datasync history orders lots", "`lots` is not a number of runs")
	e.expect("admin", "/datasync frobnicate", "`frobnicate` is not a Data Sync command")
	e.expect("admin", "/datasync validate", "The saved configuration is valid: 4 syncs, 1 connection.")

	// test: a connection answers (here SQLite, with its version); operators only.
	e.expect("olga", "/datasync test src", ":white_check_mark: Connection **src** works: SQLite 3.")
	e.expect("admin", "/datasync test nope", "There is no connection named `nope`. Connections: `src`.")
	e.expect("vic", "/datasync test src", "You may look at syncs but not run")

	// run: the first run is the baseline, the operator is told when it finishes.
	e.expect("olga", "/datasync run orders", "Running **orders** now")
	if got := e.told("olga", 1); !strings.Contains(got, "**orders** finished in") || !strings.Contains(got, "baseline recorded") {
		t.Fatalf("olga was told: %q", got)
	}
	pfSqlite(t, e.db, "INSERT INTO orders VALUES (1, 'tea'), (2, 'cake');")
	// preview: the messages the next run would post; nothing is posted or stored.
	e.expect("olga", "/datasync preview orders", "Preview of **orders**", "order 1: tea", "order 2: cake", "~ops")
	if n := len(p.srv.PostsInChannel(e.ops.Id)); n != 0 {
		t.Fatalf("preview posted %d messages", n)
	}
	e.expect("olga", "/datasync run orders", "Running **orders** now")
	if got := e.told("olga", 2); !strings.Contains(got, "2 messages posted") {
		t.Fatalf("olga was told: %q", got)
	}
	var orders []string
	for _, x := range p.srv.PostsInChannel(e.ops.Id) {
		if strings.HasPrefix(x.Message, "order ") {
			orders = append(orders, x.Message)
		}
	}
	if strings.Join(orders, "|") != "order 1: tea|order 2: cake" {
		t.Fatalf("posts after run: %q", orders)
	}
	e.expect("vic", "/datasync history orders", "#### orders: the last 2 runs", "| baseline |", "| ok |")
	e.expect("vic", "/datasync status orders", "- **Last run:**", "2 messages posted", "- **Next run:** only when run")

	// pause stops the schedule, resume restarts it; status and list say so.
	waitUntil(t, 20*time.Second, "a first run of ticking", func() bool { return len(p.runs("ticking")) > 0 })
	e.expect("admin", "/datasync pause ticking", "Paused **ticking**")
	e.expect("admin", "/datasync pause ticking", "**ticking** is paused already.")
	e.expect("vic", "/datasync status ticking", "paused by @admin", "- **Paused** by @admin")
	before := len(p.runs("ticking"))
	time.Sleep(12 * time.Second) // longer than its interval
	if n := len(p.runs("ticking")); n != before {
		t.Fatalf("ticking ran %d times while paused", n-before)
	}
	e.expect("admin", "/datasync resume ticking", "Resumed **ticking**")
	waitUntil(t, 15*time.Second, "a run of ticking after resume", func() bool { return len(p.runs("ticking")) > before })
	e.expect("admin", "/datasync resume ticking", "**ticking** was not paused.")

	// reset asks first, then forgets: the next run is a baseline again.
	e.expect("olga", "/datasync reset orders", "To go ahead: `/datasync reset orders confirm`")
	e.expect("olga", "/datasync history orders", "the last 2 runs")
	e.expect("olga", "/datasync reset orders confirm", "Reset **orders**")
	e.expect("olga", "/datasync history orders", "**orders** has not run yet.")
	e.expect("olga", "/datasync run orders", "Running **orders** now")
	if got := e.told("olga", 3); !strings.Contains(got, "baseline recorded") {
		t.Fatalf("the run after reset: %q", got)
	}
	p.noErrors()
}

// say posts text as a user in a channel and hands the post to MessageHasBeenPosted.
func (e *cmdEnv) say(user, channelID, text string) *model.Post {
	e.p.t.Helper()
	post, appErr := e.p.srv.CreateUserPost(&model.Post{UserId: e.users[user].Id, ChannelId: channelID, Message: text})
	if appErr != nil {
		e.p.t.Fatal(appErr)
	}
	hooks, err := e.p.nodes[0].Hooks(e.p.id)
	if err != nil {
		e.p.t.Fatal(err)
	}
	hooks.MessageHasBeenPosted(&plugin.Context{}, post)
	return post
}

// threadReplies is what the bot posted in a post's thread.
func (e *cmdEnv) threadReplies(root *model.Post) []*model.Post {
	var out []*model.Post
	for _, x := range e.p.srv.PostsInChannel(root.ChannelId) {
		if x.RootId == root.Id {
			out = append(out, x)
		}
	}
	return out
}

func TestDataSyncBotConversation(t *testing.T) {
	dataSyncBinary(t)
	t.Parallel()
	e := newCmdEnv(t)
	p := e.p
	bot := p.bot()
	dm, appErr := p.srv.NewAPI(&model.Manifest{Id: "test"}).GetDirectChannel(e.users["vic"].Id, bot.Id)
	if appErr != nil {
		t.Fatal(appErr)
	}

	// A direct message: the command in plain words, answered as the bot in its thread.
	q := e.say("vic", dm.Id, "status orders")
	var replies []*model.Post
	waitUntil(t, 10*time.Second, "the bot's answer in the DM", func() bool {
		replies = e.threadReplies(q)
		return len(replies) == 1
	})
	if r := replies[0]; r.UserId != bot.Id || !strings.Contains(r.Message, "#### orders") || !strings.Contains(r.Message, "- **Next run:** only when run") {
		t.Fatalf("the answer to vic's DM: %+v", r)
	}
	// Words it does not understand: short help. Commands vic may not use: the denial.
	q = e.say("vic", dm.Id, "what's up?")
	waitUntil(t, 10*time.Second, "the help answer", func() bool { return len(e.threadReplies(q)) == 1 })
	if m := e.threadReplies(q)[0].Message; !strings.Contains(m, "is not a Data Sync command") || !strings.Contains(m, "I understand the `/datasync` commands") {
		t.Fatalf("the answer to gibberish: %q", m)
	}
	q = e.say("vic", dm.Id, "@datasync run orders")
	waitUntil(t, 10*time.Second, "the denial", func() bool { return len(e.threadReplies(q)) == 1 })
	if m := e.threadReplies(q)[0].Message; !strings.Contains(m, "not run, preview") {
		t.Fatalf("the answer to vic's run: %q", m)
	}

	// A mention in a channel: answered to the asker alone, in the thread; the run's result
	// comes there too.
	posts := len(p.srv.PostsInChannel(e.ops.Id))
	q = e.say("olga", e.ops.Id, "@datasync run orders")
	first := e.told("olga", 1)
	if !strings.Contains(first, "Running **orders** now") {
		t.Fatalf("olga's first answer: %q", first)
	}
	if done := e.told("olga", 2); !strings.Contains(done, "**orders** finished") {
		t.Fatalf("olga's run result: %q", done)
	}
	for _, x := range p.srv.Ephemerals() {
		if x.UserID == e.users["olga"].Id && (x.Post.RootId != q.Id || x.Post.ChannelId != e.ops.Id) {
			t.Fatalf("an answer outside the thread: %+v", x.Post)
		}
	}
	if n := len(p.srv.PostsInChannel(e.ops.Id)); n != posts+1 {
		t.Fatalf("the channel got %d posts besides olga's question", n-posts-1)
	}

	// Not for the bot: a channel post without a mention, the bot's own posts, other bots.
	silent := []*model.Post{
		e.say("olga", e.ops.Id, "status orders"),
		e.say("olga", e.ops.Id, "@datasyncer status orders"),
	}
	own, _ := p.srv.CreateUserPost(&model.Post{UserId: bot.Id, ChannelId: dm.Id, Message: "status orders"})
	webhook, _ := p.srv.CreateUserPost(&model.Post{UserId: e.users["vic"].Id, ChannelId: dm.Id, Message: "status orders",
		Props: model.StringInterface{"from_webhook": "true"}})
	hooks, _ := p.nodes[0].Hooks(p.id)
	hooks.MessageHasBeenPosted(&plugin.Context{}, own)
	hooks.MessageHasBeenPosted(&plugin.Context{}, webhook)
	silent = append(silent, own, webhook)

	// MentionOnly: a DM without the mention is not answered; with it, it is.
	p.reconfigure(map[string]any{
		"Syncs": cmdSyncs, "Secrets": "CMD_DB=" + e.db, "TickSeconds": 1, "PostsPerSecond": 0,
		"Viewers": "vic", "Operators": "team:dataops", "MentionOnly": true,
	})
	silent = append(silent, e.say("vic", dm.Id, "status orders"))
	q = e.say("vic", dm.Id, "@datasync status orders")
	waitUntil(t, 10*time.Second, "the answer with MentionOnly", func() bool { return len(e.threadReplies(q)) == 1 })
	time.Sleep(time.Second) // an answer to the silent posts would have come by now
	for _, s := range silent {
		if r := e.threadReplies(s); len(r) != 0 {
			t.Fatalf("the bot answered %q: %q", s.Message, r[0].Message)
		}
	}
	// Olga's silent channel posts would have been answered to her alone.
	n := 0
	for _, x := range p.srv.Ephemerals() {
		if x.UserID == e.users["olga"].Id {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("olga got %d answers; want the 2 about her run", n)
	}
	p.noErrors()
}

// press sends a message action to the plugin as the server does for a button press
// (user "" = no session); the status and the answer's ephemeral text (or error).
func (e *cmdEnv) press(user string, body []byte) (int, string) {
	e.p.t.Helper()
	hooks, err := e.p.nodes[0].Hooks(e.p.id)
	if err != nil {
		e.p.t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/api/v1/actions", bytes.NewReader(body))
	if user != "" {
		r.Header.Set("Mattermost-User-Id", e.users[user].Id)
	}
	w := httptest.NewRecorder()
	hooks.ServeHTTP(&plugin.Context{RequestId: model.NewId()}, w, r)
	var answer struct {
		EphemeralText string `json:"ephemeral_text"`
		Error         string `json:"error"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &answer)
	return w.Code, answer.EphemeralText + answer.Error
}

const cmdBroken = `
[syncs.broken]
connection = "src"
sql = "SELECT id FROM missing_table"
key = "id"
schedule = "every 10s"
channel = "acme/ops"

[syncs.broken.templates]
added = "broken {{ row.id }}"
`

func TestDataSyncNoticeActions(t *testing.T) {
	dataSyncBinary(t)
	t.Parallel()
	e := newCmdEnv(t)
	p := e.p
	p.reconfigure(map[string]any{
		"Syncs": cmdSyncs + cmdBroken, "Secrets": "CMD_DB=" + e.db, "TickSeconds": 1, "PostsPerSecond": 0,
		"Viewers": "vic", "Operators": "team:dataops", "NoticeChannel": "acme/board",
	})
	var notice *model.Post
	waitUntil(t, 20*time.Second, "the failure notice of broken", func() bool {
		for _, x := range p.srv.PostsInChannel(e.board.Id) {
			if strings.Contains(x.Message, "**broken** is failing") {
				notice = x
			}
		}
		return notice != nil
	})
	// The notice carries the three buttons, each naming the sync and what it does.
	raw, _ := json.Marshal(notice.GetProp("attachments"))
	var atts []model.SlackAttachment
	if err := json.Unmarshal(raw, &atts); err != nil || len(atts) != 1 || len(atts[0].Actions) != 3 {
		t.Fatalf("the notice's attachments: %s (%v)", raw, err)
	}
	var names []string
	for _, a := range atts[0].Actions {
		names = append(names, a.Name)
		if a.Integration == nil || a.Integration.URL != "/plugins/datasync/api/v1/actions" || a.Integration.Context["sync"] != "broken" {
			t.Fatalf("the %s button: %+v", a.Name, a.Integration)
		}
	}
	if strings.Join(names, "|") != "Run now|Pause|Show error" {
		t.Fatalf("the buttons: %v", names)
	}

	request := func(what string) []byte {
		return []byte(fmt.Sprintf(`{"user_id":"forged","channel_id":%q,"post_id":%q,"context":{"do":%q,"sync":"broken"}}`, e.board.Id, notice.Id, what))
	}
	// Show error: the sync's status with its last error in full.
	if code, text := e.press("admin", request("status")); code != 200 || !strings.Contains(text, "#### broken") ||
		!strings.Contains(text, ":x: failing") || !strings.Contains(text, "missing_table") {
		t.Fatalf("Show error as admin: %d %q", code, text)
	}
	// The same permissions as the commands: the body's user_id is never trusted.
	if code, text := e.press("vic", request("pause")); code != 200 || !strings.Contains(text, "not run, preview, pause") {
		t.Fatalf("Pause as a viewer: %d %q", code, text)
	}
	if code, text := e.press("pat", request("status")); code != 200 || !strings.Contains(text, "You may not use Data Sync's commands") {
		t.Fatalf("Show error as pat: %d %q", code, text)
	}
	if code, text := e.press("olga", request("pause")); code != 200 || !strings.Contains(text, "Paused **broken**") {
		t.Fatalf("Pause as an operator: %d %q", code, text)
	}
	if code, text := e.press("olga", request("run")); code != 200 || !strings.Contains(text, "Running **broken** now") {
		t.Fatalf("Run now as an operator: %d %q", code, text)
	}
	if got := e.told("olga", 1); !strings.Contains(got, "**broken** failed") || !strings.Contains(got, "missing_table") {
		t.Fatalf("olga was told: %q", got)
	}
	// Requests the server would never send.
	for _, c := range []struct {
		user string
		body []byte
		code int
		want string
	}{
		{"", request("status"), 401, "not logged in"},
		{"admin", []byte("{"), 400, "not JSON"},
		{"admin", []byte(`{"context":{"do":"drop","sync":"broken"}}`), 400, `unknown action "drop"`},
		{"admin", []byte(`{"context":{"do":"run"}}`), 400, "names no sync"},
		{"admin", bytes.Repeat([]byte(" "), 70*1024), 413, "too large"},
	} {
		if code, text := e.press(c.user, c.body); code != c.code || !strings.Contains(text, c.want) {
			t.Fatalf("a request as %q (%.20q): %d %q", c.user, c.body, code, text)
		}
	}
	p.noErrors("Data Sync: run failed")
}

// call sends a request to the plugin's HTTP API as a user ("" = no session); the status
// and the JSON answer.
func (e *cmdEnv) call(user, method, path string, body []byte) (int, map[string]any) {
	e.p.t.Helper()
	hooks, err := e.p.nodes[0].Hooks(e.p.id)
	if err != nil {
		e.p.t.Fatal(err)
	}
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if user != "" {
		r.Header.Set("Mattermost-User-Id", e.users[user].Id)
	}
	w := httptest.NewRecorder()
	hooks.ServeHTTP(&plugin.Context{RequestId: model.NewId()}, w, r)
	var answer map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
		e.p.t.Fatalf("%s %s as %q: %d, not JSON: %q", method, path, user, w.Code, w.Body.String())
	}
	return w.Code, answer
}

// names lists the "name" of each object in an answer's array.
func names(list any) string {
	var out []string
	items, _ := list.([]any)
	for _, it := range items {
		m, _ := it.(map[string]any)
		out = append(out, fmt.Sprint(m["name"]))
	}
	return strings.Join(out, " ")
}

func TestDataSyncHTTPAPI(t *testing.T) {
	dataSyncBinary(t)
	t.Parallel()
	e := newCmdEnv(t)
	expect := func(user, method, path string, body []byte, code int, want string) map[string]any {
		t.Helper()
		got, answer := e.call(user, method, path, body)
		raw, _ := json.Marshal(answer)
		if got != code || !strings.Contains(string(raw), want) {
			t.Fatalf("%s %s as %q: %d %s; want %d with %q", method, path, user, got, raw, code, want)
		}
		return answer
	}

	// Who may call what.
	expect("", "GET", "/api/v1/syncs", nil, 401, "not logged in")
	if a := expect("admin", "GET", "/api/v1/syncs", nil, 200, `"syncs"`); names(a["syncs"]) != "orders ticking routed secret" {
		t.Fatalf("the admin's syncs: %v", a["syncs"])
	}
	if a := expect("vic", "GET", "/api/v1/syncs", nil, 200, `"schedule":"manual only"`); names(a["syncs"]) != "orders ticking" {
		t.Fatalf("vic's syncs: %v", a["syncs"])
	}
	expect("pat", "GET", "/api/v1/syncs", nil, 403, "You may not use Data Sync's commands")
	expect("vic", "POST", "/api/v1/syncs/orders/run", nil, 403, "You may look at syncs but not run")
	expect("vic", "GET", "/api/v1/syncs/secret/history", nil, 404, `no sync named \"secret\" that you can see`)
	expect("admin", "GET", "/api/v1/syncs/secret/history", nil, 200, `"runs":[]`)
	expect("admin", "GET", "/api/v1/nope", nil, 404, "no such endpoint")
	expect("admin", "GET", "/api/v1/validate", nil, 405, "use POST here")
	expect("admin", "GET", "/api/v1/syncs/orders/history?n=99", nil, 400, "n must be a number of runs from 1 to 50")

	// validate: the document being edited, with the saved secrets; problems with line and field.
	doc, _ := json.Marshal(map[string]string{"syncs": cmdSyncs})
	expect("vic", "POST", "/api/v1/validate", doc, 200, `"valid":true`)
	bad, _ := json.Marshal(map[string]string{"syncs": strings.Replace(cmdSyncs, `schedule = "manual"`, `schedule = "every tuesday"`, 1)})
	a := expect("admin", "POST", "/api/v1/validate", bad, 200, `"valid":false`)
	problems, _ := a["problems"].([]any)
	p0, _ := problems[0].(map[string]any)
	if len(problems) != 1 || p0["owner"] != `sync "orders"` || p0["field"] != "schedule" || p0["line"] != float64(13) {
		t.Fatalf("the problems: %v", problems)
	}
	expect("admin", "POST", "/api/v1/validate", []byte("{"), 400, "not JSON")
	expect("admin", "POST", "/api/v1/validate", []byte(`{"document": "x"}`), 400, `no \"syncs\" text`)
	expect("admin", "POST", "/api/v1/validate", bytes.Repeat([]byte(" "), 1100*1024), 413, "too large")

	// run, preview, pause, resume, test, as an operator.
	expect("olga", "POST", "/api/v1/syncs/orders/run", nil, 202, `"queued":true`)
	waitUntil(t, 20*time.Second, "the baseline of orders", func() bool { return len(e.p.runs("orders")) == 1 })
	pfSqlite(t, e.db, "INSERT INTO orders VALUES (7, 'pie');")
	a = expect("olga", "POST", "/api/v1/syncs/orders/preview", nil, 200, `"message":"order 7: pie"`)
	if msgs, _ := a["messages"].([]any); len(msgs) != 1 || len(e.p.srv.PostsInChannel(e.ops.Id)) != 0 {
		t.Fatalf("the preview: %v (posts: %d)", a, len(e.p.srv.PostsInChannel(e.ops.Id)))
	}
	expect("olga", "POST", "/api/v1/syncs/orders/pause", nil, 200, `"changed":true`)
	expect("olga", "GET", "/api/v1/syncs", nil, 200, `"paused":{"at":`)
	expect("olga", "POST", "/api/v1/syncs/orders/resume", nil, 200, `"paused":false`)
	expect("olga", "POST", "/api/v1/connections/src/test", nil, 200, `"ok":true`)
	expect("olga", "POST", "/api/v1/connections/nope/test", nil, 404, `no connection named \"nope\"`)
	expect("olga", "GET", "/api/v1/syncs/orders/history?n=1", nil, 200, `"baseline":true`)
	e.p.noErrors()
}
