// Command dsbench measures the Data Sync plugin (target/release/datasync-plugin) under the
// real Mattermost plugin host code and the in-memory API of tests/host/harness, and prints
// the figures: posts/s delivered with pacing off and on, RSS idle with 0 and 100 syncs,
// peak RSS and duration of 1,000,000-row runs, executable sizes, and the time from a saved
// configuration to the first finished run. Figures are printed, not asserted. See
// ../../BENCH-PLUGIN.md.
//
//	go run ./cmd/dsbench [-plugin target/release/datasync-plugin] [-only rss,config] [-v]
package main

import (
	"archive/tar"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

type options struct {
	plugin, repo  string
	rows          []int
	pacedRows     int
	bigRows       int
	changePct     float64
	linger        time.Duration
	idleSyncs     int
	poolSyncs     int
	poolRows      int
	samplesTick1  int
	samplesTick10 int
	only          []string
	verbose       bool
}

func (o options) wants(part string) bool { return len(o.only) == 0 || slices.Contains(o.only, part) }

// line is one row of the output table.
type line struct{ metric, value, unit, note string }

type report struct {
	lines []line
}

func (r *report) add(metric, value, unit, note string) {
	r.lines = append(r.lines, line{metric, value, unit, note})
	fmt.Fprintf(os.Stderr, "  %s: %s %s %s\n", metric, value, unit, note)
}

func (r *report) section(title string) { r.lines = append(r.lines, line{metric: "## " + title}) }

func (r *report) print() {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "metric\tvalue\tunit\t")
	for _, l := range r.lines {
		if strings.HasPrefix(l.metric, "## ") {
			_ = w.Flush()
			fmt.Println(strings.TrimPrefix(l.metric, "## "))
			continue
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t  %s\n", l.metric, l.value, l.unit, l.note)
	}
	_ = w.Flush()
}

func main() {
	root, err := harness.ModuleRoot()
	if err != nil {
		fail(err)
	}
	repo := filepath.Clean(filepath.Join(root, "..", ".."))
	var o options
	o.repo = repo
	flag.StringVar(&o.plugin, "plugin", filepath.Join(repo, "target", "release", "datasync-plugin"), "the datasync-plugin executable (linux-amd64, release build)")
	rows := flag.String("rows", "2000,10000", "table sizes for the unpaced posts/s rows")
	flag.IntVar(&o.pacedRows, "paced-rows", 200, "rows posted with the default pacing (10 posts/s: 200 rows take ~20 s)")
	flag.IntVar(&o.bigRows, "big-rows", 1_000_000, "rows of the large changes-mode sync")
	flag.Float64Var(&o.changePct, "change-pct", 1, "percentage of the large table's rows changed before its second run")
	flag.DurationVar(&o.linger, "linger", 5*time.Second, "how long after the large sync's last measured run to read VmRSS again")
	flag.IntVar(&o.idleSyncs, "syncs", 100, "configured syncs for the idle RSS row")
	flag.IntVar(&o.poolSyncs, "pool-syncs", 4, "syncs posting at once for the Workers rows")
	flag.IntVar(&o.poolRows, "pool-rows", 2500, "rows each of those syncs posts")
	flag.IntVar(&o.samplesTick1, "samples-tick1", 6, "configuration → first run samples with TickSeconds 1")
	flag.IntVar(&o.samplesTick10, "samples-tick10", 4, "configuration → first run samples with TickSeconds 10 (each takes ~10-20 s)")
	only := flag.String("only", "", "run only these parts (comma-separated): size, posts, paced, workers, rss, big, config")
	flag.BoolVar(&o.verbose, "v", false, "echo host logs to stderr")
	flag.Parse()
	for _, s := range strings.Split(*rows, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 10000 {
			fail(fmt.Errorf("-rows: %q is not a count from 1 to 10000 (max_messages)", s))
		}
		o.rows = append(o.rows, n)
	}
	if *only != "" {
		o.only = strings.Split(*only, ",")
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		fail(fmt.Errorf("the sqlite3 command-line tool is missing (apt-get install sqlite3)"))
	}
	if o.plugin, err = filepath.Abs(o.plugin); err != nil {
		fail(err)
	}
	if _, err := os.Stat(o.plugin); err != nil {
		fail(fmt.Errorf("%v (build it: cargo build --release -p datasync-plugin)", err))
	}
	manifest, err := harness.LoadManifest(filepath.Join(repo, "plugin.json"))
	if err != nil {
		fail(err)
	}
	tmp, err := os.MkdirTemp("", "dsbench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(tmp)
	b := &bench{o: o, tmp: tmp, manifest: manifest, rep: &report{}}
	fmt.Fprintf(os.Stderr, "dsbench: %s\n", o.plugin)
	parts := []struct {
		name string
		fn   func() error
	}{
		{"size", b.sizes},
		{"posts", b.posts},
		{"paced", b.paced},
		{"workers", b.workers},
		{"rss", b.idleRSS},
		{"big", b.big},
		{"config", b.configLatency},
	}
	failed := false
	for _, p := range parts {
		if !o.wants(p.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "== %s\n", p.name)
		if err := p.fn(); err != nil {
			fmt.Fprintf(os.Stderr, "dsbench: %s: %v\n", p.name, err)
			b.rep.add(p.name, "failed", "", err.Error())
			failed = true
		}
	}
	fmt.Println()
	b.rep.print()
	if failed {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dsbench:", err)
	os.Exit(1)
}

type bench struct {
	o        options
	tmp      string
	manifest *model.Manifest
	rep      *report
	n        int // environments made
	unpaced  []float64
}

// instance is one plugin process under measurement in its own environment.
type instance struct {
	env   *harness.Env
	probe *probe
	pid   int
	id    string
}

func (in *instance) close() {
	in.env.Env.Shutdown()
}

// settingsFor builds the plugin settings. extra: TickSeconds, PostsPerSecond, ….
func settingsFor(syncs string, extra map[string]any) map[string]any {
	s := map[string]any{"Syncs": syncs}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// start makes a fresh environment (plugin dir, in-memory server with team "bench" and
// channel "bench/posts"), saves the settings and activates the plugin.
func (b *bench) start(settings map[string]any) (*instance, error) {
	b.n++
	dir := filepath.Join(b.tmp, fmt.Sprintf("plugins-%d", b.n))
	env, p, err := newEnv(dir, b.o.verbose)
	if err != nil {
		return nil, err
	}
	team := env.Server.AddTeam("bench", "Bench")
	env.Server.AddChannel(team.Id, "posts", "Posts")
	id := b.manifest.Id
	env.Server.SetPluginSettings(id, settings)
	if err := env.Install(b.manifest, b.o.plugin); err != nil {
		return nil, err
	}
	if err := env.Activate(id); err != nil {
		env.Env.Shutdown()
		return nil, fmt.Errorf("activate: %w", err)
	}
	pid := env.PluginPID(id)
	if pid == 0 {
		env.Env.Shutdown()
		return nil, fmt.Errorf("plugin process not found")
	}
	return &instance{env: env, probe: p, pid: pid, id: id}, nil
}

// ---- SQLite ----

func sqlite(db, sql string) error {
	out, err := exec.Command("sqlite3", db, sql).CombinedOutput()
	if err != nil {
		return fmt.Errorf("sqlite3 %s: %v\n%s", db, err, out)
	}
	return nil
}

// table writes a SQLite database with table t(id, name, value) of n rows.
func (b *bench) table(name string, n int) (string, error) {
	db := filepath.Join(b.tmp, name+".db")
	_ = os.Remove(db)
	sql := fmt.Sprintf(`PRAGMA journal_mode=WAL;
CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, value INTEGER NOT NULL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)
INSERT INTO t SELECT i, 'account ' || i, i %% 1000 FROM c;`, n)
	return db, sqlite(db, sql)
}

const connection = `[connections.db]
kind = "sqlite"
url = %q
`

// ---- executable sizes ----

func (b *bench) sizes() error {
	b.rep.section("Executable size")
	st, err := os.Stat(b.o.plugin)
	if err != nil {
		return err
	}
	b.rep.add("linux-amd64 "+rel(b.o.repo, b.o.plugin), mib(st.Size()), "MiB", "")
	// Other builds: target/<triple>/{release,dist}/datasync-plugin[.exe] (the bundles use the
	// dist profile, static musl on Linux), target/dist, and the bundles in dist/.
	var exes []string
	for _, pattern := range []string{"*/release/datasync-plugin*", "*/dist/datasync-plugin*", "dist/datasync-plugin*"} {
		m, _ := filepath.Glob(filepath.Join(b.o.repo, "target", pattern))
		exes = append(exes, m...)
	}
	for _, p := range exes {
		if strings.HasSuffix(p, ".d") || p == b.o.plugin {
			continue
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			b.rep.add(rel(b.o.repo, p), mib(st.Size()), "MiB", "")
		}
	}
	bundles, _ := filepath.Glob(filepath.Join(b.o.repo, "dist", "datasync-*.tar.gz"))
	for _, p := range bundles {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		b.rep.add(rel(b.o.repo, p), mib(st.Size()), "MiB", "the bundle, compressed")
		entries, err := tarExecutables(p)
		if err != nil {
			b.rep.add("  "+filepath.Base(p), "?", "", err.Error())
		}
		for _, e := range entries {
			b.rep.add("  "+e.name, mib(e.size), "MiB", "in the bundle")
		}
	}
	if len(exes) == 0 && len(bundles) == 0 {
		b.rep.add("other platforms", "none built", "", "(no target/<triple>/{release,dist}/datasync-plugin, no dist/datasync-*.tar.gz)")
	}
	return nil
}

type tarEntry struct {
	name string
	size int64
}

// tarExecutables lists the files under server/dist/ in a bundle.
func tarExecutables(path string) ([]tarEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	var out []tarEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if h.Typeflag == tar.TypeReg && strings.Contains(h.Name, "server/dist/") {
			out = append(out, tarEntry{h.Name, h.Size})
		}
	}
}

func rel(base, p string) string {
	if r, err := filepath.Rel(base, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

func mib(n int64) string { return fmt.Sprintf("%.2f", float64(n)/(1<<20)) }

// ---- posts/s ----

// postsDoc: one sync posting every row of the table on its first run.
func postsDoc(db string, n int) string {
	return fmt.Sprintf(connection+`
[syncs.flood]
connection = "db"
sql = "SELECT id, name, value FROM t ORDER BY id"
key = "id"
schedule = "every 10s"
first_run = "post"
max_messages = %d
channel = "bench/posts"

[syncs.flood.templates]
added = "Account {{ row.id }}: **{{ row.name }}** has value {{ row.value }}"
`, db, n)
}

type delivery struct {
	n                 int
	run               run
	toFirst, toLast   time.Duration // from the run's start (lease taken)
	rate              float64       // posts / (last post - run start)
	steady            float64       // (posts - 1) / (last post - first post)
	calls             map[string]int
	cpu               time.Duration // plugin CPU time up to the run's end (activation included)
	finishedAfterLast time.Duration // last post → run finished
}

var callNames = []string{"CreatePost", "KVGet", "KVSet", "KVCompareAndSet", "KVSetWithOptions", "KVDelete", "KVList", "GetChannelByNameForTeamName", "GetChannel"}

// deliver runs one posting sync over n rows with these extra settings and times it.
func (b *bench) deliver(n int, extra map[string]any, limit time.Duration) (*delivery, error) {
	db, err := b.table(fmt.Sprintf("posts%d", n), n)
	if err != nil {
		return nil, err
	}
	in, err := b.start(settingsFor(postsDoc(db, n), extra))
	if err != nil {
		return nil, err
	}
	defer in.close()
	before := map[string]int{}
	for _, c := range callNames {
		before[c] = in.env.Server.APICalls(c)
	}
	runs, err := in.probe.waitRuns("flood", 1, limit)
	if err != nil {
		got, _, _ := in.probe.postStats()
		return nil, fmt.Errorf("%w (%d posts so far)", err, got)
	}
	r := runs[0]
	cpu1, _ := cpuTime(in.pid)
	posts, first, last := in.probe.postStats()
	if posts != n || r.fields["messages"] != strconv.Itoa(n) {
		return nil, fmt.Errorf("the run posted %d messages (log: %v); want %d", posts, r.fields, n)
	}
	d := &delivery{n: n, run: r, calls: map[string]int{}, cpu: cpu1}
	for _, c := range callNames {
		d.calls[c] = in.env.Server.APICalls(c) - before[c]
	}
	d.toFirst, d.toLast = first.Sub(r.start), last.Sub(r.start)
	d.finishedAfterLast = r.end.Sub(last)
	d.rate = float64(n) / d.toLast.Seconds()
	if n > 1 {
		d.steady = float64(n-1) / last.Sub(first).Seconds()
	}
	return d, nil
}

func (b *bench) posts() error {
	b.rep.section("Delivery, pacing off (PostsPerSecond = 0): one sync, first_run = \"post\", N rows → N posts in one channel")
	var rates []float64
	for _, n := range b.o.rows {
		d, err := b.deliver(n, map[string]any{"TickSeconds": 1, "PostsPerSecond": 0}, 10*time.Minute)
		if err != nil {
			return fmt.Errorf("%d rows: %w", n, err)
		}
		rates = append(rates, d.rate)
		b.reportDelivery(fmt.Sprintf("N = %d", n), d, true)
	}
	b.unpaced = rates
	return nil
}

func (b *bench) reportDelivery(label string, d *delivery, detail bool) {
	b.rep.add(label+": posts/s, run start → last post", fmt.Sprintf("%.0f", d.rate), "posts/s",
		fmt.Sprintf("%.2f s for %d posts", d.toLast.Seconds(), d.n))
	if !detail {
		return
	}
	b.rep.add(label+": posts/s, first → last post", fmt.Sprintf("%.0f", d.steady), "posts/s", "")
	b.rep.add(label+": run start → first post", fmt.Sprintf("%.0f", ms(d.toFirst)), "ms", "query, diff, render, outbox commit")
	b.rep.add(label+": last post → run finished", fmt.Sprintf("%.0f", ms(d.finishedAfterLast)), "ms", "")
	b.rep.add(label+": plugin CPU over the run", fmt.Sprintf("%.0f", float64(d.cpu.Microseconds())/float64(d.n)), "µs/post",
		fmt.Sprintf("(process total, activation included: %.2f s CPU; the run took %.2f s)", d.cpu.Seconds(), d.run.duration().Seconds()))
	var calls []string
	for _, c := range callNames {
		if v := d.calls[c]; v > 0 {
			calls = append(calls, fmt.Sprintf("%s %.2f", c, float64(v)/float64(d.n)))
		}
	}
	b.rep.add(label+": API calls per post", "", "", strings.Join(calls, ", "))
}

func (b *bench) paced() error {
	b.rep.section("Delivery with the default pacing (PostsPerSecond not set: default 10)")
	n := b.o.pacedRows
	d, err := b.deliver(n, map[string]any{"TickSeconds": 1}, time.Duration(n)*time.Second+2*time.Minute)
	if err != nil {
		return fmt.Errorf("%d rows: %w", n, err)
	}
	b.reportDelivery(fmt.Sprintf("N = %d", n), d, false)
	b.rep.add(fmt.Sprintf("N = %d: posts/s, first → last post", n), fmt.Sprintf("%.1f", d.steady), "posts/s", "")
	if len(b.unpaced) > 0 {
		b.rep.add("unpaced / paced posts/s", fmt.Sprintf("%.0f", b.unpaced[0]/d.rate), "×",
			fmt.Sprintf("(N = %d unpaced vs N = %d paced)", b.o.rows[0], n))
	}
	return nil
}

// workers: several syncs posting their first run at once, pacing off, Workers 1 and 4.
func (b *bench) workers() error {
	k, n := b.o.poolSyncs, b.o.poolRows
	b.rep.section(fmt.Sprintf("Worker pool: %d syncs due together, each posting %d rows into the same channel (pacing off)", k, n))
	db, err := b.table("pool", n)
	if err != nil {
		return err
	}
	var doc strings.Builder
	fmt.Fprintf(&doc, connection, db)
	for i := range k {
		fmt.Fprintf(&doc, `
[syncs.p%d]
connection = "db"
sql = "SELECT id, name, value FROM t ORDER BY id"
key = "id"
schedule = "every 10s"
first_run = "post"
max_messages = %d
channel = "bench/posts"
[syncs.p%d.templates]
added = "Account {{ row.id }}: **{{ row.name }}** has value {{ row.value }}"
`, i, n, i)
	}
	var rates []float64
	for _, w := range []int{1, 4} {
		in, err := b.start(settingsFor(doc.String(), map[string]any{"TickSeconds": 1, "PostsPerSecond": 0, "Workers": w}))
		if err != nil {
			return err
		}
		var first time.Time
		var rs []run
		for i := range k {
			r, err := in.probe.waitRuns(fmt.Sprintf("p%d", i), 1, 10*time.Minute)
			if err != nil {
				in.close()
				return err
			}
			rs = append(rs, r[0])
			if first.IsZero() || r[0].start.Before(first) {
				first = r[0].start
			}
		}
		posts, _, last := in.probe.postStats()
		in.close()
		if posts != k*n {
			return fmt.Errorf("Workers %d: %d posts; want %d", w, posts, k*n)
		}
		wall := last.Sub(first)
		rate := float64(posts) / wall.Seconds()
		rates = append(rates, rate)
		var durs []string
		for _, r := range rs {
			durs = append(durs, fmt.Sprintf("%.1f", r.duration().Seconds()))
		}
		b.rep.add(fmt.Sprintf("Workers %d: posts/s, first run start → last post", w), fmt.Sprintf("%.0f", rate), "posts/s",
			fmt.Sprintf("(%d posts in %.2f s; run durations %s s)", posts, wall.Seconds(), strings.Join(durs, ", ")))
	}
	b.rep.add("Workers 4 / Workers 1 posts/s", fmt.Sprintf("%.2f", rates[1]/rates[0]), "×", "(2 cores, shared)")
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ---- idle RSS ----

func (b *bench) idleRSS() error {
	b.rep.section("Plugin process memory, idle (TickSeconds 1)")
	// 0 syncs.
	in, err := b.start(settingsFor("", map[string]any{"TickSeconds": 1}))
	if err != nil {
		return err
	}
	rssStart, _ := procStatus(in.pid, "VmRSS")
	time.Sleep(4 * time.Second)
	rss0, err := procStatus(in.pid, "VmRSS")
	in.close()
	if err != nil {
		return err
	}
	b.rep.add("VmRSS, 0 syncs, right after activation", kib(rssStart), "MiB", "")
	b.rep.add("VmRSS, 0 syncs, after 4 ticks", kib(rss0), "MiB", "")

	// N syncs over a 100-row table, "every 1m" (first runs within the 6 s jitter), baseline.
	db, err := b.table("idle", 100)
	if err != nil {
		return err
	}
	var doc strings.Builder
	fmt.Fprintf(&doc, connection, db)
	for i := range b.o.idleSyncs {
		fmt.Fprintf(&doc, `
[syncs.s%03d]
connection = "db"
sql = "SELECT id, name, value FROM t ORDER BY id"
key = "id"
schedule = "every 1m"
channel = "bench/posts"
[syncs.s%03d.templates]
added = "Account {{ row.id }}: {{ row.name }}"
changed = "Account {{ row.id }} changed: {{ previous.value }} → {{ row.value }}"
`, i, i)
	}
	if in, err = b.start(settingsFor(doc.String(), map[string]any{"TickSeconds": 1})); err != nil {
		return err
	}
	defer in.close()
	t0 := time.Now()
	if _, err := in.probe.waitRuns("", b.o.idleSyncs, 2*time.Minute); err != nil {
		return err
	}
	baselines := time.Since(t0)
	batches, biggest := startBatches(in.probe.runsOf(""))
	time.Sleep(3 * time.Second)
	rssN, err := procStatus(in.pid, "VmRSS")
	if err != nil {
		return err
	}
	hwmN, _ := procStatus(in.pid, "VmHWM")
	// CPU while idle: every tick offers each sync to the scheduler (a KVGet of its lock).
	gets0 := in.env.Server.APICalls("KVGet")
	cpu0, _ := cpuTime(in.pid)
	w0 := time.Now()
	time.Sleep(10 * time.Second)
	cpu1, _ := cpuTime(in.pid)
	gets := in.env.Server.APICalls("KVGet") - gets0
	wall := time.Since(w0)
	runsIdle := len(in.probe.runsOf("")) - b.o.idleSyncs
	rssAfter, _ := procStatus(in.pid, "VmRSS")

	b.rep.add(fmt.Sprintf("VmRSS, %d syncs, baselines done + 3 ticks", b.o.idleSyncs), kib(rssN), "MiB",
		fmt.Sprintf("(VmHWM %s MiB)", kib(hwmN)))
	b.rep.add(fmt.Sprintf("%d first (baseline) runs of 100 rows: activation → all finished", b.o.idleSyncs), fmt.Sprintf("%.1f", baselines.Seconds()), "s",
		fmt.Sprintf("(started in %d batches a tick apart, at most %d in one)", batches, biggest))
	b.rep.add(fmt.Sprintf("VmRSS, %d syncs, 10 s later", b.o.idleSyncs), kib(rssAfter), "MiB", "")
	b.rep.add(fmt.Sprintf("VmRSS %d syncs / 0 syncs", b.o.idleSyncs), fmt.Sprintf("%.2f", float64(rssN)/float64(rss0)), "×",
		fmt.Sprintf("(+%.1f KiB per sync)", float64(rssN-rss0)/float64(max(b.o.idleSyncs, 1))))
	b.rep.add(fmt.Sprintf("plugin CPU while idle, %d syncs", b.o.idleSyncs), fmt.Sprintf("%.1f", float64((cpu1-cpu0).Microseconds())/1000/wall.Seconds()), "ms CPU/s",
		fmt.Sprintf("(%d KVGet/s; %d runs in those 10 s)", int(float64(gets)/wall.Seconds()), runsIdle))
	return nil
}

// startBatches groups run starts that lie less than 300 ms apart (one tick's starts).
func startBatches(runs []run) (batches, biggest int) {
	var starts []time.Time
	for _, r := range runs {
		if !r.start.IsZero() {
			starts = append(starts, r.start)
		}
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	size := 0
	for i, t := range starts {
		if i == 0 || t.Sub(starts[i-1]) > 300*time.Millisecond {
			batches++
			size = 0
		}
		size++
		biggest = max(biggest, size)
	}
	return batches, biggest
}

func kib(n int64) string { return fmt.Sprintf("%.1f", float64(n)/1024) }

// ---- 1,000,000 rows ----

func (b *bench) big() error {
	n := b.o.bigRows
	b.rep.section(fmt.Sprintf("A %d-row SQLite table, changes mode (TickSeconds 1, schedule every 10s; max_messages 50: the changes go out as one summary)", n))
	t0 := time.Now()
	db, err := b.table("big", n)
	if err != nil {
		return err
	}
	gen := time.Since(t0)
	st, _ := os.Stat(db)
	fmt.Fprintf(os.Stderr, "  generated %d rows in %.1f s (%s MiB)\n", n, gen.Seconds(), mib(st.Size()))
	doc := fmt.Sprintf(connection+`
[syncs.big]
connection = "db"
sql = "SELECT id, name, value FROM t"
key = "id"
schedule = "every 10s"
max_rows = %d
statement_timeout = "10m"
channel = "bench/posts"

[syncs.big.templates]
added = "Account {{ row.id }}: {{ row.name }}"
changed = "Account {{ row.id }} changed: {{ previous.value }} → {{ row.value }}"
`, db, n+1)
	in, err := b.start(settingsFor(doc, map[string]any{"TickSeconds": 1}))
	if err != nil {
		return err
	}
	defer in.close()
	canReset := resetHWM(in.pid) == nil
	sampler := sampleRSS(in.pid, 20*time.Millisecond)
	defer sampler.close()
	rssIdle, _ := procStatus(in.pid, "VmRSS")
	var runs []run
	var sampled []int64
	finish := func(r run) {
		hwm, _ := procStatus(in.pid, "VmHWM")
		r.hwmKiB = hwm
		if canReset {
			_ = resetHWM(in.pid)
		}
		runs = append(runs, r)
		sampled = append(sampled, sampler.take())
	}
	rs, err := in.probe.waitRuns("big", 1, 15*time.Minute)
	if err != nil {
		return err
	}
	finish(rs[0])
	rssAfterBaseline, _ := procStatus(in.pid, "VmRSS")
	changed := int(float64(n) * b.o.changePct / 100)
	step := max(n/max(changed, 1), 1)
	if err := sqlite(db, fmt.Sprintf("UPDATE t SET value = value + 1 WHERE id %% %d = 0;", step)); err != nil {
		return err
	}
	// Wait for the run that sees the change (one run may start before the update lands).
	for k := 2; ; k++ {
		rs, err := in.probe.waitRuns("big", k, 15*time.Minute)
		if err != nil {
			return err
		}
		finish(rs[k-1])
		if rs[k-1].fields["changed"] != "0" || k >= 4 {
			break
		}
	}
	rssEnd, _ := procStatus(in.pid, "VmRSS")
	// More runs without changes: VmRSS after each (one thread per run; does memory come back?).
	var later []string
	deadline := time.Now().Add(b.o.linger)
	for k := len(runs) + 1; time.Now().Before(deadline); k++ {
		rs, err := in.probe.waitRuns("big", k, time.Until(deadline))
		if err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
		rss, _ := procStatus(in.pid, "VmRSS")
		later = append(later, fmt.Sprintf("%s (%.1f s)", kib(rss), rs[k-1].duration().Seconds()))
	}
	rssLater, _ := procStatus(in.pid, "VmRSS")
	idleRuns := len(later)
	b.rep.add("VmRSS before the first run", kib(rssIdle), "MiB", "")
	for i, r := range runs {
		what := "baseline run"
		if i > 0 {
			what = fmt.Sprintf("run %d (%s rows changed)", i+1, r.fields["changed"])
		}
		hwm := "n/a"
		if canReset {
			hwm = kib(r.hwmKiB)
		}
		b.rep.add(what+": duration (lease taken → run finished)", fmt.Sprintf("%.2f", r.duration().Seconds()), "s",
			fmt.Sprintf("rows %s, added %s, changed %s, messages %s, ok %s", r.fields["rows"], r.fields["added"], r.fields["changed"], r.fields["messages"], r.fields["ok"]))
		b.rep.add(what+": peak RSS (VmHWM)", hwm, "MiB", fmt.Sprintf("(highest VmRSS sampled every 20 ms: %s MiB)", kib(sampled[i])))
	}
	b.rep.add("VmRSS after the baseline run", kib(rssAfterBaseline), "MiB", "")
	b.rep.add("VmRSS after the last run", kib(rssEnd), "MiB", "")
	b.rep.add(fmt.Sprintf("VmRSS %v later", b.o.linger), kib(rssLater), "MiB", fmt.Sprintf("(%d more runs without changes in that time)", idleRuns))
	if len(later) > 0 {
		b.rep.add("VmRSS after each of those runs", "", "MiB", strings.Join(later, ", "))
	}
	if !canReset {
		b.rep.add("note", "", "", "/proc/<pid>/clear_refs not writable: VmHWM is the process peak; see the sampled figure")
	}
	var chunks, bytes int
	for _, k := range in.env.Server.KVKeys(in.id) {
		if strings.HasPrefix(k, "ds1:big:") {
			chunks++
			bytes += len(in.env.Server.KV(in.id, k))
		}
	}
	b.rep.add("state in the KV store", mib(int64(bytes)), "MiB", fmt.Sprintf("(%d keys)", chunks))
	return nil
}

// ---- saved configuration → first run ----

// jitter is scheduler::jitter: a stable offset in [0, min(interval/10, 60 s)) from the name.
func jitter(name string, interval time.Duration) time.Duration {
	span := min(interval/10, 60*time.Second).Milliseconds()
	if span == 0 {
		return 0
	}
	a := uint64(0xcbf29ce484222325)
	for i := 0; i < len(name); i++ {
		a = (a ^ uint64(name[i])) * 0x100000001b3
	}
	return time.Duration(a%uint64(span)) * time.Millisecond
}

func (b *bench) configLatency() error {
	b.rep.section("Saved configuration (SetPluginSettings + OnConfigurationChange) → first run finished (a new sync, every 10s, 10-row table)")
	db, err := b.table("cfg", 10)
	if err != nil {
		return err
	}
	var medians []float64
	for _, c := range []struct {
		tick    int
		samples int
	}{{1, b.o.samplesTick1}, {10, b.o.samplesTick10}} {
		if c.samples <= 0 {
			continue
		}
		extra := map[string]any{}
		label := "TickSeconds 10 (default, not set)"
		if c.tick != 10 {
			extra["TickSeconds"] = c.tick
			label = fmt.Sprintf("TickSeconds %d", c.tick)
		}
		in, err := b.start(settingsFor("", extra))
		if err != nil {
			return err
		}
		hooks, err := in.env.Hooks(in.id)
		if err != nil {
			in.close()
			return err
		}
		var lat, toStart []float64
		var jit []string
		tick := time.Duration(c.tick) * time.Second
		for i := range c.samples {
			// Start at a random phase of the tick.
			time.Sleep(time.Duration(rand.Int64N(int64(tick))))
			name := fmt.Sprintf("cfg%d_%d", c.tick, i)
			doc := fmt.Sprintf(connection+`
[syncs.%s]
connection = "db"
sql = "SELECT id, name, value FROM t ORDER BY id"
key = "id"
schedule = "every 10s"
channel = "bench/posts"
[syncs.%s.templates]
added = "Account {{ row.id }}: {{ row.name }}"
`, db, name, name)
			t0 := time.Now()
			in.env.Server.SetPluginSettings(in.id, settingsFor(doc, extra))
			if err := hooks.OnConfigurationChange(); err != nil {
				in.close()
				return fmt.Errorf("OnConfigurationChange: %w", err)
			}
			rs, err := in.probe.waitRuns(name, 1, 2*time.Minute)
			if err != nil {
				in.close()
				return err
			}
			lat = append(lat, rs[0].end.Sub(t0).Seconds())
			toStart = append(toStart, rs[0].start.Sub(t0).Seconds())
			jit = append(jit, fmt.Sprintf("%.0f", ms(jitter(name, 10*time.Second))))
			fmt.Fprintf(os.Stderr, "  %s: %.2f s (run took %.0f ms, jitter %s ms)\n", label, lat[len(lat)-1], ms(rs[0].duration()), jit[len(jit)-1])
		}
		in.close()
		med := median(lat)
		medians = append(medians, med)
		b.rep.add(label+": median", fmt.Sprintf("%.2f", med), "s",
			fmt.Sprintf("(min %.2f, max %.2f over %d saves; to the run's start: median %.2f s; jitter of the names: %s ms)",
				slices.Min(lat), slices.Max(lat), len(lat), median(toStart), strings.Join(jit, ", ")))
	}
	if len(medians) == 2 {
		b.rep.add("TickSeconds 10 / TickSeconds 1", fmt.Sprintf("%.1f", medians[1]/medians[0]), "×", "")
	}
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
