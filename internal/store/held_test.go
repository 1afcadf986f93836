package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestRunTransitions(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	mk := func(status string) int64 {
		r := &Run{ProfileID: DefaultProfile, Trigger: "cli", Status: status, Warnings: []string{"w"}, Held: []byte(`{"hash":"h"}`)}
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	h1, ok, h2 := mk(StatusHeld), mk(StatusSuccess), mk(StatusHeld)

	latest, err := s.LatestHeldRun(ctx, DefaultProfile)
	if err != nil || latest.ID != h2 || string(latest.Held) != `{"hash":"h"}` {
		t.Fatalf("latest held: %v %d %q", err, latest.ID, latest.Held)
	}
	tests := []struct {
		name     string
		id       int64
		from, to string
		wantErr  error
	}{
		{"held to approved", h2, StatusHeld, StatusApproved, nil},
		{"only once", h2, StatusHeld, StatusApproved, ErrRunStatus},
		{"not held", ok, StatusHeld, StatusDiscarded, ErrRunStatus},
		{"no such run", 999, StatusHeld, StatusDiscarded, ErrNotFound},
	}
	for _, tc := range tests {
		err := s.TransitionRun(ctx, tc.id, tc.from, tc.to, "note "+tc.name)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	r, _ := s.GetRun(ctx, h2)
	if r.Status != StatusApproved || !slices.Equal(r.Warnings, []string{"w", "note held to approved"}) {
		t.Fatalf("approved run: %s %q", r.Status, r.Warnings)
	}
	if r.Held != nil {
		t.Errorf("an approved run keeps its held plan (%d bytes)", len(r.Held))
	}
	n, err := s.DiscardHeldRuns(ctx, DefaultProfile, 0, "superseded")
	if err != nil || n != 1 {
		t.Fatalf("discard held: %d %v", n, err)
	}
	if r, _ := s.GetRun(ctx, h1); r.Status != StatusDiscarded || r.Warnings[len(r.Warnings)-1] != "superseded" || r.Held != nil {
		t.Fatalf("discarded run: %s %q held plan %d bytes", r.Status, r.Warnings, len(r.Held))
	}
	if _, err := s.LatestHeldRun(ctx, DefaultProfile); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no held run left: %v", err)
	}
}

func TestAlertStateRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.GetAlertState(ctx, DefaultProfile); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty: %v", err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, want := range []AlertState{
		{ProfileID: DefaultProfile, State: "failed", RunID: 3, UpdatedAt: at},
		{ProfileID: DefaultProfile, State: "ok", RunID: 4, UpdatedAt: at.Add(time.Hour)},
	} {
		if err := s.SaveAlertState(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAlertState(ctx, DefaultProfile)
		if err != nil || got != want {
			t.Fatalf("got %+v %v, want %+v", got, err, want)
		}
	}
}
