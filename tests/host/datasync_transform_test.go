package hosttest

// Transform modules uploaded to the plugin, through the real host code: by a direct
// message to the bot with the .wasm file attached, and through the HTTP API (valid,
// not a module, too large, a name in use, replaced, by someone who may not); then a sync
// whose rows go through the uploaded module.

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

// exampleModule is an example transform built by `make transforms` (make test builds them).
func exampleModule(t *testing.T, name string) []byte {
	t.Helper()
	path := filepath.Join("..", "..", "target", "wasm32-unknown-unknown", "release", "transform_"+name+".wasm")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: build the example transforms with `make transforms`", err)
	}
	return data
}

const cmdLeads = `
[transforms.mask]
module = "mask"
params = { columns = ["item"] }

[syncs.leads]
connection = "src"
sql = "SELECT id, item FROM orders ORDER BY id"
key = "id"
schedule = "manual"
channel = "acme/ops"
first_run = "post"
transform = "mask"

[syncs.leads.templates]
added = "lead {{ row.id }}: {{ row.item }}"
`

func TestDataSyncTransformUploads(t *testing.T) {
	dataSyncBinary(t)
	t.Parallel()
	e := newCmdEnv(t)
	p := e.p
	mask, identity := exampleModule(t, "mask_email"), exampleModule(t, "identity")

	// Through the HTTP API: the module is the request body.
	upload := func(user, name string, body []byte, code int, want string) map[string]any {
		t.Helper()
		got, answer := e.call(user, "POST", "/api/v1/transforms/"+name, body)
		if got != code || !strings.Contains(strings.ToLower(strings.TrimSpace(fmtAny(answer))), strings.ToLower(want)) {
			t.Fatalf("upload %s as %s: %d %v; want %d %q", name, user, got, answer, code, want)
		}
		return answer
	}
	upload("olga", "mask", mask, 403, "Only system admins may upload transform modules")
	upload("admin", "mask", []byte("not wasm at all"), 400, "not a module Data Sync can run")
	upload("admin", "bad.wasm", mask, 400, "cannot name a module")
	if code, answer := e.call("admin", "POST", "/api/v1/transforms/big", bytes.Repeat([]byte{0}, 8<<20+1)); code != 413 {
		t.Fatalf("a module over 8 MiB: %d %v", code, answer)
	}
	stored := upload("admin", "mask", mask, 200, "sha256")
	if stored["unchanged"] != false || len(stored["sha256"].(string)) != 64 {
		t.Fatalf("the first upload: %v", stored)
	}
	upload("admin", "mask", mask, 200, `"unchanged":true`)
	upload("admin", "mask", identity, 400, "already")
	if code, answer := e.call("admin", "POST", "/api/v1/transforms/ident?replace=true", identity); code != 200 {
		t.Fatalf("replace: %d %v", code, answer)
	}
	if code, answer := e.call("vic", "GET", "/api/v1/transforms", nil); code != 200 || names(answer["transforms"]) != "ident mask" {
		t.Fatalf("the list as a viewer: %d %v", code, answer)
	}

	// In a direct message to the bot, the file attached.
	bot := p.bot()
	api := p.srv.NewAPI(&model.Manifest{Id: "test"})
	dm, appErr := api.GetDirectChannel(e.users["admin"].Id, bot.Id)
	if appErr != nil {
		t.Fatal(appErr)
	}
	file, appErr := api.UploadFile(identity, dm.Id, "identity.wasm")
	if appErr != nil {
		t.Fatal(appErr)
	}
	sayWith := func(user, text string, files ...string) *model.Post {
		post, appErr := p.srv.CreateUserPost(&model.Post{UserId: e.users[user].Id, ChannelId: dm.Id, Message: text, FileIds: files})
		if appErr != nil {
			t.Fatal(appErr)
		}
		hooks, _ := p.nodes[0].Hooks(p.id)
		hooks.MessageHasBeenPosted(&plugin.Context{}, post)
		return post
	}
	answer := func(q *model.Post) string {
		t.Helper()
		waitUntil(t, 10*time.Second, "the bot's answer to "+q.Message, func() bool { return len(e.threadReplies(q)) == 1 })
		return e.threadReplies(q)[0].Message
	}
	if a := answer(sayWith("admin", "transform add copy", file.Id)); !strings.Contains(a, "Stored **copy**") || !strings.Contains(a, `module = "copy"`) {
		t.Fatalf("the DM upload: %q", a)
	}
	if a := answer(sayWith("admin", "transform add none")); !strings.Contains(a, "Attach exactly one `.wasm` file") {
		t.Fatalf("no file: %q", a)
	}
	e.expect("admin", "/datasync transform add x", "in a direct message")
	e.expect("vic", "/datasync transforms", "**copy**", "**ident**", "**mask**")

	// A sync whose rows go through the uploaded module.
	pfSqlite(t, e.db, "INSERT INTO orders VALUES (1, 'call jane@acme.com');")
	p.reconfigure(map[string]any{
		"Syncs": cmdSyncs + cmdLeads, "Secrets": "CMD_DB=" + e.db, "TickSeconds": 1, "PostsPerSecond": 0,
		"Viewers": "vic", "Operators": "team:dataops",
	})
	e.expect("admin", "/datasync run leads", "Running **leads** now")
	if got := e.told("admin", 1); !strings.Contains(got, "1 message") {
		t.Fatalf("the run: %q", got)
	}
	var lead string
	for _, x := range p.srv.PostsInChannel(e.ops.Id) {
		if strings.HasPrefix(x.Message, "lead 1:") {
			lead = x.Message
		}
	}
	if !strings.Contains(lead, "j***@") || strings.Contains(lead, "jane") {
		t.Fatalf("the lead as posted: %q", lead)
	}
	p.noErrors()
}

// fmtAny is an answer as compact JSON, for matching.
func fmtAny(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
