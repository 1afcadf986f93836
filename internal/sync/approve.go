package sync

import (
	"context"
	"errors"
)

// ErrNotHeld is returned by Approve and Discard for a run that is not held
// (any more): already approved or discarded, or never held.
var ErrNotHeld = errors.New("the run is not held for approval")

// Approve pushes a held run. It re-reads the directory and re-plans: when
// the plan is the one held, the held run's exact batches are pushed (a new
// run with trigger "approval" records it and the held run becomes
// "approved"); otherwise the new plan is held again (a new held run) and the
// old one is discarded as superseded. Only the latest held run of the
// profile can be approved, and only once. actor names who approved.
func (e *Engine) Approve(ctx context.Context, profileID, runID int64, actor string) (*Result, error) {
	return nil, errors.New("sync: approve: not implemented yet")
}

// Discard drops a held run: its status becomes "discarded" and nothing is
// pushed. actor names who discarded it.
func (e *Engine) Discard(ctx context.Context, profileID, runID int64, actor string) error {
	return errors.New("sync: discard: not implemented yet")
}
