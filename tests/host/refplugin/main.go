// Command refplugin is go-hello: the Go reference plugin, built with the official
// SDK (plugin.ClientMain). It behaves exactly like the Rust example rs-hello, so
// the host tests can use it as a control and the benchmark can compare the two.
// The plugin id is read from the manifest by the host; this code never needs it
// except for the deactivation log line, which it derives from the bundle path.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

const version = "0.1.0"

type configuration struct {
	Greeting string `json:"greeting"`
}

// HelloPlugin is go-hello.
type HelloPlugin struct {
	plugin.MattermostPlugin

	mu     sync.RWMutex
	config configuration
	botID  string
	id     string
}

func (p *HelloPlugin) greeting() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.config.Greeting == "" {
		return "Hello"
	}
	return p.config.Greeting
}

func (p *HelloPlugin) bot() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.botID
}

func (p *HelloPlugin) OnConfigurationChange() error {
	var cfg configuration
	if err := p.API.LoadPluginConfiguration(&cfg); err != nil {
		return fmt.Errorf("load configuration: %w", err)
	}
	p.mu.Lock()
	p.config = cfg
	p.mu.Unlock()
	return nil
}

func (p *HelloPlugin) OnActivate() error {
	if bundle, err := p.API.GetBundlePath(); err == nil {
		p.id = filepath.Base(bundle)
	}
	botID, err := p.API.EnsureBotUser(&model.Bot{Username: "hello-bot", DisplayName: "Hello Bot", Description: "Says hello."})
	if err != nil {
		return fmt.Errorf("ensure bot: %w", err)
	}
	p.mu.Lock()
	p.botID = botID
	p.mu.Unlock()

	ad := model.NewAutocompleteData("hello", "<text>", "Post a greeting as Hello Bot")
	ad.AddTextArgument("Who or what to greet", "<text>", "")
	if err := p.API.RegisterCommand(&model.Command{
		Trigger: "hello", DisplayName: "Hello", AutoComplete: true,
		AutoCompleteDesc: "Post a greeting as Hello Bot", AutoCompleteHint: "<text>", AutocompleteData: ad,
	}); err != nil {
		return fmt.Errorf("register /hello: %w", err)
	}

	n := p.activations() + 1
	if appErr := p.API.KVSet("activations", []byte(strconv.Itoa(n))); appErr != nil {
		return fmt.Errorf("store activation count: %w", appErr)
	}
	return nil
}

func (p *HelloPlugin) activations() int {
	b, appErr := p.API.KVGet("activations")
	if appErr != nil || len(b) == 0 {
		return 0
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return 0
	}
	return n
}

func (p *HelloPlugin) OnDeactivate() error {
	p.API.LogInfo(p.id + " deactivating")
	return nil
}

func (p *HelloPlugin) ExecuteCommand(_ *plugin.Context, args *model.CommandArgs) (*model.CommandResponse, *model.AppError) {
	text := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(args.Command), "/hello"))
	if text == "" {
		return &model.CommandResponse{ResponseType: model.CommandResponseTypeEphemeral,
			Text: "Usage: /hello <text> — posts a greeting as Hello Bot."}, nil
	}
	msg := fmt.Sprintf("%s, %s!", p.greeting(), text)
	if _, appErr := p.API.CreatePost(&model.Post{UserId: p.bot(), ChannelId: args.ChannelId, RootId: args.RootId, Message: msg}); appErr != nil {
		return &model.CommandResponse{ResponseType: model.CommandResponseTypeEphemeral,
			Text: "Could not post the greeting: " + appErr.Error()}, nil
	}
	return &model.CommandResponse{ResponseType: model.CommandResponseTypeEphemeral, Text: "Posted: " + msg}, nil
}

func (p *HelloPlugin) MessageHasBeenPosted(_ *plugin.Context, post *model.Post) {
	if post.Message != "hello?" || post.UserId == p.bot() {
		return
	}
	user, appErr := p.API.GetUser(post.UserId)
	if appErr != nil || user.IsBot {
		return
	}
	root := post.RootId
	if root == "" {
		root = post.Id
	}
	if _, appErr := p.API.CreatePost(&model.Post{UserId: p.bot(), ChannelId: post.ChannelId, RootId: root,
		Message: "Hello, @" + user.Username + "!"}); appErr != nil {
		p.API.LogError("reply to hello?", "error", appErr.Error())
	}
}

func (p *HelloPlugin) ServeHTTP(_ *plugin.Context, w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/status":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"activations": p.activations(), "version": version})
	case r.Method == http.MethodPost && r.URL.Path == "/echo":
		if ct := r.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, r.Body)
	case r.Method == http.MethodPost && r.URL.Path == "/bench":
		p.serveBench(w, r)
	default:
		http.NotFound(w, r)
	}
}

// serveBench runs the API loop of BENCH.md: n calls of op across workers goroutines.
func (p *HelloPlugin) serveBench(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err1 := strconv.Atoi(q.Get("n"))
	workers, err2 := strconv.Atoi(q.Get("workers"))
	op, channel := q.Get("op"), q.Get("channel")
	if err1 != nil || err2 != nil || n < 0 || workers < 1 || (op != "createpost" && op != "kvset") ||
		(op == "createpost" && channel == "") {
		http.Error(w, "bad bench parameters", http.StatusBadRequest)
		return
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				var appErr *model.AppError
				if op == "createpost" {
					_, appErr = p.API.CreatePost(&model.Post{UserId: p.bot(), ChannelId: channel, Message: "bench " + strconv.FormatInt(i, 10)})
				} else {
					appErr = p.API.KVSet("bench_"+strconv.FormatInt(i%1000, 10), []byte(strconv.FormatInt(i, 10)))
				}
				if appErr != nil {
					failed.Store(appErr.Error())
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if msg, ok := failed.Load().(string); ok {
		http.Error(w, "bench call failed: "+msg, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = fmt.Fprintf(w, "%d", elapsed.Nanoseconds())
}

func main() {
	plugin.ClientMain(&HelloPlugin{})
}
