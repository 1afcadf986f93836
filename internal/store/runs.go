package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jmoiron/sqlx"
)

// Run statuses.
const (
	StatusRunning     = "running"
	StatusSuccess     = "success"
	StatusUnchanged   = "unchanged"
	StatusFailed      = "failed"
	StatusHeld        = "held"
	StatusDryRun      = "dry-run"
	StatusInterrupted = "interrupted"
	StatusDiscarded   = "discarded"
	// StatusApproved is a held run whose body was pushed by an approval
	// (the push itself is recorded as a new run, trigger "approval").
	StatusApproved = "approved"
)

// InterruptedError is the Error of a run marked interrupted.
const InterruptedError = "interrupted: the process stopped during the run"

// InterruptedDuringPushError is the Error of a run marked interrupted
// while it was sending its import (the profile's push was pending): the
// run page must not let an admin believe nothing reached Bitwarden.
const InterruptedDuringPushError = "interrupted: the process stopped while sending the import to Bitwarden, so some of it may already have been applied there; the next run sends the whole import again"

// RunCounts are a run's figures.
type RunCounts struct {
	Users       int `json:"users"`
	Groups      int `json:"groups"`
	Members     int `json:"members"`
	Deleted     int `json:"deleted"`
	Disabled    int `json:"disabled"`
	Memberships int `json:"memberships"`
	Dropped     int `json:"dropped"`
	Batches     int `json:"batches"`
	// DirectoryRequests are the requests (HTTP or LDAP searches) the
	// read made; the JSON name is from when Okta was the only directory,
	// kept so that older runs read back.
	DirectoryRequests  int `json:"oktaRequests"`
	Invites            int `json:"invites"`
	Removals           int `json:"removals"`
	GroupsChanged      int `json:"groupsChanged"`
	MembershipsAdded   int `json:"membershipsAdded"`
	MembershipsRemoved int `json:"membershipsRemoved"`
	// UsersRead is how many users the directory returned (all of them on
	// a full read, the changed ones on a delta read); FullRead says which.
	UsersRead int  `json:"usersRead,omitempty"`
	FullRead  bool `json:"fullRead,omitempty"`
	// PushedMembers and PushedGroups are what the push sent: the whole
	// import on a full push (FullPush), only what changed on a delta push.
	PushedMembers int  `json:"pushedMembers,omitempty"`
	PushedGroups  int  `json:"pushedGroups,omitempty"`
	FullPush      bool `json:"fullPush,omitempty"`
}

// Run is one sync run in the history.
type Run struct {
	ID        int64 `json:"id"`
	ProfileID int64 `json:"profileId"`
	// Trigger is "schedule", "manual", "cli", "test" or "approval".
	Trigger string `json:"trigger"`
	// Status is "running", "success", "unchanged", "failed", "held",
	// "dry-run", "interrupted", "discarded" or "approved" (Status* constants).
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	Counts     RunCounts  `json:"counts"`
	// Warnings is never nil after a load, so JSON shows [].
	Warnings []string `json:"warnings"`
	Error    string   `json:"error"`
	Hash     string   `json:"hash,omitempty"`
	// Changes is engine-defined JSON: what changed since the previous push.
	// Left nil by ListRuns.
	Changes json.RawMessage `json:"changes,omitempty"`
	// Timings is engine-defined JSON (phase durations).
	Timings json.RawMessage `json:"timings,omitempty"`
	// Held is the engine-defined held-run plan, stored gzip-compressed.
	// Loaded only by GetRun.
	Held json.RawMessage `json:"-"`
	// Holder is the run-lock holder running it. CreateRun fills it from the
	// profile's live lease when empty; MarkInterruptedRuns judges by it.
	Holder string `json:"-"`
}

type runRow struct {
	ID         int64          `db:"id"`
	ProfileID  int64          `db:"profile_id"`
	Trigger    string         `db:"trigger"`
	Status     string         `db:"status"`
	Holder     string         `db:"holder"`
	StartedAt  string         `db:"started_at"`
	FinishedAt sql.NullString `db:"finished_at"`
	Counts     string         `db:"counts"`
	Warnings   string         `db:"warnings"`
	Error      string         `db:"error"`
	Hash       string         `db:"hash"`
	Changes    sql.NullString `db:"changes"`
	Timings    sql.NullString `db:"timings"`
	Held       []byte         `db:"held"`
}

