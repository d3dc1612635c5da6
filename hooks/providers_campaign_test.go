package hooks_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/prismtest"
	"github.com/pi-crm/pi-crm/internal/providerfake/gmailfake"
	"github.com/pi-crm/pi-crm/internal/providerfake/graphfake"
	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/providers"
	"github.com/pocketbase/dbx"
)

// providerWorld is a workspace whose admin configures remote providers
// through the API, pointed at their test servers: Prism serving Mailgun's
// and Twilio's documents, the wire-checking fakes of Gmail and Graph.
type providerWorld struct {
	*crmFixture
	admin, adminTok  string
	gmail            *gmailfake.Fake
	graph            *graphfake.Fake
	emailTpl, smsTpl string
	contacts         map[string]string // email or phone → contact id
}

func newProviderWorld(t *testing.T) *providerWorld {
	t.Helper()
	gm := gmailfake.New(t)
	gm.Grant(gmailfake.ScopeSend, gmailfake.ScopeReadonly)
	gr := graphfake.New(t)
	// Graph's fake is TLS (the SDKs send tokens over https): its client
	// trusts it, and carries the plain http of the others too
	env := testutil.NewWithConfig(t, hooks.Config{Providers: providers.Options{HTTPClient: gr.Srv.Client()}})
	w := &providerWorld{crmFixture: newCRMOn(env), gmail: gm, graph: gr, contacts: map[string]string{}}
	admin, tok := env.User("admin@example.com")
	w.admin, w.adminTok, w.tok["admin"] = admin.Id, tok, tok
	env.Create("workspace_members", map[string]any{"workspace": w.w.Id, "user": admin.Id, "role": "admin"})
	w.emailTpl = mustStatus(t, env.Do(http.MethodPost, templatesURL, w.tok["editor"], map[string]any{"workspace": w.w.Id,
		"name": "Spring", "channel": "email", "subject": "Hi {{first_name}}", "body_html": "<p>Spring sale, {{first_name}}</p>"}), 200, "")["id"].(string)
	w.smsTpl = mustStatus(t, env.Do(http.MethodPost, templatesURL, w.tok["editor"], map[string]any{"workspace": w.w.Id,
		"name": "Spring SMS", "channel": "sms", "body_text": "Spring sale, {{first_name}}"}), 200, "")["id"].(string)
	for _, c := range []struct{ name, email, phone string }{{"Ada", "ada@example.com", "+14155550101"}, {"Bob", "bob@example.com", "+14155550102"}} {
		id := mustStatus(t, w.post(t, "editor", map[string]any{"workspace": w.w.Id, "first_name": c.name, "primary_email": c.email,
			"primary_phone": c.phone}), 200, "")["id"].(string)
		w.contacts[c.email], w.contacts[c.phone] = id, id
	}
	return w
}

// configure PUTs a provider's settings as the admin.
func (w *providerWorld) configure(t *testing.T, name string, body map[string]any) map[string]any {
	t.Helper()
	return mustStatus(t, w.env.Do(http.MethodPut, "/api/crm/workspaces/"+w.w.Id+"/providers/"+name, w.adminTok, body), 200, "")
}

// send creates a campaign naming provider, has the editor submit it, the
// admin approve it (four-eyes) and the editor send it, and waits for the
// engine.
func (w *providerWorld) send(t *testing.T, provider, channel string) string {
	t.Helper()
	tpl := w.emailTpl
	if channel == "sms" {
		tpl = w.smsTpl
	}
	id := mustStatus(t, w.env.Do(http.MethodPost, campaignsURL, w.tok["editor"], map[string]any{"workspace": w.w.Id,
		"name": "Spring via " + provider, "type": channel, "template": tpl, "provider": provider}), 200, "")["id"].(string)
	act := func(who, action string) {
		t.Helper()
		mustStatus(t, w.env.Do(http.MethodPost, "/api/crm/campaigns/"+id+"/"+action, w.tok[who], nil), 200, "")
	}
	act("editor", "submit")
	act("admin", "approve")
	act("editor", "send")
	w.wait(t)
	return id
}

