package e2e

// The five stories of product.md on the real server, from the demo's own files: the
// SQLite warehouse built from assets/demo/schema.sql, the syncs of assets/demo/demo.toml
// (every schedule "every 10s"), the changes of assets/demo/steps.sql.
// Posts are read through the REST API as the users they are meant for.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"datasync/tests/e2e/harness"

	"github.com/mattermost/mattermost/server/public/model"
)

const storiesCSV = `id,name,account,amount,stage,ae_email
101,Acme renewal 2027,Acme Corp,180000,negotiation,dan.ng@example.com
102,Globex analytics add-on,Globex,42000,proposal,eve.ross@example.com
103,Initech enterprise,Initech,95000,discovery,dan.ng@example.com
104,Umbrella pilot,Umbrella Health,18500,proposal,eve.ross@example.com
105,Stark global rollout,Stark Logistics,410000,negotiation,dan.ng@example.com
`

// demoDocument is assets/demo/demo.toml with every schedule "every 10s" (the shortest
// allowed; the reports' cron times cannot be waited for), all five syncs and
// the two "changes" syncs alone.
func demoDocument(t *testing.T) (all, changes string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "assets", "demo", "demo.toml"))
	must(t, err)
	all = regexp.MustCompile(`(?m)^(schedule|cron) = ".*"$`).ReplaceAllString(string(data), `schedule = "every 10s"`)
	all = regexp.MustCompile(`(?m)^timezone = ".*"\n`).ReplaceAllString(all, "")
	cut := strings.Index(all, "[syncs.daily_signups]")
	if cut < 0 {
		t.Fatal("demo.toml has no [syncs.daily_signups]")
	}
	return all, all[:cut]
}

// sqlite runs SQL on the demo database with the sqlite3 command-line tool.
func sqlite(t *testing.T, db, sql string) {
	t.Helper()
	cmd := exec.Command("sqlite3", "-bail", db)
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
}

// demoSteps is assets/demo/steps.sql cut at its "-- step:" lines.
func demoSteps(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "assets", "demo", "steps.sql"))
	must(t, err)
	parts := regexp.MustCompile(`(?m)^-- step:.*$`).Split(string(data), -1)
	if len(parts) != 4 {
		t.Fatalf("steps.sql has %d steps, want 3", len(parts)-1)
	}
	return parts[1:]
}

