package hosttest

// rs-probe (examples/probe) exposes every API method over ServeHTTP
// (POST /call/<Method>, JSON in and out; contract in examples/probe/README.md).
// These tests drive each method through the real host and check both what the
// probe reports and what the in-memory server saw.
//
// Executable: HOST_PROBE_BIN, else <repo>/target/release/rs-probe, else go-probe
// (refprobe/, the same contract on the Go SDK; HOST_PROBE_BIN=go-probe forces it). Manifest: HOST_PROBE_MANIFEST, else
// <repo>/examples/probe/plugin.json.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

// probeError is the error object of the probe contract.
type probeError struct {
	Kind          string `json:"kind"`
	ID            string `json:"id"`
	Message       string `json:"message"`
	DetailedError string `json:"detailed_error"`
	StatusCode    int    `json:"status_code"`
}

type probeReply struct {
	Result json.RawMessage `json:"result"`
	OK     bool            `json:"ok"`
	Error  *probeError     `json:"error"`
}

var (
	goProbeOnce sync.Once
	goProbeBin  string
	goProbeErr  error
)

// probePaths picks the probe executable and its manifest: HOST_PROBE_BIN, else
// <repo>/target/release/rs-probe, else go-probe (the Go implementation of the
// same contract, built once) under the id "go-probe".
func probePaths(t *testing.T) (bin string, manifest *model.Manifest) {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	mpath := os.Getenv("HOST_PROBE_MANIFEST")
	if mpath == "" {
		mpath = filepath.Join(root, "..", "..", "examples", "probe", "plugin.json")
	}
	bin = os.Getenv("HOST_PROBE_BIN")
	if bin == "go-probe" { // force the Go stand-in
		bin = ""
	} else if bin == "" {
		if rs := filepath.Join(root, "..", "..", "target", "release", "rs-probe"); fileExists(rs) {
			bin = rs
		}
	}
	if bin != "" {
		m, err := harness.LoadManifest(mpath)
		if err != nil {
			t.Fatal(err)
		}
		return bin, m
	}
	goProbeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hosttest-probe")
		if err != nil {
			goProbeErr = err
			return
		}
		goProbeBin, goProbeErr = harness.BuildRefProbe(dir)
	})
	if goProbeErr != nil {
		t.Fatal(goProbeErr)
	}
	m, err := harness.LoadManifest(mpath)
	if err != nil {
		m = &model.Manifest{Version: "0.1.0", Server: &model.ManifestServer{Executable: harness.ExecutableName},
			SettingsSchema: &model.PluginSettingsSchema{Settings: []*model.PluginSetting{
				{Key: "ProbeSetting", Type: "text", Default: "probe-default"}}}}
	}
	m.Id, m.Name = "go-probe", "Go Probe"
	return goProbeBin, m
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func newProbe(t *testing.T, settings map[string]any) *fixture {
	t.Helper()
	bin, manifest := probePaths(t)
	env, err := harness.NewEnv(t.TempDir(), os.Getenv("HOST_LOG") != "")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, env: env, srv: env.Server, id: manifest.Id}
	f.team = f.srv.AddTeam("acme", "Acme")
	f.channel = f.srv.AddChannel(f.team.Id, "town-square", "Town Square")
	f.alice = f.srv.AddUser("alice", "alice@example.com")
	if settings != nil {
		f.srv.SetPluginSettings(f.id, settings)
	}
	if err := env.Install(manifest, bin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		env.Env.Shutdown()
		if t.Failed() {
			t.Logf("host log:\n%s", tail(env.HostLog.String(), 4000))
		}
	})
	f.activate()
	return f
}

// call runs POST /call/<method> with args and returns the decoded reply.
func (f *fixture) call(method string, args map[string]any) probeReply {
	f.t.Helper()
	rep, status := f.callRaw(method, args)
	if status != http.StatusOK {
		f.t.Fatalf("%s: HTTP %d", method, status)
	}
	return rep
}

