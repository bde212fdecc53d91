package hosttest

// kill -9 of the plugin process at 20 random points while it delivers 1,000 messages (three
// syncs, three channels), restarted through the host each time: exactly 1,000 posts, each
// once, in row order in every channel. Heavy: once per run.sh (HOST_DATASYNC_HEAVY=1).
//
// The points are seeded (HOST_DATASYNC_SEED=<n> repeats the choices; the seed is printed).

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

const pfCrashSyncs = `
allowed_channels = ["acme"]

[connections.src]
kind = "sqlite"
url = "${env:CRASH_DB}"
`

const pfCrashSync = `
[syncs.%[1]s]
connection = "src"
sql = "SELECT id FROM %[1]s ORDER BY id"
key = "id"
schedule = "every 10s"
first_run = "post"
max_messages = 1000
channel = "acme/%[1]s"

[syncs.%[1]s.templates]
added = "%[1]s row {{ row.id }}"
`

func TestDataSyncKill9DuringDelivery(t *testing.T) {
	dataSyncBinary(t)
	pfHeavy(t)
	t.Parallel() // mostly waiting for schedules: alongside the other Data Sync proofs
	const total, kills, leaseSeconds = 1000, 20, 2
	seed := time.Now().UnixNano()
	if s := os.Getenv("HOST_DATASYNC_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("HOST_DATASYNC_SEED=%q: %v", s, err)
		}
	}
	t.Logf("seed %d (HOST_DATASYNC_SEED=%d repeats these kill points)", seed, seed)
	rng := rand.New(rand.NewSource(seed))

	// 1,000 rows over three tables (334 + 333 + 333), one sync and one channel each.
	names := []string{"k1", "k2", "k3"}
	db := filepath.Join(t.TempDir(), "crash.db")
	doc := pfCrashSyncs
	var ddl strings.Builder
	for i, n := range names {
		rows := total / len(names)
		if i < total%len(names) {
			rows++
		}
		fmt.Fprintf(&ddl, "CREATE TABLE %[1]s (id INTEGER PRIMARY KEY);"+
			"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %[2]d) INSERT INTO %[1]s SELECT i FROM n;\n", n, rows)
		doc += fmt.Sprintf(pfCrashSync, n)
	}
	pfSqlite(t, db, ddl.String())
	p := pfNew(t, map[string]any{
		"Syncs": doc, "Secrets": "CRASH_DB=" + db, "TickSeconds": 1,
		"LeaseSeconds": leaseSeconds, "PostsPerSecond": 20, "Workers": 3,
	})
	team := p.srv.AddTeam("acme", "Acme")
	channels := map[string]*model.Channel{}
	for _, n := range names {
		channels[n] = p.srv.AddChannel(team.Id, n, n)
	}

	// The kill points: a quarter "a random time (0-1.5 s) after activation" (claim, fetch,
	// commit, the reconciliation of the message whose fate is unknown), the rest "after a
	// random number of further posts" (up to the remaining messages over the remaining
	// kills, so the kills spread over the whole delivery). Paced at 20 posts a second (a
	// new process starts with a burst of 20), the delivery outlasts the 20 kills.
	count := func() int { return len(p.srv.Posts()) }
	start := time.Now()
	midDelivery, reconcile := 0, 0
	for i := range kills {
		p.activate(0)
		activated := time.Now()
		at := count()
		what := ""
		if rng.Intn(4) == 0 {
			d := time.Duration(rng.Intn(1500)) * time.Millisecond
			what = fmt.Sprintf("%v after activation", d)
			time.Sleep(d)
		} else {
			span := max(1, (total-at)/(kills-i))
			target := min(total-1, at+1+rng.Intn(span))
			what = fmt.Sprintf("at post %d", target)
			deadline := time.Now().Add(60 * time.Second)
			for count() < target {
				if time.Now().After(deadline) {
					t.Fatalf("kill %d: timed out waiting for post %d (%d posts)", i+1, target, count())
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		pid, err := p.nodes[0].Kill(p.id)
		if err != nil {
			t.Fatalf("kill %d: %v", i+1, err)
		}
		n := count()
		if n > 0 && n < total {
			midDelivery++
		}
		// Only the message at an outbox's cursor can have been posted without the cursor
		// moving past it (the process died in between): the restart must find it, not post
		// it again. Every sync's messages come from one outbox (its first run).
		unknown := 0
		for _, s := range names {
			if ob := p.outbox(s); ob != nil {
				posted := len(p.srv.PostsInChannel(channels[s].Id))
				switch d := posted - ob.Cursor; {
				case d == 1:
					unknown++
				case d != 0:
					t.Fatalf("kill %d: sync %s has %d posts and its outbox cursor at %d (of %d): "+
						"only the message at the cursor may be posted and not yet recorded", i+1, s, posted, ob.Cursor, ob.Len)
				}
			}
		}
		reconcile += unknown
		t.Logf("kill %2d (%s): pid %d, %.2fs after activation, %d posts, %d posted but not recorded",
			i+1, what, pid, time.Since(activated).Seconds(), n, unknown)
		// A process killed while holding a lease blocks its sync until the lease expires.
		time.Sleep(leaseSeconds*time.Second + 200*time.Millisecond)
	}
	p.activate(0)
	restarted := p.runCounts(names...)
	waitUntil(t, 120*time.Second, fmt.Sprintf("%d posts after the last restart", total), func() bool { return count() >= total })
	// Then every sync finishes a run that posts nothing: nothing more is coming.
	p.quietRun(60*time.Second, restarted, names...)
	t.Logf("%d kills (%d with 0 < posts < %d; %d messages posted but not recorded, to reconcile), delivery done %.1fs after the first activation",
		kills, midDelivery, total, reconcile, time.Since(start).Seconds())

	all := p.srv.Posts()
	if len(all) != total {
		t.Errorf("%d posts; want exactly %d", len(all), total)
	}
	pfCheckPosts(t, p.bot(), all)
	for i, n := range names {
		want := total / len(names)
		if i < total%len(names) {
			want++
		}
		var got []int
		for _, x := range p.srv.PostsInChannel(channels[n].Id) {
			var row int
			if _, err := fmt.Sscanf(x.Message, n+" row %d", &row); err != nil {
				t.Fatalf("channel %s: unexpected post %q", n, x.Message)
			}
			got = append(got, row)
		}
		ok := len(got) == want
		for j := 0; ok && j < want; j++ {
			ok = got[j] == j+1
		}
		if !ok {
			t.Fatalf("channel %s: rows %v; want 1..%d once each, in order", n, pfRanges(got), want)
		}
	}
	for _, l := range p.srv.Logs() {
		if strings.Contains(l.Message, "panic") {
			t.Fatalf("a panic: %s %v", l.Message, l.KV)
		}
	}
}

// pfRanges shortens a list of numbers to runs "1-40 41 43-50" for failure messages.
func pfRanges(xs []int) string {
	var b strings.Builder
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", xs[i], xs[j])
		} else {
			fmt.Fprintf(&b, "%d", xs[i])
		}
		i = j + 1
	}
	return b.String()
}

