package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif" // SetProfileImage decodes images like the server does
	_ "image/jpeg"
	_ "image/png"
	"mime"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mattermost/mattermost/server/public/model"
	"github.com/mattermost/mattermost/server/public/plugin"
)

// maxPostSize is the server's default (model.PostMessageMaxRunesV2).
const maxPostSize = 16383

// botUserKey is where the server's EnsureBot keeps the bot id, in the plugin's own KV namespace.
const botUserKey = "mmi_botid"

// API implements plugin.API for one plugin on top of a Server. It embeds the
// interface as nil, so a method the tests did not expect panics loudly in the
// host's RPC server instead of silently answering.
type API struct {
	plugin.API
	srv      *Server
	id       string
	manifest *model.Manifest
}

// NewAPI returns the API a plugin with this manifest sees.
func (s *Server) NewAPI(manifest *model.Manifest) *API {
	return &API{srv: s, id: manifest.Id, manifest: manifest}
}

// Factory is what plugin.NewEnvironment wants as its newAPIImpl argument.
func (s *Server) Factory() func(*model.Manifest) plugin.API {
	return func(m *model.Manifest) plugin.API { return s.NewAPI(m) }
}

// ---- configuration ----

func (a *API) LoadPluginConfiguration(dest any) error {
	a.srv.mu.Lock()
	final := map[string]any{}
	if a.manifest.SettingsSchema != nil {
		for _, setting := range a.manifest.SettingsSchema.Settings {
			final[strings.ToLower(setting.Key)] = setting.Default
		}
	}
	for k, v := range a.srv.pluginConfig[a.id] {
		final[strings.ToLower(k)] = v
	}
	a.srv.apiCalls["LoadPluginConfiguration"]++
	a.srv.mu.Unlock()
	b, err := json.Marshal(final)
	if err != nil {
		return nil // the server logs and returns nil
	}
	_ = json.Unmarshal(b, dest)
	return nil
}

func (a *API) GetConfig() *model.Config {
	cfg := &model.Config{}
	cfg.SetDefaults()
	dir := a.srv.PluginDir
	cfg.PluginSettings.Directory = &dir
	site := "http://localhost:8065"
	cfg.ServiceSettings.SiteURL = &site
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["GetConfig"]++
	cfg.PluginSettings.Plugins = map[string]map[string]any{}
	for id, m := range a.srv.pluginConfig {
		cfg.PluginSettings.Plugins[id] = copyMap(m)
	}
	return cfg
}

func (a *API) GetPluginConfig() map[string]any {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["GetPluginConfig"]++
	if m, ok := a.srv.pluginConfig[a.id]; ok {
		return copyMap(m)
	}
	return map[string]any{}
}

func (a *API) SavePluginConfig(config map[string]any) *model.AppError {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("SavePluginConfig"); err != nil {
		return err
	}
	a.srv.pluginConfig[a.id] = copyMap(config)
	return nil
}

func (a *API) GetBundlePath() (string, error) {
	a.srv.mu.Lock()
	a.srv.apiCalls["GetBundlePath"]++
	a.srv.mu.Unlock()
	return filepath.Abs(filepath.Join(a.srv.PluginDir, a.id))
}

func (a *API) GetServerVersion() string {
	a.srv.mu.Lock()
	a.srv.apiCalls["GetServerVersion"]++
	a.srv.mu.Unlock()
	return model.CurrentVersion
}

// ---- commands (app/plugin_commands.go RegisterPluginCommand) ----

func (a *API) RegisterCommand(command *model.Command) error {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["RegisterCommand"]++
	if command == nil || command.Trigger == "" {
		return errorf("invalid command")
	}
	ad := command.AutocompleteData
	if ad != nil {
		if err := ad.IsValid(); err != nil {
			return errorf("invalid autocomplete data in command: %w", err)
		}
		base, _ := url.Parse("/plugins/" + a.id)
		if err := ad.UpdateRelativeURLsForPluginCommands(base); err != nil {
			return errorf("can't update relative urls for plugin commands: %w", err)
		}
	} else {
		ad = model.NewAutocompleteData(command.Trigger, command.AutoCompleteHint, command.AutoCompleteDesc)
	}
	stored := &model.Command{
		Trigger:              strings.ToLower(command.Trigger),
		TeamId:               command.TeamId,
		AutoComplete:         command.AutoComplete,
		AutoCompleteDesc:     command.AutoCompleteDesc,
		AutoCompleteHint:     command.AutoCompleteHint,
		DisplayName:          command.DisplayName,
		AutocompleteData:     ad,
		AutocompleteIconData: command.AutocompleteIconData,
	}
	for _, pc := range a.srv.commands {
		if pc.PluginID == a.id && pc.Command.Trigger == stored.Trigger && pc.Command.TeamId == stored.TeamId {
			pc.Command = stored
			return nil
		}
	}
	a.srv.commands = append(a.srv.commands, &PluginCommand{PluginID: a.id, Command: stored})
	return nil
}