func (f *fixture) callRaw(method string, args map[string]any) (probeReply, int) {
	f.t.Helper()
	body, err := json.Marshal(args)
	if err != nil {
		f.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, "/call/"+method, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	rec := newRecorder()
	f.hooks().ServeHTTP(&plugin.Context{RequestId: model.NewId()}, rec, req)
	var rep probeReply
	if rec.code == http.StatusOK {
		if err := json.Unmarshal(rec.body.Bytes(), &rep); err != nil {
			f.t.Fatalf("%s: reply %q: %v", method, tail(rec.body.String(), 300), err)
		}
	}
	return rep, rec.code
}

// ok runs a call that must succeed and decodes its result into out (if non-nil).
func (f *fixture) ok(method string, args map[string]any, out any) probeReply {
	f.t.Helper()
	rep := f.call(method, args)
	if rep.Error != nil {
		f.t.Fatalf("%s: error %+v", method, *rep.Error)
	}
	if out != nil {
		if err := json.Unmarshal(rep.Result, out); err != nil {
			f.t.Fatalf("%s: result %s: %v", method, tail(string(rep.Result), 300), err)
		}
	}
	return rep
}

// fails runs a call that must fail with an AppError of the given status.
func (f *fixture) fails(method string, args map[string]any, status int) *probeError {
	f.t.Helper()
	rep := f.call(method, args)
	if rep.Error == nil {
		f.t.Fatalf("%s: succeeded (%s), want an error", method, tail(string(rep.Result), 200))
	}
	if status != 0 && rep.Error.StatusCode != status {
		f.t.Fatalf("%s: error %+v, want status %d", method, *rep.Error, status)
	}
	return rep.Error
}

// recorder is a minimal http.ResponseWriter (httptest's would do, but this keeps
// the status even when the plugin never calls WriteHeader).
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) Flush() {}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func randBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func tinyPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestProbeConfigurationMethods(t *testing.T) {
	f := newProbe(t, map[string]any{"ProbeSetting": "from-admin", "Extra": 7})
	var cfg map[string]any
	f.ok("LoadPluginConfiguration", nil, &cfg)
	if cfg["probesetting"] != "from-admin" || cfg["extra"] != float64(7) {
		t.Fatalf("LoadPluginConfiguration = %v", cfg)
	}
	var pc map[string]any
	f.ok("GetPluginConfig", nil, &pc)
	if pc["ProbeSetting"] != "from-admin" {
		t.Fatalf("GetPluginConfig = %v", pc)
	}
	f.ok("SavePluginConfig", map[string]any{"config": map[string]any{"ProbeSetting": "saved", "Nested": map[string]any{"n": 1.5}}}, nil)
	f.ok("LoadPluginConfiguration", nil, &cfg)
	if cfg["probesetting"] != "saved" {
		t.Fatalf("after SavePluginConfig: %v", cfg)
	}
	rep := f.ok("GetConfig", nil, nil)
	if !strings.Contains(string(rep.Result), "http://localhost:8065") || !strings.Contains(string(rep.Result), f.env.Dir) {
		t.Fatalf("GetConfig lacks SiteURL / plugin directory: %s", tail(string(rep.Result), 300))
	}
	var bundle, version string
	f.ok("GetBundlePath", nil, &bundle)
	if want, _ := filepath.Abs(filepath.Join(f.env.Dir, f.id)); bundle != want {
		t.Fatalf("GetBundlePath = %q, want %q", bundle, want)
	}
	f.ok("GetServerVersion", nil, &version)
	if version != model.CurrentVersion {
		t.Fatalf("GetServerVersion = %q, want %q", version, model.CurrentVersion)
	}
	// The configuration hook saw the settings during activation.
	var hooks struct {
		Counts map[string]int `json:"counts"`
		Config map[string]any `json:"config"`
	}
	f.getJSON("/hooks", &hooks)
	if hooks.Counts["OnActivate"] != 1 || hooks.Counts["OnConfigurationChange"] < 1 || hooks.Config["probesetting"] != "from-admin" {
		t.Fatalf("hooks = %+v", hooks)
	}
}

func (f *fixture) getJSON(path string, out any) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, path+"?a=1&b=two", nil)
	req.Header.Set("X-Probe", "yes")
	req.Header.Set("Mattermost-User-Id", f.alice.Id)
	rec := newRecorder()
	f.hooks().ServeHTTP(&plugin.Context{RequestId: "req-" + f.id, SessionId: "sess", IPAddress: "10.1.2.3", UserAgent: "hosttest"}, rec, req)
	if rec.code != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, rec.code, rec.body.String())
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		f.t.Fatalf("GET %s: %v in %s", path, err, tail(rec.body.String(), 300))
	}
}

func TestProbeRequestShape(t *testing.T) {
	f := newProbe(t, nil)
	var got map[string]any
	f.getJSON("/request", &got)
	if got["method"] != "GET" || got["path"] != "/request" || got["user_id"] != f.alice.Id {
		t.Fatalf("request = %v", got)
	}
	if s := fmt.Sprint(got["query"]); !strings.Contains(s, "two") {
		t.Fatalf("query lost: %v", got["query"])
	}
	if s := fmt.Sprint(got["header"]); !strings.Contains(s, "X-Probe") || !strings.Contains(s, "yes") {
		t.Fatalf("header lost: %v", got["header"])
	}
	if s := fmt.Sprint(got["context"]); !strings.Contains(s, "req-"+f.id) || !strings.Contains(s, "10.1.2.3") {
		t.Fatalf("context lost: %v", got["context"])
	}
}

