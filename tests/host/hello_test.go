package hosttest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"datasync/tests/host/harness"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

func TestActivationAndImplemented(t *testing.T) {
	f := newFixture(t, true)
	if !f.env.Env.IsActive(f.id) {
		t.Fatal("plugin not active after Activate")
	}
	if pid := f.env.PluginPID(f.id); pid == 0 {
		t.Fatal("no child process runs the bundled executable")
	}
	impl, err := f.hooks().Implemented()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(impl)
	want := []string{"ExecuteCommand", "MessageHasBeenPosted", "OnActivate", "OnConfigurationChange", "OnDeactivate", "ServeHTTP"}
	if strings.Join(impl, ",") != strings.Join(want, ",") {
		t.Fatalf("Implemented = %v, want %v", impl, want)
	}
}

func TestOnActivateEnsuresBotCommandAndCounter(t *testing.T) {
	f := newFixture(t, true)
	bot := f.bot()
	if !bot.IsBot {
		t.Fatal("hello-bot is not a bot user")
	}
	bots := f.srv.Bots()
	if len(bots) != 1 || bots[0].UserId != bot.Id || bots[0].DisplayName != "Hello Bot" ||
		bots[0].Description != "Says hello." || bots[0].OwnerId != f.id {
		t.Fatalf("bots = %+v", bots)
	}
	if got := string(f.srv.KV(f.id, "mmi_botid")); got != bot.Id {
		t.Fatalf("mmi_botid = %q, want %q", got, bot.Id)
	}
	cmd := f.srv.Command(f.id, "hello")
	if cmd == nil {
		t.Fatalf("/hello not registered; commands = %+v", f.srv.Commands())
	}
	ad := cmd.AutocompleteData
	if ad == nil || ad.Trigger != "hello" || len(ad.Arguments) == 0 || ad.Arguments[0].Type != model.AutocompleteArgTypeText {
		t.Fatalf("autocomplete data lost or wrong: %+v", ad)
	}
	if _, ok := ad.Arguments[0].Data.(*model.AutocompleteTextArg); !ok {
		t.Fatalf("TextInput argument data has type %T", ad.Arguments[0].Data)
	}
	if !cmd.AutoComplete {
		t.Fatal("AutoComplete not set")
	}
	if got := string(f.srv.KV(f.id, "activations")); got != "1" {
		t.Fatalf("activations = %q after first activation", got)
	}

	// Re-activation: counter 2, same bot (found through mmi_botid), one command.
	if !f.env.Env.Deactivate(f.id) {
		t.Fatal("Deactivate returned false")
	}
	f.activate()
	if got := string(f.srv.KV(f.id, "activations")); got != "2" {
		t.Fatalf("activations = %q after re-activation", got)
	}
	if bots := f.srv.Bots(); len(bots) != 1 || bots[0].UserId != bot.Id {
		t.Fatalf("re-activation changed bots: %+v", bots)
	}
	if n := len(f.srv.Commands()); n != 1 {
		t.Fatalf("%d commands registered after re-activation", n)
	}
	if f.srv.APICalls("EnsureBotUser") != 2 {
		t.Fatalf("EnsureBotUser called %d times", f.srv.APICalls("EnsureBotUser"))
	}
}

func TestExecuteCommandPostsAsBot(t *testing.T) {
	f := newFixture(t, true)
	resp, appErr := f.command("/hello world")
	if appErr != nil {
		t.Fatalf("ExecuteCommand: %v", appErr)
	}
	if got := f.ephemeralText(resp); got != "Posted: Hello, world!" {
		t.Fatalf("ephemeral reply = %q (response %+v)", got, resp)
	}
	posts := f.srv.PostsInChannel(f.channel.Id)
	if len(posts) != 1 {
		t.Fatalf("%d posts, want 1", len(posts))
	}
	p := posts[0]
	if p.Message != "Hello, world!" || p.UserId != f.bot().Id || p.ChannelId != f.channel.Id {
		t.Fatalf("post = %+v", p)
	}
	if p.GetProp("from_plugin") != "true" || p.GetProp("from_bot") != "true" {
		t.Fatalf("post props = %v", p.GetProps())
	}

	// Multi-word text is kept whole.
	if _, appErr := f.command("/hello big   wide world"); appErr != nil {
		t.Fatal(appErr)
	}
	if posts := f.srv.PostsInChannel(f.channel.Id); len(posts) != 2 || posts[1].Message != "Hello, big   wide world!" {
		t.Fatalf("posts = %v", messages(posts))
	}

	// Empty text: usage help, privately, no post.
	resp, appErr = f.command("/hello")
	if appErr != nil {
		t.Fatalf("ExecuteCommand(/hello): %v", appErr)
	}
	if got := f.ephemeralText(resp); got == "" || strings.HasPrefix(got, "Posted") {
		t.Fatalf("usage reply = %q", got)
	}
	if n := len(f.srv.PostsInChannel(f.channel.Id)); n != 2 {
		t.Fatalf("empty /hello created a post (%d posts)", n)
	}
}

