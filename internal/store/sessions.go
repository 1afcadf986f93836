package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Session is one logged-in console session.
type Session struct {
	// ID is the SHA-256 (hex) of the token in the cookie; see SessionID.
	ID         string
	AdminID    int64
	Username   string
	CreatedAt  time.Time
	LastSeenAt time.Time
	RemoteAddr string
	UserAgent  string
}

type sessionRow struct {
	ID         string `db:"id"`
	AdminID    int64  `db:"admin_id"`
	Username   string `db:"username"`
	CreatedAt  string `db:"created_at"`
	LastSeenAt string `db:"last_seen_at"`
	RemoteAddr string `db:"remote_addr"`
	UserAgent  string `db:"user_agent"`
}

func (r sessionRow) session() (Session, error) {
	s := Session{ID: r.ID, AdminID: r.AdminID, Username: r.Username, RemoteAddr: r.RemoteAddr, UserAgent: r.UserAgent}
	var err error
	if s.CreatedAt, err = parseTime(r.CreatedAt); err != nil {
		return Session{}, err
	}
	if s.LastSeenAt, err = parseTime(r.LastSeenAt); err != nil {
		return Session{}, err
	}
	return s, nil
}

// SessionID is the stored id of a cookie's session token: its SHA-256, so
// that the database alone yields no usable session.
func SessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

const maxUserAgent = 512

// CreateSession stores a new session (its ID from SessionID).
func (s *Store) CreateSession(ctx context.Context, se Session) error {
	if len(se.UserAgent) > maxUserAgent {
		se.UserAgent = se.UserAgent[:maxUserAgent]
	}
	return s.write(ctx, "create session", func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO sessions (id, admin_id, created_at, last_seen_at, remote_addr, user_agent) VALUES (?, ?, ?, ?, ?, ?)`,
			se.ID, se.AdminID, fmtTime(se.CreatedAt), fmtTime(se.LastSeenAt), se.RemoteAddr, se.UserAgent); err != nil {
			return fmt.Errorf("store: create session: %w", err)
		}
		return nil
	})
}

const sessionCols = `s.id, s.admin_id, a.username, s.created_at, s.last_seen_at, s.remote_addr, s.user_agent`

// GetSession returns a live session with its admin's name (ErrNotFound
// when it was ended or its admin removed).
func (s *Store) GetSession(ctx context.Context, id string) (Session, error) {
	var row sessionRow
	err := s.r.GetContext(ctx, &row, `SELECT `+sessionCols+` FROM sessions s JOIN admins a ON a.id = s.admin_id WHERE s.id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("store: session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: get session: %w", err)
	}
	return row.session()
}

// ListSessions returns an admin's sessions, most recently seen first.
func (s *Store) ListSessions(ctx context.Context, adminID int64) ([]Session, error) {
	var rows []sessionRow
	if err := s.r.SelectContext(ctx, &rows, `SELECT `+sessionCols+` FROM sessions s JOIN admins a ON a.id = s.admin_id
		WHERE s.admin_id = ? ORDER BY s.last_seen_at DESC, s.created_at DESC`, adminID); err != nil {
		return nil, fmt.Errorf("store: list sessions of admin %d: %w", adminID, err)
	}
	out := make([]Session, 0, len(rows))
	for _, r := range rows {
		se, err := r.session()
		if err != nil {
			return nil, fmt.Errorf("store: list sessions: %w", err)
		}
		out = append(out, se)
	}
	return out, nil
}

// TouchSession records a request of a session.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, "touch session", func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, fmtTime(at), id); err != nil {
			return fmt.Errorf("store: touch session: %w", err)
		}
		return nil
	})
}

// DeleteSession ends one session (no error if it is already gone).
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.write(ctx, "delete session", func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: delete session: %w", err)
		}
		return nil
	})
}

// DeleteSessionsOf ends every session of an admin except keep (an id, or
// "" for none) and returns how many it ended.
func (s *Store) DeleteSessionsOf(ctx context.Context, adminID int64, keep string) (int, error) {
	var n int64
	err := s.write(ctx, "delete sessions", func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE admin_id = ? AND id <> ?`, adminID, keep)
		if err != nil {
			return fmt.Errorf("store: delete sessions of admin %d: %w", adminID, err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// DeleteStaleSessions removes sessions idle since before idleBefore or
// created before createdBefore (expired either way).
func (s *Store) DeleteStaleSessions(ctx context.Context, idleBefore, createdBefore time.Time) error {
	return s.write(ctx, "delete stale sessions", func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?`,
			fmtTime(idleBefore), fmtTime(createdBefore)); err != nil {
			return fmt.Errorf("store: delete stale sessions: %w", err)
		}
		return nil
	})
}

// ErrLastAdmin is returned by DeleteAdmin for the only admin left.
var ErrLastAdmin = errors.New("the last admin cannot be removed; add another admin first")

// ListAdmins returns every console user by name.
func (s *Store) ListAdmins(ctx context.Context) ([]Admin, error) {
	var rows []adminRow
	if err := s.r.SelectContext(ctx, &rows,
		`SELECT id, username, password_hash, created_at, last_login_at FROM admins ORDER BY username`); err != nil {
		return nil, fmt.Errorf("store: list admins: %w", err)
	}
	out := make([]Admin, 0, len(rows))
	for _, r := range rows {
		a := Admin{ID: r.ID, Username: r.Username, PasswordHash: r.PasswordHash}
		var err error
		if a.CreatedAt, err = parseTime(r.CreatedAt); err != nil {
			return nil, fmt.Errorf("store: list admins: %w", err)
		}
		if a.LastLoginAt, err = parseTimePtr(r.LastLoginAt); err != nil {
			return nil, fmt.Errorf("store: list admins: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// DeleteAdmin removes a console user and, with it, every session it has
// (ErrNotFound; ErrLastAdmin for the only one left). The check and the
// delete are one transaction, so two admins removing each other at once
// cannot leave none.
func (s *Store) DeleteAdmin(ctx context.Context, username string) error {
	return s.write(ctx, "delete admin", func(tx *sqlx.Tx) error {
		var id int64
		err := tx.GetContext(ctx, &id, `SELECT id FROM admins WHERE username = ?`, username)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: admin %q: %w", username, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: delete admin %q: %w", username, err)
		}
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM admins`); err != nil {
			return fmt.Errorf("store: delete admin %q: %w", username, err)
		}
		if n <= 1 {
			return ErrLastAdmin
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE admin_id = ?`, id); err != nil {
			return fmt.Errorf("store: delete admin %q: %w", username, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM admins WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: delete admin %q: %w", username, err)
		}
		return nil
	})
}
