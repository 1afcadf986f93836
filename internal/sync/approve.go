package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/store"
)

// ErrNotHeld is returned (wrapped, with the reason) by Approve and Discard
// for a run that cannot be approved or discarded: not held (any more), of
// another profile, or not the latest held run.
var ErrNotHeld = errors.New("the run is not held for approval")

// heldPlan is what a held run keeps (store.Run.Held): the exact requests an
// approval sends, the plan's hash, and the removals the admin approves.
type heldPlan struct {
	Hash        string                     `json:"hash"`
	Batches     []*bitwarden.ImportRequest `json:"batches"`
	Removals    int                        `json:"removals"`
	RemovalList []Removal                  `json:"removalList"`
	// Base is, for a delta push, the hash of the last push the batches
	// were computed against: they are only right while it is still the
	// last push. Empty for a full push.
	Base string `json:"base,omitempty"`
	// MembershipRemovals is how many group memberships the held push
	// removes in Bitwarden; an approval re-holds when it would now remove
	// more (and more than the membership guard allows).
	MembershipRemovals int `json:"membershipRemovals"`
}

// approval is the held run an approval run pushes.
type approval struct {
	held  store.Run
	plan  heldPlan
	actor string
}

// Approve pushes a held run. It re-reads the directory and re-plans: when
// the plan is the one held (same hash) and Bitwarden would not remove more
// members than were held, the held run's exact batches are pushed (a new
// run, trigger "approval", records it, and the held run becomes
// "approved"); otherwise the new plan is held again (a new held run) and
// the old one is discarded as superseded. Only the latest held run of the
// profile can be approved, and only once. actor names who approved. The
// result is the new run's; a failed push returns its error and leaves the
// held run held.
func (e *Engine) Approve(ctx context.Context, profileID, runID int64, actor string) (*Result, error) {
	release, err := e.lock(ctx, profileID)
	if err != nil {
		return nil, err
	}
	defer release()
	held, err := e.heldRun(ctx, profileID, runID)
	if err != nil {
		return nil, err
	}
	latest, err := e.store.LatestHeldRun(ctx, profileID)
	if err != nil {
		return nil, fmt.Errorf("sync: approve run %d: %w", runID, err)
	}
	if latest.ID != held.ID {
		return nil, fmt.Errorf("run %d is not the latest held run (run %d is): %w", runID, latest.ID, ErrNotHeld)
	}
	ap := &approval{held: held, actor: actorName(actor)}
	if err := json.Unmarshal(held.Held, &ap.plan); err != nil || ap.plan.Hash == "" {
		return nil, fmt.Errorf("sync: approve run %d: its held plan cannot be read: %v", runID, err)
	}
	e.Logger.Info("approving held run", "profile", profileID, "held", runID, "actor", ap.actor)
	// Re-read the way the held run read: a held full read (which sees hard
	// deletes a delta read cannot) would otherwise never re-plan the same.
	return e.run(ctx, profileID, Options{Trigger: TriggerApproval, Mode: ModeSync, FullRead: held.Counts.FullRead}, ap)
}

// Discard drops a held run: its status becomes "discarded" and nothing is
// pushed. actor names who discarded it.
func (e *Engine) Discard(ctx context.Context, profileID, runID int64, actor string) error {
	release, err := e.lock(ctx, profileID)
	if err != nil {
		return err
	}
	defer release()
	if _, err := e.heldRun(ctx, profileID, runID); err != nil {
		return err
	}
	if err := e.store.TransitionRun(ctx, runID, StatusHeld, StatusDiscarded, "discarded by "+actorName(actor)); err != nil {
		if errors.Is(err, store.ErrRunStatus) {
			return fmt.Errorf("run %d: %w", runID, ErrNotHeld)
		}
		return fmt.Errorf("sync: discard run %d: %w", runID, err)
	}
	e.Logger.Info("discarded held run", "profile", profileID, "held", runID, "actor", actorName(actor))
	return nil
}

// heldRun loads run id and checks that it is a held run of profileID.
func (e *Engine) heldRun(ctx context.Context, profileID, id int64) (store.Run, error) {
	r, err := e.store.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.ProfileID != profileID) {
		return store.Run{}, fmt.Errorf("there is no run %d: %w", id, ErrNotHeld)
	}
	if err != nil {
		return store.Run{}, fmt.Errorf("sync: load run %d: %w", id, err)
	}
	if r.Status != StatusHeld {
		return store.Run{}, fmt.Errorf("run %d is %s: %w", id, r.Status, ErrNotHeld)
	}
	return r, nil
}

