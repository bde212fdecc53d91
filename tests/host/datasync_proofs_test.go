package hosttest

// Helpers of the Data Sync proofs (datasync_stories_test.go, datasync_crash_test.go,
// datasync_cluster_test.go): the real datasync-plugin executable (HOST_DATASYNC_BIN) under
// the real host code, its settings, its run log lines, its KV state and its posts.
//
// The proofs (the stories, kill -9 during delivery, two processes sharing one server) run
// once per run.sh: in the go.mod (server/public v0.3.0) pass, which sets
// HOST_DATASYNC_HEAVY=1, in parallel with each other (they mostly wait for schedules).

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

// pfPlugin is Data Sync installed on one or more nodes that share one in-memory server.
type pfPlugin struct {
	t        *testing.T
	srv      *harness.Server
	manifest *model.Manifest
	id       string
	bin      string
	nodes    []*harness.Env
	tags     *harness.Nodes // which node posted / logged (pfNewCluster only)
}

// pfHeavy skips a heavy proof outside the one run.sh pass that runs them.
func pfHeavy(t *testing.T) {
	t.Helper()
	if os.Getenv("HOST_DATASYNC_HEAVY") != "1" {
		t.Skip("heavy Data Sync proof: runs once per run.sh, in the server/public v0.3.0 pass (HOST_DATASYNC_HEAVY=1)")
	}
}

// pfNew installs Data Sync (the repository's plugin.json) on one node; settings are set
// before anything is activated. On failure the plugin log and every node's host log are
// printed.
func pfNew(t *testing.T, settings map[string]any) *pfPlugin {
	t.Helper()
	bin := dataSyncBinary(t)
	manifest := dataSyncManifest(t)
	env, err := harness.NewEnv(t.TempDir(), os.Getenv("HOST_LOG") != "")
	if err != nil {
		t.Fatal(err)
	}
	p := &pfPlugin{t: t, srv: env.Server, manifest: manifest, id: manifest.Id, bin: bin, nodes: []*harness.Env{env}}
	p.srv.SetPluginSettings(p.id, settings)
	p.install(env)
	t.Cleanup(func() {
		for _, n := range p.nodes {
			n.Env.Shutdown()
		}
		if t.Failed() {
			p.dumpLogs()
		}
	})
	return p
}

// pfNewCluster installs Data Sync on n nodes ("node-1", …) sharing one in-memory server,
// each its own plugin.Environment, plugin directory and process; posts and log lines are
// recorded with the node that made them (p.tags). Nothing is activated yet.
func pfNewCluster(t *testing.T, settings map[string]any, n int) *pfPlugin {
	t.Helper()
	p := pfNew(t, settings)
	base := p.nodes[0] // only its server is used: every node is made with NewNode
	p.tags = harness.NewNodes(p.srv)
	p.nodes = nil
	t.Cleanup(func() { base.Env.Shutdown() })
	for i := range n {
		env, err := base.NewNode(t.TempDir(), os.Getenv("HOST_LOG") != "", p.tags, fmt.Sprintf("node-%d", i+1))
		if err != nil {
			t.Fatal(err)
		}
		p.install(env)
		p.nodes = append(p.nodes, env)
	}
	return p
}

// install writes the bundle into a node's plugin directory as `make dist` ships it.
func (p *pfPlugin) install(env *harness.Env) {
	p.t.Helper()
	installDataSync(p.t, env, p.manifest, p.bin)
}

func (p *pfPlugin) dumpLogs() {
	logs := p.srv.Logs()
	if len(logs) > 400 {
		p.t.Logf("plugin log: (%d earlier lines left out)", len(logs)-400)
		logs = logs[len(logs)-400:]
	}
	first := len(p.srv.Logs()) - len(logs)
	for i, l := range logs {
		node := ""
		if p.tags != nil {
			node = p.tags.OfLog(first+i) + " "
		}
		p.t.Logf("plugin log: %s%s %s %v", node, l.Level, l.Message, l.KV)
	}
	for i, n := range p.nodes {
		p.t.Logf("host log of node %d:\n%s", i+1, tail(n.HostLog.String(), 4000))
	}
}

func (p *pfPlugin) activate(node int) {
	p.t.Helper()
	if err := p.nodes[node].Activate(p.id); err != nil {
		p.t.Fatalf("activate on node %d: %v", node+1, err)
	}
}

// bot is the plugin's bot user (it exists once the plugin was activated).
func (p *pfPlugin) bot() *model.User {
	p.t.Helper()
	bot := p.srv.UserByUsername("datasync")
	if bot == nil || !bot.IsBot {
		p.t.Fatalf("no bot datasync: %+v", bot)
	}
	return bot
}