func TestOnConfigurationChangeGreeting(t *testing.T) {
	f := newFixture(t, false)
	// Saved before activation: the plugin loads it during activation (the server
	// doesn't call OnConfigurationChange then; the plugin side does).
	f.srv.SetPluginSettings(f.id, map[string]any{"Greeting": "Howdy"})
	f.activate()
	if _, appErr := f.command("/hello there"); appErr != nil {
		t.Fatal(appErr)
	}
	f.srv.SetPluginSettings(f.id, map[string]any{"Greeting": "Ahoy"})
	if err := f.hooks().OnConfigurationChange(); err != nil {
		t.Fatalf("OnConfigurationChange: %v", err)
	}
	resp, appErr := f.command("/hello sailor")
	if appErr != nil {
		t.Fatal(appErr)
	}
	if got := f.ephemeralText(resp); got != "Posted: Ahoy, sailor!" {
		t.Fatalf("reply = %q", got)
	}
	// Back to the manifest default when the setting is removed.
	f.srv.SetPluginSettings(f.id, map[string]any{})
	if err := f.hooks().OnConfigurationChange(); err != nil {
		t.Fatal(err)
	}
	if _, appErr := f.command("/hello again"); appErr != nil {
		t.Fatal(appErr)
	}
	got := messages(f.srv.PostsInChannel(f.channel.Id))
	want := []string{"Howdy, there!", "Ahoy, sailor!", "Hello, again!"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("posts = %q, want %q", got, want)
	}
}

func TestMessageHasBeenPostedRepliesInThread(t *testing.T) {
	f := newFixture(t, true)
	bot := f.bot()
	hooks := f.hooks()
	ctx := &plugin.Context{}

	// Ignored: other text, a bot's "hello?", the bot's own post.
	other, _ := f.srv.CreateUserPost(&model.Post{UserId: f.alice.Id, ChannelId: f.channel.Id, Message: "hello"})
	hooks.MessageHasBeenPosted(ctx, other)
	botPost, _ := f.srv.CreateUserPost(&model.Post{UserId: bot.Id, ChannelId: f.channel.Id, Message: "hello?"})
	hooks.MessageHasBeenPosted(ctx, botPost)

	// A root post: reply threaded under it.
	root, appErr := f.srv.CreateUserPost(&model.Post{UserId: f.alice.Id, ChannelId: f.channel.Id, Message: "hello?"})
	if appErr != nil {
		t.Fatal(appErr)
	}
	hooks.MessageHasBeenPosted(ctx, root)
	reply := waitReply(t, f, root.Id, 1)
	if reply.Message != "Hello, @alice!" || reply.UserId != bot.Id || reply.ChannelId != f.channel.Id {
		t.Fatalf("reply = %+v", reply)
	}

	// A reply inside a thread: the answer goes to the thread's root.
	inThread, appErr := f.srv.CreateUserPost(&model.Post{UserId: f.alice.Id, ChannelId: f.channel.Id, RootId: root.Id, Message: "hello?"})
	if appErr != nil {
		t.Fatal(appErr)
	}
	hooks.MessageHasBeenPosted(ctx, inThread)
	waitReply(t, f, root.Id, 2)

	if n := len(botPosts(f)); n != 3 { // the seeded bot post + 2 replies
		t.Fatalf("bot posted %d times: %v", n, messages(f.srv.Posts()))
	}
}

func waitReply(t *testing.T, f *fixture, rootID string, n int) *model.Post {
	t.Helper()
	var replies []*model.Post
	eventually(t, fmt.Sprintf("%d bot replies under %s", n, rootID), func() bool {
		replies = nil
		for _, p := range botPosts(f) {
			if p.RootId == rootID {
				replies = append(replies, p)
			}
		}
		return len(replies) >= n
	})
	return replies[len(replies)-1]
}

func botPosts(f *fixture) []*model.Post {
	var out []*model.Post
	bot := f.bot()
	for _, p := range f.srv.Posts() {
		if p.UserId == bot.Id {
			out = append(out, p)
		}
	}
	return out
}