func (a *API) UnregisterCommand(teamID, trigger string) error {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["UnregisterCommand"]++
	trigger = strings.ToLower(trigger)
	var keep []*PluginCommand
	for _, pc := range a.srv.commands {
		if pc.PluginID == a.id && pc.Command.Trigger == trigger && pc.Command.TeamId == teamID {
			continue
		}
		keep = append(keep, pc)
	}
	a.srv.commands = keep
	return nil
}

// ---- bots (app/bot.go) ----

func (a *API) EnsureBotUser(bot *model.Bot) (string, error) {
	if bot == nil {
		return "", errorf("passed a nil bot")
	}
	bot.OwnerId = a.id
	if bot.Username == "" {
		return "", errorf("passed a bot with no username")
	}
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["EnsureBotUser"]++
	if idBytes := a.srv.kvGetLocked(a.id, botUserKey); idBytes != nil {
		botID := string(idBytes)
		patch := &model.BotPatch{Username: &bot.Username, DisplayName: &bot.DisplayName, Description: &bot.Description}
		if _, err := a.srv.patchBotLocked(botID, patch); err != nil {
			return "", fmt.Errorf("failed to patch bot: %w", err)
		}
		return botID, nil
	}
	if u := a.srv.userByUsernameLocked(bot.Username); u != nil {
		if u.IsBot {
			a.srv.kvPutLocked(a.id, botUserKey, []byte(u.Id), 0)
		} else {
			a.srv.logs = append(a.srv.logs, LogEntry{PluginID: a.id, Level: "error",
				Message: "Product attempted to use an account that already exists.", KV: []any{"username", bot.Username}})
		}
		return u.Id, nil
	}
	created, err := a.srv.createBotLocked(bot)
	if err != nil {
		return "", fmt.Errorf("failed to create bot: %w", err)
	}
	a.srv.kvPutLocked(a.id, botUserKey, []byte(created.UserId), 0)
	return created.UserId, nil
}

func (a *API) CreateBot(bot *model.Bot) (*model.Bot, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("CreateBot"); err != nil {
		return nil, err
	}
	if bot == nil {
		return nil, badRequest("CreateBot", "api.context.invalid_body_param.app_error", "bot")
	}
	b := bot.Clone()
	if b.OwnerId == "" {
		b.OwnerId = a.id
	}
	created, err := a.srv.createBotLocked(b)
	if err != nil {
		return nil, err
	}
	return created.Clone(), nil
}

func (a *API) GetBot(botUserID string, includeDeleted bool) (*model.Bot, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetBot"); err != nil {
		return nil, err
	}
	b, ok := a.srv.bots[botUserID]
	if !ok || (!includeDeleted && b.DeleteAt != 0) {
		return nil, model.MakeBotNotFoundError("SqlBotStore.Get", botUserID)
	}
	return b.Clone(), nil
}

func (a *API) GetBots(options *model.BotGetOptions) ([]*model.Bot, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetBots"); err != nil {
		return nil, err
	}
	if options == nil {
		options = &model.BotGetOptions{PerPage: 60}
	}
	var all []*model.Bot
	for _, b := range a.srv.bots {
		if options.OwnerId != "" && b.OwnerId != options.OwnerId {
			continue
		}
		if !options.IncludeDeleted && b.DeleteAt != 0 {
			continue
		}
		if options.OnlyOrphaned {
			if owner, ok := a.srv.users[b.OwnerId]; !ok || owner.DeleteAt == 0 {
				continue
			}
		}
		all = append(all, b.Clone())
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Username < all[j].Username })
	return page(all, options.Page, options.PerPage), nil
}

func (a *API) PatchBot(botUserID string, botPatch *model.BotPatch) (*model.Bot, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("PatchBot"); err != nil {
		return nil, err
	}
	if botPatch == nil {
		return nil, badRequest("PatchBot", "api.context.invalid_body_param.app_error", "bot")
	}
	b, err := a.srv.patchBotLocked(botUserID, botPatch)
	if err != nil {
		return nil, err
	}
	return b.Clone(), nil
}

func (a *API) UpdateBotActive(botUserID string, active bool) (*model.Bot, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("UpdateBotActive"); err != nil {
		return nil, err
	}
	u, ok := a.srv.users[botUserID]
	if !ok {
		return nil, notFound("PatchBot", "app.user.missing_account.const", "user_id="+botUserID)
	}
	b, ok := a.srv.bots[botUserID]
	if !ok {
		return nil, model.MakeBotNotFoundError("SqlBotStore.Get", botUserID)
	}
	now := model.GetMillis()
	if active {
		u.DeleteAt, b.DeleteAt = 0, 0
	} else if b.DeleteAt == 0 {
		u.DeleteAt, b.DeleteAt = now, now
	}
	b.UpdateAt, u.UpdateAt = now, now
	return b.Clone(), nil
}

