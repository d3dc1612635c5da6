package templates

import "unicode/utf16"

// SMSInfo is how an SMS body goes over the air.
type SMSInfo struct {
	Encoding   string `json:"encoding"`   // "GSM-7" or "UCS-2"
	Characters int    `json:"characters"` // GSM-7 septets, or UTF-16 code units
	Segments   int    `json:"segments"`
}

// gsmBasic is the GSM 03.38 default alphabet; gsmExtension the characters of
// its extension table, sent as an escape and the character (two septets).
const (
	gsmBasic     = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

var gsmWidth = func() map[rune]int {
	m := map[rune]int{}
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtension {
		m[r] = 2
	}
	return m
}()

// Segments counts an SMS body: GSM-7 when every character is in the GSM
// alphabet (extension characters count two), UCS-2 otherwise (UTF-16 code
// units: an emoji is two); one segment holds 160 / 70, a part of a longer
// message 153 / 67 (the rest is the concatenation header). An empty body is
// no segment.
func Segments(s string) SMSInfo {
	septets := 0
	for _, r := range s {
		w, ok := gsmWidth[r]
		if !ok {
			units := len(utf16.Encode([]rune(s)))
			return SMSInfo{Encoding: "UCS-2", Characters: units, Segments: segments(units, 70, 67)}
		}
		septets += w
	}
	return SMSInfo{Encoding: "GSM-7", Characters: septets, Segments: segments(septets, 160, 153)}
}

func segments(n, single, part int) int {
	switch {
	case n == 0:
		return 0
	case n <= single:
		return 1
	}
	return (n + part - 1) / part
}
