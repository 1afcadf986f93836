// Package store keeps everything dirsync remembers in one SQLite file:
// profile settings (secrets sealed with a master key kept outside the
// database), sync state and caches, run history, the per-profile run lease,
// console admins and the audit log.
//
// Connections: writes go through a pool of exactly one connection whose
// transactions begin IMMEDIATE, so writers in this process queue in Go and
// writers in other processes wait on SQLite's busy timeout (5 s) instead of
// failing with SQLITE_BUSY. Reads use a separate small pool of read-only
// (query_only) connections and run concurrently with the writer (WAL).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/dirsync/dirsync/migrations"
)

// ErrNotFound is returned when the requested row does not exist. It is the
// one "not found" sentinel used by every store method.
var ErrNotFound = errors.New("store: not found")

// ErrLocked is returned by AcquireRunLock when another live holder has the
// profile's run lease.
var ErrLocked = errors.New("a sync is already running")

// ErrExists is returned when creating a row whose unique key is taken.
var ErrExists = errors.New("store: already exists")

// ErrKeyMismatch is returned (wrapped) when the master key does not open
// the stored secrets, typically because the key file was replaced.
var ErrKeyMismatch = errors.New("the secret key does not match the one used to store the secrets; restore secret.key or re-enter the secrets")

// ErrLockLost is returned by RunLock.Refresh when the lease was taken over
// by another holder (it had expired) or removed.
var ErrLockLost = errors.New("store: the run lock was lost (its lease expired and another holder took it)")

// DefaultProfile is the id of the one sync profile dirsync has today.
const DefaultProfile int64 = 1

// Options tune Open.
type Options struct {
	// KeyFile names the master key file; it overrides the
	// DIRSYNC_SECRET_KEY_FILE environment variable. When both are empty the
	// key is secret.key next to the database file, created on first use.
	KeyFile string
	// Logger receives warnings (e.g. a key file readable by others). Nil
	// discards them.
	Logger *slog.Logger
	// MustExist refuses to create anything: a missing database is
	// ErrNoDatabase and a missing key file an error, instead of a new empty
	// database and a new key. Commands that only read use it, so a mistyped
	// path is reported rather than answered with "0 runs".
	MustExist bool
}

// ErrNoDatabase is returned (wrapped, with the path) by Open with
// Options.MustExist when the database file does not exist.
var ErrNoDatabase = errors.New("no database")

// ErrKeyMissing is returned (wrapped, with both paths) by Open when the key
// file is missing but the database holds secrets sealed with a key: a new
// key could never open them, so none is created.
var ErrKeyMissing = errors.New("the secret key file is missing")

// Store is an open dirsync database. It is safe for concurrent use.
type Store struct {
	path string
	w    *sqlx.DB // single connection, BEGIN IMMEDIATE: all writes
	r    *sqlx.DB // read-only connections
	mig  *goose.Provider
	key  *masterKey
	log  *slog.Logger
	// now is the clock; tests replace it to expire leases without sleeping.
	now func() time.Time
}

const (
	busyTimeoutMS = 5000
	readConns     = 4
)