const (
	runColsList   = `id, profile_id, trigger, status, holder, started_at, finished_at, counts, warnings, error, hash, NULL AS changes, timings, NULL AS held`
	runColsNoHeld = `id, profile_id, trigger, status, holder, started_at, finished_at, counts, warnings, error, hash, changes, timings, NULL AS held`
	runColsAll    = `id, profile_id, trigger, status, holder, started_at, finished_at, counts, warnings, error, hash, changes, timings, held`
)

func (r runRow) toRun() (Run, error) {
	out := Run{ID: r.ID, ProfileID: r.ProfileID, Trigger: r.Trigger, Status: r.Status, Holder: r.Holder, Error: r.Error, Hash: r.Hash}
	var err error
	if out.StartedAt, err = parseTime(r.StartedAt); err != nil {
		return out, err
	}
	if out.FinishedAt, err = parseTimePtr(r.FinishedAt); err != nil {
		return out, err
	}
	if err := json.Unmarshal([]byte(r.Counts), &out.Counts); err != nil {
		return out, fmt.Errorf("store: decode counts of run %d: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.Warnings), &out.Warnings); err != nil {
		return out, fmt.Errorf("store: decode warnings of run %d: %w", r.ID, err)
	}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	if r.Changes.Valid {
		out.Changes = json.RawMessage(r.Changes.String)
	}
	if r.Timings.Valid {
		out.Timings = json.RawMessage(r.Timings.String)
	}
	if r.Held != nil {
		zr, err := gzip.NewReader(bytes.NewReader(r.Held))
		if err != nil {
			return out, fmt.Errorf("store: decompress held plan of run %d: %w", r.ID, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return out, fmt.Errorf("store: decompress held plan of run %d: %w", r.ID, err)
		}
		out.Held = b
	}
	return out, nil
}

// runArgs encodes the mutable columns of r.
func runArgs(r *Run) (counts, warnings string, changes, timings sql.NullString, held []byte, err error) {
	c, err := json.Marshal(r.Counts)
	if err != nil {
		return "", "", changes, timings, nil, fmt.Errorf("store: encode run counts: %w", err)
	}
	w := r.Warnings
	if w == nil {
		w = []string{}
	}
	wj, err := json.Marshal(w)
	if err != nil {
		return "", "", changes, timings, nil, fmt.Errorf("store: encode run warnings: %w", err)
	}
	if len(r.Changes) > 0 {
		changes = sql.NullString{String: string(r.Changes), Valid: true}
	}
	if len(r.Timings) > 0 {
		timings = sql.NullString{String: string(r.Timings), Valid: true}
	}
	if len(r.Held) > 0 {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(r.Held); err != nil {
			return "", "", changes, timings, nil, fmt.Errorf("store: compress held plan: %w", err)
		}
		if err := zw.Close(); err != nil {
			return "", "", changes, timings, nil, fmt.Errorf("store: compress held plan: %w", err)
		}
		held = buf.Bytes()
	}
	return string(c), string(wj), changes, timings, held, nil
}

// CreateRun records a new run and sets r.ID. An empty Status becomes
// "running", a zero StartedAt becomes now, an empty Holder becomes the
// holder of the profile's live run lease (if any).
func (s *Store) CreateRun(ctx context.Context, r *Run) error {
	if r.Status == "" {
		r.Status = StatusRunning
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = s.now()
	}
	r.StartedAt = r.StartedAt.UTC()
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
	counts, warnings, changes, timings, held, err := runArgs(r)
	if err != nil {
		return err
	}
	return s.write(ctx, "create run", func(tx *sqlx.Tx) error {
		if err := s.ensureProfile(ctx, tx, r.ProfileID); err != nil {
			return err
		}
		if r.Holder == "" {
			err := tx.GetContext(ctx, &r.Holder,
				`SELECT holder FROM run_locks WHERE profile_id = ? AND expires_at > ?`, r.ProfileID, fmtTime(s.now()))
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("store: create run: read run lock of profile %d: %w", r.ProfileID, err)
			}
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO runs (profile_id, trigger, status, holder, started_at, finished_at, counts, warnings, error, hash, changes, timings, held)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ProfileID, r.Trigger, r.Status, r.Holder, fmtTime(r.StartedAt), fmtTimePtr(r.FinishedAt),
			counts, warnings, r.Error, r.Hash, changes, timings, held)
		if err != nil {
			return fmt.Errorf("store: create run of profile %d: %w", r.ProfileID, err)
		}
		if r.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("store: create run of profile %d: %w", r.ProfileID, err)
		}
		return nil
	})
}