// reconfigure sets new settings and tells every active node (OnConfigurationChange).
func (p *pfPlugin) reconfigure(settings map[string]any) {
	p.t.Helper()
	p.srv.SetPluginSettings(p.id, settings)
	for i, n := range p.nodes {
		if !n.Env.IsActive(p.id) {
			continue
		}
		hooks, err := n.Hooks(p.id)
		if err != nil {
			p.t.Fatalf("hooks of node %d: %v", i+1, err)
		}
		if err := hooks.OnConfigurationChange(); err != nil {
			p.t.Fatalf("OnConfigurationChange on node %d: %v", i+1, err)
		}
	}
}

// pfRun is one "Data Sync: run finished" / "run failed" log line as its fields.
type pfRun map[string]string

// runs lists the finished runs (ok or not) of a sync ("" = every sync), in log order.
func (p *pfPlugin) runs(sync string) []pfRun {
	var out []pfRun
	for i, l := range p.srv.Logs() {
		if l.Message != "Data Sync: run finished" && l.Message != "Data Sync: run failed" {
			continue
		}
		kv := pfRun{"level": l.Level}
		if p.tags != nil {
			kv["node"] = p.tags.OfLog(i)
		}
		for i := 0; i+1 < len(l.KV); i += 2 {
			kv[fmt.Sprint(l.KV[i])] = fmt.Sprint(l.KV[i+1])
		}
		if sync == "" || kv["sync"] == sync {
			out = append(out, kv)
		}
	}
	return out
}

// settle waits until every named sync has finished a run that posted and, after it, one
// that posted nothing: whatever the data change since run number after[sync] caused has
// been delivered in full.
func (p *pfPlugin) settle(limit time.Duration, after map[string]int, syncs ...string) {
	p.t.Helper()
	waitUntil(p.t, limit, fmt.Sprintf("a run that posted and a quiet run after it, of %v", syncs), func() bool {
		for _, s := range syncs {
			runs := p.runs(s)
			posted := false
			quiet := false
			for _, r := range runs[min(after[s], len(runs)):] {
				if r["messages"] != "0" {
					posted, quiet = true, false
				} else if posted {
					quiet = true
				}
			}
			if !quiet {
				return false
			}
		}
		return true
	})
}

// quiet waits until every named sync has finished n runs after run number after[sync],
// and fails if any of them posted.
func (p *pfPlugin) quiet(limit time.Duration, after map[string]int, n int, syncs ...string) {
	p.t.Helper()
	waitUntil(p.t, limit, fmt.Sprintf("%d more runs of %v", n, syncs), func() bool {
		for _, s := range syncs {
			if len(p.runs(s)) < after[s]+n {
				return false
			}
		}
		return true
	})
	for _, s := range syncs {
		for _, r := range p.runs(s)[after[s]:] {
			if r["messages"] != "0" || r["ok"] != "true" {
				p.t.Fatalf("sync %s: a run that should have posted nothing: %v", s, r)
			}
		}
	}
}

// quietRun waits until every named sync has finished, after run number after[sync], a
// run that posted nothing: what was due before that run has been delivered.
func (p *pfPlugin) quietRun(limit time.Duration, after map[string]int, syncs ...string) {
	p.t.Helper()
	waitUntil(p.t, limit, fmt.Sprintf("a run that posts nothing, of each of %v", syncs), func() bool {
		for _, s := range syncs {
			runs := p.runs(s)
			quiet := false
			for _, r := range runs[min(after[s], len(runs)):] {
				quiet = quiet || (r["ok"] == "true" && r["messages"] == "0")
			}
			if !quiet {
				return false
			}
		}
		return true
	})
}

// runCounts is the number of finished runs of each named sync now.
func (p *pfPlugin) runCounts(syncs ...string) map[string]int {
	out := map[string]int{}
	for _, s := range syncs {
		out[s] = len(p.runs(s))
	}
	return out
}

// pfHistory is one record of a sync's run history in KV (`ds1:<sync>:history`).
type pfHistory struct {
	Sync       string    `json:"sync"`
	Started    time.Time `json:"started"`
	DurationMs int64     `json:"duration_ms"`
	Rows       int       `json:"rows"`
	Added      int       `json:"added"`
	Changed    int       `json:"changed"`
	Removed    int       `json:"removed"`
	Messages   int       `json:"messages"`
	Baseline   bool      `json:"baseline"`
	OK         bool      `json:"ok"`
	Errors     []string  `json:"errors"`
}

