package hooks_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pocketbase/dbx"
)

const templatesURL = "/api/collections/templates/records"

// The preview routes render and write nothing (TestPreviewWritesNothing).
func init() {
	auditedRoutes["POST /api/crm/templates/{id}/preview"] = "TestPreviewWritesNothing"
	auditedRoutes["POST /api/crm/templates/preview"] = "TestPreviewWritesNothing"
}

// templateWorld: workspace W with a custom field "tier" (select) and "vip"
// (boolean), two contacts with different values; X with its own contact.
type templateWorld struct {
	*crmFixture
	ada, bob, xc string
}

func newTemplateWorld(t *testing.T) templateWorld {
	f := newCRM(t)
	for _, d := range []map[string]any{
		{"user": f.owner.Id, "workspace": f.w.Id, "field_name": "tier", "label": "Tier", "field_type": "select", "options": []string{"gold", "silver"}},
		{"user": f.owner.Id, "workspace": f.w.Id, "field_name": "vip", "label": "VIP", "field_type": "boolean"},
	} {
		mustStatus(t, f.env.Do(http.MethodPost, "/api/collections/custom_field_definitions/records", f.tok["owner"], d), 200, "")
	}
	w := templateWorld{crmFixture: f}
	w.ada = mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "first_name": "Ada", "primary_email": "ada@example.com",
		"custom": map[string]any{"tier": "gold", "vip": true}}), 200, "")["id"].(string)
	w.bob = mustStatus(t, f.post(t, "editor", map[string]any{"workspace": f.w.Id, "first_name": "Bob", "primary_email": "bob@example.com",
		"custom": map[string]any{"tier": "silver", "vip": false}}), 200, "")["id"].(string)
	w.xc = mustStatus(t, f.post(t, "outsider", map[string]any{"workspace": f.x.Id, "first_name": "Xena", "primary_email": "x@example.com"}), 200, "")["id"].(string)
	return w
}

func (w templateWorld) template(t *testing.T, who string, body map[string]any) map[string]any {
	t.Helper()
	if body["workspace"] == nil {
		body["workspace"] = w.w.Id
	}
	return mustStatus(t, w.env.Do(http.MethodPost, templatesURL, w.tok[who], body), 200, "")
}

func TestTemplateSaveChecksAndFillsText(t *testing.T) {
	w := newTemplateWorld(t)
	tpl := w.template(t, "editor", map[string]any{"name": "News", "channel": "email", "subject": "Hi {{first_name}}",
		"body_html": `<p>Hi {{first_name | default "there"}}, <a href="https://shop.example">shop</a></p>`})
	if tpl["body_text"] != `Hi {{first_name | default "there"}}, shop (https://shop.example)` || tpl["text_auto"] != true {
		t.Fatalf("text part %q auto %v", tpl["body_text"], tpl["text_auto"])
	}
	if tpl["status"] != "ready" || tpl["version"] != float64(1) {
		t.Fatalf("defaults: %v %v", tpl["status"], tpl["version"])
	}
	id := tpl["id"].(string)
	// an HTML edit moves the generated text along
	up := mustStatus(t, w.env.Do(http.MethodPatch, templatesURL+"/"+id, w.tok["editor"], map[string]any{"body_html": "<p>Bye {{first_name}}</p>"}), 200, "")
	if up["body_text"] != "Bye {{first_name}}" {
		t.Fatalf("regenerated text %q", up["body_text"])
	}
	// a text written by hand is kept from then on
	up = mustStatus(t, w.env.Do(http.MethodPatch, templatesURL+"/"+id, w.tok["editor"], map[string]any{"body_text": "My own {{first_name}}"}), 200, "")
	if up["text_auto"] != false {
		t.Fatal("hand-written text still auto")
	}
	up = mustStatus(t, w.env.Do(http.MethodPatch, templatesURL+"/"+id, w.tok["editor"], map[string]any{"body_html": "<p>Again</p>"}), 200, "")
	if up["body_text"] != "My own {{first_name}}" {
		t.Fatalf("hand-written text replaced: %q", up["body_text"])
	}

	// a broken template is refused at save, naming the line and the token,
	// through the API and for a superuser (admin dashboard) alike
	for _, tok := range []string{w.tok["editor"], w.env.SuperuserToken()} {
		res := w.env.Do(http.MethodPost, templatesURL, tok, map[string]any{"workspace": w.w.Id, "name": "Broken", "channel": "email",
			"body_html": "<p>\n{{custom.tierr}}</p>"})
		d := dataOf(mustStatus(t, res, 400, "template_invalid"))
		if d["field"] != "body_html" || d["line"] != float64(2) || d["token"] != "custom.tierr" || !strings.Contains(res.JSON()["message"].(string), "did you mean custom.tier") {
			t.Fatalf("error data %v %s", d, res.Body)
		}
	}
	res := w.env.Do(http.MethodPatch, templatesURL+"/"+id, w.tok["editor"], map[string]any{"subject": "{{first_name | shout}}"})
	mustStatus(t, res, 400, "template_invalid")
	if got, _ := w.env.App.FindRecordById("templates", id); got.GetString("subject") != "Hi {{first_name}}" {
		t.Fatalf("refused update applied: %q", got.GetString("subject"))
	}
	// names are unique per workspace, with a code
	res = w.env.Do(http.MethodPost, templatesURL, w.tok["editor"], map[string]any{"workspace": w.w.Id, "name": "News", "channel": "sms", "body_text": "x"})
	if d := dataOf(mustStatus(t, res, 409, "template_name_taken")); d["existing_id"] != id {
		t.Fatalf("409 data %v", d)
	}
	w.template(t, "outsider", map[string]any{"workspace": w.x.Id, "name": "News", "channel": "sms", "body_text": "x"})
	// SMS templates have a text body only
	res = w.env.Do(http.MethodPost, templatesURL, w.tok["editor"], map[string]any{"workspace": w.w.Id, "name": "S", "channel": "sms", "body_text": "x", "subject": "no"})
	mustStatus(t, res, 400, "template_invalid")
	// a viewer saves nothing
	res = w.env.Do(http.MethodPost, templatesURL, w.tok["viewer"], map[string]any{"workspace": w.w.Id, "name": "V", "channel": "sms", "body_text": "x"})
	if res.Status == 200 {
		t.Fatal("viewer created a template")
	}
}

