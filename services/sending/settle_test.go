package sending_test

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/campaigns"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/mailgun"
	"github.com/pi-crm/pi-crm/services/senders/twilio"
	"github.com/pi-crm/pi-crm/services/sending"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// providerFake is a provider's stand-in keeping what it accepted per
// recipient; lose names recipients whose answer it drops (after accepting,
// or before), once.
type providerFake struct {
	mu       sync.Mutex
	accepted map[string][]string // recipient → provider ids
	lose     map[string]bool     // recipient → accept, then drop the answer
	refuse   map[string]bool     // recipient → drop the answer without accepting
	n        int
}

func (f *providerFake) take(to string, w http.ResponseWriter) (id string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse[to] {
		delete(f.refuse, to)
		hijackClose(w)
		return "", false
	}
	f.n++
	id = "id" + strings.Repeat("0", 3) + string(rune('a'+f.n%26)) + to
	f.accepted[to] = append(f.accepted[to], id)
	if f.lose[to] {
		delete(f.lose, to)
		hijackClose(w)
		return "", false
	}
	return id, true
}

func (f *providerFake) count(to string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.accepted[to])
}

func hijackClose(w http.ResponseWriter) {
	conn, _, _ := w.(http.Hijacker).Hijack()
	conn.Close()
}

// crashScenario: c1's answer is lost after the provider took it, c2's
// before; c3 is sent, then the server "crashes" with its row "sending"
// (the state a kill -9 during the call leaves). Passes settle all three
// through the provider's look-up: c1 and c3 sent once (found, not sent
// again), c2 queued again and sent once.
func crashScenario(t *testing.T, w *world, camp *core.Record, f *providerFake, open sending.OpenFunc, addr func(i int) string) {
	e := w.engine(open, func(o *sending.Options) { o.SettleAfter = time.Minute })
	f.lose = map[string]bool{addr(1): true}
	f.refuse = map[string]bool{addr(2): true}
	w.drain(e, camp.Id, 10)
	// the crash: c3's row back to "sending" and its timeline entry gone
	// (both are written in the transaction that records the send), the
	// campaign still sending
	if _, err := w.env.App.DB().NewQuery(`UPDATE campaign_deliveries SET status = 'sending', provider_message_id = '' WHERE address = {:a}`).
		Bind(dbx.Params{"a": addr(3)}).Execute(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.env.App.DB().NewQuery(`DELETE FROM communication_logs WHERE campaign = {:c} AND contact IN
		(SELECT contact FROM campaign_deliveries WHERE address = {:a})`).Bind(dbx.Params{"c": camp.Id, "a": addr(3)}).Execute(); err != nil {
		t.Fatal(err)
	}
	w.setStatus(camp.Id, "sending")
	e2 := w.engine(open, func(o *sending.Options) { o.SettleAfter = time.Minute })
	w.clock.Advance(time.Hour)
	w.drain(e2, camp.Id, 10)
	for i := 0; i < 5; i++ {
		if n := f.count(addr(i)); n != 1 {
			t.Errorf("%s accepted %d times", addr(i), n)
		}
	}
	var rows []struct {
		Address string `db:"address"`
		Status  string `db:"status"`
		PID     string `db:"provider_message_id"`
	}
	if err := w.env.App.DB().NewQuery("SELECT address, status, provider_message_id FROM campaign_deliveries WHERE campaign = {:c}").
		Bind(dbx.Params{"c": camp.Id}).All(&rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Status != "sent" || r.PID == "" {
			t.Errorf("%s: %s %q", r.Address, r.Status, r.PID)
		}
		if want := f.accepted[r.Address]; len(want) == 1 && !strings.Contains(r.PID, strings.TrimPrefix(want[0], "<")) {
			t.Errorf("%s: id %q, the provider has %v", r.Address, r.PID, want)
		}
	}
	// one outbound timeline entry each: the settled ones (c1, c3) too
	var entries []struct {
		Address string `db:"address"`
		N       int    `db:"n"`
	}
	if err := w.env.App.DB().NewQuery(`SELECT d.address, (SELECT count(*) FROM communication_logs l WHERE l.campaign = d.campaign
		AND l.contact = d.contact AND l.direction = 'outbound') AS n FROM campaign_deliveries d WHERE d.campaign = {:c}`).
		Bind(dbx.Params{"c": camp.Id}).All(&entries); err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if en.N != 1 {
			t.Errorf("%s: %d timeline entries", en.Address, en.N)
		}
	}
	if st, _, c := w.status(camp.Id); st != "sent" || c["sent"] != 5 || c["unknown"] != 0 {
		t.Errorf("campaign %s %v", st, c)
	}
}

