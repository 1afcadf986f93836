package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// approvalKeep is how long a finished approval's outcome stays on the
// held run's page.
const approvalKeep = 15 * time.Minute

// approvalJob is one approval running (or finished) in the background:
// POST /history/{id}/approve starts it and answers at once; the held
// run's page follows it and then shows how it ended.
type approvalJob struct {
	user string
	done chan struct{}
	// outcome and ended are set before done is closed.
	outcome approveOutcome
	ended   time.Time
}

// finished reports whether the approval has ended.
func (j *approvalJob) finished() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// approveOutcome is what a background approval ended with.
type approveOutcome struct {
	res *dsync.Result
	err error
}

// approvals tracks this process's approvals by held run. One approval of
// a held run at a time: a second POST while one goes is sent to it (the
// engine's run lock keeps one run of the profile at a time anyway).
type approvals struct {
	// now is the server's clock.
	now  func() time.Time
	mu   sync.Mutex
	jobs map[int64]*approvalJob
	// signal is closed (and replaced) whenever an approval ends, so event
	// streams can tell pages whose approval ended without a run of its
	// own (refused before it started: the lock was taken, not held).
	signal chan struct{}
	// running counts the approvals' goroutines, for shutdown (Wait).
	running sync.WaitGroup
	// stop cancels every approval's context (shutdown past its wait);
	// stopped is closed then.
	stopOnce sync.Once
	stopped  chan struct{}
}

// context returns a context for an approval: it keeps parent's values (the
// request's id and logger) but not its cancellation — the push must not
// stop halfway because the browser went away — and ends only when the
// server stops approvals at shutdown.
func (a *approvals) context(parent context.Context) (context.Context, context.CancelFunc) {
	a.mu.Lock()
	if a.stopped == nil {
		a.stopped = make(chan struct{})
	}
	stopped := a.stopped
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	go func() {
		select {
		case <-stopped:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Wait blocks until every approval has ended. When ctx ends first, it
// cancels them (the engine records each as interrupted, saying whether
// batches may have reached Bitwarden) and waits for that too, up to grace.
func (a *approvals) Wait(ctx context.Context, grace time.Duration) error {
	all := make(chan struct{})
	go func() { a.running.Wait(); close(all) }()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
	}
	a.stopOnce.Do(func() {
		a.mu.Lock()
		if a.stopped == nil {
			a.stopped = make(chan struct{})
		}
		close(a.stopped)
		a.mu.Unlock()
	})
	select {
	case <-all:
		return fmt.Errorf("approvals stopped at shutdown: %w", ctx.Err())
	case <-time.After(grace):
		return fmt.Errorf("approvals still running %s after they were stopped", grace)
	}
}

// start runs approve in the background unless an approval of held is
// already going, which it returns with started false. onEnd runs on the
// job's goroutine once the outcome is known, before the job counts as
// finished.
func (a *approvals) start(held int64, user string, approve func() approveOutcome, onEnd func(*approvalJob)) (*approvalJob, bool) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.jobs == nil {
		a.jobs = map[int64]*approvalJob{}
	}
	for id, j := range a.jobs {
		if j.finished() && now.Sub(j.ended) > approvalKeep {
			delete(a.jobs, id)
		}
	}
	if j := a.jobs[held]; j != nil && !j.finished() {
		return j, false
	}
	j := &approvalJob{user: user, done: make(chan struct{})}
	a.jobs[held] = j
	a.running.Add(1)
	go func() {
		defer a.running.Done()
		// Nobody reads the outcome before done is closed; onEnd (the
		// audit entry) runs first, so whoever sees the approval ended also
		// sees its audit entry.
		j.outcome = approve()
		if onEnd != nil {
			onEnd(j)
		}
		ended := a.now()
		a.mu.Lock()
		j.ended = ended
		close(j.done)
		if a.signal != nil {
			close(a.signal)
			a.signal = nil
		}
		a.mu.Unlock()
	}()
	return j, true
}

// get returns the latest approval of held in this process, or nil.
func (a *approvals) get(held int64) *approvalJob {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.jobs[held]
}

// endedSignal returns a channel closed when the next approval ends.
func (a *approvals) endedSignal() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.signal == nil {
		a.signal = make(chan struct{})
	}
	return a.signal
}

