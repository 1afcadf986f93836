package schedule

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/demo"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

type env struct {
	st     *store.Store
	okta   *oktatest.Server
	bw     *bwtest.Server
	engine *dsync.Engine
}

func newEnv(t *testing.T, latency time.Duration, withSettings bool) *env {
	t.Helper()
	e := &env{okta: oktatest.New(oktatest.Options{Latency: latency}), bw: bwtest.New(bwtest.Options{})}
	t.Cleanup(e.okta.Close)
	t.Cleanup(e.bw.Close)
	e.okta.SetOrg(oktatest.Generate(oktatest.Spec{Users: 20, Groups: 2, MembersPerGroup: 5, Seed: 1}))
	st, err := store.Open(context.Background(), t.TempDir()+"/d.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	if withSettings {
		if err := demo.Save(context.Background(), st, store.DefaultProfile, demo.Settings(e.okta, e.bw)); err != nil {
			t.Fatal(err)
		}
	}
	e.engine = dsync.New(st, "test")
	return e
}

func (e *env) worker(t *testing.T, unit time.Duration) *Worker {
	w := New(e.engine, e.st, store.DefaultProfile, nil)
	w.Unit = unit
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Shutdown(ctx)
	})
	return w
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) runs(t *testing.T) []store.Run {
	runs, _, err := e.st.ListRuns(context.Background(), store.DefaultProfile, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func TestScheduleRunsAtIntervalAndStops(t *testing.T) {
	e := newEnv(t, 0, true)
	w := e.worker(t, 10*time.Millisecond) // 5 "minutes" = 50 ms
	ctx := context.Background()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st := w.Status(); st.Enabled || !st.NextRun.IsZero() {
		t.Fatalf("a new worker is enabled: %+v", st)
	}
	if err := w.Enable(ctx); err != nil {
		t.Fatal(err)
	}
	if on, _ := e.st.GetSchedule(ctx, store.DefaultProfile); !on {
		t.Fatal("enabling was not saved")
	}
	waitFor(t, "three scheduled runs", func() bool {
		n := 0
		for _, r := range e.runs(t) {
			if r.Trigger == dsync.TriggerSchedule && r.Status != dsync.StatusRunning {
				n++
			}
		}
		return n >= 3
	})
	if st := w.Status(); !st.Enabled || st.Interval != 50*time.Millisecond {
		t.Errorf("status %+v", st)
	}
	if err := w.Disable(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run in progress to finish", func() bool { return !w.Status().Running })
	before := len(e.runs(t))
	// Several intervals pass with the schedule off: no new run.
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		if n := len(e.runs(t)); n != before {
			t.Fatalf("a run started after Stop (%d → %d)", before, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if on, _ := e.st.GetSchedule(ctx, store.DefaultProfile); on {
		t.Error("disabling was not saved")
	}
}

func TestEnabledStateSurvivesRestart(t *testing.T) {
	e := newEnv(t, 0, true)
	ctx := context.Background()
	if err := e.st.SetSchedule(ctx, store.DefaultProfile, true); err != nil {
		t.Fatal(err)
	}
	w := e.worker(t, time.Hour) // the interval is long: only the catch-up run happens
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The worker places the next run once the finished run is recorded.
	waitFor(t, "the first run after a restart", func() bool {
		runs := e.runs(t)
		return len(runs) == 1 && runs[0].Status == dsync.StatusSuccess && !w.Status().Running
	})
	st := w.Status()
	if !st.Enabled || st.NextRun.Sub(e.runs(t)[0].StartedAt) != 5*time.Hour {
		t.Errorf("status %+v, want next run one interval after the last", st)
	}
	// A settings change takes effect without a restart.
	s, _ := e.st.LoadSettings(ctx, store.DefaultProfile)
	s.Sync.IntervalMinutes = 10
	e.st.SaveSettings(ctx, store.DefaultProfile, s)
	w.Reload(ctx)
	if got := w.Status().Interval; got != 10*time.Hour {
		t.Errorf("interval after reload %v, want 10h", got)
	}
}

func TestEnableNeedsSettings(t *testing.T) {
	e := newEnv(t, 0, false)
	w := e.worker(t, time.Minute)
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Enable(context.Background()); err == nil {
		t.Fatal("enabled without settings")
	}
}

func TestRunNowOneAtATime(t *testing.T) {
	e := newEnv(t, 20*time.Millisecond, true)
	w := e.worker(t, time.Minute)
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.RunNow(dsync.TriggerManual, dsync.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := w.RunNow(dsync.TriggerManual, dsync.Options{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second RunNow: %v, want ErrBusy", err)
	}
	waitFor(t, "the manual run", func() bool {
		runs := e.runs(t)
		return len(runs) == 1 && runs[0].Status == dsync.StatusSuccess && !w.Status().Running
	})
	if r := e.runs(t)[0]; r.Trigger != dsync.TriggerManual {
		t.Errorf("trigger %q", r.Trigger)
	}
	// A run held by another process (the lock in the shared DB) is reported.
	lock, err := e.st.AcquireRunLock(context.Background(), store.DefaultProfile, "other-process", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release(context.Background())
	if err := w.RunNow(dsync.TriggerManual, dsync.Options{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused run", func() bool { return w.Status().LastError != "" })
	if n := len(e.runs(t)); n != 1 {
		t.Errorf("a refused run was recorded: %d runs", n)
	}
}

func TestShutdownWaitsThenCancels(t *testing.T) {
	e := newEnv(t, 200*time.Millisecond, true)
	w := e.worker(t, time.Minute)
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.RunNow(dsync.TriggerManual, dsync.Options{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run to start", func() bool { return len(e.runs(t)) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := w.Shutdown(ctx); err == nil {
		t.Fatal("shutdown did not report the cancelled run")
	}
	r := e.runs(t)[0]
	if r.Status != dsync.StatusFailed || len(e.bw.Imports()) != 0 {
		t.Errorf("cancelled run: status %q, imports %d; want failed, none", r.Status, len(e.bw.Imports()))
	}
	if w.Alive() {
		t.Error("worker alive after shutdown")
	}
	if err := w.RunNow(dsync.TriggerManual, dsync.Options{}); err == nil {
		t.Error("RunNow accepted after shutdown")
	}
}
