package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// templates: drafts and versions. A template drafted by the AI (or rewritten
// by it) is saved as a draft for a person to review; a rewrite is a new
// version that points at the one it was made from, which is kept. text_auto
// says body_text is generated from body_html (services/templates): it follows
// every HTML edit until someone writes the text part by hand.
//
// The rules of templates are unchanged (1764001100): the new relation
// "previous" must stay inside the template's workspace, which the create and
// update rules below add to the existing ones.
func init() {
	m.Register(func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("templates")
		if err != nil {
			return err
		}
		c.Fields.Add(
			&core.SelectField{Name: "status", Values: []string{"draft", "ready"}, MaxSelect: 1},
			&core.NumberField{Name: "version", OnlyInt: true, Min: ptrFloat1300(1)},
			&core.RelationField{Name: "previous", CollectionId: c.Id, MaxSelect: 1},
			&core.BoolField{Name: "text_auto"},
		)
		sameWs := `(previous = "" || previous.workspace = workspace)`
		if c.CreateRule != nil {
			r := "(" + *c.CreateRule + ") && " + sameWs
			c.CreateRule = &r
		}
		if c.UpdateRule != nil {
			r := "(" + *c.UpdateRule + `) && (@request.body.previous:isset = false || @request.body.previous = "" || @request.body.previous.workspace = workspace)`
			c.UpdateRule = &r
		}
		if err := app.Save(c); err != nil {
			return err
		}
		_, err = app.DB().NewQuery(`UPDATE templates SET status = 'ready', version = 1 WHERE status = '' OR status IS NULL`).Execute()
		return err
	}, func(app core.App) error {
		c, err := app.FindCollectionByNameOrId("templates")
		if err != nil {
			return err
		}
		for _, f := range []string{"status", "version", "previous", "text_auto"} {
			c.Fields.RemoveByName(f)
		}
		return app.Save(c)
	})
}

func ptrFloat1300(f float64) *float64 { return &f }
