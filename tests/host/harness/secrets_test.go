package harness

import (
	"errors"
	"strings"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

// The scanner finds a planted secret wherever a plugin can put one, in each form, and
// nothing in clean output.
func TestSecretScanFindsPlantedValues(t *testing.T) {
	sec := NewSecrets()
	srv := NewServer(t.TempDir())
	sec.AddServer(srv)
	hostLog := &SyncBuffer{}
	sec.AddLog(hostLog)
	api := srv.NewAPI(&model.Manifest{Id: "planted"})
	team := srv.AddTeam("acme", "Acme")
	ch := srv.AddChannel(team.Id, "alerts", "Alerts")
	bot := srv.AddUser("bot", "bot@example.com")

	// Clean output first: nothing is found.
	api.LogInfo("Data Sync: run finished", "sync", "deals", "ok", "true")
	if _, err := api.CreatePost(&model.Post{ChannelId: ch.Id, UserId: bot.Id, Message: "New deal: Globex"}); err != nil {
		t.Fatal(err)
	}
	_ = api.KVSet("ds1/deals/history", []byte(`[{"ok":true}]`))
	hostLog.Write([]byte(`{"msg":"Plugin activated"}`))
	sec.Register("p@ss/w0rd&token")
	sec.Register("sk-live-1234567890")
	if leaks := sec.Scan(); len(leaks) != 0 {
		t.Fatalf("clean output: %v", leaks)
	}

	// Planted, one place each.
	planted := map[string]string{ // where (substring of Leak.Where) → form
		"plugin log":          "raw",
		"message":             "raw",
		"props":               "json", // attachments marshal with HTML escaping: \u0026
		"KV planted/ds1/x":    "json",
		"host log":            "url",
		"hook OnActivate":     "raw",
		"ephemeral post":      "base64",
		"file":                "raw",
		"KV planted/ds1/enc":  "url",
		"websocket event":     "raw",
		"KV planted/ds1/b64":  "base64",
		"KV planted/ds1/plai": "raw",
	}
	api.LogError("Data Sync: run failed", "errors", "could not open postgres://u:p@ss/w0rd&token@db/x")
	if _, err := api.CreatePost(&model.Post{ChannelId: ch.Id, UserId: bot.Id, Message: "token sk-live-1234567890"}); err != nil {
		t.Fatal(err)
	}
	p := &model.Post{ChannelId: ch.Id, UserId: bot.Id, Message: "an attachment"}
	p.AddProp("attachments", []any{map[string]any{"text": "x p@ss/w0rd&token y"}})
	if _, err := api.CreatePost(p); err != nil {
		t.Fatal(err)
	}
	_ = api.KVSet("ds1/x", []byte(`{"url":"p@ss/w0rd\u0026token"}`))
	_ = api.KVSet("ds1/enc", []byte("q=p%40ss%2Fw0rd%26token"))
	_ = api.KVSet("ds1/b64", []byte("Authorization: Basic c2stbGl2ZS0xMjM0NTY3ODkw"))
	_ = api.KVSet("ds1/plain", []byte("sk-live-1234567890"))
	hostLog.Write([]byte(`{"msg":"dial p%40ss%2Fw0rd%26token"}`))
	wrapped := recordingHooks{Hooks: failingHooks{}, id: "planted", secrets: sec}
	if err := wrapped.OnActivate(); err == nil {
		t.Fatal("failingHooks.OnActivate returned nil")
	}
	api.SendEphemeralPost(bot.Id, &model.Post{ChannelId: ch.Id, Message: "c2stbGl2ZS0xMjM0NTY3ODkw"})
	if _, err := api.UploadFile([]byte("id,url\n1,sk-live-1234567890\n"), ch.Id, "export.csv"); err != nil {
		t.Fatal(err)
	}
	api.PublishWebSocketEvent("status", map[string]any{"detail": "sk-live-1234567890"}, &model.WebsocketBroadcast{})

	leaks := sec.Scan()
	for where, form := range planted {
		found := false
		for _, l := range leaks {
			if strings.Contains(l.Where, where) && l.Form == form {
				found = true
			}
		}
		if !found {
			t.Errorf("the scan missed the %s secret in %q; found:\n%v", form, where, leaks)
		}
	}
	for _, l := range leaks {
		t.Logf("found: %v", l)
	}
	if t.Failed() {
		return
	}
	// A short value would match by chance: refused.
	defer func() {
		if recover() == nil {
			t.Error("Register accepted a 3-character secret")
		}
	}()
	sec.Register("abc")
}

// failingHooks is a plugin whose OnActivate fails with a secret in its error.
type failingHooks struct{ plugin.Hooks }

func (failingHooks) OnActivate() error { return errors.New("cannot connect with sk-live-1234567890") }
