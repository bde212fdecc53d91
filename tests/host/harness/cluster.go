package harness

// Cluster nodes and crashes: a second plugin.Environment over the same in-memory Server (its
// own plugin directory, so its own plugin process), as a second Mattermost node of a cluster
// shares the database (KV store, posts) with the first; and kill -9 of a plugin process.

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mattermost/mattermost/server/public/plugin"
	"github.com/mattermost/mattermost/server/public/shared/mlog"
)

// NewNode returns another Environment (another cluster node) over e's Server, with plugins
// under pluginDir. Its host log goes to its own HostLog (and stderr if consoleLog); the
// package-level mlog logger stays where NewEnv put it. Call Install and Activate on it as on e.
func (e *Env) NewNode(pluginDir string, consoleLog bool) (*Env, error) {
	logger, err := mlog.NewLogger()
	if err != nil {
		return nil, err
	}
	hostLog := &SyncBuffer{}
	if err := mlog.AddWriterTarget(logger, hostLog, true, mlog.StdAll...); err != nil {
		return nil, err
	}
	if consoleLog {
		if err := mlog.AddWriterTarget(logger, os.Stderr, false, mlog.StdAll...); err != nil {
			return nil, err
		}
	}
	webappDir := filepath.Join(pluginDir, ".webapp")
	env, err := plugin.NewEnvironment(e.Server.Factory(), nil, pluginDir, webappDir, logger, nil)
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
