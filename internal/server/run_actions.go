package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// Messages next to an unticked confirmation box.
const (
	msgConfirmApprove = "Tick the box to confirm that these removals are expected; nothing was sent."
	msgConfirmDiscard = "Tick the box to confirm that this run should be dropped; nothing was changed."
)

// runApprove is POST /history/{id}/approve: push a held run once. The
// engine re-reads the directory; when it is unchanged the held body is
// pushed as a new run, otherwise the new plan is held again for review.
// That takes as long as a sync, so it runs in the background and the
// request answers at once: 303 to the held run's page, which follows the
// approval live (a refresh without JavaScript) and then says how it
// ended. The confirmation box must be ticked (422 with the run page
// otherwise, nothing done). What can be refused at once is: a run that is
// not held (any more), an approval of it already going, another run
// going; the engine decides again under its run lock.
func (s *Server) runApprove(w http.ResponseWriter, r *http.Request) {
	id, ok := s.heldAction(w, r, func(h *web.HeldView) { h.ApproveError = msgConfirmApprove })
	if !ok {
		return
	}
	back := fmt.Sprintf("/history/%d", id)
	if j := s.approvals.get(id); j != nil && !j.finished() {
		s.flash(r, web.FlashInfo, fmt.Sprintf("Run %d is already being approved (by %s); this page follows it.", id, j.user))
		s.redirect(w, r, back)
		return
	}
	run, ok := s.loadRun(w, r, id)
	if !ok {
		return
	}
	if run.Status != store.StatusHeld {
		s.flash(r, web.FlashError, fmt.Sprintf("Run %d was not approved: run %d is %s.", id, id, run.Status))
		s.redirect(w, r, back)
		return
	}
	running, err := s.runningAnywhere(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if running {
		s.flash(r, web.FlashError, fmt.Sprintf("A sync is running right now, so run %d was not approved. Approve it when that sync has ended.", id))
		s.redirect(w, r, back)
		return
	}
	user := sessionFrom(r).user
	remote := remoteAddr(r)
	// The push must not stop halfway because the browser went away; only
	// shutdown stops it (approvals.context).
	ctx, cancel := s.approvals.context(r.Context())
	reqID := requestIDFrom(r.Context())
	// A second approval that slipped past the check above is sent to the
	// first one (start starts none). No flash: the page shows the
	// approval going on, then how it ended.
	s.approvals.start(id, user,
		func() approveOutcome {
			defer cancel()
			res, err := s.engine.Approve(ctx, store.DefaultProfile, id, s.consoleActor(user))
			return approveOutcome{res, err}
		},
		func(j *approvalJob) {
			if j.outcome.err != nil {
				s.log.Warn("approval failed", "run", id, "err", j.outcome.err, "request_id", reqID)
			}
			if detail := dsync.ApprovalAudit(id, j.outcome.res, j.outcome.err); detail != "" {
				e := store.AuditEntry{At: s.now(), Actor: user, Action: "run.approved", Detail: detail, RemoteAddr: remote}
				if err := s.audit.AddAudit(context.Background(), e); err != nil {
					s.log.Error("write audit entry", "action", e.Action, "err", err)
				}
			}
		})
	s.redirect(w, r, back)
}

// isApprovalOf reports whether run was created to approve held run id
// (the engine notes it in the run's warnings when it records the run).
func (s *Server) isApprovalOf(ctx context.Context, run, held int64) bool {
	r, err := s.runs.GetRun(ctx, run)
	if err != nil {
		return false
	}
	for _, w := range r.Warnings {
		if strings.HasPrefix(w, fmt.Sprintf("approval of held run %d ", held)) {
			return true
		}
	}
	return false
}

// runDiscard is POST /history/{id}/discard: drop a held run; nothing of it
// is sent. The confirmation box must be ticked.
func (s *Server) runDiscard(w http.ResponseWriter, r *http.Request) {
	id, ok := s.heldAction(w, r, func(h *web.HeldView) { h.DiscardError = msgConfirmDiscard })
	if !ok {
		return
	}
	user := sessionFrom(r).user
	err := s.engine.Discard(context.WithoutCancel(r.Context()), store.DefaultProfile, id, s.consoleActor(user))
	switch {
	case err == nil:
		s.addAudit(r, user, "run.discarded", fmt.Sprintf("run %d", id))
		s.flash(r, web.FlashSuccess, fmt.Sprintf("Run %d discarded; nothing was sent.", id))
	case errors.Is(err, dsync.ErrLocked):
		s.flash(r, web.FlashError, fmt.Sprintf("A sync is running right now, so run %d was not discarded. Try again when that sync has ended.", id))
	case errors.Is(err, dsync.ErrNotHeld):
		s.flash(r, web.FlashError, fmt.Sprintf("Run %d was not discarded: %s.", id, err))
	default:
		s.serverError(w, r, fmt.Errorf("discard run %d: %w", id, err))
		return
	}
	s.redirect(w, r, fmt.Sprintf("/history/%d", id))
}

// heldAction does what approve and discard share: read the run id and the
// form, load the run (404 for an unknown one), and check the confirmation
// box. Unconfirmed, it re-renders the run page with 422 and unconfirmed's
// message next to the box. ok is false when the response has been
// written. Whether the run is held is the engine's to decide, under the
// run lock.
func (s *Server) heldAction(w http.ResponseWriter, r *http.Request, unconfirmed func(*web.HeldView)) (int64, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		s.renderError(w, r, http.StatusBadRequest, "Bad run id", "A run id is a whole number, as listed in History.")
		return 0, false
	}
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return 0, false
	}
	run, ok := s.loadRun(w, r, id)
	if !ok {
		return 0, false
	}
	if r.PostFormValue("confirm") != "yes" {
		v := s.runPageView(r.Context(), run)
		if v.Held == nil {
			// Not held (any more): say so rather than ask for the box.
			s.flash(r, web.FlashError, fmt.Sprintf("Run %d is %s, not held: there is nothing to approve or discard.", id, run.Status))
			s.redirect(w, r, fmt.Sprintf("/history/%d", id))
			return 0, false
		}
		unconfirmed(v.Held)
		s.render(w, r, http.StatusUnprocessableEntity, s.page(r, "Run "+strconv.FormatInt(id, 10), "history"), web.RunPage(v))
		return 0, false
	}
	if s.engine == nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Not available", "The sync engine is not running in this process.")
		return 0, false
	}
	return id, true
}

