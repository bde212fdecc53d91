package hosttest

// Two plugin processes sharing one server, as on two nodes of a Mattermost cluster: each
// node its own plugin.Environment, plugin directory and datasync-plugin process, both over
// the same in-memory API (KV store, posts). Heavy: once per run.sh (HOST_DATASYNC_HEAVY=1).
//
//  1. Three syncs, every 10 s, rows added all the time: every scheduled run happens once
//     cluster-wide (the history in KV: one run per slot, no two runs of a sync overlapping,
//     as many runs as run log lines) and every new row is posted exactly once, in order.
//  2. kill -9 of the node delivering a run (paced, so the run lasts): the other node takes
//     the sync over once the lease expires and delivers the rest; nothing lost or repeated.

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

const pfClusterSyncs = `
allowed_channels = ["acme"]

[connections.src]
kind = "sqlite"
url = "${env:CLUSTER_DB}"
`

const pfClusterSync = `
[syncs.%[1]s]
connection = "src"
sql = "SELECT id FROM %[1]s ORDER BY id"
key = "id"
schedule = "every 10s"
max_messages = 1000
channel = "acme/%[1]s"

[syncs.%[1]s.templates]
added = "%[1]s row {{ row.id }}"
`

func TestDataSyncTwoNodes(t *testing.T) {
	dataSyncBinary(t)
	pfHeavy(t)
	t.Parallel() // mostly waiting for schedules: alongside the other Data Sync proofs
	const leaseSeconds, runsEach, slowRows = 3, 11, 30
	names := []string{"c1", "c2", "c3"}
	db := filepath.Join(t.TempDir(), "cluster.db")
	doc := pfClusterSyncs
	var ddl strings.Builder
	for _, n := range names {
		fmt.Fprintf(&ddl, "CREATE TABLE %[1]s (id INTEGER PRIMARY KEY); INSERT INTO %[1]s VALUES (1), (2);\n", n)
		doc += fmt.Sprintf(pfClusterSync, n)
	}
	pfSqlite(t, db, "PRAGMA journal_mode=WAL;\n"+ddl.String())
	p := pfNewCluster(t, map[string]any{
		"Syncs": doc, "Secrets": "CLUSTER_DB=" + db, "TickSeconds": 1,
		"LeaseSeconds": leaseSeconds, "PostsPerSecond": 10, "Workers": 3,
	}, 2)
	team := p.srv.AddTeam("acme", "Acme")
	channels := map[string]*model.Channel{}
	for _, n := range names {
		channels[n] = p.srv.AddChannel(team.Id, n, n)
	}
	p.activate(0)
	p.activate(1)
	start := time.Now()

	// Rows keep arriving: one per table every 2.5 s, until every sync has run runsEach times
	// (the first run is the baseline: rows 1 and 2 are not posted).
	var mu sync.Mutex
	last := 2 // the highest id in every table
	var insertErr error
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2500 * time.Millisecond):
			}
			mu.Lock()
			next := last + 1
			mu.Unlock()
			var sql strings.Builder
			for _, n := range names {
				fmt.Fprintf(&sql, "INSERT INTO %s VALUES (%d);\n", n, next)
			}
			if err := pfSqliteErr(db, sql.String()); err != nil {
				mu.Lock()
				insertErr = err
				mu.Unlock()
				return
			}
			mu.Lock()
			last = next
			mu.Unlock()
			// Both nodes look for due syncs at once (a configuration change wakes the
			// ticker): their claims race, and the lease's compare-and-set decides.
			var wg sync.WaitGroup
			for _, n := range p.nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if hooks, err := n.Hooks(p.id); err == nil {
						_ = hooks.OnConfigurationChange()
					}
				}()
			}
			wg.Wait()
		}
	}()
	waitUntil(t, 200*time.Second, fmt.Sprintf("%d runs of every sync", runsEach), func() bool {
		for _, n := range names {
			if len(p.runs(n)) < runsEach {
				return false
			}
		}
		return true
	})
	close(stop)
	<-done
	if insertErr != nil {
		t.Fatal(insertErr)
	}
	rows := last
	// Every row is posted, then every sync finishes a run that posts nothing.
	rowsOf := func(n string) []int {
		var got []int
		for _, x := range p.srv.PostsInChannel(channels[n].Id) {
			var row int
			if _, err := fmt.Sscanf(x.Message, n+" row %d", &row); err != nil {
				t.Fatalf("channel %s: unexpected post %q", n, x.Message)
			}
			got = append(got, row)
		}
		return got
	}
	waitUntil(t, 60*time.Second, "every inserted row posted", func() bool {
		for _, n := range names {
			if len(rowsOf(n)) < rows-2 {
				return false
			}
		}
		return true
	})
	p.quietRun(60*time.Second, p.runCounts(names...), names...)
	t.Logf("phase 1: %d rows per table, done %.1fs after activation", rows, time.Since(start).Seconds())

	checkRows := func(n string, first, last int) {
		t.Helper()
		got := rowsOf(n)
		ok := len(got) == last-first+1
		for j := 0; ok && j < len(got); j++ {
			ok = got[j] == first+j
		}
		if !ok {
			t.Fatalf("channel %s: rows %s; want %d-%d once each, in order", n, pfRanges(got), first, last)
		}
	}
	byNode := map[string]int{}
	for _, n := range names {
		checkRows(n, 3, rows)
		logged := p.runs(n)
		hist := p.history(n)
		if len(hist) < len(logged) || len(hist) > len(logged)+1 {
			t.Fatalf("sync %s: %d runs in the history, %d logged", n, len(hist), len(logged))
		}
		for _, r := range logged {
			byNode[r["node"]]++
			if r["ok"] != "true" {
				t.Fatalf("sync %s: a failed run: %v", n, r)
			}
			if r["holder"] == "" {
				t.Fatalf("sync %s: a run log line without its lease holder: %v", n, r)
			}
		}
		// One run per slot cluster-wide: each start at least one interval after the previous
		// one, and no run before the previous one finished.
		sort.Slice(hist, func(i, j int) bool { return hist[i].Started.Before(hist[j].Started) })
		for i := 1; i < len(hist); i++ {
			prev, cur := hist[i-1], hist[i]
			gap := cur.Started.Sub(prev.Started)
			if gap < 10*time.Second-5*time.Millisecond {
				t.Fatalf("sync %s: runs started %v apart (every 10s): %+v and %+v", n, gap, prev, cur)
			}
			if prev.Started.Add(time.Duration(prev.DurationMs) * time.Millisecond).After(cur.Started) {
				t.Fatalf("sync %s: runs overlap: %+v and %+v", n, prev, cur)
			}
		}
	}
	holders := map[string]bool{}
	for _, r := range p.runs("") {
		holders[r["holder"]] = true
	}
	t.Logf("phase 1: runs by node %v; lease holders %v", byNode, holders)
	if len(byNode) != 2 {
		t.Fatalf("runs by node %v: the two processes did not both run syncs", byNode)
	}
	if len(holders) != len(byNode) {
		t.Fatalf("lease holders %v for the runs by node %v: one holder per process", holders, byNode)
	}

	// 2. A run that lasts (slowRows messages at 10 per second); kill -9 the node delivering it.
	before := len(rowsOf("c1"))
	pfSqlite(t, db, fmt.Sprintf("WITH RECURSIVE n(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM n WHERE i < %d) INSERT INTO c1 SELECT i FROM n;",
		rows+1, rows+slowRows))
	waitUntil(t, 40*time.Second, "the slow run under way", func() bool { return len(rowsOf("c1")) >= before+slowRows/4 })
	c1 := p.srv.PostsInChannel(channels["c1"].Id)
	victim := p.tags.OfPost(c1[len(c1)-1].Id)
	var killed, survivor int
	switch victim {
	case "node-1":
		killed, survivor = 0, 1
	case "node-2":
		killed, survivor = 1, 0
	default:
		t.Fatalf("the last post of c1 was made by an unknown node %q", victim)
	}
	pid, err := p.nodes[killed].Kill(p.id)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := len(p.srv.Logs())
	postsAtKill := len(rowsOf("c1"))
	t.Logf("phase 2: killed %s (pid %d) after %d of %d posts of the slow run", victim, pid, postsAtKill-before, slowRows)
	if postsAtKill-before >= slowRows {
		t.Fatalf("the slow run was over before the kill (%d posts): pace it slower", postsAtKill-before)
	}
	waitUntil(t, 90*time.Second, "the rest of the slow run delivered by the other node", func() bool {
		return len(rowsOf("c1")) >= before+slowRows
	})
	p.quietRun(60*time.Second, p.runCounts("c1"), "c1")
	checkRows("c1", 3, rows+slowRows)
	for _, x := range p.srv.PostsInChannel(channels["c1"].Id)[postsAtKill:] {
		if node := p.tags.OfPost(x.Id); node != fmt.Sprintf("node-%d", survivor+1) {
			t.Fatalf("post %q after the kill made by %q", x.Message, node)
		}
	}
	for i, l := range p.srv.Logs()[killedAt:] {
		if node := p.tags.OfLog(killedAt + i); node == victim {
			t.Fatalf("the killed node logged %q after its kill", l.Message)
		}
	}
	for _, n := range names[1:] {
		checkRows(n, 3, rows)
	}
	pfCheckPosts(t, p.bot(), p.srv.Posts())
	for _, l := range p.srv.Logs() {
		if strings.Contains(l.Message, "panic") {
			t.Fatalf("a panic: %s %v", l.Message, l.KV)
		}
	}
}

// pfSqliteErr runs SQL on a SQLite file (for goroutines, which must not t.Fatal).
func pfSqliteErr(db, sql string) error {
	cmd := pfSqliteCmd(db, sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sqlite3: %v\n%s\n%s", err, out, sql)
	}
	return nil
}
