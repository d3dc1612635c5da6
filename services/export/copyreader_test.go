package export

import (
	"encoding/json"
	"testing"
)

// The token reader must write every cell exactly as decoding the copy and
// formatting it with cell() does.
func TestCopyReaderMatchesCell(t *testing.T) {
	copies := []string{
		``, `{}`, `null`, `[1,2]`, `{"a":`, `not json`,
		`{"a":"x","b":42,"c":7.5,"d":true,"e":false,"f":null}`,
		`{"a":"caf\u00e9 \"q\" \\ \n","b":1e21,"c":-0.000001,"d":123456789012345678}`,
		`{"b":["<gold>","a&b","é"],"other":{"x":1},"a":""}`,
		`{"\u0061":"escaped name","b":0}`,
		`{"a":"dup1","a":"dup2"}`,
		`{ "a" : "spaces" , "b" : 3 }`,
		`{"a":"x","b":-5,"c":0.1,"d":-0,"e":1.5e3,"f":"tab\there"}`,
		`{"a":01}`, `{"a":"x"} trailing`, `{"a":"x",}`, `{"a":tru}`, `{"b":2.50,"a":"no \u escapes"}`,
		"{\"a\":\"raw\tcontrol\"}",
		// multiselect lists: compact and plain on the fast path, the rest decoded
		`{"b":["email","sms"],"a":"x"}`, `{"b":[]}`, `{"b":["a","<"]}`, `{"b":[ "a"]}`, `{"b":["a",1]}`,
		`{"b":["a\u2028"]}`, "{\"b\":[\"raw \u2028 sep\"]}", `{"b":["x"],"a":"y"}`, `{"b":["a","b"`, `{"b":["é","ü"]}`,
	}
	want := map[string]int{"a": 0, "b": 1, "c": 2, "d": 3, "e": 4, "f": 5}
	out := make([]string, 7)
	r := newCopyReader(want, out)
	for _, custom := range copies {
		for i := range out {
			out[i] = "stale" // a previous row's cells must not survive
		}
		out[6] = "base"
		r.read(custom)
		var values map[string]any
		_ = json.Unmarshal([]byte(custom), &values)
		for name, i := range want {
			if exp := cell(values[name]); out[i] != exp {
				t.Errorf("copy %s: %s = %q, want %q", custom, name, out[i], exp)
			}
		}
		if out[6] != "base" {
			t.Errorf("copy %s overwrote a base cell", custom)
		}
	}
}
