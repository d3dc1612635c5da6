package gen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Word lists for realistic-looking people and companies. 100 × 100 name pairs
// give ~10 contacts per pair at 100k, so "first.last" is a selective email
// prefix and a last name matches ~1%.
var (
	firstNames = strings.Fields(`Ada Ben Chloe Dev Elena Farid Grace Hiro Ines Jamal Kira Liam Maya Noah Olga Pablo Quinn Rosa Sami Tara
		Uma Victor Wen Xavier Yara Zoe Aaron Bianca Carlos Dana Emil Fatima Gustav Hana Igor Julia Kofi Lena Marco Nadia
		Oscar Priya Rafael Sofia Tomas Ursula Vera Walter Ximena Yusuf Amir Beatriz Cyril Daria Enzo Freya Gideon Helga
		Ivan Jana Karim Lucia Mateo Nina Omar Paula Ravi Selma Theo Uri Valentina Wanda Yann Zara Anouk Bruno Celine
		Diego Esther Felix Greta Hugo Ingrid Jonas Klara Lars Mila Nils Orla Pietro Rhea Stefan Tess Ugo Viola Will Yuki`)
	lastNames = strings.Fields(`Okafor Schmidt Dubois Patel Rossi Haddad Hopper Tanaka Moreau Wright Novak Walsh Cohen Berg Ivanova Garcia
		Lee Silva Nyberg Khan Andersen Baker Costa Dimitrov Eriksen Fischer Gomez Horvat Ibrahim Jensen Kowalski Larsen
		Mendes Nagy Olsen Petrov Quispe Ramos Santos Torres Ueda Varga Weber Xu Yilmaz Zimmer Abbott Becker Carter Duarte
		Evans Ferreira Grant Hughes Ito Jovanovic Keller Lopez Martin Nielsen Oliveira Perez Quinn Reyes Sato Thomsen
		Usman Vidal Wagner Young Zhang Adler Brandt Castro Diaz Engel Fuchs Gallo Hoffmann Iqbal Jung Kim Lang Mayer Nunez
		Ortiz Park Richter Sousa Tran Vogel Wolf Yamamoto Ziegler Alvarez Bauer Chen Dahl`)
	companyA = strings.Fields(`North South East West Blue Green Red Silver Golden Harbor River Summit Pine Oak Maple Cedar Stone Iron Bright Clear`)
	companyB = strings.Fields(`Bakery Tiles Cafe Clinic Forge Builders Studio Garden Motors Optics Printing Dental Books Fitness Travel Legal Plumbing Florist Bistro Labs`)
	companyC = []string{"Ltd", "LLC", "& Co", "Inc", "GmbH", "", "", ""}
	domains  = strings.Fields(`example.com example.net example.org mail.example.com shop.example.net post.example.org`)
	areas    = []string{"201", "212", "305", "312", "415", "503", "512", "617", "702", "718", "808", "917"}
	sources  = []string{"Walk-in", "Referral", "Website", "Market stall", "Newsletter", "Trade fair"}
	notes    = []string{"Prefers SMS", "Call after 5pm", "Allergic to nuts", "Asked for a quote", "Wholesale buyer", "Seasonal customer"}
	tiers    = []string{"bronze", "silver", "gold", "platinum", "diamond"}
	topics   = []string{"email", "sms", "events", "offers"}
)

// Field is one of the generated workspace's custom field definitions.
type Field struct {
	Name    string   `json:"name"`
	Label   string   `json:"label"`
	Type    string   `json:"type"`
	Options []string `json:"options,omitempty"`
}