func (a *API) PermanentDeleteBot(botUserID string) *model.AppError {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("PermanentDeleteBot"); err != nil {
		return err
	}
	u, ok := a.srv.users[botUserID]
	if !ok {
		return notFound("GetUser", "app.user.missing_account.const", "user_id="+botUserID)
	}
	if !u.IsBot {
		return badRequest("PermanentDeleteBot", "app.bot.permenent_delete.bad_id", "invalid bot id")
	}
	delete(a.srv.users, botUserID)
	delete(a.srv.bots, botUserID)
	return nil
}

func (a *API) SetProfileImage(userID string, data []byte) *model.AppError {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("SetProfileImage"); err != nil {
		return err
	}
	u, ok := a.srv.users[userID]
	if !ok {
		return notFound("GetUser", "app.user.missing_account.const", "user_id="+userID)
	}
	if _, _, err := image.DecodeConfig(bytes.NewReader(data)); err != nil {
		return badRequest("SetProfileImage", "api.user.upload_profile_user.decode.app_error", err.Error())
	}
	a.srv.profileImages[userID] = append([]byte(nil), data...)
	now := model.GetMillis()
	u.LastPictureUpdate = now
	if b, ok := a.srv.bots[userID]; ok {
		b.LastIconUpdate = now
	}
	return nil
}

func (s *Server) createBotLocked(bot *model.Bot) (*model.Bot, *model.AppError) {
	if err := bot.IsValidCreate(); err != nil {
		return nil, err
	}
	if s.userByUsernameLocked(bot.Username) != nil {
		return nil, badRequest("CreateBot", "app.user.save.username_exists.app_error", "username="+bot.Username)
	}
	now := model.GetMillis()
	b := bot.Clone()
	b.UserId = model.NewId()
	b.CreateAt, b.UpdateAt = now, now
	u := model.UserFromBot(b)
	u.IsBot = true
	u.BotDescription = b.Description
	u.CreateAt, u.UpdateAt = now, now
	s.users[u.Id] = u
	s.bots[b.UserId] = b
	return b, nil
}

func (s *Server) patchBotLocked(botID string, patch *model.BotPatch) (*model.Bot, *model.AppError) {
	b, ok := s.bots[botID]
	if !ok {
		return nil, model.MakeBotNotFoundError("SqlBotStore.Get", botID)
	}
	if !b.WouldPatch(patch) {
		return b, nil
	}
	if patch.Username != nil && *patch.Username != b.Username {
		if other := s.userByUsernameLocked(*patch.Username); other != nil && other.Id != botID {
			return nil, badRequest("PatchBot", "app.user.save.username_exists.app_error", "")
		}
	}
	b.Patch(patch)
	b.UpdateAt = model.GetMillis()
	if u, ok := s.users[botID]; ok {
		pu := model.UserFromBot(b)
		u.Username, u.Email, u.FirstName = pu.Username, pu.Email, pu.FirstName
		u.BotDescription = b.Description
		u.UpdateAt = b.UpdateAt
	}
	return b, nil
}

// ---- posts ----

func (a *API) CreatePost(post *model.Post) (*model.Post, *model.AppError) {
	a.srv.mu.Lock()
	if err := a.srv.takeFailure("CreatePost"); err != nil {
		a.srv.mu.Unlock()
		return nil, err
	}
	if post == nil {
		a.srv.mu.Unlock()
		return nil, badRequest("CreatePost", "api.context.invalid_body_param.app_error", "post")
	}
	p := post.Clone()
	p.AddProp("from_plugin", "true")
	created, err := a.srv.createPostLocked(p)
	a.srv.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if cb := a.srv.OnPostCreated; cb != nil {
		go cb(created.Clone())
	}
	return created.ForPlugin(), nil
}

func (s *Server) createPostLocked(p *model.Post) (*model.Post, *model.AppError) {
	if _, ok := s.channels[p.ChannelId]; !ok {
		return nil, notFound("GetChannel", "app.channel.get.existing.app_error", "channel_id="+p.ChannelId)
	}
	u, ok := s.users[p.UserId]
	if !ok {
		return nil, notFound("CreatePost", "app.user.missing_account.const", "user_id="+p.UserId)
	}
	if u.IsBot {
		p.AddProp("from_bot", "true")
	}
	if p.RootId != "" {
		root, ok := s.posts[p.RootId]
		if !ok || root.ChannelId != p.ChannelId {
			return nil, badRequest("createPost", "api.post.create_post.root_id.app_error", "root_id="+p.RootId)
		}
	}
	p.Id = ""
	p.PreSave()
	if err := p.IsValid(maxPostSize); err != nil {
		return nil, err
	}
	for _, fid := range p.FileIds {
		if fi, ok := s.files[fid]; ok {
			fi.PostId = p.Id
		}
	}
	s.posts[p.Id] = p
	s.postOrder = append(s.postOrder, p.Id)
	return p.Clone(), nil
}