func TestTemplatePreviewForTwoContacts(t *testing.T) {
	w := newTemplateWorld(t)
	tpl := w.template(t, "editor", map[string]any{"name": "Tiers", "channel": "email", "subject": "{{first_name}}: {{custom.tier | upper}}",
		"body_html": `<p>{{first_name}} is {{custom.tier}}{{if custom.vip}} (VIP){{end}}</p><a href="{{unsubscribe_url}}">u</a>`})
	url := "/api/crm/templates/" + tpl["id"].(string) + "/preview"
	a := mustStatus(t, w.env.Do(http.MethodPost, url, w.tok["viewer"], map[string]any{"contact": w.ada}), 200, "")
	b := mustStatus(t, w.env.Do(http.MethodPost, url, w.tok["viewer"], map[string]any{"contact": w.bob}), 200, "")
	if a["subject"] != "Ada: GOLD" || !strings.Contains(a["html"].(string), "<p>Ada is gold (VIP)</p>") || a["text"] != "Ada is gold (VIP)\n\nu (https://unsubscribe.invalid/preview)" {
		t.Fatalf("ada: %v", a)
	}
	if b["subject"] != "Bob: SILVER" || !strings.Contains(b["html"].(string), "<p>Bob is silver</p>") {
		t.Fatalf("bob: %v", b)
	}
	// values win over the contact's
	v := mustStatus(t, w.env.Do(http.MethodPost, url, w.tok["editor"], map[string]any{"contact": w.ada, "values": map[string]any{"first_name": "<Eve>", "custom": map[string]any{"vip": false}}}), 200, "")
	if !strings.Contains(v["html"].(string), "<p>&lt;Eve&gt; is gold</p>") {
		t.Fatalf("values: %v", v["html"])
	}
	// another workspace's contact is not found; so is the template for an outsider
	mustStatus(t, w.env.Do(http.MethodPost, url, w.tok["editor"], map[string]any{"contact": w.xc}), 404, "contact_not_found")
	mustStatus(t, w.env.Do(http.MethodPost, url, w.tok["outsider"], map[string]any{"contact": w.xc}), 404, "template_not_found")
	mustStatus(t, w.env.Do(http.MethodPost, "/api/crm/templates/nosuchtemplate1/preview", w.tok["editor"], map[string]any{}), 404, "template_not_found")

	// an API key: templates:read previews, a contact needs contacts:read too;
	// a key restricted to X does not reach W's template
	key := func(body map[string]any) map[string]string {
		res := mustStatus(t, w.env.Do(http.MethodPost, "/api/crm/api-keys", w.tok["owner"], body), 200, "")
		return map[string]string{"X-Api-Key": res["key"].(string)}
	}
	tplOnly := key(map[string]any{"scopes": []string{"templates:read"}})
	if res := w.env.DoWithHeaders(http.MethodPost, url, "", tplOnly, map[string]any{"values": map[string]any{"first_name": "K"}}); res.Status != 200 {
		t.Fatalf("templates:read key: %d %s", res.Status, res.Body)
	}
	mustStatus(t, w.env.DoWithHeaders(http.MethodPost, url, "", tplOnly, map[string]any{"contact": w.ada}), 403, "api_key_scope_missing")
	both := key(map[string]any{"scopes": []string{"templates:read", "contacts:read"}})
	mustStatus(t, w.env.DoWithHeaders(http.MethodPost, url, "", both, map[string]any{"contact": w.ada}), 200, "")
	contactsOnly := key(map[string]any{"scopes": []string{"contacts:read"}})
	mustStatus(t, w.env.DoWithHeaders(http.MethodPost, url, "", contactsOnly, map[string]any{"contact": w.ada}), 403, "api_key_scope_missing")
}

