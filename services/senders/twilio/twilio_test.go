package twilio_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/prismtest"
	"github.com/pi-crm/pi-crm/services/senders"
	"github.com/pi-crm/pi-crm/services/senders/twilio"
)

const (
	sid   = "AC0123456789abcdef0123456789abcdef"
	token = "authtoken0123"
)

func sms(text string) senders.Message {
	return senders.Message{Workspace: "ws1", CampaignID: "cmp1", DeliveryID: "dlv1", Channel: "sms", To: "+14155550123", Text: text}
}

// Against Prism serving Twilio's own document: the SDK's request passes the
// document's validation (the account SID's pattern, the form), the answer is
// the document's example.
func TestSendThroughPrism(t *testing.T) {
	p := prismtest.Start(t, "twilio_messages.trimmed.json")
	s, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, FromNumber: "+15017122661", BaseURL: p.URL,
		StatusCallback: "https://crm.example/api/crm/webhooks/twilio/ws1"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Send(context.Background(), sms("Hello from the shop"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ProviderMessageID, "SM") {
		t.Errorf("sid %q", res.ProviderMessageID)
	}
	if v := p.Violations(); len(v) > 0 {
		t.Errorf("the spec rejects the request: %v", v)
	}
	if r := p.Requests(); len(r) != 1 || r[0] != "POST /2010-04-01/Accounts/"+sid+"/Messages.json 201" {
		t.Errorf("requests %v", r)
	}
	// the check can fail: a malformed account SID is a violation
	req, _ := http.NewRequest("POST", p.URL+"/2010-04-01/Accounts/ACnope/Messages.json", strings.NewReader(url.Values{"To": {"+14155550123"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(sid, token)
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if len(p.Violations()) == 0 {
		t.Errorf("prism let a bad account SID pass (%d)", res2.StatusCode)
	}
}

type fake struct {
	mu    sync.Mutex
	forms []url.Values
	paths []string
	srv   *httptest.Server
}

func newFake(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) *fake {
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		f.forms = append(f.forms, r.Form)
		f.paths = append(f.paths, r.URL.Path)
		f.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func created(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	_, _ = io.WriteString(w, `{"sid":"SM11111111111111111111111111111111","status":"queued"}`)
}

func twilioError(status, code int) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if status == 429 {
			w.Header().Set("Retry-After", "3")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"code":`+itoa(code)+`,"message":"refused","more_info":"https://www.twilio.com/docs/errors/`+itoa(code)+`","status":`+itoa(status)+`}`)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// The wire: To, Body, From or MessagingServiceSid, StatusCallback.
func TestSendWire(t *testing.T) {
	f := newFake(t, created)
	s, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, MessagingServiceSID: "MG0123456789abcdef0123456789abcdef",
		BaseURL: f.srv.URL, StatusCallback: "https://crm.example/api/crm/webhooks/twilio/ws1"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Send(context.Background(), sms("Hi"))
	if err != nil || res.ProviderMessageID != "SM11111111111111111111111111111111" {
		t.Fatalf("%+v %v", res, err)
	}
	form := f.forms[0]
	if form.Get("To") != "+14155550123" || form.Get("Body") != "Hi" || form.Get("MessagingServiceSid") != "MG0123456789abcdef0123456789abcdef" ||
		form.Get("From") != "" || form.Get("StatusCallback") != "https://crm.example/api/crm/webhooks/twilio/ws1" {
		t.Errorf("form %v", form)
	}
	if f.paths[0] != "/2010-04-01/Accounts/"+sid+"/Messages.json" {
		t.Errorf("path %s", f.paths[0])
	}
	if _, err := s.Send(context.Background(), sms("")); err == nil {
		t.Error("an empty SMS was sent")
	}
}

// Errors: 21211, 21408, 21610 permanent (21610 tells OptedOut), 429 with
// its Retry-After and 5xx temporary, a lost answer unknown.
func TestSendErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		reply      func(w http.ResponseWriter, r *http.Request)
		permanent  bool
		unknown    bool
		retryAfter time.Duration
		optedOut   bool
	}{
		{"21211", twilioError(400, 21211), true, false, 0, false},
		{"21408", twilioError(400, 21408), true, false, 0, false},
		{"21610", twilioError(400, 21610), true, false, 0, true},
		{"20003", twilioError(401, 20003), true, false, 0, false},
		{"429", twilioError(429, 20429), false, false, 3 * time.Second, false},
		{"500", twilioError(500, 20500), false, false, 0, false},
		{"502 html", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}, false, false, 0, false},
		{"lost", func(w http.ResponseWriter, _ *http.Request) {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, false, true, 0, false},
	} {
		f := newFake(t, tc.reply)
		var opted []string
		s, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, FromNumber: "+15017122661", BaseURL: f.srv.URL,
			OptedOut: func(n string) { opted = append(opted, n) }})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Send(context.Background(), sms("Hi"))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		permanent, retryAfter := senders.Classify(err)
		if permanent != tc.permanent || senders.IsUnknown(err) != tc.unknown || retryAfter != tc.retryAfter {
			t.Errorf("%s: %v: permanent %v unknown %v retry-after %v", tc.name, err, permanent, senders.IsUnknown(err), retryAfter)
		}
		if got := len(opted) == 1 && opted[0] == "+14155550123"; got != tc.optedOut {
			t.Errorf("%s: opted out %v", tc.name, opted)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("%s: the error names the token", tc.name)
		}
	}
}

// Pacing in segments: at 1 segment a second, a 2-segment GSM-7 message
// (161 characters) holds the next send 2 s, a 1-segment UCS-2 message 1 s.
func TestSegmentPacing(t *testing.T) {
	f := newFake(t, created)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var waits []time.Duration
	s, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, FromNumber: "+15017122661", BaseURL: f.srv.URL, SegmentsPerSecond: 1,
		Now: func() time.Time { return now },
		Sleep: func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			now = now.Add(d)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{strings.Repeat("a", 161), "Grüße 👋", "ok"} {
		if _, err := s.Send(context.Background(), sms(text)); err != nil {
			t.Fatal(err)
		}
	}
	if len(waits) != 2 || waits[0] != 2*time.Second || waits[1] != time.Second {
		t.Errorf("waits %v, want [2s 1s]", waits)
	}
	// a context that ends while waiting: not sent, temporary
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s2, _ := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, FromNumber: "+15017122661", BaseURL: f.srv.URL, SegmentsPerSecond: 0.001})
	_, _ = s2.Send(context.Background(), sms("first"))
	n := len(f.forms)
	if _, err := s2.Send(ctx, sms("second")); err == nil || senders.IsUnknown(err) || len(f.forms) != n {
		t.Errorf("cancelled wait: %v, %d requests", err, len(f.forms)-n)
	}
}

// Lookup lists the messages to the recipient since the attempt: ours
// Found, none (after the lag) NotFound, several Undetermined.
func TestLookup(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var list string
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"messages":[`+list+`],"next_page_uri":null,"page":0,"page_size":20}`)
	})
	s, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, FromNumber: "+15017122661", BaseURL: f.srv.URL,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	q := senders.Query{DeliveryID: "dlv1", To: "+14155550123", Since: now.Add(-time.Hour)}
	msg := func(sid, from string) string {
		return `{"sid":"` + sid + `","from":"` + from + `","to":"+14155550123","direction":"outbound-api","status":"delivered"}`
	}
	list = msg("SMaaa", "+15017122661") + "," + msg("SMbbb", "+19999999999")
	res, err := s.Lookup(context.Background(), q)
	if err != nil || res.Outcome != senders.Found || res.ProviderMessageID != "SMaaa" {
		t.Fatalf("%+v %v", res, err)
	}
	if form := f.forms[0]; form.Get("To") != "+14155550123" || form.Get("DateSent>") == "" {
		t.Errorf("query %v", form)
	}
	list = msg("SMaaa", "+15017122661") + "," + msg("SMccc", "+15017122661")
	if res, _ := s.Lookup(context.Background(), q); res.Outcome != senders.Undetermined || !strings.Contains(res.Reason, "2 messages") {
		t.Errorf("two: %+v", res)
	}
	list = msg("SMbbb", "+19999999999")
	if res, _ := s.Lookup(context.Background(), q); res.Outcome != senders.NotFound {
		t.Errorf("none of ours: %+v", res)
	}
	q.Since = now.Add(-time.Minute)
	if res, _ := s.Lookup(context.Background(), q); res.Outcome != senders.Undetermined {
		t.Errorf("too recent: %+v", res)
	}
}

// A list refused with 401/403 (an API key that may not read messages) is
// NoReadPermission without an error; a 500 is an error.
func TestLookupRefused(t *testing.T) {
	status := 403
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":`+strconv.Itoa(status)+`}`)
	})
	s, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, FromNumber: "+15017122661", BaseURL: f.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	q := senders.Query{To: "+14155550123", Since: time.Now().Add(-time.Hour)}
	if res, err := s.Lookup(context.Background(), q); err != nil || !res.NoReadPermission || res.Reason != twilio.ReasonNoReadPermission {
		t.Errorf("403: %+v %v", res, err)
	}
	status = 500
	if res, err := s.Lookup(context.Background(), q); err == nil || res.NoReadPermission || res.Outcome != senders.Undetermined {
		t.Errorf("500: %+v %v", res, err)
	}
}