// CreateUserPost stores a post made by a user (not a plugin), for MessageHasBeenPosted tests.
func (s *Server) CreateUserPost(post *model.Post) (*model.Post, *model.AppError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createPostLocked(post.Clone())
}

func (a *API) UpdatePost(post *model.Post) (*model.Post, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("UpdatePost"); err != nil {
		return nil, err
	}
	if post == nil {
		return nil, badRequest("UpdatePost", "api.context.invalid_body_param.app_error", "post")
	}
	old, ok := a.srv.posts[post.Id]
	if !ok {
		return nil, notFound("UpdatePost", "api.post.update_post.find.app_error", "id="+post.Id)
	}
	if old.DeleteAt != 0 {
		return nil, badRequest("UpdatePost", "api.post.update_post.permissions_details.app_error", "already deleted")
	}
	updated := old.Clone()
	now := model.GetMillis()
	if post.Message != old.Message {
		updated.Message = post.Message
		updated.EditAt = now
	}
	updated.SetProps(post.GetProps())
	updated.FileIds = post.FileIds
	updated.IsPinned = post.IsPinned
	updated.HasReactions = post.HasReactions
	updated.UpdateAt = now
	if err := updated.IsValid(maxPostSize); err != nil {
		return nil, err
	}
	a.srv.posts[post.Id] = updated
	return updated.ForPlugin(), nil
}

func (a *API) GetPost(postID string) (*model.Post, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetPost"); err != nil {
		return nil, err
	}
	p, ok := a.srv.posts[postID]
	if !ok || p.DeleteAt != 0 {
		return nil, notFound("GetSinglePost", "app.post.get.app_error", "id="+postID)
	}
	return p.ForPlugin(), nil
}

// DeletePost: app.DeletePost soft-deletes the post and, for a thread root, its replies
// (DeleteAt and UpdateAt set), so GetPostsSince still returns them.
func (a *API) DeletePost(postID string) *model.AppError {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("DeletePost"); err != nil {
		return err
	}
	p, ok := a.srv.posts[postID]
	if !ok || p.DeleteAt != 0 {
		return notFound("GetSinglePost", "app.post.get.app_error", "id="+postID)
	}
	now := model.GetMillis()
	for _, q := range a.srv.posts {
		if q.DeleteAt == 0 && (q.Id == postID || (p.RootId == "" && q.RootId == postID)) {
			q.DeleteAt, q.UpdateAt = now, now
		}
	}
	return nil
}

// channelPostsLocked returns a channel's posts, newest first (CreateAt DESC).
func (s *Server) channelPostsLocked(channelID string, keep func(*model.Post) bool) []*model.Post {
	var out []*model.Post
	for i := len(s.postOrder) - 1; i >= 0; i-- {
		if p := s.posts[s.postOrder[i]]; p != nil && p.ChannelId == channelID && keep(p) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreateAt > out[j].CreateAt })
	return out
}

// GetPostsSince: SqlPostStore.GetPostsSince — posts of the channel with UpdateAt > time
// (deleted ones included, at most 1000) plus their thread roots, all in Order, CreateAt DESC.
func (a *API) GetPostsSince(channelID string, time int64) (*model.PostList, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetPostsSince"); err != nil {
		return nil, err
	}
	changed := a.srv.channelPostsLocked(channelID, func(p *model.Post) bool { return p.UpdateAt > time })
	if len(changed) > 1000 {
		changed = changed[:1000]
	}
	pick := map[string]bool{}
	for _, p := range changed {
		pick[p.Id] = true
		if p.RootId != "" {
			pick[p.RootId] = true
		}
	}
	list := model.NewPostList()
	for _, p := range a.srv.channelPostsLocked(channelID, func(p *model.Post) bool { return pick[p.Id] }) {
		list.AddPost(p.ForPlugin())
		list.AddOrder(p.Id)
	}
	return list, nil
}

// GetPostsForChannel: SqlPostStore.GetPosts — one page of the channel's live posts
// (CreateAt DESC) in Order, plus the roots of replies on the page (Posts only).
func (a *API) GetPostsForChannel(channelID string, pageNo, perPage int) (*model.PostList, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetPostsForChannel"); err != nil {
		return nil, err
	}
	if perPage > 1000 {
		return nil, badRequest("SqlPostStore.GetPosts", "store.sql_post.get_posts.app_error", "channelId="+channelID)
	}
	live := a.srv.channelPostsLocked(channelID, func(p *model.Post) bool { return p.DeleteAt == 0 })
	list := model.NewPostList()
	for _, p := range page(live, pageNo, perPage) {
		list.AddPost(p.ForPlugin())
		list.AddOrder(p.Id)
		if root, ok := a.srv.posts[p.RootId]; ok && p.RootId != "" {
			list.AddPost(root.ForPlugin())
		}
	}
	return list, nil
}