func TestProbeCommands(t *testing.T) {
	f := newProbe(t, nil)
	if c := f.srv.Command(f.id, "probe"); c == nil || c.AutocompleteData == nil || len(c.AutocompleteData.SubCommands) != 2 {
		t.Fatalf("/probe registration: %+v", c)
	}
	cmd := map[string]any{
		"trigger": "Deploy", "team_id": f.team.Id, "auto_complete": true, "auto_complete_desc": "Deploy things",
		"auto_complete_hint": "[env]", "display_name": "Deploy",
		"autocomplete_data": map[string]any{
			"Trigger": "deploy", "HelpText": "Deploy things",
			"SubCommands": []any{
				map[string]any{"Trigger": "run", "HelpText": "Run a deploy", "Arguments": []any{
					map[string]any{"Name": "", "HelpText": "Environment", "Type": "StaticList", "Required": true,
						"Data": map[string]any{"PossibleArguments": []any{
							map[string]any{"Item": "prod", "Hint": "production", "HelpText": "Live"},
							map[string]any{"Item": "staging", "Hint": "", "HelpText": "Test"}}}},
					map[string]any{"Name": "note", "HelpText": "Free text", "Type": "TextInput", "Required": false,
						"Data": map[string]any{"Hint": "text", "Pattern": ".*"}},
				}},
				map[string]any{"Trigger": "lookup", "HelpText": "Dynamic", "Arguments": []any{
					map[string]any{"Name": "", "HelpText": "Item", "Type": "DynamicList", "Required": true,
						"Data": map[string]any{"FetchURL": "/autocomplete"}}}},
			},
		},
	}
	f.ok("RegisterCommand", map[string]any{"command": cmd}, nil)
	c := f.srv.Command(f.id, "deploy")
	if c == nil || c.TeamId != f.team.Id || !c.AutoComplete || c.AutoCompleteHint != "[env]" {
		t.Fatalf("registered command = %+v", c)
	}
	ad := c.AutocompleteData
	if ad == nil || len(ad.SubCommands) != 2 {
		t.Fatalf("autocomplete data = %+v", ad)
	}
	run := ad.SubCommands[0]
	static, ok := run.Arguments[0].Data.(*model.AutocompleteStaticListArg)
	if !ok || len(static.PossibleArguments) != 2 || static.PossibleArguments[0].Item != "prod" || static.PossibleArguments[1].HelpText != "Test" {
		t.Fatalf("static list arg = %#v", run.Arguments[0].Data)
	}
	if text, ok := run.Arguments[1].Data.(*model.AutocompleteTextArg); !ok || text.Pattern != ".*" || run.Arguments[1].Name != "note" {
		t.Fatalf("text arg = %#v", run.Arguments[1])
	}
	// The server rewrote the relative fetch URL of the dynamic list for the plugin.
	if dyn, ok := ad.SubCommands[1].Arguments[0].Data.(*model.AutocompleteDynamicListArg); !ok || dyn.FetchURL != "/plugins/"+f.id+"/autocomplete" {
		t.Fatalf("dynamic list arg = %#v", ad.SubCommands[1].Arguments[0].Data)
	}
	// Invalid autocomplete data: the server's error comes back.
	bad := map[string]any{"trigger": "bad", "autocomplete_data": map[string]any{"Trigger": "BAD"}}
	if rep := f.call("RegisterCommand", map[string]any{"command": bad}); rep.Error == nil {
		t.Fatal("RegisterCommand with invalid autocomplete data succeeded")
	}
	f.ok("UnregisterCommand", map[string]any{"teamId": f.team.Id, "trigger": "deploy"}, nil)
	if f.srv.Command(f.id, "deploy") != nil {
		t.Fatal("UnregisterCommand left the command")
	}

	// Hook errors in both directions: /probe fail returns an AppError to the host.
	resp, appErr := f.command("/probe echo hi there")
	if appErr != nil || resp == nil || resp.Text != "probe: hi there" {
		t.Fatalf("/probe echo: %+v %v", resp, appErr)
	}
	_, appErr = f.command("/probe fail")
	if appErr == nil || appErr.Id != f.id+".fail" || appErr.StatusCode != http.StatusBadRequest || appErr.DetailedError == "" {
		t.Fatalf("/probe fail: %+v", appErr)
	}
	resp, appErr = f.command("/probe panic")
	if appErr == nil && (resp == nil || resp.Text == "") {
		t.Fatalf("/probe panic: no error reported (%+v)", resp)
	}
	if err := f.env.Env.PerformHealthCheck(f.id); err != nil {
		t.Fatal(err)
	}
	var last struct {
		LastCommand map[string]any `json:"last_command"`
		Counts      map[string]int `json:"counts"`
	}
	f.getJSON("/hooks", &last)
	if last.Counts["ExecuteCommand"] != 3 || last.LastCommand["channel_id"] != f.channel.Id {
		t.Fatalf("hooks after commands = %+v", last)
	}
}

