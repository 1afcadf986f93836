package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// LoginLimits are the failed-login rules ReserveLogin applies. Every
// failure counts for its (user name, address) pair, for its address, and
// for its user name everywhere:
//
//   - a pair with PerPair failures in Window is refused until the oldest
//     leaves the window;
//   - an address with PerAddr failures in Window likewise;
//   - a user name with UserSlowAfter or more failures in Window is slowed
//     down: the next attempt waits UserDelay, doubled per further failure
//     up to MaxUserDelay, after the last one — but only from addresses
//     that have failed in the window. An address with no failure is never
//     slowed, so a password spray against an admin's name does not keep
//     the admin out.
type LoginLimits struct {
	PerPair, PerAddr, UserSlowAfter int
	Window, UserDelay, MaxUserDelay time.Duration
}

// DefaultLoginLimits: 5 per pair, 20 per address in 15 minutes; a user
// name failing 10 times is slowed from 1 s up to 15 minutes.
var DefaultLoginLimits = LoginLimits{PerPair: 5, PerAddr: 20, UserSlowAfter: 10,
	Window: 15 * time.Minute, UserDelay: time.Second, MaxUserDelay: 15 * time.Minute}

// loginUserKey is a keyed hash of a user name as typed, so that the
// throttle never stores what people type into the name field (sometimes
// a password) and a copy of the database does not list the names tried.
func (s *Store) loginUserKey(username string) string {
	m := hmac.New(sha256.New, s.DeriveKey("login-throttle", 32))
	m.Write([]byte(strings.ToLower(strings.TrimSpace(username))))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// ReserveLogin decides whether a login for username from addr may be
// tried now and, if so, records it as a failure before the password is
// checked, in one transaction: parallel attempts cannot all pass a check
// made before any of them is counted. It returns the reservation (give it
// to LoginSucceeded or ReleaseLogin), or wait > 0 when the attempt is
// refused. Entries older than the window are dropped on the way.
func (s *Store) ReserveLogin(ctx context.Context, username, addr string, now time.Time, lim LoginLimits) (id int64, wait time.Duration, err error) {
	key := s.loginUserKey(username)
	err = s.write(ctx, "reserve login", func(tx *sqlx.Tx) error {
		cut := fmtTime(now.Add(-lim.Window))
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE at <= ?`, cut); err != nil {
			return fmt.Errorf("store: reserve login: %w", err)
		}
		// Sliding windows: the limit-th newest failure decides when one
		// more attempt is allowed.
		windowWait := func(q string, limit int, args ...any) (time.Duration, int, error) {
			var ats []string
			if err := tx.SelectContext(ctx, &ats, q+` AND at > ? ORDER BY at DESC LIMIT ?`, append(args, cut, limit)...); err != nil {
				return 0, 0, err
			}
			if len(ats) < limit {
				return 0, len(ats), nil
			}
			oldest, err := parseTime(ats[len(ats)-1])
			if err != nil {
				return 0, 0, err
			}
			return oldest.Add(lim.Window).Sub(now), len(ats), nil
		}
		w, _, err := windowWait(`SELECT at FROM login_failures WHERE user_key = ? AND addr = ?`, lim.PerPair, key, addr)
		if err != nil {
			return fmt.Errorf("store: reserve login: %w", err)
		}
		wait = max(wait, w)
		w, addrFailures, err := windowWait(`SELECT at FROM login_failures WHERE addr = ?`, lim.PerAddr, addr)
		if err != nil {
			return fmt.Errorf("store: reserve login: %w", err)
		}
		wait = max(wait, w)
		if addrFailures > 0 && lim.UserSlowAfter > 0 {
			var agg struct {
				N    int     `db:"n"`
				Last *string `db:"last"`
			}
			if err := tx.GetContext(ctx, &agg, `SELECT count(*) AS n, max(at) AS last FROM login_failures WHERE user_key = ? AND at > ?`, key, cut); err != nil {
				return fmt.Errorf("store: reserve login: %w", err)
			}
			if agg.N >= lim.UserSlowAfter && agg.Last != nil {
				last, err := parseTime(*agg.Last)
				if err != nil {
					return err
				}
				delay := lim.UserDelay
				for i := lim.UserSlowAfter; i < agg.N && delay < lim.MaxUserDelay; i++ {
					delay *= 2
				}
				delay = min(delay, lim.MaxUserDelay)
				wait = max(wait, last.Add(delay).Sub(now))
			}
		}
		if wait > 0 {
			return nil
		}
		wait = 0
		res, err := tx.ExecContext(ctx, `INSERT INTO login_failures (user_key, addr, at) VALUES (?, ?, ?)`, key, addr, fmtTime(now))
		if err != nil {
			return fmt.Errorf("store: reserve login: %w", err)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return id, wait, nil
}

// LoginSucceeded drops the reservation and the failures of the user name
// from that address: the address has proved it knows the password.
func (s *Store) LoginSucceeded(ctx context.Context, id int64, username, addr string) error {
	key := s.loginUserKey(username)
	return s.write(ctx, "login succeeded", func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE id = ? OR (user_key = ? AND addr = ?)`, id, key, addr); err != nil {
			return fmt.Errorf("store: login succeeded: %w", err)
		}
		return nil
	})
}

// ReleaseLogin drops a reservation whose password was never checked (the
// console was too busy).
func (s *Store) ReleaseLogin(ctx context.Context, id int64) error {
	return s.write(ctx, "release login", func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: release login: %w", err)
		}
		return nil
	})
}

// UnlockLogins forgets every failed login for a user name (from any
// address) and returns how many there were: `dirsync admin unlock`.
func (s *Store) UnlockLogins(ctx context.Context, username string) (int, error) {
	key := s.loginUserKey(username)
	var n int64
	err := s.write(ctx, "unlock logins", func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE user_key = ?`, key)
		if err != nil {
			return fmt.Errorf("store: unlock logins: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