func (p *pfPlugin) history(sync string) []pfHistory {
	p.t.Helper()
	raw := p.srv.KV(p.id, "ds1:"+sync+":history")
	if raw == nil {
		return nil
	}
	var out []pfHistory
	if err := json.Unmarshal(raw, &out); err != nil {
		p.t.Fatalf("history of %s is not what the plugin writes: %v\n%s", sync, err, raw)
	}
	return out
}

// pfOutbox is a sync's undelivered run (the meta's outbox, `ds1:<sync>:meta`).
type pfOutbox struct {
	Len     int       `json:"len"`
	Cursor  int       `json:"cursor"`
	Created time.Time `json:"created"`
}

// outbox is the sync's outbox, nil when every message of its last run was delivered.
func (p *pfPlugin) outbox(sync string) *pfOutbox {
	p.t.Helper()
	raw := p.srv.KV(p.id, "ds1:"+sync+":meta")
	if raw == nil {
		return nil
	}
	var m struct {
		Outbox *pfOutbox `json:"outbox"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		p.t.Fatalf("the meta of %s is not what the plugin writes: %v\n%s", sync, err, raw)
	}
	return m.Outbox
}

// lockHolder is the holder of a sync's lease (`ds1:<sync>:lock`), "" when free or expired.
func (p *pfPlugin) lockHolder(sync string) string {
	raw := p.srv.KV(p.id, "ds1:"+sync+":lock")
	if raw == nil {
		return ""
	}
	var v struct {
		Holder  string    `json:"holder"`
		Expires time.Time `json:"expires"`
	}
	if json.Unmarshal(raw, &v) != nil || v.Expires.Before(time.Now()) {
		return ""
	}
	return v.Holder
}

// delivery is a post's delivery id (props datasync_delivery), "" when it has none.
func pfDelivery(post *model.Post) string {
	if v := post.GetProp("datasync_delivery"); v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// pfProps is a post's props as plain JSON values.
func pfProps(t *testing.T, post *model.Post) map[string]any {
	t.Helper()
	b, err := json.Marshal(post.GetProps())
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// pfCheckPosts fails unless every post is the bot's, marked as a bot's post from a plugin
// and carries a delivery id, and no delivery id was posted twice.
func pfCheckPosts(t *testing.T, bot *model.User, posts []*model.Post) {
	t.Helper()
	seen := map[string]string{}
	for _, post := range posts {
		if post.UserId != bot.Id || post.GetProp("from_bot") != "true" || post.GetProp("from_plugin") != "true" {
			t.Fatalf("a post not by the bot through the plugin API: %+v", post)
		}
		d := pfDelivery(post)
		if d == "" {
			t.Fatalf("a post without a delivery id (props datasync_delivery): %+v", post)
		}
		if prev, dup := seen[d]; dup {
			t.Fatalf("delivery %s posted twice: %q and %q", d, prev, post.Message)
		}
		seen[d] = post.Message
	}
}

// pfNoErrors fails on any error log line other than the allowed messages.
func (p *pfPlugin) noErrors(allowed ...string) {
	p.t.Helper()
	for _, l := range p.srv.Logs() {
		if l.Level != "error" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(l.Message, a)
		}
		if !ok {
			p.t.Fatalf("unexpected error log: %s %v", l.Message, l.KV)
		}
	}
}

// noSecret fails if a plugin log line or a host log shows the secret.
func (p *pfPlugin) noSecret(secret string) {
	p.t.Helper()
	for _, l := range p.srv.Logs() {
		if strings.Contains(fmt.Sprint(l.Message, l.KV), secret) {
			p.t.Fatalf("a log line shows a secret: %s %v", l.Message, l.KV)
		}
	}
	for i, n := range p.nodes {
		if strings.Contains(n.HostLog.String(), secret) {
			p.t.Fatalf("the host log of node %d shows a secret", i+1)
		}
	}
}

// pfSqlite runs SQL on a SQLite file with the sqlite3 command-line tool.
func pfSqlite(t *testing.T, db, sql string) {
	t.Helper()
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Fatal("the sqlite3 command-line tool is missing (run.sh installs it as root)")
	}
	if out, err := pfSqliteCmd(db, sql).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s\n%s", err, out, sql)
	}
}

// pfAtoi reads a logged number (-1 when it is not one).
func pfAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

func pfSqliteCmd(db, sql string) *exec.Cmd {
	cmd := exec.Command("sqlite3", "-cmd", ".timeout 10000", db)
	cmd.Stdin = strings.NewReader(sql)
	return cmd
}
