package okta

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
)

// Reads that prove they are whole (issue 8): stats checks, empty pages,
// cursor loops, and rate limits that must not stretch a read.

func TestEmptyPageWithNextLinkIsFollowed(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 450, Deprovisioned: 5, Groups: 3, MembersPerGroup: 1200, Seed: 4})
	srv := newFake(t, oktatest.Options{}, org)
	srv.SetFaults(oktatest.Faults{EmptyFirstPage: true})
	snap, err := newClient(t, srv.URL, nil).Read(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	diffSnapshots(t, snap, expected(srv.Org()))
	if len(snap.Shortfalls) != 0 {
		t.Fatalf("shortfalls %+v", snap.Shortfalls)
	}
}

func TestEndlessCursorFailsAsLoop(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 30, Groups: 2, MembersPerGroup: 5, Seed: 5})
	for _, tc := range []struct {
		name  string
		path  func(*oktatest.Org) string
		empty bool
	}{
		{"users repeat their first page", func(*oktatest.Org) string { return "/api/v1/users" }, false},
		{"users send empty pages forever", func(*oktatest.Org) string { return "/api/v1/users" }, true},
		{"groups repeat", func(*oktatest.Org) string { return "/api/v1/groups" }, false},
		{"members repeat", func(o *oktatest.Org) string { return "/api/v1/groups/" + o.Groups[1].ID + "/users" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, oktatest.Options{}, org)
			srv.SetFaults(oktatest.Faults{EndlessPath: tc.path(org), EndlessEmpty: tc.empty})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			snap, err := newClient(t, srv.URL, nil).Read(ctx, all)
			if !errors.Is(err, ErrPageLoop) || snap != nil {
				t.Fatalf("Read = %v, %v; want a cursor loop error", snap, err)
			}
			if srv.Requests() > 40 {
				t.Fatalf("%d requests before the loop was noticed", srv.Requests())
			}
		})
	}
}

func TestShortMemberList(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 60, Groups: 4, MembersPerGroup: 12, Seed: 6})
	g := org.Groups[2]
	for _, tc := range []struct {
		name        string
		opts        oktatest.Options
		faults      oktatest.Faults
		wantShort   bool
		wantWarn    bool
		wantReads   int // member reads of g
		wantMembers int
	}{
		{"cut once, whole on the re-read", oktatest.Options{}, oktatest.Faults{CutMembers: map[string]int{g.ID: 1}, CutMembersTo: 3}, false, false, 2, 12},
		{"cut every time: a shortfall", oktatest.Options{}, oktatest.Faults{CutMembers: map[string]int{g.ID: -1}, CutMembersTo: 3}, true, false, 2, 3},
		{"count lags behind: a surplus warns", oktatest.Options{}, oktatest.Faults{StatsDelta: map[string]int{g.ID: -2}}, false, true, 1, 12},
		{"no stats: nothing to check", oktatest.Options{NoStats: true}, oktatest.Faults{CutMembers: map[string]int{g.ID: -1}, CutMembersTo: 3}, false, false, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, tc.opts, org)
			srv.SetFaults(tc.faults)
			snap, err := newClient(t, srv.URL, nil).Read(context.Background(), directory.ReadOptions{Groups: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := countLog(srv.Log(), g.ID+"/users"); got != tc.wantReads {
				t.Fatalf("%d member reads of the group, want %d", got, tc.wantReads)
			}
			if n := len(snap.Groups[2].MemberIDs); n != tc.wantMembers {
				t.Fatalf("%d members, want %d", n, tc.wantMembers)
			}
			if got := len(snap.Shortfalls) > 0; got != tc.wantShort {
				t.Fatalf("shortfalls %+v, want some: %v", snap.Shortfalls, tc.wantShort)
			}
			if tc.wantShort {
				s := snap.Shortfalls[0]
				if s.GroupID != g.ID || s.Name != g.Name || s.Read != 3 || s.Reported != 12 {
					t.Fatalf("shortfall %+v", s)
				}
			}
			if got := len(snap.Warnings) > 0; got != tc.wantWarn {
				t.Fatalf("warnings %q, want some: %v", snap.Warnings, tc.wantWarn)
			}
			if !strings.Contains(srv.Log()[0], "expand=stats") && !strings.Contains(strings.Join(srv.Log(), "\n"), "/api/v1/groups?limit=10000&expand=stats") {
				t.Fatalf("the group list did not ask for stats: %q", srv.Log())
			}
		})
	}
}