func TestProbeBots(t *testing.T) {
	f := newProbe(t, nil)
	botArg := map[string]any{"bot": map[string]any{"username": "probe-bot", "display_name": "Probe Bot", "description": "Probes."}}
	var id1, id2, id3 string
	f.ok("EnsureBotUser", botArg, &id1)
	f.ok("EnsureBotUser", botArg, &id2)
	f.ok("EnsureBot", botArg, &id3)
	if id1 == "" || id1 != id2 || id1 != id3 {
		t.Fatalf("EnsureBotUser/EnsureBot ids %q %q %q", id1, id2, id3)
	}
	if got := string(f.srv.KV(f.id, "mmi_botid")); got != id1 {
		t.Fatalf("mmi_botid = %q", got)
	}
	if f.srv.KV(f.id, "mutex_mmi_bot_ensure") != nil {
		t.Fatal("EnsureBot left its cluster mutex locked")
	}

	var created model.Bot
	f.ok("CreateBot", map[string]any{"bot": map[string]any{"username": "helper-bot", "display_name": "Helper", "description": "Helps."}}, &created)
	if created.UserId == "" || created.OwnerId != f.id || created.CreateAt == 0 {
		t.Fatalf("CreateBot = %+v", created)
	}
	f.fails("CreateBot", map[string]any{"bot": map[string]any{"username": "helper-bot"}}, http.StatusBadRequest)
	var got model.Bot
	f.ok("GetBot", map[string]any{"botUserId": created.UserId}, &got)
	if got.Username != "helper-bot" || got.Description != "Helps." {
		t.Fatalf("GetBot = %+v", got)
	}
	var patched model.Bot
	f.ok("PatchBot", map[string]any{"botUserId": created.UserId, "botPatch": map[string]any{"display_name": "Helper 2"}}, &patched)
	if patched.DisplayName != "Helper 2" || patched.Username != "helper-bot" {
		t.Fatalf("PatchBot = %+v", patched)
	}
	var list []model.Bot
	f.ok("GetBots", map[string]any{"options": map[string]any{"OwnerId": f.id, "PerPage": 10}}, &list)
	if len(list) != 2 {
		t.Fatalf("GetBots = %+v", list)
	}
	var inactive model.Bot
	f.ok("UpdateBotActive", map[string]any{"botUserId": created.UserId, "active": false}, &inactive)
	if inactive.DeleteAt == 0 {
		t.Fatalf("UpdateBotActive(false) = %+v", inactive)
	}
	f.fails("GetBot", map[string]any{"botUserId": created.UserId}, http.StatusNotFound)
	f.ok("GetBot", map[string]any{"botUserId": created.UserId, "includeDeleted": true}, &got)

	img := tinyPNG(t)
	f.ok("SetProfileImage", map[string]any{"userId": id1, "data": b64(img)}, nil)
	if !bytes.Equal(f.srv.ProfileImage(id1), img) {
		t.Fatal("SetProfileImage: stored bytes differ")
	}
	f.fails("SetProfileImage", map[string]any{"userId": id1, "data": b64([]byte("not an image"))}, http.StatusBadRequest)

	f.ok("PermanentDeleteBot", map[string]any{"botUserId": created.UserId}, nil)
	f.fails("GetBot", map[string]any{"botUserId": created.UserId, "includeDeleted": true}, http.StatusNotFound)
	f.fails("PermanentDeleteBot", map[string]any{"botUserId": f.alice.Id}, http.StatusBadRequest)
}

