package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// ErrRunStatus is returned (wrapped, with the run's actual status) by
// TransitionRun when the run is not in the expected status.
var ErrRunStatus = errors.New("store: the run is not in the expected status")

// TransitionRun moves run id from status from to status to, appending note
// (if not empty) to its warnings, in one conditional update: of two
// concurrent transitions of the same run only one succeeds. It returns
// ErrNotFound when there is no such run, and ErrRunStatus when the run is
// in another status. A run that leaves "held" drops its held plan: only a
// held run can be approved, and a plan can be tens of megabytes.
func (s *Store) TransitionRun(ctx context.Context, id int64, from, to, note string) error {
	return s.write(ctx, "transition run", func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE runs SET status = ?,
				warnings = CASE WHEN ? = '' THEN warnings ELSE json_insert(warnings, '$[#]', ?) END,
				held = CASE WHEN ? = ? THEN held ELSE NULL END
			WHERE id = ? AND status = ?`, to, note, note, to, StatusHeld, id, from)
		if err != nil {
			return fmt.Errorf("store: run %d %s → %s: %w", id, from, to, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: run %d %s → %s: %w", id, from, to, err)
		}
		if n == 1 {
			return nil
		}
		var status string
		if err := tx.GetContext(ctx, &status, `SELECT status FROM runs WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: run %d %s → %s: %w", id, from, to, ErrNotFound)
		}
		return fmt.Errorf("store: run %d is %s, not %s: %w", id, status, from, ErrRunStatus)
	})
}

// DiscardHeldRuns marks every held run of a profile except exceptID as
// discarded, appending note to their warnings, and returns how many it
// marked. Their held plans are dropped.
func (s *Store) DiscardHeldRuns(ctx context.Context, profileID, exceptID int64, note string) (int, error) {
	var n int64
	err := s.write(ctx, "discard held runs", func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE runs SET status = ?,
				warnings = CASE WHEN ? = '' THEN warnings ELSE json_insert(warnings, '$[#]', ?) END,
				held = NULL
			WHERE profile_id = ? AND status = ? AND id <> ?`,
			StatusDiscarded, note, note, profileID, StatusHeld, exceptID)
		if err != nil {
			return fmt.Errorf("store: discard held runs of profile %d: %w", profileID, err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("store: discard held runs of profile %d: %w", profileID, err)
		}
		return nil
	})
	return int(n), err
}

// LatestHeldRun returns the profile's newest held run with every field,
// Held included (ErrNotFound if none is held).
func (s *Store) LatestHeldRun(ctx context.Context, profileID int64) (Run, error) {
	return s.getRun(ctx, fmt.Sprintf("latest held run of profile %d", profileID),
		`SELECT `+runColsAll+` FROM runs WHERE profile_id = ? AND status = ? ORDER BY id DESC LIMIT 1`,
		profileID, StatusHeld)
}
