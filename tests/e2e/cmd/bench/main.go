// Command bench measures Data Sync on a real Mattermost server (make bench-e2e; run by
// tests/e2e/run.sh with E2E_BENCH=1, which provides the server, its database and the
// bundle). It prints:
//   - the time from POST /api/v4/plugins to the plugin running, and to its bot existing;
//   - the plugin's RSS after activation and after delivering;
//   - posts/s delivered by the plugin with pacing off, one sync and four syncs at once;
//   - the server's own ceiling in the same run: the same number of posts created through
//     the REST API by one client and by four concurrent clients.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"datasync/tests/e2e/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

const id = "datasync"

func main() {
	n := flag.Int("n", 2000, "messages per measurement")
	flag.Parse()
	if err := bench(*n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func bench(n int) error {
	srv, err := harness.NewServer(os.Getenv("E2E_SERVER_DIR"), filepath.Join(os.Getenv("E2E_WORK"), "mm"), os.Getenv("E2E_MM_DSN"))
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Stop()
	site, err := harness.Bootstrap(srv)
	if err != nil {
		return err
	}
	bundle, err := os.ReadFile(os.Getenv("E2E_DATASYNC_BUNDLE"))
	if err != nil {
		return err
	}
	fmt.Printf("Data Sync on a real Mattermost server (%s), %d messages per measurement\n\n", srv.URL, n)

	// Install: upload, enable, running; then the bot (made in OnActivate).
	start := time.Now()
	if _, err := site.Upload(bundle); err != nil {
		return err
	}
	uploaded := time.Since(start)
	if err := site.Enable(id); err != nil {
		return err
	}
	running := time.Since(start)
	if err := harness.WaitUntil(time.Minute, func() (bool, error) {
		_, _, err := site.Admin.Client.GetUserByUsername(harness.Ctx(), "datasync", "")
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("the bot: %w", err)
	}
	botReady := time.Since(start)
	fmt.Printf("install   POST /plugins %6.0f ms   → running %6.0f ms   → bot exists %6.0f ms\n",
		ms(uploaded), ms(running), ms(botReady))
	time.Sleep(2 * time.Second)
	pid, err := srv.PluginPID(id)
	if err != nil {
		return err
	}
	idle, err := harness.RSS(pid)
	if err != nil {
		return err
	}
	fmt.Printf("RSS       after activation (no syncs) %6.1f MiB\n\n", float64(idle)/1024)

	// The plugin: one sync, then four others configured together (so their schedules run
	// in step), each posting n messages, pacing off.
	channels := make([]*model.Channel, 5)
	for i := range channels {
		if channels[i], err = site.Channel(fmt.Sprintf("bench-%d", i+1)); err != nil {
			return err
		}
	}
	w := newWarehouse(os.Getenv("E2E_WAREHOUSE_URL"))
	if err := w.create(channels); err != nil {
		return err
	}
	defer w.drop()
	one, err := pluginRate(site, w, channels[:1], n)
	if err != nil {
		return err
	}
	four, err := pluginRate(site, w, channels[1:], n)
	if err != nil {
		return err
	}
	after, err := harness.RSS(pid)
	if err != nil {
		return err
	}

	// The server's ceiling: the same posts through the REST API.
	rest1, err := restRate(site, 1, n)
	if err != nil {
		return err
	}
	rest4, err := restRate(site, 4, n)
	if err != nil {
		return err
	}
	fmt.Printf("posts/s   plugin, 1 sync        %7.0f   REST API, 1 client   %7.0f   ratio %.2f\n", one, rest1, one/rest1)
	fmt.Printf("posts/s   plugin, 4 syncs       %7.0f   REST API, 4 clients  %7.0f   ratio %.2f\n", four, rest4, four/rest4)
	fmt.Printf("RSS       after delivering %d messages %6.1f MiB\n", 5*n, float64(after)/1024)
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pluginRate configures one sync per channel, waits for their baselines, inserts n rows
// for each and measures posts/s from the first post's creation to the last's (server
// timestamps) over all channels.
func pluginRate(site *harness.Site, w *warehouse, channels []*model.Channel, n int) (float64, error) {
	doc := w.document(channels)
	settings := map[string]any{"syncs": doc, "secrets": "WAREHOUSE_URL=" + w.url, "tickseconds": 1, "postspersecond": 0, "workers": 4}
	if err := site.SetPluginSettings(id, settings); err != nil {
		return 0, err
	}
	// Each sync's first run is its baseline; wait for them (a run line per sync).
	if err := waitRuns(site, channels, 1); err != nil {
		return 0, err
	}
	before := make([]int, len(channels))
	for i, c := range channels {
		posts, err := harness.Posts(site.Admin.Client, c.Id)
		if err != nil {
			return 0, err
		}
		before[i] = len(harness.UserPosts(posts))
	}
	if err := w.add(channels, n); err != nil {
		return 0, err
	}
	var first, last int64
	for i, c := range channels {
		var posts []*model.Post
		err := harness.WaitUntil(5*time.Minute, func() (bool, error) {
			all, err := harness.Posts(site.Admin.Client, c.Id)
			posts = harness.UserPosts(all)
			return len(posts) >= before[i]+n, err
		})
		if err != nil {
			return 0, fmt.Errorf("channel %s: %d of %d posts: %w", c.Name, len(posts)-before[i], n, err)
		}
		posts = posts[before[i]:]
		if first == 0 || posts[0].CreateAt < first {
			first = posts[0].CreateAt
		}
		last = max(last, posts[len(posts)-1].CreateAt)
	}
	total := len(channels) * n
	return float64(total-1) / (float64(last-first) / 1000), nil
}

// waitRuns waits until each channel's sync has logged at least k runs.
func waitRuns(site *harness.Site, channels []*model.Channel, k int) error {
	return harness.WaitUntil(time.Minute, func() (bool, error) {
		lines, err := site.Server.PluginLog(id)
		if err != nil {
			return false, err
		}
		count := map[string]int{}
		for _, l := range lines {
			if l.Get("msg") == "Data Sync: run finished" {
				count[l.Get("sync")]++
			}
		}
		for _, c := range channels {
			if count[syncName(c)] < k {
				return false, nil
			}
		}
		return true, nil
	})
}

// restRate creates n posts through POST /api/v4/posts with `clients` concurrent clients
// (the admin's session), each into its own channel, and returns posts/s of wall time.
func restRate(site *harness.Site, clients, n int) (float64, error) {
	channels := make([]*model.Channel, clients)
	for i := range channels {
		c, err := site.Channel(fmt.Sprintf("rest-%d-%d", clients, i+1))
		if err != nil {
			return 0, err
		}
		channels[i] = c
	}
	per := n / clients
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := harness.NewClient(site.Server.URL)
			client.SetToken(site.Admin.Client.AuthToken)
			for i := range per {
				if _, _, err := client.CreatePost(harness.Ctx(), &model.Post{ChannelId: c.Id, Message: fmt.Sprintf("rest %d", i+1)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(per*clients) / elapsed.Seconds(), nil
}
