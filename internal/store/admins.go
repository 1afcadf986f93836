package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Admin is a console user.
type Admin struct {
	ID       int64
	Username string
	// PasswordHash is the PHC string (argon2id) made by the caller.
	PasswordHash string
	CreatedAt    time.Time
	LastLoginAt  *time.Time
}

type adminRow struct {
	ID           int64          `db:"id"`
	Username     string         `db:"username"`
	PasswordHash string         `db:"password_hash"`
	CreatedAt    string         `db:"created_at"`
	LastLoginAt  sql.NullString `db:"last_login_at"`
}

// CountAdmins returns the number of console users (0 means first-run
// setup is needed).
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int
	if err := s.r.GetContext(ctx, &n, `SELECT count(*) FROM admins`); err != nil {
		return 0, fmt.Errorf("store: count admins: %w", err)
	}
	return n, nil
}

// CreateAdmin adds a console user. Usernames are trimmed and unique without
// regard to case; a taken one gives ErrExists.
func (s *Store) CreateAdmin(ctx context.Context, username, passwordHash string) (Admin, error) {
	username = strings.TrimSpace(username)
	if username == "" || passwordHash == "" {
		return Admin{}, errors.New("store: create admin: the username and password hash are required")
	}
	a := Admin{Username: username, PasswordHash: passwordHash, CreatedAt: s.now().UTC()}
	err := s.write(ctx, "create admin", func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO admins (username, password_hash, created_at) VALUES (?, ?, ?)`,
			username, passwordHash, fmtTime(a.CreatedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("store: create admin %q: %w", username, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("store: create admin %q: %w", username, err)
		}
		if a.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("store: create admin %q: %w", username, err)
		}
		return nil
	})
	if err != nil {
		return Admin{}, err
	}
	return a, nil
}

// GetAdmin returns a console user by name, case-insensitively (ErrNotFound).
func (s *Store) GetAdmin(ctx context.Context, username string) (Admin, error) {
	username = strings.TrimSpace(username)
	var row adminRow
	err := s.r.GetContext(ctx, &row,
		`SELECT id, username, password_hash, created_at, last_login_at FROM admins WHERE username = ?`, username)
	if errors.Is(err, sql.ErrNoRows) {
		return Admin{}, fmt.Errorf("store: admin %q: %w", username, ErrNotFound)
	}
	if err != nil {
		return Admin{}, fmt.Errorf("store: get admin %q: %w", username, err)
	}
	a := Admin{ID: row.ID, Username: row.Username, PasswordHash: row.PasswordHash}
	if a.CreatedAt, err = parseTime(row.CreatedAt); err != nil {
		return Admin{}, fmt.Errorf("store: get admin %q: %w", username, err)
	}
	if a.LastLoginAt, err = parseTimePtr(row.LastLoginAt); err != nil {
		return Admin{}, fmt.Errorf("store: get admin %q: %w", username, err)
	}
	return a, nil
}

// SetAdminPassword replaces a console user's password hash and ends every
// session it has, in one transaction (ErrNotFound): a reset password
// leaves no session opened with the old one.
func (s *Store) SetAdminPassword(ctx context.Context, username, passwordHash string) error {
	return s.setAdminPassword(ctx, username, passwordHash, true, "")
}

// ChangeAdminPassword replaces a console user's password hash and ends
// every session it has except keep (the session that changed it).
func (s *Store) ChangeAdminPassword(ctx context.Context, username, passwordHash, keep string) error {
	return s.setAdminPassword(ctx, username, passwordHash, true, keep)
}

// UpgradeAdminHash replaces a password hash by a stronger hash of the same
// password (after a login); sessions stay.
func (s *Store) UpgradeAdminHash(ctx context.Context, username, passwordHash string) error {
	return s.setAdminPassword(ctx, username, passwordHash, false, "")
}

func (s *Store) setAdminPassword(ctx context.Context, username, passwordHash string, endSessions bool, keep string) error {
	username = strings.TrimSpace(username)
	if passwordHash == "" {
		return errors.New("store: set admin password: the password hash is required")
	}
	return s.write(ctx, "set admin password", func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE admins SET password_hash = ? WHERE username = ?`, passwordHash, username)
		if err != nil {
			return fmt.Errorf("store: set password of admin %q: %w", username, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: set password of admin %q: %w", username, err)
		} else if n == 0 {
			return fmt.Errorf("store: admin %q: %w", username, ErrNotFound)
		}
		if endSessions {
			if _, err := tx.ExecContext(ctx,
				`DELETE FROM sessions WHERE admin_id = (SELECT id FROM admins WHERE username = ?) AND id <> ?`, username, keep); err != nil {
				return fmt.Errorf("store: end sessions of admin %q: %w", username, err)
			}
		}
		return nil
	})
}

