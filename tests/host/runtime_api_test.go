package hosttest

// The API methods and hooks the plugin runtime needs (issue 8 § 3), through the probe:
// post lists (GetPostsSince, GetPostsForChannel) and DeletePost, batched user look-ups
// (GetUsersByUsernames; GetUsersByIds, absent before server 9.8), cluster events both ways
// (PublishPluginClusterEvent, OnPluginClusterEvent) and ConfigurationWillBeSaved.

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

// postList is the probe's JSON of a model.PostList (Go's JSON tags).
type postList struct {
	Order []string               `json:"order"`
	Posts map[string]*model.Post `json:"posts"`
}

func (f *fixture) createPost(botID, rootID, message string, props map[string]any) *model.Post {
	f.t.Helper()
	var p model.Post
	f.ok("CreatePost", map[string]any{"post": map[string]any{"user_id": botID, "channel_id": f.channel.Id,
		"root_id": rootID, "message": message, "props": props}}, &p)
	// Distinct millisecond timestamps, so "since" cuts between posts.
	time.Sleep(3 * time.Millisecond)
	return &p
}

func TestProbePostListsAndDeletePost(t *testing.T) {
	f := newProbe(t, nil)
	var botID string
	f.ok("EnsureBotUser", map[string]any{"bot": map[string]any{"username": "probe-bot"}}, &botID)
	other := f.srv.AddChannel(f.team.Id, "elsewhere", "Elsewhere")
	if _, appErr := f.srv.NewAPI(&model.Manifest{Id: "seeder"}).CreatePost(&model.Post{UserId: f.alice.Id,
		ChannelId: other.Id, Message: "not in this channel"}); appErr != nil {
		t.Fatal(appErr)
	}
	root := f.createPost(botID, "", "root", map[string]any{"delivery": "d-1"})
	second := f.createPost(botID, "", "second", map[string]any{"delivery": "d-2"})
	reply := f.createPost(botID, root.Id, "reply", map[string]any{"delivery": "d-3"})
	third := f.createPost(botID, "", "third", map[string]any{"delivery": "d-4"})

	var all postList
	f.ok("GetPostsSince", map[string]any{"channelId": f.channel.Id, "time": 0}, &all)
	want := []string{third.Id, reply.Id, second.Id, root.Id}
	if strings.Join(all.Order, ",") != strings.Join(want, ",") || len(all.Posts) != 4 {
		t.Fatalf("GetPostsSince(0): order %v, %d posts; want %v", all.Order, len(all.Posts), want)
	}
	for i, id := range want {
		p := all.Posts[id]
		if p == nil || p.Id != id || p.ChannelId != f.channel.Id || p.GetProp("delivery") != fmt.Sprintf("d-%d", 4-i) ||
			p.GetProp("from_plugin") != "true" {
			t.Fatalf("GetPostsSince post %s = %+v", id, p)
		}
	}
	if all.Posts[reply.Id].RootId != root.Id {
		t.Fatalf("reply root = %q", all.Posts[reply.Id].RootId)
	}

	// Since the second post: the reply and the third post, and the reply's root.
	var since postList
	f.ok("GetPostsSince", map[string]any{"channelId": f.channel.Id, "time": second.UpdateAt}, &since)
	if got := strings.Join(since.Order, ","); got != strings.Join([]string{third.Id, reply.Id, root.Id}, ",") {
		t.Fatalf("GetPostsSince(second) order = %v", since.Order)
	}
	var none postList
	f.ok("GetPostsSince", map[string]any{"channelId": f.channel.Id, "time": model.GetMillis() + 1000}, &none)
	if len(none.Order) != 0 || len(none.Posts) != 0 {
		t.Fatalf("GetPostsSince(future) = %+v", none)
	}

	// Page 0 of 2: the two newest live posts; the reply's root rides along in Posts only.
	var page postList
	f.ok("GetPostsForChannel", map[string]any{"channelId": f.channel.Id, "page": 0, "perPage": 2}, &page)
	if strings.Join(page.Order, ",") != third.Id+","+reply.Id || page.Posts[root.Id] == nil || len(page.Posts) != 3 {
		t.Fatalf("GetPostsForChannel page 0 = order %v, %d posts", page.Order, len(page.Posts))
	}
	f.ok("GetPostsForChannel", map[string]any{"channelId": f.channel.Id, "page": 1, "perPage": 2}, &page)
	if strings.Join(page.Order, ",") != second.Id+","+root.Id {
		t.Fatalf("GetPostsForChannel page 1 = %v", page.Order)
	}

	// DeletePost: gone for GetPost, still listed by GetPostsSince with its DeleteAt.
	before := model.GetMillis() - 1
	f.ok("DeletePost", map[string]any{"postId": second.Id}, nil)
	f.fails("GetPost", map[string]any{"postId": second.Id}, http.StatusNotFound)
	e := f.fails("DeletePost", map[string]any{"postId": second.Id}, http.StatusNotFound)
	if e.Kind != "app" || e.ID != "app.post.get.app_error" {
		t.Fatalf("DeletePost twice: %+v", e)
	}
	f.ok("GetPostsSince", map[string]any{"channelId": f.channel.Id, "time": before}, &since)
	if len(since.Order) != 1 || since.Order[0] != second.Id || since.Posts[second.Id].DeleteAt == 0 {
		t.Fatalf("GetPostsSince after delete = %v %+v", since.Order, since.Posts[second.Id])
	}
	f.ok("GetPostsForChannel", map[string]any{"channelId": f.channel.Id, "page": 0, "perPage": 10}, &page)
	if strings.Join(page.Order, ",") != third.Id+","+reply.Id+","+root.Id {
		t.Fatalf("GetPostsForChannel after delete = %v", page.Order)
	}
	// Deleting a thread root deletes its replies, as the server does.
	f.ok("DeletePost", map[string]any{"postId": root.Id}, nil)
	for _, p := range f.srv.PostsInChannel(f.channel.Id) {
		if (p.Id == root.Id || p.Id == reply.Id) && p.DeleteAt == 0 {
			t.Fatalf("post %q not deleted with its root", p.Message)
		}
	}
	f.srv.FailNext("GetPostsSince", model.NewAppError("GetPostsSince", "app.post.get_posts_since.app_error", nil, "db down", http.StatusInternalServerError))
	if e := f.fails("GetPostsSince", map[string]any{"channelId": f.channel.Id}, http.StatusInternalServerError); e.ID != "app.post.get_posts_since.app_error" {
		t.Fatalf("GetPostsSince error = %+v", e)
	}
}

