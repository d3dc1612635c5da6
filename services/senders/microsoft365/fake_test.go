package microsoft365

import (
	"testing"
	"time"

	"github.com/pi-crm/pi-crm/internal/providerfake/graphfake"
)

// newSender is a sender of f's app registration and mailbox whose clock is
// 10 minutes ahead (past SettleDelay).
func newSender(t *testing.T, f *graphfake.Fake, save *bool) *Sender {
	t.Helper()
	s, err := New(Config{TenantID: f.Tenant, ClientID: f.ClientID, ClientSecret: f.Secret, Sender: f.Mailbox,
		SaveToSentItems: save, BaseURL: f.Srv.URL, HTTPClient: f.Srv.Client(), Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
