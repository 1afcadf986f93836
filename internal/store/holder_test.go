package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestRunLockOfADeadProcessIsTakenOver: a lease whose holder is a process
// on this host that no longer exists (a killed sync) is taken over at
// once, while a live one's lease holds.
func TestRunLockOfADeadProcessIsTakenOver(t *testing.T) {
	a, b, _ := twoProcesses(t)
	ctx := context.Background()
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skip("no host name")
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skip("cannot start a child process:", err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	holder := fmt.Sprintf("%s:%d:abcd", host, child.Process.Pid)
	if _, err := a.AcquireRunLock(ctx, DefaultProfile, holder, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AcquireRunLock(ctx, DefaultProfile, "other:1:x", time.Hour); !errors.Is(err, ErrLocked) {
		t.Fatalf("a live holder's lock was taken: %v", err)
	}
	if err := b.ClearCache(ctx, DefaultProfile); !errors.Is(err, ErrLocked) {
		t.Fatalf("cache clear while a sync runs: %v, want ErrLocked", err)
	}
	// The holder dies (kill -9: no release).
	_ = child.Process.Kill()
	_ = child.Wait()
	l, err := b.AcquireRunLock(ctx, DefaultProfile, "other:1:x", time.Hour)
	if err != nil {
		t.Fatalf("the dead holder's lock was not taken over: %v", err)
	}
	if err := a.ClearCache(ctx, DefaultProfile); !errors.Is(err, ErrLocked) {
		t.Fatalf("cache clear while the new holder runs: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.ClearCache(ctx, DefaultProfile); err != nil {
		t.Fatalf("cache clear with no sync running: %v", err)
	}
	// A holder on another host is never judged by our process table.
	if holderDead("elsewhere:1:x") || holderDead(fmt.Sprintf("%s:%d:x", host, os.Getpid())) || holderDead("garbage") {
		t.Fatal("holderDead judged a holder it cannot know about")
	}
}

// TestInterruptedDuringPushSaysSo: a run that died while its push was
// pending is marked with a message saying batches may have been applied.
func TestInterruptedDuringPushSaysSo(t *testing.T) {
	a, b, clock := twoProcesses(t)
	ctx := context.Background()
	for _, pending := range []bool{false, true} {
		la, err := a.AcquireRunLock(ctx, DefaultProfile, "proc-a", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		r := Run{ProfileID: DefaultProfile, Trigger: "manual"}
		if err := a.CreateRun(ctx, &r); err != nil {
			t.Fatal(err)
		}
		if err := a.SetPushPending(ctx, DefaultProfile, r.ID, pending); err != nil {
			t.Fatal(err)
		}
		// Process A dies holding it (its refresher is stopped at the end).
		t.Cleanup(func() { _ = la.Release(context.Background()) })
		clock.add(2 * time.Minute)
		lb, err := b.AcquireRunLock(ctx, DefaultProfile, "proc-b", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := b.MarkInterruptedRuns(ctx, DefaultProfile, nil); err != nil || n != 1 {
			t.Fatalf("marked %d, %v", n, err)
		}
		got, _ := b.GetRun(ctx, r.ID)
		want := InterruptedError
		if pending {
			want = InterruptedDuringPushError
		}
		if got.Error != want {
			t.Errorf("pending %v: error %q", pending, got.Error)
		}
		if err := lb.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInterruptedAfterAnEarlierFailedPush: a push that failed leaves the
// push pending (the next push is a full one), but a later run killed
// while reading sent nothing, and is not said to have died while sending.
func TestInterruptedAfterAnEarlierFailedPush(t *testing.T) {
	a, b, clock := twoProcesses(t)
	ctx := context.Background()
	failed := Run{ProfileID: DefaultProfile, Trigger: "manual"}
	if err := a.CreateRun(ctx, &failed); err != nil {
		t.Fatal(err)
	}
	if err := a.SetPushPending(ctx, DefaultProfile, failed.ID, true); err != nil {
		t.Fatal(err)
	}
	failed.Status, failed.Error = StatusFailed, "bitwarden: 500"
	if err := a.FinishRun(ctx, &failed); err != nil {
		t.Fatal(err)
	}
	la, err := a.AcquireRunLock(ctx, DefaultProfile, "proc-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = la.Release(context.Background()) })
	r := Run{ProfileID: DefaultProfile, Trigger: "manual"}
	if err := a.CreateRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	clock.add(2 * time.Minute) // process A dies while reading
	lb, err := b.AcquireRunLock(ctx, DefaultProfile, "proc-b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Release(ctx)
	if n, err := b.MarkInterruptedRuns(ctx, DefaultProfile, nil); err != nil || n != 1 {
		t.Fatalf("marked %d, %v", n, err)
	}
	if got, _ := b.GetRun(ctx, r.ID); got.Error != InterruptedError {
		t.Errorf("error %q, want %q", got.Error, InterruptedError)
	}
	st, err := b.GetDeltaState(ctx, DefaultProfile)
	if err != nil || !st.PushPending {
		t.Errorf("the failed push's pending flag: %+v %v, want still set", st, err)
	}
}
