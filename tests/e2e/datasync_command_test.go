package e2e

// /datasync on the real server: registered with its autocomplete (the sync names come from
// the plugin's dynamic list through the server's autocomplete API), run through
// POST /api/v4/commands/execute as a system admin and as a plain user; the bot answering
// the same command in a direct message; the HTTP API through the server's plugin routes.

import (
	"strings"
	"testing"
	"time"

	"datasync/tests/e2e/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

func TestDataSyncCommand(t *testing.T) {
	dataSync(t)
	mark := logMark(t)
	f := newFeed(t, "on_demand")
	doc := harness.EventsDocument(harness.EventSync{
		Name: f.name, Table: f.w.schema + ".events", Channel: f.channel.Name,
		Template: f.name + " {{ row.id }}: {{ row.note }}", Schedule: "manual",
	})
	configure(t, doc, f.w.secrets(), nil)
	admin, pat := site.Admin.Client, site.Users["pat"].Client
	execute := func(c *model.Client4, text string, want ...string) {
		t.Helper()
		resp, _, err := c.ExecuteCommand(harness.Ctx(), f.channel.Id, text)
		must(t, harness.Explain(err))
		for _, w := range want {
			if !strings.Contains(resp.Text, w) {
				t.Fatalf("%s: the reply lacks %q:\n%s", text, w, resp.Text)
			}
		}
		if resp.ResponseType != model.CommandResponseTypeEphemeral {
			t.Fatalf("%s: a %q reply", text, resp.ResponseType)
		}
	}

	// The autocomplete, as the webapp asks for it: subcommands, then the plugin's sync names.
	suggestions := func(input string) []string {
		t.Helper()
		list, _, err := admin.ListCommandAutocompleteSuggestions(harness.Ctx(), input, site.Team.Id)
		must(t, harness.Explain(err))
		var out []string
		for _, s := range list {
			out = append(out, s.Suggestion)
		}
		return out
	}
	if got := strings.Join(suggestions("/datasync "), " "); !strings.Contains(got, "status") || !strings.Contains(got, "reset") {
		t.Fatalf("autocomplete of /datasync: %s", got)
	}
	if got := suggestions("/datasync run "); len(got) != 1 || got[0] != f.name {
		t.Fatalf("autocomplete of /datasync run: %v", got)
	}

	execute(admin, "/datasync list", "**"+f.name+"**", "manual only", "acme/"+f.channel.Name)
	execute(pat, "/datasync list", "You may not use Data Sync's commands")
	execute(pat, "/datasync run "+f.name, "You may not use Data Sync's commands")

	// run: the baseline, then the new rows, each once.
	execute(admin, "/datasync run "+f.name, "Running **"+f.name+"** now")
	f.baseline()
	f.add(3)
	execute(admin, "/datasync run "+f.name, "Running **"+f.name+"** now")
	err := harness.WaitUntil(time.Minute, func() (bool, error) { return len(f.posted()) == 3, nil })
	must(t, err)
	waitRuns(t, f.name, 2, time.Minute)
	execute(admin, "/datasync history "+f.name, "the last 2 runs", "| baseline |")
	if ids := f.posted(); len(ids) != 3 || ids[0] != 1 || ids[2] != 3 {
		t.Fatalf("posted ids %v", ids)
	}

	// The bot in a direct message: the same command in plain words, answered in the thread.
	bot := dataSync(t)
	dm, _, err := admin.CreateDirectChannel(harness.Ctx(), site.Admin.User.Id, bot.Id)
	must(t, harness.Explain(err))
	q, _, err := admin.CreatePost(harness.Ctx(), &model.Post{ChannelId: dm.Id, Message: "status " + f.name})
	must(t, harness.Explain(err))
	var answer *model.Post
	err = harness.WaitUntil(30*time.Second, func() (bool, error) {
		thread, _, err := admin.GetPostThread(harness.Ctx(), q.Id, "", false)
		if err != nil {
			return false, err
		}
		for _, p := range thread.Posts {
			if p.Id != q.Id && p.UserId == bot.Id {
				answer = p
			}
		}
		return answer != nil, nil
	})
	must(t, err)
	if !strings.Contains(answer.Message, "#### "+f.name) || !strings.Contains(answer.Message, "- **Last run:**") {
		t.Fatalf("the bot's answer in the DM: %q", answer.Message)
	}

	// The HTTP API, as a System Console panel calls it: the server authenticates.
	for _, c := range []struct {
		who        *model.Client4
		method     string
		path, want string
		code       int
	}{
		{admin, "GET", "/plugins/datasync/api/v1/syncs", `"name":"` + f.name + `"`, 200},
		{pat, "GET", "/plugins/datasync/api/v1/syncs", "You may not use", 403},
		{nil, "GET", "/plugins/datasync/api/v1/syncs", "not logged in", 401},
		{admin, "POST", "/plugins/datasync/api/v1/syncs/" + f.name + "/pause", `"changed":true`, 200},
		{admin, "GET", "/plugins/datasync/api/v1/syncs/nope/history", "no sync named", 404},
	} {
		code, body := pluginRequest(t, c.who, c.method, c.path, nil)
		if code != c.code || !strings.Contains(string(body), c.want) {
			t.Fatalf("%s %s: %d %s; want %d with %q", c.method, c.path, code, body, c.code, c.want)
		}
	}
	noPluginErrors(t, mark)
}