// FinishRun stores every field of r over the run with r.ID (ErrNotFound if
// there is none); ProfileID and Holder are kept from creation. Set
// FinishedAt yourself (a nil FinishedAt clears it). Changes, Timings and
// Held are overwritten too (nil clears them): start from GetRun, not from
// ListRuns or LastRun, when updating an older run.
func (s *Store) FinishRun(ctx context.Context, r *Run) error {
	counts, warnings, changes, timings, held, err := runArgs(r)
	if err != nil {
		return err
	}
	return s.write(ctx, "finish run", func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `
			UPDATE runs SET trigger = ?, status = ?, started_at = ?, finished_at = ?, counts = ?, warnings = ?,
				error = ?, hash = ?, changes = ?, timings = ?, held = ?
			WHERE id = ?`,
			r.Trigger, r.Status, fmtTime(r.StartedAt), fmtTimePtr(r.FinishedAt), counts, warnings,
			r.Error, r.Hash, changes, timings, held, r.ID)
		if err != nil {
			return fmt.Errorf("store: finish run %d: %w", r.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: finish run %d: %w", r.ID, err)
		} else if n == 0 {
			return fmt.Errorf("store: finish run %d: %w", r.ID, ErrNotFound)
		}
		return nil
	})
}

func (s *Store) getRun(ctx context.Context, what, query string, args ...any) (Run, error) {
	var row runRow
	err := s.r.GetContext(ctx, &row, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: %s: %w", what, err)
	}
	r, err := row.toRun()
	if err != nil {
		return Run{}, fmt.Errorf("store: %s: %w", what, err)
	}
	return r, nil
}

// GetRun returns one run with every field, Held included (ErrNotFound).
func (s *Store) GetRun(ctx context.Context, id int64) (Run, error) {
	return s.getRun(ctx, fmt.Sprintf("get run %d", id), `SELECT `+runColsAll+` FROM runs WHERE id = ?`, id)
}

// ListRuns returns a page of a profile's runs, newest first, and the total
// number of its runs. Changes and Held are left nil. limit <= 0 means 50.
func (s *Store) ListRuns(ctx context.Context, profileID int64, limit, offset int) ([]Run, int, error) {
	return s.ListRunsWhere(ctx, profileID, RunFilter{}, limit, offset)
}

// RunFilter narrows a run listing; empty fields match every run.
type RunFilter struct {
	Status  string
	Trigger string
}

