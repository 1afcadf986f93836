package server

import (
	"net/http"

	"github.com/dirsync/dirsync/web"
)

// logout ends the session (POST only, so another site cannot log an admin
// out with a link or image).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	rs := sessionFrom(r)
	s.addAudit(r, rs.user, "admin.logout", "")
	// Deleting the row is what ends the session: a copy of the cookie
	// is worthless from now on.
	if err := s.sessionStore.DeleteSession(r.Context(), rs.id); err != nil {
		s.serverError(w, r, err)
		return
	}
	rs.clearLogin()
	rs.addFlash(web.FlashSuccess, "You have logged out.")
	s.redirect(w, r, "/login")
}
