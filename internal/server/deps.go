package server

import (
	"context"

	"github.com/dirsync/dirsync/internal/schedule"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// Engine is the sync engine as the console uses it.
type Engine interface {
	Run(ctx context.Context, profileID int64, opts dsync.Options) (*dsync.Result, error)
	ClearCache(ctx context.Context, profileID int64) error
	Subscribe() (<-chan dsync.Event, func())
	Current() (dsync.Event, bool)
	// Approve pushes a held run (or holds the re-planned run again) and
	// returns the new run; Discard drops a held run. Both refuse with
	// dsync.ErrNotHeld or dsync.ErrLocked.
	Approve(ctx context.Context, profileID, runID int64, actor string) (*dsync.Result, error)
	Discard(ctx context.Context, profileID, runID int64, actor string) error
}

// Worker is the background scheduler as the console uses it.
type Worker interface {
	Status() schedule.Status
	Enable(ctx context.Context) error
	Disable(ctx context.Context) error
	RunNow(trigger string, opts dsync.Options) error
	Reload(ctx context.Context)
	Alive() bool
}

// RunStore reads the history and the sync state.
type RunStore interface {
	ListRuns(ctx context.Context, profileID int64, limit, offset int) ([]store.Run, int, error)
	ListRunsWhere(ctx context.Context, profileID int64, f store.RunFilter, limit, offset int) ([]store.Run, int, error)
	GetRun(ctx context.Context, id int64) (store.Run, error)
	LastRun(ctx context.Context, profileID int64) (store.Run, error)
	GetSyncState(ctx context.Context, profileID int64) (store.SyncState, error)
	ListAudit(ctx context.Context, limit, offset int) ([]store.AuditEntry, int, error)
	Ping(ctx context.Context) error
	MigrationsCurrent(ctx context.Context) (bool, error)
}