// One PostList reply carrying 200 posts whose Props hold typed Slack attachments and []any
// values: the split-message shape of posts_test.go, in a single map of posts.
func TestProbeGetPostsSinceReadsManyPostsWithAttachments(t *testing.T) {
	f := newProbe(t, nil)
	seeded := seedPosts(t, f, 200)
	var list postList
	f.ok("GetPostsSince", map[string]any{"channelId": f.channel.Id, "time": 0}, &list)
	if len(list.Order) != len(seeded) || len(list.Posts) != len(seeded) {
		t.Fatalf("GetPostsSince: %d ids, %d posts, want %d", len(list.Order), len(list.Posts), len(seeded))
	}
	for i, s := range seeded {
		got := list.Posts[s.id]
		if got == nil || !strings.HasPrefix(got.Message, fmt.Sprintf("row %d changed", i)) {
			t.Fatalf("post %d missing or wrong: %+v", i, got)
		}
		atts := got.Attachments()
		if s.slack && (len(atts) != 1 || atts[0].Title != fmt.Sprintf("row %d", i) || len(atts[0].Fields) != 2) {
			t.Fatalf("post %d: attachments %+v", i, atts)
		}
		for k := 0; k < s.anyProps; k++ {
			if v, ok := got.GetProp(fmt.Sprintf("p%02d", k)).([]any); !ok || len(v) != 3 || v[0] != "x" {
				t.Fatalf("post %d: prop p%02d = %#v", i, k, got.GetProp(fmt.Sprintf("p%02d", k)))
			}
		}
	}
}

