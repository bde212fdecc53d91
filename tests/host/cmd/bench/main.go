// Command bench drives the Go reference plugin (go-hello, official SDK) and the
// Rust rs-hello through the same real host code and in-memory API, and prints a
// side-by-side table with a Rust/Go ratio per row. See ../../BENCH.md.
//
//	go run ./cmd/bench [-rust target/release/rs-hello] [-go path] [-json out.json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

type options struct {
	calls, warmup, totalCalls, apiN, activations, reps int
	// only: run just these calls/s rows (e.g. kvset8), for profiling
	only string
	// each: print every run's rate
	each bool
}

// result is one plugin's figures; field names are the JSON keys.
type result struct {
	Plugin            string  `json:"plugin"`
	Executable        string  `json:"executable"`
	CmdMedianUs       float64 `json:"execute_command_median_us"`
	CmdP99Us          float64 `json:"execute_command_p99_us"`
	CreatePost1PerSec float64 `json:"createpost_1_worker_per_s"`
	CreatePost8PerSec float64 `json:"createpost_8_workers_per_s"`
	KVSet1PerSec      float64 `json:"kvset_1_worker_per_s"`
	KVSet8PerSec      float64 `json:"kvset_8_workers_per_s"`
	ActivateMedianMs  float64 `json:"activate_median_ms"`
	RSSActivatedMiB   float64 `json:"rss_after_activation_mib"`
	RSSAfterCallsMiB  float64 `json:"rss_after_calls_mib"`
	SizeMiB           float64 `json:"executable_size_mib"`
}

func main() {
	root, err := harness.ModuleRoot()
	if err != nil {
		fail(err)
	}
	defRust := filepath.Join(root, "..", "..", "target", "release", "rs-hello")
	rustBin := flag.String("rust", defRust, "rs-hello executable (release build)")
	rustID := flag.String("rust-id", "", "plugin id for the Rust executable (default: its file name)")
	goBin := flag.String("go", "", "go-hello executable (default: build the reference plugin with -ldflags \"-s -w\")")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	var o options
	flag.IntVar(&o.calls, "calls", 5000, "measured ExecuteCommand calls")
	flag.IntVar(&o.warmup, "warmup", 500, "warm-up ExecuteCommand calls")
	flag.IntVar(&o.totalCalls, "rss-calls", 10000, "hook calls made before the second RSS reading")
	flag.IntVar(&o.apiN, "api-n", 5000, "API calls per /bench run")
	flag.IntVar(&o.activations, "activations", 10, "activations timed for the start-up row")
	flag.IntVar(&o.reps, "reps", 21, "runs of each calls/s row per plugin, the plugins taking turns; the median is reported (runs on 2 cores vary by ±25%)")
	flag.BoolVar(&o.each, "each", false, "print every run's rate to stderr")
	flag.StringVar(&o.only, "only", "", "run only these calls/s rows (comma-separated): createpost1, createpost8, kvset1, kvset8 (for profiling)")
	verbose := flag.Bool("v", false, "echo host logs to stderr")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "hostbench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(tmp)
	if *goBin == "" {
		fmt.Fprintln(os.Stderr, "building go-hello (-ldflags \"-s -w\") …")
		if *goBin, err = harness.BuildRefPlugin(tmp, true); err != nil {
			fail(err)
		}
	}
	var subjects []*subject
	goSubject, err := prepare("go", "go-hello", *goBin, tmp, o, *verbose)
	if err != nil {
		fail(fmt.Errorf("go-hello: %w", err))
	}
	defer goSubject.env.Env.Shutdown()
	subjects = append(subjects, goSubject)
	if _, statErr := os.Stat(*rustBin); statErr == nil {
		id := *rustID
		if id == "" {
			id = filepath.Base(*rustBin)
		}
		rs, err := prepare("rust", id, *rustBin, tmp, o, *verbose)
		if err != nil {
			fail(fmt.Errorf("%s: %w", id, err))
		}
		defer rs.env.Env.Shutdown()
		subjects = append(subjects, rs)
	} else {
		fmt.Fprintf(os.Stderr, "no Rust executable at %s (build it with: cargo build -p rs-hello --release); Go only\n", *rustBin)
	}
	if err := measure(subjects, o); err != nil {
		fail(err)
	}
	results := map[string]*result{}
	for _, s := range subjects {
		results[s.key] = s.r
	}
	printTable(results, o)
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, results); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// subject is one plugin under measurement, activated in its own environment.
type subject struct {
	key   string // "go" or "rust"
	r     *result
	env   *harness.Env
	hooks plugin.Hooks
	args  *model.CommandArgs
	pid   int
	// channel for CreatePost
	channel string
}

