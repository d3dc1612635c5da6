// Package graphfake is Microsoft Entra ID's token endpoint and the part of
// Microsoft Graph the microsoft365 sender uses, as an httptest TLS server
// that checks each request as Microsoft documents it. The sender's own
// tests and the end-to-end campaign tests (hooks) share it; it imports
// nothing of ours, so the microsoft365 package's internal tests may use it.
package graphfake

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

// Fake is Microsoft Entra ID's token endpoint (with the OpenID
// configuration MSAL reads first) and the part of Graph the sender uses,
// checking requests as Microsoft documents them: the client-credentials
// grant with the .default scope, sendMail in its MIME form (base64
// text/plain) or JSON form, gzip request bodies as the SDK sends them, and
// the Sent Items list with $filter.
type Fake struct {
	// Srv is the TLS server: a sender's base_url is Srv.URL, its HTTP
	// client Srv.Client().
	Srv *httptest.Server
	// The app registration the token endpoint accepts and the mailbox
	// Graph knows.
	Tenant, ClientID, Secret, Mailbox string

	t testing.TB

	mu       sync.Mutex
	canRead  bool // the app has Mail.ReadBasic.All
	tokens   int
	sent     []Item
	gzipped  int
	sendNext []func(w http.ResponseWriter, r *http.Request)
	calls    map[string]int
}

// Item is a message sendMail accepted.
type Item struct {
	ID       string
	MIME     *mail.Message  // the MIME form
	JSON     map[string]any // the JSON form
	MsgID    string         // its internetMessageId ("" when not saved to Sent Items)
	To       string
	SentTime time.Time
}

// New starts a fake whose app may read the mailbox (SetCanRead changes it).
func New(t testing.TB) *Fake {
	t.Helper()
	f := &Fake{t: t, Tenant: "6f1c0d3e-0000-4000-8000-00000000c0de", ClientID: "11111111-2222-3333-4444-555555555555",
		Secret: "s3cr3t~value", Mailbox: "news@shop.example", canRead: true, calls: map[string]int{}}
	f.Srv = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Srv.Close)
	return f
}

// SetCanRead grants or withdraws Mail.ReadBasic.All: without it the Sent
// Items list answers 403 ErrorAccessDenied.
func (f *Fake) SetCanRead(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.canRead = v
}

// Sent are the messages accepted so far, oldest first.
func (f *Fake) Sent() []Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Item(nil), f.sent...)
}

// Tokens is how many tokens the endpoint issued.
func (f *Fake) Tokens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokens
}

// Gzipped is how many request bodies came gzip-compressed.
func (f *Fake) Gzipped() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gzipped
}

// Calls is how many requests "METHOD path" the fake has had.
func (f *Fake) Calls(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}

// SendNext queues answers for the next sendMail calls, one each.
func (f *Fake) SendNext(answers ...func(w http.ResponseWriter, r *http.Request)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sendNext = append(f.sendNext, answers...)
}