// consoleActor names an admin acting from the console, with the time, as
// the run record keeps it ("approved by alice (console, 2026-03-01 09:00
// UTC)").
func (s *Server) consoleActor(user string) string {
	return fmt.Sprintf("%s (console, %s)", user, s.now().UTC().Format("2006-01-02 15:04 UTC"))
}

// loadRun loads run id of the default profile, or answers 404 (or 500)
// and reports false.
func (s *Server) loadRun(w http.ResponseWriter, r *http.Request, id int64) (store.Run, bool) {
	run, err := s.runs.GetRun(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && run.ProfileID != store.DefaultProfile) {
		s.renderError(w, r, http.StatusNotFound, "Run not found", fmt.Sprintf("There is no run %d. History lists every run that is kept.", id))
		return store.Run{}, false
	}
	if err != nil {
		s.serverError(w, r, fmt.Errorf("load run %d: %w", id, err))
		return store.Run{}, false
	}
	return run, true
}

// runPageView is runView plus what a held run needs (its removals, the
// guard's limit, the approve and discard forms) and, for an approved or
// discarded one, how it ended.
func (s *Server) runPageView(ctx context.Context, run store.Run) web.RunView {
	v := runView(run)
	switch run.Status {
	case store.StatusHeld:
		v.Held = s.heldView(ctx, run, v)
	case store.StatusApproved, store.StatusDiscarded:
		v.Resolution = resolutionView(run)
	}
	if s.engine != nil && (v.Held != nil || v.Resolution != nil) {
		v.Approval = s.approvalView(ctx, run)
		if a := v.Approval; a != nil && a.Running {
			// The verdict says what is happening now, not what to do.
			v.Verdict.Detail = "An approval is under way: this page follows it."
		}
	}
	return v
}

// heldView lists what approving run would remove, from its record.
func (s *Server) heldView(ctx context.Context, run store.Run, v web.RunView) *web.HeldView {
	h := &web.HeldView{Reason: run.Error, Removals: run.Counts.Removals}
	synced := run.Counts.Members
	if len(run.Changes) > 0 {
		var ch dsync.Changes
		if json.Unmarshal(run.Changes, &ch) == nil && ch.Bitwarden != nil {
			h.Removals = ch.Bitwarden.Counts.Removals
			synced = max(synced, ch.Bitwarden.SyncedMembers)
		}
	}
	if v.Bitwarden != nil {
		for _, l := range v.Bitwarden.Lists {
			if l.Key == "removals" {
				h.RemovalList = l.Items
			}
		}
	}
	stored, err := s.loadSettings(ctx)
	if err != nil {
		s.log.Warn("run page: settings for the guard's limit", "err", err)
		h.Limit = "unknown: the settings could not be read"
		return h
	}
	h.Limit = guardLimit(stored.Guard, synced)
	return h
}

// guardLimit describes the deletion guard's limit for synced members.
func guardLimit(g config.Guard, synced int) string {
	limit, on := g.Threshold(synced)
	if !on {
		return "none: the deletion guard is off in the current settings"
	}
	var parts []string
	if g.MaxRemovals > 0 {
		parts = append(parts, fmt.Sprintf("%d members", g.MaxRemovals))
	}
	if g.MaxRemovalPercent > 0 {
		parts = append(parts, fmt.Sprintf("%g%% of %d synced members", g.MaxRemovalPercent, synced))
	}
	how := strings.Join(parts, "")
	if len(parts) == 2 {
		how = "the smaller of " + parts[0] + " and " + parts[1]
	}
	return fmt.Sprintf("%d removals with the current settings (%s)", limit, how)
}

// pushedByRun finds the run that pushed an approved run in its notes.
var pushedByRun = regexp.MustCompile(`pushed by run (\d+)`)

// resolutionView explains an approved or discarded run from the notes the
// engine appended to its warnings.
func resolutionView(run store.Run) *web.ResolutionView {
	res := &web.ResolutionView{Reason: run.Error}
	for _, w := range run.Warnings {
		if strings.HasPrefix(w, "approved by ") || strings.HasPrefix(w, "discarded by ") || strings.HasPrefix(w, "superseded by ") {
			res.Notes = append(res.Notes, w)
			if m := pushedByRun.FindStringSubmatch(w); m != nil {
				res.PushedBy, _ = strconv.ParseInt(m[1], 10, 64)
			}
		}
	}
	if len(res.Notes) == 0 {
		res.Notes = []string{"The record does not say who " + run.Status + " it; the audit log may."}
	}
	return res
}
