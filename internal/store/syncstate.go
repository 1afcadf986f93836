package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// SyncState is what the engine remembers between runs of a profile.
type SyncState struct {
	ProfileID int64
	// Hash is the SHA-256 (hex) of the last pushed import body; "" forces
	// the next run to push.
	Hash           string
	LastPushAt     *time.Time
	LastSuccessAt  *time.Time
	LastRunAt      *time.Time
	LastFullReadAt *time.Time
	// LastBody is the gzip of the last pushed import JSON. GetSyncState
	// leaves it nil (it can be tens of megabytes and most runs do not need
	// it): read it with LastBody. SaveSyncState stores it when non-nil and
	// keeps the stored one otherwise; ClearCache forgets it.
	LastBody []byte
	// ReadKey, ReadUsers and ReadMemberships describe the last accepted
	// read (one that was pushed, or found unchanged): a fingerprint of the
	// settings that shape it, its live users and its group memberships.
	// The shrink guard compares the next read with the same key against
	// them. ClearCache keeps them: they are a baseline, not a cache.
	ReadKey         string
	ReadUsers       int
	ReadMemberships int
}

type syncStateRow struct {
	Hash           string         `db:"hash"`
	LastPushAt     sql.NullString `db:"last_push_at"`
	LastSuccessAt  sql.NullString `db:"last_success_at"`
	LastRunAt      sql.NullString `db:"last_run_at"`
	LastFullReadAt sql.NullString `db:"last_full_read_at"`
	ReadKey        string         `db:"read_key"`
	ReadUsers      int            `db:"read_users"`
	ReadMembers    int            `db:"read_memberships"`
}

// GetSyncState returns a profile's sync state without the last body, or
// the zero state (with ProfileID set) if none was saved.
func (s *Store) GetSyncState(ctx context.Context, profileID int64) (SyncState, error) {
	st := SyncState{ProfileID: profileID}
	var row syncStateRow
	err := s.r.GetContext(ctx, &row, `
		SELECT hash, last_push_at, last_success_at, last_run_at, last_full_read_at, read_key, read_users, read_memberships
		FROM sync_state WHERE profile_id = ?`, profileID)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("store: load sync state of profile %d: %w", profileID, err)
	}
	st.Hash = row.Hash
	st.ReadKey, st.ReadUsers, st.ReadMemberships = row.ReadKey, row.ReadUsers, row.ReadMembers
	for _, f := range []struct {
		dst **time.Time
		src sql.NullString
	}{{&st.LastPushAt, row.LastPushAt}, {&st.LastSuccessAt, row.LastSuccessAt}, {&st.LastRunAt, row.LastRunAt}, {&st.LastFullReadAt, row.LastFullReadAt}} {
		t, err := parseTimePtr(f.src)
		if err != nil {
			return st, fmt.Errorf("store: load sync state of profile %d: %w", profileID, err)
		}
		*f.dst = t
	}
	return st, nil
}

// LastBody returns the gzip of a profile's last pushed import, nil if none.
func (s *Store) LastBody(ctx context.Context, profileID int64) ([]byte, error) {
	var body []byte
	err := s.r.GetContext(ctx, &body, `SELECT last_body FROM sync_state WHERE profile_id = ?`, profileID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: load the last import of profile %d: %w", profileID, err)
	}
	return body, nil
}

