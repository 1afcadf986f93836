package okta

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
)

// TestDeltaRead: a delta read sends one lastUpdated filter (milliseconds,
// as Okta takes it) and returns the users changed since, DEPROVISIONED
// ones too, with the latest lastUpdated; with a native filter it also
// reports the changed users that left the filter's result.
func TestDeltaRead(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); defer mu.Unlock(); now = t }
	s := newFake(t, oktatest.Options{Now: clock}, oktatest.Generate(oktatest.Spec{Users: 40, Groups: 3, MembersPerGroup: 5, Seed: 2}))
	c := newClient(t, s.URL, nil)
	users := s.Org().Users
	since := now.Add(-time.Second)
	set(now.Add(1500 * time.Microsecond)) // sub-millisecond part: the filter must keep only milliseconds
	if err := s.SetUserStatus(users[0].ID, oktatest.StatusDeprovisioned); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserEmail(users[1].ID, "b@example.com"); err != nil {
		t.Fatal(err)
	}
	s.ResetCounters()
	mark := len(s.Log())
	snap, err := c.Read(context.Background(), directory.ReadOptions{Users: true, UsersChangedSince: since})
	if err != nil {
		t.Fatal(err)
	}
	log := s.Log()[mark:]
	if len(log) != 1 || !strings.Contains(log[0], "filter=lastUpdated%20gt%20%222026-03-01T07%3A59%3A59.000Z%22") {
		t.Fatalf("requests %v, want one lastUpdated filter", log)
	}
	if !snap.UsersDelta || len(snap.Users) != 2 || !snap.Users[0].Deleted && !snap.Users[1].Deleted {
		t.Fatalf("delta users %+v, want the two changed ones, one deprovisioned", snap.Users)
	}
	if want := clock().Truncate(time.Millisecond); !snap.UsersLastUpdated.Equal(want) {
		t.Fatalf("UsersLastUpdated %v, want %v", snap.UsersLastUpdated, want)
	}

	// With a native filter: the suspended user has left `status eq "ACTIVE"`.
	set(now.Add(time.Minute))
	since = clock().Add(-time.Second)
	set(now.Add(time.Millisecond))
	if err := s.SetUserStatus(users[2].ID, oktatest.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserEmail(users[3].ID, "d@example.com"); err != nil {
		t.Fatal(err)
	}
	f, err := directory.ParseFilter(`|status eq "ACTIVE"`)
	if err != nil {
		t.Fatal(err)
	}
	snap, err = c.Read(context.Background(), directory.ReadOptions{Users: true, UserFilter: f, UsersChangedSince: since})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Users) != 1 || snap.Users[0].ID != users[3].ID {
		t.Fatalf("delta users %+v, want only %s", snap.Users, users[3].ID)
	}
	if !slices.Equal(snap.UsersLeft, []string{users[2].ID}) {
		t.Fatalf("UsersLeft %v, want [%s]", snap.UsersLeft, users[2].ID)
	}
}
