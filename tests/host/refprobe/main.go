// Command refprobe is go-probe: a Go (official SDK) implementation of the rs-probe
// contract (examples/probe: POST /call/<Method>, GET /hooks, GET /request,
// POST /panic, /probe fail|panic|echo). It validates the probe tests while the
// Rust probe is absent and serves as their control afterwards.
package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
	"github.com/mattermost/mattermost/server/public/pluginapi"
)

type Probe struct {
	plugin.MattermostPlugin
	mu          sync.Mutex
	id          string
	counts      map[string]int
	lastPost    *model.Post
	lastCommand map[string]any
	config      map[string]any
	lastCluster map[string]any
	lastConfig  any
}

func (p *Probe) record(hook string, update func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.counts == nil {
		p.counts = map[string]int{}
	}
	p.counts[hook]++
	if update != nil {
		update()
	}
}

func (p *Probe) OnActivate() error {
	p.record("OnActivate", nil)
	if b, err := p.API.GetBundlePath(); err == nil {
		p.id = filepath.Base(b)
	}
	ad := model.NewAutocompleteData("probe", "[fail|echo <text>]", "Go probe test command")
	ad.AddCommand(model.NewAutocompleteData("fail", "", "Return an AppError"))
	echo := model.NewAutocompleteData("echo", "<text>", "Answer with the text")
	echo.AddTextArgument("Text to echo", "text", "")
	ad.AddCommand(echo)
	return p.API.RegisterCommand(&model.Command{Trigger: "probe", AutoComplete: true,
		AutoCompleteDesc: "Go probe test command", DisplayName: "Probe", AutocompleteData: ad})
}

func (p *Probe) OnDeactivate() error {
	p.record("OnDeactivate", nil)
	if appErr := p.API.KVSet("probe_deactivated", []byte("1")); appErr != nil {
		return appErr
	}
	return nil
}

func (p *Probe) OnConfigurationChange() error {
	var cfg map[string]any
	if err := p.API.LoadPluginConfiguration(&cfg); err != nil {
		return err
	}
	p.record("OnConfigurationChange", func() { p.config = cfg })
	return nil
}

func (p *Probe) ExecuteCommand(_ *plugin.Context, args *model.CommandArgs) (resp *model.CommandResponse, appErr *model.AppError) {
	text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(args.Command), "/probe"))
	p.record("ExecuteCommand", func() {
		p.lastCommand = map[string]any{"command": args.Command, "user_id": args.UserId, "channel_id": args.ChannelId,
			"team_id": args.TeamId, "root_id": args.RootId}
	})
	defer func() { // a Go plugin process dies on an unrecovered panic; the Rust one catches it
		if r := recover(); r != nil {
			resp, appErr = nil, model.NewAppError("ExecuteCommand", p.id+".panic", nil, fmt.Sprint(r), http.StatusInternalServerError)
		}
	}()
	switch {
	case text == "fail":
		return nil, model.NewAppError("ExecuteCommand", p.id+".fail", nil, "the /probe fail command always fails", http.StatusBadRequest)
	case text == "panic":
		panic("probe panic requested by /probe panic")
	}
	echo := strings.TrimSpace(strings.TrimPrefix(text, "echo"))
	return &model.CommandResponse{ResponseType: model.CommandResponseTypeEphemeral, Text: "probe: " + echo}, nil
}

func (p *Probe) MessageHasBeenPosted(_ *plugin.Context, post *model.Post) {
	p.record("MessageHasBeenPosted", func() { p.lastPost = post })
}

func (p *Probe) OnPluginClusterEvent(_ *plugin.Context, ev model.PluginClusterEvent) {
	p.record("OnPluginClusterEvent", func() {
		p.lastCluster = map[string]any{"id": ev.Id, "data": base64.StdEncoding.EncodeToString(ev.Data)}
	})
}