// ListRunsWhere is ListRuns for the runs matching f (History's filters).
func (s *Store) ListRunsWhere(ctx context.Context, profileID int64, f RunFilter, limit, offset int) ([]Run, int, error) {
	where, args := `profile_id = ?`, []any{profileID}
	if f.Status != "" {
		where += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Trigger != "" {
		where += ` AND trigger = ?`
		args = append(args, f.Trigger)
	}
	if limit <= 0 {
		limit = 50
	}
	if offset < 0 {
		offset = 0
	}
	var (
		rows  []runRow
		total int
	)
	err := s.read(ctx, "list runs", func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &total, `SELECT count(*) FROM runs WHERE `+where, args...); err != nil {
			return fmt.Errorf("store: count runs of profile %d: %w", profileID, err)
		}
		if err := tx.SelectContext(ctx, &rows,
			`SELECT `+runColsList+` FROM runs WHERE `+where+` ORDER BY id DESC LIMIT ? OFFSET ?`,
			append(args, limit, offset)...); err != nil {
			return fmt.Errorf("store: list runs of profile %d: %w", profileID, err)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	runs := make([]Run, 0, len(rows))
	for _, row := range rows {
		r, err := row.toRun()
		if err != nil {
			return nil, 0, fmt.Errorf("store: list runs of profile %d: %w", profileID, err)
		}
		runs = append(runs, r)
	}
	return runs, total, nil
}

// LastRun returns a profile's newest run, whatever its status (Held left
// nil; ErrNotFound if there is none).
func (s *Store) LastRun(ctx context.Context, profileID int64) (Run, error) {
	return s.getRun(ctx, fmt.Sprintf("last run of profile %d", profileID),
		`SELECT `+runColsNoHeld+` FROM runs WHERE profile_id = ? ORDER BY id DESC LIMIT 1`, profileID)
}

// PreviousPushedRun returns the newest run of the profile that pushed
// (status "success") with an id below beforeID (any id when beforeID <= 0).
// Held is left nil; ErrNotFound if there is none.
func (s *Store) PreviousPushedRun(ctx context.Context, profileID int64, beforeID int64) (Run, error) {
	if beforeID <= 0 {
		beforeID = 1<<63 - 1
	}
	return s.getRun(ctx, fmt.Sprintf("previous pushed run of profile %d", profileID),
		`SELECT `+runColsNoHeld+` FROM runs WHERE profile_id = ? AND status = ? AND id < ? ORDER BY id DESC LIMIT 1`,
		profileID, StatusSuccess, beforeID)
}

// MarkInterruptedRuns marks the profile's "running" runs whose holder is
// gone as "interrupted" (FinishedAt now, Error InterruptedError) and
// returns how many it marked. A run's holder counts as alive when it holds
// the profile's unexpired run lease, or when holderAlive (may be nil)
// reports true for it; so calling this right after AcquireRunLock
// interrupts every leftover run of a dead process. holderAlive is called
// outside any transaction and may be called with "" for runs created
// without a lease.
func (s *Store) MarkInterruptedRuns(ctx context.Context, profileID int64, holderAlive func(holder string) bool) (int, error) {
	type cand struct {
		ID     int64  `db:"id"`
		Holder string `db:"holder"`
	}
	var (
		cands     []cand
		liveLease string
	)
	err := s.read(ctx, "find interrupted runs", func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &cands,
			`SELECT id, holder FROM runs WHERE profile_id = ? AND status = ?`, profileID, StatusRunning); err != nil {
			return fmt.Errorf("store: find running runs of profile %d: %w", profileID, err)
		}
		err := tx.GetContext(ctx, &liveLease,
			`SELECT holder FROM run_locks WHERE profile_id = ? AND expires_at > ?`, profileID, fmtTime(s.now()))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: read run lock of profile %d: %w", profileID, err)
		}
		return nil
	})
	if err != nil || len(cands) == 0 {
		return 0, err
	}
	var dead []int64
	for _, c := range cands {
		if c.Holder != "" && c.Holder == liveLease {
			continue
		}
		if holderAlive != nil && holderAlive(c.Holder) {
			continue
		}
		dead = append(dead, c.ID)
	}
	if len(dead) == 0 {
		return 0, nil
	}
	marked := 0
	now := fmtTime(s.now())
	err = s.write(ctx, "mark interrupted runs", func(tx *sqlx.Tx) error {
		marked = 0
		// A push pending for the dead run itself means it had started
		// sending (the engine records it before the first batch and clears
		// it after the hash is saved). A push left pending by an earlier
		// failed run says nothing about this one.
		var pushRun sql.NullInt64
		if err := tx.GetContext(ctx, &pushRun, `SELECT push_run_id FROM delta_state WHERE profile_id = ? AND push_pending`, profileID); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: read the pending push of profile %d: %w", profileID, err)
		}
		for _, id := range dead {
			msg := InterruptedError
			if pushRun.Valid && pushRun.Int64 == id {
				msg = InterruptedDuringPushError
			}
			res, err := tx.ExecContext(ctx,
				`UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ? AND status = ?`,
				StatusInterrupted, now, msg, id, StatusRunning)
			if err != nil {
				return fmt.Errorf("store: mark run %d interrupted: %w", id, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("store: mark run %d interrupted: %w", id, err)
			}
			marked += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return marked, nil
}
