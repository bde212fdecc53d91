// The end-to-end suite: one real Mattermost server (tests/e2e/harness), started once for
// every test here; the tests run one after another, since they share its plugins.
// Run it with tests/e2e/run.sh (make e2e), which provides the server, its database and
// the bundles in the environment.
package e2e

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"datasync/tests/e2e/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

var site *harness.Site

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	var missing []string
	for _, k := range []string{"E2E_SERVER_DIR", "E2E_MM_DSN", "E2E_WORK", "E2E_WAREHOUSE_URL", "E2E_DATASYNC_BUNDLE", "E2E_HELLO_BUNDLE"} {
		if os.Getenv(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: %s not set: run the suite with tests/e2e/run.sh (make e2e)\n", strings.Join(missing, ", "))
		return 1
	}
	srv, err := harness.NewServer(os.Getenv("E2E_SERVER_DIR"), filepath.Join(os.Getenv("E2E_WORK"), "mm"), os.Getenv("E2E_MM_DSN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	start := time.Now()
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer srv.Stop()
	fmt.Fprintf(os.Stderr, "e2e: Mattermost on %s, first start in %.1f s\n", srv.URL, time.Since(start).Seconds())
	if site, err = harness.Bootstrap(srv); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	code := m.Run()
	if err := secretsKept(srv); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: the server's last log lines:\n%s\n", srv.Tail(40))
	}
	return code
}

// bundle reads a bundle named by an environment variable.
func bundle(t *testing.T, env string) []byte {
	t.Helper()
	data, err := os.ReadFile(os.Getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// must fails the test on an error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// secretsKept checks that the warehouse password, which the syncs get through the Secrets
// setting, appears in nothing the server wrote: its log, its output, the files it stored.
func secretsKept(srv *harness.Server) error {
	u, err := url.Parse(os.Getenv("E2E_WAREHOUSE_URL"))
	if err != nil {
		return err
	}
	pw, _ := u.User.Password()
	if len(pw) < 8 {
		return fmt.Errorf("the warehouse password %d characters long is too short to look for", len(pw))
	}
	for _, dir := range []string{"logs", "data"} {
		err := filepath.WalkDir(filepath.Join(srv.Work, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(path)
			if err == nil && bytes.Contains(data, []byte(pw)) {
				return fmt.Errorf("the warehouse password appears in %s", path)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// pluginRequest calls a plugin's HTTP route with a client's session (nil: none), as the
// webapp does (the server sets Mattermost-User-Id); the status and the body.
func pluginRequest(t *testing.T, c *model.Client4, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, site.Server.URL+path, bytes.NewReader(body))
	must(t, err)
	if c != nil {
		req.Header.Set("Authorization", "Bearer "+c.AuthToken)
	}
	req.Header.Set("X-Requested-With", "XMLHttpRequest")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp.StatusCode, data
}
