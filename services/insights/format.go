package insights

import (
	"math"
	"strconv"
	"strings"
)

// The short sentences of the metrics: numbers with thousands separators,
// singular and plural, one decimal.

func num(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return num(n) + " " + many
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func round4(f float64) float64 { return math.Round(f*10000) / 10000 }

func fmt1(f float64) string { return strconv.FormatFloat(round1(f), 'f', -1, 64) }

// trend compares a period with the one before: up, down or flat, and the
// change in percent (nil when the period before had none: no base).
func trend(cur, prev int) (string, any) {
	dir := "flat"
	switch {
	case cur > prev:
		dir = "up"
	case cur < prev:
		dir = "down"
	}
	if prev == 0 {
		return dir, nil
	}
	return dir, round1(100 * float64(cur-prev) / float64(prev))
}

func trendWords(dir string, pct any) string {
	p, ok := pct.(float64)
	switch {
	case dir == "flat":
		return ": flat"
	case !ok:
		return ": " + dir
	case p < 0:
		return ": down " + fmt1(-p) + "%"
	default:
		return ": up " + fmt1(p) + "%"
	}
}