func TestProbePosts(t *testing.T) {
	f := newProbe(t, nil)
	var botID string
	f.ok("EnsureBotUser", map[string]any{"bot": map[string]any{"username": "probe-bot"}}, &botID)
	var file model.FileInfo
	data := randBytes(t, 300<<10)
	f.ok("UploadFile", map[string]any{"data": b64(data), "channelId": f.channel.Id, "filename": "report.csv"}, &file)
	if file.Id == "" || file.Name != "report.csv" || file.Size != int64(len(data)) || file.Extension != "csv" {
		t.Fatalf("UploadFile = %+v", file)
	}
	if _, stored := f.srv.File(file.Id); !bytes.Equal(stored, data) {
		t.Fatal("UploadFile: stored bytes differ")
	}
	f.fails("UploadFile", map[string]any{"data": b64(data), "channelId": model.NewId(), "filename": "x.csv"}, http.StatusNotFound)

	attachments := []any{map[string]any{
		"fallback": "Deploy finished", "color": "#36a64f", "title": "Deploy #42", "text": "All **green**",
		"fields": []any{map[string]any{"title": "Env", "value": "prod", "short": true},
			map[string]any{"title": "Took", "value": "93s", "short": true}},
	}}
	post := map[string]any{"user_id": botID, "channel_id": f.channel.Id, "message": "Deploy done :rocket:",
		"file_ids": []string{file.Id},
		"props":    map[string]any{"attachments": attachments, "sync": "deploys", "count": 3, "nested": map[string]any{"ok": true}}}
	var created model.Post
	f.ok("CreatePost", map[string]any{"post": post}, &created)
	if created.Id == "" || created.Message != "Deploy done :rocket:" || created.UserId != botID || created.CreateAt == 0 {
		t.Fatalf("CreatePost = %+v", &created)
	}
	stored := f.srv.Posts()
	if len(stored) != 1 {
		t.Fatalf("%d posts stored", len(stored))
	}
	sp := stored[0]
	if sp.GetProp("from_plugin") != "true" || sp.GetProp("from_bot") != "true" || sp.GetProp("sync") != "deploys" {
		t.Fatalf("stored props = %v", sp.GetProps())
	}
	atts := sp.Attachments()
	if len(atts) != 1 || atts[0].Title != "Deploy #42" || len(atts[0].Fields) != 2 || fmt.Sprint(atts[0].Fields[1].Value) != "93s" {
		t.Fatalf("attachments = %+v", atts)
	}
	if len(sp.FileIds) != 1 || sp.FileIds[0] != file.Id {
		t.Fatalf("file ids = %v", sp.FileIds)
	}
	if fi, _ := f.srv.File(file.Id); fi.PostId != sp.Id {
		t.Fatalf("file not attached to the post: %+v", fi)
	}
	var fetched model.Post
	f.ok("GetPost", map[string]any{"postId": created.Id}, &fetched)
	if fetched.Message != created.Message || fetched.GetProp("sync") != "deploys" {
		t.Fatalf("GetPost = %+v", &fetched)
	}
	e := f.fails("GetPost", map[string]any{"postId": model.NewId()}, http.StatusNotFound)
	if e.ID != "app.post.get.app_error" || e.Kind != "app" {
		t.Fatalf("GetPost error = %+v", e)
	}
	upd := map[string]any{"id": created.Id, "user_id": botID, "channel_id": f.channel.Id, "message": "Deploy done (edited)",
		"props": map[string]any{"sync": "deploys", "edited": "yes"}}
	var updated model.Post
	f.ok("UpdatePost", map[string]any{"post": upd}, &updated)
	if updated.Message != "Deploy done (edited)" || updated.EditAt == 0 || f.srv.Posts()[0].GetProp("edited") != "yes" {
		t.Fatalf("UpdatePost = %+v", &updated)
	}
	// Missing channel: the server's AppError reaches the probe intact.
	e = f.fails("CreatePost", map[string]any{"post": map[string]any{"user_id": botID, "channel_id": model.NewId(), "message": "x"}}, http.StatusNotFound)
	if e.ID != "app.channel.get.existing.app_error" {
		t.Fatalf("CreatePost error = %+v", e)
	}

	var eph model.Post
	f.ok("SendEphemeralPost", map[string]any{"userId": f.alice.Id, "post": map[string]any{"channel_id": f.channel.Id, "user_id": botID, "message": "only you"}}, &eph)
	if eph.Id == "" || eph.Type != model.PostTypeEphemeral {
		t.Fatalf("SendEphemeralPost = %+v", &eph)
	}
	f.ok("UpdateEphemeralPost", map[string]any{"userId": f.alice.Id, "post": map[string]any{"id": eph.Id, "channel_id": f.channel.Id, "message": "only you, updated"}}, nil)
	f.ok("DeleteEphemeralPost", map[string]any{"userId": f.alice.Id, "postId": eph.Id}, nil)
	ephs := f.srv.Ephemerals()
	if len(ephs) != 1 || ephs[0].Post.Message != "only you, updated" || !ephs[0].Deleted || ephs[0].UserID != f.alice.Id {
		t.Fatalf("ephemerals = %+v", ephs)
	}
}

