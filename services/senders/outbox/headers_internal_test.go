package outbox

import (
	"encoding/json"
	"maps"
	"testing"
)

// headersJSON decodes to the same headers json.Marshal's text does, also for
// quotes, control characters, non-ASCII and invalid UTF-8 (which both write
// as U+FFFD), with the keys in json.Marshal's order.
func TestHeadersJSONDecodesAsMarshal(t *testing.T) {
	for _, h := range []map[string]string{
		{},
		{"Subject": `Ada "the" <best> & co`, "To": "ada@example.com", "X-Tab": "a\tb\nc"},
		{"Subject": "Grüße, 漢字 \u2028 done", "List-Unsubscribe": "<https://x/u/t?a=1&b=2>"},
		{"Subject": "bad \xff byte", "B": "b", "A": "a"},
	} {
		decodesAsMarshal(t, h)
	}
	if got, _ := headersJSON(map[string]string{"b": "2", "a": "1", "C": "3"}); string(got) != `{"C":"3","a":"1","b":"2"}` {
		t.Errorf("order: %s", got)
	}
}

// BenchmarkHeadersJSON: a campaign message's headers; the baseline of the
// same run is json.Marshal.
//
//	go test ./services/senders/outbox -run '^$' -bench HeadersJSON
func BenchmarkHeadersJSON(b *testing.B) {
	h := map[string]string{"To": "ada.lovelace@example.com", "From": "Shop <news@shop.example>", "Subject": "Ada, the December news",
		"Message-ID": "<r0000000000001.c000000000001@shop.example>", "List-Unsubscribe": "<https://crm.shop.example/u/eyJhbGciOi.x.y>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click", "Reply-To": "help@shop.example"}
	b.Run("headersJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = headersJSON(h)
		}
	})
	b.Run("baseline-json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(h)
		}
	})
}

func FuzzHeadersJSON(f *testing.F) {
	f.Add("Subject", "Ada \"x\" \\ \x01 é")
	f.Fuzz(func(t *testing.T, k, v string) {
		decodesAsMarshal(t, map[string]string{k: v, "To": "a@b"})
	})
}

// decodesAsMarshal fails t unless headersJSON(h) is JSON that decodes to
// what json.Marshal(h) decodes to.
func decodesAsMarshal(t *testing.T, h map[string]string) {
	t.Helper()
	got, err := headersJSON(h)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(h)
	var g, w map[string]string
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%q: %v", got, err)
	}
	_ = json.Unmarshal(want, &w)
	if !maps.Equal(g, w) {
		t.Fatalf("headersJSON %q, json.Marshal %q", got, want)
	}
}
