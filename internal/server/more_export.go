package server

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/web"
)

// settingsExport is GET /settings/export: the saved settings as a JSON
// download in the import format, secrets replaced by a placeholder. A GET
// is fine: it changes nothing.
func (s *Server) settingsExport(w http.ResponseWriter, r *http.Request) {
	stored, err := s.loadSettings(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !stored.Found {
		s.flash(r, web.FlashError, "There are no saved settings to export yet.")
		s.redirect(w, r, "/more")
		return
	}
	var buf bytes.Buffer
	if err := config.WriteFile(&buf, stored.Settings); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.addAudit(r, sessionFrom(r).user, "settings.exported", "secrets redacted")
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="dirsync-settings.json"`)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
