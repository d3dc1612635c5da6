// Package gmailfake is Google's token endpoint and the part of the Gmail API
// the gmail sender uses, as an httptest server that checks each request as
// Google documents it. The sender's own tests and the end-to-end campaign
// tests (hooks) share it; it imports nothing of ours, so the gmail
// package's internal tests may use it.
package gmailfake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fake is Google's token endpoint and the part of the Gmail API the sender
// uses, checking requests as Google documents them: the JWT-bearer grant
// (RFC 7523) with an RS256 assertion signed by the service account's key,
// the refresh-token grant, users.messages.send's {raw} (base64url RFC 2822),
// users.messages.list with q/labelIds and users.messages.get format=metadata.
type Fake struct {
	// Srv is the server: a sender's base_url is Srv.URL.
	Srv *httptest.Server
	// Email is the service account's; ClientID, ClientSecret and
	// RefreshToken the OAuth client's the refresh-token grant accepts.
	Email                                string
	ClientID, ClientSecret, RefreshToken string

	t   testing.TB
	key *rsa.PrivateKey

	mu       sync.Mutex
	granted  map[string]bool // scopes the admin granted (JWT) or consented (refresh token)
	tokens   map[string]string
	claims   []map[string]any // each verified assertion's claims
	sent     []Message
	sendNext []func(w http.ResponseWriter, r *http.Request) // injected answers to the next sends
	calls    map[string]int
}

// Message is a message the fake accepted (users.messages.send).
type Message struct {
	ID       string
	Raw      []byte
	Msg      *mail.Message
	Internal time.Time
}

// TokenURI is the token endpoint a service account's key file names (the
// sender's base_url replaces its scheme and host).
const TokenURI = "https://oauth2.googleapis.com/token"

// The Gmail API's OAuth scopes (gmail.ScopeSend, …).
const (
	ScopeSend     = "https://www.googleapis.com/auth/gmail.send"
	ScopeReadonly = "https://www.googleapis.com/auth/gmail.readonly"
	ScopeMetadata = "https://www.googleapis.com/auth/gmail.metadata"
)

// New starts a fake that grants gmail.send only (Grant changes it).
func New(t testing.TB) *Fake {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &Fake{t: t, key: key, Email: "crm-sender@pi-crm-test.iam.gserviceaccount.com",
		granted: map[string]bool{ScopeSend: true}, tokens: map[string]string{}, calls: map[string]int{}}
	f.ClientID, f.ClientSecret, f.RefreshToken = "cid.apps.googleusercontent.com", "csecret", "1//refresh"
	f.Srv = httptest.NewServer(http.HandlerFunc(f.Serve))
	t.Cleanup(f.Srv.Close)
	return f
}

// Sent are the messages accepted so far, oldest first.
func (f *Fake) Sent() []Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Message(nil), f.sent...)
}

// Claims are the verified JWT assertions' claims, in order.
func (f *Fake) Claims() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.claims...)
}

// Calls is how many requests "METHOD path" the fake has had.
func (f *Fake) Calls(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}

// SendNext queues answers for the next sends, one each, instead of
// accepting them.
func (f *Fake) SendNext(answers ...func(w http.ResponseWriter, r *http.Request)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sendNext = append(f.sendNext, answers...)
}

// ServiceAccountJSON is a key file as the Cloud console downloads it.
func (f *Fake) ServiceAccountJSON() string {
	der, err := x509.MarshalPKCS8PrivateKey(f.key)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "pi-crm-test", "private_key_id": "kid-1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": f.Email, "client_id": "1234567890", "token_uri": TokenURI,
		"auth_uri": "https://accounts.google.com/o/oauth2/auth",
	})
	return string(b)
}

// Grant sets the scopes the admin granted the service account (or the
// refresh token was consented with).
func (f *Fake) Grant(scopes ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.granted = map[string]bool{}
	for _, s := range scopes {
		f.granted[s] = true
	}
}

// Error writes a Google API error answer.
func Error(w http.ResponseWriter, code int, status, reason, message string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": message, "status": status,
		"errors": []map[string]string{{"message": message, "domain": "global", "reason": reason}},
	}})
}