func (a *API) SendEphemeralPost(userID string, post *model.Post) *model.Post {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["SendEphemeralPost"]++
	p := &model.Post{}
	if post != nil {
		p = post.Clone()
	}
	p.Type = model.PostTypeEphemeral
	if p.Id == "" {
		p.Id = model.NewId()
	}
	if p.CreateAt == 0 {
		p.CreateAt = model.GetMillis()
	}
	if p.GetProps() == nil {
		p.SetProps(model.StringInterface{})
	}
	a.srv.ephemeral = append(a.srv.ephemeral, EphemeralPost{UserID: userID, Post: p.Clone()})
	return p.ForPlugin()
}

func (a *API) UpdateEphemeralPost(userID string, post *model.Post) *model.Post {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["UpdateEphemeralPost"]++
	p := post.Clone()
	p.Type = model.PostTypeEphemeral
	p.UpdateAt = model.GetMillis()
	for i, e := range a.srv.ephemeral {
		if e.UserID == userID && e.Post.Id == p.Id {
			a.srv.ephemeral[i].Post = p.Clone()
			return p.ForPlugin()
		}
	}
	a.srv.ephemeral = append(a.srv.ephemeral, EphemeralPost{UserID: userID, Post: p.Clone()})
	return p.ForPlugin()
}

func (a *API) DeleteEphemeralPost(userID, postID string) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["DeleteEphemeralPost"]++
	for i, e := range a.srv.ephemeral {
		if e.UserID == userID && e.Post.Id == postID {
			a.srv.ephemeral[i].Deleted = true
		}
	}
}

// ---- channels, teams ----

func (a *API) GetChannel(channelID string) (*model.Channel, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetChannel"); err != nil {
		return nil, err
	}
	c, ok := a.srv.channels[channelID]
	if !ok {
		return nil, notFound("GetChannel", "app.channel.get.existing.app_error", "channel_id="+channelID)
	}
	return c.DeepCopy(), nil
}

func (a *API) GetChannelByName(teamID, name string, includeDeleted bool) (*model.Channel, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetChannelByName"); err != nil {
		return nil, err
	}
	if c := a.srv.channelByNameLocked(teamID, name, includeDeleted); c != nil {
		return c.DeepCopy(), nil
	}
	return nil, notFound("GetChannelByName", "app.channel.get_by_name.missing.app_error", "teamId="+teamID+", name="+name)
}

func (a *API) GetChannelByNameForTeamName(teamName, channelName string, includeDeleted bool) (*model.Channel, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetChannelByNameForTeamName"); err != nil {
		return nil, err
	}
	t := a.srv.teamByNameLocked(teamName)
	if t == nil {
		return nil, notFound("GetChannelByNameForTeamName", "app.team.get_by_name.missing.app_error", "name="+teamName)
	}
	if c := a.srv.channelByNameLocked(t.Id, channelName, includeDeleted); c != nil {
		return c.DeepCopy(), nil
	}
	return nil, notFound("GetChannelByNameForTeamName", "app.channel.get_by_name.missing.app_error", "name="+channelName)
}

func (a *API) GetDirectChannel(userID1, userID2 string) (*model.Channel, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetDirectChannel"); err != nil {
		return nil, err
	}
	for _, id := range []string{userID1, userID2} {
		if _, ok := a.srv.users[id]; !ok {
			return nil, notFound("GetOrCreateDirectChannel", "api.channel.create_direct_channel.invalid_user.app_error", "user_id="+id)
		}
	}
	name := model.GetDMNameFromIds(userID1, userID2)
	if c := a.srv.channelByNameLocked("", name, true); c != nil {
		return c.DeepCopy(), nil
	}
	now := model.GetMillis()
	c := &model.Channel{Id: model.NewId(), Name: name, Type: model.ChannelTypeDirect, CreateAt: now, UpdateAt: now}
	a.srv.channels[c.Id] = c
	for _, id := range []string{userID1, userID2} {
		a.srv.addMemberLocked(c.Id, id)
	}
	return c.DeepCopy(), nil
}

func (a *API) AddChannelMember(channelID, userID string) (*model.ChannelMember, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("AddChannelMember"); err != nil {
		return nil, err
	}
	if _, ok := a.srv.channels[channelID]; !ok {
		return nil, notFound("GetChannel", "app.channel.get.existing.app_error", "channel_id="+channelID)
	}
	if _, ok := a.srv.users[userID]; !ok {
		return nil, notFound("GetUser", "app.user.missing_account.const", "user_id="+userID)
	}
	m := a.srv.addMemberLocked(channelID, userID)
	c := *m
	return &c, nil
}

// ChannelMembers returns the user ids that are members of a channel, sorted.
func (s *Server) ChannelMembers(channelID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.members[channelID] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (a *API) GetTeamByName(name string) (*model.Team, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetTeamByName"); err != nil {
		return nil, err
	}
	if t := a.srv.teamByNameLocked(name); t != nil {
		return cloneTeam(t), nil
	}
	return nil, notFound("GetTeamByName", "app.team.get_by_name.missing.app_error", "name="+name)
}

