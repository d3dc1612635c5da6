// Package unsubscribe is the unsubscribe side of sending: signed links
// naming workspace, contact, campaign and channel, the RFC 8058 headers, and
// the unsubscribe itself (a suppressions row, a timeline entry, the
// campaign's delivery marked).
//
// A token is "<workspace>.<contact>.<campaign>.<e|s>.<mac>": the record ids
// as they are (PocketBase ids: [a-z0-9]), the channel's letter, and the
// first 16 bytes of HMAC-SHA256 over the rest, base64url. The key is derived
// from the settings key (settings.Store.DeriveKey("unsubscribe")): changing
// --encryptionEnv or the key file voids every link sent before. Tokens do
// not expire: an old message's link keeps working.
package unsubscribe

import (
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pi-crm/pi-crm/services/commlog"
	"github.com/pi-crm/pi-crm/services/settings"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// Path is where the links live (public routes, outside /api).
const Path = "/u/"

// Reason is the suppressions.reason of an unsubscribe.
const Reason = "unsubscribe"

// DeliveryReason marks the campaign's delivery row of the contact (its
// reason field; its status stays what it was: sent is still sent).
const DeliveryReason = "unsubscribed"

const macLen = 16

// ErrInvalid: a tampered, malformed or unknown token, or one whose records
// do not exist (any of these is a 404 and changes nothing).
var ErrInvalid = errors.New("unsubscribe: invalid token")

// isID: what a record id may be here, 1 to 32 of [a-z0-9] (a loop, not a
// regexp: a campaign signs a token per message)
func isID(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Claims is what a token names.
type Claims struct {
	Workspace, Contact, Campaign, Channel string
}

// Links makes and reads tokens and URLs.
type Links struct {
	app   core.App
	store *settings.Store

	mu   sync.Mutex
	key  []byte
	macs sync.Pool // HMACs keyed with key (set once), reused: a campaign signs a token per message
}

// NewLinks returns the links of app.
func NewLinks(app core.App) *Links { return &Links{app: app, store: settings.New(app)} }

func (l *Links) secret() ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.key != nil {
		return l.key, nil
	}
	k, err := l.store.DeriveKey("unsubscribe")
	if err != nil {
		return nil, err
	}
	l.key = k
	return k, nil
}

func channelLetter(ch string) (string, bool) {
	switch ch {
	case "email":
		return "e", true
	case "sms":
		return "s", true
	}
	return "", false
}

// Token signs c. Workspace and contact are required; the campaign may be ""
// (a message outside a campaign).
func (l *Links) Token(c Claims) (string, error) {
	letter, ok := channelLetter(c.Channel)
	if !ok {
		return "", fmt.Errorf("unsubscribe: channel %q", c.Channel)
	}
	if !isID(c.Workspace) || !isID(c.Contact) || (c.Campaign != "" && !isID(c.Campaign)) {
		return "", fmt.Errorf("unsubscribe: workspace, contact and campaign must be record ids")
	}
	key, err := l.secret()
	if err != nil {
		return "", err
	}
	payload := c.Workspace + "." + c.Contact + "." + c.Campaign + "." + letter
	return payload + "." + l.sign(key, payload), nil
}

func (l *Links) sign(key []byte, payload string) string {
	m, ok := l.macs.Get().(hash.Hash)
	if ok {
		m.Reset()
	} else {
		m = hmac.New(sha256.New, key)
	}
	_, _ = io.WriteString(m, "v1:")
	_, _ = io.WriteString(m, payload)
	var sum [sha256.Size]byte
	out := base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0])[:macLen])
	l.macs.Put(m)
	return out
}

// Parse checks token's signature and returns what it names (ErrInvalid).
func (l *Links) Parse(token string) (Claims, error) {
	if len(token) > 200 {
		return Claims{}, ErrInvalid
	}
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return Claims{}, ErrInvalid
	}
	payload, mac := token[:i], token[i+1:]
	parts := strings.Split(payload, ".")
	if len(parts) != 4 {
		return Claims{}, ErrInvalid
	}
	key, err := l.secret()
	if err != nil {
		return Claims{}, err
	}
	if !hmac.Equal([]byte(mac), []byte(l.sign(key, payload))) {
		return Claims{}, ErrInvalid
	}
	c := Claims{Workspace: parts[0], Contact: parts[1], Campaign: parts[2]}
	switch parts[3] {
	case "e":
		c.Channel = "email"
	case "s":
		c.Channel = "sms"
	default:
		return Claims{}, ErrInvalid
	}
	return c, nil
}

