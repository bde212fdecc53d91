// Package harness runs plugin executables under the real Mattermost host code
// (plugin.Environment → supervisor → hashicorp/go-plugin) with an in-memory
// implementation of plugin.API.
//
// Files:
//   - server.go   shared in-memory server state (users, channels, posts, KV, …) and seeding
//   - api.go      API: plugin.API backed by Server, one per plugin (what NewEnvironment gets)
//   - env.go      bundle directories, Environment set-up, activation, child-process lookup
//   - build.go    building the Go reference plugin
package harness

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/mattermost/mattermost/server/public/model"
)

// LogEntry is one LogDebug/LogInfo/LogWarn/LogError call made by a plugin.
type LogEntry struct {
	PluginID string
	Level    string
	Message  string
	KV       []any
}

// WebSocketEvent is one PublishWebSocketEvent call (event name already prefixed
// "custom_<pluginid>_" as the real server does).
type WebSocketEvent struct {
	Event     string
	Payload   map[string]any
	Broadcast *model.WebsocketBroadcast
}

// ClusterEvent is one PublishPluginClusterEvent call.
type ClusterEvent struct {
	PluginID string
	Event    model.PluginClusterEvent
	Options  model.PluginClusterEventSendOptions
}

// EphemeralPost is one SendEphemeralPost / UpdateEphemeralPost call.
type EphemeralPost struct {
	UserID  string
	Post    *model.Post
	Deleted bool
}

// PluginCommand is a slash command registered by a plugin.
type PluginCommand struct {
	PluginID string
	Command  *model.Command
}

type kvEntry struct {
	value    []byte
	expireAt int64 // ms since epoch; 0 = never
}

// Server is the shared in-memory state behind every plugin's API, standing in
// for the Mattermost app layer and store. All methods are safe for concurrent use.
type Server struct {
	mu sync.Mutex

	PluginDir string

	users         map[string]*model.User
	bots          map[string]*model.Bot
	teams         map[string]*model.Team
	channels      map[string]*model.Channel
	members       map[string]map[string]*model.ChannelMember // channel → user → member
	posts         map[string]*model.Post
	postOrder     []string
	ephemeral     []EphemeralPost
	commands      []*PluginCommand
	kv            map[string]map[string]kvEntry // plugin → key → entry
	files         map[string]*model.FileInfo
	fileData      map[string][]byte
	profileImages map[string][]byte
	pluginConfig  map[string]map[string]any
	logs          []LogEntry
	events        []WebSocketEvent
	clusterEvents []ClusterEvent
	clusterNodes  map[string]bool            // ids of the other cluster nodes (TargetId)
	permissions   map[string]map[string]bool // user → permission id (system scope)
	teamPerms     map[string]map[string]bool // user|team → permission id
	channelPerms  map[string]map[string]bool // user|channel → permission id
	failNext      map[string]*model.AppError
	apiCalls      map[string]int

	// OnPostCreated, if set, is called (in its own goroutine) after every post a
	// plugin creates, like the server's MessageHasBeenPosted fan-out.
	OnPostCreated func(post *model.Post)
}

// NewServer returns an empty server whose plugins live under pluginDir.
func NewServer(pluginDir string) *Server {
	return DefaultSecrets.server(&Server{
		PluginDir:     pluginDir,
		users:         map[string]*model.User{},
		bots:          map[string]*model.Bot{},
		teams:         map[string]*model.Team{},
		channels:      map[string]*model.Channel{},
		members:       map[string]map[string]*model.ChannelMember{},
		posts:         map[string]*model.Post{},
		kv:            map[string]map[string]kvEntry{},
		files:         map[string]*model.FileInfo{},
		fileData:      map[string][]byte{},
		profileImages: map[string][]byte{},
		pluginConfig:  map[string]map[string]any{},
		permissions:   map[string]map[string]bool{},
		teamPerms:     map[string]map[string]bool{},
		channelPerms:  map[string]map[string]bool{},
		failNext:      map[string]*model.AppError{},
		apiCalls:      map[string]int{},
		clusterNodes:  map[string]bool{"node-2": true},
	})
}

// ---- seeding (test set-up) ----

// AddUser creates a regular user.
func (s *Server) AddUser(username, email string) *model.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := model.GetMillis()
	u := &model.User{Id: model.NewId(), Username: username, Email: email, CreateAt: now, UpdateAt: now,
		Roles: model.SystemUserRoleId, FirstName: strings.ToUpper(username[:1]) + username[1:], Locale: "en"}
	s.users[u.Id] = u
	return u.DeepCopy()
}

// AddAdmin creates a system admin.
func (s *Server) AddAdmin(username, email string) *model.User {
	u := s.AddUser(username, email)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Id].Roles = model.SystemUserRoleId + " " + model.SystemAdminRoleId
	return s.users[u.Id].DeepCopy()
}

// AddTeam creates a team.
func (s *Server) AddTeam(name, displayName string) *model.Team {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := model.GetMillis()
	t := &model.Team{Id: model.NewId(), Name: name, DisplayName: displayName, Type: model.TeamOpen, CreateAt: now, UpdateAt: now}
	s.teams[t.Id] = t
	return cloneTeam(t)
}

// AddChannel creates an open channel in a team.
func (s *Server) AddChannel(teamID, name, displayName string) *model.Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := model.GetMillis()
	c := &model.Channel{Id: model.NewId(), TeamId: teamID, Name: name, DisplayName: displayName,
		Type: model.ChannelTypeOpen, CreateAt: now, UpdateAt: now}
	s.channels[c.Id] = c
	return c.DeepCopy()
}

// Grant gives a user a system-wide permission (HasPermissionTo).
func (s *Server) Grant(userID, permissionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	grant(s.permissions, userID, permissionID)
}