func (a *API) GetTeam(teamID string) (*model.Team, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetTeam"); err != nil {
		return nil, err
	}
	if t, ok := a.srv.teams[teamID]; ok {
		return cloneTeam(t), nil
	}
	return nil, notFound("GetTeam", "app.team.get.find.app_error", "id="+teamID)
}

func (s *Server) addMemberLocked(channelID, userID string) *model.ChannelMember {
	if s.members[channelID] == nil {
		s.members[channelID] = map[string]*model.ChannelMember{}
	}
	if m, ok := s.members[channelID][userID]; ok {
		return m
	}
	m := &model.ChannelMember{ChannelId: channelID, UserId: userID, Roles: "channel_user",
		NotifyProps: model.GetDefaultChannelNotifyProps(), LastUpdateAt: model.GetMillis(), SchemeUser: true}
	s.members[channelID][userID] = m
	return m
}

func (s *Server) channelByNameLocked(teamID, name string, includeDeleted bool) *model.Channel {
	for _, c := range s.channels {
		if c.TeamId == teamID && c.Name == name && (includeDeleted || c.DeleteAt == 0) {
			return c
		}
	}
	return nil
}

func (s *Server) teamByNameLocked(name string) *model.Team {
	for _, t := range s.teams {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// ---- users, permissions ----

func (a *API) GetUser(userID string) (*model.User, *model.AppError) {
	return a.findUser("GetUser", func(u *model.User) bool { return u.Id == userID }, "user_id="+userID)
}

func (a *API) GetUserByEmail(email string) (*model.User, *model.AppError) {
	email = strings.ToLower(email)
	return a.findUser("GetUserByEmail", func(u *model.User) bool { return strings.ToLower(u.Email) == email }, "email="+email)
}

func (a *API) GetUserByUsername(name string) (*model.User, *model.AppError) {
	return a.findUser("GetUserByUsername", func(u *model.User) bool { return u.Username == name }, "username="+name)
}

// GetUsers: the users matching the role and active/inactive filters (the ones plugins
// use), sorted by username, one page.
func (a *API) GetUsers(options *model.UserGetOptions) ([]*model.User, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("GetUsers"); err != nil {
		return nil, err
	}
	out := []*model.User{}
	for _, u := range a.srv.users {
		switch {
		case options.Role != "" && !strings.Contains(" "+u.Roles+" ", " "+options.Role+" "):
		case options.Active && u.DeleteAt != 0, options.Inactive && u.DeleteAt == 0:
		default:
			out = append(out, u.DeepCopy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	perPage := options.PerPage
	if perPage <= 0 {
		perPage = 60
	}
	start := min(options.Page*perPage, len(out))
	return out[start:min(start+perPage, len(out))], nil
}

// GetUsersByUsernames: the users found (unknown names left out), in the order asked.
func (a *API) GetUsersByUsernames(usernames []string) ([]*model.User, *model.AppError) {
	return a.findUsers("GetUsersByUsernames", usernames, func(u *model.User) string { return u.Username })
}

// GetUsersByIds exists from server 9.8 (server/public v0.1.0's plugin.API lacks it, so the
// host answers "can't find method" there whatever this type implements).
func (a *API) GetUsersByIds(userIDs []string) ([]*model.User, *model.AppError) {
	return a.findUsers("GetUsersByIds", userIDs, func(u *model.User) string { return u.Id })
}

func (a *API) findUsers(method string, keys []string, key func(*model.User) string) ([]*model.User, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure(method); err != nil {
		return nil, err
	}
	byKey := map[string]*model.User{}
	for _, u := range a.srv.users {
		byKey[key(u)] = u
	}
	out := []*model.User{}
	seen := map[string]bool{}
	for _, k := range keys {
		if u, ok := byKey[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, u.DeepCopy())
		}
	}
	return out, nil
}

func (a *API) findUser(method string, match func(*model.User) bool, detail string) (*model.User, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure(method); err != nil {
		return nil, err
	}
	for _, u := range a.srv.users {
		if match(u) {
			return u.DeepCopy(), nil
		}
	}
	return nil, notFound(method, "app.user.missing_account.const", detail)
}

func (s *Server) userByUsernameLocked(name string) *model.User {
	for _, u := range s.users {
		if u.Username == name {
			return u
		}
	}
	return nil
}

func (s *Server) isSystemAdminLocked(userID string) bool {
	u, ok := s.users[userID]
	return ok && strings.Contains(" "+u.Roles+" ", " "+model.SystemAdminRoleId+" ")
}

func (a *API) HasPermissionTo(userID string, permission *model.Permission) bool {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["HasPermissionTo"]++
	return permission != nil && (a.srv.isSystemAdminLocked(userID) || a.srv.permissions[userID][permission.Id])
}

func (a *API) HasPermissionToTeam(userID, teamID string, permission *model.Permission) bool {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["HasPermissionToTeam"]++
	if permission == nil {
		return false
	}
	return a.srv.isSystemAdminLocked(userID) || a.srv.permissions[userID][permission.Id] ||
		a.srv.teamPerms[userID+"|"+teamID][permission.Id]
}

func (a *API) HasPermissionToChannel(userID, channelID string, permission *model.Permission) bool {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["HasPermissionToChannel"]++
	if permission == nil {
		return false
	}
	if a.srv.isSystemAdminLocked(userID) || a.srv.permissions[userID][permission.Id] ||
		a.srv.channelPerms[userID+"|"+channelID][permission.Id] {
		return true
	}
	if c, ok := a.srv.channels[channelID]; ok && c.TeamId != "" {
		return a.srv.teamPerms[userID+"|"+c.TeamId][permission.Id]
	}
	return false
}

// ---- KV store (sqlstore/plugin_store.go semantics) ----

func validKey(where, key string) *model.AppError {
	if key == "" || utf8.RuneCountInString(key) > model.KeyValueKeyMaxRunes {
		return badRequest(where, "model.plugin_key_value.is_valid.key.app_error", "key="+key)
	}
	return nil
}

func (s *Server) kvGetLocked(pluginID, key string) []byte {
	e, ok := s.kv[pluginID][key]
	if !ok || (e.expireAt != 0 && e.expireAt <= model.GetMillis()) {
		return nil
	}
	return append([]byte(nil), e.value...)
}

func (s *Server) kvPutLocked(pluginID, key string, value []byte, expireAt int64) {
	if value == nil {
		delete(s.kv[pluginID], key)
		return
	}
	if s.kv[pluginID] == nil {
		s.kv[pluginID] = map[string]kvEntry{}
	}
	s.kv[pluginID][key] = kvEntry{value: append([]byte{}, value...), expireAt: expireAt}
}

func (s *Server) kvKeysLocked(pluginID string) []string {
	now := model.GetMillis()
	var keys []string
	for k, e := range s.kv[pluginID] {
		if e.expireAt == 0 || e.expireAt > now {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func expireAt(seconds int64) int64 {
	if seconds == 0 {
		return 0
	}
	return model.GetMillis() + seconds*1000
}

func (a *API) KVGet(key string) ([]byte, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("KVGet"); err != nil {
		return nil, err
	}
	return a.srv.kvGetLocked(a.id, key), nil
}

func (a *API) KVSet(key string, value []byte) *model.AppError {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("KVSet"); err != nil {
		return err
	}
	if err := validKey("KVSet", key); err != nil {
		return err
	}
	a.srv.kvPutLocked(a.id, key, value, 0)
	return nil
}

func (a *API) KVSetWithExpiry(key string, value []byte, expireInSeconds int64) *model.AppError {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("KVSetWithExpiry"); err != nil {
		return err
	}
	if err := validKey("KVSetWithExpiry", key); err != nil {
		return err
	}
	a.srv.kvPutLocked(a.id, key, value, expireAt(expireInSeconds))
	return nil
}

func (a *API) KVSetWithOptions(key string, value []byte, options model.PluginKVSetOptions) (bool, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("KVSetWithOptions"); err != nil {
		return false, err
	}
	return a.srv.kvSetWithOptionsLocked(a.id, key, value, options)
}

func (a *API) KVCompareAndSet(key string, oldValue, newValue []byte) (bool, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("KVCompareAndSet"); err != nil {
		return false, err
	}
	return a.srv.kvSetWithOptionsLocked(a.id, key, newValue, model.PluginKVSetOptions{Atomic: true, OldValue: oldValue})
}

func (s *Server) kvSetWithOptionsLocked(pluginID, key string, value []byte, opt model.PluginKVSetOptions) (bool, *model.AppError) {
	if err := opt.IsValid(); err != nil {
		return false, err
	}
	if err := validKey("KVSetWithOptions", key); err != nil {
		return false, err
	}
	exp := expireAt(opt.ExpireInSeconds)
	if !opt.Atomic {
		s.kvPutLocked(pluginID, key, value, exp) // nil value deletes
		return true, nil
	}
	current := s.kvGetLocked(pluginID, key)
	if value == nil { // CompareAndDelete
		if opt.OldValue == nil || current == nil || !bytes.Equal(current, opt.OldValue) {
			return false, nil
		}
		delete(s.kv[pluginID], key)
		return true, nil
	}
	if opt.OldValue == nil { // set if absent (expired values count as absent)
		if current != nil {
			return false, nil
		}
		s.kvPutLocked(pluginID, key, value, exp)
		return true, nil
	}
	if current == nil || !bytes.Equal(current, opt.OldValue) {
		return false, nil
	}
	s.kvPutLocked(pluginID, key, value, exp)
	return true, nil
}

func (a *API) KVDelete(key string) *model.AppError {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("KVDelete"); err != nil {
		return err
	}
	delete(a.srv.kv[a.id], key)
	return nil
}

func (a *API) KVDeleteAll() *model.AppError {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("KVDeleteAll"); err != nil {
		return err
	}
	delete(a.srv.kv, a.id)
	return nil
}

func (a *API) KVList(pageNo, perPage int) ([]string, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("KVList"); err != nil {
		return nil, err
	}
	if perPage <= 0 {
		perPage = 10
	}
	return page(a.srv.kvKeysLocked(a.id), pageNo, perPage), nil
}

func page[T any](all []T, pageNo, perPage int) []T {
	if perPage <= 0 {
		return all
	}
	start := pageNo * perPage
	if start < 0 || start >= len(all) {
		return []T{}
	}
	end := start + perPage
	if end > len(all) {
		end = len(all)
	}
	return all[start:end]
}

// ---- files ----

func (a *API) UploadFile(data []byte, channelID string, filename string) (*model.FileInfo, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	if err := a.srv.takeFailure("UploadFile"); err != nil {
		return nil, err
	}
	c, ok := a.srv.channels[channelID]
	if !ok {
		return nil, notFound("GetChannel", "app.channel.get.existing.app_error", "channel_id="+channelID)
	}
	name := filepath.Base(filename)
	if name == "." || name == "/" || name == "" {
		return nil, badRequest("UploadFile", "api.file.upload_file.bad_parse.app_error", "filename="+filename)
	}
	now := time.Now()
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(name)), ".")
	mt := mime.TypeByExtension(filepath.Ext(name))
	if i := strings.Index(mt, ";"); i >= 0 {
		mt = mt[:i]
	}
	fi := &model.FileInfo{Id: model.NewId(), ChannelId: channelID, CreateAt: now.UnixMilli(), UpdateAt: now.UnixMilli(),
		Name: name, Extension: ext, Size: int64(len(data)), MimeType: mt}
	team := c.TeamId
	if team == "" {
		team = "noteam"
	}
	fi.Path = fmt.Sprintf("%s/teams/%s/channels/%s/users/nouser/%s/%s", now.Format("20060102"), team, channelID, fi.Id, name)
	if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil {
		fi.Width, fi.Height = cfg.Width, cfg.Height
	}
	a.srv.files[fi.Id] = fi
	a.srv.fileData[fi.Id] = append([]byte(nil), data...)
	out := *fi
	return &out, nil
}

func (a *API) GetFileInfo(fileID string) (*model.FileInfo, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	fi, ok := a.srv.files[fileID]
	if !ok {
		return nil, notFound("GetFileInfo", "app.file_info.get.app_error", "file_id="+fileID)
	}
	out := *fi
	return &out, nil
}

func (a *API) GetFile(fileID string) ([]byte, *model.AppError) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	data, ok := a.srv.fileData[fileID]
	if !ok {
		return nil, notFound("GetFile", "app.file_info.get.app_error", "file_id="+fileID)
	}
	return append([]byte(nil), data...), nil
}

// ---- logs, events ----

func (a *API) log(level, msg string, kv []any) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["Log"+strings.ToUpper(level[:1])+level[1:]]++
	a.srv.logs = append(a.srv.logs, LogEntry{PluginID: a.id, Level: level, Message: msg, KV: kv})
}

func (a *API) LogDebug(msg string, kv ...any) { a.log("debug", msg, kv) }
func (a *API) LogInfo(msg string, kv ...any)  { a.log("info", msg, kv) }
func (a *API) LogWarn(msg string, kv ...any)  { a.log("warn", msg, kv) }
func (a *API) LogError(msg string, kv ...any) { a.log("error", msg, kv) }

// PublishPluginClusterEvent: recorded as what the other nodes would receive; a TargetId
// that is no known node fails like SendClusterMessageToNode does.
func (a *API) PublishPluginClusterEvent(ev model.PluginClusterEvent, opts model.PluginClusterEventSendOptions) error {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["PublishPluginClusterEvent"]++
	if opts.TargetId != "" && !a.srv.clusterNodes[opts.TargetId] {
		return fmt.Errorf("failed to send message to cluster node %q: unknown node", opts.TargetId)
	}
	ev.Data = append([]byte(nil), ev.Data...)
	a.srv.clusterEvents = append(a.srv.clusterEvents, ClusterEvent{PluginID: a.id, Event: ev, Options: opts})
	return nil
}

func (a *API) PublishWebSocketEvent(event string, payload map[string]any, broadcast *model.WebsocketBroadcast) {
	a.srv.mu.Lock()
	defer a.srv.mu.Unlock()
	a.srv.apiCalls["PublishWebSocketEvent"]++
	a.srv.events = append(a.srv.events, WebSocketEvent{
		Event: fmt.Sprintf("custom_%v_%v", a.id, event), Payload: copyMap(payload), Broadcast: broadcast})
}
