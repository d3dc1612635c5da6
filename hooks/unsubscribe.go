package hooks

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/pi-crm/pi-crm/services/unsubscribe"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// registerUnsubscribe binds the public unsubscribe links (no login, no
// cookie; outside /api/crm): GET /u/{token} shows a confirmation page and
// changes nothing (mail scanners follow links), POST /u/{token} unsubscribes
// (the page's button, and the RFC 8058 one-click POST with body
// List-Unsubscribe=One-Click). A tampered or unknown token is 404 and
// changes nothing. These paths are more specific than the SPA's GET
// /{path...}, so the catch-all never answers them; PocketBase's rate limiter
// covers them through the "/u/" and "POST /u/" rules (migration 1764001450).
func registerUnsubscribe(app core.App, now func() time.Time) {
	links := unsubscribe.NewLinks(app)
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{
		Func: func(se *core.ServeEvent) error {
			se.Router.GET(unsubscribe.Path+"{token}", func(e *core.RequestEvent) error {
				c, err := links.Parse(e.Request.PathValue("token"))
				if err != nil {
					return unsubscribePage(e, err, unsubscribePageData{})
				}
				t, err := unsubscribe.Resolve(e.App, c)
				return unsubscribePage(e, err, unsubscribePageData{Confirm: true, Workspace: t.WorkspaceName, Channel: c.Channel, Address: mask(t.Address)})
			})
			se.Router.POST(unsubscribe.Path+"{token}", func(e *core.RequestEvent) error {
				c, err := links.Parse(e.Request.PathValue("token"))
				if err != nil {
					return unsubscribePage(e, err, unsubscribePageData{})
				}
				out, err := unsubscribe.Unsubscribe(e.App, c, now)
				return unsubscribePage(e, err, unsubscribePageData{Done: true, Workspace: out.WorkspaceName, Channel: c.Channel, Address: mask(out.Address)})
			})
			return se.Next()
		},
	})
}

type unsubscribePageData struct {
	Confirm, Done, NotFound, Failed bool
	Workspace, Channel, Address     string
}

func unsubscribePage(e *core.RequestEvent, err error, d unsubscribePageData) error {
	status := http.StatusOK
	switch {
	case errors.Is(err, unsubscribe.ErrInvalid):
		status, d = http.StatusNotFound, unsubscribePageData{NotFound: true}
	case err != nil:
		e.App.Logger().Error("unsubscribe failed", "error", err.Error())
		status, d = http.StatusInternalServerError, unsubscribePageData{Failed: true}
	}
	var b bytes.Buffer
	if err := unsubscribeTemplate.Execute(&b, d); err != nil {
		return err
	}
	h := e.Response.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	return e.Blob(status, "text/html; charset=utf-8", b.Bytes())
}

// mask shows enough of an address to recognise it: j•••@example.org.
func mask(addr string) string {
	at := -1
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == '@' {
			at = i
			break
		}
	}
	if at > 0 {
		return addr[:1] + "•••" + addr[at:]
	}
	if len(addr) > 4 {
		return "•••" + addr[len(addr)-4:]
	}
	return "•••"
}

var unsubscribeTemplate = template.Must(template.New("u").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{if .Done}}You are unsubscribed{{else if .Confirm}}Unsubscribe{{else}}Link not valid{{end}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f6f7f9;color:#1d2330;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;max-width:28rem;margin:1rem;padding:2rem;border-radius:.75rem;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 1rem}p{line-height:1.5}
button{font:inherit;background:#2457d6;color:#fff;border:0;border-radius:.5rem;padding:.7rem 1.2rem;cursor:pointer}
button:focus{outline:3px solid #9db7f5;outline-offset:2px}.muted{color:#5b6475;font-size:.9rem}
</style></head><body><main>
{{if .Done}}
<h1>You are unsubscribed</h1>
<p>{{if .Address}}{{.Address}} will{{else}}You will{{end}} get no more {{if eq .Channel "sms"}}text messages{{else}}emails{{end}}{{if .Workspace}} from {{.Workspace}}{{end}}.</p>
<p class="muted">You can close this page.</p>
{{else if .Confirm}}
<h1>Unsubscribe</h1>
<p>Stop {{if eq .Channel "sms"}}text messages{{else}}emails{{end}}{{if .Workspace}} from {{.Workspace}}{{end}}{{if .Address}} to {{.Address}}{{end}}?</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>
{{else if .NotFound}}
<h1>This link is not valid</h1>
<p>The unsubscribe link is incomplete or no longer known. Use the link from the message exactly as it came, or reply to the sender.</p>
{{else}}
<h1>Something went wrong</h1>
<p>Your request was not saved. Please try again in a moment.</p>
{{end}}
</main></body></html>
`))