// URL is the unsubscribe link under PocketBase's Application URL
// (meta.appURL).
func (l *Links) URL(ws, contact, campaign, channel string) (string, error) {
	base := strings.TrimRight(strings.TrimSpace(l.app.Settings().Meta.AppURL), "/")
	if base == "" {
		return "", errors.New("unsubscribe: the Application URL (Settings → Application → URL) is not set")
	}
	tok, err := l.Token(Claims{Workspace: ws, Contact: contact, Campaign: campaign, Channel: channel})
	if err != nil {
		return "", err
	}
	return base + Path + tok, nil
}

// Headers are the RFC 8058 one-click headers of a message whose unsubscribe
// link is url.
func Headers(url string) map[string]string {
	return map[string]string{
		"List-Unsubscribe":      "<" + url + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}
}

// Target is what a valid token points at.
type Target struct {
	Claims
	Address       string // the suppressed address
	WorkspaceName string
	CampaignName  string
	contact       *core.Record
	delivery      *core.Record
}

// Resolve checks that the token's records exist and belong together: the
// contact and the campaign in the token's workspace, and an address to
// suppress (the delivery's, else the contact's). Anything else is ErrInvalid.
func Resolve(app core.App, c Claims) (Target, error) {
	t := Target{Claims: c}
	ws, err := app.FindRecordById("workspaces", c.Workspace)
	if err != nil {
		return t, notFound(err)
	}
	t.WorkspaceName = ws.GetString("name")
	contact, err := app.FindRecordById("contacts", c.Contact)
	if err != nil {
		return t, notFound(err)
	}
	if contact.GetString("workspace") != c.Workspace {
		return t, ErrInvalid
	}
	t.contact = contact
	if c.Campaign != "" {
		camp, err := app.FindRecordById("campaigns", c.Campaign)
		if err != nil {
			return t, notFound(err)
		}
		if camp.GetString("workspace") != c.Workspace {
			return t, ErrInvalid
		}
		t.CampaignName = camp.GetString("name")
		d, err := app.FindFirstRecordByFilter("campaign_deliveries", "campaign = {:c} && contact = {:k}", dbx.Params{"c": c.Campaign, "k": c.Contact})
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return t, err
		}
		if err == nil {
			t.delivery = d
			if d.GetString("channel") == c.Channel {
				t.Address = d.GetString("address")
			}
		}
	}
	if t.Address == "" {
		if c.Channel == "email" {
			t.Address = contact.GetString("primary_email")
		} else {
			t.Address = contact.GetString("primary_phone")
		}
	}
	if t.Address == "" {
		return t, ErrInvalid
	}
	return t, nil
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrInvalid
	}
	return err
}

// Outcome of an unsubscribe.
type Outcome struct {
	Target
	Created bool // false: the address was already suppressed
}

// Unsubscribe suppresses the token's address in one transaction: the
// suppressions row (once: a second call finds it and writes nothing), a
// system timeline entry on the contact, and the campaign's delivery row
// marked with reason "unsubscribed" (its status stays).
func Unsubscribe(app core.App, c Claims, now func() time.Time) (Outcome, error) {
	var out Outcome
	err := app.RunInTransaction(func(tx core.App) error {
		t, err := Resolve(tx, c)
		if err != nil {
			return err
		}
		out.Target = t
		n := 0
		if err := tx.DB().Select("count(*)").From("suppressions").
			Where(dbx.HashExp{"workspace": c.Workspace, "channel": c.Channel, "address": t.Address}).Row(&n); err != nil {
			return err
		}
		if n == 0 {
			col, err := tx.FindCachedCollectionByNameOrId("suppressions")
			if err != nil {
				return err
			}
			rec := core.NewRecord(col)
			rec.Set("workspace", c.Workspace)
			rec.Set("channel", c.Channel)
			rec.Set("address", t.Address)
			rec.Set("reason", Reason)
			if err := tx.Save(rec); err != nil {
				return err
			}
			out.Created = true
			what := "Unsubscribed from " + c.Channel + " (" + t.Address + ") through the link in a message"
			if t.CampaignName != "" {
				what += " of the campaign “" + t.CampaignName + "”"
			}
			if err := commlog.NewWriter(now).System(tx, c.Workspace, c.Contact, what); err != nil {
				return err
			}
		}
		if d := t.delivery; d != nil && d.GetString("reason") != DeliveryReason && d.GetString("status") != "skipped" {
			// only the reason, by id: the engine may be writing the row's
			// status at the same time, and a skipped row keeps its reason
			if _, err := tx.DB().NewQuery(`UPDATE campaign_deliveries SET reason = {:r}, updated = {:now}
				WHERE id = {:id} AND status != 'skipped'`).
				Bind(dbx.Params{"r": DeliveryReason, "id": d.Id, "now": types.NowDateTime().String()}).Execute(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}
