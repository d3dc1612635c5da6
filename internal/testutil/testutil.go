// Package testutil starts pi-crm for tests the way main.go does: a fresh data
// directory, PocketBase's system migrations plus ours, our hooks and routes,
// served over a real HTTP listener on 127.0.0.1.
package testutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/services/imports"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/dbconfig"
	_ "github.com/pi-crm/pi-crm/migrations"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
)

// Env is a running test instance.
type Env struct {
	App    *tests.TestApp
	Server *httptest.Server
	wiring *hooks.Wiring
	t      testing.TB
}

// Routes lists the custom routes the app registered ("METHOD /path").
func (e *Env) Routes() []string { return e.wiring.Routes() }

// Imports is the import service behind the app's routes.
func (e *Env) Imports() *imports.Service { return e.wiring.Imports }

// New starts an instance on an empty data dir; it is closed with the test.
func New(t testing.TB) *Env {
	return NewWithClock(t, nil)
}

// NewWithClock is New with the app's clock replaced (nil: time.Now).
func NewWithClock(t testing.TB, now func() time.Time) *Env {
	return NewWithConfig(t, hooks.Config{Now: now})
}

// NewWithConfig is New with the given hooks configuration.
func NewWithConfig(t testing.TB, cfg hooks.Config) *Env {
	t.Helper()
	// the database connections main.go opens (pools, caches, kept statements)
	app, err := tests.NewTestAppWithConfig(core.BaseAppConfig{
		DataDir: t.TempDir(), EncryptionEnv: "pb_test_env", DBConnect: dbconfig.Connect(),
		DataMaxOpenConns: dbconfig.ReadConns, DataMaxIdleConns: dbconfig.ReadConns,
	})
	if err != nil {
		t.Fatal(err)
	}
	wiring := hooks.Register(app, cfg)
	// the OnServe trigger below starts PocketBase's cron: the nightly
	// insights job would then measure every workspace (and write runs) in
	// the middle of a test longer than a minute; its tests call Tick
	app.Cron().Remove(hooks.InsightsNightlyJob)

	r, err := apis.NewRouter(app)
	if err != nil {
		t.Fatal(err)
	}
	se := &core.ServeEvent{App: app, Router: r, Server: &http.Server{}}
	if err := app.OnServe().Trigger(se, func(e *core.ServeEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	mux, err := r.BuildMux()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		app.Cleanup()
	})
	return &Env{App: app, Server: srv, wiring: wiring, t: t}
}

// Response is a decoded API response.
type Response struct {
	Status int
	Body   []byte
}

// JSON decodes the body into a map (nil when it is not an object).
func (r Response) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// Code is the stable error code in data.code, if any.
func (r Response) Code() string {
	if d, ok := r.JSON()["data"].(map[string]any); ok {
		s, _ := d["code"].(string)
		return s
	}
	return ""
}

// Do sends a request with an optional JSON body and Authorization token.
func (e *Env) Do(method, path, token string, body any) Response {
	e.t.Helper()
	return e.DoWithHeaders(method, path, token, nil, body)
}

// DoWithHeaders is Do with extra request headers (e.g. X-Api-Key).
func (e *Env) DoWithHeaders(method, path, token string, headers map[string]string, body any) Response {
	e.t.Helper()
	var rdr io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rdr = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.Server.URL+path, rdr)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := e.Server.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return Response{Status: res.StatusCode, Body: b}
}

// Create saves a record with fields directly (no rules, hooks do run).
func (e *Env) Create(collection string, fields map[string]any) *core.Record {
	e.t.Helper()
	col, err := e.App.FindCachedCollectionByNameOrId(collection)
	if err != nil {
		e.t.Fatal(err)
	}
	rec := core.NewRecord(col)
	for k, v := range fields {
		rec.Set(k, v)
	}
	if err := e.App.Save(rec); err != nil {
		e.t.Fatalf("create %s: %v", collection, err)
	}
	return rec
}

// User creates a user and returns it with an auth token.
func (e *Env) User(email string) (*core.Record, string) {
	e.t.Helper()
	col, err := e.App.FindCachedCollectionByNameOrId("users")
	if err != nil {
		e.t.Fatal(err)
	}
	u := core.NewRecord(col)
	u.SetEmail(email)
	u.SetPassword("password-123")
	u.SetVerified(true)
	u.Set("name", email)
	if err := e.App.Save(u); err != nil {
		e.t.Fatal(err)
	}
	tok, err := u.NewAuthToken()
	if err != nil {
		e.t.Fatal(err)
	}
	return u, tok
}