// wait blocks until the approval of held (if any) has ended, or ctx is
// done (tests and shutdown).
func (a *approvals) wait(ctx context.Context, held int64) {
	if j := a.get(held); j != nil {
		select {
		case <-j.done:
		case <-ctx.Done():
		}
	}
}

// approvalView is what the held run's page shows of this process's
// approval of it: running (with the live progress), or how it ended.
// Nil when there is none to show.
func (s *Server) approvalView(ctx context.Context, run store.Run) *web.ApprovalView {
	j := s.approvals.get(run.ID)
	if j == nil || (j.finished() && s.now().Sub(j.ended) > approvalKeep) {
		// An approval of another process (dirsync sync --approve) shows in
		// the store as a running run that names this held run.
		if run.Status == store.StatusHeld {
			if last, err := s.runs.LastRun(ctx, store.DefaultProfile); err == nil && last.Status == store.StatusRunning && s.isApprovalOf(ctx, last.ID, run.ID) {
				return &web.ApprovalView{HeldID: run.ID, Running: true, RunID: last.ID}
			}
		}
		return nil
	}
	if !j.finished() {
		v := &web.ApprovalView{HeldID: run.ID, Running: true, By: j.user}
		if ev, ok := s.engine.Current(); ok && ev.Trigger == dsync.TriggerApproval {
			v.RunID = ev.RunID
		}
		return v
	}
	kind, msg, runID := approvalMessage(run.ID, j.outcome)
	return &web.ApprovalView{HeldID: run.ID, By: j.user, Kind: kind, Message: msg, RunID: runID}
}

// approvalMessage says how an approval of held ended: the flash kind, one
// sentence, and the approval run (0 when none was recorded).
func approvalMessage(held int64, o approveOutcome) (kind, msg string, runID int64) {
	res, err := o.res, o.err
	if err == nil && res == nil {
		err = errors.New("the engine returned no run")
	}
	if res != nil {
		runID = res.Run.ID
	}
	switch {
	case err == nil && res.Run.Status == store.StatusSuccess:
		return web.FlashSuccess, dsync.ApprovalOutcome(held, res), runID
	case err == nil:
		return web.FlashInfo, dsync.ApprovalOutcome(held, res), runID
	case errors.Is(err, dsync.ErrLocked):
		return web.FlashError, fmt.Sprintf("A sync is running right now, so run %d was not approved. Approve it when that sync has ended.", held), runID
	case errors.Is(err, dsync.ErrNotHeld):
		return web.FlashError, fmt.Sprintf("Run %d was not approved: %s.", held, err), runID
	case runID != 0:
		// The approval run was recorded and failed: the held run stays held.
		return web.FlashError, fmt.Sprintf("Approving run %d failed in run %d, so it is still held: %s", held, runID, err), runID
	}
	return web.FlashError, fmt.Sprintf("Run %d was not approved: %s", held, err), runID
}

// approvalGoing reports whether an approval of held goes on, in this
// process or (as the store shows) in another.
func (s *Server) approvalGoing(ctx context.Context, held int64) bool {
	if j := s.approvals.get(held); j != nil && !j.finished() {
		return true
	}
	last, err := s.runs.LastRun(ctx, store.DefaultProfile)
	return err == nil && last.Status == store.StatusRunning && s.isApprovalOf(ctx, last.ID, held)
}

// WaitApprovals blocks until the approvals this console started have
// ended (shutdown calls it before the database closes). Past ctx it stops
// them and waits up to grace for their runs to be recorded as interrupted.
func (s *Server) WaitApprovals(ctx context.Context, grace time.Duration) error {
	return s.approvals.Wait(ctx, grace)
}