// GrantTeam gives a user a permission in one team (HasPermissionToTeam).
func (s *Server) GrantTeam(userID, teamID, permissionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	grant(s.teamPerms, userID+"|"+teamID, permissionID)
}

// GrantChannel gives a user a permission in one channel (HasPermissionToChannel).
func (s *Server) GrantChannel(userID, channelID, permissionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	grant(s.channelPerms, userID+"|"+channelID, permissionID)
}

func grant(m map[string]map[string]bool, key, perm string) {
	if m[key] == nil {
		m[key] = map[string]bool{}
	}
	m[key][perm] = true
}

// SetPluginSettings sets the saved settings of a plugin (PluginSettings.Plugins[id]).
func (s *Server) SetPluginSettings(pluginID string, settings map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pluginConfig[pluginID] = copyMap(settings)
}

// FailNext makes the next call of the named API method return err (AppError-returning
// methods only: CreatePost, KVSet, KVGet, GetChannel, GetUser, UploadFile, …).
func (s *Server) FailNext(method string, err *model.AppError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[method] = err
}

// takeFailure is called with s.mu held.
func (s *Server) takeFailure(method string) *model.AppError {
	s.apiCalls[method]++
	if err, ok := s.failNext[method]; ok {
		delete(s.failNext, method)
		return err
	}
	return nil
}

// ---- inspection (test assertions) ----

// Posts returns all non-ephemeral posts in creation order.
func (s *Server) Posts() []*model.Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*model.Post, 0, len(s.postOrder))
	for _, id := range s.postOrder {
		if p, ok := s.posts[id]; ok {
			out = append(out, p.Clone())
		}
	}
	return out
}

// PostsInChannel returns the posts of one channel in creation order.
func (s *Server) PostsInChannel(channelID string) []*model.Post {
	var out []*model.Post
	for _, p := range s.Posts() {
		if p.ChannelId == channelID {
			out = append(out, p)
		}
	}
	return out
}

// ClusterEvents returns the PublishPluginClusterEvent calls so far (what the other nodes
// of a cluster would receive through OnPluginClusterEvent).
func (s *Server) ClusterEvents() []ClusterEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ClusterEvent, len(s.clusterEvents))
	for i, e := range s.clusterEvents {
		out[i] = e
		out[i].Event.Data = append([]byte(nil), e.Event.Data...)
	}
	return out
}

// Ephemerals returns the ephemeral posts sent so far.
func (s *Server) Ephemerals() []EphemeralPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EphemeralPost, len(s.ephemeral))
	for i, e := range s.ephemeral {
		out[i] = EphemeralPost{UserID: e.UserID, Post: e.Post.Clone(), Deleted: e.Deleted}
	}
	return out
}

// Commands returns the registered slash commands.
func (s *Server) Commands() []PluginCommand {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PluginCommand, len(s.commands))
	for i, c := range s.commands {
		out[i] = PluginCommand{PluginID: c.PluginID, Command: cloneCommand(c.Command)}
	}
	return out
}

// Command returns the command a plugin registered for a trigger, or nil.
func (s *Server) Command(pluginID, trigger string) *model.Command {
	for _, c := range s.Commands() {
		if c.PluginID == pluginID && c.Command.Trigger == trigger {
			return c.Command
		}
	}
	return nil
}

// KV returns a plugin's stored value (nil when missing or expired).
func (s *Server) KV(pluginID, key string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kvGetLocked(pluginID, key)
}

// SetKV stores a value directly (test set-up).
func (s *Server) SetKV(pluginID, key string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kvPutLocked(pluginID, key, value, 0)
}

// KVKeys returns a plugin's live keys, sorted.
func (s *Server) KVKeys(pluginID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kvKeysLocked(pluginID)
}

// Bots returns all bots.
func (s *Server) Bots() []*model.Bot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*model.Bot, 0, len(s.bots))
	for _, b := range s.bots {
		out = append(out, b.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

// UserByUsername returns a user (bot users included) or nil.
func (s *Server) UserByUsername(username string) *model.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.Username == username {
			return u.DeepCopy()
		}
	}
	return nil
}

// Logs returns the plugin log calls so far.
func (s *Server) Logs() []LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LogEntry(nil), s.logs...)
}

// HasLog reports whether a plugin logged msg at level ("debug", "info", "warn", "error").
func (s *Server) HasLog(level, msg string) bool {
	for _, l := range s.Logs() {
		if l.Level == level && l.Message == msg {
			return true
		}
	}
	return false
}

// Events returns the websocket events published so far.
func (s *Server) Events() []WebSocketEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WebSocketEvent(nil), s.events...)
}

// File returns an uploaded file's info and bytes.
func (s *Server) File(id string) (*model.FileInfo, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, ok := s.files[id]
	if !ok {
		return nil, nil
	}
	c := *fi
	return &c, append([]byte(nil), s.fileData[id]...)
}

// ProfileImage returns the bytes last set with SetProfileImage.
func (s *Server) ProfileImage(userID string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.profileImages[userID]...)
}

// APICalls returns how many times the named API method was called.
func (s *Server) APICalls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiCalls[method]
}

// ---- helpers ----

func notFound(where, id, detail string) *model.AppError {
	return model.NewAppError(where, id, nil, detail, http.StatusNotFound)
}

func badRequest(where, id, detail string) *model.AppError {
	return model.NewAppError(where, id, nil, detail, http.StatusBadRequest)
}

func copyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneTeam(t *model.Team) *model.Team {
	c := *t
	return &c
}

func cloneCommand(c *model.Command) *model.Command {
	if c == nil {
		return nil
	}
	out := *c
	return &out
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
