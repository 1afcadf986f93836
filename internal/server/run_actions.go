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
	"time"

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
// Either way the admin lands on the new run's page. The confirmation box
// must be ticked (422 with the run page otherwise, nothing done).
func (s *Server) runApprove(w http.ResponseWriter, r *http.Request) {
	id, ok := s.heldAction(w, r, func(h *web.HeldView) { h.ApproveError = msgConfirmApprove })
	if !ok {
		return
	}
	user := sessionFrom(r).user
	// The approval re-reads the directory and pushes, which can take
	// minutes: it runs in the background, and the push must not stop
	// halfway because the browser went away. A quick answer (a refusal,
	// a small org) is shown as the outcome; a longer one sends the admin
	// to the approval run's page, which follows it live.
	ctx := context.WithoutCancel(r.Context())
	events, unsubscribe := s.engine.Subscribe()
	defer unsubscribe()
	ended := make(chan approveOutcome, 1)
	remote := remoteAddr(r)
	go func() {
		res, err := s.engine.Approve(ctx, store.DefaultProfile, id, s.consoleActor(user))
		ended <- approveOutcome{res, err}
	}()
	var (
		res      *dsync.Result
		err      error
		approval int64
		grace    <-chan time.Time
	)
wait:
	for {
		select {
		case o := <-ended:
			res, err = o.res, o.err
			break wait
		case ev := <-events:
			if approval == 0 && ev.Phase == "start" && ev.RunID != 0 && s.isApprovalOf(ctx, ev.RunID, id) {
				approval, grace = ev.RunID, time.After(approveAnswerWithin)
			}
		case <-grace:
			go s.auditApprovalWhenDone(ended, user, remote, id)
			s.flash(r, web.FlashInfo, fmt.Sprintf("Approving run %d: run %d is reading the directory and pushing; this page follows it.", id, approval))
			s.redirect(w, r, fmt.Sprintf("/history/%d", approval))
			return
		}
	}
	if err == nil && res == nil {
		err = errors.New("the engine returned no run")
	}
	back := fmt.Sprintf("/history/%d", id)
	switch {
	case err == nil && res.Run.Status == store.StatusHeld:
		s.addAudit(r, user, "run.approved", fmt.Sprintf("run %d; the directory had changed, so the new plan was held as run %d", id, res.Run.ID))
		s.flash(r, web.FlashInfo, dsync.ApprovalOutcome(id, res))
		s.redirect(w, r, fmt.Sprintf("/history/%d", res.Run.ID))
	case err == nil && res.Run.Status != store.StatusSuccess:
		s.addAudit(r, user, "run.approved", fmt.Sprintf("run %d; not pushed, run %d ended %s", id, res.Run.ID, res.Run.Status))
		s.flash(r, web.FlashInfo, dsync.ApprovalOutcome(id, res))
		s.redirect(w, r, fmt.Sprintf("/history/%d", res.Run.ID))
	case err == nil:
		s.addAudit(r, user, "run.approved", fmt.Sprintf("run %d, pushed as run %d", id, res.Run.ID))
		s.flash(r, web.FlashSuccess, dsync.ApprovalOutcome(id, res))
		s.redirect(w, r, fmt.Sprintf("/history/%d", res.Run.ID))
	case errors.Is(err, dsync.ErrLocked):
		s.flash(r, web.FlashError, fmt.Sprintf("A sync is running right now, so run %d was not approved. Approve it when that sync has ended.", id))
		s.redirect(w, r, back)
	case errors.Is(err, dsync.ErrNotHeld):
		s.flash(r, web.FlashError, fmt.Sprintf("Run %d was not approved: %s.", id, err))
		s.redirect(w, r, back)
	case res != nil && res.Run.ID != 0:
		// The approval run was recorded and failed: the held run stays held.
		s.log.Warn("approval failed", "run", id, "approval_run", res.Run.ID, "err", err, "request_id", requestIDFrom(r.Context()))
		s.flash(r, web.FlashError, fmt.Sprintf("Approving run %d failed in run %d, so it is still held: %s", id, res.Run.ID, err))
		s.redirect(w, r, back)
	default:
		s.log.Warn("approval failed", "run", id, "err", err, "request_id", requestIDFrom(r.Context()))
		s.flash(r, web.FlashError, fmt.Sprintf("Run %d was not approved: %s", id, err))
		s.redirect(w, r, back)
	}
}

// approveAnswerWithin is how long an approval may take before the request
// answers with its running page instead of its outcome.
const approveAnswerWithin = 2 * time.Second

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

// approveOutcome is what a background approval ended with.
type approveOutcome struct {
	res *dsync.Result
	err error
}

// auditApprovalWhenDone records an approval that outlived its request.
func (s *Server) auditApprovalWhenDone(ended <-chan approveOutcome, user, remote string, held int64) {
	o := <-ended
	var detail string
	switch {
	case o.err == nil && o.res != nil && o.res.Run.Status == store.StatusHeld:
		detail = fmt.Sprintf("run %d; the directory had changed, so the new plan was held as run %d", held, o.res.Run.ID)
	case o.err == nil && o.res != nil:
		detail = fmt.Sprintf("run %d, pushed as run %d", held, o.res.Run.ID)
	case o.res != nil && o.res.Run.ID != 0:
		detail = fmt.Sprintf("run %d; the approval run %d failed, so it is still held: %v", held, o.res.Run.ID, o.err)
	default:
		detail = fmt.Sprintf("run %d; not approved: %v", held, o.err)
	}
	e := store.AuditEntry{At: s.now(), Actor: user, Action: "run.approved", Detail: detail, RemoteAddr: remote}
	if err := s.audit.AddAudit(context.Background(), e); err != nil {
		s.log.Error("write audit entry", "action", e.Action, "err", err)
	}
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
