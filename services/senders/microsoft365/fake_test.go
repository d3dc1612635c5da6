package microsoft365

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fake is Microsoft Entra ID's token endpoint (with the OpenID
// configuration MSAL reads first) and the part of Graph the sender uses,
// checking requests as Microsoft documents them: the client-credentials
// grant with the .default scope, sendMail in its MIME form (base64
// text/plain) or JSON form, gzip request bodies as the SDK sends them, and
// the Sent Items list with $filter.
type fake struct {
	t   *testing.T
	srv *httptest.Server

	tenant, clientID, secret, mailbox string

	mu       sync.Mutex
	canRead  bool // the app has Mail.ReadBasic.All
	tokens   int
	sent     []sentItem
	gzipped  int
	sendNext []func(w http.ResponseWriter, r *http.Request)
	calls    map[string]int
}

type sentItem struct {
	id       string
	mime     *mail.Message  // the MIME form
	json     map[string]any // the JSON form
	msgID    string
	to       string
	sentTime time.Time
}

func newFake(t *testing.T) *fake {
	t.Helper()
	f := &fake{t: t, tenant: "6f1c0d3e-0000-4000-8000-00000000c0de", clientID: "11111111-2222-3333-4444-555555555555",
		secret: "s3cr3t~value", mailbox: "news@shop.example", canRead: true, calls: map[string]int{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) sender(t *testing.T, save *bool) *Sender {
	t.Helper()
	s, err := New(Config{TenantID: f.tenant, ClientID: f.clientID, ClientSecret: f.secret, Sender: f.mailbox,
		SaveToSentItems: save, BaseURL: f.srv.URL, HTTPClient: f.srv.Client(), Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func odataError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": message,
		"innerError": map[string]string{"request-id": "r1", "date": "2026-12-01T10:00:00"}}})
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.Method+" "+r.URL.Path]++
	f.mu.Unlock()
	login := "/" + f.tenant
	switch {
	case r.Method == http.MethodGet && r.URL.Path == login+"/v2.0/.well-known/openid-configuration":
		base := f.srv.URL + login
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"token_endpoint": base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize", "issuer": base + "/v2.0"})
	case r.Method == http.MethodPost && r.URL.Path == login+"/oauth2/v2.0/token":
		f.token(w, r)
	case strings.HasPrefix(r.URL.Path, "/v1.0/users/"):
		if r.Header.Get("Authorization") != "Bearer fake-graph-token" {
			odataError(w, 401, "InvalidAuthenticationToken", "Access token is empty.")
			return
		}
		rest := strings.TrimPrefix(r.URL.Path, "/v1.0/users/")
		user, op, _ := strings.Cut(rest, "/")
		if !strings.EqualFold(user, f.mailbox) {
			odataError(w, 404, "ErrorInvalidUser", "The requested user '"+user+"' is invalid.")
			return
		}
		switch {
		case r.Method == http.MethodPost && op == "sendMail":
			f.sendMail(w, r)
		case r.Method == http.MethodGet && strings.EqualFold(op, "mailFolders/sentitems/messages"):
			f.list(w, r)
		default:
			http.NotFound(w, r)
		}
	default:
		f.t.Errorf("unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	}
}

func (f *fake) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.t.Fatal(err)
	}
	p := r.PostForm
	// MSAL adds openid, offline_access and profile to the scope
	if p.Get("grant_type") != "client_credentials" || !strings.Contains(" "+p.Get("scope")+" ", " https://graph.microsoft.com/.default ") {
		f.t.Errorf("token form %v", p)
	}
	if p.Get("client_id") != f.clientID || p.Get("client_secret") != f.secret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client",
			"error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": []int{7000215}})
		return
	}
	f.mu.Lock()
	f.tokens++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
		"access_token": "fake-graph-token"})
}

// body reads a request body, gunzipping it when the SDK compressed it.
func (f *fake) body(r *http.Request) []byte {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			f.t.Errorf("gzip: %v", err)
			return nil
		}
		rd = zr
		f.mu.Lock()
		f.gzipped++
		f.mu.Unlock()
	}
	b, err := io.ReadAll(rd)
	if err != nil {
		f.t.Errorf("body: %v", err)
	}
	return b
}