// Serve is the fake's handler (for a test that wraps it).
func (f *Fake) Serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls[r.Method+" "+r.URL.Path]++
	f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/token":
		f.token(w, r)
		return
	case !strings.HasPrefix(r.URL.Path, "/gmail/v1/users/me/"):
		http.NotFound(w, r)
		return
	}
	scopes := f.scopesOf(r)
	if scopes == nil {
		Error(w, 401, "UNAUTHENTICATED", "authError", "Request had invalid authentication credentials.")
		return
	}
	if r.URL.Query().Get("alt") != "json" || r.URL.Query().Get("prettyPrint") != "false" {
		f.t.Errorf("%s: query %q", r.URL.Path, r.URL.RawQuery)
	}
	path := strings.TrimPrefix(r.URL.Path, "/gmail/v1/users/me/")
	switch {
	case r.Method == http.MethodPost && path == "messages/send":
		if !scopes[ScopeSend] {
			Error(w, 403, "PERMISSION_DENIED", "insufficientPermissions", "Request had insufficient authentication scopes.")
			return
		}
		f.send(w, r)
	case r.Method == http.MethodGet && path == "messages":
		f.list(w, r, scopes)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "messages/"):
		f.get(w, r, scopes, strings.TrimPrefix(path, "messages/"))
	default:
		http.NotFound(w, r)
	}
}

// token checks a grant and answers an access token for the scopes granted.
func (f *Fake) token(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("token: content type %q", ct)
	}
	if err := r.ParseForm(); err != nil {
		f.t.Fatal(err)
	}
	refuse := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusUnauthorized
		if code == "invalid_grant" {
			status = http.StatusBadRequest
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	var scopes []string
	switch r.PostForm.Get("grant_type") {
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		claims, err := f.verifyAssertion(r.PostForm.Get("assertion"))
		if err != nil {
			f.t.Errorf("assertion: %v", err)
			refuse("invalid_grant", err.Error())
			return
		}
		f.mu.Lock()
		f.claims = append(f.claims, claims)
		f.mu.Unlock()
		scopes = strings.Fields(fmt.Sprint(claims["scope"]))
		f.mu.Lock()
		for _, s := range scopes {
			if !f.granted[s] {
				f.mu.Unlock()
				refuse("unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.")
				return
			}
		}
		f.mu.Unlock()
	case "refresh_token":
		if r.PostForm.Get("client_id") != f.ClientID || r.PostForm.Get("client_secret") != f.ClientSecret {
			refuse("invalid_client", "Unauthorized")
			return
		}
		if r.PostForm.Get("refresh_token") != f.RefreshToken {
			refuse("invalid_grant", "Token has been expired or revoked.")
			return
		}
		f.mu.Lock()
		for s := range f.granted {
			scopes = append(scopes, s)
		}
		f.mu.Unlock()
	default:
		f.t.Errorf("grant_type %q", r.PostForm.Get("grant_type"))
		refuse("unsupported_grant_type", "")
		return
	}
	f.mu.Lock()
	tok := fmt.Sprintf("ya29.fake-%d", len(f.tokens)+1)
	f.tokens[tok] = strings.Join(scopes, " ")
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3599,
		"scope": strings.Join(scopes, " ")})
}

// verifyAssertion checks the JWT as Google does: RS256 over header.claims
// with the service account's public key, the key id, iss/sub/scope/aud and
// a lifetime of at most an hour.
func (f *Fake) verifyAssertion(a string) (map[string]any, error) {
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%d parts", len(parts))
	}
	dec := func(s string, v any) error {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	var header map[string]string
	if err := dec(parts[0], &header); err != nil {
		return nil, err
	}
	if header["alg"] != "RS256" || header["typ"] != "JWT" || header["kid"] != "kid-1" {
		return nil, fmt.Errorf("header %v", header)
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[2], "="))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&f.key.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	var claims map[string]any
	if err := dec(parts[1], &claims); err != nil {
		return nil, err
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if claims["iss"] != f.Email || claims["aud"] != TokenURI || exp <= iat || exp-iat > 3600 ||
		time.Since(time.Unix(int64(iat), 0)).Abs() > time.Minute {
		return nil, fmt.Errorf("claims %v", claims)
	}
	return claims, nil
}

func (f *Fake) scopesOf(r *http.Request) map[string]bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.tokens[tok]
	if !ok {
		return nil
	}
	out := map[string]bool{}
	for _, sc := range strings.Fields(s) {
		out[sc] = true
	}
	return out
}

