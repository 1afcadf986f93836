package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// AlertState is what the alerts last reported for a profile: "ok",
// "failed" or "held", and the run that caused it.
type AlertState struct {
	ProfileID int64
	State     string
	RunID     int64
	UpdatedAt time.Time
}

// GetAlertState returns a profile's alert state (ErrNotFound if no alert
// state was ever saved).
func (s *Store) GetAlertState(ctx context.Context, profileID int64) (AlertState, error) {
	var row struct {
		State     string `db:"state"`
		RunID     int64  `db:"run_id"`
		UpdatedAt string `db:"updated_at"`
	}
	err := s.r.GetContext(ctx, &row, `SELECT state, run_id, updated_at FROM alert_state WHERE profile_id = ?`, profileID)
	if errors.Is(err, sql.ErrNoRows) {
		return AlertState{}, fmt.Errorf("store: alert state of profile %d: %w", profileID, ErrNotFound)
	}
	if err != nil {
		return AlertState{}, fmt.Errorf("store: alert state of profile %d: %w", profileID, err)
	}
	at, err := parseTime(row.UpdatedAt)
	if err != nil {
		return AlertState{}, fmt.Errorf("store: alert state of profile %d: %w", profileID, err)
	}
	return AlertState{ProfileID: profileID, State: row.State, RunID: row.RunID, UpdatedAt: at}, nil
}

// SaveAlertState stores a profile's alert state (UpdatedAt: now when zero).
func (s *Store) SaveAlertState(ctx context.Context, st AlertState) error {
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = s.now()
	}
	return s.write(ctx, "save alert state", func(tx *sqlx.Tx) error {
		if err := s.ensureProfile(ctx, tx, st.ProfileID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO alert_state (profile_id, state, run_id, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (profile_id) DO UPDATE SET state = excluded.state, run_id = excluded.run_id, updated_at = excluded.updated_at`,
			st.ProfileID, st.State, st.RunID, fmtTime(st.UpdatedAt)); err != nil {
			return fmt.Errorf("store: save alert state of profile %d: %w", st.ProfileID, err)
		}
		return nil
	})
}
