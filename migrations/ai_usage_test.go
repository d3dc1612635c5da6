package migrations_test

import (
	"fmt"
	"net/http"
	"testing"
)

// Provider settings (setting_key provider.*) are written by services/settings
// only: the collection API refuses to create one, to change one, or to turn
// another setting into one, for the workspace's owner as for anyone. Other
// settings stay writable by the owners and admins (the controls).
func TestProviderSettingsRefusedThroughTheCollectionAPI(t *testing.T) {
	f := newFixture(t)
	base := "/api/collections/system_settings/records"
	for _, p := range []string{pOwner, pAdmin} {
		token := f.tokens[p]
		n := f.next()
		// control: an ordinary setting
		if res := f.env.Do(http.MethodPost, base, token, map[string]any{"scope": "workspace", "scope_id": f.w.Id,
			"setting_key": fmt.Sprintf("ui.k%d", n), "setting_value": map[string]any{"a": 1}}); res.Status != http.StatusOK {
			t.Fatalf("%s: control create %d %s", p, res.Status, res.Body)
		}
		for _, key := range []string{"provider.ai", "provider.smtp", fmt.Sprintf("provider.x%d", n)} {
			res := f.env.Do(http.MethodPost, base, token, map[string]any{"scope": "workspace", "scope_id": f.w.Id,
				"setting_key": key, "setting_value": map[string]any{"base_url": "http://evil.example/v1"}, "secret_value": "plain"})
			if res.Status == http.StatusOK {
				t.Errorf("%s created %s through the collection API: %s", p, key, res.Body)
			}
		}

		provider := f.env.Create("system_settings", map[string]any{"scope": "workspace", "scope_id": f.w.Id,
			"setting_key": fmt.Sprintf("provider.p%d", n), "setting_value": map[string]any{"model": "m"}})
		if res := f.env.Do(http.MethodPatch, base+"/"+provider.Id, token, map[string]any{"setting_value": map[string]any{"model": "other"}}); res.Status == http.StatusOK {
			t.Errorf("%s changed a provider setting: %s", p, res.Body)
		}
		if res := f.env.Do(http.MethodPatch, base+"/"+provider.Id, token, map[string]any{"setting_key": fmt.Sprintf("ui.moved%d", n)}); res.Status == http.StatusOK {
			t.Errorf("%s renamed a provider setting away: %s", p, res.Body)
		}
		plain := f.env.Create("system_settings", map[string]any{"scope": "workspace", "scope_id": f.w.Id,
			"setting_key": fmt.Sprintf("ui.plain%d", n), "setting_value": map[string]any{"a": 1}})
		if res := f.env.Do(http.MethodPatch, base+"/"+plain.Id, token, map[string]any{"setting_key": fmt.Sprintf("provider.q%d", n)}); res.Status == http.StatusOK {
			t.Errorf("%s turned a setting into a provider setting: %s", p, res.Body)
		}
		// control: the ordinary setting still changes
		if res := f.env.Do(http.MethodPatch, base+"/"+plain.Id, token, map[string]any{"setting_value": map[string]any{"a": 2}}); res.Status != http.StatusOK {
			t.Errorf("%s: control update %d %s", p, res.Status, res.Body)
		}
		// and the provider setting is readable (its secret field is hidden) and deletable
		if res := f.env.Do(http.MethodGet, base+"/"+provider.Id, token, nil); res.Status != http.StatusOK {
			t.Errorf("%s cannot read a provider setting: %d", p, res.Status)
		}
	}
}