func actorName(a string) string {
	if a = strings.TrimSpace(a); a == "" {
		return "an unnamed admin"
	}
	return a
}

// supersede discards the approved-but-changed held run in favour of res.
func (e *Engine) supersede(ctx context.Context, ap *approval, res *Result, why string) {
	note := fmt.Sprintf("superseded by run %d: %s", res.Run.ID, why)
	if err := e.store.TransitionRun(context.WithoutCancel(ctx), ap.held.ID, StatusHeld, StatusDiscarded, note); err != nil {
		e.Logger.Warn("could not discard the superseded held run", "held", ap.held.ID, "error", err)
	}
	res.Run.Warnings = append(res.Run.Warnings, fmt.Sprintf("held run %d was not pushed: %s", ap.held.ID, why))
}

// syncedMembers is the base of the guard's percentage: the organization's
// members with an externalId, or the import's live members if there are
// more (a first sync into an organization synced by nothing yet).
func syncedMembers(plan *Plan, d *OrgDiff) int {
	live := plan.Counts.Users - plan.Counts.Deleted
	return max(d.SyncedMembers, live)
}

// guard reports whether the deletion guard or the membership guard holds
// the plan, and why.
func (e *Engine) guard(s config.Settings, plan *Plan, d *OrgDiff) (bool, string) {
	msg := joinReasons(guardMessage(s, plan, d), membershipGuardMessage(s.Guard, d))
	return msg != "", msg
}

// guardMessage explains why the guard holds the plan, or is "" when it
// does not.
func guardMessage(s config.Settings, plan *Plan, d *OrgDiff) string {
	synced := syncedMembers(plan, d)
	limit, on := s.Guard.Threshold(synced)
	if !on || d.Counts.Removals <= limit {
		return ""
	}
	return fmt.Sprintf("would remove %d of %d members; the limit is %d (%s)",
		d.Counts.Removals, synced, limit, describeGuard(s.Guard))
}

func describeGuard(g config.Guard) string {
	var parts []string
	if g.MaxRemovals > 0 {
		parts = append(parts, fmt.Sprintf("at most %d members", g.MaxRemovals))
	}
	if g.MaxRemovalPercent > 0 {
		parts = append(parts, fmt.Sprintf("%g%% of synced members", g.MaxRemovalPercent))
	}
	if len(parts) == 2 {
		return parts[0] + " or " + parts[1] + ", whichever is smaller"
	}
	return strings.Join(parts, "")
}

// ApprovalOutcome says in one sentence what approving held run heldID
// did, from the approval run's result: pushed, held again, or nothing to
// push because the re-plan found Bitwarden already up to date (which is
// not "approved and pushed").
func ApprovalOutcome(heldID int64, res *Result) string {
	switch res.Run.Status {
	case StatusSuccess:
		return fmt.Sprintf("Run %d approved: pushed as run %d.", heldID, res.Run.ID)
	case StatusHeld:
		return fmt.Sprintf("The directory changed since run %d was held; the new plan was held again as run %d — review it.", heldID, res.Run.ID)
	case StatusUnchanged:
		return fmt.Sprintf("Run %d was not pushed: the directory changed since it was held, and Bitwarden already has what it lists now (run %d, unchanged); nothing was sent.", heldID, res.Run.ID)
	}
	return fmt.Sprintf("Run %d: the approval ended as run %d (%s).", heldID, res.Run.ID, res.Run.Status)
}

// ApprovalAudit is the audit entry's detail for approving held run heldID
// (the console and the CLI write the same): what the approval run did, or
// "" when it approved nothing — a refusal or a failed push leaves the held
// run as it was, and the failed run is in the history.
func ApprovalAudit(heldID int64, res *Result, err error) string {
	switch {
	case err != nil || res == nil:
		return ""
	case res.Run.Status == StatusHeld:
		return fmt.Sprintf("run %d; the directory had changed, so the new plan was held as run %d", heldID, res.Run.ID)
	case res.Run.Status != StatusSuccess:
		return fmt.Sprintf("run %d; not pushed, run %d ended %s", heldID, res.Run.ID, res.Run.Status)
	}
	return fmt.Sprintf("run %d, pushed as run %d", heldID, res.Run.ID)
}
