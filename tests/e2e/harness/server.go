// Package harness runs a real Mattermost server on loopback for the end-to-end suite and
// drives it the way admins and users do: through its REST API. The server binary comes
// from tests/e2e/build-server.sh, its database from scripts/db/start.sh (tests/e2e/run.sh
// does both and passes them in the environment).
package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Server is one Mattermost server process and the directory it lives in.
type Server struct {
	Root string // build-server.sh's directory: bin/mattermost, i18n, templates, fonts
	Work string // config, data, logs, plugins, the local-mode socket
	DSN  string // its own PostgreSQL database
	URL  string // http://127.0.0.1:<port>
	addr string
	cmd  *exec.Cmd
	done chan error
}

// NewServer prepares a working directory under work and picks a free loopback port.
func NewServer(root, work, dsn string) (*Server, error) {
	s := &Server{Root: root, Work: work, DSN: dsn}
	for _, d := range []string{"config", "data", "logs", "plugins", "client/plugins"} {
		if err := os.MkdirAll(filepath.Join(work, d), 0o755); err != nil {
			return nil, err
		}
	}
	// The server reads these relative to its working directory.
	for _, d := range []string{"i18n", "templates", "fonts"} {
		if err := os.Symlink(filepath.Join(root, d), filepath.Join(work, d)); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
	}
	// No webapp in the Go module: a root.html with the CSP tag the server rewrites at start.
	rootHTML := `<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="script-src 'self'"></head><body></body></html>`
	if err := os.WriteFile(filepath.Join(work, "client", "root.html"), []byte(rootHTML), 0o644); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.addr = l.Addr().String()
	l.Close()
	s.URL = "http://" + s.addr
	return s, nil
}

// LogPath is the server's JSON log; plugin log lines carry plugin_id.
func (s *Server) LogPath() string { return filepath.Join(s.Work, "logs", "mattermost.log") }

// PluginDir is where the server unpacks the bundle of plugin id.
func (s *Server) PluginDir(id string) string { return filepath.Join(s.Work, "plugins", id) }

func (s *Server) environment() []string {
	w := func(p string) string { return filepath.Join(s.Work, p) }
	env := []string{
		"MM_CONFIG=" + w("config/config.json"),
		"MM_SQLSETTINGS_DRIVERNAME=postgres",
		"MM_SQLSETTINGS_DATASOURCE=" + s.DSN,
		"MM_SERVICESETTINGS_SITEURL=" + s.URL,
		"MM_SERVICESETTINGS_LISTENADDRESS=" + s.addr,
		"MM_SERVICESETTINGS_ENABLEBOTACCOUNTCREATION=true",
		"MM_SERVICESETTINGS_ENABLEUSERACCESSTOKENS=true",
		"MM_SERVICESETTINGS_ENABLELOCALMODE=true",
		"MM_SERVICESETTINGS_LOCALMODESOCKETLOCATION=" + w("mattermost.sock"),
		"MM_SERVICESETTINGS_ENABLELINKPREVIEWS=false",
		"MM_SERVICESETTINGS_ENABLESECURITYFIXALERT=false",
		"MM_PLUGINSETTINGS_ENABLE=true",
		"MM_PLUGINSETTINGS_ENABLEUPLOADS=true",
		"MM_PLUGINSETTINGS_ENABLEMARKETPLACE=false",
		"MM_PLUGINSETTINGS_DIRECTORY=" + w("plugins"),
		"MM_PLUGINSETTINGS_CLIENTDIRECTORY=" + w("client/plugins"),
		"MM_FILESETTINGS_DIRECTORY=" + w("data"),
		"MM_LOGSETTINGS_FILELOCATION=" + w("logs"),
		"MM_LOGSETTINGS_ENABLECONSOLE=false",
		"MM_LOGSETTINGS_ENABLEDIAGNOSTICS=false",
		"MM_EMAILSETTINGS_SENDEMAILNOTIFICATIONS=false",
		"MM_ANNOUNCEMENTSETTINGS_ADMINNOTICESENABLED=false",
		"MM_ANNOUNCEMENTSETTINGS_USERNOTICESENABLED=false",
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MM_") {
			env = append(env, kv)
		}
	}
	return env
}

// Start runs the server and waits until it answers its ping (the first start creates the
// schema: seconds).
func (s *Server) Start() error {
	out, err := os.OpenFile(filepath.Join(s.Work, "logs", "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	// --config puts the working directory on the command line, so tests/e2e/run.sh's
	// clean-up can find every process of this run by it, plugins included.
	cmd := exec.Command(filepath.Join(s.Root, "bin", "mattermost"), "--config", filepath.Join(s.Work, "config", "config.json"))
	cmd.Dir = s.Work
	cmd.Env = s.environment()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start mattermost: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan error, 1)
	go func() { s.done <- cmd.Wait(); out.Close() }()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			s.cmd = nil
			return fmt.Errorf("mattermost exited while starting (%v); last log lines:\n%s", err, s.Tail(30))
		default:
		}
		if s.ping() {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("mattermost did not answer its ping within 3 minutes; last log lines:\n%s", s.Tail(30))
}

func (s *Server) ping() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/api/v4/system/ping", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// Stop asks the server to shut down (SIGTERM, as a service manager does) and kills it
// after a minute.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return nil
}

// Restart stops the whole server and starts it again on the same port and database.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start()
}

// Tail is the end of the server's log, for failure messages.
func (s *Server) Tail(n int) string {
	data, _ := os.ReadFile(s.LogPath())
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