func TestCachedListThatDisagreesWithTheCountIsRead(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 40, Groups: 5, MembersPerGroup: 6, Seed: 7})
	srv := newFake(t, oktatest.Options{}, org)
	c := newClient(t, srv.URL, nil)
	first, err := c.Read(context.Background(), directory.ReadOptions{Groups: true})
	if err != nil {
		t.Fatal(err)
	}
	cache := mapCache{}
	for _, g := range first.Groups {
		cache[g.ID] = g
	}
	// A short list got into the cache (as before issue 8's fix).
	bad := cache[org.Groups[1].ID]
	bad.MemberIDs = bad.MemberIDs[:2]
	cache[bad.ID] = bad
	srv.ResetCounters()
	second, err := c.Read(context.Background(), directory.ReadOptions{Groups: true, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	diffSnapshots(t, second, expected(&oktatest.Org{Groups: srv.Org().Groups}))
	if second.Stats.MemberReads != 1 || second.Stats.CachedGroups != 4 {
		t.Fatalf("stats %+v", second.Stats)
	}
}

// TestMemberReadsCountInTheGroupsBucket: Okta limits /api/v1/groups and
// the member lists below it as one bucket; a client that paced them apart
// would overrun the shared budget.
func TestMemberReadsCountInTheGroupsBucket(t *testing.T) {
	clock := alignedClock(time.Second)
	org := oktatest.Generate(oktatest.Spec{Users: 20, Groups: 3, MembersPerGroup: 3, Seed: 8})
	srv := newFake(t, oktatest.Options{RateLimit: 4, Window: time.Second, Now: clock}, org)
	// Another Okta client spent most of the groups budget: the group list
	// takes the last request of this window. A client that took member
	// reads for a bucket of their own would probe into a 429.
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/groups", nil)
		req.Header.Set("Authorization", "SSWS "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := newClient(t, srv.URL, nil).Read(ctx, directory.ReadOptions{Groups: true})
	if err != nil {
		t.Fatal(err)
	}
	diffSnapshots(t, snap, expected(&oktatest.Org{Groups: srv.Org().Groups}))
	if srv.Throttled() != 0 || srv.RateLimitViolations() != 0 {
		t.Fatalf("%d 429s: member reads were not paced in the groups bucket", srv.Throttled())
	}
	if snap.Stats.RateLimitWaits == 0 {
		t.Fatalf("no pause: %+v", snap.Stats)
	}
}

// TestOwnResetOf429Decides: a 429 with a one-second reset among answers
// announcing a one-minute window costs about a second, not the window.
func TestOwnResetOf429Decides(t *testing.T) {
	clock := alignedClock(time.Minute)
	org := oktatest.Generate(oktatest.Spec{Users: 1000, Groups: 10, MembersPerGroup: 5, Seed: 9})
	srv := newFake(t, oktatest.Options{Now: clock}, org)
	srv.SetFaults(oktatest.Faults{Throttle429Every: 8, Throttle429Reset: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	start := time.Now()
	snap, err := newClient(t, srv.URL, nil).Read(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	diffSnapshots(t, snap, expected(srv.Org()))
	n := srv.Throttled()
	if n == 0 {
		t.Fatal("no 429 was sent")
	}
	// Each 429 costs at most its reset (up to 2s once rounded to whole
	// seconds) plus jitter; waiting for the window would cost ~60s.
	if limit := time.Duration(n)*2300*time.Millisecond + 2*time.Second; el > limit {
		t.Fatalf("%d 429s took %s (limit %s): waited for the window instead of the 429's reset", n, el, limit)
	}
}

// TestFarFutureResetIsNotBelieved: a reset a year ahead bounds the wait
// by the cap and then probes.
func TestFarFutureResetIsNotBelieved(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 300, Groups: 3, MembersPerGroup: 5, Seed: 10})
	for _, tc := range []struct {
		name   string
		faults oktatest.Faults
	}{
		{"429 with a reset a year ahead", oktatest.Faults{Throttle429Every: 4, Throttle429Reset: 365 * 24 * time.Hour}},
		{"every answer announces a reset a year ahead", oktatest.Faults{AnnounceResetIn: 365 * 24 * time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := alignedClock(time.Second)
			srv := newFake(t, oktatest.Options{RateLimit: 6, Window: time.Second, Now: clock}, org)
			srv.SetFaults(tc.faults)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			snap, err := newClient(t, srv.URL, func(c *Config) { c.MaxRateLimitWait = 900 * time.Millisecond }).Read(ctx, all)
			if err != nil {
				t.Fatal(err)
			}
			diffSnapshots(t, snap, expected(srv.Org()))
			if el := time.Since(start); el > 20*time.Second {
				t.Fatalf("took %s", el)
			}
		})
	}
}
