package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// CachedUser is one directory user as last read, kept so that a run can
// read only the users changed since (a delta read) and still plan from
// the whole list.
type CachedUser struct {
	ID       string `db:"user_id"`
	Email    string `db:"email"`
	Status   string `db:"status"`
	Deleted  bool   `db:"deleted"`
	Disabled bool   `db:"disabled"`
}

// DeltaState is what delta reads and delta pushes need between runs.
type DeltaState struct {
	ProfileID int64
	// UsersThrough is the latest lastUpdated of the cached users, by the
	// directory's clock; nil means the user cache cannot be used and the
	// next read must be a full one.
	UsersThrough *time.Time
	// Fingerprint names the settings the user cache was read with; a run
	// with other settings reads in full.
	Fingerprint string
	// PushPending is set from just before a push until its hash is saved:
	// a push that failed or was interrupted leaves it set, and the next
	// push is then a full one.
	PushPending bool
}

// GetDeltaState returns a profile's delta state, or the zero state (which
// asks for a full read and a full push) if none was saved.
func (s *Store) GetDeltaState(ctx context.Context, profileID int64) (DeltaState, error) {
	st := DeltaState{ProfileID: profileID}
	var row struct {
		Through     sql.NullString `db:"users_through"`
		Fingerprint string         `db:"fingerprint"`
		Pending     bool           `db:"push_pending"`
	}
	err := s.r.GetContext(ctx, &row, `SELECT users_through, fingerprint, push_pending FROM delta_state WHERE profile_id = ?`, profileID)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("store: load delta state of profile %d: %w", profileID, err)
	}
	if st.UsersThrough, err = parseTimePtr(row.Through); err != nil {
		return st, fmt.Errorf("store: load delta state of profile %d: %w", profileID, err)
	}
	st.Fingerprint, st.PushPending = row.Fingerprint, row.Pending
	return st, nil
}

// LoadUserCache returns a profile's cached users, sorted by id.
func (s *Store) LoadUserCache(ctx context.Context, profileID int64) ([]CachedUser, error) {
	users := []CachedUser{}
	if err := s.r.SelectContext(ctx, &users, `
		SELECT user_id, email, status, deleted, disabled FROM user_cache
		WHERE profile_id = ? ORDER BY user_id`, profileID); err != nil {
		return nil, fmt.Errorf("store: load user cache of profile %d: %w", profileID, err)
	}
	return users, nil
}

// UserCacheUpdate is the result of one successful read, applied to the
// user cache in one transaction together with the delta state, so that
// the cache and the time it is valid through never disagree.
type UserCacheUpdate struct {
	// Full replaces the whole cache with Upsert; otherwise Upsert and
	// Remove are applied to it.
	Full   bool
	Upsert []CachedUser
	Remove []string
	// Through becomes DeltaState.UsersThrough (nil: the cache is not
	// usable for a delta, e.g. no user was read).
	Through     *time.Time
	Fingerprint string
}

// UpdateUserCache applies u.
func (s *Store) UpdateUserCache(ctx context.Context, profileID int64, u UserCacheUpdate) error {
	return s.write(ctx, "update user cache", func(tx *sqlx.Tx) error {
		if err := s.ensureProfile(ctx, tx, profileID); err != nil {
			return err
		}
		fail := func(err error) error { return fmt.Errorf("store: update user cache of profile %d: %w", profileID, err) }
		if u.Full {
			if _, err := tx.ExecContext(ctx, `DELETE FROM user_cache WHERE profile_id = ?`, profileID); err != nil {
				return fail(err)
			}
		}
		if len(u.Upsert) > 0 {
			stmt, err := tx.PrepareContext(ctx, `
				INSERT INTO user_cache (profile_id, user_id, email, status, deleted, disabled) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (profile_id, user_id) DO UPDATE SET email = excluded.email, status = excluded.status,
					deleted = excluded.deleted, disabled = excluded.disabled`)
			if err != nil {
				return fail(err)
			}
			defer stmt.Close()
			for _, c := range u.Upsert {
				if _, err := stmt.ExecContext(ctx, profileID, c.ID, c.Email, c.Status, c.Deleted, c.Disabled); err != nil {
					return fail(err)
				}
			}
		}
		for _, id := range u.Remove {
			if _, err := tx.ExecContext(ctx, `DELETE FROM user_cache WHERE profile_id = ? AND user_id = ?`, profileID, id); err != nil {
				return fail(err)
			}
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO delta_state (profile_id, users_through, fingerprint) VALUES (?, ?, ?)
			ON CONFLICT (profile_id) DO UPDATE SET users_through = excluded.users_through, fingerprint = excluded.fingerprint`,
			profileID, fmtTimePtr(u.Through), u.Fingerprint); err != nil {
			return fail(err)
		}
		return nil
	})
}

// InvalidateUserCache makes the next read a full one (after a failed read:
// whatever went wrong, the next run must not trust a delta).
func (s *Store) InvalidateUserCache(ctx context.Context, profileID int64) error {
	return s.write(ctx, "invalidate user cache", func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE delta_state SET users_through = NULL WHERE profile_id = ?`, profileID); err != nil {
			return fmt.Errorf("store: invalidate user cache of profile %d: %w", profileID, err)
		}
		return nil
	})
}

// SetPushPending records that run runID's push is starting (true) or that
// a push's hash was saved (false; runID is then ignored). The pending flag
// outlives a failed push (the next push is a full one); the run id says
// which run was sending, for MarkInterruptedRuns.
func (s *Store) SetPushPending(ctx context.Context, profileID, runID int64, pending bool) error {
	var run sql.NullInt64
	if pending && runID > 0 {
		run = sql.NullInt64{Int64: runID, Valid: true}
	}
	return s.write(ctx, "mark push", func(tx *sqlx.Tx) error {
		if err := s.ensureProfile(ctx, tx, profileID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO delta_state (profile_id, push_pending, push_run_id) VALUES (?, ?, ?)
			ON CONFLICT (profile_id) DO UPDATE SET push_pending = excluded.push_pending, push_run_id = excluded.push_run_id`, profileID, pending, run); err != nil {
			return fmt.Errorf("store: mark push of profile %d: %w", profileID, err)
		}
		return nil
	})
}

func clearUserCacheTx(ctx context.Context, tx *sqlx.Tx, profileID int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_cache WHERE profile_id = ?`, profileID); err != nil {
		return fmt.Errorf("store: clear user cache of profile %d: %w", profileID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM delta_state WHERE profile_id = ?`, profileID); err != nil {
		return fmt.Errorf("store: clear delta state of profile %d: %w", profileID, err)
	}
	return nil
}