func (w *providerWorld) wait(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := hooks.SendingEngine(w.env.App).WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

type ledgerRow struct {
	ID       string `db:"id"`
	Contact  string `db:"contact"`
	Address  string `db:"address"`
	Status   string `db:"status"`
	PID      string `db:"provider_message_id"`
	Attempts int    `db:"attempts"`
	Error    string `db:"error"`
}

func (w *providerWorld) ledger(t *testing.T, campaign string) []ledgerRow {
	t.Helper()
	var rows []ledgerRow
	if err := w.env.App.DB().NewQuery(`SELECT id, contact, address, status, provider_message_id, attempts, error FROM campaign_deliveries
		WHERE campaign = {:c} ORDER BY address`).Bind(dbx.Params{"c": campaign}).All(&rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

// checkSent holds the campaign to what a finished send leaves: status sent,
// the counters, every ledger row sent once with the provider's id, one
// outbound timeline entry per contact naming the campaign.
func (w *providerWorld) checkSent(t *testing.T, campaign, channel string, n int) []ledgerRow {
	t.Helper()
	rows := w.checkFinished(t, campaign, channel, n)
	for _, r := range rows {
		if r.Attempts != 1 || r.Error != "" {
			t.Errorf("ledger row %+v", r)
		}
	}
	return rows
}

// checkFinished is checkSent without the rows' attempts and errors (a
// settled row has its own).
func (w *providerWorld) checkFinished(t *testing.T, campaign, channel string, n int) []ledgerRow {
	t.Helper()
	rec, err := w.env.App.FindRecordById("campaigns", campaign)
	if err != nil {
		t.Fatal(err)
	}
	var counters map[string]int
	_ = json.Unmarshal([]byte(rec.GetString("counters")), &counters)
	if rec.GetString("status") != "sent" || counters["sent"] != n || counters["total"] != n || counters["unknown"] != 0 || counters["failed"] != 0 {
		t.Fatalf("campaign %s (%s) %v", rec.GetString("status"), rec.GetString("status_reason"), counters)
	}
	rows := w.ledger(t, campaign)
	if len(rows) != n {
		t.Fatalf("%d ledger rows", len(rows))
	}
	for _, r := range rows {
		if r.Status != "sent" || r.PID == "" {
			t.Errorf("ledger row %+v", r)
		}
		var entries int
		if err := w.env.App.DB().NewQuery(`SELECT count(*) FROM communication_logs WHERE campaign = {:c} AND contact = {:k}
			AND type = {:t} AND direction = 'outbound' AND status = 'sent' AND content LIKE '%Spring%'`).
			Bind(dbx.Params{"c": campaign, "k": r.Contact, "t": channel}).Row(&entries); err != nil {
			t.Fatal(err)
		}
		if entries != 1 {
			t.Errorf("%s: %d timeline entries", r.Address, entries)
		}
	}
	return rows
}

// messageID is the Message-ID the engine gives a delivery (send.go: the
// Application URL's host).
func (w *providerWorld) messageID(delivery, campaign string) string {
	host := "pi-crm.local"
	if u, err := url.Parse(w.env.App.Settings().Meta.AppURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return "<" + delivery + "." + campaign + "@" + host + ">"
}

// A campaign sent through each of the four providers' test servers from
// the API: configured by PUT …/providers/{name} with base_url, created
// naming the provider, submitted, approved by an admin, sent; the engine
// finishes it and each provider got exactly our messages — Mailgun (Prism
// validating every request against its document) our delivery id in
// v:picrm_delivery, Gmail and Graph our Message-ID in the RFC 2822 message
// after their token exchanges, Twilio (Prism) one message per number.
func TestCampaignThroughEachProvider(t *testing.T) {
	w := newProviderWorld(t)
	mg := prismtest.Start(t, "mailgun_messages.trimmed.yaml")
	tw := prismtest.Start(t, "twilio_messages.trimmed.json")

	t.Run("mailgun", func(t *testing.T) {
		w.configure(t, "mailgun", map[string]any{"from": "news@mg.example.com", "domain": "mg.example.com", "region": "eu",
			"api_key": "key-e2e", "base_url": mg.URL})
		id := w.send(t, "mailgun", "email")
		rows := w.checkSent(t, id, "email", 2)
		if v := mg.Violations(); len(v) > 0 {
			t.Errorf("Mailgun's document rejects a request: %v", v)
		}
		var posts []prismtest.Request
		for _, r := range mg.Received() {
			if r.Method == http.MethodPost && r.Path == "/v3/mg.example.com/messages" {
				posts = append(posts, r)
			}
		}
		if len(posts) != 2 {
			t.Fatalf("Mailgun got %d messages: %v", len(posts), mg.Requests())
		}
		for _, r := range rows {
			found := 0
			for _, p := range posts {
				b := string(p.Body)
				if strings.Contains(b, r.ID) && strings.Contains(b, r.Address) && strings.Contains(b, w.messageID(r.ID, id)) {
					found++
				}
			}
			if found != 1 {
				t.Errorf("%s: delivery %s in %d of Mailgun's requests", r.Address, r.ID, found)
			}
		}
	})

	t.Run("gmail", func(t *testing.T) {
		w.configure(t, "gmail", map[string]any{"service_account_json": w.gmail.ServiceAccountJSON(), "delegated_user": "anna@shop.example",
			"base_url": w.gmail.Srv.URL})
		id := w.send(t, "gmail", "email")
		rows := w.checkSent(t, id, "email", 2)
		sent := w.gmail.Sent()
		if len(sent) != 2 || w.gmail.Calls("POST /token") == 0 {
			t.Fatalf("Gmail got %d messages after %d token exchanges", len(sent), w.gmail.Calls("POST /token"))
		}
		for _, r := range rows {
			found := 0
			for _, m := range sent {
				if m.Msg.Header.Get("Message-Id") == w.messageID(r.ID, id) && m.Msg.Header.Get("X-PiCRM-Delivery") == r.ID &&
					strings.Contains(m.Msg.Header.Get("To"), r.Address) && r.PID == m.ID {
					found++
				}
			}
			if found != 1 {
				t.Errorf("%s: delivery %s in %d of Gmail's messages", r.Address, r.ID, found)
			}
		}
	})

	t.Run("microsoft365", func(t *testing.T) {
		w.configure(t, "microsoft365", map[string]any{"tenant_id": w.graph.Tenant, "client_id": w.graph.ClientID,
			"client_secret": w.graph.Secret, "sender": w.graph.Mailbox, "base_url": w.graph.Srv.URL, "rate_per_second": 20})
		id := w.send(t, "microsoft365", "email")
		rows := w.checkSent(t, id, "email", 2)
		sent := w.graph.Sent()
		if len(sent) != 2 || w.graph.Tokens() == 0 || w.graph.Gzipped() != 2 {
			t.Fatalf("Graph got %d messages, %d tokens, %d gzipped", len(sent), w.graph.Tokens(), w.graph.Gzipped())
		}
		for _, r := range rows {
			found := 0
			for _, m := range sent {
				if m.MsgID == w.messageID(r.ID, id) && m.To == r.Address && m.MIME != nil && m.MIME.Header.Get("X-PiCRM-Delivery") == r.ID {
					found++
				}
			}
			if found != 1 {
				t.Errorf("%s: delivery %s in %d of Graph's sent items", r.Address, r.ID, found)
			}
		}
	})

	t.Run("twilio", func(t *testing.T) {
		w.configure(t, "twilio", map[string]any{"account_sid": "AC" + hex32, "auth_token": "twilioE2Etoken", "from_number": "+15017122661",
			"base_url": tw.URL})
		id := w.send(t, "twilio", "sms")
		rows := w.checkSent(t, id, "sms", 2)
		if v := tw.Violations(); len(v) > 0 {
			t.Errorf("Twilio's document rejects a request: %v", v)
		}
		var posts []prismtest.Request
		for _, r := range tw.Received() {
			if r.Method == http.MethodPost && r.Path == "/2010-04-01/Accounts/AC"+hex32+"/Messages.json" {
				posts = append(posts, r)
			}
		}
		if len(posts) != 2 {
			t.Fatalf("Twilio got %d messages: %v", len(posts), tw.Requests())
		}
		for _, r := range rows {
			found := 0
			for _, p := range posts {
				form, _ := url.ParseQuery(string(p.Body))
				if form.Get("To") == r.Address && form.Get("From") == "+15017122661" && strings.HasPrefix(form.Get("Body"), "Spring sale, ") &&
					strings.HasSuffix(form.Get("StatusCallback"), "/api/crm/webhooks/twilio/"+w.w.Id) {
					found++
				}
			}
			if found != 1 {
				t.Errorf("%s: in %d of Twilio's requests", r.Address, found)
			}
			if auth := posts[0].Header.Get("Authorization"); auth != "Basic "+base64.StdEncoding.EncodeToString([]byte("AC"+hex32+":twilioE2Etoken")) {
				t.Errorf("Twilio auth %q", auth)
			}
		}
	})
}