// Fields are the 10 custom fields of the main workspace, one or more of each
// common type. "tier" is always set and uniform over 5 options: filtering on
// one value matches 20% of the contacts, like DESIGN.md's listmonk reference.
var Fields = []Field{
	{Name: "tier", Label: "Tier", Type: "select", Options: tiers},
	{Name: "lead_score", Label: "Lead score", Type: "number"},
	{Name: "birthday", Label: "Birthday", Type: "date"},
	{Name: "vip", Label: "VIP", Type: "boolean"},
	{Name: "interests", Label: "Interests", Type: "multiselect", Options: topics},
	{Name: "source", Label: "Source", Type: "text"},
	{Name: "website", Label: "Website", Type: "url"},
	{Name: "alt_email", Label: "Other email", Type: "email"},
	{Name: "mobile", Label: "Mobile", Type: "phone"},
	{Name: "notes", Label: "Notes", Type: "text"},
}

// Person is one generated contact, its values already in the stored
// (canonical) form the app would write.
type Person struct {
	First, Last, Email, Phone, Company string
	// Custom holds canonical stored values by field name; a missing key
	// means no value.
	Custom map[string]string
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// phone builds a US number in E.164 that is unique for i < 8M (and valid for
// libphonenumber: a real area code, exchange 200-999).
func phone(i int) string {
	area := areas[i%len(areas)]
	j := i / len(areas)
	return fmt.Sprintf("+1%s%03d%04d", area, 200+(j/10000)%800, j%10000)
}

// person generates contact i of a data set. Email and phone are unique
// within the set by construction (they embed i).
func person(r *rand.Rand, i int, domainSalt string) Person {
	first, last := pick(r, firstNames), pick(r, lastNames)
	p := Person{
		First: first,
		Last:  last,
		Email: strings.ToLower(fmt.Sprintf("%s.%s%d@%s%s", first, last, i, domainSalt, pick(r, domains))),
		Custom: map[string]string{
			"tier": tiers[r.IntN(len(tiers))],
		},
	}
	if r.IntN(10) != 0 { // 90% have a phone
		p.Phone = phone(i)
	}
	if r.IntN(4) != 0 {
		p.Company = strings.TrimSpace(pick(r, companyA) + " " + pick(r, companyB) + " " + pick(r, companyC))
	}
	if r.IntN(10) < 9 {
		p.Custom["lead_score"] = strconv.Itoa(r.IntN(1000))
	}
	if r.IntN(10) < 7 {
		d := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(365*55))
		p.Custom["birthday"] = d.Format("2006-01-02")
	}
	p.Custom["vip"] = strconv.FormatBool(r.IntN(10) == 0)
	if r.IntN(2) == 0 {
		// canonical multiselect: a JSON list in the definition's order
		var chosen []string
		for _, t := range topics {
			if r.IntN(2) == 0 {
				chosen = append(chosen, `"`+t+`"`)
			}
		}
		if len(chosen) > 0 {
			p.Custom["interests"] = "[" + strings.Join(chosen, ",") + "]"
		}
	}
	p.Custom["source"] = pick(r, sources)
	if p.Company != "" && r.IntN(2) == 0 {
		p.Custom["website"] = "https://" + strings.ToLower(strings.ReplaceAll(strings.Fields(p.Company)[0]+strings.Fields(p.Company)[1], "&", "")) + ".example.com/"
	}
	if r.IntN(5) == 0 {
		p.Custom["alt_email"] = strings.ToLower(fmt.Sprintf("%s%d@%s", last, i, pick(r, domains)))
	}
	if r.IntN(3) == 0 {
		p.Custom["mobile"] = phone(i + 4_000_000)
	}
	if r.IntN(4) == 0 {
		p.Custom["notes"] = pick(r, notes)
	}
	return p
}

// ID alphabet and length of PocketBase's record ids (core.DefaultIdAlphabet,
// core.DefaultIdLength), drawn from the seeded generator so that a data set
// is the same for the same seed.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func newID(r *rand.Rand) string {
	var b [15]byte
	for i := range b {
		b[i] = idAlphabet[r.IntN(len(idAlphabet))]
	}
	return string(b[:])
}

// pbTime formats t the way PocketBase stores datetimes (types.DateTime).
func pbTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") }