func TestDataSyncStories(t *testing.T) {
	bot := dataSync(t)
	mark := logMark(t)
	db := filepath.Join(t.TempDir(), "demo.db")
	schema, err := os.ReadFile(filepath.Join(repoRoot(), "assets", "demo", "schema.sql"))
	must(t, err)
	sqlite(t, db, string(schema))
	all, changesOnly := demoDocument(t)
	secrets := "DATASYNC_DEMO_DB=" + db

	cs, err := site.Channel("customer-success", "ann", "bob", "cara")
	must(t, err)
	growth, err := site.Channel("growth", "pat")
	must(t, err)
	product, err := site.Channel("product", "pat")
	must(t, err)
	salesOps, err := site.Channel("sales-ops", "pat")
	must(t, err)
	// Each account executive reads their DMs with the bot as themselves.
	dm := map[string]string{}
	for _, name := range []string{"dan", "eve", "ann"} {
		u := site.Users[name]
		c, _, err := u.Client.CreateDirectChannel(harness.Ctx(), u.User.Id, bot.Id)
		must(t, err)
		dm[name] = c.Id
	}
	dmPosts := func(name string) []*model.Post {
		t.Helper()
		ps, err := harness.Posts(site.Users[name].Client, dm[name])
		must(t, err)
		return harness.UserPosts(ps)
	}
	changes := []string{"usage_drop", "big_deals"}
	reports := []string{"daily_signups", "feature_adoption", "weekly_export"}

	configure(t, all, secrets, nil)
	for _, s := range append(append([]string{}, changes...), reports...) {
		r := waitRuns(t, s, 1, time.Minute)[0]
		if r.Get("ok") != "true" || r.Get("baseline") != fmt.Sprint(s == "usage_drop" || s == "big_deals") {
			t.Fatalf("first run of %s: %v", s, r)
		}
	}
	// From now on only the two changes syncs run.
	configure(t, changesOnly, secrets, nil)
	reportRuns := map[string]int{}
	for _, s := range reports {
		reportRuns[s] = len(runs(t, s))
	}
	if got := channelPosts(t, cs.Id); len(got) != 0 {
		t.Fatalf("the baseline of usage_drop posted %q", messages(got))
	}
	for name := range dm {
		if got := dmPosts(name); len(got) != 0 {
			t.Fatalf("the baseline of big_deals sent %s %q", name, messages(got))
		}
	}

	// Story 3: the sign-up table, yesterday vs the same day last month, read by pat.
	signups := waitPosts(t, site.Users["pat"].Client, growth.Id, 1)
	table := signups[0].Message
	for _, want := range []string{
		"| Plan | Yesterday | Same day last month | Change |\n| --- | --- | --- | --- |",
		"| Free | 10 | 12 | -17 % |", "| Team | 9 | 3 | 200 % |", "| Enterprise | 4 | 2 | 100 % |",
	} {
		if !strings.Contains(table, want) {
			t.Fatalf("the sign-up table lacks %q:\n%s", want, table)
		}
	}
	if signups[0].UserId != bot.Id || !strings.HasSuffix(table, "Total: 23") {
		t.Fatalf("the sign-up table's author %s or footer:\n%s", signups[0].UserId, table)
	}

	// Story 4: 45 accounts, 20 per message, in order.
	digest := waitPosts(t, site.Users["pat"].Client, product.Id, 3)
	for i, want := range []int{20, 20, 5} {
		m := digest[i].Message
		if n := strings.Count(m, "\n- "); n != want || !strings.HasPrefix(m, fmt.Sprintf("**Insights adoption**, part %d of 3", i+1)) {
			t.Fatalf("digest part %d (%d rows; want %d):\n%s", i+1, n, want, m)
		}
	}

	// Story 5: the CSV export, attached and downloadable by a member of the channel.
	export := waitPosts(t, site.Users["pat"].Client, salesOps.Id, 1)
	if export[0].Message != "Weekly deal export: 5 deals." || len(export[0].FileIds) != 1 {
		t.Fatalf("the export post: %q with files %v", export[0].Message, export[0].FileIds)
	}
	pat := site.Users["pat"].Client
	info, _, err := pat.GetFileInfo(harness.Ctx(), export[0].FileIds[0])
	must(t, err)
	data, _, err := pat.GetFile(harness.Ctx(), export[0].FileIds[0])
	must(t, err)
	if !regexp.MustCompile(`^deals-\d{4}-\d\d-\d\d\.csv$`).MatchString(info.Name) || info.PostId != export[0].Id || info.Size != int64(len(data)) {
		t.Fatalf("the export's file: %+v", info)
	}
	if string(data) != storiesCSV {
		t.Fatalf("the downloaded CSV:\n%s\nwant:\n%s", data, storiesCSV)
	}

	steps := demoSteps(t)
	// apply runs a step's SQL and waits until the changes syncs have delivered what it
	// caused (settle), or have run twice posting nothing (quiet).
	apply := func(step string, quiet bool) {
		t.Helper()
		before := map[string]int{}
		for _, s := range changes {
			before[s] = len(runs(t, s))
		}
		sqlite(t, db, step)
		for _, s := range changes {
			if quiet {
				quietRuns(t, s, before[s], 2, time.Minute)
			} else {
				settle(t, s, before[s], time.Minute)
			}
		}
	}
	// Step 1. Story 1: one alert per account, the owner mentioned by their real username.
	// Story 2: the deal now above 100k: a DM to its account executive, as an attachment.
	apply(steps[0], false)
	alerts := channelPosts(t, cs.Id)
	if len(alerts) != 2 {
		t.Fatalf("usage drop alerts after step 1: %q", messages(alerts))
	}
	if want := ":chart_with_downwards_trend: @bob **Globex** used 45.9 % less this week (96,120 → 52,000 events)."; alerts[0].Message != want {
		t.Fatalf("alert 1 = %q; want %q", alerts[0].Message, want)
	}
	if !strings.Contains(alerts[1].Message, "@cara **Umbrella Health** used 52.6 % less") || alerts[0].UserId != bot.Id {
		t.Fatalf("alert 2 = %q by %s", alerts[1].Message, alerts[1].UserId)
	}
	danDMs := dmPosts("dan")
	if len(danDMs) != 1 {
		t.Fatalf("DMs to dan after step 1: %q", messages(danDMs))
	}
	a0 := attachment(t, danDMs[0])
	if a0["title"] != "Deal 103: Initech enterprise" || a0["text"] != "Initech: **Initech enterprise** is above 100k." {
		t.Fatalf("dan's DM attachment: %v", a0)
	}
	if p := danDMs[0].GetProps(); p["override_username"] != "Deal Desk" || p["override_icon_emoji"] != "moneybag" {
		t.Fatalf("dan's DM sender: %v", p)
	}
	if got := dmPosts("eve"); len(got) != 0 {
		t.Fatalf("DMs to eve after step 1: %q", messages(got))
	}

	// Step 2: a recovery and a change reply in their accounts' threads; a DM to Eve.
	apply(steps[1], false)
	now := channelPosts(t, cs.Id)
	if len(now) != 5 {
		t.Fatalf("customer-success after step 2: %q", messages(now))
	}
	byText := func(prefix string) *model.Post {
		for _, x := range now[2:] {
			if strings.HasPrefix(x.Message, prefix) {
				return x
			}
		}
		t.Fatalf("no post starting %q after step 2: %q", prefix, messages(now))
		return nil
	}
	if x := byText(":white_check_mark: **Globex** has recovered."); x.RootId != alerts[0].Id {
		t.Fatalf("Globex's recovery is not in its alert's thread %s: root %q", alerts[0].Id, x.RootId)
	}
	if x := byText("Umbrella Health is now down 77.5 % (was 52.6 %)."); x.RootId != alerts[1].Id {
		t.Fatalf("Umbrella's change is not in its alert's thread %s: root %q", alerts[1].Id, x.RootId)
	}
	if x := byText(":white_check_mark: **Wayne Analytics** has recovered."); x.RootId != "" {
		t.Fatalf("Wayne's recovery (no alert before it) is a reply: root %q", x.RootId)
	}
	// The thread, read through the thread endpoint: the alert and its recovery.
	thread, _, err := site.Users["bob"].Client.GetPostThread(harness.Ctx(), alerts[0].Id, "", false)
	must(t, err)
	if len(thread.Order) != 2 {
		t.Fatalf("Globex's thread has %d posts, want 2", len(thread.Order))
	}
	if eve := dmPosts("eve"); len(eve) != 1 || attachment(t, eve[0])["text"] != "Globex: **Globex platform migration** is above 100k." {
		t.Fatalf("DMs to eve after step 2: %q", messages(eve))
	}
	if got := dmPosts("dan"); len(got) != 1 {
		t.Fatalf("DMs to dan after step 2: %q", messages(got))
	}

	// Step 3: a lost deal (no removed template) and a sub-threshold change: silence.
	apply(steps[2], true)
	if got := channelPosts(t, cs.Id); len(got) != 5 {
		t.Fatalf("step 3 posted in customer-success: %q", messages(got[5:]))
	}
	if len(dmPosts("dan")) != 1 || len(dmPosts("eve")) != 1 || len(dmPosts("ann")) != 0 {
		t.Fatal("step 3 sent a DM")
	}
	// The reports ran once each before they were removed from the configuration... or a
	// second time if a run was already under way; every run posted the same report.
	for s, c := range map[string]string{"daily_signups": growth.Id, "feature_adoption": product.Id, "weekly_export": salesOps.Id} {
		per := map[string]int{"daily_signups": 1, "feature_adoption": 3, "weekly_export": 1}[s]
		if n := len(channelPosts(t, c)); n != per*reportRuns[s] {
			t.Fatalf("%s: %d posts after %d runs", s, n, reportRuns[s])
		}
	}
	noPluginErrors(t, mark)
}

// attachment is the single message attachment of a post whose text went into it.
func attachment(t *testing.T, p *model.Post) map[string]any {
	t.Helper()
	raw, err := json.Marshal(p.GetProps()["attachments"])
	must(t, err)
	var att []map[string]any
	if err := json.Unmarshal(raw, &att); err != nil || len(att) != 1 || p.Message != "" {
		t.Fatalf("post %q: attachments %s (%v)", p.Message, raw, err)
	}
	return att[0]
}
