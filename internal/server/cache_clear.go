package server

import (
	"errors"
	"net/http"

	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

// cacheClear is POST /cache/clear: forget the last pushed import and the
// membership cache, so the next sync reads everything and sends it all.
// The form's confirmation box must be ticked (it works without
// JavaScript); unconfirmed, the page comes back with a 422.
func (s *Server) cacheClear(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		s.renderMore(w, r, http.StatusUnprocessableEntity,
			"Tick the box to confirm: after clearing, the next sync reads every group and sends the whole import again.")
		return
	}
	if s.engine == nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Not available", "The sync engine is not running in this process.")
		return
	}
	running, err := s.runningAnywhere(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if running {
		// The run would save its state afterwards and undo the clear.
		s.flash(r, web.FlashError, "A sync is running. Clear the cache after it has ended.")
		s.redirect(w, r, "/more")
		return
	}
	if err := s.engine.ClearCache(r.Context(), store.DefaultProfile); errors.Is(err, store.ErrLocked) {
		// A run started since the check above; the store refused in the
		// same transaction as the clear.
		s.flash(r, web.FlashError, "A sync is running. Clear the cache after it has ended.")
		s.redirect(w, r, "/more")
		return
	} else if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.addAudit(r, sessionFrom(r).user, "cache.cleared", "")
	s.flash(r, web.FlashSuccess, "Sync cache cleared. The next sync reads every group and sends the whole import.")
	s.redirect(w, r, "/more")
}
