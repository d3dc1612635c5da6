package hooks_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/unsubscribe"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

type unsubFixture struct {
	env               *testutil.Env
	w, x              *core.Record
	contact, contactX *core.Record
	campaign, campX   *core.Record
	delivery          *core.Record
	links             *unsubscribe.Links
}

func newUnsubFixture(t *testing.T) *unsubFixture {
	env := testutil.New(t)
	s := env.App.Settings()
	s.Meta.AppURL = "https://crm.example.org/"
	if err := env.App.Save(s); err != nil {
		t.Fatal(err)
	}
	owner, _ := env.User("owner@example.com")
	other, _ := env.User("other@example.com")
	f := &unsubFixture{env: env, links: unsubscribe.NewLinks(env.App)}
	f.w = env.Workspace("Shop W", owner, nil)
	f.x = env.Workspace("Shop X", other, nil)
	f.contact = env.Create("contacts", map[string]any{"workspace": f.w.Id, "first_name": "Anna", "primary_email": "anna@example.org"})
	f.contactX = env.Create("contacts", map[string]any{"workspace": f.x.Id, "first_name": "Xena", "primary_email": "xena@example.org"})
	f.campaign = env.Create("campaigns", map[string]any{"workspace": f.w.Id, "name": "Spring", "type": "email", "status": "draft", "created_by": owner.Id})
	f.campX = env.Create("campaigns", map[string]any{"workspace": f.x.Id, "name": "X news", "type": "email", "status": "draft", "created_by": other.Id})
	f.delivery = env.Create("campaign_deliveries", map[string]any{"campaign": f.campaign.Id, "contact": f.contact.Id, "channel": "email",
		"address": "anna@example.org", "status": "sent", "attempts": 1})
	return f
}

// path of the token's link on the test server
func (f *unsubFixture) path(t *testing.T, ws, contact, campaign string) string {
	t.Helper()
	raw, err := f.links.URL(ws, contact, campaign, "email")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, "https://crm.example.org/u/") {
		t.Fatalf("url %s", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Path
}

func (f *unsubFixture) send(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.env.Server.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := f.env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s %s: content type %q", method, path, ct)
	}
	return res.StatusCode, string(b)
}

func (f *unsubFixture) counts(t *testing.T) (suppressions, entries int) {
	t.Helper()
	s, err := f.env.App.CountRecords("suppressions")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := f.env.App.DB().Select("count(*)").From("communication_logs").Where(dbx.NewExp("content LIKE '%Unsubscribed%'")).Row(&n); err != nil {
		t.Fatal(err)
	}
	return int(s), n
}

func TestUnsubscribeHeaders(t *testing.T) {
	h := unsubscribe.Headers("https://crm.example.org/u/abc")
	if len(h) != 2 || h["List-Unsubscribe"] != "<https://crm.example.org/u/abc>" || h["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
		t.Errorf("%v", h)
	}
}

// GET shows the page and changes nothing; POST (the one-click body)
// suppresses once, writes one timeline entry and marks the delivery; a
// second POST changes nothing more.
func TestUnsubscribeOneClick(t *testing.T) {
	f := newUnsubFixture(t)
	p := f.path(t, f.w.Id, f.contact.Id, f.campaign.Id)

	for i := 0; i < 2; i++ {
		status, body := f.send(t, "GET", p, "")
		if status != 200 || !strings.Contains(body, `<form method="post">`) || !strings.Contains(body, "Shop W") || strings.Contains(body, "anna@example.org") {
			t.Fatalf("GET: %d %s", status, body)
		}
	}
	if s, e := f.counts(t); s != 0 || e != 0 {
		t.Fatalf("GET changed something: %d suppressions, %d entries", s, e)
	}
	if d, _ := f.env.App.FindRecordById("campaign_deliveries", f.delivery.Id); d.GetString("reason") != "" {
		t.Fatal("GET marked the delivery")
	}

	status, body := f.send(t, "POST", p, "List-Unsubscribe=One-Click")
	if status != 200 || !strings.Contains(body, "You are unsubscribed") {
		t.Fatalf("POST: %d %s", status, body)
	}
	if s, e := f.counts(t); s != 1 || e != 1 {
		t.Fatalf("after POST: %d suppressions, %d entries", s, e)
	}
	sup, err := f.env.App.FindFirstRecordByFilter("suppressions", "workspace = {:w}", dbx.Params{"w": f.w.Id})
	if err != nil || sup.GetString("address") != "anna@example.org" || sup.GetString("channel") != "email" || sup.GetString("reason") != "unsubscribe" {
		t.Fatalf("suppression %v %v", err, sup)
	}
	entry, err := f.env.App.FindFirstRecordByFilter("communication_logs", "contact = {:c} && type = 'system' && content ~ 'Unsubscribed'", dbx.Params{"c": f.contact.Id})
	if err != nil || !strings.Contains(entry.GetString("content"), "Spring") || entry.GetString("workspace") != f.w.Id {
		t.Fatalf("timeline %v %v", err, entry)
	}
	d, _ := f.env.App.FindRecordById("campaign_deliveries", f.delivery.Id)
	if d.GetString("reason") != unsubscribe.DeliveryReason || d.GetString("status") != "sent" {
		t.Fatalf("delivery %s %s", d.GetString("status"), d.GetString("reason"))
	}

	// again (the button after the one-click, a retry): still one row
	if status, _ := f.send(t, "POST", p, ""); status != 200 {
		t.Fatalf("second POST %d", status)
	}
	if s, e := f.counts(t); s != 1 || e != 1 {
		t.Fatalf("after a second POST: %d suppressions, %d entries", s, e)
	}
	// a link without a campaign suppresses the contact's address (already)
	if status, _ := f.send(t, "POST", f.path(t, f.w.Id, f.contact.Id, ""), ""); status != 200 {
		t.Fatalf("no campaign: %d", status)
	}
	if s, _ := f.counts(t); s != 1 {
		t.Fatalf("%d suppressions", s)
	}
}

