package main

import (
	"fmt"
	"strings"
	"time"

	"datasync/tests/e2e/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

// warehouse is a schema with one event table per benchmark sync, named like the sync.
type warehouse struct {
	url    string
	schema string
	rows   map[string]int // rows in each table so far
}

func newWarehouse(url string) *warehouse {
	return &warehouse{url: url, schema: fmt.Sprintf("bench_%d", time.Now().UnixNano()%1e9), rows: map[string]int{}}
}

// create makes the schema and a table for each channel's sync.
func (w *warehouse) create(channels []*model.Channel) error {
	var sql strings.Builder
	fmt.Fprintf(&sql, "CREATE SCHEMA %s;\n", w.schema)
	for _, c := range channels {
		fmt.Fprintf(&sql, "CREATE TABLE %s.%s (id integer PRIMARY KEY, note text NOT NULL);\n", w.schema, syncName(c))
	}
	return harness.Psql(w.url, sql.String())
}

func (w *warehouse) drop() { _ = harness.Psql(w.url, "DROP SCHEMA "+w.schema+" CASCADE;") }

// add inserts n rows into each channel's table, in one transaction.
func (w *warehouse) add(channels []*model.Channel, n int) error {
	var sql strings.Builder
	for _, c := range channels {
		s := syncName(c)
		fmt.Fprintf(&sql, "INSERT INTO %s.%s SELECT i, 'event ' || i FROM generate_series(%d, %d) AS i;\n",
			w.schema, s, w.rows[s]+1, w.rows[s]+n)
		w.rows[s] += n
	}
	return harness.Psql(w.url, sql.String())
}

// syncName is the sync that posts into a benchmark channel ("bench-2" → "bench_2").
func syncName(c *model.Channel) string { return strings.ReplaceAll(c.Name, "-", "_") }

// document is the Syncs setting with one sync per channel, each reading its own table.
func (w *warehouse) document(channels []*model.Channel) string {
	syncs := make([]harness.EventSync, 0, len(channels))
	for _, c := range channels {
		syncs = append(syncs, harness.EventSync{Name: syncName(c), Table: w.schema + "." + syncName(c), Channel: c.Name, Template: "{{ row.note }}"})
	}
	return harness.EventsDocument(syncs...)
}
