package server

import (
	"net/http"

	"github.com/dirsync/dirsync/web"
)

// scheduleStart is POST /schedule/start: turn automatic sync on. The
// choice survives restarts.
func (s *Server) scheduleStart(w http.ResponseWriter, r *http.Request) {
	if s.worker == nil {
		s.flash(r, web.FlashError, "Automatic sync is not available in this process.")
		s.redirect(w, r, "/")
		return
	}
	stored, err := s.loadSettings(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !stored.Found {
		s.flash(r, web.FlashError, "Save the settings before starting automatic sync.")
		s.redirect(w, r, "/settings")
		return
	}
	if err := s.worker.Enable(r.Context()); err != nil {
		s.log.Error("enable schedule", "err", err, "request_id", requestIDFrom(r.Context()))
		s.flash(r, web.FlashError, "Automatic sync could not be started. The server log has the details.")
		s.redirect(w, r, "/")
		return
	}
	detail := "interval " + itoa(stored.Sync.IntervalMinutes) + " minutes"
	s.addAudit(r, sessionFrom(r).user, "schedule.started", detail)
	s.flash(r, web.FlashSuccess, "Automatic sync started: dirsync syncs "+dashInterval(stored.Sync.IntervalMinutes)+".")
	s.redirect(w, r, "/")
}

// scheduleStop is POST /schedule/stop: turn automatic sync off. A sync
// already going on finishes.
func (s *Server) scheduleStop(w http.ResponseWriter, r *http.Request) {
	if s.worker == nil {
		s.flash(r, web.FlashError, "Automatic sync is not available in this process.")
		s.redirect(w, r, "/")
		return
	}
	if err := s.worker.Disable(r.Context()); err != nil {
		s.log.Error("disable schedule", "err", err, "request_id", requestIDFrom(r.Context()))
		s.flash(r, web.FlashError, "Automatic sync could not be stopped. The server log has the details.")
		s.redirect(w, r, "/")
		return
	}
	s.addAudit(r, sessionFrom(r).user, "schedule.stopped", "")
	msg := "Automatic sync stopped."
	if s.worker.Status().Running {
		msg += " The sync going on now will finish."
	}
	s.flash(r, web.FlashSuccess, msg)
	s.redirect(w, r, "/")
}