// Tampered and unknown tokens, and tokens mixing workspaces, are 404 and
// change nothing; a token of W cannot suppress in X.
func TestUnsubscribeRefused(t *testing.T) {
	f := newUnsubFixture(t)
	good := f.path(t, f.w.Id, f.contact.Id, f.campaign.Id)
	tok := strings.TrimPrefix(good, "/u/")
	parts := strings.Split(tok, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)-1] == 'A' {
			b[len(b)-1] = 'B'
		} else {
			b[len(b)-1] = 'A'
		}
		return string(b)
	}
	bad := []string{
		"/u/" + parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3] + "." + flip(parts[4]), // the MAC
		"/u/" + parts[0] + "." + f.contactX.Id + "." + parts[2] + "." + parts[3] + "." + parts[4],  // another contact, same MAC
		"/u/" + f.x.Id + "." + parts[1] + "." + parts[2] + "." + parts[3] + "." + parts[4],         // another workspace, same MAC
		"/u/" + parts[0] + "." + parts[1] + "." + parts[2] + ".s." + parts[4],                      // another channel
		"/u/" + parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[3],                        // no MAC
		"/u/nonsense",
		"/u/" + strings.Repeat("a", 300),
		// signed, but the records do not belong together
		f.path(t, f.w.Id, f.contactX.Id, ""),           // W's token naming X's contact
		f.path(t, f.x.Id, f.contact.Id, ""),            // X's token naming W's contact
		f.path(t, f.w.Id, f.contact.Id, f.campX.Id),    // W's contact with X's campaign
		f.path(t, f.w.Id, "nosuchcontact01", ""),       // unknown contact
		f.path(t, "nosuchworkspac1", f.contact.Id, ""), // unknown workspace
	}
	for _, p := range bad {
		for _, method := range []string{"GET", "POST"} {
			status, body := f.send(t, method, p, "List-Unsubscribe=One-Click")
			if status != http.StatusNotFound || !strings.Contains(body, "not valid") {
				t.Errorf("%s %s: %d", method, p, status)
			}
		}
	}
	if s, e := f.counts(t); s != 0 || e != 0 {
		t.Fatalf("refused tokens changed something: %d suppressions, %d entries", s, e)
	}
	// X's own token suppresses in X only
	if status, _ := f.send(t, "POST", f.path(t, f.x.Id, f.contactX.Id, f.campX.Id), ""); status != 200 {
		t.Fatalf("X: %d", status)
	}
	if n, _ := f.env.App.CountRecords("suppressions", dbx.HashExp{"workspace": f.w.Id}); n != 0 {
		t.Error("X's token suppressed in W")
	}
	if n, _ := f.env.App.CountRecords("suppressions", dbx.HashExp{"workspace": f.x.Id, "address": "xena@example.org"}); n != 1 {
		t.Error("X's token did not suppress in X")
	}
}

// The links are PocketBase-rate-limited: the rules exist, and a client that
// keeps POSTing is refused with 429.
func TestUnsubscribeRateLimited(t *testing.T) {
	f := newUnsubFixture(t)
	labels := map[string]bool{}
	for _, r := range f.env.App.Settings().RateLimits.Rules {
		labels[r.Label] = true
	}
	if !labels["POST /u/"] || !labels["/u/"] || !f.env.App.Settings().RateLimits.Enabled {
		t.Fatalf("rules %v", f.env.App.Settings().RateLimits.Rules)
	}
	p := f.path(t, f.w.Id, f.contact.Id, f.campaign.Id)
	limited := false
	for i := 0; i < 25 && !limited; i++ {
		req, _ := http.NewRequest("POST", f.env.Server.URL+p, nil)
		res, err := f.env.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		limited = res.StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Error("25 POSTs in a row were not rate-limited")
	}
}
