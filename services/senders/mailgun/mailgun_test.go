package mailgun_test

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/prismtest"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/mailgun"
)

func message() senders.Message {
	return senders.Message{Workspace: "ws1", CampaignID: "cmp1", DeliveryID: "dlv1", Channel: "email", To: "ann@example.org",
		From: "Shop <news@mg.example.com>", Subject: "Hello", HTML: "<p>Hi Ann</p>", Text: "Hi Ann",
		Headers:   map[string]string{"List-Unsubscribe": "<https://crm.example/u/x>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
		MessageID: "<dlv1.cmp1@crm.example>"}
}

// Against Prism serving Mailgun's own document: the SDK's request passes
// the document's validation and the answer is the document's example.
func TestSendThroughPrism(t *testing.T) {
	p := prismtest.Start(t, "mailgun_messages.trimmed.yaml")
	s, err := mailgun.New(mailgun.Config{Domain: "mg.example.com", APIKey: "key-test", Region: "eu", BaseURL: p.URL})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Send(context.Background(), message())
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderMessageID != "message-id" {
		t.Errorf("id %q, want the spec's example", res.ProviderMessageID)
	}
	if v := p.Violations(); len(v) > 0 {
		t.Errorf("the spec rejects the request: %v", v)
	}
	if r := p.Requests(); len(r) != 1 || r[0] != "POST /v3/mg.example.com/messages 200" {
		t.Errorf("requests %v", r)
	}
	// the check can fail: a form without from is a violation
	res2, err := http.Post(p.URL+"/v3/mg.example.com/messages", "application/x-www-form-urlencoded", strings.NewReader("to=a%40b.example"))
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if len(p.Violations()) == 0 {
		t.Errorf("prism let a send without from pass (%d)", res2.StatusCode)
	}
}

// fake is a Mailgun stand-in recording each request's form.
type fake struct {
	mu    sync.Mutex
	forms []map[string][]string
	hosts []string
	srv   *httptest.Server
	reply func(w http.ResponseWriter, r *http.Request)
}

func newFake(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) *fake {
	f := &fake{reply: reply}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form := map[string][]string{}
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && params["boundary"] != "" {
			mr := multipart.NewReader(r.Body, params["boundary"])
			for {
				part, err := mr.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(part)
				form[part.FormName()] = append(form[part.FormName()], string(b))
			}
		}
		if u, p, ok := r.BasicAuth(); ok {
			form["_auth"] = []string{u + ":" + p}
		}
		form["_path"] = []string{r.URL.Path}
		form["_query"] = []string{r.URL.RawQuery}
		f.mu.Lock()
		f.forms = append(f.forms, form)
		f.hosts = append(f.hosts, r.Host)
		f.mu.Unlock()
		f.reply(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) sender(t *testing.T, now func() time.Time) *mailgun.Sender {
	s, err := mailgun.New(mailgun.Config{Domain: "mg.example.com", APIKey: "key-test", BaseURL: f.srv.URL, From: "news@mg.example.com", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func okReply(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"<20261201.abc@mg.example.com>","message":"Queued. Thank you."}`)
}

// The wire: our delivery id, campaign and workspace in v: variables, our
// Message-ID and the unsubscribe headers in h:, the key in basic auth.
func TestSendWire(t *testing.T) {
	f := newFake(t, okReply)
	res, err := f.sender(t, nil).Send(context.Background(), message())
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderMessageID != "20261201.abc@mg.example.com" {
		t.Errorf("id %q", res.ProviderMessageID)
	}
	form := f.forms[0]
	for k, want := range map[string]string{"_path": "/v3/mg.example.com/messages", "_auth": "api:key-test", "to": "ann@example.org",
		"from": "Shop <news@mg.example.com>", "subject": "Hello", "html": "<p>Hi Ann</p>", "text": "Hi Ann",
		"v:picrm_delivery": "dlv1", "v:picrm_campaign": "cmp1", "v:picrm_workspace": "ws1",
		"h:Message-Id": "<dlv1.cmp1@crm.example>", "h:List-Unsubscribe": "<https://crm.example/u/x>",
		"h:List-Unsubscribe-Post": "List-Unsubscribe=One-Click"} {
		if got := strings.Join(form[k], ","); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// The region picks Mailgun's host; base_url replaces it.
func TestRegionHost(t *testing.T) {
	for region, host := range map[string]string{"us": "api.mailgun.net", "eu": "api.eu.mailgun.net", "": "api.mailgun.net"} {
		var got string
		hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			got = r.URL.Host
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(`{"id":"<x@y>","message":"Queued"}`)), Request: r}, nil
		})}
		s, err := mailgun.New(mailgun.Config{Domain: "mg.example.com", APIKey: "k", Region: region, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Send(context.Background(), message()); err != nil || got != host {
			t.Errorf("region %q: host %q, %v", region, got, err)
		}
	}
	if _, err := mailgun.New(mailgun.Config{Domain: "d", APIKey: "k", Region: "asia"}); err == nil {
		t.Error("region asia accepted")
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Errors: 429 with its Retry-After and 5xx temporary; 4xx permanent; an
// answer lost after the request unknown; a refused connection temporary.
func TestSendErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		reply      func(w http.ResponseWriter, r *http.Request)
		permanent  bool
		unknown    bool
		retryAfter time.Duration
	}{
		{"429", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "7")
			http.Error(w, `{"message":"rate limited"}`, http.StatusTooManyRequests)
		}, false, false, 7 * time.Second},
		{"503", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }, false, false, 0},
		{"400", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"message":"'to' parameter is not a valid address"}`, http.StatusBadRequest)
		}, true, false, 0},
		{"401", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "Forbidden", http.StatusUnauthorized) }, true, false, 0},
		{"lost", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, false, true, 0},
	} {
		f := newFake(t, tc.reply)
		_, err := f.sender(t, nil).Send(context.Background(), message())
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		permanent, retryAfter := senders.Classify(err)
		if permanent != tc.permanent || senders.IsUnknown(err) != tc.unknown || retryAfter != tc.retryAfter {
			t.Errorf("%s: %v: permanent %v unknown %v retry-after %v", tc.name, err, permanent, senders.IsUnknown(err), retryAfter)
		}
		if strings.Contains(err.Error(), "key-test") {
			t.Errorf("%s: the error names the key: %v", tc.name, err)
		}
	}
	// nothing listens: never reached Mailgun, retried
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	s, _ := mailgun.New(mailgun.Config{Domain: "mg.example.com", APIKey: "k", BaseURL: "http://" + addr})
	_, err := s.Send(context.Background(), message())
	if permanent, _ := senders.Classify(err); err == nil || permanent || senders.IsUnknown(err) {
		t.Errorf("refused: %v", err)
	}
}

