package server

import (
	"errors"
	"net/http"

	"github.com/dirsync/dirsync/internal/schedule"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// msgAlreadyRunning answers a second Sync now.
const msgAlreadyRunning = "A sync is already running. Its progress is shown below; start another one when it has ended."

// syncNow is POST /sync: start a sync in the background and go back to
// the dashboard, which shows its progress. A sync already running here or
// in another process sharing the database (the CLI) is not doubled.
func (s *Server) syncNow(w http.ResponseWriter, r *http.Request) {
	user := sessionFrom(r).user
	if s.worker == nil {
		s.flash(r, web.FlashError, "Syncing is not available in this process.")
		s.redirect(w, r, "/")
		return
	}
	stored, err := s.loadSettings(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !stored.Found {
		s.flash(r, web.FlashError, "Save the settings before syncing.")
		s.redirect(w, r, "/settings")
		return
	}
	running, err := s.runningAnywhere(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if running {
		s.flash(r, web.FlashInfo, msgAlreadyRunning)
		s.redirect(w, r, "/")
		return
	}
	err = s.worker.RunNow(dsync.TriggerManual, dsync.Options{Mode: dsync.ModeSync})
	switch {
	case errors.Is(err, schedule.ErrBusy):
		s.flash(r, web.FlashInfo, msgAlreadyRunning)
	case err != nil:
		s.log.Warn("sync not started", "err", err, "request_id", requestIDFrom(r.Context()))
		s.flash(r, web.FlashError, "The sync could not be started: "+err.Error())
	default:
		s.addAudit(r, user, "sync.started", "manual sync (Sync now)")
		s.flash(r, web.FlashSuccess, "Sync started.")
	}
	s.redirect(w, r, "/")
}
