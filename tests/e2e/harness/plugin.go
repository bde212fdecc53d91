package harness

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// Upload sends a bundle as the System Console does (POST /api/v4/plugins, force=true).
func (site *Site) Upload(bundle []byte) (*model.Manifest, error) {
	m, _, err := site.Admin.Client.UploadPluginForced(Ctx(), bytes.NewReader(bundle))
	if err != nil {
		return nil, fmt.Errorf("upload the bundle: %w", err)
	}
	return m, nil
}

// Enable enables a plugin and waits until the server reports it running.
func (site *Site) Enable(id string) error {
	if _, err := site.Admin.Client.EnablePlugin(Ctx(), id); err != nil {
		return fmt.Errorf("enable %s: %w", id, err)
	}
	return site.WaitState(id, model.PluginStateRunning, time.Minute)
}

// Disable disables a plugin and waits until it is stopped.
func (site *Site) Disable(id string) error {
	if _, err := site.Admin.Client.DisablePlugin(Ctx(), id); err != nil {
		return fmt.Errorf("disable %s: %w", id, err)
	}
	return site.WaitState(id, model.PluginStateNotRunning, time.Minute)
}

// State is what GET /api/v4/plugins/statuses says of a plugin: its state and version.
func (site *Site) State(id string) (int, string, error) {
	statuses, _, err := site.Admin.Client.GetPluginStatuses(Ctx())
	if err != nil {
		return 0, "", fmt.Errorf("plugin statuses: %w", err)
	}
	for _, s := range statuses {
		if s.PluginId == id {
			return s.State, s.Version, nil
		}
	}
	return model.PluginStateNotRunning, "", nil
}

// WaitState waits until a plugin is in the given state.
func (site *Site) WaitState(id string, state int, limit time.Duration) error {
	last := -1
	err := WaitUntil(limit, func() (bool, error) {
		s, _, err := site.State(id)
		last = s
		return s == state, err
	})
	if err != nil {
		return fmt.Errorf("plugin %s in state %d, not %d: %w", id, last, state, err)
	}
	return nil
}

// SetPluginSettings writes a plugin's settings as the System Console does: read the whole
// configuration, change PluginSettings.Plugins[id], PUT it back. The error is the
// server's answer when it refuses the save.
func (site *Site) SetPluginSettings(id string, settings map[string]any) error {
	cfg, _, err := site.Admin.Client.GetConfig(Ctx())
	if err != nil {
		return fmt.Errorf("read the configuration: %w", err)
	}
	if cfg.PluginSettings.Plugins == nil {
		cfg.PluginSettings.Plugins = map[string]map[string]any{}
	}
	cfg.PluginSettings.Plugins[id] = settings
	_, _, err = site.Admin.Client.UpdateConfig(Ctx(), cfg)
	return Explain(err)
}

// Explain spells out a server error: its id, message and details.
func Explain(err error) error {
	var appErr *model.AppError
	if errors.As(err, &appErr) {
		return fmt.Errorf("%d %s: %s (%s)", appErr.StatusCode, appErr.Id, appErr.Message, appErr.DetailedError)
	}
	return err
}

// PluginSettings reads a plugin's saved settings back.
func (site *Site) PluginSettings(id string) (map[string]any, error) {
	cfg, _, err := site.Admin.Client.GetConfig(Ctx())
	if err != nil {
		return nil, fmt.Errorf("read the configuration: %w", err)
	}
	return cfg.PluginSettings.Plugins[id], nil
}

// PluginPID finds the running process of a plugin: the executable the server unpacked
// under its plugin directory.
func (s *Server) PluginPID(id string) (int, error) {
	dir := s.PluginDir(id) + string(os.PathSeparator)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		exe, _, _ := strings.Cut(string(cmdline), "\x00")
		if strings.HasPrefix(exe, dir) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process of plugin %s", id)
}

// RSS is a process's resident set size in KiB.
func RSS(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// WithVersion is a copy of a bundle (tar.gz) whose plugin.json says version: an upgrade
// that differs from the original only in its version, as a release would.
func WithVersion(bundle []byte, version string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(bundle))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		if filepath.Base(h.Name) == "plugin.json" {
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				return nil, fmt.Errorf("plugin.json: %w", err)
			}
			m["version"] = version
			if data, err = json.MarshalIndent(m, "", "    "); err != nil {
				return nil, err
			}
			h.Size = int64(len(data))
			found = true
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, fmt.Errorf("the bundle has no plugin.json")
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// LogLine is one line of the server's JSON log.
type LogLine map[string]any

// Get is a field as text ("" when absent).
func (l LogLine) Get(k string) string {
	v, ok := l[k]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// PluginLog is every line plugin id logged, in order (across restarts: the file grows).
func (s *Server) PluginLog(id string) ([]LogLine, error) {
	f, err := os.Open(s.LogPath())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []LogLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(`"plugin_id":"`+id+`"`)) {
			continue
		}
		var l LogLine
		if json.Unmarshal(sc.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}
