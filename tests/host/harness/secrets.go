package harness

// The secret scan: tests register the secret values they hand a plugin (database paths and
// URLs with passwords, HTTP tokens, Secrets settings) with RegisterSecret; every Server and
// Env made through this package is remembered, and every hook error seen through
// Env.Hooks is recorded. After the tests, ScanSecrets (called by the package's TestMain)
// looks for every secret in everything a plugin produced: log lines, the host log (plugin
// stderr included), posts (message, props with attachments, file names), ephemeral posts,
// websocket and cluster events, uploaded files, KV values and hook errors.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

// Secrets is a registry of secret values and of the places to scan for them.
type Secrets struct {
	mu      sync.Mutex
	values  map[string]bool
	servers []*Server
	logs    []*SyncBuffer
	outputs []output
}

type output struct{ where, text string }

// Leak is one secret found somewhere it must not be.
type Leak struct {
	Secret string // the secret (as registered)
	Form   string // how it appeared: "raw", "json", "url", "base64"
	Where  string // e.g. "server 3: post abc… message"
	Text   string // an excerpt around the find
}

func (l Leak) String() string {
	return fmt.Sprintf("secret %q (%s) in %s: …%s…", l.Secret, l.Form, l.Where, l.Text)
}

// NewSecrets returns an empty registry (DefaultSecrets is the package-wide one).
func NewSecrets() *Secrets { return &Secrets{values: map[string]bool{}} }

// DefaultSecrets is the registry NewServer, NewEnv and Env.Hooks report to.
var DefaultSecrets = NewSecrets()

// RegisterSecret adds a secret value to the package-wide registry. Values shorter than
// 6 characters are refused (they would match by chance).
func RegisterSecret(value string) { DefaultSecrets.Register(value) }

// RecordOutput adds a text a plugin produced that the harness does not see by itself
// (e.g. an HTTP response body) to the package-wide scan.
func RecordOutput(where, text string) { DefaultSecrets.Record(where, text) }

// ScanSecrets scans everything of the package-wide registry.
func ScanSecrets() []Leak { return DefaultSecrets.Scan() }

// Register adds a secret value.
func (s *Secrets) Register(value string) {
	if len(value) < 6 {
		panic(fmt.Sprintf("RegisterSecret(%q): too short to scan for", value))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[value] = true
}

// Values returns the registered secrets, sorted.
func (s *Secrets) Values() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.values))
	for v := range s.values {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// AddServer includes a server's state in the scan.
func (s *Secrets) AddServer(srv *Server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servers = append(s.servers, srv)
}

// AddLog includes a host log buffer in the scan.
func (s *Secrets) AddLog(b *SyncBuffer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, b)
}

// Record includes one text in the scan.
func (s *Secrets) Record(where, text string) {
	if text == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outputs = append(s.outputs, output{where, text})
}

// Scan looks for every secret, in the forms a plugin could write it (as is, JSON-escaped,
// percent-encoded, base64), in everything registered.
func (s *Secrets) Scan() []Leak {
	type form struct{ name, text string }
	var needles [][]form
	for _, v := range s.Values() {
		forms := []form{{"raw", v}}
		add := func(name, text string) {
			for _, f := range forms {
				if f.text == text {
					return
				}
			}
			forms = append(forms, form{name, text})
		}
		if j, err := json.Marshal(v); err == nil {
			add("json", strings.Trim(string(j), `"`))
		}
		add("url", url.QueryEscape(v))
		add("url", url.PathEscape(v))
		add("base64", base64.StdEncoding.EncodeToString([]byte(v)))
		needles = append(needles, forms)
	}
	s.mu.Lock()
	servers := append([]*Server(nil), s.servers...)
	logs := append([]*SyncBuffer(nil), s.logs...)
	outputs := append([]output(nil), s.outputs...)
	s.mu.Unlock()

	var leaks []Leak
	check := func(where, text string) {
		for _, forms := range needles {
			for _, f := range forms {
				if i := strings.Index(text, f.text); i >= 0 {
					leaks = append(leaks, Leak{Secret: forms[0].text, Form: f.name, Where: where,
						Text: excerpt(text, i, len(f.text))})
					break
				}
			}
		}
	}
	for i, srv := range servers {
		srv.scanTexts(fmt.Sprintf("server %d (%s)", i+1, srv.PluginDir), check)
	}
	for i, b := range logs {
		check(fmt.Sprintf("host log %d", i+1), b.String())
	}
	for _, o := range outputs {
		check(o.where, o.text)
	}
	return leaks
}