func TestProbeChannelsUsersPermissions(t *testing.T) {
	f := newProbe(t, nil)
	bob := f.srv.AddUser("bob", "Bob@Example.com")
	var ch model.Channel
	f.ok("GetChannel", map[string]any{"channelId": f.channel.Id}, &ch)
	if ch.Name != "town-square" || ch.TeamId != f.team.Id || ch.Type != model.ChannelTypeOpen {
		t.Fatalf("GetChannel = %+v", ch)
	}
	f.ok("GetChannelByName", map[string]any{"teamId": f.team.Id, "name": "town-square"}, &ch)
	if ch.Id != f.channel.Id {
		t.Fatalf("GetChannelByName = %+v", ch)
	}
	f.ok("GetChannelByNameForTeamName", map[string]any{"teamName": "acme", "channelName": "town-square"}, &ch)
	if ch.Id != f.channel.Id {
		t.Fatalf("GetChannelByNameForTeamName = %+v", ch)
	}
	f.fails("GetChannelByName", map[string]any{"teamId": f.team.Id, "name": "nope"}, http.StatusNotFound)
	var dm, dm2 model.Channel
	f.ok("GetDirectChannel", map[string]any{"userId1": f.alice.Id, "userId2": bob.Id}, &dm)
	f.ok("GetDirectChannel", map[string]any{"userId1": bob.Id, "userId2": f.alice.Id}, &dm2)
	if dm.Type != model.ChannelTypeDirect || dm.Id == "" || dm.Id != dm2.Id {
		t.Fatalf("GetDirectChannel = %+v / %+v", dm, dm2)
	}
	var member model.ChannelMember
	f.ok("AddChannelMember", map[string]any{"channelId": f.channel.Id, "userId": bob.Id}, &member)
	if member.UserId != bob.Id || member.ChannelId != f.channel.Id {
		t.Fatalf("AddChannelMember = %+v", member)
	}
	if m := f.srv.ChannelMembers(f.channel.Id); len(m) != 1 || m[0] != bob.Id {
		t.Fatalf("members = %v", m)
	}
	var team model.Team
	f.ok("GetTeamByName", map[string]any{"name": "acme"}, &team)
	if team.Id != f.team.Id {
		t.Fatalf("GetTeamByName = %+v", team)
	}
	team = model.Team{}
	f.ok("GetTeam", map[string]any{"teamId": f.team.Id}, &team)
	if team.Name != "acme" {
		t.Fatalf("GetTeam = %+v", team)
	}
	var u model.User
	f.ok("GetUser", map[string]any{"userId": bob.Id}, &u)
	if u.Username != "bob" {
		t.Fatalf("GetUser = %+v", u)
	}
	f.ok("GetUserByEmail", map[string]any{"email": "bob@example.com"}, &u)
	if u.Id != bob.Id {
		t.Fatalf("GetUserByEmail = %+v", u)
	}
	f.ok("GetUserByUsername", map[string]any{"name": "alice"}, &u)
	if u.Id != f.alice.Id {
		t.Fatalf("GetUserByUsername = %+v", u)
	}
	f.fails("GetUser", map[string]any{"userId": model.NewId()}, http.StatusNotFound)

	f.srv.Grant(bob.Id, model.PermissionManageSystem.Id)
	f.srv.GrantTeam(f.alice.Id, f.team.Id, model.PermissionCreatePost.Id)
	cases := []struct {
		method string
		args   map[string]any
		want   bool
	}{
		{"HasPermissionTo", map[string]any{"userId": bob.Id, "permission": "manage_system"}, true},
		{"HasPermissionTo", map[string]any{"userId": f.alice.Id, "permission": map[string]any{"id": "manage_system"}}, false},
		{"HasPermissionToTeam", map[string]any{"userId": f.alice.Id, "teamId": f.team.Id, "permission": "create_post"}, true},
		{"HasPermissionToTeam", map[string]any{"userId": f.alice.Id, "teamId": model.NewId(), "permission": "create_post"}, false},
		{"HasPermissionToChannel", map[string]any{"userId": f.alice.Id, "channelId": f.channel.Id, "permission": "create_post"}, true},
		{"HasPermissionToChannel", map[string]any{"userId": bob.Id, "channelId": dm.Id, "permission": "create_post"}, false},
	}
	for _, c := range cases {
		rep := f.ok(c.method, c.args, nil)
		if rep.OK != c.want || string(rep.Result) != fmt.Sprint(c.want) {
			t.Errorf("%s %v = %v (%s), want %v", c.method, c.args, rep.OK, rep.Result, c.want)
		}
	}
}

