package search

import (
	"github.com/pi-crm/pi-crm/services/apperr"
	"github.com/pocketbase/dbx"
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
	var n int
	err := s.app.DB().NewQuery(`SELECT COUNT(*) FROM workspace_members WHERE workspace = {:ws} AND user = {:u}`).
		Bind(dbx.Params{"ws": ws, "u": userID}).Row(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}
