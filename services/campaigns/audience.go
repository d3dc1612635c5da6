package campaigns

import (
	"errors"

	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/search"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Why a contact of the segment gets no message.
const (
	SkipSuppressed     = "suppressed"
	SkipMissingAddress = "missing_address"
)

// Recipient is one contact of a campaign's audience.
type Recipient struct {
	ContactID string
	Address   string // the primary email or phone, as stored
	Skip      string // "", SkipSuppressed or SkipMissingAddress
}

// addressColumn is the contact column a channel sends to.
func addressColumn(channel string) (string, error) {
	switch channel {
	case "email":
		return "primary_email", nil
	case "sms":
		return "primary_phone", nil
	}
	return "", apperr.BadRequest(CodeNotReady, `channel must be "email" or "sms"`)
}

// Recipients streams the audience of segment in workspace ws for channel, in
// creation order: every contact the segment selects (the search planner's
// selection), each with its address and whether it is skipped. The
// suppression check reads the suppressions index per contact inside the same
// statement.
func Recipients(app core.App, ws string, seg Segment, channel string, each func(Recipient) error) error {
	return recipients(app, ws, seg, channel, false, each)
}

// RecipientsByID is Recipients in the order of the contacts' ids: the order
// the sending engine writes a campaign's ledger in, and so claims and sends
// it in. Why: each message adds a timeline entry, and the timeline's
// (contact, timestamp) index is large (several entries per contact); in
// creation order (random ids) every entry of a batch lands on a different
// page of it, in id order a batch's entries share a few neighbouring pages
// (and so do the contacts read and the ledger's (campaign, contact) index).
// The cost is one sort of the audience's ids when the ledger is written.
func RecipientsByID(app core.App, ws string, seg Segment, channel string, each func(Recipient) error) error {
	return recipients(app, ws, seg, channel, true, each)
}

func recipients(app core.App, ws string, seg Segment, channel string, byID bool, each func(Recipient) error) error {
	col, err := addressColumn(channel)
	if err != nil {
		return err
	}
	sel, err := search.NewService(app).Select(seg.Query(ws))
	if err != nil {
		return segmentError(err)
	}
	// col and channel come from the switch above, never from input
	cols := `c.id, c.` + col + `, EXISTS (SELECT 1 FROM suppressions s WHERE s.workspace = c.workspace AND s.channel = '` +
		channel + `' AND s.address = c.` + col + `)`
	rows := sel.Rows
	if byID {
		rows = sel.RowsByID
	}
	return rows(cols, func(r *dbx.Rows) error {
		var rc Recipient
		var suppressed bool
		if err := r.Scan(&rc.ContactID, &rc.Address, &suppressed); err != nil {
			return err
		}
		switch {
		case rc.Address == "":
			rc.Skip = SkipMissingAddress
		case suppressed:
			rc.Skip = SkipSuppressed
		}
		return each(rc)
	})
}

// Suppressed reports whether address may not receive messages of channel in
// workspace ws (an unsubscribe, a hard bounce, a complaint, an SMS STOP).
func Suppressed(app core.App, ws, channel, address string) (bool, error) {
	var n int
	err := app.DB().Select("count(*)").From("suppressions").
		Where(dbx.HashExp{"workspace": ws, "channel": channel, "address": address}).Row(&n)
	return n > 0, err
}

// Audience is what a send of the segment would do.
type Audience struct {
	Count          int              `json:"count"` // recipients who get a message
	Suppressed     int              `json:"suppressed"`
	MissingAddress int              `json:"missing_address"`
	Sample         []map[string]any `json:"sample"`
}

// maxSample bounds an audience sample.
const maxSample = 100

// CountAudience counts the segment's recipients as a send would (the same
// Recipients), with the first sample of them.
func CountAudience(app core.App, ws string, seg Segment, channel string, sample int) (Audience, error) {
	a := Audience{Sample: []map[string]any{}}
	sample = min(max(sample, 0), maxSample)
	var ids []string
	err := Recipients(app, ws, seg, channel, func(r Recipient) error {
		switch r.Skip {
		case SkipSuppressed:
			a.Suppressed++
		case SkipMissingAddress:
			a.MissingAddress++
		default:
			a.Count++
			if len(ids) < sample {
				ids = append(ids, r.ContactID)
			}
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return a, err
	}
	recs, err := app.FindRecordsByIds("contacts", ids)
	if err != nil {
		return a, err
	}
	byID := make(map[string]*core.Record, len(recs))
	for _, r := range recs {
		byID[r.Id] = r
	}
	for _, id := range ids {
		if r := byID[id]; r != nil {
			a.Sample = append(a.Sample, map[string]any{"id": r.Id, "first_name": r.GetString("first_name"), "last_name": r.GetString("last_name"),
				"primary_email": r.GetString("primary_email"), "primary_phone": r.GetString("primary_phone")})
		}
	}
	return a, nil
}

func asApp(err error, target **apperr.Error) bool { return errors.As(err, target) }
