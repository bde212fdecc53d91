package e2e

// rs-hello, the bindings' example plugin, on the real server: installed by upload, its
// slash command through the command router, its bot replying to a post
// (MessageHasBeenPosted), its settings through the config API, and its HTTP endpoints
// through the server's plugin routes.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"datasync/tests/e2e/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

func TestHello(t *testing.T) {
	m, err := site.Upload(bundle(t, "E2E_HELLO_BUNDLE"))
	must(t, err)
	if m.Id != "rs-hello" {
		t.Fatalf("uploaded manifest id %q", m.Id)
	}
	must(t, site.Enable("rs-hello"))
	t.Cleanup(func() { _ = site.Disable("rs-hello") })
	pat := site.Users["pat"]
	ch, err := site.Channel("hello", "pat")
	must(t, err)

	// The slash command, as pat: an ephemeral answer and a post by the plugin's bot.
	resp, _, err := pat.Client.ExecuteCommand(harness.Ctx(), ch.Id, "/hello world")
	must(t, err)
	if resp.Text != "Posted: Hello, world!" || resp.ResponseType != model.CommandResponseTypeEphemeral {
		t.Fatalf("/hello answered %+v", resp)
	}
	bot, _, err := site.Admin.Client.GetUserByUsername(harness.Ctx(), "hello-bot", "")
	must(t, err)
	if !bot.IsBot {
		t.Fatalf("hello-bot is not a bot: %+v", bot)
	}
	posts := waitPosts(t, pat.Client, ch.Id, 1)
	if posts[0].Message != "Hello, world!" || posts[0].UserId != bot.Id {
		t.Fatalf("the /hello post: %q by %s (bot %s)", posts[0].Message, posts[0].UserId, bot.Id)
	}

	// A setting changed through the config API reaches the plugin (OnConfigurationChange).
	must(t, site.SetPluginSettings("rs-hello", map[string]any{"greeting": "Hi"}))
	resp, _, err = pat.Client.ExecuteCommand(harness.Ctx(), ch.Id, "/hello again")
	must(t, err)
	if resp.Text != "Posted: Hi, again!" {
		t.Fatalf("/hello after the settings change answered %q", resp.Text)
	}

	// MessageHasBeenPosted: pat asks, the bot answers in the thread.
	q, _, err := pat.Client.CreatePost(harness.Ctx(), &model.Post{ChannelId: ch.Id, Message: "hello?"})
	must(t, err)
	posts = waitPosts(t, pat.Client, ch.Id, 4)
	reply := posts[3]
	if reply.Message != "Hello, @pat!" || reply.UserId != bot.Id || reply.RootId != q.Id {
		t.Fatalf("the reply to hello?: %q by %s in thread %q", reply.Message, reply.UserId, reply.RootId)
	}

	// HTTP: /status as JSON, and a 3 MiB body echoed byte for byte.
	status := pluginHTTP(t, pat, "GET", "/plugins/rs-hello/status", nil)
	var st struct {
		Activations int    `json:"activations"`
		Version     string `json:"version"`
	}
	if err := json.Unmarshal(status, &st); err != nil || st.Activations < 1 || st.Version != "0.1.0" {
		t.Fatalf("/status: %s (%v)", status, err)
	}
	body := make([]byte, 3<<20)
	_, _ = rand.Read(body)
	if echo := pluginHTTP(t, pat, "POST", "/plugins/rs-hello/echo", body); !bytes.Equal(echo, body) {
		t.Fatalf("/echo returned %d bytes, not the %d sent", len(echo), len(body))
	}
}

// waitPosts waits until a channel has at least n posts that are not system messages.
func waitPosts(t *testing.T, c *model.Client4, channelID string, n int) []*model.Post {
	t.Helper()
	var posts []*model.Post
	err := harness.WaitUntil(30*time.Second, func() (bool, error) {
		all, err := harness.Posts(c, channelID)
		posts = harness.UserPosts(all)
		return len(posts) >= n, err
	})
	if err != nil {
		t.Fatalf("%d posts in channel %s, want %d: %v", len(posts), channelID, n, err)
	}
	return posts
}

// pluginHTTP calls a plugin's HTTP route as a user and wants 200.
func pluginHTTP(t *testing.T, as harness.Person, method, path string, body []byte) []byte {
	t.Helper()
	code, data := pluginRequest(t, as.Client, method, path, body)
	if code != 200 {
		t.Fatalf("%s %s: %d %s", method, path, code, strings.TrimSpace(string(data)))
	}
	return data
}
