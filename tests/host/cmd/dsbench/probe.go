package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
	"github.com/mattermost/mattermost/server/public/shared/mlog"
)

// run is one finished run of a sync, as the API saw it: start = the lease written with a
// new last_start (KVCompareAndSet on ds1:<sync>:lock), end = the "run finished" /
// "run failed" log call, fields = that log line's key/value pairs.
type run struct {
	sync       string
	start, end time.Time
	fields     map[string]string
	hwmKiB     int64 // VmHWM over the run (filled in by the caller, when measured)
}

func (r run) duration() time.Duration {
	if r.start.IsZero() {
		return 0
	}
	return r.end.Sub(r.start)
}

var debug = os.Getenv("DSBENCH_DEBUG") != ""

// probe records, from the API side, when posts are created, when runs start and finish.
type probe struct {
	mu        sync.Mutex
	posts     int
	firstPost time.Time
	lastPost  time.Time
	lastStart map[string]string    // sync → last_start of the lock value last written
	started   map[string]time.Time // sync → when the current run's lease was taken
	runs      []run
}

func newProbe() *probe {
	return &probe{lastStart: map[string]string{}, started: map[string]time.Time{}}
}

func (p *probe) posted() {
	now := time.Now()
	p.mu.Lock()
	p.posts++
	if p.posts == 1 {
		p.firstPost = now
	}
	p.lastPost = now
	p.mu.Unlock()
}

// postStats: how many posts so far, the time of the first and of the last.
func (p *probe) postStats() (int, time.Time, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.posts, p.firstPost, p.lastPost
}

func (p *probe) resetPosts() {
	p.mu.Lock()
	p.posts, p.firstPost, p.lastPost = 0, time.Time{}, time.Time{}
	p.mu.Unlock()
}