// Open opens (creating if needed, unless Options.MustExist) the database at
// path, creates missing parent folders with mode 0700, applies pending
// migrations and loads the master key. A missing key file is created only
// when the database holds no sealed secret yet.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: open: the database path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if opts.MustExist {
		if fi, err := os.Stat(abs); err != nil || !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%w at %s", ErrNoDatabase, abs)
		}
	} else if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("store: create the database folder: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	s := &Store{path: abs, log: logger, now: time.Now}
	s.w, err = sqlx.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.w.PingContext(ctx); err != nil {
		_ = s.w.Close()
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	// The database holds no secret in clear, but it does hold the directory's
	// member lists; keep it private when we can.
	if fi, err := os.Stat(abs); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(abs, 0o600); err != nil {
			logger.Warn("could not restrict the database file mode", "path", abs, "error", err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		_ = s.w.Close()
		return nil, err
	}
	var sealed bool
	if err := s.w.GetContext(ctx, &sealed, `SELECT EXISTS (SELECT 1 FROM secrets)`); err != nil {
		_ = s.w.Close()
		return nil, fmt.Errorf("store: check secrets: %w", err)
	}
	s.key, err = loadMasterKey(abs, opts.KeyFile, !opts.MustExist && !sealed)
	if err != nil {
		_ = s.w.Close()
		if errors.Is(err, os.ErrNotExist) && sealed {
			return nil, fmt.Errorf("%w: %s does not exist, but the database %s holds secrets sealed with it; restore the key file from your backup (or point %s at it) — a new key could not read them", ErrKeyMissing, keyPathFor(abs, opts.KeyFile), abs, KeyEnv)
		}
		return nil, err
	}
	if s.key.info.Warning != "" {
		logger.Warn("secret key file", "path", s.key.info.Path, "warning", s.key.info.Warning)
	}
	s.r, err = sqlx.Open("sqlite", dsn(abs, true))
	if err != nil {
		_ = s.w.Close()
		return nil, fmt.Errorf("store: open %s for reading: %w", abs, err)
	}
	s.r.SetMaxOpenConns(readConns)
	s.r.SetMaxIdleConns(readConns)
	if err := s.r.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("store: open %s for reading: %w", abs, err)
	}
	if err := s.checkKey(ctx); err != nil {
		if !errors.Is(err, ErrKeyMismatch) {
			_ = s.Close()
			return nil, err
		}
		// Opening still succeeds so that an admin can re-enter the secrets;
		// LoadSettings reports the mismatch.
		s.key.info.Mismatch = true
		logger.Warn("secret key", "path", s.key.info.Path, "error", err.Error())
	}
	return s, nil
}

// dsn builds a file: URI so any path (spaces, '?', '#') survives, with the
// pragmas every pooled connection must get.
func dsn(abs string, readOnly bool) string {
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	}
	return u.String() + "?" + q.Encode()
}

func (s *Store) migrate(ctx context.Context) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w.DB, migrations.FS)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	s.mig = p
	// Another process opening the same new database may be applying them
	// at the same time: our attempt at a version it applied first fails
	// ("already exists"), and it may still be applying later ones. Each
	// retry starts after the versions applied so far, so it gets at least
	// one version further; give up only when a retry makes no progress.
	for attempt := 0; ; attempt++ {
		before, _ := p.GetDBVersion(ctx)
		_, err := p.Up(ctx)
		if err == nil {
			return nil
		}
		pending, perr := p.HasPending(ctx)
		if perr == nil && !pending {
			return nil
		}
		after, _ := p.GetDBVersion(ctx)
		if perr != nil || (after <= before && attempt > 0) || attempt > 100 {
			return fmt.Errorf("store: apply migrations: %w", err)
		}
	}
}

// Close closes both connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// DB returns the writer pool (one connection, transactions begin
// IMMEDIATE). Use it for anything that writes; do not hold it for long
// reads, since every store write waits for it.
func (s *Store) DB() *sqlx.DB { return s.w }

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Ping checks that both pools answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	var one int
	if err := s.r.GetContext(ctx, &one, `SELECT 1`); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping writer: %w", err)
	}
	return nil
}

// MigrationsCurrent reports whether every embedded migration is applied.
func (s *Store) MigrationsCurrent(ctx context.Context) (bool, error) {
	pending, err := s.mig.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("store: check migrations: %w", err)
	}
	return !pending, nil
}

// write runs fn in one IMMEDIATE transaction on the writer connection.
func (s *Store) write(ctx context.Context, what string, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.w.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: begin: %w", what, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", what, err)
	}
	return nil
}

// read runs fn in one read transaction (a consistent snapshot).
func (s *Store) read(ctx context.Context, what string, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.r.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store: %s: begin: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	return fn(tx)
}

// ensureProfile creates the profile row other tables refer to.
func (s *Store) ensureProfile(ctx context.Context, tx *sqlx.Tx, profileID int64) error {
	if profileID <= 0 {
		return fmt.Errorf("store: invalid profile id %d", profileID)
	}
	now := fmtTime(s.now())
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO profiles (id, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		profileID, now, now); err != nil {
		return fmt.Errorf("store: create profile %d: %w", profileID, err)
	}
	return nil
}

// timeLayout is fixed-width so that stored text sorts in time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func fmtTimePtr(t *time.Time) sql.NullString {
	if t == nil || t.IsZero() {
		return sql.NullString{}
	}
	return sql.NullString{String: fmtTime(*t), Valid: true}
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("store: bad stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func parseTimePtr(ns sql.NullString) (*time.Time, error) {
	if !ns.Valid || ns.String == "" {
		return nil, nil
	}
	t, err := parseTime(ns.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