// A campaign through the Mailgun sender (mailgun-go against a fake that
// speaks Mailgun's messages and events API) with lost answers and a
// crash-left row, settled by the look-up of our v:picrm_delivery.
func TestSettleThroughMailgun(t *testing.T) {
	w := newWorld(t)
	w.contacts(5, nil)
	camp := w.campaign("mailgun")
	f := &providerFake{accepted: map[string][]string{}}
	byDelivery := map[string]string{} // delivery id → recipient
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			form := map[string]string{}
			mr := multipart.NewReader(r.Body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(p)
				form[p.FormName()] = string(b)
			}
			f.mu.Lock()
			byDelivery[form["v:picrm_delivery"]] = form["to"]
			f.mu.Unlock()
			id, ok := f.take(form["to"], rw)
			if ok {
				_, _ = io.WriteString(rw, `{"id":"<`+id+`>","message":"Queued. Thank you."}`)
			}
			return
		}
		// GET /v3/{domain}/events?user-variables={"picrm_delivery":…}
		var vars map[string]string
		_ = json.Unmarshal([]byte(r.URL.Query().Get("user-variables")), &vars)
		f.mu.Lock()
		to := byDelivery[vars["picrm_delivery"]]
		ids := f.accepted[to]
		f.mu.Unlock()
		items := ""
		if len(ids) > 0 && r.URL.Query().Get("page") == "" {
			items = `{"event":"accepted","id":"e","timestamp":1.0,"message":{"headers":{"message-id":"` + ids[0] + `"}}}`
		}
		_, _ = io.WriteString(rw, `{"items":[`+items+`],"paging":{"next":"https://api.mailgun.net/v3/d/events?page=2"}}`)
	}))
	t.Cleanup(srv.Close)
	open := func(_ core.App, _ string, _ string) (senders.Sender, senders.Limits, error) {
		s, err := mailgun.New(mailgun.Config{Domain: "mg.example.com", APIKey: "k", BaseURL: srv.URL, From: "news@mg.example.com", Now: w.clock.Now})
		return s, senders.Limits{Concurrency: 2}, err
	}
	crashScenario(t, w, camp, f, open, func(i int) string { return "c" + string(rune('0'+i)) + "@example.com" })
}

// The same through the Twilio sender (twilio-go against a fake of the
// Messages API): the look-up lists the messages to the recipient.
func TestSettleThroughTwilio(t *testing.T) {
	w := newWorld(t)
	for i := 0; i < 5; i++ {
		w.env.Create("contacts", map[string]any{"workspace": w.ws.Id, "first_name": "S", "primary_phone": "+1415555010" + string(rune('0'+i))})
	}
	snap := campaigns.Snapshot{Channel: "sms", Provider: "twilio",
		Template: campaigns.SnapshotTemplate{ID: "t1", Name: "T", Channel: "sms", BodyText: "Hi {{first_name}}"}}
	hash, _ := snap.Hash()
	b, _ := json.Marshal(snap)
	camp := w.env.Create("campaigns", map[string]any{"workspace": w.ws.Id, "name": "SMS", "type": "sms", "status": "sending",
		"provider": "twilio", "snapshot": string(b), "snapshot_hash": hash})
	f := &providerFake{accepted: map[string][]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rw.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			if id, ok := f.take(r.Form.Get("To"), rw); ok {
				rw.WriteHeader(201)
				_, _ = io.WriteString(rw, `{"sid":"`+id+`","status":"queued"}`)
			}
			return
		}
		to := r.Form.Get("To")
		f.mu.Lock()
		var msgs []string
		for _, id := range f.accepted[to] {
			msgs = append(msgs, `{"sid":"`+id+`","from":"+15017122661","to":"`+to+`","direction":"outbound-api"}`)
		}
		f.mu.Unlock()
		_, _ = io.WriteString(rw, `{"messages":[`+strings.Join(msgs, ",")+`],"next_page_uri":null}`)
	}))
	t.Cleanup(srv.Close)
	open := func(_ core.App, _ string, _ string) (senders.Sender, senders.Limits, error) {
		s, err := twilio.New(twilio.Config{AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: "tok", FromNumber: "+15017122661",
			BaseURL: srv.URL, Now: w.clock.Now})
		return s, senders.Limits{Concurrency: 1}, err
	}
	crashScenario(t, w, camp, f, open, func(i int) string { return "+1415555010" + string(rune('0'+i)) })
}