// prepare installs and activates one plugin and takes the figures that need it alone:
// executable size, start-up time, RSS after activation.
func prepare(key, id, bin, tmp string, o options, verbose bool) (*subject, error) {
	fmt.Fprintf(os.Stderr, "starting %s …\n", id)
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	s := &subject{key: key, r: &result{Plugin: id, Executable: abs, SizeMiB: float64(st.Size()) / (1 << 20)}}
	if s.env, err = harness.NewEnv(filepath.Join(tmp, "plugins-"+id), verbose); err != nil {
		return nil, err
	}
	team := s.env.Server.AddTeam("bench", "Bench")
	s.channel = s.env.Server.AddChannel(team.Id, "bench", "Bench").Id
	user := s.env.Server.AddUser("bencher", "bencher@example.com")
	s.args = &model.CommandArgs{UserId: user.Id, ChannelId: s.channel, TeamId: team.Id, Command: "/hello x"}
	if err := s.env.Install(harness.HelloManifest(id), abs); err != nil {
		return nil, err
	}
	if s.r.ActivateMedianMs, err = timeActivations(s.env, id, o.activations); err != nil {
		return nil, err
	}
	if err := s.env.Activate(id); err != nil {
		return nil, err
	}
	if s.pid = s.env.PluginPID(id); s.pid == 0 {
		return nil, fmt.Errorf("plugin process not found")
	}
	if s.r.RSSActivatedMiB, err = rssMiB(s.pid); err != nil {
		return nil, err
	}
	s.hooks, err = s.env.Hooks(id)
	return s, err
}

// latencyBlocks: the timed ExecuteCommand calls are made in this many blocks, the plugins
// taking turns, so that a slower or faster stretch of a shared machine hits both alike.
const latencyBlocks = 10