func TestUnsavedPreviewAndSMS(t *testing.T) {
	w := newTemplateWorld(t)
	url := "/api/crm/templates/preview"
	sms := mustStatus(t, w.env.Do(http.MethodPost, url, w.tok["viewer"], map[string]any{"workspace": w.w.Id, "contact": w.ada,
		"template": map[string]any{"channel": "sms", "body_text": "Hi {{first_name}} € " + strings.Repeat("a", 150)}}), 200, "")
	info := sms["sms"].(map[string]any)
	if sms["text"] != "Hi Ada € "+strings.Repeat("a", 150) || info["encoding"] != "GSM-7" || info["characters"] != float64(160) || info["segments"] != float64(1) {
		t.Fatalf("sms: %v", sms)
	}
	res := w.env.Do(http.MethodPost, url, w.tok["viewer"], map[string]any{"workspace": w.w.Id,
		"template": map[string]any{"channel": "email", "body_html": "ok\n\n{{if first_name}}"}})
	if d := dataOf(mustStatus(t, res, 400, "template_invalid")); d["line"] != float64(3) {
		t.Fatalf("line: %v", d)
	}
	mustStatus(t, w.env.Do(http.MethodPost, url, w.tok["outsider"], map[string]any{"workspace": w.w.Id, "template": map[string]any{"channel": "sms", "body_text": "x"}}), 404, "")
	mustStatus(t, w.env.Do(http.MethodPost, url, w.tok["viewer"], map[string]any{"template": "x"}), 400, "template_preview_invalid")

	p := mustStatus(t, w.env.Do(http.MethodGet, "/api/crm/workspaces/"+w.w.Id+"/placeholders", w.tok["viewer"], nil), 200, "")
	var names []string
	for _, v := range p["variables"].([]any) {
		names = append(names, v.(map[string]any)["name"].(string))
	}
	if got := strings.Join(names, ","); !strings.Contains(got, "first_name,") || !strings.HasSuffix(got, "custom.tier,custom.vip") {
		t.Fatalf("placeholders: %s", got)
	}
	mustStatus(t, w.env.Do(http.MethodGet, "/api/crm/workspaces/"+w.w.Id+"/placeholders", w.tok["outsider"], nil), 404, "workspace_not_found")
}

func TestPreviewWritesNothing(t *testing.T) {
	w := newTemplateWorld(t)
	tpl := w.template(t, "editor", map[string]any{"name": "T", "channel": "sms", "body_text": "Hi {{first_name}}"})
	count := func() int {
		n := 0
		for _, c := range []string{"audit_logs", "templates", "communication_logs", "contacts"} {
			n += countRecords(t, w.env.App, c, dbx.NewExp("1=1"))
		}
		return n
	}
	before := count()
	mustStatus(t, w.env.Do(http.MethodPost, "/api/crm/templates/"+tpl["id"].(string)+"/preview", w.tok["editor"], map[string]any{"contact": w.ada}), 200, "")
	mustStatus(t, w.env.Do(http.MethodPost, "/api/crm/templates/preview", w.tok["editor"], map[string]any{"workspace": w.w.Id, "template": map[string]any{"channel": "sms", "body_text": "x"}}), 200, "")
	if after := count(); after != before {
		t.Fatalf("preview wrote %d records", after-before)
	}
}
