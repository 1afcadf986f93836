package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// twoProcesses opens two stores on one file sharing a controllable clock.
func twoProcesses(t *testing.T) (a, b *Store, clock *fakeClock) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "l.db")
	key := writeKey(t, dir, "k", randKey(t), "raw")
	a, b = openAt(t, path, key), openAt(t, path, key)
	clock = &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	a.now, b.now = clock.now, clock.now
	return a, b, clock
}

func TestRunLockAcrossProcesses(t *testing.T) {
	a, b, _ := twoProcesses(t)
	ctx := context.Background()
	la, err := a.AcquireRunLock(ctx, DefaultProfile, "proc-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		s      *Store
		holder string
	}{{"other process", b, "proc-b"}, {"same process, same holder", a, "proc-a"}} {
		if _, err := tc.s.AcquireRunLock(ctx, DefaultProfile, tc.holder, time.Hour); !errors.Is(err, ErrLocked) {
			t.Errorf("%s: second acquire err = %v, want ErrLocked", tc.name, err)
		} else if !strings.Contains(err.Error(), "a sync is already running") {
			t.Errorf("%s: error %q", tc.name, err)
		}
	}
	// Another profile is independent.
	l2, err := b.AcquireRunLock(ctx, 2, "proc-b", time.Hour)
	if err != nil {
		t.Fatalf("profile 2: %v", err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := la.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	lb, err := b.AcquireRunLock(ctx, DefaultProfile, "proc-b", time.Hour)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	// The released lock cannot refresh a lease it no longer holds.
	if err := la.Refresh(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("refresh after release: %v, want ErrLockLost", err)
	}
	if err := lb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l2.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRunLockExpiredLeaseTakenOver(t *testing.T) {
	a, b, clock := twoProcesses(t)
	ctx := context.Background()
	la, err := a.AcquireRunLock(ctx, DefaultProfile, "proc-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer la.Release(ctx)
	clock.add(59 * time.Second)
	if _, err := b.AcquireRunLock(ctx, DefaultProfile, "proc-b", time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("before expiry: %v, want ErrLocked", err)
	}
	// Refresh extends the lease from now.
	if err := la.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	clock.add(59 * time.Second)
	if _, err := b.AcquireRunLock(ctx, DefaultProfile, "proc-b", time.Minute); !errors.Is(err, ErrLocked) {
		t.Fatalf("after refresh: %v, want ErrLocked", err)
	}
	clock.add(2 * time.Second)
	lb, err := b.AcquireRunLock(ctx, DefaultProfile, "proc-b", time.Minute)
	if err != nil {
		t.Fatalf("expired lease not taken over: %v", err)
	}
	defer lb.Release(ctx)
	if err := la.Refresh(ctx); !errors.Is(err, ErrLockLost) {
		t.Errorf("old holder refresh = %v, want ErrLockLost", err)
	}
	select {
	case <-la.Lost():
	default:
		t.Errorf("Lost not closed after the lease was taken over")
	}
	// Releasing the old lock must not free the new holder's lease.
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AcquireRunLock(ctx, DefaultProfile, "proc-a", time.Minute); !errors.Is(err, ErrLocked) {
		t.Errorf("old holder's Release freed the new lease: %v", err)
	}
}

func TestRunLockRefreshesItself(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	l, err := s.AcquireRunLock(ctx, DefaultProfile, "p", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	var first string
	if err := s.r.Get(&first, `SELECT expires_at FROM run_locks WHERE profile_id = 1`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var cur string
		if err := s.r.Get(&cur, `SELECT expires_at FROM run_locks WHERE profile_id = 1`); err != nil {
			t.Fatal(err)
		}
		if cur > first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease was not refreshed in the background")
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

func TestRunLockReleaseWithCancelledContext(t *testing.T) {
	s := newStore(t)
	l, err := s.AcquireRunLock(context.Background(), DefaultProfile, "p", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Release(ctx); err != nil {
		t.Fatalf("Release with a cancelled context: %v", err)
	}
	l2, err := s.AcquireRunLock(context.Background(), DefaultProfile, "p", time.Hour)
	if err != nil {
		t.Fatalf("lock still held after Release: %v", err)
	}
	l2.Release(context.Background())
	if _, err := s.AcquireRunLock(context.Background(), DefaultProfile, "", time.Hour); err == nil {
		t.Errorf("empty holder accepted")
	}
}

func TestMarkInterruptedRuns(t *testing.T) {
	a, b, clock := twoProcesses(t)
	ctx := context.Background()

	// Process A crashed during a run: its run is "running" and its lease stays
	// until it expires.
	la, err := a.AcquireRunLock(ctx, DefaultProfile, "proc-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	crashed := Run{ProfileID: DefaultProfile, Trigger: "schedule"}
	if err := a.CreateRun(ctx, &crashed); err != nil {
		t.Fatal(err)
	}
	if crashed.Holder != "proc-a" {
		t.Fatalf("CreateRun holder = %q, want the lease holder", crashed.Holder)
	}
	la.stopOnce.Do(func() { close(la.stop) }) // the "crash": no more refreshes
	<-la.done
	// A test run without a lease, still alive in process B.
	test := Run{ProfileID: DefaultProfile, Trigger: "test", Holder: "proc-b/test"}
	if err := b.CreateRun(ctx, &test); err != nil {
		t.Fatal(err)
	}
	done := Run{ProfileID: DefaultProfile, Trigger: "manual", Status: StatusSuccess}
	if err := b.CreateRun(ctx, &done); err != nil {
		t.Fatal(err)
	}
	bAlive := func(h string) bool { return h == "proc-b/test" }

	// While A's lease is live, its run counts as alive.
	if n, err := b.MarkInterruptedRuns(ctx, DefaultProfile, bAlive); err != nil || n != 0 {
		t.Errorf("with a live lease: marked %d, %v; want 0", n, err)
	}
	clock.add(2 * time.Minute)
	lb, err := b.AcquireRunLock(ctx, DefaultProfile, "proc-b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Release(ctx)
	n, err := b.MarkInterruptedRuns(ctx, DefaultProfile, bAlive)
	if err != nil || n != 1 {
		t.Fatalf("marked %d, %v; want 1", n, err)
	}
	got, _ := b.GetRun(ctx, crashed.ID)
	if got.Status != StatusInterrupted || got.Error != InterruptedError || got.FinishedAt == nil {
		t.Errorf("crashed run = %+v", got)
	}
	for _, id := range []int64{test.ID, done.ID} {
		if r, _ := b.GetRun(ctx, id); r.Status == StatusInterrupted {
			t.Errorf("run %d (%s) wrongly interrupted", id, r.Trigger)
		}
	}
	// nil holderAlive: only lease holders are alive.
	if n, err := b.MarkInterruptedRuns(ctx, DefaultProfile, nil); err != nil || n != 1 {
		t.Errorf("nil holderAlive: marked %d, %v; want 1 (the lease-less test run)", n, err)
	}
	if n, err := b.MarkInterruptedRuns(ctx, DefaultProfile, nil); err != nil || n != 0 {
		t.Errorf("second call: marked %d, %v; want 0", n, err)
	}
}