func (f *Fake) send(w http.ResponseWriter, r *http.Request) {
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
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("send: content type %q", ct)
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		Error(w, 400, "INVALID_ARGUMENT", "invalidArgument", "Invalid JSON payload")
		return
	}
	rawS, _ := body["raw"].(string)
	if len(body) != 1 || rawS == "" {
		f.t.Errorf("send: body %v", body)
	}
	raw, err := base64.URLEncoding.DecodeString(rawS)
	if err != nil {
		Error(w, 400, "INVALID_ARGUMENT", "invalidArgument", "Invalid value for ByteString")
		return
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		Error(w, 400, "INVALID_ARGUMENT", "invalidArgument", "Invalid RFC822 message")
		return
	}
	if _, err := msg.Header.AddressList("To"); err != nil {
		Error(w, 400, "INVALID_ARGUMENT", "invalidArgument", "Invalid To header")
		return
	}
	f.mu.Lock()
	id := fmt.Sprintf("18c%013d", len(f.sent)+1)
	f.sent = append(f.sent, Message{ID: id, Raw: raw, Msg: msg, Internal: time.Now()})
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "threadId": id, "labelIds": []string{"SENT"}})
}

// list answers users.messages.list for labelIds=SENT, with q (gmail.readonly)
// as rfc822msgid:<id> or to:<addr> [after:<epoch>]; gmail.metadata may list
// but not search, as Google says.
func (f *Fake) list(w http.ResponseWriter, r *http.Request, scopes map[string]bool) {
	qs := r.URL.Query()
	q := qs.Get("q")
	switch {
	case scopes[ScopeReadonly]:
	case scopes[ScopeMetadata] && q == "":
	case scopes[ScopeMetadata]:
		Error(w, 403, "PERMISSION_DENIED", "forbidden", "Metadata scope does not support 'q' parameter")
		return
	default:
		Error(w, 403, "PERMISSION_DENIED", "insufficientPermissions", "Request had insufficient authentication scopes.")
		return
	}
	if qs.Get("labelIds") != "SENT" || qs.Get("includeSpamTrash") != "true" {
		f.t.Errorf("list: %q", r.URL.RawQuery)
	}
	max, _ := strconv.Atoi(qs.Get("maxResults"))
	start, _ := strconv.Atoi(qs.Get("pageToken"))
	f.mu.Lock()
	var hits []Message
	for i := len(f.sent) - 1; i >= 0; i-- { // newest first
		if matches(f.sent[i], q) {
			hits = append(hits, f.sent[i])
		}
	}
	f.mu.Unlock()
	out := map[string]any{"resultSizeEstimate": len(hits)}
	var refs []map[string]string
	for i := start; i < len(hits) && (max == 0 || i < start+max); i++ {
		refs = append(refs, map[string]string{"id": hits[i].ID, "threadId": hits[i].ID})
	}
	if len(refs) > 0 {
		out["messages"] = refs
	}
	if max > 0 && start+max < len(hits) {
		out["nextPageToken"] = strconv.Itoa(start + max)
	}
	_ = json.NewEncoder(w).Encode(out)
}

func matches(m Message, q string) bool {
	for _, term := range strings.Fields(q) {
		k, v, _ := strings.Cut(term, ":")
		switch k {
		case "rfc822msgid":
			if strings.Trim(m.Msg.Header.Get("Message-Id"), "<>") != v {
				return false
			}
		case "to":
			list, _ := m.Msg.Header.AddressList("To")
			if len(list) == 0 || !strings.EqualFold(list[0].Address, v) {
				return false
			}
		case "after":
			n, _ := strconv.ParseInt(v, 10, 64)
			if m.Internal.Unix() <= n {
				return false
			}
		}
	}
	return true
}

func (f *Fake) get(w http.ResponseWriter, r *http.Request, scopes map[string]bool, id string) {
	if !scopes[ScopeReadonly] && !scopes[ScopeMetadata] {
		Error(w, 403, "PERMISSION_DENIED", "insufficientPermissions", "Request had insufficient authentication scopes.")
		return
	}
	if r.URL.Query().Get("format") != "metadata" {
		f.t.Errorf("get: %q", r.URL.RawQuery)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.sent {
		if m.ID != id {
			continue
		}
		var headers []map[string]string
		for _, name := range r.URL.Query()["metadataHeaders"] {
			if v := m.Msg.Header.Get(name); v != "" {
				headers = append(headers, map[string]string{"name": name, "value": v})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"id": m.ID, "threadId": m.ID, "labelIds": []string{"SENT"},
			"internalDate": strconv.FormatInt(m.Internal.UnixMilli(), 10), "payload": map[string]any{"headers": headers}})
		return
	}
	Error(w, 404, "NOT_FOUND", "notFound", "Requested entity was not found.")
}

// Drop answers nothing: it reads the request and closes the connection.
func Drop(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}