// A run killed in the middle of its delivery blocks its sync until the lease expires
// (contract: LeaseSeconds); then the rest of its outbox is delivered at once, not only at
// the sync's next scheduled start (here 2 minutes later; for a daily report, a day later).
func TestDataSyncResumesAfterLeaseExpiry(t *testing.T) {
	dataSyncBinary(t)
	pfHeavy(t)
	t.Parallel()
	const rows, leaseSeconds = 40, 2
	db := filepath.Join(t.TempDir(), "resume.db")
	pfSqlite(t, db, fmt.Sprintf("CREATE TABLE r1 (id INTEGER PRIMARY KEY);"+
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) INSERT INTO r1 SELECT i FROM n;", rows))
	doc := pfCrashSyncs + strings.Replace(fmt.Sprintf(pfCrashSync, "r1"), "every 10s", "every 2m", 1)
	p := pfNew(t, map[string]any{
		"Syncs": doc, "Secrets": "CRASH_DB=" + db, "TickSeconds": 1,
		"LeaseSeconds": leaseSeconds, "PostsPerSecond": 4,
	})
	team := p.srv.AddTeam("acme", "Acme")
	p.srv.AddChannel(team.Id, "r1", "r1")
	p.activate(0)
	count := func() int { return len(p.srv.Posts()) }
	waitUntil(t, 30*time.Second, "the first run under way", func() bool { return count() >= 8 })
	if _, err := p.nodes[0].Kill(p.id); err != nil {
		t.Fatal(err)
	}
	killed := count()
	time.Sleep(leaseSeconds*time.Second + 200*time.Millisecond)
	p.activate(0)
	deadline := time.Now().Add(25 * time.Second)
	for count() < rows && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := count(); n != rows {
		t.Fatalf("killed after %d of %d posts; %d posted 25 s after the lease expired (the rest waits for the next scheduled run, 2 min after the first)", killed, rows, n)
	}
	pfCheckPosts(t, p.bot(), p.srv.Posts())
}