// TouchAdminLogin records a successful login (ErrNotFound if no such id).
func (s *Store) TouchAdminLogin(ctx context.Context, id int64, at time.Time) error {
	return s.write(ctx, "touch admin login", func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE admins SET last_login_at = ? WHERE id = ?`, fmtTime(at), id)
		if err != nil {
			return fmt.Errorf("store: record login of admin %d: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: record login of admin %d: %w", id, err)
		} else if n == 0 {
			return fmt.Errorf("store: admin %d: %w", id, ErrNotFound)
		}
		return nil
	})
}

// AuditEntry is one admin action. Detail must never hold a secret.
type AuditEntry struct {
	ID         int64
	At         time.Time
	Actor      string
	Action     string
	Detail     string
	RemoteAddr string
}

type auditRow struct {
	ID         int64  `db:"id"`
	At         string `db:"at"`
	Actor      string `db:"actor"`
	Action     string `db:"action"`
	Detail     string `db:"detail"`
	RemoteAddr string `db:"remote_addr"`
}

// AddAudit appends an entry; a zero At becomes now.
func (s *Store) AddAudit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	return s.write(ctx, "add audit entry", func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO audit (at, actor, action, detail, remote_addr) VALUES (?, ?, ?, ?, ?)`,
			fmtTime(e.At), e.Actor, e.Action, e.Detail, e.RemoteAddr); err != nil {
			return fmt.Errorf("store: add audit entry %q: %w", e.Action, err)
		}
		return nil
	})
}

// ListAudit returns a page of the audit log, newest first, and the total
// number of entries. limit <= 0 means 50.
func (s *Store) ListAudit(ctx context.Context, limit, offset int) ([]AuditEntry, int, error) {
	if limit <= 0 {
		limit = 50
	}
	if offset < 0 {
		offset = 0
	}
	var (
		rows  []auditRow
		total int
	)
	err := s.read(ctx, "list audit", func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &total, `SELECT count(*) FROM audit`); err != nil {
			return fmt.Errorf("store: count audit entries: %w", err)
		}
		if err := tx.SelectContext(ctx, &rows,
			`SELECT id, at, actor, action, detail, remote_addr FROM audit ORDER BY id DESC LIMIT ? OFFSET ?`,
			limit, offset); err != nil {
			return fmt.Errorf("store: list audit entries: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]AuditEntry, 0, len(rows))
	for _, r := range rows {
		at, err := parseTime(r.At)
		if err != nil {
			return nil, 0, fmt.Errorf("store: list audit entries: %w", err)
		}
		out = append(out, AuditEntry{ID: r.ID, At: at, Actor: r.Actor, Action: r.Action, Detail: r.Detail, RemoteAddr: r.RemoteAddr})
	}
	return out, total, nil
}

// GetSchedule reports whether scheduled syncs are enabled for the profile
// (false for a profile never configured).
func (s *Store) GetSchedule(ctx context.Context, profileID int64) (bool, error) {
	var enabled bool
	err := s.r.GetContext(ctx, &enabled, `SELECT schedule_enabled FROM profiles WHERE id = ?`, profileID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: get schedule of profile %d: %w", profileID, err)
	}
	return enabled, nil
}

// SetSchedule turns scheduled syncs of the profile on or off; the choice
// survives restarts.
func (s *Store) SetSchedule(ctx context.Context, profileID int64, enabled bool) error {
	return s.write(ctx, "set schedule", func(tx *sqlx.Tx) error {
		if err := s.ensureProfile(ctx, tx, profileID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE profiles SET schedule_enabled = ?, updated_at = ? WHERE id = ?`,
			enabled, fmtTime(s.now()), profileID); err != nil {
			return fmt.Errorf("store: set schedule of profile %d: %w", profileID, err)
		}
		return nil
	})
}