// Error writes a Graph OData error answer.
func Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": message,
		"innerError": map[string]string{"request-id": "r1", "date": "2026-12-01T10:00:00"}}})
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.Method+" "+r.URL.Path]++
	f.mu.Unlock()
	login := "/" + f.Tenant
	switch {
	case r.Method == http.MethodGet && r.URL.Path == login+"/v2.0/.well-known/openid-configuration":
		base := f.Srv.URL + login
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"token_endpoint": base + "/oauth2/v2.0/token",
			"authorization_endpoint": base + "/oauth2/v2.0/authorize", "issuer": base + "/v2.0"})
	case r.Method == http.MethodPost && r.URL.Path == login+"/oauth2/v2.0/token":
		f.token(w, r)
	case strings.HasPrefix(r.URL.Path, "/v1.0/users/"):
		if r.Header.Get("Authorization") != "Bearer fake-graph-token" {
			Error(w, 401, "InvalidAuthenticationToken", "Access token is empty.")
			return
		}
		rest := strings.TrimPrefix(r.URL.Path, "/v1.0/users/")
		user, op, _ := strings.Cut(rest, "/")
		if !strings.EqualFold(user, f.Mailbox) {
			Error(w, 404, "ErrorInvalidUser", "The requested user '"+user+"' is invalid.")
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

func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.t.Fatal(err)
	}
	p := r.PostForm
	// MSAL adds openid, offline_access and profile to the scope
	if p.Get("grant_type") != "client_credentials" || !strings.Contains(" "+p.Get("scope")+" ", " https://graph.microsoft.com/.default ") {
		f.t.Errorf("token form %v", p)
	}
	if p.Get("client_id") != f.ClientID || p.Get("client_secret") != f.Secret {
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
func (f *Fake) body(r *http.Request) []byte {
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

func (f *Fake) sendMail(w http.ResponseWriter, r *http.Request) {
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
	item := Item{SentTime: time.Now()}
	switch ct := r.Header.Get("Content-Type"); ct {
	case "text/plain":
		raw, err := base64.StdEncoding.DecodeString(string(b))
		if err != nil {
			Error(w, 400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
			return
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			Error(w, 400, "ErrorMimeContentInvalid", "The MIME content is not valid.")
			return
		}
		to, err := msg.Header.AddressList("To")
		if err != nil || len(to) == 0 {
			Error(w, 400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
			return
		}
		item.MIME, item.MsgID, item.To = msg, msg.Header.Get("Message-Id"), to[0].Address
	case "application/json":
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			Error(w, 400, "RequestBodyRead", "Invalid JSON")
			return
		}
		m, _ := Param(body, "message").(map[string]any)
		for _, h := range AsList(m["internetMessageHeaders"]) {
			if name := fmt.Sprint(h["name"]); !strings.HasPrefix(strings.ToLower(name), "x-") {
				Error(w, 400, "InvalidInternetMessageHeader", "The internet message header name '"+name+"' should start with 'x-' or 'X-'.")
				return
			}
		}
		rcpt := AsList(m["toRecipients"])
		if len(rcpt) == 0 {
			Error(w, 400, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
			return
		}
		addr, _ := rcpt[0]["emailAddress"].(map[string]any)
		item.JSON, item.MsgID, item.To = body, fmt.Sprint(m["internetMessageId"]), fmt.Sprint(addr["address"])
	default:
		f.t.Errorf("sendMail content type %q", ct)
		Error(w, 415, "UnsupportedMediaType", ct)
		return
	}
	f.mu.Lock()
	item.ID = fmt.Sprintf("AAMkAD%04d", len(f.sent)+1)
	save := item.JSON == nil || Param(item.JSON, "saveToSentItems") != false
	f.sent = append(f.sent, item)
	if !save {
		f.sent[len(f.sent)-1].MsgID = "" // not in Sent Items
	}
	f.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// Param is an action parameter: Graph reads their names case-insensitively
// (msgraph-sdk-go writes "Message" and "SaveToSentItems", the docs'
// examples "message" and "saveToSentItems").
func Param(body map[string]any, name string) any {
	for k, v := range body {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// AsList is a JSON array of objects.
func AsList(v any) []map[string]any {
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
func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.canRead {
		Error(w, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
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
		if it.JSON != nil && Param(it.JSON, "saveToSentItems") == false {
			continue
		}
		switch {
		case strings.HasPrefix(filter, "internetMessageId eq '"):
			want := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(filter, "internetMessageId eq '"), "'"), "''", "'")
			if it.MsgID != want {
				continue
			}
		case strings.HasPrefix(filter, "sentDateTime ge "):
			since, err := time.Parse(time.RFC3339, strings.TrimPrefix(filter, "sentDateTime ge "))
			if err != nil {
				Error(w, 400, "BadRequest", "Invalid filter clause")
				return
			}
			if it.SentTime.Before(since) {
				continue
			}
		case filter != "":
			Error(w, 400, "BadRequest", "Invalid filter clause")
			return
		}
		out = append(out, map[string]any{"id": it.ID, "internetMessageId": it.MsgID, "sentDateTime": it.SentTime.UTC().Format(time.RFC3339),
			"toRecipients": []any{map[string]any{"emailAddress": map[string]any{"address": it.To}}}})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"@odata.context": "x", "value": out})
}

// Drop reads the request and closes the connection without an answer.
func Drop(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}