// SaveSyncState stores the fields of st (nil times are stored as absent);
// a nil LastBody keeps the stored body, so an unchanged run does not
// rewrite it.
func (s *Store) SaveSyncState(ctx context.Context, st SyncState) error {
	return s.write(ctx, "save sync state", func(tx *sqlx.Tx) error {
		if err := s.ensureProfile(ctx, tx, st.ProfileID); err != nil {
			return err
		}
		var body any
		if st.LastBody != nil {
			body = st.LastBody
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO sync_state (profile_id, hash, last_push_at, last_success_at, last_run_at, last_full_read_at, last_body,
				read_key, read_users, read_memberships)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (profile_id) DO UPDATE SET hash = excluded.hash, last_push_at = excluded.last_push_at,
				last_success_at = excluded.last_success_at, last_run_at = excluded.last_run_at,
				last_full_read_at = excluded.last_full_read_at, last_body = COALESCE(excluded.last_body, sync_state.last_body),
				read_key = excluded.read_key, read_users = excluded.read_users, read_memberships = excluded.read_memberships`,
			st.ProfileID, st.Hash, fmtTimePtr(st.LastPushAt), fmtTimePtr(st.LastSuccessAt),
			fmtTimePtr(st.LastRunAt), fmtTimePtr(st.LastFullReadAt), body,
			st.ReadKey, st.ReadUsers, st.ReadMemberships); err != nil {
			return fmt.Errorf("store: save sync state of profile %d: %w", st.ProfileID, err)
		}
		return nil
	})
}

// ClearCache forgets the pushed hash, the last body, the last full read
// time, the membership cache, the user cache and the delta state, so the next run reads everything and
// pushes. Run times are kept. While a run holds the profile's lease it
// refuses with an error wrapping ErrLocked: the run would save its state
// afterwards and undo the clear. The check and the clear are one
// transaction, so no run can start in between.
func (s *Store) ClearCache(ctx context.Context, profileID int64) error {
	return s.write(ctx, "clear cache", func(tx *sqlx.Tx) error {
		var holder string
		err := tx.GetContext(ctx, &holder, `SELECT holder FROM run_locks WHERE profile_id = ? AND expires_at > ?`, profileID, fmtTime(s.now()))
		if err == nil && !holderDead(holder) {
			return fmt.Errorf("store: profile %d: a sync is running (%s): %w", profileID, holder, ErrLocked)
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: clear sync cache of profile %d: %w", profileID, err)
		}
		return clearCacheTx(ctx, tx, profileID)
	})
}

func clearCacheTx(ctx context.Context, tx *sqlx.Tx, profileID int64) error {
	if _, err := tx.ExecContext(ctx,
		`UPDATE sync_state SET hash = '', last_body = NULL, last_full_read_at = NULL WHERE profile_id = ?`, profileID); err != nil {
		return fmt.Errorf("store: clear sync cache of profile %d: %w", profileID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM member_cache WHERE profile_id = ?`, profileID); err != nil {
		return fmt.Errorf("store: clear membership cache of profile %d: %w", profileID, err)
	}
	return clearUserCacheTx(ctx, tx, profileID)
}

// CachedGroup is one group's member ids as last read from the directory.
type CachedGroup struct {
	GroupID               string
	LastMembershipUpdated time.Time
	MemberIDs             []string
}

// MemberCacheView adapts a loaded membership cache to
// directory.MembershipCache.
type MemberCacheView map[string]CachedGroup

// CachedMembers returns the cached member ids of a group when its
// lastMembershipUpdated has not moved.
func (v MemberCacheView) CachedMembers(groupID string, lastMembershipUpdated time.Time) ([]string, bool) {
	g, ok := v[groupID]
	if !ok || !g.LastMembershipUpdated.Equal(lastMembershipUpdated) {
		return nil, false
	}
	return g.MemberIDs, true
}

// LoadMemberCache returns a profile's membership cache keyed by group id
// (an empty map if none).
func (s *Store) LoadMemberCache(ctx context.Context, profileID int64) (map[string]CachedGroup, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT group_id, last_membership_updated, member_ids FROM member_cache WHERE profile_id = ?`, profileID)
	if err != nil {
		return nil, fmt.Errorf("store: load membership cache of profile %d: %w", profileID, err)
	}
	defer rows.Close()
	out := map[string]CachedGroup{}
	for rows.Next() {
		var (
			g   CachedGroup
			lmu string
			// RawBytes: unpackIDs copies what it keeps, so the driver's
			// buffer need not be cloned first.
			packed sql.RawBytes
		)
		if err := rows.Scan(&g.GroupID, &lmu, &packed); err != nil {
			return nil, fmt.Errorf("store: load membership cache of profile %d: %w", profileID, err)
		}
		if g.LastMembershipUpdated, err = parseTime(lmu); err != nil {
			return nil, fmt.Errorf("store: load membership cache of profile %d: %w", profileID, err)
		}
		if g.MemberIDs, err = unpackIDs(packed); err != nil {
			return nil, fmt.Errorf("store: load membership cache of profile %d group %s: %w", profileID, g.GroupID, err)
		}
		out[g.GroupID] = g
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load membership cache of profile %d: %w", profileID, err)
	}
	return out, nil
}

// ReplaceMemberCache replaces a profile's whole membership cache in one
// transaction (one row per group, member ids packed).
func (s *Store) ReplaceMemberCache(ctx context.Context, profileID int64, groups []CachedGroup) error {
	return s.write(ctx, "replace membership cache", func(tx *sqlx.Tx) error {
		if err := s.ensureProfile(ctx, tx, profileID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM member_cache WHERE profile_id = ?`, profileID); err != nil {
			return fmt.Errorf("store: replace membership cache of profile %d: %w", profileID, err)
		}
		stmt, err := tx.PrepareContext(ctx, `
			INSERT INTO member_cache (profile_id, group_id, last_membership_updated, member_ids) VALUES (?, ?, ?, ?)
			ON CONFLICT (profile_id, group_id) DO UPDATE SET last_membership_updated = excluded.last_membership_updated,
				member_ids = excluded.member_ids`)
		if err != nil {
			return fmt.Errorf("store: replace membership cache of profile %d: %w", profileID, err)
		}
		defer stmt.Close()
		var buf []byte
		for _, g := range groups {
			buf = packIDs(buf[:0], g.MemberIDs)
			if _, err := stmt.ExecContext(ctx, profileID, g.GroupID, fmtTime(g.LastMembershipUpdated), buf); err != nil {
				return fmt.Errorf("store: replace membership cache of profile %d group %s: %w", profileID, g.GroupID, err)
			}
		}
		return nil
	})
}

// packIDs encodes ids as a count followed by (length, bytes) pairs, all
// lengths as uvarints: compact and safe for any id.
func packIDs(dst []byte, ids []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	for _, id := range ids {
		dst = binary.AppendUvarint(dst, uint64(len(id)))
		dst = append(dst, id...)
	}
	return dst
}

var errBadPacked = errors.New("corrupt packed member ids")

func unpackIDs(b []byte) ([]string, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errBadPacked
	}
	b = b[k:]
	// One string holds the whole blob and the ids are slices of it: one
	// allocation per group instead of one per member.
	all := string(b)
	ids := make([]string, 0, n)
	off := 0
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errBadPacked
		}
		ids = append(ids, all[off+k:off+k+int(l)])
		b = b[k+int(l):]
		off += k + int(l)
	}
	if len(b) != 0 {
		return nil, errBadPacked
	}
	return ids, nil
}