func excerpt(text string, i, n int) string {
	from, to := max(0, i-80), min(len(text), i+n+80)
	return strings.ReplaceAll(text[from:to], "\n", `\n`)
}

// scanTexts hands every text the plugins produced on this server to check.
func (s *Server) scanTexts(prefix string, check func(where, text string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	js := func(v any) string {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Sprint(v)
		}
		return b.String()
	}
	for i, l := range s.logs {
		check(fmt.Sprintf("%s: plugin log %d (%s %s)", prefix, i+1, l.PluginID, l.Level),
			l.Message+" "+fmt.Sprint(l.KV...)+" "+js(l.KV))
	}
	for _, id := range s.postOrder {
		p, ok := s.posts[id]
		if !ok {
			continue
		}
		where := fmt.Sprintf("%s: post %s in channel %s", prefix, p.Id, p.ChannelId)
		check(where+" message", p.Message)
		check(where+" props (attachments included)", js(p.GetProps())+fmt.Sprint(p.GetProps()))
		check(where+" fields", js(p))
	}
	for i, e := range s.ephemeral {
		check(fmt.Sprintf("%s: ephemeral post %d", prefix, i+1), e.Post.Message+" "+js(e.Post))
	}
	for i, e := range s.events {
		check(fmt.Sprintf("%s: websocket event %d %s", prefix, i+1, e.Event), js(e.Payload))
	}
	for i, e := range s.clusterEvents {
		check(fmt.Sprintf("%s: cluster event %d %s", prefix, i+1, e.Event.Id), string(e.Event.Data))
	}
	for id, fi := range s.files {
		check(fmt.Sprintf("%s: file %s (%s)", prefix, id, fi.Name), fi.Name+" "+string(s.fileData[id]))
	}
	for plugin, kv := range s.kv {
		for key, e := range kv {
			check(fmt.Sprintf("%s: KV %s/%s", prefix, plugin, key), key+" "+string(e.value))
		}
	}
}

// recordingHooks records the errors (and command responses, post rejections) of the hooks
// a test calls, for the scan.
type recordingHooks struct {
	plugin.Hooks
	id      string
	secrets *Secrets
}

func (h recordingHooks) record(hook string, err error) {
	if err != nil {
		h.secrets.Record(fmt.Sprintf("hook %s of %s: error", hook, h.id), err.Error())
	}
}

func (h recordingHooks) OnActivate() error {
	err := h.Hooks.OnActivate()
	h.record("OnActivate", err)
	return err
}

func (h recordingHooks) OnDeactivate() error {
	err := h.Hooks.OnDeactivate()
	h.record("OnDeactivate", err)
	return err
}

func (h recordingHooks) OnConfigurationChange() error {
	err := h.Hooks.OnConfigurationChange()
	h.record("OnConfigurationChange", err)
	return err
}

func (h recordingHooks) ConfigurationWillBeSaved(cfg *model.Config) (*model.Config, error) {
	out, err := h.Hooks.ConfigurationWillBeSaved(cfg)
	h.record("ConfigurationWillBeSaved", err)
	return out, err
}

func (h recordingHooks) ExecuteCommand(c *plugin.Context, args *model.CommandArgs) (*model.CommandResponse, *model.AppError) {
	resp, appErr := h.Hooks.ExecuteCommand(c, args)
	if appErr != nil {
		h.record("ExecuteCommand", appErr)
	}
	if resp != nil {
		h.secrets.Record("hook ExecuteCommand of "+h.id+": response", resp.Text+" "+fmt.Sprint(resp.Props))
	}
	return resp, appErr
}

func (h recordingHooks) MessageWillBePosted(c *plugin.Context, post *model.Post) (*model.Post, string) {
	out, rejection := h.Hooks.MessageWillBePosted(c, post)
	h.secrets.Record("hook MessageWillBePosted of "+h.id+": rejection", rejection)
	return out, rejection
}

// wrapHooks is what Env.Hooks returns.
func wrapHooks(id string, h plugin.Hooks, err error) (plugin.Hooks, error) {
	if err != nil || h == nil {
		return h, err
	}
	return recordingHooks{Hooks: h, id: id, secrets: DefaultSecrets}, nil
}

// server registers a new server for the scan (NewServer).
func (s *Secrets) server(srv *Server) *Server {
	s.AddServer(srv)
	return srv
}
