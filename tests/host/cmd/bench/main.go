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
	flag.IntVar(&o.reps, "reps", 5, "runs of each calls/s row; the median is reported (2 cores are noisy)")
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
	results := map[string]*result{}
	fmt.Fprintln(os.Stderr, "benchmarking go-hello …")
	if results["go"], err = run("go-hello", *goBin, tmp, o, *verbose); err != nil {
		fail(fmt.Errorf("go-hello: %w", err))
	}
	if _, statErr := os.Stat(*rustBin); statErr == nil {
		id := *rustID
		if id == "" {
			id = filepath.Base(*rustBin)
		}
		fmt.Fprintf(os.Stderr, "benchmarking %s …\n", id)
		if results["rust"], err = run(id, *rustBin, tmp, o, *verbose); err != nil {
			fail(fmt.Errorf("%s: %w", id, err))
		}
	} else {
		fmt.Fprintf(os.Stderr, "no Rust executable at %s (build it with: cargo build -p rs-hello --release); Go only\n", *rustBin)
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

// run measures one plugin in its own environment.
func run(id, bin, tmp string, o options, verbose bool) (*result, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	r := &result{Plugin: id, Executable: abs, SizeMiB: float64(st.Size()) / (1 << 20)}
	env, err := harness.NewEnv(filepath.Join(tmp, "plugins-"+id), verbose)
	if err != nil {
		return nil, err
	}
	defer env.Env.Shutdown()
	team := env.Server.AddTeam("bench", "Bench")
	channel := env.Server.AddChannel(team.Id, "bench", "Bench")
	user := env.Server.AddUser("bencher", "bencher@example.com")
	if err := env.Install(harness.HelloManifest(id), abs); err != nil {
		return nil, err
	}

	if r.ActivateMedianMs, err = timeActivations(env, id, o.activations); err != nil {
		return nil, err
	}
	if err := env.Activate(id); err != nil {
		return nil, err
	}
	pid := env.PluginPID(id)
	if pid == 0 {
		return nil, fmt.Errorf("plugin process not found")
	}
	if r.RSSActivatedMiB, err = rssMiB(pid); err != nil {
		return nil, err
	}
	hooks, err := env.Hooks(id)
	if err != nil {
		return nil, err
	}
	args := &model.CommandArgs{UserId: user.Id, ChannelId: channel.Id, TeamId: team.Id, Command: "/hello x"}
	lat, err := commandLatencies(hooks, args, o.warmup, o.calls)
	if err != nil {
		return nil, err
	}
	r.CmdMedianUs, r.CmdP99Us = percentile(lat, 0.50), percentile(lat, 0.99)
	for i := o.warmup + o.calls; i < o.totalCalls; i++ {
		if _, appErr := hooks.ExecuteCommand(&plugin.Context{}, args); appErr != nil {
			return nil, appErr
		}
	}
	if r.RSSAfterCallsMiB, err = rssMiB(pid); err != nil {
		return nil, err
	}
	for _, b := range []struct {
		op      string
		workers int
		dst     *float64
	}{{"createpost", 1, &r.CreatePost1PerSec}, {"createpost", 8, &r.CreatePost8PerSec},
		{"kvset", 1, &r.KVSet1PerSec}, {"kvset", 8, &r.KVSet8PerSec}} {
		if *b.dst, err = medianRate(hooks, b.op, o.apiN, b.workers, o.reps, channel.Id); err != nil {
			// Keep the other rows: report the failure and print n/a for this one.
			fmt.Fprintf(os.Stderr, "%s: %v\n", id, err)
			*b.dst = math.NaN()
		}
	}
	return r, nil
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

// medianRate runs apiRate reps times and returns the median rate.
func medianRate(hooks plugin.Hooks, op string, n, workers, reps int, channelID string) (float64, error) {
	if reps < 1 {
		reps = 1
	}
	rates := make([]float64, 0, reps)
	for i := 0; i < reps; i++ {
		rate, err := apiRate(hooks, op, n, workers, channelID)
		if err != nil {
			return 0, err
		}
		rates = append(rates, rate)
	}
	return percentile(rates, 0.50), nil
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
