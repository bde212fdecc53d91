package hosttest

// Issue 13: reading posts back (what exactly-once delivery needs) must survive the way Go's
// gob splits a reply. When an interface value in Props has a type not yet sent on the API
// stream, Go ends the message after the map's element count to send the type definition, and
// the entries go on in the next message. Here the shape — many posts, typed Slack
// attachments and []any props first sent inside Props — goes through GetPost, one post per
// reply, on one API stream; runtime_api_test.go reads the same posts in one GetPostsSince
// reply.

import (
	"fmt"
	"testing"

	"github.com/mattermost/mattermost/server/public/model"
)

// seededPost is what the test put in the store and expects to read back.
type seededPost struct {
	id       string
	slack    bool // typed []*model.SlackAttachment in Props
	anyProps int  // number of []any props
}

// seedPosts stores n posts through the server's own API (as other plugins and webhooks
// create them): every third post with typed Slack attachments, the first one with 50 []any
// props, so the first reply's Props count (51) exceeds the bytes before the split.
func seedPosts(t *testing.T, f *fixture, n int) []seededPost {
	t.Helper()
	api := f.srv.NewAPI(&model.Manifest{Id: "seeder"})
	var out []seededPost
	for i := 0; i < n; i++ {
		p := &model.Post{UserId: f.alice.Id, ChannelId: f.channel.Id,
			Message: fmt.Sprintf("row %d changed: %s", i, longText(i)), Props: model.StringInterface{}}
		s := seededPost{}
		if i == 0 {
			s.anyProps = 50
			for k := 0; k < s.anyProps; k++ {
				p.Props[fmt.Sprintf("p%02d", k)] = []any{"x", int64(k), map[string]any{"k": k}}
			}
		}
		if i%3 == 0 {
			s.slack = true
			p.Props["attachments"] = []*model.SlackAttachment{{
				Color: "#ff0000", Title: fmt.Sprintf("row %d", i), Text: "body",
				Fields: []*model.SlackAttachmentField{{Title: "Rows", Value: i, Short: true}, {Title: "Note", Value: "x"}},
			}}
		}
		created, appErr := api.CreatePost(p)
		if appErr != nil {
			t.Fatalf("seed post %d: %v", i, appErr)
		}
		s.id = created.Id
		out = append(out, s)
	}
	return out
}

func longText(i int) string {
	b := make([]byte, 200+i%50)
	for j := range b {
		b[j] = 'a' + byte((i+j)%26)
	}
	return string(b)
}

func TestProbeReadsBackPostsWithAttachments(t *testing.T) {
	f := newProbe(t, nil)
	seeded := seedPosts(t, f, 200)
	for i, s := range seeded {
		var got model.Post
		f.ok("GetPost", map[string]any{"postId": s.id}, &got)
		if got.Id != s.id || got.Message == "" {
			t.Fatalf("post %d: got %+v", i, &got)
		}
		atts := got.Attachments()
		if s.slack {
			if len(atts) != 1 || atts[0].Title != fmt.Sprintf("row %d", i) || len(atts[0].Fields) != 2 ||
				fmt.Sprint(atts[0].Fields[0].Value) != fmt.Sprint(i) || atts[0].Fields[1].Value != "x" {
				t.Fatalf("post %d: attachments %+v", i, atts)
			}
		} else if len(atts) != 0 {
			t.Fatalf("post %d: unexpected attachments %+v", i, atts)
		}
		for k := 0; k < s.anyProps; k++ {
			v, ok := got.GetProp(fmt.Sprintf("p%02d", k)).([]any)
			if !ok || len(v) != 3 || v[0] != "x" || fmt.Sprint(v[1]) != fmt.Sprint(k) {
				t.Fatalf("post %d: prop p%02d = %#v", i, k, got.GetProp(fmt.Sprintf("p%02d", k)))
			}
		}
	}
	if n := f.srv.APICalls("GetPost"); n != len(seeded) {
		t.Fatalf("GetPost reached the server %d times, want %d", n, len(seeded))
	}
}
