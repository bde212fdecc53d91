package hosttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

// dataSync is the Data Sync plugin (HOST_DATASYNC_BIN, set by run.sh for the Rust runs)
// installed, not yet active, in a fresh host environment, with the repository's
// plugin.json as its manifest. A failing test prints the plugin's and the host's logs.
// These tests run in parallel: each has its own server, plugin directory and process, and
// most of their time is spent waiting for scheduled runs.
type dataSync struct {
	*harness.Env
	id       string
	manifest *model.Manifest
}

func newDataSync(t *testing.T) *dataSync {
	t.Helper()
	t.Parallel()
	bin := dataSyncBinary(t)
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Fatal("the sqlite3 command-line tool is missing (run.sh installs it as root)")
	}
	manifest := dataSyncManifest(t)
	env, err := harness.NewEnv(t.TempDir(), os.Getenv("HOST_LOG") != "")
	if err != nil {
		t.Fatal(err)
	}
	installDataSync(t, env, manifest, bin)
	t.Cleanup(func() {
		env.Env.Shutdown()
		if t.Failed() {
			for _, l := range env.Server.Logs() {
				t.Logf("plugin log: %s %s %v", l.Level, l.Message, l.KV)
			}
			t.Logf("host log:\n%s", tail(env.HostLog.String(), 4000))
		}
	})
	return &dataSync{Env: env, id: manifest.Id, manifest: manifest}
}

// dataSyncBinary is HOST_DATASYNC_BIN, or a skip (run.sh sets it for the Rust runs).
func dataSyncBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HOST_DATASYNC_BIN")
	if bin == "" {
		t.Skip("HOST_DATASYNC_BIN is not set (run.sh sets it for the Rust runs)")
	}
	return bin
}

// dataSyncManifest is the repository's plugin.json.
func dataSyncManifest(t *testing.T) *model.Manifest {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := harness.LoadManifest(filepath.Join(root, "..", "..", "plugin.json"))
	if err != nil {
		t.Fatal(err)
	}
	return manifest
}

// installDataSync writes the bundle into a node's plugin directory as `make dist` ships it:
// the executable, plugin.json and assets/profile.png (the bot's picture).
func installDataSync(t *testing.T, env *harness.Env, manifest *model.Manifest, bin string) {
	t.Helper()
	if err := env.Install(manifest, bin); err != nil {
		t.Fatal(err)
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	profile, err := os.ReadFile(filepath.Join(root, "..", "..", "assets", "profile.png"))
	if err == nil {
		err = os.MkdirAll(filepath.Join(env.Dir, manifest.Id, "assets"), 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(env.Dir, manifest.Id, "assets", "profile.png"), profile, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// activate starts the plugin (again).
func (d *dataSync) activate(t *testing.T) {
	t.Helper()
	if err := d.Activate(d.id); err != nil {
		t.Fatalf("activate: %v", err)
	}
}

// messages lists a channel's posts' messages, oldest first.
func (d *dataSync) messages(channelID string) []string {
	var out []string
	for _, p := range d.Server.PostsInChannel(channelID) {
		out = append(out, p.Message)
	}
	return out
}
