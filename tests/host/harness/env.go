package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
	"github.com/mattermost/mattermost/server/public/shared/mlog"
)

// ExecutableName is where bundles keep the server executable (relative to the bundle).
const ExecutableName = "server/dist/plugin-linux-amd64"

// HelloManifest is the manifest of rs-hello / go-hello under the given id.
func HelloManifest(id string) *model.Manifest {
	return &model.Manifest{
		Id:          id,
		Name:        "Hello (" + id + ")",
		Description: "Says hello.",
		Version:     "0.1.0",
		Server:      &model.ManifestServer{Executable: ExecutableName},
		SettingsSchema: &model.PluginSettingsSchema{
			Settings: []*model.PluginSetting{{
				Key: "Greeting", DisplayName: "Greeting", Type: "text", Default: "Hello",
				HelpText: "What /hello says first.",
			}},
		},
	}
}

// WriteBundle lays out <pluginDir>/<id>/plugin.json and the executable, as an
// installed bundle looks on a server.
func WriteBundle(pluginDir string, manifest *model.Manifest, executable string) error {
	dir := filepath.Join(pluginDir, manifest.Id)
	rel := manifest.GetExecutableForRuntime(runtime.GOOS, runtime.GOARCH)
	if rel == "" {
		return fmt.Errorf("manifest %s has no server executable for %s-%s", manifest.Id, runtime.GOOS, runtime.GOARCH)
	}
	exeDst := filepath.Join(dir, filepath.Clean(rel))
	if err := os.MkdirAll(filepath.Dir(exeDst), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin.json"), b, 0o644); err != nil {
		return err
	}
	return copyFile(executable, exeDst)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open plugin executable: %w", err)
	}
	defer in.Close()
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// SyncBuffer is a goroutine-safe buffer for captured host logs.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Env is one plugin environment: a plugin directory, the in-memory server and
// the real plugin.Environment of server/public.
type Env struct {
	Dir     string
	Server  *Server
	Env     *plugin.Environment
	Logger  *mlog.Logger
	HostLog *SyncBuffer // everything the host logged (JSON lines), plugin stderr included
}

// newHostLogger is a host logger writing to a new buffer (and stderr if consoleLog); the
// suite-wide secret scan reads the buffer.
func newHostLogger(consoleLog bool) (*mlog.Logger, *SyncBuffer, error) {
	logger, err := mlog.NewLogger()
	if err != nil {
		return nil, nil, err
	}
	hostLog := &SyncBuffer{}
	if err := mlog.AddWriterTarget(logger, hostLog, true, mlog.StdAll...); err != nil {
		return nil, nil, err
	}
	if consoleLog {
		if err := mlog.AddWriterTarget(logger, os.Stderr, false, mlog.StdAll...); err != nil {
			return nil, nil, err
		}
	}
	DefaultSecrets.AddLog(hostLog)
	return logger, hostLog, nil
}

// NewEnv creates an Environment over pluginDir. If consoleLog, host logs also go to stderr.
func NewEnv(pluginDir string, consoleLog bool) (*Env, error) {
	logger, hostLog, err := newHostLogger(consoleLog)
	if err != nil {
		return nil, err
	}
	// The package-level mlog logger (used by Environment for "Plugin activated" and
	// the like) writes to stdout by default; route it to the same place.
	mlog.InitGlobalLogger(logger)
	srv := NewServer(pluginDir)
	webappDir := filepath.Join(pluginDir, ".webapp")
	env, err := plugin.NewEnvironment(srv.Factory(), nil, pluginDir, webappDir, logger, nil)
	if err != nil {
		return nil, err
	}
	return &Env{Dir: pluginDir, Server: srv, Env: env, Logger: logger, HostLog: hostLog}, nil
}

// Install writes a bundle for manifest with the given executable into the environment.
func (e *Env) Install(manifest *model.Manifest, executable string) error {
	return WriteBundle(e.Dir, manifest, executable)
}

// Activate starts the plugin through Environment.Activate (exec, handshake, OnActivate).
func (e *Env) Activate(id string) error {
	_, activated, err := e.Env.Activate(id)
	if err != nil {
		return err
	}
	if !activated {
		return fmt.Errorf("plugin %s was not activated (already active?)", id)
	}
	return nil
}

// Hooks returns the hooks of an active plugin.
func (e *Env) Hooks(id string) (plugin.Hooks, error) {
	h, err := e.Env.HooksForPlugin(id)
	return wrapHooks(id, h, err)
}

// ExecutablePath is the absolute path of a plugin's bundled executable.
func (e *Env) ExecutablePath(id string) string {
	rel := ExecutableName
	if b, err := os.ReadFile(filepath.Join(e.Dir, id, "plugin.json")); err == nil {
		var m model.Manifest
		if json.Unmarshal(b, &m) == nil {
			if r := m.GetExecutableForRuntime(runtime.GOOS, runtime.GOARCH); r != "" {
				rel = filepath.Clean(r)
			}
		}
	}
	p, _ := filepath.Abs(filepath.Join(e.Dir, id, rel))
	return p
}

// LoadManifest reads a plugin.json.
func LoadManifest(path string) (*model.Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m model.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Id == "" {
		return nil, fmt.Errorf("%s: no id", path)
	}
	return &m, nil
}

// PluginPID finds the running child process of this test process that runs the
// plugin's bundled executable, or 0.
func (e *Env) PluginPID(id string) int {
	want := e.ExecutablePath(id)
	for _, pid := range childPIDs() {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && strings.TrimSuffix(exe, " (deleted)") == want {
			return pid
		}
	}
	return 0
}

// childPIDs lists the processes whose parent is this process.
func childPIDs() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if ppid, _, err := procStat(pid); err == nil && ppid == self {
			out = append(out, pid)
		}
	}
	return out
}

// procStat returns the parent pid and state letter of a process.
func procStat(pid int) (ppid int, state string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	if len(fields) < 2 {
		return 0, "", fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ppid, err = strconv.Atoi(fields[1])
	return ppid, fields[0], err
}

// ProcessAlive reports whether pid exists and is not a zombie.
func ProcessAlive(pid int) bool {
	_, state, err := procStat(pid)
	return err == nil && state != "Z" && state != "X"
}

// WaitGone waits until pid is gone (or a zombie) and returns how long that took.
func WaitGone(pid int, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit {
		if !ProcessAlive(pid) {
			return time.Since(start), true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start), false
}

// RSSKiB reads VmRSS from /proc/<pid>/status.
func RSSKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				return strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
