package ldap

import (
	"context"
	"testing"

	"github.com/dirsync/dirsync/internal/directory"
)

// TestObserverSeesEverySearch: the engine's metrics see each search a read
// makes (one per page), by part of the read, with the LDAP result code;
// a refused bind's failed search is not invented.
func TestObserverSeesEverySearch(t *testing.T) {
	s := sharedSlapd(t)
	sett := &Settings{Config: s.config()}
	var events []directory.RequestEvent
	src, err := sett.Open(directory.Env{Observer: func(ev directory.RequestEvent) { events = append(events, ev) }})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := src.Read(context.Background(), directory.ReadOptions{Users: true, Groups: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != snap.Stats.Requests || len(events) < 5 {
		t.Fatalf("%d events for %d searches (want one per search, ≥ 5 paged)", len(events), snap.Stats.Requests)
	}
	buckets := map[string]int{}
	for _, ev := range events {
		if ev.Kind != KindName || ev.Method != "search" || ev.Status != 0 || ev.RateLimitRemaining != -1 {
			t.Errorf("event %+v", ev)
		}
		buckets[ev.Bucket]++
	}
	if buckets["users"] < 4 || buckets["groups"] < 1 {
		t.Errorf("searches by part %v, want ≥ 4 user pages and ≥ 1 group page", buckets)
	}
}

// TestObserverNoSearchAfterRefusedBind: a read whose bind is refused made
// no search, and the observer is told of none.
func TestObserverNoSearchAfterRefusedBind(t *testing.T) {
	s := sharedSlapd(t)
	cfg := s.config()
	cfg.Password = "wrong"
	var events []directory.RequestEvent
	src, err := (&Settings{Config: cfg}).Open(directory.Env{Observer: func(ev directory.RequestEvent) { events = append(events, ev) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Read(context.Background(), directory.ReadOptions{Users: true, Groups: true}); err == nil {
		t.Fatal("a read with a wrong password succeeded")
	}
	if len(events) != 0 {
		t.Errorf("%d search events after a refused bind: %+v", len(events), events)
	}
}