// Workspace creates a workspace owned by owner (the hook adds the owner
// membership) and adds members with their roles.
func (e *Env) Workspace(name string, owner *core.Record, members map[*core.Record]string) *core.Record {
	e.t.Helper()
	ws := e.Create("workspaces", map[string]any{"name": name, "owner": owner.Id})
	for u, role := range members {
		e.Create("workspace_members", map[string]any{"workspace": ws.Id, "user": u.Id, "role": role})
	}
	return ws
}

// connectRealtime opens the SSE stream and returns the client id and the
// stream reader; the stream closes with the test.
func connectRealtime(t testing.TB, e *Env) (string, *bufio.Reader) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.Server.URL+"/api/realtime", nil)
	res, err := e.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	r := bufio.NewReader(res.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data:") {
			var d struct{ ClientId string }
			_ = json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &d)
			return d.ClientId, r
		}
	}
}

// RealtimeClientID opens a realtime connection and returns its client id.
func RealtimeClientID(t testing.TB, e *Env) string {
	id, _ := connectRealtime(t, e)
	return id
}

// Subscribe opens a realtime connection, subscribes to topic with the given
// credentials and returns a channel of the record ids of the events received.
func Subscribe(t testing.TB, e *Env, token string, headers map[string]string, topic string) <-chan string {
	t.Helper()
	events := SubscribeEvents(t, e, token, headers, topic)
	out := make(chan string, 100)
	go func() { // never closed, as CollectUntil expects
		for ev := range events {
			if id, _ := ev.Record["id"].(string); id != "" {
				out <- id
			}
		}
	}()
	return out
}

// Event is one realtime message: the action and the record as sent.
type Event struct {
	Action string         `json:"action"`
	Record map[string]any `json:"record"`
}

// SubscribeEvents is Subscribe with the whole messages.
func SubscribeEvents(t testing.TB, e *Env, token string, headers map[string]string, topic string) <-chan Event {
	t.Helper()
	clientID, r := connectRealtime(t, e)
	res := e.DoWithHeaders("POST", "/api/realtime", token, headers, map[string]any{"clientId": clientID, "subscriptions": []string{topic}})
	if res.Status != http.StatusNoContent {
		t.Fatalf("subscribe: %d %s", res.Status, res.Body)
	}
	out := make(chan Event, 1000)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if !strings.HasPrefix(line, "data:") {
				continue
			}
			var ev Event
			if json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:"))), &ev) == nil && ev.Record != nil {
				out <- ev
			}
		}
	}()
	return out
}

// CollectUntil gathers event ids until last arrives (or timeout), then a short
// grace period for stragglers. Events arrive in order, so anything created
// before last has had its chance to show up.
func CollectUntil(events <-chan string, last string, timeout time.Duration) map[string]bool {
	got := map[string]bool{}
	deadline := time.After(timeout)
	for !got[last] {
		select {
		case id := <-events:
			got[id] = true
		case <-deadline:
			return got
		}
	}
	grace := time.After(300 * time.Millisecond)
	for {
		select {
		case id := <-events:
			got[id] = true
		case <-grace:
			return got
		}
	}
}

// SuperuserToken creates (once) a superuser and returns an auth token for it.
func (e *Env) SuperuserToken() string {
	e.t.Helper()
	su := e.superuser()
	tok, err := su.NewAuthToken()
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// SuperuserID is the id of the superuser SuperuserToken authenticates.
func (e *Env) SuperuserID() string { return e.superuser().Id }

func (e *Env) superuser() *core.Record {
	e.t.Helper()
	if su, err := e.App.FindAuthRecordByEmail(core.CollectionNameSuperusers, "root@example.com"); err == nil {
		return su
	}
	col, err := e.App.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		e.t.Fatal(err)
	}
	su := core.NewRecord(col)
	su.SetEmail("root@example.com")
	su.SetPassword("password-123")
	if err := e.App.Save(su); err != nil {
		e.t.Fatal(err)
	}
	return su
}
