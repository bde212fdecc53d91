package harness

// Cluster nodes and crashes: a second plugin.Environment over the same in-memory Server (its
// own plugin directory, so its own plugin process), as a second Mattermost node of a cluster
// shares the database (KV store, posts) with the first; and kill -9 of a plugin process.

import (
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

// Nodes records which node made each post and log call, for tests of several nodes.
type Nodes struct {
	mu     sync.Mutex
	byPost map[string]string
	byLog  map[int]string // index in Server.Logs → node
	srv    *Server
}

// NewNodes starts recording for the nodes of srv created with NewNode.
func NewNodes(srv *Server) *Nodes {
	return &Nodes{byPost: map[string]string{}, byLog: map[int]string{}, srv: srv}
}

// OfPost is the node that created a post ("" when unknown).
func (n *Nodes) OfPost(postID string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byPost[postID]
}

// OfLog is the node that made the i-th entry of Server.Logs() ("" when unknown).
func (n *Nodes) OfLog(i int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.byLog[i]
}

// nodeAPI is a node's API: the shared one, recording which node posts and logs.
type nodeAPI struct {
	*API
	nodes *Nodes
	node  string
}

func (a *nodeAPI) CreatePost(post *model.Post) (*model.Post, *model.AppError) {
	created, err := a.API.CreatePost(post)
	if err == nil && created != nil {
		a.nodes.mu.Lock()
		a.nodes.byPost[created.Id] = a.node
		a.nodes.mu.Unlock()
	}
	return created, err
}

func (a *nodeAPI) nodeLog(level, msg string, kv []any) {
	// Both locks, nodes first: the entry's index and its node are recorded together.
	a.nodes.mu.Lock()
	defer a.nodes.mu.Unlock()
	a.srv.mu.Lock()
	i := len(a.srv.logs)
	a.srv.mu.Unlock()
	a.API.log(level, msg, kv)
	a.nodes.byLog[i] = a.node
}

func (a *nodeAPI) LogDebug(msg string, kv ...any) { a.nodeLog("debug", msg, kv) }
func (a *nodeAPI) LogInfo(msg string, kv ...any)  { a.nodeLog("info", msg, kv) }
func (a *nodeAPI) LogWarn(msg string, kv ...any)  { a.nodeLog("warn", msg, kv) }
func (a *nodeAPI) LogError(msg string, kv ...any) { a.nodeLog("error", msg, kv) }

// NewNode returns another Environment (another cluster node) over e's Server, with plugins
// under pluginDir. Its host log goes to its own HostLog (and stderr if consoleLog); the
// package-level mlog logger stays where NewEnv put it. Call Install and Activate on it as on e.
// With nodes set, its posts and log calls are recorded as made by node name.
func (e *Env) NewNode(pluginDir string, consoleLog bool, nodes *Nodes, name string) (*Env, error) {
	logger, hostLog, err := newHostLogger(consoleLog)
	if err != nil {
		return nil, err
	}
	webappDir := filepath.Join(pluginDir, ".webapp")
	factory := e.Server.Factory()
	if nodes != nil {
		factory = func(m *model.Manifest) plugin.API {
			return &nodeAPI{API: e.Server.NewAPI(m), nodes: nodes, node: name}
		}
	}
	env, err := plugin.NewEnvironment(factory, nil, pluginDir, webappDir, logger, nil)
	if err != nil {
		return nil, err
	}
	return &Env{Dir: pluginDir, Server: e.Server, Env: env, Logger: logger, HostLog: hostLog}, nil
}

// Kill sends SIGKILL to the plugin's process (no OnDeactivate, no clean exit: a crash or
// kill -9 of the node's plugin), waits until it is gone, then lets the Environment forget
// the dead plugin (Deactivate: its hook call fails, the supervisor is shut down) so that
// Activate starts a new process. Returns the pid killed.
func (e *Env) Kill(id string) (int, error) {
	pid := e.PluginPID(id)
	if pid == 0 {
		return 0, fmt.Errorf("no running process for plugin %s", id)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return pid, fmt.Errorf("kill -9 %d: %w", pid, err)
	}
	if _, gone := WaitGone(pid, 10*time.Second); !gone {
		return pid, fmt.Errorf("plugin process %d still alive 10 s after SIGKILL", pid)
	}
	e.Env.Deactivate(id)
	return pid, nil
}