// lockWritten sees every successful write of a lock key: a lease taken for a run carries a
// holder and a last_start that differs from the one before (a refresh keeps last_start).
func (p *probe) lockWritten(key string, value []byte) {
	if !strings.HasPrefix(key, "ds1:") || !strings.HasSuffix(key, ":lock") || value == nil {
		return
	}
	now := time.Now()
	sync := strings.TrimSuffix(strings.TrimPrefix(key, "ds1:"), ":lock")
	var v struct {
		Holder    string          `json:"holder"`
		LastStart json.RawMessage `json:"last_start"`
	}
	if json.Unmarshal(value, &v) != nil || v.Holder == "" {
		return
	}
	if debug {
		fmt.Fprintf(os.Stderr, "%s lock %s %s\n", now.Format("15:04:05.000"), sync, value)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ls := string(v.LastStart); ls != p.lastStart[sync] {
		p.lastStart[sync] = ls
		p.started[sync] = now
	}
}

func (p *probe) logged(msg string, kv []any) {
	if msg != "Data Sync: run finished" && msg != "Data Sync: run failed" {
		return
	}
	now := time.Now()
	if debug {
		fmt.Fprintf(os.Stderr, "%s log %s %v\n", now.Format("15:04:05.000"), msg, kv)
	}
	f := map[string]string{"ok": strconv.FormatBool(msg == "Data Sync: run finished")}
	for i := 0; i+1 < len(kv); i += 2 {
		f[fmt.Sprint(kv[i])] = fmt.Sprint(kv[i+1])
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := run{sync: f["sync"], start: p.started[f["sync"]], end: now, fields: f}
	delete(p.started, r.sync)
	p.runs = append(p.runs, r)
}

// runsOf returns the finished runs of one sync ("" = all).
func (p *probe) runsOf(sync string) []run {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []run
	for _, r := range p.runs {
		if sync == "" || r.sync == sync {
			out = append(out, r)
		}
	}
	return out
}

// waitRuns waits until sync has finished n runs and returns them.
func (p *probe) waitRuns(sync string, n int, limit time.Duration) ([]run, error) {
	deadline := time.Now().Add(limit)
	for {
		if rs := p.runsOf(sync); len(rs) >= n {
			return rs, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("timed out after %v waiting for run %d of sync %q", limit, n, sync)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// probeAPI is the harness API with the calls the probe watches wrapped.
type probeAPI struct {
	*harness.API
	p *probe
}

func (a *probeAPI) CreatePost(post *model.Post) (*model.Post, *model.AppError) {
	created, err := a.API.CreatePost(post)
	if err == nil {
		a.p.posted()
	}
	return created, err
}

func (a *probeAPI) KVCompareAndSet(key string, oldValue, newValue []byte) (bool, *model.AppError) {
	ok, err := a.API.KVCompareAndSet(key, oldValue, newValue)
	if ok && err == nil {
		a.p.lockWritten(key, newValue)
	}
	return ok, err
}

func (a *probeAPI) KVSetWithOptions(key string, value []byte, options model.PluginKVSetOptions) (bool, *model.AppError) {
	ok, err := a.API.KVSetWithOptions(key, value, options)
	if ok && err == nil {
		a.p.lockWritten(key, value)
	}
	return ok, err
}

func (a *probeAPI) KVSet(key string, value []byte) *model.AppError {
	err := a.API.KVSet(key, value)
	if err == nil {
		a.p.lockWritten(key, value)
	}
	return err
}

func (a *probeAPI) LogInfo(msg string, kv ...any) {
	a.p.logged(msg, kv)
	a.API.LogInfo(msg, kv...)
}

func (a *probeAPI) LogError(msg string, kv ...any) {
	a.p.logged(msg, kv)
	a.API.LogError(msg, kv...)
}

// newEnv is harness.NewEnv with the probe's API in front of the in-memory one.
func newEnv(pluginDir string, verbose bool) (*harness.Env, *probe, error) {
	logger, err := mlog.NewLogger()
	if err != nil {
		return nil, nil, err
	}
	hostLog := &harness.SyncBuffer{}
	if err := mlog.AddWriterTarget(logger, hostLog, true, mlog.StdAll...); err != nil {
		return nil, nil, err
	}
	if verbose {
		if err := mlog.AddWriterTarget(logger, os.Stderr, false, mlog.StdAll...); err != nil {
			return nil, nil, err
		}
	}
	mlog.InitGlobalLogger(logger)
	srv := harness.NewServer(pluginDir)
	p := newProbe()
	factory := func(m *model.Manifest) plugin.API { return &probeAPI{API: srv.NewAPI(m), p: p} }
	env, err := plugin.NewEnvironment(factory, nil, pluginDir, filepath.Join(pluginDir, ".webapp"), logger, nil)
	if err != nil {
		return nil, nil, err
	}
	return &harness.Env{Dir: pluginDir, Server: srv, Env: env, Logger: logger, HostLog: hostLog}, p, nil
}

// ---- /proc ----

// procStatus reads a "Key:   123 kB" field of /proc/<pid>/status, in KiB.
func procStatus(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				return strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", key, pid)
}

// resetHWM resets VmHWM to the current RSS (Linux: echo 5 > /proc/<pid>/clear_refs).
func resetHWM(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// cpuTime is the process's user + system CPU time.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	// Fields 14 and 15 of stat (utime, stime), in clock ticks (USER_HZ = 100 on Linux).
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// hwmSampler polls VmRSS while a long run goes on: the highest value seen, as a check on
// VmHWM (and the only figure when clear_refs is not writable).
type hwmSampler struct {
	mu   sync.Mutex
	max  int64
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(pid int, every time.Duration) *hwmSampler {
	s := &hwmSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if kib, err := procStatus(pid, "VmRSS"); err == nil {
				s.mu.Lock()
				s.max = max(s.max, kib)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// take returns the highest RSS since the last take and starts over.
func (s *hwmSampler) take() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.max
	s.max = 0
	return m
}

func (s *hwmSampler) close() {
	close(s.stop)
	<-s.done
}
