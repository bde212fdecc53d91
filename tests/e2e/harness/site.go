package harness

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/mattermost/mattermost/server/public/model"
)

// Password of every user the suite creates (the server's default policy accepts it).
const Password = "E2e-password-1"

// Person is a user with a client logged in as them.
type Person struct {
	User   *model.User
	Client *model.Client4
}

// Site is the server after Bootstrap: the first user (a system admin) with a personal
// access token, the team "acme" and the plain users the stories mention.
type Site struct {
	Server *Server
	Admin  Person
	Token  string // the admin's personal access token (for scripts/deploy.sh)
	Team   *model.Team
	Users  map[string]Person // "pat" (no role), "ann", "bob", "cara", "dan", "eve"
}

// Ctx is the context of every REST call; NewClient's timeout bounds each one.
func Ctx() context.Context { return context.Background() }

// NewClient is a REST client whose calls give up after a minute.
func NewClient(url string) *model.Client4 {
	c := model.NewAPIv4Client(url)
	c.HTTPClient = &http.Client{Timeout: time.Minute}
	return c
}

// Bootstrap creates the admin (the first user becomes system admin), the team and users.
func Bootstrap(s *Server) (*Site, error) {
	site := &Site{Server: s, Users: map[string]Person{}}
	anon := NewClient(s.URL)
	if _, _, err := anon.CreateUser(Ctx(), &model.User{Username: "admin", Email: "admin@example.com", Password: Password}); err != nil {
		return nil, fmt.Errorf("create the first user: %w", err)
	}
	admin, err := s.Login("admin")
	if err != nil {
		return nil, err
	}
	site.Admin = admin
	if !admin.User.IsSystemAdmin() {
		return nil, fmt.Errorf("the first user is not a system admin: roles %q", admin.User.Roles)
	}
	token, _, err := admin.Client.CreateUserAccessToken(Ctx(), admin.User.Id, "e2e")
	if err != nil {
		return nil, fmt.Errorf("create a personal access token: %w", err)
	}
	site.Token = token.Token
	site.Team, _, err = admin.Client.CreateTeam(Ctx(), &model.Team{Name: "acme", DisplayName: "Acme", Type: model.TeamOpen})
	if err != nil {
		return nil, fmt.Errorf("create the team: %w", err)
	}
	for _, u := range []struct{ name, email string }{
		{"pat", "pat@example.com"}, {"ann", "ann.lee@example.com"}, {"bob", "bob.stone@example.com"},
		{"cara", "cara.diaz@example.com"}, {"dan", "dan.ng@example.com"}, {"eve", "eve.ross@example.com"},
	} {
		user, _, err := admin.Client.CreateUser(Ctx(), &model.User{Username: u.name, Email: u.email, Password: Password})
		if err != nil {
			return nil, fmt.Errorf("create user %s: %w", u.name, err)
		}
		if _, _, err := admin.Client.AddTeamMember(Ctx(), site.Team.Id, user.Id); err != nil {
			return nil, fmt.Errorf("add %s to the team: %w", u.name, err)
		}
		p, err := s.Login(u.name)
		if err != nil {
			return nil, err
		}
		site.Users[u.name] = p
	}
	return site, nil
}

// Login logs a user in with Password.
func (s *Server) Login(username string) (Person, error) {
	c := NewClient(s.URL)
	u, _, err := c.Login(Ctx(), username, Password)
	if err != nil {
		return Person{}, fmt.Errorf("log in as %s: %w", username, err)
	}
	return Person{User: u, Client: c}, nil
}

// Channel creates a public channel in the team (the admin is its first member) and adds
// the named users to it.
func (site *Site) Channel(name string, members ...string) (*model.Channel, error) {
	c, _, err := site.Admin.Client.CreateChannel(Ctx(), &model.Channel{
		TeamId: site.Team.Id, Name: name, DisplayName: name, Type: model.ChannelTypeOpen,
	})
	if err != nil {
		return nil, fmt.Errorf("create channel %s: %w", name, err)
	}
	for _, m := range members {
		if _, _, err := site.Admin.Client.AddChannelMember(Ctx(), c.Id, site.Users[m].User.Id); err != nil {
			return nil, fmt.Errorf("add %s to %s: %w", m, name, err)
		}
	}
	return c, nil
}

// Posts is every post in a channel, oldest first, as the given client sees them.
func Posts(c *model.Client4, channelID string) ([]*model.Post, error) {
	var all []*model.Post
	for page := 0; ; page++ {
		list, _, err := c.GetPostsForChannel(Ctx(), channelID, page, 200, "", false, false)
		if err != nil {
			return nil, fmt.Errorf("posts of channel %s: %w", channelID, err)
		}
		for _, id := range list.Order {
			all = append(all, list.Posts[id])
		}
		if len(list.Order) < 200 {
			break
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].CreateAt < all[j].CreateAt })
	return all, nil
}

// UserPosts drops the system messages ("pat joined the channel") from posts.
func UserPosts(posts []*model.Post) []*model.Post {
	var out []*model.Post
	for _, p := range posts {
		if !p.IsSystemMessage() {
			out = append(out, p)
		}
	}
	return out
}

// WaitUntil polls cond every 200 ms until it holds or limit passes.
func WaitUntil(limit time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Psql runs SQL on a PostgreSQL database in one transaction, with the psql tool.
func Psql(url, sql string) error {
	cmd := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-d", url, "-f", "-")
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql: %v\n%s", err, out)
	}
	return nil
}