// measure takes the timed rows with the plugins taking turns: blocks of ExecuteCommand
// calls, then each rep of each calls/s row for one plugin and then the other.
func measure(subjects []*subject, o options) error {
	fmt.Fprintln(os.Stderr, "measuring, the plugins taking turns …")
	lat := make([][]float64, len(subjects))
	for i, s := range subjects {
		if _, err := commandLatencies(s.hooks, s.args, o.warmup, 0); err != nil {
			return fmt.Errorf("%s: %w", s.r.Plugin, err)
		}
		lat[i] = make([]float64, 0, o.calls)
	}
	for b := range latencyBlocks {
		n := o.calls/latencyBlocks + boolInt(b < o.calls%latencyBlocks)
		for i, s := range subjects {
			l, err := commandLatencies(s.hooks, s.args, 0, n)
			if err != nil {
				return fmt.Errorf("%s: %w", s.r.Plugin, err)
			}
			lat[i] = append(lat[i], l...)
		}
	}
	for i, s := range subjects {
		s.r.CmdMedianUs, s.r.CmdP99Us = percentile(lat[i], 0.50), percentile(lat[i], 0.99)
		for c := o.warmup + o.calls; c < o.totalCalls; c++ {
			if _, appErr := s.hooks.ExecuteCommand(&plugin.Context{}, s.args); appErr != nil {
				return fmt.Errorf("%s: %w", s.r.Plugin, appErr)
			}
		}
		var err error
		if s.r.RSSAfterCallsMiB, err = rssMiB(s.pid); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		op      string
		workers int
		dst     func(*result) *float64
	}{{"createpost", 1, func(r *result) *float64 { return &r.CreatePost1PerSec }},
		{"createpost", 8, func(r *result) *float64 { return &r.CreatePost8PerSec }},
		{"kvset", 1, func(r *result) *float64 { return &r.KVSet1PerSec }},
		{"kvset", 8, func(r *result) *float64 { return &r.KVSet8PerSec }}} {
		if o.only != "" && !slices.Contains(strings.Split(o.only, ","), fmt.Sprintf("%s%d", b.op, b.workers)) {
			for _, s := range subjects {
				*b.dst(s.r) = math.NaN()
			}
			continue
		}
		rates := make([][]float64, len(subjects))
		failed := make([]bool, len(subjects))
		for range max(o.reps, 1) {
			for i, s := range subjects {
				if failed[i] {
					continue
				}
				rate, err := apiRate(s.hooks, b.op, o.apiN, b.workers, s.channel)
				if err != nil {
					// Keep the other rows: report the failure and print n/a for this one.
					fmt.Fprintf(os.Stderr, "%s: %v\n", s.r.Plugin, err)
					failed[i] = true
					continue
				}
				rates[i] = append(rates[i], rate)
				if o.each {
					fmt.Fprintf(os.Stderr, "%s %s%d: %.0f calls/s\n", s.r.Plugin, b.op, b.workers, rate)
				}
			}
		}
		for i, s := range subjects {
			*b.dst(s.r) = math.NaN()
			if !failed[i] {
				*b.dst(s.r) = percentile(rates[i], 0.50)
			}
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// timeActivations measures env.Activate (exec → handshake → OnActivate returned), median in ms.
func timeActivations(env *harness.Env, id string, n int) (float64, error) {
	var ms []float64
	for range n {
		start := time.Now()
		if err := env.Activate(id); err != nil {
			return 0, err
		}
		ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		env.Env.Deactivate(id)
	}
	return percentile(ms, 0.5), nil
}

func commandLatencies(hooks plugin.Hooks, args *model.CommandArgs, warmup, calls int) ([]float64, error) {
	lat := make([]float64, 0, calls)
	for i := range warmup + calls {
		start := time.Now()
		resp, appErr := hooks.ExecuteCommand(&plugin.Context{}, args)
		d := time.Since(start)
		if appErr != nil {
			return nil, appErr
		}
		if resp == nil || !strings.HasPrefix(resp.Text, "Posted:") {
			return nil, fmt.Errorf("unexpected /hello response %+v", resp)
		}
		if i >= warmup {
			lat = append(lat, float64(d.Nanoseconds())/1000)
		}
	}
	return lat, nil
}

// apiRate calls POST /bench (BENCH.md) and returns API calls per second.
func apiRate(hooks plugin.Hooks, op string, n, workers int, channelID string) (float64, error) {
	q := fmt.Sprintf("/bench?op=%s&n=%d&workers=%d&channel=%s", op, n, workers, channelID)
	req := httptest.NewRequest(http.MethodPost, q, strings.NewReader(""))
	rec := httptest.NewRecorder()
	hooks.ServeHTTP(&plugin.Context{RequestId: model.NewId()}, rec, req)
	body := strings.TrimSpace(rec.Body.String())
	if rec.Code != http.StatusOK {
		return 0, fmt.Errorf("POST %s: %d %s", q, rec.Code, body)
	}
	ns, err := strconv.ParseInt(body, 10, 64)
	if err != nil || ns <= 0 {
		return 0, fmt.Errorf("POST %s: body %q is not a positive nanosecond count", q, body)
	}
	return float64(n) / (float64(ns) / 1e9), nil
}

func rssMiB(pid int) (float64, error) {
	kib, err := harness.RSSKiB(pid)
	return float64(kib) / 1024, err
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	i := int(p*float64(len(s)-1) + 0.5)
	return s[i]
}

type row struct {
	name   string
	get    func(*result) float64
	format string
}

func rows(o options) []row {
	return []row{
		{fmt.Sprintf("ExecuteCommand /hello x, median (µs, %d calls)", o.calls), func(r *result) float64 { return r.CmdMedianUs }, "%.1f"},
		{"ExecuteCommand /hello x, p99 (µs)", func(r *result) float64 { return r.CmdP99Us }, "%.1f"},
		{fmt.Sprintf("CreatePost calls/s, 1 caller (median of %d)", o.reps), func(r *result) float64 { return r.CreatePost1PerSec }, "%.0f"},
		{fmt.Sprintf("CreatePost calls/s, 8 callers (median of %d)", o.reps), func(r *result) float64 { return r.CreatePost8PerSec }, "%.0f"},
		{fmt.Sprintf("KVSet calls/s, 1 caller (median of %d)", o.reps), func(r *result) float64 { return r.KVSet1PerSec }, "%.0f"},
		{fmt.Sprintf("KVSet calls/s, 8 callers (median of %d)", o.reps), func(r *result) float64 { return r.KVSet8PerSec }, "%.0f"},
		{fmt.Sprintf("start → OnActivate returned (ms, median of %d)", o.activations), func(r *result) float64 { return r.ActivateMedianMs }, "%.1f"},
		{"VmRSS after activation (MiB)", func(r *result) float64 { return r.RSSActivatedMiB }, "%.1f"},
		{fmt.Sprintf("VmRSS after %d calls (MiB)", o.totalCalls), func(r *result) float64 { return r.RSSAfterCallsMiB }, "%.1f"},
		{"executable size, stripped (MiB)", func(r *result) float64 { return r.SizeMiB }, "%.2f"},
	}
}

func printTable(res map[string]*result, o options) {
	g, rs := res["go"], res["rust"]
	rustName := "Rust (not built)"
	if rs != nil {
		rustName = "Rust (" + rs.Plugin + ")"
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "metric\t%16s\t%20s\t%8s\n", "Go ("+g.Plugin+")", rustName, "Rust/Go")
	for _, r := range rows(o) {
		gv := r.get(g)
		rv, ratio := "n/a", "n/a"
		if rs != nil {
			v := r.get(rs)
			rv = num(r.format, v)
			if gv != 0 && !math.IsNaN(gv) && !math.IsNaN(v) {
				ratio = fmt.Sprintf("%.2f", v/gv)
			}
		}
		fmt.Fprintf(w, "%s\t%16s\t%20s\t%8s\n", r.name, num(r.format, gv), rv, ratio)
	}
	_ = w.Flush()
	fmt.Println("Latency and start-up: lower is better; calls/s: higher is better; RSS and size: lower is better.")
}

func num(format string, v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

func writeJSON(path string, res map[string]*result) error {
	out := map[string]any{"go": jsonable(res["go"]), "rust": jsonable(res["rust"]), "machine_cpus": cpus()}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// jsonable turns a result into a map with NaN (row not measured) as null.
func jsonable(r *result) map[string]any {
	if r == nil {
		return nil
	}
	out := map[string]any{}
	v := reflect.ValueOf(*r)
	for i := range v.NumField() {
		key := strings.Split(v.Type().Field(i).Tag.Get("json"), ",")[0]
		if f, ok := v.Field(i).Interface().(float64); ok && math.IsNaN(f) {
			out[key] = nil
		} else {
			out[key] = v.Field(i).Interface()
		}
	}
	return out
}

func cpus() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}