func TestProbeKV(t *testing.T) {
	f := newProbe(t, nil)
	big := randBytes(t, 1<<20)
	f.ok("KVSet", map[string]any{"key": "big", "value": b64(big)}, nil)
	if !bytes.Equal(f.srv.KV(f.id, "big"), big) {
		t.Fatal("KVSet 1 MiB: stored value differs")
	}
	var got *string
	f.ok("KVGet", map[string]any{"key": "big"}, &got)
	if got == nil || *got != b64(big) {
		t.Fatal("KVGet 1 MiB: value differs")
	}
	f.ok("KVGet", map[string]any{"key": "missing"}, &got)
	if got != nil {
		t.Fatalf("KVGet missing = %q", *got)
	}
	set := func(key string, value []byte, opts map[string]any) bool {
		args := map[string]any{"key": key, "options": opts}
		if value != nil {
			args["value"] = b64(value)
		}
		return f.ok("KVSetWithOptions", args, nil).OK
	}
	atomic := func(old []byte) map[string]any {
		o := map[string]any{"Atomic": true}
		if old != nil {
			o["OldValue"] = b64(old)
		}
		return o
	}
	steps := []struct {
		name string
		got  bool
		want bool
	}{
		{"set-if-absent on absent key", set("lock", []byte{1}, atomic(nil)), true},
		{"set-if-absent on present key", set("lock", []byte{2}, atomic(nil)), false},
		{"compare-and-set with wrong old", set("lock", []byte{3}, atomic([]byte{9})), false},
		{"compare-and-set with right old", set("lock", []byte{3}, atomic([]byte{1})), true},
		{"compare-and-delete with wrong old", set("lock", nil, atomic([]byte{1})), false},
		{"compare-and-delete with right old", set("lock", nil, atomic([]byte{3})), true},
		{"plain set", set("plain", []byte("v"), map[string]any{}), true},
		{"plain delete (nil value)", set("plain", nil, map[string]any{}), true},
	}
	for _, s := range steps {
		if s.got != s.want {
			t.Errorf("KVSetWithOptions %s = %v, want %v", s.name, s.got, s.want)
		}
	}
	if f.srv.KV(f.id, "lock") != nil || f.srv.KV(f.id, "plain") != nil {
		t.Fatal("deletes via KVSetWithOptions left values")
	}
	// OldValue without Atomic is rejected by the server.
	f.fails("KVSetWithOptions", map[string]any{"key": "x", "value": b64([]byte("v")), "options": map[string]any{"OldValue": b64([]byte("o"))}}, http.StatusBadRequest)

	rep := f.ok("KVCompareAndSet", map[string]any{"key": "cas", "newValue": b64([]byte("a"))}, nil)
	if !rep.OK {
		t.Fatal("KVCompareAndSet on absent key with nil old failed")
	}
	if f.ok("KVCompareAndSet", map[string]any{"key": "cas", "oldValue": b64([]byte("b")), "newValue": b64([]byte("c"))}, nil).OK {
		t.Fatal("KVCompareAndSet with wrong old value succeeded")
	}
	if !f.ok("KVCompareAndSet", map[string]any{"key": "cas", "oldValue": b64([]byte("a")), "newValue": b64([]byte("c"))}, nil).OK ||
		string(f.srv.KV(f.id, "cas")) != "c" {
		t.Fatal("KVCompareAndSet with right old value failed")
	}

	f.ok("KVSetWithExpiry", map[string]any{"key": "short", "value": b64([]byte("soon gone")), "expireInSeconds": 1}, nil)
	f.ok("KVSetWithExpiry", map[string]any{"key": "long", "value": b64([]byte("stays")), "expireInSeconds": 3600}, nil)
	if string(f.srv.KV(f.id, "short")) != "soon gone" {
		t.Fatal("KVSetWithExpiry did not store")
	}
	time.Sleep(1100 * time.Millisecond)
	f.ok("KVGet", map[string]any{"key": "short"}, &got)
	if got != nil {
		t.Fatal("expired key still readable")
	}

	var keys []string
	f.ok("KVList", map[string]any{"page": 0, "perPage": 2}, &keys)
	if strings.Join(keys, ",") != "big,cas" {
		t.Fatalf("KVList page 0 = %v", keys)
	}
	f.ok("KVList", map[string]any{"page": 1, "perPage": 2}, &keys)
	if strings.Join(keys, ",") != "long" {
		t.Fatalf("KVList page 1 = %v", keys)
	}
	f.ok("KVDelete", map[string]any{"key": "big"}, nil)
	if f.srv.KV(f.id, "big") != nil {
		t.Fatal("KVDelete left the value")
	}
	f.ok("KVDeleteAll", nil, nil)
	if keys := f.srv.KVKeys(f.id); len(keys) != 0 {
		t.Fatalf("KVDeleteAll left %v", keys)
	}
	f.fails("KVSet", map[string]any{"key": strings.Repeat("k", 151), "value": b64([]byte("v"))}, http.StatusBadRequest)
}

