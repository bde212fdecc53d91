// Golden vectors for the Rust mattermost bindings, made with the real plugin/model types of
// github.com/mattermost/mattermost/server/public v0.3.0.
//
//	golden gen <dir>     writes <name>.gob: what the server sends (hook args, API returns)
//	golden verify <dir>  decodes every Rust-written <name>.gob into the real Go type the
//	                     server would use and prints {"name": <decoded value as JSON>}
//
// Each file is one gob stream from a fresh encoder, like one direction of a fresh RPC stream.
package main

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

// The reply of OnActivate and friends as the host declares it (plugin.Z_OnActivateReturns).
type errReturns struct{ A error }

// v0.1.0's Z_ServeHTTPArgs: a full *http.Request instead of HTTPRequestSubset.
type oldServeHTTPArgs struct {
	ResponseWriterStream uint32
	Request              *http.Request
	Context              *plugin.Context
	RequestBodyStream    uint32
}

func appErr() *model.AppError {
	return model.NewAppError("Where", "app.test.id", nil, "detail text", 404)
}

func gen(dir string) error {
	u, _ := url.Parse("/status?x=1")
	header := http.Header{"Mattermost-User-Id": {"user1"}, "Content-Type": {"application/json"}}
	post := &model.Post{Id: "post1", ChannelId: "chan1", UserId: "user1", RootId: "root1",
		Message: "hello?", CreateAt: 1700000000000, Type: "", FileIds: []string{"f1"},
		Props: model.StringInterface{"from_bot": "true", "n": int64(7),
			"attachments": []any{map[string]any{"text": "att", "fields": []any{"x"}}}}}
	files := map[string]any{
		"hook_on_activate_args": &plugin.Z_OnActivateArgs{APIMuxId: 1, DriverMuxId: 2},
		"hook_execute_command_args": &plugin.Z_ExecuteCommandArgs{
			A: &plugin.Context{RequestId: "r1", SessionId: "s1", IPAddress: "10.0.0.1"},
			B: &model.CommandArgs{UserId: "user1", ChannelId: "chan1", TeamId: "team1",
				Command: "/hello world", SiteURL: "http://localhost:8065",
				UserMentions: model.UserMentionMap{"bob": "user2"}}},
		"hook_message_posted_args": &plugin.Z_MessageHasBeenPostedArgs{
			A: &plugin.Context{RequestId: "r2"}, B: post},
		"hook_serve_http_args": &plugin.Z_ServeHTTPArgs{ResponseWriterStream: 3,
			Request: &plugin.HTTPRequestSubset{Method: "POST", URL: u, Proto: "HTTP/1.1",
				ProtoMajor: 1, ProtoMinor: 1, Header: header, Host: "localhost:8065",
				RemoteAddr: "127.0.0.1:5555", RequestURI: "/plugins/rs-hello/status?x=1"},
			Context: &plugin.Context{RequestId: "r3", UserAgent: "curl"}, RequestBodyStream: 4},
		"hook_serve_http_args_old": &oldServeHTTPArgs{ResponseWriterStream: 5,
			Request: &http.Request{Method: "GET", URL: u, Proto: "HTTP/1.1", ProtoMajor: 1,
				ProtoMinor: 1, Header: header, Host: "localhost:8065", RemoteAddr: "127.0.0.1:5555",
				RequestURI: "/plugins/rs-hello/status?x=1"},
			Context: &plugin.Context{RequestId: "r4"}, RequestBodyStream: 6},
		"api_create_post_returns":     &plugin.Z_CreatePostReturns{A: post},
		"api_create_post_error":       &plugin.Z_CreatePostReturns{B: appErr()},
		"api_get_bundle_path_error":   &plugin.Z_GetBundlePathReturns{B: appErr()},
		"api_get_bundle_path_errstr":  &plugin.Z_GetBundlePathReturns{B: &plugin.ErrorString{Err: "plain failure"}},
		"api_get_bundle_path_returns": &plugin.Z_GetBundlePathReturns{A: "/plugins/rs-hello"},
		"api_get_user_returns": &plugin.Z_GetUserReturns{A: &model.User{Id: "user1",
			Username: "alice", Email: "a@example.com", IsBot: false, Roles: "system_user",
			NotifyProps: model.StringMap{"email": "true"}, Props: model.StringMap{},
			Timezone: model.StringMap{"useAutomaticTimezone": "true"}, Locale: "en"}},
		"api_get_bot_returns": &plugin.Z_GetBotReturns{A: &model.Bot{UserId: "bot1",
			Username: "hello-bot", DisplayName: "Hello Bot", OwnerId: "rs-hello", CreateAt: 5}},
		"api_kv_get_returns":         &plugin.Z_KVGetReturns{A: []byte("42")},
		"api_kv_list_returns":        &plugin.Z_KVListReturns{A: []string{"a", "b"}},
		"api_kv_set_options_returns": &plugin.Z_KVSetWithOptionsReturns{A: true},
		"api_get_plugin_config_returns": &plugin.Z_GetPluginConfigReturns{A: map[string]any{
			"Greeting": "Hi", "Count": float64(3), "Enabled": true}},
		"api_load_config_returns": &plugin.Z_LoadPluginConfigurationArgsReturns{A: []byte(`{"greeting":"Hi"}`)},
		"api_get_channel_returns": &plugin.Z_GetChannelReturns{A: &model.Channel{Id: "chan1",
			TeamId: "team1", Type: model.ChannelTypeOpen, Name: "town-square", DisplayName: "Town Square"}},
		"api_upload_file_returns": &plugin.Z_UploadFileReturns{A: &model.FileInfo{Id: "file1",
			CreatorId: "bot1", ChannelId: "chan1", Name: "a.txt", Size: 3, MimeType: "text/plain"}},
		"api_has_permission_returns": &plugin.Z_HasPermissionToReturns{A: true},
		"api_get_config_returns": &plugin.Z_GetConfigReturns{A: &model.Config{
			ServiceSettings: model.ServiceSettings{SiteURL: model.NewPointer("http://localhost:8065")},
			LogSettings:     model.LogSettings{AdvancedLoggingJSON: json.RawMessage(`{"a":1}`)}}},
		"api_get_posts_since_returns": &plugin.Z_GetPostsSinceReturns{A: &model.PostList{
			Order: []string{"post2", "post1"}, Posts: map[string]*model.Post{"post1": post,
				"post2": {Id: "post2", ChannelId: "chan1", Message: "newer", DeleteAt: 1700000000001}},
			NextPostId: "post3", HasNext: model.NewPointer(true)}},
		"api_get_users_returns": &plugin.Z_GetUsersByUsernamesReturns{A: []*model.User{
			{Id: "user1", Username: "alice"}, {Id: "user2", Username: "bob", IsBot: true}}},
		"hook_cluster_event_args": &plugin.Z_OnPluginClusterEventArgs{A: &plugin.Context{RequestId: "r5"},
			B: model.PluginClusterEvent{Id: "config_changed", Data: []byte{0, 0xff, 7}}},
		"hook_config_will_be_saved_args": &plugin.Z_ConfigurationWillBeSavedArgs{A: configToSave()},
	}
	for name, v := range files {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".gob"), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// configToSave: a full default configuration with plugin settings, as the host sends it to
// ConfigurationWillBeSaved.
func configToSave() *model.Config {
	cfg := &model.Config{}
	cfg.SetDefaults()
	cfg.PluginSettings.Plugins = map[string]map[string]any{
		"datasync": {"syncs": "[[sync]]", "limits": map[string]any{"rows": float64(3)}},
		"other":    {"key": "value"},
	}
	return cfg
}

// What the host decodes each Rust-written file into (by file name prefix).
func target(name string) any {
	switch name {
	case "reply_implemented":
		return new([]string)
	case "reply_empty":
		return new(struct{})
	case "reply_on_activate_ok", "reply_on_activate_err", "api_register_command_returns":
		return new(errReturns)
	case "reply_execute_command_ok", "reply_execute_command_err":
		return new(plugin.Z_ExecuteCommandReturns)
	case "api_create_post_args":
		return new(plugin.Z_CreatePostArgs)
	case "api_register_command_args":
		return new(plugin.Z_RegisterCommandArgs)
	case "api_ensure_bot_args":
		return new(plugin.Z_EnsureBotUserArgs)
	case "api_patch_bot_args":
		return new(plugin.Z_PatchBotArgs)
	case "api_kv_set_options_args":
		return new(plugin.Z_KVSetWithOptionsArgs)
	case "api_log_info_args":
		return new(plugin.Z_LogInfoArgs)
	case "api_publish_ws_args":
		return new(plugin.Z_PublishWebSocketEventArgs)
	case "api_has_permission_args":
		return new(plugin.Z_HasPermissionToArgs)
	case "api_get_bots_args":
		return new(plugin.Z_GetBotsArgs)
	case "api_save_config_args":
		return new(plugin.Z_SavePluginConfigArgs)
	case "api_upload_file_args":
		return new(plugin.Z_UploadFileArgs)
	case "api_no_args":
		return new(plugin.Z_GetServerVersionArgs)
	case "api_get_post_args":
		return new(plugin.Z_GetPostArgs)
	case "api_unregister_command_args":
		return new(plugin.Z_UnregisterCommandArgs)
	case "api_get_bot_args":
		return new(plugin.Z_GetBotArgs)
	case "api_get_channel_by_name_args":
		return new(plugin.Z_GetChannelByNameArgs)
	case "api_kv_set_args":
		return new(plugin.Z_KVSetArgs)
	case "api_send_ephemeral_args":
		return new(plugin.Z_SendEphemeralPostArgs)
	case "api_has_permission_channel_args":
		return new(plugin.Z_HasPermissionToChannelArgs)
	case "api_kv_set_expiry_args":
		return new(plugin.Z_KVSetWithExpiryArgs)
	case "api_kv_cas_args":
		return new(plugin.Z_KVCompareAndSetArgs)
	case "api_kv_list_args":
		return new(plugin.Z_KVListArgs)
	case "reply_config_will_be_saved_ok", "reply_config_will_be_saved_err":
		return new(plugin.Z_ConfigurationWillBeSavedReturns)
	case "api_get_posts_since_args":
		return new(plugin.Z_GetPostsSinceArgs)
	case "api_get_posts_for_channel_args":
		return new(plugin.Z_GetPostsForChannelArgs)
	case "api_get_users_by_ids_args":
		return new(plugin.Z_GetUsersByIdsArgs)
	case "api_get_users_by_usernames_args":
		return new(plugin.Z_GetUsersByUsernamesArgs)
	case "api_delete_post_args":
		return new(plugin.Z_DeletePostArgs)
	case "api_publish_cluster_event_args":
		return new(plugin.Z_PublishPluginClusterEventArgs)
	case "http_sync_header_args":
		return new(http.Header)
	case "http_write_header_args":
		return new(int)
	case "http_write_args":
		return new([]byte)
	}
	return nil
}

func verify(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	out := map[string]any{}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".rs.gob") {
			names = append(names, strings.TrimSuffix(e.Name(), ".rs.gob"))
		}
	}
	sort.Strings(names)
	for _, name := range names {
		t := target(name)
		if t == nil {
			return fmt.Errorf("%s: no Go target type", name)
		}
		data, err := os.ReadFile(filepath.Join(dir, name+".rs.gob"))
		if err != nil {
			return err
		}
		if err := gob.NewDecoder(bytes.NewReader(data)).Decode(t); err != nil {
			return fmt.Errorf("%s: decoding into %T: %w", name, t, err)
		}
		out[name] = describe(t)
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// describe makes interface-typed fields visible in JSON (their Go type and value).
func describe(t any) any {
	switch v := t.(type) {
	case *errReturns:
		return map[string]any{"A_type": fmt.Sprintf("%T", v.A), "A": v.A}
	case *plugin.Z_ExecuteCommandReturns:
		return map[string]any{"A": v.A, "B": v.B}
	case *plugin.Z_RegisterCommandArgs:
		var types []string
		if v.A != nil && v.A.AutocompleteData != nil {
			for _, a := range v.A.AutocompleteData.Arguments {
				types = append(types, fmt.Sprintf("%T", a.Data))
			}
			if err := v.A.AutocompleteData.IsValid(); err != nil {
				types = append(types, "invalid: "+err.Error())
			}
		}
		return map[string]any{"A": v.A, "DataTypes": types}
	case *plugin.Z_ConfigurationWillBeSavedReturns:
		return map[string]any{"A_nil": v.A == nil, "B_type": fmt.Sprintf("%T", v.B), "B": v.B}
	case *plugin.Z_LogInfoArgs:
		var types []string
		for _, p := range v.B {
			types = append(types, fmt.Sprintf("%T", p))
		}
		return map[string]any{"A": v.A, "B": v.B, "BTypes": types}
	case *plugin.Z_CreatePostArgs:
		types := map[string]string{}
		for k, p := range v.A.Props {
			types[k] = fmt.Sprintf("%T", p)
		}
		atts := v.A.Attachments()
		return map[string]any{"A": v.A, "PropTypes": types, "Attachments": atts}
	}
	return t
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: golden gen|verify <dir>")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2])
	case "verify":
		err = verify(os.Args[2])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "golden:", err)
		os.Exit(1)
	}
}
