package csvio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readAll(t *testing.T, path string) (*Reader, [][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r, rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, append([]string(nil), rec...))
	}
}

func TestReaderParsingCases(t *testing.T) {
	cases := []struct {
		file   string
		delim  rune
		header []string
		rows   [][]string
	}{
		{"bom_crlf_semicolon.csv", ';', []string{"Vorname", "Nachname", "E-Mail", "Firma"},
			[][]string{{"Jürgen", "Müller", "juergen@example.de", "Müller; Söhne"}, {"Zoë", "Ødegård", "zoe@example.no", "Fjord AS"}}},
		{"cp1252_tab.csv", '\t', []string{"First Name", "Last Name", "Email", "Company"},
			[][]string{{"François", "Lefèvre", "francois@example.fr", "Café € Co"}, {"José", "Núñez", "jose@example.es", "Peña"}}},
		{"quoted_multiline.csv", ',', []string{"first_name", "last_name", "primary_email", "company"},
			[][]string{{"Multi", "Line", "multi@example.com", "Line one\nLine two, with comma"},
				{"Quote", `"Q"`, "quote@example.com", `Says "hi"`}, {"Plain", "Row", "plain@example.com", "Plain Co"}}},
		{"ragged.csv", ',', []string{"first_name", "last_name", "primary_email", "company"},
			[][]string{{"Short", "Row", "short@example.com"}, {"Trailing", "Empty", "trailing@example.com", "Co", "", ""},
				{"Extra", "Cells", "extra@example.com", "Co", "surprise"}, {"Only"}}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			r, rows := readAll(t, "testdata/"+c.file)
			if r.Delimiter != c.delim {
				t.Errorf("delimiter %q, want %q", r.Delimiter, c.delim)
			}
			if !reflect.DeepEqual(r.Header, c.header) {
				t.Errorf("header %q, want %q", r.Header, c.header)
			}
			if !reflect.DeepEqual(rows, c.rows) {
				t.Errorf("rows %q\nwant %q", rows, c.rows)
			}
		})
	}
	// the row number is the spreadsheet row even with an embedded newline
	r, _ := readAll(t, "testdata/quoted_multiline.csv")
	if r.Row != 4 {
		t.Errorf("last row %d, want 4 (header + 3)", r.Row)
	}
}

func TestEmptyFile(t *testing.T) {
	if _, err := NewReader(strings.NewReader("")); !errors.Is(err, ErrEmpty) {
		t.Fatalf("got %v", err)
	}
	if _, err := NewReader(strings.NewReader("\xef\xbb\xbf,,\n")); !errors.Is(err, ErrEmpty) {
		t.Fatalf("got %v", err)
	}
}

func TestNeutralizeRoundTrip(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+44 20": "'+44 20", "-5": "'-5", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
		"'=x": "''=x", "'hello": "'hello", "hello": "hello", "": "",
	} {
		if got := Neutralize(in); got != want {
			t.Errorf("Neutralize(%q) = %q, want %q", in, got, want)
		}
		if back := Restore(Neutralize(in)); back != in {
			t.Errorf("Restore(Neutralize(%q)) = %q", in, back)
		}
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf)
	_ = w.Write([]string{"=cmd|' /C calc'!A0", "ok"})
	_ = w.Flush()
	if got := buf.String(); got != "\xef\xbb\xbf'=cmd|' /C calc'!A0,ok\r\n" {
		t.Errorf("written %q", got)
	}
}

func TestAutoTargetPresets(t *testing.T) {
	custom := []CustomField{{Name: "tier", Label: "Customer tier"}, {Name: "mobile", Label: "Mobile"}, {Name: "phone_note", Label: "primary phone"}}
	for h, want := range map[string]Target{
		// the workspace's own field wins over an alias, never over a base
		// field's own name
		"Mobile": {Kind: KindCustom, Field: "mobile"}, "Primary Phone": {Kind: KindBase, Field: "primary_phone"},
		"Given Name": {Kind: KindBase, Field: "first_name"}, "Family Name": {Kind: KindBase, Field: "last_name"},
		"E-mail 1 - Value": {Kind: KindBase, Field: "primary_email"}, "Phone 1 - Value": {Kind: KindBase, Field: "primary_phone"},
		"Organization 1 - Name": {Kind: KindBase, Field: "company"}, "E-mail Address": {Kind: KindBase, Field: "primary_email"},
		"Mobile Phone": {Kind: KindBase, Field: "primary_phone"}, "Name": {Kind: KindFullName},
		"Customer Tier": {Kind: KindCustom, Field: "tier"}, "tier": {Kind: KindCustom, Field: "tier"},
		"Notes": {Kind: KindIgnore}, "E-mail 1 - Type": {Kind: KindIgnore},
	} {
		if got := AutoTarget(h, custom); !reflect.DeepEqual(got, want) {
			t.Errorf("%q → %+v, want %+v", h, got, want)
		}
	}
	if got := AutoTarget("Mobile", nil); !reflect.DeepEqual(got, Target{Kind: KindBase, Field: "primary_phone"}) {
		t.Errorf("Mobile without a custom field → %+v, want the primary phone", got)
	}
	if got, _ := ParseTargetString("new:date:Birth Day", "DOB"); got.Field != "birth_day" || got.Type != "date" || got.Label != "Birth Day" {
		t.Errorf("new target %+v", got)
	}
}
