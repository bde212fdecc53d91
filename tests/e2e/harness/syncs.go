package harness

import (
	"fmt"
	"strings"
)

// EventSync is a "changes" sync over a table of events (columns id, note) that posts one
// message per new row into a channel of the team acme.
type EventSync struct {
	Name     string // the sync's name
	Table    string // schema.table
	Channel  string // channel name in acme
	Template string // the "added" template
	Schedule string // "" = every 10 s (the shortest allowed)
}

// EventsDocument is a Syncs document: the PostgreSQL warehouse (its URL from the secret
// WAREHOUSE_URL) and the given syncs.
func EventsDocument(syncs ...EventSync) string {
	var doc strings.Builder
	doc.WriteString("[connections.warehouse]\nkind = \"postgres\"\nurl = \"${env:WAREHOUSE_URL}\"\n")
	for _, s := range syncs {
		if s.Schedule == "" {
			s.Schedule = "every 10s"
		}
		fmt.Fprintf(&doc, `
[syncs.%[1]s]
connection = "warehouse"
sql = "SELECT id, note FROM %[2]s ORDER BY id"
key = "id"
schedule = %[5]q
mode = "changes"
channel = "acme/%[3]s"
max_messages = 10000

[syncs.%[1]s.templates]
added = %[4]q
`, s.Name, s.Table, s.Channel, s.Template, s.Schedule)
	}
	return doc.String()
}
