package server

import (
	"net/http"
	"strings"

	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

// settingsSave is POST /settings: validate everything, show every problem
// next to its field (422, nothing stored), or save, audit the names of
// the changed fields and go back to the page.
func (s *Server) settingsSave(w http.ResponseWriter, r *http.Request) {
	f, ok := s.readSettingsForm(w, r)
	if !ok {
		return
	}
	stored := f.stored
	if len(f.errs) > 0 {
		s.render(w, r, http.StatusUnprocessableEntity, s.settingsPage(r, stored), web.SettingsPage(f.view))
		return
	}
	change, err := s.settings.SaveSettings(r.Context(), store.DefaultProfile, f.settings)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	detail := "no changes"
	if len(change.Fields) > 0 {
		detail = "changed: " + strings.Join(change.Fields, ", ")
	}
	s.addAudit(r, sessionFrom(r).user, "settings.saved", detail)
	if s.worker != nil {
		// A new interval or connection takes effect without a restart.
		s.worker.Reload(r.Context())
	}
	msg := "Settings saved"
	// The first save always starts with an empty cache; say so only
	// when an existing setup was pointed elsewhere.
	if change.CacheCleared && stored.Found {
		msg += " — the sync cache was cleared because the directory/organization changed"
	}
	s.flash(r, web.FlashSuccess, msg)
	s.redirect(w, r, "/settings")
}
