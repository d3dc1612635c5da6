package imports

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/csvio"
	"github.com/pocketbase/dbx"
)

// CodeInvalidExport is the 400 of a bad export query.
const CodeInvalidExport = "export_invalid_query"

// ExportQuery selects what an export writes.
type ExportQuery struct {
	Workspace string
	// List: only contacts in this list.
	List string
	// Q: contacts whose first name, last name, email or company starts with
	// Q (case-insensitive for ASCII letters).
	Q string
	// Custom: custom field name → value the contact must have (equality,
	// after the same normalisation as the value's type applies on save).
	Custom map[string]string
	// Columns to write, in order ("" = id-less default: the base fields,
	// then every custom field of the workspace by name). Names: id, created,
	// updated, the base fields, custom field names (or cf.<name>).
	Columns []string
}

var exportBase = map[string]bool{"id": true, "created": true, "updated": true,
	"first_name": true, "last_name": true, "primary_email": true, "primary_phone": true, "company": true}

// CheckExport returns the error Export would return for q before writing.
func (s *Service) CheckExport(q ExportQuery) error {
	_, _, _, err := s.exportQuery(q)
	return err
}

func (s *Service) exportQuery(q ExportQuery) ([]string, string, dbx.Params, error) {
	defs, err := s.custom.ForWorkspace(s.app, q.Workspace)
	if err != nil {
		return nil, "", nil, err
	}
	cols := slices.Clone(q.Columns)
	if len(cols) == 0 {
		cols = append(cols, csvio.BaseFields...)
		var names []string
		for n := range defs {
			names = append(names, n)
		}
		sort.Strings(names)
		cols = append(cols, names...)
	}
	for i, c := range cols {
		c = strings.TrimPrefix(strings.TrimSpace(c), "cf.")
		cols[i] = c
		if _, ok := defs[c]; !ok && !exportBase[c] {
			return nil, "", nil, apperr.BadRequest(CodeInvalidExport, fmt.Sprintf("columns: %q is neither a contact field nor a custom field of this workspace", c))
		}
	}
	where := []string{"c.workspace = {:ws}"}
	params := dbx.Params{"ws": q.Workspace}
	if q.List != "" {
		where = append(where, "c.id IN (SELECT a.contact FROM contact_list_assignments a WHERE a.list = {:list})")
		params["list"] = q.List
	}
	if t := strings.TrimSpace(q.Q); t != "" {
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(t) + "%"
		params["q"] = esc
		var ors []string
		for _, f := range []string{"first_name", "last_name", "primary_email", "company"} {
			ors = append(ors, "c."+f+` LIKE {:q} ESCAPE '\'`)
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	names := make([]string, 0, len(q.Custom))
	for n := range q.Custom {
		names = append(names, n)
	}
	sort.Strings(names)
	country := s.contacts.WorkspaceCountry(s.app, q.Workspace)
	for i, n := range names {
		d, ok := defs[n]
		if !ok {
			return nil, "", nil, apperr.BadRequest(CodeInvalidExport, fmt.Sprintf("filter: %q is not a custom field of this workspace", n))
		}
		v, err := d.Canonical(q.Custom[n], country)
		if err != nil {
			return nil, "", nil, apperr.BadRequest(CodeInvalidExport, fmt.Sprintf("filter: %s %v", n, err))
		}
		pn, pv := fmt.Sprintf("n%d", i), fmt.Sprintf("v%d", i)
		params[pn], params[pv] = n, v
		where = append(where, fmt.Sprintf("EXISTS (SELECT 1 FROM custom_fields cf WHERE cf.contact = c.id AND cf.field_name = {:%s} AND cf.field_value = {:%s})", pn, pv))
	}
	return cols, strings.Join(where, " AND "), params, nil
}

// Export streams the contacts q selects as CSV to w, one row at a time
// (memory does not grow with the workspace). It returns the number of rows.
func (s *Service) Export(w io.Writer, q ExportQuery) (int, error) {
	cols, where, params, err := s.exportQuery(q)
	if err != nil {
		return 0, err
	}
	rows, err := s.app.DB().NewQuery(`SELECT c.id, c.first_name, c.last_name, c.primary_email, c.primary_phone, c.company,
		COALESCE(c.custom, ''), c.created, c.updated FROM contacts c WHERE ` + where + ` ORDER BY c.created, c.id`).
		Bind(params).Rows()
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cw, err := csvio.NewWriter(w)
	if err != nil {
		return 0, err
	}
	if err := cw.Write(cols); err != nil {
		return 0, err
	}
	needCustom := slices.ContainsFunc(cols, func(c string) bool { return !exportBase[c] })
	base := map[string]*string{}
	var id, first, last, email, phone, company, custom, created, updated string
	for k, p := range map[string]*string{"id": &id, "first_name": &first, "last_name": &last, "primary_email": &email,
		"primary_phone": &phone, "company": &company, "created": &created, "updated": &updated} {
		base[k] = p
	}
	out := make([]string, len(cols))
	n := 0
	for rows.Next() {
		if err := rows.Scan(&id, &first, &last, &email, &phone, &company, &custom, &created, &updated); err != nil {
			return n, err
		}
		var values map[string]any
		if needCustom && custom != "" && custom != "{}" {
			_ = json.Unmarshal([]byte(custom), &values)
		}
		for i, c := range cols {
			if p, ok := base[c]; ok {
				out[i] = *p
			} else {
				out[i] = cell(values[c])
			}
		}
		if err := cw.Write(out); err != nil {
			return n, err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, cw.Flush()
}

// cell writes a typed custom value the way the importer reads it back.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}
