// Host tests: the real server/public plugin host (Environment, supervisor,
// go-plugin client) starts the plugin under test from a bundle directory and
// drives it, with the in-memory API of package harness.
//
// Plugin under test: HOST_PLUGIN_BIN (an executable; id from HOST_PLUGIN_ID or
// the file name), else the Go reference plugin go-hello built on the fly.
package hosttest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

var (
	pluginBin      string          // executable under test
	pluginID       string          // its manifest id
	pluginManifest *model.Manifest // HOST_PLUGIN_MANIFEST, else harness.HelloManifest(pluginID)
)

func TestMain(m *testing.M) {
	code, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "host tests:", err)
		os.Exit(2)
	}
	if code < 0 {
		code = m.Run()
		code = max(code, scanSecrets())
	}
	os.Exit(code)
}

func setup() (int, error) {
	pluginBin = os.Getenv("HOST_PLUGIN_BIN")
	pluginID = os.Getenv("HOST_PLUGIN_ID")
	if pluginBin == "" {
		dir, err := os.MkdirTemp("", "hosttest-ref")
		if err != nil {
			return 0, err
		}
		bin, err := harness.BuildRefPlugin(dir, false)
		if err != nil {
			return 0, err
		}
		pluginBin = bin
		if pluginID == "" {
			pluginID = "go-hello"
		}
	} else {
		abs, err := filepath.Abs(pluginBin)
		if err != nil {
			return 0, err
		}
		if _, err := os.Stat(abs); err != nil {
			return 0, fmt.Errorf("HOST_PLUGIN_BIN: %w", err)
		}
		pluginBin = abs
		if pluginID == "" {
			pluginID = filepath.Base(abs)
		}
	}
	if path := os.Getenv("HOST_PLUGIN_MANIFEST"); path != "" {
		m, err := harness.LoadManifest(path)
		if err != nil {
			return 0, fmt.Errorf("HOST_PLUGIN_MANIFEST: %w", err)
		}
		if os.Getenv("HOST_PLUGIN_ID") == "" {
			pluginID = m.Id
		} else if m.Id != pluginID {
			return 0, fmt.Errorf("HOST_PLUGIN_MANIFEST id %q differs from HOST_PLUGIN_ID %q", m.Id, pluginID)
		}
		pluginManifest = m
	} else {
		pluginManifest = harness.HelloManifest(pluginID)
	}
	fmt.Fprintf(os.Stderr, "host tests: plugin %s from %s\n", pluginID, pluginBin)
	return -1, nil
}

// fixture is one environment with the plugin under test active.
type fixture struct {
	t       *testing.T
	env     *harness.Env
	srv     *harness.Server
	id      string
	team    *model.Team
	channel *model.Channel
	alice   *model.User
}

// newFixture seeds a team, a channel and a user, installs the plugin under test
// and (unless noActivate) activates it. Every plugin post is fanned out to
// MessageHasBeenPosted like the server does.
func newFixture(t *testing.T, activate bool) *fixture {
	t.Helper()
	env, err := harness.NewEnv(t.TempDir(), os.Getenv("HOST_LOG") != "")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, env: env, srv: env.Server, id: pluginID}
	f.team = f.srv.AddTeam("acme", "Acme")
	f.channel = f.srv.AddChannel(f.team.Id, "town-square", "Town Square")
	f.alice = f.srv.AddUser("alice", "alice@example.com")
	if err := env.Install(pluginManifest, pluginBin); err != nil {
		t.Fatal(err)
	}
	f.srv.OnPostCreated = func(p *model.Post) {
		if hooks, err := env.Hooks(f.id); err == nil {
			hooks.MessageHasBeenPosted(&plugin.Context{}, p)
		}
	}
	t.Cleanup(func() {
		env.Env.Shutdown()
		if t.Failed() {
			t.Logf("host log:\n%s", tail(env.HostLog.String(), 4000))
		}
	})
	if activate {
		f.activate()
	}
	return f
}

func (f *fixture) activate() {
	f.t.Helper()
	if err := f.env.Activate(f.id); err != nil {
		f.t.Fatalf("activate %s: %v", f.id, err)
	}
}

func (f *fixture) hooks() plugin.Hooks {
	f.t.Helper()
	h, err := f.env.Hooks(f.id)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

func (f *fixture) bot() *model.User {
	f.t.Helper()
	u := f.srv.UserByUsername("hello-bot")
	if u == nil {
		f.t.Fatal("hello-bot does not exist")
	}
	return u
}

func (f *fixture) command(text string) (*model.CommandResponse, *model.AppError) {
	return f.commandIn(f.channel.Id, text)
}

func (f *fixture) commandIn(channelID, text string) (*model.CommandResponse, *model.AppError) {
	return f.hooks().ExecuteCommand(&plugin.Context{RequestId: model.NewId()}, &model.CommandArgs{
		UserId: f.alice.Id, ChannelId: channelID, TeamId: f.team.Id, Command: text,
		SiteURL: "http://localhost:8065", UserMentions: model.UserMentionMap{}, ChannelMentions: model.ChannelMentionMap{},
	})
}

// ephemeralText returns the text the user got back privately: the ephemeral
// command response, or else the last ephemeral post sent to the user.
func (f *fixture) ephemeralText(resp *model.CommandResponse) string {
	if resp != nil && resp.Text != "" && (resp.ResponseType == "" || resp.ResponseType == model.CommandResponseTypeEphemeral) {
		return resp.Text
	}
	eph := f.srv.Ephemerals()
	for i := len(eph) - 1; i >= 0; i-- {
		if eph[i].UserID == f.alice.Id {
			return eph[i].Post.Message
		}
	}
	return ""
}

// httpServer serves /plugins/<id>/... like app/plugin_requests.go: the prefix is
// stripped from URL.Path, Mattermost-User-Id is set for the session's user.
func (f *fixture) httpServer() *httptest.Server {
	prefix := "/plugins/" + f.id
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, prefix+"/") {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, prefix)
		r2.URL.RawPath = ""
		r2.Header.Del("Mattermost-User-Id")
		r2.Header.Set("Mattermost-User-Id", f.alice.Id)
		// Let the plugin stream: read the request body while the response is written
		// (Go's HTTP/1 server otherwise cuts the body off once the response starts).
		_ = http.NewResponseController(w).EnableFullDuplex()
		hooks, err := f.env.Hooks(f.id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		hooks.ServeHTTP(&plugin.Context{RequestId: model.NewId(), IPAddress: "127.0.0.1", UserAgent: r.UserAgent(),
			SessionId: "session-" + f.alice.Id}, w, r2)
	}))
	f.t.Cleanup(s.Close)
	return s
}

func (f *fixture) do(s *httptest.Server, method, path string, body []byte) (*http.Response, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+"/plugins/"+f.id+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// eventually polls cond for up to 15 s (hooks may finish work asynchronously).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
