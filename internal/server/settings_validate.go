package server

import (
	"net/http"

	"github.com/dirsync/dirsync/web"
)

// settingsValidate is POST /settings/validate, called by htmx as a field
// changes with the whole form. It answers 200 with error slots swapped
// out of band: the changed field's slot with its message (or empty), and
// an empty slot for every other field that is now fine, so stale messages
// go away while untouched fields are not flagged early. Without an
// HX-Trigger-Name it answers every slot.
func (s *Server) settingsValidate(w http.ResponseWriter, r *http.Request) {
	f, ok := s.readSettingsForm(w, r)
	if !ok {
		return
	}
	errs := f.errs
	trigger := r.Header.Get("HX-Trigger-Name")
	slot := slotOf(trigger)
	var fields []string
	for _, f := range settingsSlots() {
		if trigger == "" || f == slot || errs.Get(f) == "" {
			fields = append(fields, f)
		}
	}
	s.renderFragment(w, r, http.StatusOK, web.FieldErrors(fields, errs))
}