func TestProbeLogsAndEvents(t *testing.T) {
	f := newProbe(t, nil)
	for _, level := range []string{"Debug", "Info", "Warn", "Error"} {
		f.ok("Log"+level, map[string]any{"msg": "probe says " + level, "keyValuePairs": []any{"sync", "deploys", "rows", "12"}}, nil)
	}
	for _, level := range []string{"debug", "info", "warn", "error"} {
		found := false
		for _, l := range f.srv.Logs() {
			if l.Level == level && strings.EqualFold(l.Message, "probe says "+level) {
				found = fmt.Sprint(l.KV) == "[sync deploys rows 12]"
				if !found {
					t.Errorf("log %s key/values = %v", level, l.KV)
				}
			}
		}
		if !found {
			t.Errorf("no %s log; logs = %+v", level, f.srv.Logs())
		}
	}
	f.ok("PublishWebSocketEvent", map[string]any{"event": "sync_done", "payload": map[string]any{"sync": "deploys", "rows": 12, "ok": true},
		"broadcast": map[string]any{"channel_id": f.channel.Id}}, nil)
	ev := f.srv.Events()
	if len(ev) != 1 || ev[0].Event != "custom_"+f.id+"_sync_done" || ev[0].Payload["sync"] != "deploys" ||
		ev[0].Broadcast == nil || ev[0].Broadcast.ChannelId != f.channel.Id {
		t.Fatalf("events = %+v", ev)
	}
}

func TestProbeErrorsBothWaysAndPanics(t *testing.T) {
	f := newProbe(t, nil)
	// Host → probe: an AppError from the API arrives with its fields.
	f.srv.FailNext("KVGet", model.NewAppError("KVGet", "app.plugin.kv.get.app_error", nil, "store exploded", http.StatusServiceUnavailable))
	e := f.fails("KVGet", map[string]any{"key": "k"}, http.StatusServiceUnavailable)
	if e.ID != "app.plugin.kv.get.app_error" || !strings.Contains(e.DetailedError, "store exploded") {
		t.Fatalf("KVGet error = %+v", e)
	}
	// Unknown method / bad arguments: 400 from the probe itself.
	if _, status := f.callRaw("NoSuchMethod", nil); status != http.StatusBadRequest {
		t.Fatalf("unknown method: HTTP %d", status)
	}
	if _, status := f.callRaw("GetUser", map[string]any{"userId": 12}); status != http.StatusBadRequest {
		t.Fatalf("mistyped argument: HTTP %d", status)
	}
	// A panicking handler: 500, and the plugin keeps serving.
	req, _ := http.NewRequest(http.MethodPost, "/panic", nil)
	rec := newRecorder()
	f.hooks().ServeHTTP(&plugin.Context{}, rec, req)
	if rec.code != http.StatusInternalServerError {
		t.Fatalf("POST /panic: %d", rec.code)
	}
	if err := f.env.Env.PerformHealthCheck(f.id); err != nil {
		t.Fatal(err)
	}
	var user model.User
	f.ok("GetUser", map[string]any{"userId": f.alice.Id}, &user)
	if user.Username != "alice" {
		t.Fatalf("after panic: %+v", user)
	}
}

func TestProbeHooksAndDeactivate(t *testing.T) {
	f := newProbe(t, nil)
	post, _ := f.srv.CreateUserPost(&model.Post{UserId: f.alice.Id, ChannelId: f.channel.Id, Message: "watch me",
		Props: model.StringInterface{"k": "v"}})
	f.hooks().MessageHasBeenPosted(&plugin.Context{}, post)
	var seen struct {
		Counts   map[string]int `json:"counts"`
		LastPost model.Post     `json:"last_post"`
	}
	f.getJSON("/hooks", &seen)
	if seen.LastPost.Id != post.Id || seen.LastPost.Message != "watch me" || seen.LastPost.GetProp("k") != "v" {
		t.Fatalf("MessageHasBeenPosted saw %+v", &seen.LastPost)
	}
	pid := f.env.PluginPID(f.id)
	if !f.env.Env.Deactivate(f.id) {
		t.Fatal("Deactivate returned false")
	}
	if string(f.srv.KV(f.id, "probe_deactivated")) != "1" {
		t.Fatal("OnDeactivate did not run (no probe_deactivated key)")
	}
	if _, ok := harness.WaitGone(pid, 10*time.Second); !ok {
		t.Fatal("probe process still alive after Deactivate")
	}
	assertCleanExit(t, f)
}
