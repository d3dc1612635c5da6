package search

import (
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pi-crm/pi-crm/services/tenancy"
)

// CheckMember returns nil when userID holds any role (viewer is enough) in
// workspace ws and keyWorkspace (the workspace an API key is restricted to,
// "" for none) allows ws. Anything else is a 404: a workspace the caller
// cannot read is indistinguishable from one that does not exist.
func (s *Service) CheckMember(ws, userID, keyWorkspace string) error {
	notFound := apperr.NotFound(CodeWorkspaceNotFound, "No such workspace, or you are not a member of it")
	if ws == "" || userID == "" || (keyWorkspace != "" && keyWorkspace != ws) {
		return notFound
	}
	if tenancy.Role(s.app, ws, userID) == "" {
		return notFound
	}
	return nil
}
