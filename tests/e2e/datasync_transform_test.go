package e2e

// A row transform on the real server: an admin uploads the mask-email example (built by
// `make transforms`) through the plugin's HTTP API, a sync names it, and the post shows
// the row as the module made it: the address masked before it reached the channel.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataSyncTransforms(t *testing.T) {
	dataSync(t)
	mark := logMark(t)
	mask, err := os.ReadFile(filepath.Join(repoRoot(), "target", "wasm32-unknown-unknown", "release", "transform_mask_email.wasm"))
	if err != nil {
		t.Fatalf("%v: build the example transforms with `make transforms`", err)
	}
	if code, body := pluginRequest(t, site.Users["pat"].Client, "POST", "/plugins/datasync/api/v1/transforms/mask", mask); code != 403 {
		t.Fatalf("an upload by a user who is not a system admin: %d %s", code, body)
	}
	if code, body := pluginRequest(t, site.Admin.Client, "POST", "/plugins/datasync/api/v1/transforms/mask", []byte("\x00asm but not really")); code != 400 ||
		!strings.Contains(string(body), "not a module Data Sync can run") {
		t.Fatalf("an upload that is not a module: %d %s", code, body)
	}
	if body := string(pluginHTTP(t, site.Admin, "POST", "/plugins/datasync/api/v1/transforms/mask?replace=true", mask)); !strings.Contains(body, `"sha256"`) {
		t.Fatalf("the upload: %s", body)
	}

	w := newWarehouse(t, "CREATE TABLE {S}.leads (id integer PRIMARY KEY, email text NOT NULL, note text NOT NULL);")
	c, err := site.Channel("leads", "pat")
	must(t, err)
	configure(t, fmt.Sprintf(`[connections.warehouse]
kind = "postgres"
url = "${env:WAREHOUSE_URL}"

[transforms.mask]
module = "mask"
params = { columns = ["email", "note"] }

[syncs.leads]
connection = "warehouse"
sql = "SELECT id, email, note FROM %s.leads ORDER BY id"
key = "id"
schedule = "manual"
channel = "acme/%s"
transform = "mask"

[syncs.leads.templates]
added = "lead {{ row.id }}: {{ row.email }}, {{ row.note }}"
`, w.schema, c.Name), w.secrets(), nil)
	runNow := runner(t, c.Id, "leads")
	runNow() // the baseline
	w.exec("INSERT INTO {S}.leads VALUES (1, 'jane.doe@acme.com', 'cc bob@example.org');")
	runNow()
	// Row values are neutralised in posts: a word joiner after "@" keeps them from
	// mentioning anyone.
	want := "lead 1: j***@\u2060acme.com, cc b***@\u2060example.org"
	if got := messages(channelPosts(t, c.Id)); len(got) != 1 || got[0] != want {
		t.Fatalf("posts: %q; want %q", got, want)
	}
	noPluginErrors(t, mark)
}
