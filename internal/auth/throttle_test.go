package auth

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestThrottlePerUser(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleConfig{Now: c.now})
	for i := range 5 {
		if err := th.Allow("alice", "10.0.0.1"); err != nil {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
		th.Fail("alice", "10.0.0.1")
		c.advance(time.Minute)
	}
	err := th.Allow("alice", "10.0.0.2") // another address does not help
	var te *ThrottledError
	if !errors.As(err, &te) {
		t.Fatalf("6th attempt = %v, want ThrottledError", err)
	}
	// First failure at 12:00, now 12:05 → free at 12:15: 10 minutes.
	if te.RetryAfter != 10*time.Minute || err.Error() != "too many failed attempts; try again in 10 minutes" {
		t.Fatalf("retry after %v, message %q", te.RetryAfter, err)
	}
	if err := th.Allow("bob", "10.0.0.1"); err != nil {
		t.Fatalf("other user refused: %v", err)
	}
	c.advance(10*time.Minute - time.Second)
	if err := th.Allow("alice", "10.0.0.1"); err == nil || err.Error() != "too many failed attempts; try again in 1 minute" {
		t.Fatalf("1 s before the window slides: %v", err)
	}
	c.advance(time.Second)
	if err := th.Allow("alice", "10.0.0.1"); err != nil {
		t.Fatalf("after the oldest failure left the window: %v", err)
	}
	// One more failure brings the count back to 5 → refused again.
	th.Fail("alice", "10.0.0.1")
	if err := th.Allow("alice", "10.0.0.1"); err == nil {
		t.Fatal("5 failures in the window but allowed")
	}
}

func TestThrottlePerAddrAndSucceed(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleConfig{Now: c.now, PerUser: 3, PerAddr: 6, Window: time.Hour})
	th.Fail("alice", "a")
	th.Fail("alice", "a")
	th.Succeed("alice")
	th.Fail("alice", "a")
	th.Fail("alice", "a")
	if err := th.Allow("alice", "b"); err != nil {
		t.Fatalf("Succeed did not reset the user's count: %v", err)
	}
	for i := range 2 {
		th.Fail(fmt.Sprintf("u%d", i), "a")
	}
	// Address a now has 6 failures in the window.
	if err := th.Allow("carol", "a"); err == nil {
		t.Fatal("address over its limit but allowed")
	}
	if err := th.Allow("carol", "b"); err != nil {
		t.Fatalf("other address refused: %v", err)
	}
}

func TestThrottleBoundedMemory(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	th := NewThrottle(ThrottleConfig{Now: c.now, MaxKeys: 10})
	for i := range 100 {
		th.Fail(fmt.Sprintf("u%d", i), fmt.Sprintf("a%d", i))
		c.advance(time.Second)
	}
	if len(th.users) > 10 || len(th.addrs) > 10 {
		t.Fatalf("maps grew to %d/%d keys", len(th.users), len(th.addrs))
	}
	if _, ok := th.users["u99"]; !ok {
		t.Fatal("the newest key was evicted")
	}
}
