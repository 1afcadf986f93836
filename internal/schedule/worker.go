// Package schedule runs scheduled syncs in the background and starts
// on-demand ones, one at a time per profile.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	gosync "sync"
	"time"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// Runner runs one sync (the engine).
type Runner interface {
	Run(ctx context.Context, profileID int64, opts dsync.Options) (*dsync.Result, error)
}

// Store is what the worker keeps: whether the schedule is on, the interval
// (from the settings) and the last run (to place the next one).
type Store interface {
	GetSchedule(ctx context.Context, profileID int64) (bool, error)
	SetSchedule(ctx context.Context, profileID int64, enabled bool) error
	LoadSettings(ctx context.Context, profileID int64) (config.Settings, error)
	LastRun(ctx context.Context, profileID int64) (store.Run, error)
}

// ErrBusy means a run started by this worker is still going on.
var ErrBusy = errors.New("a sync is already running")

// Status is the worker's state for the dashboard.
type Status struct {
	Enabled  bool
	Interval time.Duration
	// NextRun is zero when the schedule is off or no settings are saved.
	NextRun time.Time
	// Running is true while a run started by this worker is going on.
	Running bool
	// LastError is the last failure to start a run (not a run's failure).
	LastError string
}

// Worker runs the schedule of one profile.
type Worker struct {
	runner    Runner
	store     Store
	profileID int64
	log       *slog.Logger
	now       func() time.Time
	// Unit is what one "minute" of sync.intervalMinutes lasts; tests and
	// the browser tests shorten it. Default time.Minute.
	Unit time.Duration

	mu        gosync.Mutex
	enabled   bool
	interval  time.Duration
	next      time.Time
	running   bool
	lastError string
	wake      chan struct{}
	runs      gosync.WaitGroup
	runCancel context.CancelFunc
	beat      time.Time
	started   bool
	stopped   chan struct{}
	cancel    context.CancelFunc
}

// New returns a worker; call Start to run it.
func New(r Runner, st Store, profileID int64, log *slog.Logger) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{runner: r, store: st, profileID: profileID, log: log, now: time.Now, Unit: time.Minute, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// SetClock replaces the clock (tests).
func (w *Worker) SetClock(now func() time.Time) { w.now = now }

// Start loads the saved state and runs the loop until Shutdown.
func (w *Worker) Start(ctx context.Context) error {
	enabled, err := w.store.GetSchedule(ctx, w.profileID)
	if err != nil {
		return fmt.Errorf("schedule: load state: %w", err)
	}
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("schedule: already started")
	}
	w.started = true
	w.enabled = enabled
	w.beat = w.now()
	w.mu.Unlock()
	w.Reload(ctx)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.cancel = cancel
	go w.loop(loopCtx)
	return nil
}

// Reload re-reads the interval from the settings and places the next run
// after the last one; call it when settings change.
func (w *Worker) Reload(ctx context.Context) {
	interval, last := w.load(ctx)
	w.mu.Lock()
	w.placeLocked(interval, last)
	w.mu.Unlock()
	w.poke()
}

// load reads the interval and the start of the last run.
func (w *Worker) load(ctx context.Context) (interval time.Duration, last time.Time) {
	if s, err := w.store.LoadSettings(ctx, w.profileID); err == nil {
		interval = time.Duration(s.Sync.IntervalMinutes) * w.Unit
	}
	if r, err := w.store.LastRun(ctx, w.profileID); err == nil {
		last = r.StartedAt
	}
	return interval, last
}

// placeLocked sets the interval and the next run; w.mu must be held.
func (w *Worker) placeLocked(interval time.Duration, last time.Time) {
	w.interval = interval
	w.next = time.Time{}
	if w.enabled && interval > 0 {
		if last.IsZero() {
			w.next = w.now()
		} else {
			w.next = last.Add(interval)
		}
	}
}

