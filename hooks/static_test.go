package hooks_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pi-crm/pi-crm/hooks"
	"github.com/pi-crm/pi-crm/internal/testutil"
)

// The UI is served at / with the SPA fallback, and never shadows the API.
func TestServesUI(t *testing.T) {
	env := testutil.NewWithConfig(t, hooks.Config{Public: fstest.MapFS{
		"index.html":    {Data: []byte("<html>pi-crm app</html>")},
		"assets/app.js": {Data: []byte("console.log(1)")},
	}})
	for path, want := range map[string]string{
		"/":                 "pi-crm app",
		"/contacts/abc":     "pi-crm app", // client-side route
		"/assets/app.js":    "console.log",
		"/api/health":       "API is healthy",
		"/api/crm/me":       "", // 401 JSON, not the index page
		"/api/collections/": "",
	} {
		res := env.Do("GET", path, "", nil)
		body := string(res.Body)
		if want != "" && (res.Status != 200 || !strings.Contains(body, want)) {
			t.Errorf("%s: %d %q", path, res.Status, body)
		}
		if want == "" && strings.Contains(body, "pi-crm app") {
			t.Errorf("%s served the UI instead of the API", path)
		}
	}
}
