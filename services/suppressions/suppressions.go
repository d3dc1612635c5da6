// Package suppressions adds and lifts suppressions (the suppressions
// collection: workspace, channel, address, reason) from the server's own
// paths — provider webhooks (bounces, complaints, SMS STOP and START) and
// Twilio's 21610 answer. Members add and lift them through the collection
// API, whose rules decide who may (editors add, admins lift); the engine
// enforces them at send time by the exact address, so an address is stored
// as the ledger holds it: an email trimmed and lower-cased, a phone in
// E.164.
package suppressions

import (
	"database/sql"
	"errors"
	"strings"

	"github.com/pi-crm/pi-crm/services/audit"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Reasons (the collection's select values).
const (
	Unsubscribe = "unsubscribe"
	HardBounce  = "hard_bounce"
	Complaint   = "complaint"
	SMSStop     = "sms_stop"
	Manual      = "manual"
)

// Address is address as suppressions hold it for channel.
func Address(channel, address string) string {
	a := strings.TrimSpace(address)
	if channel == "email" {
		a = strings.ToLower(a)
	}
	return a
}

// Add suppresses address on channel in workspace ws for reason, once (an
// address already suppressed keeps its first reason): created says whether
// a row was written. actor names who asked in the audit entry (the zero
// Actor: the server, a provider's webhook).
func Add(app core.App, ws, channel, address, reason string, actor audit.Actor) (created bool, err error) {
	address = Address(channel, address)
	if address == "" {
		return false, errors.New("suppressions: no address")
	}
	rec, err := find(app, ws, channel, address)
	if err != nil || rec != nil {
		return false, err
	}
	col, err := app.FindCachedCollectionByNameOrId("suppressions")
	if err != nil {
		return false, err
	}
	rec = core.NewRecord(col)
	rec.Set("workspace", ws)
	rec.Set("channel", channel)
	rec.Set("address", address)
	rec.Set("reason", reason)
	audit.Attach(rec, actor)
	if err := app.Save(rec); err != nil {
		return false, err
	}
	return true, nil
}

// Remove lifts the suppression of address on channel when its reason is
// one of reasons (an SMS START lifts an SMS STOP, never a person's manual
// suppression): removed says whether one was.
func Remove(app core.App, ws, channel, address string, actor audit.Actor, reasons ...string) (removed bool, err error) {
	rec, err := find(app, ws, channel, Address(channel, address))
	if err != nil || rec == nil {
		return false, err
	}
	ok := len(reasons) == 0
	for _, r := range reasons {
		ok = ok || rec.GetString("reason") == r
	}
	if !ok {
		return false, nil
	}
	audit.Attach(rec, actor)
	return true, app.Delete(rec)
}

// Is reports whether address is suppressed on channel.
func Is(app core.App, ws, channel, address string) (bool, error) {
	rec, err := find(app, ws, channel, Address(channel, address))
	return rec != nil, err
}

func find(app core.App, ws, channel, address string) (*core.Record, error) {
	rec, err := app.FindFirstRecordByFilter("suppressions", "workspace = {:w} && channel = {:c} && address = {:a}",
		dbx.Params{"w": ws, "c": channel, "a": address})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return rec, err
}