// Enable turns the schedule on (saved, so it survives restarts); the first
// run starts at once when none ran within the interval.
func (w *Worker) Enable(ctx context.Context) error {
	if _, err := w.store.LoadSettings(ctx, w.profileID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errors.New("save the settings before starting automatic sync")
		}
		return err
	}
	if err := w.store.SetSchedule(ctx, w.profileID, true); err != nil {
		return err
	}
	w.mu.Lock()
	w.enabled = true
	w.mu.Unlock()
	w.Reload(ctx)
	return nil
}

// Disable turns the schedule off. A run in progress finishes.
func (w *Worker) Disable(ctx context.Context) error {
	if err := w.store.SetSchedule(ctx, w.profileID, false); err != nil {
		return err
	}
	w.mu.Lock()
	w.enabled = false
	w.next = time.Time{}
	w.mu.Unlock()
	w.poke()
	return nil
}

// Status returns the worker's state.
func (w *Worker) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Status{Enabled: w.enabled, Interval: w.interval, NextRun: w.next, Running: w.running, LastError: w.lastError}
}

// Alive reports whether the loop has ticked recently (for /readyz).
func (w *Worker) Alive() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.stopped:
		return false
	default:
	}
	return w.started && w.now().Sub(w.beat) < 2*time.Minute
}

// RunNow starts a run in the background and returns at once. It returns
// ErrBusy when this worker already runs one; another process's run is
// refused by the engine's lock and recorded in the worker's LastError.
func (w *Worker) RunNow(trigger string, opts dsync.Options) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return ErrBusy
	}
	select {
	case <-w.stopped:
		w.mu.Unlock()
		return errors.New("the worker is shutting down")
	default:
	}
	w.running = true
	ctx, cancel := context.WithCancel(context.Background())
	w.runCancel = cancel
	w.runs.Add(1)
	w.mu.Unlock()
	opts.Trigger = trigger
	go func() {
		defer w.runs.Done()
		defer cancel()
		_, err := w.runner.Run(ctx, w.profileID, opts)
		interval, last := w.load(context.Background())
		// The run ends and the next one is placed in one step, so the
		// status never shows a finished run with a stale next run.
		w.mu.Lock()
		w.running = false
		w.runCancel = nil
		w.lastError = ""
		if errors.Is(err, dsync.ErrLocked) {
			w.lastError = "a sync started elsewhere (another process sharing the database) was already running"
		}
		w.placeLocked(interval, last)
		w.mu.Unlock()
		w.poke()
	}()
	return nil
}

func (w *Worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Worker) loop(ctx context.Context) {
	defer close(w.stopped)
	heartbeat := time.NewTicker(30 * time.Second)
	defer heartbeat.Stop()
	for {
		w.mu.Lock()
		w.beat = w.now()
		next, enabled, running := w.next, w.enabled, w.running
		w.mu.Unlock()
		var timer <-chan time.Time
		var t *time.Timer
		if enabled && !next.IsZero() && !running {
			d := next.Sub(w.now())
			if d <= 0 {
				if err := w.RunNow(dsync.TriggerSchedule, dsync.Options{Mode: dsync.ModeSync}); err != nil && !errors.Is(err, ErrBusy) {
					w.log.Warn("scheduled sync not started", "error", err)
				}
				w.mu.Lock()
				if w.next.Equal(next) {
					w.next = w.now().Add(w.interval)
				}
				w.mu.Unlock()
				continue
			}
			t = time.NewTimer(d)
			timer = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer:
		case <-heartbeat.C:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// Shutdown stops the loop and waits up to the context's deadline for a
// running sync; past it the run is cancelled (it then fails and pushes
// nothing more).
func (w *Worker) Shutdown(ctx context.Context) error {
	if w.cancel != nil {
		w.cancel()
		<-w.stopped
	}
	done := make(chan struct{})
	go func() { w.runs.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		w.mu.Lock()
		if w.runCancel != nil {
			w.runCancel()
		}
		w.mu.Unlock()
		<-done
		return fmt.Errorf("schedule: the running sync was cancelled at shutdown: %w", ctx.Err())
	}
}