// hasGetUsersByIds: the server/public this test is built against has the method (9.8+).
func hasGetUsersByIds() bool {
	_, ok := reflect.TypeOf((*plugin.API)(nil)).Elem().MethodByName("GetUsersByIds")
	return ok
}

func TestProbeUsersInBatches(t *testing.T) {
	f := newProbe(t, nil)
	bob := f.srv.AddUser("bob", "bob@example.com")
	names := func(users []model.User) string {
		var out []string
		for _, u := range users {
			out = append(out, u.Username)
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	var users []model.User
	f.ok("GetUsersByUsernames", map[string]any{"usernames": []string{"bob", "nobody", "alice", "bob"}}, &users)
	if names(users) != "alice,bob" {
		t.Fatalf("GetUsersByUsernames = %v", users)
	}
	for _, u := range users {
		if (u.Username == "bob" && (u.Id != bob.Id || u.Email != "bob@example.com")) || (u.Username == "alice" && u.Id != f.alice.Id) {
			t.Fatalf("GetUsersByUsernames user = %+v", u)
		}
	}
	f.ok("GetUsersByUsernames", map[string]any{"usernames": []string{"nobody"}}, &users)
	if len(users) != 0 {
		t.Fatalf("GetUsersByUsernames(nobody) = %v", users)
	}
	f.srv.FailNext("GetUsersByUsernames", model.NewAppError("GetUsersByUsernames", "app.user.get_profiles.app_error", nil, "", http.StatusInternalServerError))
	f.fails("GetUsersByUsernames", map[string]any{"usernames": []string{"bob"}}, http.StatusInternalServerError)

	args := map[string]any{"userIds": []string{bob.Id, model.NewId(), f.alice.Id}}
	if !hasGetUsersByIds() {
		// server/public v0.1.0: the host has no such method; the bindings say so.
		rep := f.call("GetUsersByIds", args)
		if rep.Error == nil || rep.Error.Kind != "not_available" || !strings.Contains(rep.Error.Message, "GetUsersByIds") {
			t.Fatalf("GetUsersByIds on an older server: %+v (result %s)", rep.Error, rep.Result)
		}
		// The API stream survives the refusal.
		f.ok("GetUsersByUsernames", map[string]any{"usernames": []string{"bob"}}, &users)
		return
	}
	f.ok("GetUsersByIds", args, &users)
	if names(users) != "alice,bob" {
		t.Fatalf("GetUsersByIds = %v", users)
	}
}

func TestProbeClusterEvents(t *testing.T) {
	f := newProbe(t, nil)
	impl, err := f.hooks().Implemented()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(","+strings.Join(impl, ",")+",", ",OnPluginClusterEvent,") {
		t.Fatalf("Implemented = %v lacks OnPluginClusterEvent", impl)
	}
	data := []byte{0, 0xff, 'g', 'e', 'n', ' ', '7'}
	f.ok("PublishPluginClusterEvent", map[string]any{
		"event":   map[string]any{"Id": "config_changed", "Data": base64.StdEncoding.EncodeToString(data)},
		"options": map[string]any{"SendType": model.PluginClusterEventSendTypeReliable}}, nil)
	rep := f.call("PublishPluginClusterEvent", map[string]any{"event": map[string]any{"Id": "x"},
		"options": map[string]any{"TargetId": "node-9"}})
	if rep.Error == nil || rep.Error.Kind != "remote" || !strings.Contains(rep.Error.Message, "node-9") {
		t.Fatalf("PublishPluginClusterEvent to an unknown node: %+v", rep.Error)
	}
	sent := f.srv.ClusterEvents()
	if len(sent) != 1 || sent[0].PluginID != f.id || sent[0].Event.Id != "config_changed" ||
		string(sent[0].Event.Data) != string(data) || sent[0].Options.SendType != "reliable" || sent[0].Options.TargetId != "" {
		t.Fatalf("cluster events = %+v", sent)
	}

	// Another node's copy of the plugin receives it: deliver it through the host's hook client.
	f.hooks().OnPluginClusterEvent(&plugin.Context{RequestId: model.NewId()}, sent[0].Event)
	var seen struct {
		Counts  map[string]int `json:"counts"`
		Cluster struct {
			ID   string `json:"id"`
			Data string `json:"data"`
		} `json:"last_cluster_event"`
	}
	f.getJSON("/hooks", &seen)
	if seen.Counts["OnPluginClusterEvent"] != 1 || seen.Cluster.ID != "config_changed" ||
		seen.Cluster.Data != base64.StdEncoding.EncodeToString(data) {
		t.Fatalf("OnPluginClusterEvent saw %+v", seen)
	}
}

func TestProbeConfigurationWillBeSaved(t *testing.T) {
	f := newProbe(t, nil)
	impl, err := f.hooks().Implemented()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(","+strings.Join(impl, ",")+",", ",ConfigurationWillBeSaved,") {
		t.Fatalf("Implemented = %v lacks ConfigurationWillBeSaved", impl)
	}
	config := func(setting string) *model.Config {
		cfg := &model.Config{}
		cfg.SetDefaults()
		site := "https://chat.example.com"
		cfg.ServiceSettings.SiteURL = &site
		cfg.PluginSettings.Plugins = map[string]map[string]any{
			f.id:    {"probesetting": setting, "syncs": "[[sync]]\nname = \"deploys\"", "limits": map[string]any{"rows": int64(3)}},
			"other": {"key": "value"},
		}
		return cfg
	}
	var seen struct {
		Counts map[string]int `json:"counts"`
		Check  map[string]any `json:"last_config_check"`
	}

	got, err := f.hooks().ConfigurationWillBeSaved(config("fine"))
	if got != nil || err != nil {
		t.Fatalf("ConfigurationWillBeSaved(valid) = %v, %v; want nil, nil (no change)", got, err)
	}
	f.getJSON("/hooks", &seen)
	if seen.Counts["ConfigurationWillBeSaved"] != 1 || seen.Check["probesetting"] != "fine" ||
		seen.Check["syncs"] != "[[sync]]\nname = \"deploys\"" || fmt.Sprint(seen.Check["limits"]) != "map[rows:3]" {
		t.Fatalf("the hook saw %+v", seen)
	}

	got, err = f.hooks().ConfigurationWillBeSaved(config("reject"))
	if got != nil || err == nil || !strings.Contains(err.Error(), "ProbeSetting: reject is not allowed") {
		t.Fatalf("ConfigurationWillBeSaved(invalid) = %v, %v; want nil and the plugin's error", got, err)
	}
	// The hooks stream still works (a reply that did not decode would have killed it).
	f.getJSON("/hooks", &seen)
	if seen.Counts["ConfigurationWillBeSaved"] != 2 || seen.Check["probesetting"] != "reject" {
		t.Fatalf("the hook saw %+v", seen)
	}

	// A panicking hook is no verdict: logged, and the configuration is saved unchanged.
	got, err = f.hooks().ConfigurationWillBeSaved(config("panic"))
	if got != nil || err != nil {
		t.Fatalf("ConfigurationWillBeSaved(panicking hook) = %v, %v; want nil, nil", got, err)
	}
	panicLogged := false
	for _, l := range f.srv.Logs() {
		panicLogged = panicLogged || (l.Level == "error" && strings.Contains(l.Message, "ConfigurationWillBeSaved panicked"))
	}
	if !panicLogged {
		t.Fatalf("no error log for the panic; logs = %+v", f.srv.Logs())
	}
	f.getJSON("/hooks", &seen)
	if seen.Counts["ConfigurationWillBeSaved"] != 3 {
		t.Fatalf("the hook saw %+v", seen)
	}
}