// What a message counts against the daily limit: Twilio's num_segments
// when it answers one, else our count of the body's segments (UnitsOf,
// what the engine reserves before the send).
func TestSendUnits(t *testing.T) {
	segments := ""
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"sid":"SM11111111111111111111111111111111","status":"queued"`+segments+`}`)
	})
	s, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, FromNumber: "+15017122661", BaseURL: f.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	long := senders.Message{Channel: "sms", To: "+14155550123", Text: strings.Repeat("a", 161)} // GSM-7: 153 + 8, two
	if n := s.UnitsOf(long); n != 2 {
		t.Errorf("UnitsOf 161 GSM-7 characters: %d", n)
	}
	if n := s.UnitsOf(senders.Message{Text: strings.Repeat("ж", 71)}); n != 2 {
		t.Errorf("UnitsOf 71 UCS-2 characters: %d", n)
	}
	res, err := s.Send(context.Background(), long)
	if err != nil || res.Units != 2 {
		t.Errorf("without num_segments: %+v %v", res, err)
	}
	segments = `,"num_segments":"3"`
	if res, err := s.Send(context.Background(), long); err != nil || res.Units != 3 || res.DailyUnits() != 3 {
		t.Errorf("num_segments 3: %+v %v", res, err)
	}
}

// With an API key the calls authenticate as the key (its SID and secret in
// basic auth) on the account's own Messages path; half a key is refused.
func TestSendWithAPIKey(t *testing.T) {
	var user, pass string
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ = r.BasicAuth()
		created(w, r)
	})
	key := "SK0123456789abcdef0123456789abcdef"
	s, err := twilio.New(twilio.Config{AccountSID: sid, APIKeySID: key, APIKeySecret: "keysecret", FromNumber: "+15017122661", BaseURL: f.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(context.Background(), sms("Hi")); err != nil {
		t.Fatal(err)
	}
	if user != key || pass != "keysecret" || f.paths[0] != "/2010-04-01/Accounts/"+sid+"/Messages.json" {
		t.Fatalf("auth %q:%q path %s", user, pass, f.paths[0])
	}
	if _, err := twilio.New(twilio.Config{AccountSID: sid, AuthToken: token, APIKeySID: key, FromNumber: "+15017122661"}); err == nil {
		t.Fatal("an API key without its secret was accepted")
	}
}
