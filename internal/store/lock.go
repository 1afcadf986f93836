package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// DefaultLockTTL is the lease length AcquireRunLock uses when ttl <= 0.
const DefaultLockTTL = time.Minute

// RunLock is a held lease on one profile's run slot. It refreshes itself
// in a background goroutine every ttl/3 until Release; Refresh may also be
// called directly. If a refresh finds the lease taken over (it had expired,
// e.g. the process was suspended), Lost is closed and the goroutine stops.
type RunLock struct {
	s         *Store
	profileID int64
	holder    string
	token     string
	ttl       time.Duration

	stop     chan struct{}
	done     chan struct{}
	lost     chan struct{}
	stopOnce sync.Once
	lostOnce sync.Once
}

// AcquireRunLock takes the profile's run lease for holder (a non-empty,
// process-unique name such as "host:pid:start") for ttl (DefaultLockTTL
// when ttl <= 0). It returns ErrLocked while another acquisition holds an
// unexpired lease — even one with the same holder name — and takes over an
// expired one, or one whose holder names this host and a process that is
// no longer alive (a killed sync frees the lock at once, not after the
// lease). Works across processes sharing the database file.
func (s *Store) AcquireRunLock(ctx context.Context, profileID int64, holder string, ttl time.Duration) (*RunLock, error) {
	if holder == "" {
		return nil, errors.New("store: acquire run lock: the holder name is empty")
	}
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("store: acquire run lock: %w", err)
	}
	l := &RunLock{
		s: s, profileID: profileID, holder: holder, token: hex.EncodeToString(tok), ttl: ttl,
		stop: make(chan struct{}), done: make(chan struct{}), lost: make(chan struct{}),
	}
	err := s.write(ctx, "acquire run lock", func(tx *sqlx.Tx) error {
		if err := s.ensureProfile(ctx, tx, profileID); err != nil {
			return err
		}
		now := s.now()
		var cur struct {
			Holder    string `db:"holder"`
			ExpiresAt string `db:"expires_at"`
		}
		err := tx.GetContext(ctx, &cur, `SELECT holder, expires_at FROM run_locks WHERE profile_id = ?`, profileID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: acquire run lock of profile %d: %w", profileID, err)
		}
		if err == nil && cur.ExpiresAt > fmtTime(now) && !holderDead(cur.Holder) {
			return fmt.Errorf("store: profile %d is locked by %s until %s: %w", profileID, cur.Holder, cur.ExpiresAt, ErrLocked)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO run_locks (profile_id, holder, token, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (profile_id) DO UPDATE SET holder = excluded.holder, token = excluded.token,
				acquired_at = excluded.acquired_at, expires_at = excluded.expires_at`,
			profileID, holder, l.token, fmtTime(now), fmtTime(now.Add(ttl))); err != nil {
			return fmt.Errorf("store: acquire run lock of profile %d: %w", profileID, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	go l.keepAlive()
	return l, nil
}

// Holder returns the holder name the lock was acquired for.
func (l *RunLock) Holder() string { return l.holder }

// Lost is closed when a refresh finds the lease taken over or gone.
func (l *RunLock) Lost() <-chan struct{} { return l.lost }

func (l *RunLock) keepAlive() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
			err := l.Refresh(ctx)
			cancel()
			if errors.Is(err, ErrLockLost) {
				return
			}
			if err != nil {
				l.s.log.Warn("run lock refresh failed", "profile", l.profileID, "error", err)
			}
		}
	}
}

// Refresh extends the lease to now+ttl. It returns an error wrapping
// ErrLockLost (and closes Lost) if another acquisition holds the lease now.
func (l *RunLock) Refresh(ctx context.Context) error {
	now := l.s.now()
	var n int64
	err := l.s.write(ctx, "refresh run lock", func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE run_locks SET expires_at = ? WHERE profile_id = ? AND token = ?`,
			fmtTime(now.Add(l.ttl)), l.profileID, l.token)
		if err != nil {
			return fmt.Errorf("store: refresh run lock of profile %d: %w", l.profileID, err)
		}
		n, err = res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: refresh run lock of profile %d: %w", l.profileID, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		l.lostOnce.Do(func() { close(l.lost) })
		return fmt.Errorf("store: profile %d: %w", l.profileID, ErrLockLost)
	}
	return nil
}

// Release stops the refresher and frees the lease (if still ours). It runs
// even when ctx is already cancelled (bounded to 5 s), so a cancelled run
// does not leave the profile locked until the lease expires. Calling it
// again is harmless.
func (l *RunLock) Release(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return l.s.write(ctx, "release run lock", func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM run_locks WHERE profile_id = ? AND token = ?`, l.profileID, l.token); err != nil {
			return fmt.Errorf("store: release run lock of profile %d: %w", l.profileID, err)
		}
		return nil
	})
}