// ConfigurationWillBeSaved accepts the configuration unchanged unless this plugin's
// "probesetting" is "reject"; it never returns a configuration.
func (p *Probe) ConfigurationWillBeSaved(newCfg *model.Config) (cfg *model.Config, err error) {
	defer func() { // a panic is no verdict: the Rust bindings log it and answer "no change"
		if r := recover(); r != nil {
			p.API.LogError("ConfigurationWillBeSaved panicked", "panic", fmt.Sprint(r))
			cfg, err = nil, nil
		}
	}()
	var settings map[string]any
	if newCfg != nil {
		settings = newCfg.PluginSettings.Plugins[p.id]
	}
	p.record("ConfigurationWillBeSaved", func() { p.lastConfig = settings })
	if fmt.Sprint(settings["probesetting"]) == "panic" {
		panic("probe panic requested by probesetting = \"panic\"")
	}
	if fmt.Sprint(settings["probesetting"]) == "reject" {
		return nil, model.NewAppError("ConfigurationWillBeSaved", p.id+".config.rejected", nil,
			"ProbeSetting: reject is not allowed", http.StatusBadRequest)
	}
	return nil, nil
}

func sendJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *Probe) ServeHTTP(c *plugin.Context, w http.ResponseWriter, r *http.Request) {
	p.record("ServeHTTP", nil)
	defer func() {
		if rec := recover(); rec != nil {
			http.Error(w, fmt.Sprint(rec), http.StatusInternalServerError)
		}
	}()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/panic":
		panic("probe panic requested by POST /panic")
	case r.Method == http.MethodGet && r.URL.Path == "/hooks":
		p.mu.Lock()
		out := map[string]any{"counts": p.counts, "last_post": p.lastPost, "last_command": p.lastCommand, "config": p.config,
			"last_cluster_event": p.lastCluster, "last_config_check": p.lastConfig}
		b, err := json.Marshal(out)
		p.mu.Unlock()
		if err != nil {
			sendJSON(w, 500, map[string]any{"error": err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	case r.Method == http.MethodGet && r.URL.Path == "/request":
		sendJSON(w, 200, map[string]any{"method": r.Method, "url": r.URL.String(), "path": r.URL.Path,
			"query": r.URL.Query(), "proto": r.Proto, "header": r.Header, "host": r.Host, "remote_addr": r.RemoteAddr,
			"request_uri": r.RequestURI, "user_id": r.Header.Get("Mattermost-User-Id"),
			"context": map[string]any{"session_id": c.SessionId, "request_id": c.RequestId, "ip_address": c.IPAddress,
				"accept_language": c.AcceptLanguage, "user_agent": c.UserAgent}})
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/call/"):
		p.handleCall(strings.TrimPrefix(r.URL.Path, "/call/"), w, r)
	default:
		http.NotFound(w, r)
	}
}

type badRequest string

func (p *Probe) handleCall(method string, w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		sendJSON(w, 400, map[string]any{"error": err.Error()})
		return
	}
	args := map[string]json.RawMessage{}
	if strings.TrimSpace(string(body)) != "" {
		if err := json.Unmarshal(body, &args); err != nil {
			sendJSON(w, 400, map[string]any{"error": "invalid JSON: " + err.Error()})
			return
		}
	}
	result, ok, callErr := p.call(method, args)
	var bad badRequest
	switch {
	case callErr == nil:
		sendJSON(w, 200, map[string]any{"result": result, "ok": ok, "error": nil})
	case errors.As(callErr, &bad):
		sendJSON(w, 400, map[string]any{"error": string(bad)})
	default:
		sendJSON(w, 200, map[string]any{"result": nil, "ok": false, "error": errorJSON(callErr)})
	}
}

func (b badRequest) Error() string { return string(b) }

// notAvailable: the server's API lacks the method (the bindings' ApiError::NotAvailable).
type notAvailable string

func (n notAvailable) Error() string { return string(n) + " is not available on this server" }

func errorJSON(err error) map[string]any {
	var appErr *model.AppError
	if errors.As(err, &appErr) {
		return map[string]any{"kind": "app", "id": appErr.Id, "message": appErr.Message,
			"detailed_error": appErr.DetailedError, "status_code": appErr.StatusCode}
	}
	var na notAvailable
	if errors.As(err, &na) {
		return map[string]any{"kind": "not_available", "id": "", "message": na.Error(), "detailed_error": "", "status_code": 500}
	}
	return map[string]any{"kind": "remote", "id": "", "message": err.Error(), "detailed_error": "", "status_code": 500}
}

// args decodes one argument, reporting a bad request on a type mismatch.
type argSet map[string]json.RawMessage

func (a argSet) into(name string, dst any) error {
	raw, ok := a[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return badRequest(fmt.Sprintf("argument %s: %v", name, err))
	}
	return nil
}

func (a argSet) str(name string) (string, error) {
	var s string
	return s, a.into(name, &s)
}

func (a argSet) bytes(name string) ([]byte, error) {
	s, err := a.str(name)
	if err != nil || s == "" {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, badRequest(fmt.Sprintf("argument %s: invalid base64: %v", name, err))
	}
	return b, nil
}

func (a argSet) perm() (*model.Permission, error) {
	var s string
	if err := json.Unmarshal(a["permission"], &s); err == nil {
		return &model.Permission{Id: s}, nil
	}
	var obj struct {
		ID string `json:"id"`
	}
	if err := a.into("permission", &obj); err != nil {
		return nil, err
	}
	return &model.Permission{Id: obj.ID}, nil
}

func appErr(e *model.AppError) error {
	if e == nil {
		return nil
	}
	return e
}

// must wraps a call whose arguments decoded fine.
func (p *Probe) call(method string, raw map[string]json.RawMessage) (any, bool, error) {
	a := argSet(raw)
	s := func(name string) string { v, _ := a.str(name); return v }
	var b bool
	var err error
	switch method {
	case "LoadPluginConfiguration":
		var cfg map[string]any
		err = p.API.LoadPluginConfiguration(&cfg)
		return cfg, true, err
	case "GetConfig":
		return p.API.GetConfig(), true, nil
	case "GetPluginConfig":
		return p.API.GetPluginConfig(), true, nil
	case "SavePluginConfig":
		var cfg map[string]any
		if err := a.into("config", &cfg); err != nil {
			return nil, false, err
		}
		return nil, true, appErr(p.API.SavePluginConfig(cfg))
	case "GetBundlePath":
		v, err := p.API.GetBundlePath()
		return v, true, err
	case "GetServerVersion":
		return p.API.GetServerVersion(), true, nil
	case "RegisterCommand":
		var c model.Command
		if err := a.into("command", &c); err != nil {
			return nil, false, err
		}
		return nil, true, p.API.RegisterCommand(&c)
	case "UnregisterCommand":
		return nil, true, p.API.UnregisterCommand(s("teamId"), s("trigger"))
	case "EnsureBotUser", "EnsureBot", "CreateBot":
		var bot model.Bot
		if err := a.into("bot", &bot); err != nil {
			return nil, false, err
		}
		switch method {
		case "EnsureBotUser":
			id, err := p.API.EnsureBotUser(&bot)
			return id, true, err
		case "EnsureBot":
			id, err := pluginapi.NewClient(p.API, p.Driver).Bot.EnsureBot(&bot)
			return id, true, err
		}
		v, e := p.API.CreateBot(&bot)
		return v, true, appErr(e)
	case "GetBot":
		err = a.into("includeDeleted", &b)
		if err != nil {
			return nil, false, err
		}
		v, e := p.API.GetBot(s("botUserId"), b)
		return v, true, appErr(e)
	case "PatchBot":
		var patch model.BotPatch
		if err := a.into("botPatch", &patch); err != nil {
			return nil, false, err
		}
		v, e := p.API.PatchBot(s("botUserId"), &patch)
		return v, true, appErr(e)
	case "GetBots":
		var o model.BotGetOptions // no JSON tags: OwnerId, IncludeDeleted, OnlyOrphaned, Page, PerPage
		if err := a.into("options", &o); err != nil {
			return nil, false, err
		}
		v, e := p.API.GetBots(&o)
		return v, true, appErr(e)
	case "UpdateBotActive":
		if err := a.into("active", &b); err != nil {
			return nil, false, err
		}
		v, e := p.API.UpdateBotActive(s("botUserId"), b)
		return v, true, appErr(e)
	case "PermanentDeleteBot":
		return nil, true, appErr(p.API.PermanentDeleteBot(s("botUserId")))
	case "SetProfileImage":
		data, err := a.bytes("data")
		if err != nil {
			return nil, false, err
		}
		return nil, true, appErr(p.API.SetProfileImage(s("userId"), data))
	case "CreatePost", "UpdatePost", "SendEphemeralPost", "UpdateEphemeralPost":
		var post model.Post
		if err := a.into("post", &post); err != nil {
			return nil, false, err
		}
		switch method {
		case "CreatePost":
			v, e := p.API.CreatePost(&post)
			return v, true, appErr(e)
		case "UpdatePost":
			v, e := p.API.UpdatePost(&post)
			return v, true, appErr(e)
		case "SendEphemeralPost":
			return p.API.SendEphemeralPost(s("userId"), &post), true, nil
		}
		return p.API.UpdateEphemeralPost(s("userId"), &post), true, nil
	case "GetPost":
		v, e := p.API.GetPost(s("postId"))
		return v, true, appErr(e)
	case "DeletePost":
		return nil, true, appErr(p.API.DeletePost(s("postId")))
	case "GetPostsSince":
		var since int64
		if err := a.into("time", &since); err != nil {
			return nil, false, err
		}
		v, e := p.API.GetPostsSince(s("channelId"), since)
		return v, true, appErr(e)
	case "GetPostsForChannel":
		var page, perPage int
		if err := a.into("page", &page); err != nil {
			return nil, false, err
		}
		if err := a.into("perPage", &perPage); err != nil {
			return nil, false, err
		}
		v, e := p.API.GetPostsForChannel(s("channelId"), page, perPage)
		return v, true, appErr(e)
	case "GetUsersByUsernames":
		var names []string
		if err := a.into("usernames", &names); err != nil {
			return nil, false, err
		}
		v, e := p.API.GetUsersByUsernames(names)
		return v, true, appErr(e)
	case "GetUsersByIds":
		var ids []string
		if err := a.into("userIds", &ids); err != nil {
			return nil, false, err
		}
		// Only server/public ≥ 9.8 has the method; an older API client lacks it.
		api, ok := p.API.(interface {
			GetUsersByIds([]string) ([]*model.User, *model.AppError)
		})
		if !ok {
			return nil, false, notAvailable("GetUsersByIds")
		}
		v, e := api.GetUsersByIds(ids)
		return v, true, appErr(e)
	case "PublishPluginClusterEvent":
		var ev model.PluginClusterEvent // no JSON tags: Id, Data (base64)
		var opts model.PluginClusterEventSendOptions
		if err := a.into("event", &ev); err != nil {
			return nil, false, err
		}
		if err := a.into("options", &opts); err != nil {
			return nil, false, err
		}
		return nil, true, p.API.PublishPluginClusterEvent(ev, opts)
	case "DeleteEphemeralPost":
		p.API.DeleteEphemeralPost(s("userId"), s("postId"))
		return nil, true, nil
	case "GetChannel":
		v, e := p.API.GetChannel(s("channelId"))
		return v, true, appErr(e)
	case "GetChannelByName", "GetChannelByNameForTeamName":
		if err := a.into("includeDeleted", &b); err != nil {
			return nil, false, err
		}
		if method == "GetChannelByName" {
			v, e := p.API.GetChannelByName(s("teamId"), s("name"), b)
			return v, true, appErr(e)
		}
		v, e := p.API.GetChannelByNameForTeamName(s("teamName"), s("channelName"), b)
		return v, true, appErr(e)
	case "GetDirectChannel":
		v, e := p.API.GetDirectChannel(s("userId1"), s("userId2"))
		return v, true, appErr(e)
	case "AddChannelMember":
		v, e := p.API.AddChannelMember(s("channelId"), s("userId"))
		return v, true, appErr(e)
	case "GetUser":
		var id string
		if err := a.into("userId", &id); err != nil {
			return nil, false, err
		}
		v, e := p.API.GetUser(id)
		return v, true, appErr(e)
	case "GetUserByEmail":
		v, e := p.API.GetUserByEmail(s("email"))
		return v, true, appErr(e)
	case "GetUserByUsername":
		v, e := p.API.GetUserByUsername(s("name"))
		return v, true, appErr(e)
	case "GetTeam":
		v, e := p.API.GetTeam(s("teamId"))
		return v, true, appErr(e)
	case "GetTeamByName":
		v, e := p.API.GetTeamByName(s("name"))
		return v, true, appErr(e)
	case "HasPermissionTo", "HasPermissionToTeam", "HasPermissionToChannel":
		perm, err := a.perm()
		if err != nil {
			return nil, false, err
		}
		switch method {
		case "HasPermissionTo":
			b = p.API.HasPermissionTo(s("userId"), perm)
		case "HasPermissionToTeam":
			b = p.API.HasPermissionToTeam(s("userId"), s("teamId"), perm)
		default:
			b = p.API.HasPermissionToChannel(s("userId"), s("channelId"), perm)
		}
		return b, b, nil
	case "KVGet":
		v, e := p.API.KVGet(s("key"))
		if e != nil || v == nil {
			return nil, true, appErr(e)
		}
		return base64.StdEncoding.EncodeToString(v), true, nil
	case "KVSet", "KVSetWithExpiry":
		v, err := a.bytes("value")
		if err != nil {
			return nil, false, err
		}
		if method == "KVSet" {
			return nil, true, appErr(p.API.KVSet(s("key"), v))
		}
		var exp int64
		if err := a.into("expireInSeconds", &exp); err != nil {
			return nil, false, err
		}
		return nil, true, appErr(p.API.KVSetWithExpiry(s("key"), v, exp))
	case "KVSetWithOptions":
		v, err := a.bytes("value")
		if err != nil {
			return nil, false, err
		}
		var o model.PluginKVSetOptions // no JSON tags: Atomic, OldValue (base64), ExpireInSeconds
		if err := a.into("options", &o); err != nil {
			return nil, false, err
		}
		ok, e := p.API.KVSetWithOptions(s("key"), v, o)
		return ok, ok, appErr(e)
	case "KVCompareAndSet":
		old, err := a.bytes("oldValue")
		if err != nil {
			return nil, false, err
		}
		nv, err := a.bytes("newValue")
		if err != nil {
			return nil, false, err
		}
		ok, e := p.API.KVCompareAndSet(s("key"), old, nv)
		return ok, ok, appErr(e)
	case "KVDelete":
		return nil, true, appErr(p.API.KVDelete(s("key")))
	case "KVDeleteAll":
		return nil, true, appErr(p.API.KVDeleteAll())
	case "KVList":
		var page, perPage int
		if err := a.into("page", &page); err != nil {
			return nil, false, err
		}
		if err := a.into("perPage", &perPage); err != nil {
			return nil, false, err
		}
		v, e := p.API.KVList(page, perPage)
		return v, true, appErr(e)
	case "UploadFile":
		data, err := a.bytes("data")
		if err != nil {
			return nil, false, err
		}
		v, e := p.API.UploadFile(data, s("channelId"), s("filename"))
		return v, true, appErr(e)
	case "LogDebug", "LogInfo", "LogWarn", "LogError":
		var kv []any
		if err := a.into("keyValuePairs", &kv); err != nil {
			return nil, false, err
		}
		log := map[string]func(string, ...any){"LogDebug": p.API.LogDebug, "LogInfo": p.API.LogInfo,
			"LogWarn": p.API.LogWarn, "LogError": p.API.LogError}[method]
		log(s("msg"), kv...)
		return nil, true, nil
	case "PublishWebSocketEvent":
		var payload map[string]any
		var bc model.WebsocketBroadcast
		if err := a.into("payload", &payload); err != nil {
			return nil, false, err
		}
		if err := a.into("broadcast", &bc); err != nil {
			return nil, false, err
		}
		p.API.PublishWebSocketEvent(s("event"), payload, &bc)
		return nil, true, nil
	}
	return nil, false, badRequest(fmt.Sprintf("unknown method %q", method))
}

func main() {
	plugin.ClientMain(&Probe{})
}
