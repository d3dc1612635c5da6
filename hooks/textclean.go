package hooks

import (
	"github.com/pi-crm/pi-crm/services/textclean"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
)

// registerTextClean applies services/textclean's one rule (NUL and the
// other C0 control characters but tab, LF and CR are stripped) to the text,
// editor, email and url fields of every record of a pi-crm collection on create and update. It is a model hook, so REST,
// batch, custom routes, the CLI and services all pass through it; it runs
// first (before the contact normalisation and the collection's own
// validation), so those see the cleaned values. Custom values (a JSON
// object) are cleaned by customfields, imports (raw SQL) by csvio.
func registerTextClean(app core.App) {
	h := &hook.Handler[*core.RecordEvent]{
		Func: func(e *core.RecordEvent) error {
			cleanRecord(e.Record)
			return e.Next()
		},
		Priority: -1000,
	}
	app.OnRecordCreate().Bind(h)
	app.OnRecordUpdate().Bind(h)
}

func cleanRecord(rec *core.Record) {
	col := rec.Collection()
	if col == nil || col.System {
		return // PocketBase's own collections (superusers, tokens, logs)
	}
	for _, f := range col.Fields {
		switch f.(type) {
		case *core.TextField, *core.EditorField, *core.EmailField, *core.URLField:
		default:
			continue
		}
		name := f.GetName()
		if v := rec.GetString(name); textclean.Dirty(v) {
			rec.Set(name, textclean.String(v))
		}
	}
}