// Lookup reads the events by our v: variable: accepted → Found with
// Mailgun's id; rejected → NotFound; nothing after EventLag → NotFound,
// before it Undetermined; an error Undetermined and the error; a key that
// may not read events (401/403) Undetermined with NoReadPermission.
func TestLookup(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var items string
	status := 200
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if status != 200 {
			http.Error(w, "boom", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		page := items
		if r.URL.Query().Get("page") == "2" {
			page = ""
		}
		_, _ = io.WriteString(w, `{"items":[`+page+`],"paging":{"next":"https://api.mailgun.net/v3/mg.example.com/events?page=2"}}`)
	})
	s := f.sender(t, func() time.Time { return now })
	q := senders.Query{DeliveryID: "dlv1", To: "ann@example.org", Since: now.Add(-time.Hour)}

	items = `{"event":"accepted","id":"e1","timestamp":1764590400.1,"message":{"headers":{"message-id":"20261201.abc@mg.example.com"}},"user-variables":{"picrm_delivery":"dlv1"}}`
	res, err := s.Lookup(context.Background(), q)
	if err != nil || res.Outcome != senders.Found || res.ProviderMessageID != "20261201.abc@mg.example.com" {
		t.Fatalf("accepted: %+v %v", res, err)
	}
	query := f.forms[0]["_query"][0]
	var vars map[string]string
	if v := queryValue(query, "user-variables"); json.Unmarshal([]byte(v), &vars) != nil || vars["picrm_delivery"] != "dlv1" {
		t.Errorf("query %s", query)
	}
	if queryValue(query, "begin") == "" || queryValue(query, "ascending") != "yes" {
		t.Errorf("query %s", query)
	}

	items = `{"event":"rejected","id":"e2","timestamp":1764590400.1,"reject":{"reason":"x"},"message":{"headers":{}}}`
	if res, _ := s.Lookup(context.Background(), q); res.Outcome != senders.NotFound {
		t.Errorf("rejected: %+v", res)
	}
	items = ""
	if res, _ := s.Lookup(context.Background(), q); res.Outcome != senders.NotFound {
		t.Errorf("nothing, an hour later: %+v", res)
	}
	q.Since = now.Add(-time.Minute)
	if res, _ := s.Lookup(context.Background(), q); res.Outcome != senders.Undetermined || !strings.Contains(res.Reason, "too recent") {
		t.Errorf("nothing, a minute later: %+v", res)
	}
	status = 500
	if res, err := s.Lookup(context.Background(), q); err == nil || res.Outcome != senders.Undetermined || res.Reason == "" || res.NoReadPermission {
		t.Errorf("500: %+v %v", res, err)
	}
	// a sending key: 401 on events
	status = 401
	if res, err := s.Lookup(context.Background(), q); err != nil || res.Outcome != senders.Undetermined || !res.NoReadPermission ||
		res.Reason != mailgun.ReasonNoReadPermission {
		t.Errorf("401: %+v %v", res, err)
	}
}

func queryValue(raw, key string) string {
	for _, kv := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k == key {
			u, _ := urlUnescape(v)
			return u
		}
	}
	return ""
}

func urlUnescape(s string) (string, error) { return url.QueryUnescape(s) }
