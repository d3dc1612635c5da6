// Package testutil starts pi-crm for tests the way main.go does: a fresh data
// directory, PocketBase's system migrations plus ours, our hooks and routes,
// served over a real HTTP listener on 127.0.0.1.
package testutil

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pi-crm/pi-crm/hooks"
	_ "github.com/pi-crm/pi-crm/migrations"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
)

// Env is a running test instance.
type Env struct {
	App    *tests.TestApp
	Server *httptest.Server
	t      testing.TB
}

// New starts an instance on an empty data dir; it is closed with the test.
func New(t testing.TB) *Env {
	t.Helper()
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	hooks.Register(app, hooks.Config{})

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
	return &Env{App: app, Server: srv, t: t}
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