func TestServeHTTP(t *testing.T) {
	f := newFixture(t, true)
	s := f.httpServer()

	resp, body := f.do(s, http.MethodGet, "/status", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /status: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET /status Content-Type = %q", ct)
	}
	var status struct {
		Activations int    `json:"activations"`
		Version     string `json:"version"`
	}
	if err := json.Unmarshal(body, &status); err != nil {
		t.Fatalf("GET /status body %q: %v", body, err)
	}
	if status.Activations != 1 || status.Version == "" {
		t.Fatalf("status = %+v", status)
	}

	resp, body = f.do(s, http.MethodPost, "/echo", []byte("ping"))
	if resp.StatusCode != http.StatusOK || string(body) != "ping" {
		t.Fatalf("POST /echo: %d %q", resp.StatusCode, body)
	}
	resp, body = f.do(s, http.MethodPost, "/echo", []byte{})
	if resp.StatusCode != http.StatusOK || len(body) != 0 {
		t.Fatalf("POST /echo (empty): %d %q", resp.StatusCode, body)
	}
	for _, path := range []string{"/nope", "/status/extra"} {
		if resp, _ := f.do(s, http.MethodGet, path, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	if resp, _ := f.do(s, http.MethodDelete, "/echo", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("DELETE /echo: %d, want 404", resp.StatusCode)
	}
}

func TestServeHTTPLargeBodies(t *testing.T) {
	f := newFixture(t, true)
	s := f.httpServer()
	for _, size := range []int{256<<10 + 1, 8 << 20} {
		payload := make([]byte, size)
		if _, err := rand.Read(payload); err != nil {
			t.Fatal(err)
		}
		resp, body := f.do(s, http.MethodPost, "/echo", payload)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /echo %d bytes: status %d", size, resp.StatusCode)
		}
		if len(body) != size || sha256.Sum256(body) != sha256.Sum256(payload) {
			t.Fatalf("POST /echo %d bytes: got %d bytes, digest mismatch", size, len(body))
		}
	}
	// The plugin still answers afterwards.
	if resp, _ := f.do(s, http.MethodGet, "/status", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /status after large bodies: %d", resp.StatusCode)
	}
}

func TestConcurrentHooks(t *testing.T) {
	f := newFixture(t, true)
	s := f.httpServer()
	const calls = 100
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0, 1: // ExecuteCommand → CreatePost (+ MessageHasBeenPosted fan-out)
				resp, appErr := f.command(fmt.Sprintf("/hello n%d", i))
				if appErr != nil || resp == nil {
					errs <- fmt.Errorf("command %d: %v", i, appErr)
				}
			default: // ServeHTTP with a 64 KiB body, or /status (KVGet)
				if i%2 == 0 {
					if resp, _ := f.do(s, http.MethodGet, "/status", nil); resp.StatusCode != http.StatusOK {
						errs <- fmt.Errorf("status %d: %d", i, resp.StatusCode)
					}
					return
				}
				payload := []byte(strings.Repeat(fmt.Sprintf("%08d", i), 8<<10))
				resp, body := f.do(s, http.MethodPost, "/echo", payload)
				if resp.StatusCode != http.StatusOK || string(body) != string(payload) {
					errs <- fmt.Errorf("echo %d: %d, %d bytes", i, resp.StatusCode, len(body))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	want := map[string]bool{}
	for i := range calls {
		if i%3 != 2 {
			want[fmt.Sprintf("Hello, n%d!", i)] = true
		}
	}
	got := map[string]bool{}
	for _, p := range f.srv.PostsInChannel(f.channel.Id) {
		got[p.Message] = true
	}
	for m := range want {
		if !got[m] {
			t.Errorf("missing post %q", m)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct posts, want %d", len(got), len(want))
	}
	if err := f.env.Env.PerformHealthCheck(f.id); err != nil {
		t.Fatalf("health check after load: %v", err)
	}
}

func TestHealthCheck(t *testing.T) {
	f := newFixture(t, true)
	for i := range 5 {
		if err := f.env.Env.PerformHealthCheck(f.id); err != nil {
			t.Fatalf("health check %d: %v", i, err)
		}
	}
	// A dead plugin is noticed.
	pid := f.env.PluginPID(f.id)
	if pid == 0 {
		t.Fatal("plugin process not found")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "health check to fail after SIGKILL", func() bool {
		return f.env.Env.PerformHealthCheck(f.id) != nil
	})
}

func TestDeactivateQuitsProcess(t *testing.T) {
	f := newFixture(t, true)
	pid := f.env.PluginPID(f.id)
	if pid == 0 {
		t.Fatal("plugin process not found")
	}
	start := time.Now()
	if !f.env.Env.Deactivate(f.id) {
		t.Fatal("Deactivate returned false")
	}
	took := time.Since(start)
	if gone, ok := harness.WaitGone(pid, 10*time.Second); !ok {
		t.Fatalf("plugin process %d still alive %v after Deactivate", pid, gone)
	}
	t.Logf("Deactivate (OnDeactivate + Quit + exit) took %v", took)
	assertCleanExit(t, f)
	if !f.srv.HasLog("info", f.id+" deactivating") {
		t.Fatalf("no LogInfo %q; logs = %+v", f.id+" deactivating", f.srv.Logs())
	}
	if f.env.Env.IsActive(f.id) {
		t.Fatal("still active")
	}
	if _, err := f.env.Hooks(f.id); err == nil {
		t.Fatal("hooks still available after Deactivate")
	}
}

func TestShutdownStopsProcess(t *testing.T) {
	f := newFixture(t, true)
	pid := f.env.PluginPID(f.id)
	if pid == 0 {
		t.Fatal("plugin process not found")
	}
	f.env.Env.Shutdown()
	if _, ok := harness.WaitGone(pid, 10*time.Second); !ok {
		t.Fatalf("plugin process %d still alive after Shutdown", pid)
	}
	assertCleanExit(t, f)
	if !f.srv.HasLog("info", f.id+" deactivating") {
		t.Fatal("OnDeactivate did not run during Shutdown")
	}
}

func TestHookErrorKeepsServing(t *testing.T) {
	f := newFixture(t, true)
	// The API says the channel doesn't exist → CreatePost fails → the plugin answers
	// with an error (response text or AppError) instead of dying.
	missing := model.NewId()
	resp, appErr := f.commandIn(missing, "/hello nowhere")
	if appErr == nil && (resp == nil || resp.Text == "" || strings.HasPrefix(resp.Text, "Posted")) {
		t.Fatalf("no error reported for a missing channel: resp=%+v", resp)
	}
	// An injected server-side failure of CreatePost behaves the same.
	f.srv.FailNext("CreatePost", model.NewAppError("CreatePost", "app.post.save.app_error", nil, "database is down", http.StatusInternalServerError))
	resp, appErr = f.command("/hello db")
	if appErr == nil && (resp == nil || resp.Text == "" || strings.HasPrefix(resp.Text, "Posted")) {
		t.Fatalf("no error reported for a failing CreatePost: resp=%+v", resp)
	}
	if n := len(f.srv.Posts()); n != 0 {
		t.Fatalf("%d posts after failed calls", n)
	}
	// Still serving.
	if err := f.env.Env.PerformHealthCheck(f.id); err != nil {
		t.Fatal(err)
	}
	resp, appErr = f.command("/hello again")
	if appErr != nil || f.ephemeralText(resp) != "Posted: Hello, again!" {
		t.Fatalf("after errors: resp=%+v err=%v", resp, appErr)
	}
}

func TestActivationFailsWithoutBot(t *testing.T) {
	// mmi_botid points at a bot that no longer exists: the server's EnsureBot then
	// fails in PatchBot, so OnActivate must fail, the host reports the error and
	// stops the process.
	f := newFixture(t, false)
	f.srv.SetKV(f.id, "mmi_botid", []byte(model.NewId()))
	err := f.env.Activate(f.id)
	if err == nil {
		t.Fatal("activation succeeded although EnsureBotUser failed")
	}
	if f.env.Env.IsActive(f.id) {
		t.Fatal("plugin active after failed OnActivate")
	}
	if st := f.env.Env.GetPluginState(f.id); st != model.PluginStateFailedToStart {
		t.Fatalf("plugin state = %d, want FailedToStart", st)
	}
	eventually(t, "process to exit after failed activation", func() bool { return f.env.PluginPID(f.id) == 0 })
}

func messages(posts []*model.Post) []string {
	out := make([]string, len(posts))
	for i, p := range posts {
		out[i] = p.Message
	}
	return out
}

// assertCleanExit checks go-plugin's record of the child's end: "plugin process
// exited" at info level means exit status 0 after Control.Quit; at error level it
// carries the wait error ("signal: killed" when the host had to SIGKILL it).
func assertCleanExit(t *testing.T, f *fixture) {
	t.Helper()
	var line string
	eventually(t, "go-plugin to record the process exit", func() bool {
		for _, l := range strings.Split(f.env.HostLog.String(), "\n") {
			if strings.Contains(l, `"msg":"plugin process exited"`) {
				line = l
				return true
			}
		}
		return false
	})
	if !strings.Contains(line, `"level":"info"`) {
		t.Fatalf("plugin did not exit cleanly on Control.Quit: %s", line)
	}
}