func (f *fake) sendMail(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	var next func(http.ResponseWriter, *http.Request)
	if len(f.sendNext) > 0 {
		next, f.sendNext = f.sendNext[0], f.sendNext[1:]
	}
	f.mu.Unlock()
	if next != nil {
		next(w, r)
		return
	}
	b := f.body(r)
	item := sentItem{sentTime: time.Now()}
	switch ct := r.Header.Get("Content-Type"); ct {
	case "text/plain":
		raw, err := base64.StdEncoding.DecodeString(string(b))
		if err != nil {
			odataError(w, 400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
			return
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			odataError(w, 400, "ErrorMimeContentInvalid", "The MIME content is not valid.")
			return
		}
		to, err := msg.Header.AddressList("To")
		if err != nil || len(to) == 0 {
			odataError(w, 400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
			return
		}
		item.mime, item.msgID, item.to = msg, msg.Header.Get("Message-Id"), to[0].Address
	case "application/json":
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			odataError(w, 400, "RequestBodyRead", "Invalid JSON")
			return
		}
		m, _ := param(body, "message").(map[string]any)
		for _, h := range asList(m["internetMessageHeaders"]) {
			if name := fmt.Sprint(h["name"]); !strings.HasPrefix(strings.ToLower(name), "x-") {
				odataError(w, 400, "InvalidInternetMessageHeader", "The internet message header name '"+name+"' should start with 'x-' or 'X-'.")
				return
			}
		}
		rcpt := asList(m["toRecipients"])
		if len(rcpt) == 0 {
			odataError(w, 400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
			return
		}
		addr, _ := rcpt[0]["emailAddress"].(map[string]any)
		item.json, item.msgID, item.to = body, fmt.Sprint(m["internetMessageId"]), fmt.Sprint(addr["address"])
	default:
		f.t.Errorf("sendMail content type %q", ct)
		odataError(w, 415, "UnsupportedMediaType", ct)
		return
	}
	f.mu.Lock()
	item.id = fmt.Sprintf("AAMkAD%04d", len(f.sent)+1)
	save := item.json == nil || param(item.json, "saveToSentItems") != false
	f.sent = append(f.sent, item)
	if !save {
		f.sent[len(f.sent)-1].msgID = "" // not in Sent Items
	}
	f.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// param is an action parameter: Graph reads their names case-insensitively
// (msgraph-sdk-go writes "Message" and "SaveToSentItems", the docs'
// examples "message" and "saveToSentItems").
func param(body map[string]any, name string) any {
	for k, v := range body {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func asList(v any) []map[string]any {
	var out []map[string]any
	list, _ := v.([]any)
	for _, it := range list {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// list answers Sent Items with $filter "internetMessageId eq '…'" or
// "sentDateTime ge …" and $select/$top, as Graph's OData does.
func (f *fake) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.canRead {
		odataError(w, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		f.t.Fatal(err)
	}
	filter := q.Get("$filter")
	var out []map[string]any
	for i := len(f.sent) - 1; i >= 0; i-- {
		it := f.sent[i]
		if it.json != nil && param(it.json, "saveToSentItems") == false {
			continue
		}
		switch {
		case strings.HasPrefix(filter, "internetMessageId eq '"):
			want := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(filter, "internetMessageId eq '"), "'"), "''", "'")
			if it.msgID != want {
				continue
			}
		case strings.HasPrefix(filter, "sentDateTime ge "):
			since, err := time.Parse(time.RFC3339, strings.TrimPrefix(filter, "sentDateTime ge "))
			if err != nil {
				odataError(w, 400, "BadRequest", "Invalid filter clause")
				return
			}
			if it.sentTime.Before(since) {
				continue
			}
		case filter != "":
			odataError(w, 400, "BadRequest", "Invalid filter clause")
			return
		}
		out = append(out, map[string]any{"id": it.id, "internetMessageId": it.msgID, "sentDateTime": it.sentTime.UTC().Format(time.RFC3339),
			"toRecipients": []any{map[string]any{"emailAddress": map[string]any{"address": it.to}}}})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"@odata.context": "x", "value": out})
}

// drop reads the request and closes the connection without an answer.
func drop(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}
