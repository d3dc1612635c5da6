package apikeys_test

import (
	"testing"

	"github.com/pi-crm/pi-crm/internal/testutil"
	"github.com/pi-crm/pi-crm/services/apikeys"
)

// Every collection of ours must have a deliberate scope rule: a new one left
// out would silently need "admin" (too strict) or be mapped by accident.
func TestEveryCollectionHasAScopeRule(t *testing.T) {
	env := testutil.New(t)
	cols, err := env.App.FindAllCollections()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		if !c.System && !apikeys.Classified(c.Name) {
			t.Errorf("collection %s has no API-key scope rule in services/apikeys/scopes.go", c.Name)
		}
	}
}

func TestAllows(t *testing.T) {
	cases := []struct {
		scopes []string
		want   string
		ok     bool
	}{
		{[]string{"contacts:write"}, "contacts:read", true},
		{[]string{"contacts:read"}, "contacts:write", false},
		{[]string{"admin"}, "campaigns:send", true},
		{[]string{"campaigns:write"}, "campaigns:send", false},
		{nil, "", true},
		{nil, "contacts:read", false},
	}
	for _, c := range cases {
		if got := apikeys.Allows(c.scopes, c.want); got != c.ok {
			t.Errorf("Allows(%v, %q) = %v", c.scopes, c.want, got)
		}
	}
}
