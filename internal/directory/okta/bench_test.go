package okta

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
)

// lowerBound is the fewest requests any client needs for org at Okta's
// page caps: the user list, the DEPROVISIONED list, the group list, and
// every group's members, each at least one page.
func lowerBound(o *oktatest.Org) int {
	pages := func(n, size int) int { return max(1, (n+size-1)/size) }
	deprov := 0
	for _, u := range o.Users {
		if u.Status == oktatest.StatusDeprovisioned {
			deprov++
		}
	}
	n := pages(len(o.Users)-deprov, usersPageSize) + pages(deprov, usersPageSize) + pages(len(o.Groups), groupsPageSize)
	for _, g := range o.Groups {
		n += pages(len(g.Members), membersPageSize)
	}
	return n
}

// peakHeap samples the live heap while a read runs.
type peakHeap struct {
	mu   sync.Mutex
	peak uint64
	stop chan struct{}
	done chan struct{}
}

func startPeakHeap() *peakHeap {
	p := &peakHeap{stop: make(chan struct{}), done: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(p.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			p.mu.Lock()
			p.peak = max(p.peak, s[0].Value.Uint64())
			p.mu.Unlock()
			select {
			case <-t.C:
			case <-p.stop:
				return
			}
		}
	}()
	return p
}

func (p *peakHeap) end() uint64 {
	close(p.stop)
	<-p.done
	return p.peak
}

func benchRead(b *testing.B, spec oktatest.Spec, opts oktatest.Options, cfg func(*Config)) {
	org := oktatest.Generate(spec)
	bound := lowerBound(org)
	srv := newFake(b, opts, org)
	org = nil //nolint:ineffassign,wastedassign // drop the generator's copy before measuring memory
	runtime.GC()
	c := newClient(b, srv.URL, cfg)
	var reqs, peak uint64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ph := startPeakHeap()
		snap, err := c.Read(context.Background(), directory.ReadOptions{Users: true, Groups: true})
		peak = max(peak, ph.end())
		if err != nil {
			b.Fatal(err)
		}
		if len(snap.Users) != spec.Users || len(snap.Groups) != spec.Groups {
			b.Fatalf("read %d users %d groups", len(snap.Users), len(snap.Groups))
		}
		reqs += uint64(snap.Stats.Requests)
	}
	b.ReportMetric(float64(reqs)/float64(b.N), "requests/op")
	b.ReportMetric(float64(bound), "lowerbound-requests/op")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
}

// BenchmarkReadOrg10k: 10,000 users, 200 groups × 100 members, 20 ms per
// answer, default concurrency. The fake's budget is raised because the
// iterations share its 60 s windows: at 600/min, the second read would
// pause for the members bucket's reset (pacing is tested on its own).
func BenchmarkReadOrg10k(b *testing.B) {
	benchRead(b, oktatest.Spec{Users: 10000, Deprovisioned: 300, Suspended: 200, Groups: 200, MembersPerGroup: 100, Seed: 1},
		oktatest.Options{Latency: 20 * time.Millisecond, RateLimit: 1 << 20}, nil)
}

// BenchmarkReadOrg100k: 100,000 users, 2,000 groups, 500,000 memberships.
// The fake's budget is raised so the run measures the client, not 60 s
// rate-limit windows (with a 600/min bucket, pacing at 50% would add
// about seven minutes of waiting for the 2,000 member reads).
func BenchmarkReadOrg100k(b *testing.B) {
	benchRead(b, oktatest.Spec{Users: 100000, Deprovisioned: 2000, Suspended: 1000, Groups: 2000, MembersPerGroup: 250, Seed: 2},
		oktatest.Options{Latency: 2 * time.Millisecond, RateLimit: 1 << 20}, nil)
}

// BenchmarkRead429 is issue 8's figure: the 10,000-user org (as in
// BenchmarkReadOrg10k) read once without 429s and once with one 429 every
// 50 requests, each with a one-second reset, among answers that announce a
// one-minute window. The second read should take at most 1.5× the first
// plus the resets themselves (ratio ≤ 1.5); a client that waited for the
// window's end would take minutes.
func BenchmarkRead429(b *testing.B) {
	spec := oktatest.Spec{Users: 10000, Deprovisioned: 300, Suspended: 200, Groups: 200, MembersPerGroup: 100, Seed: 1}
	org := oktatest.Generate(spec)
	srv := newFake(b, oktatest.Options{Latency: 20 * time.Millisecond, RateLimit: 1 << 20}, org)
	c := newClient(b, srv.URL, nil)
	read := func() (time.Duration, *directory.Snapshot) {
		start := time.Now()
		snap, err := c.Read(context.Background(), directory.ReadOptions{Users: true, Groups: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(snap.Users) != spec.Users || len(snap.Groups) != spec.Groups {
			b.Fatalf("read %d users %d groups", len(snap.Users), len(snap.Groups))
		}
		return time.Since(start), snap
	}
	var plain, limited, resets time.Duration
	var throttled int
	for b.Loop() {
		srv.SetFaults(oktatest.Faults{})
		d, _ := read()
		plain += d
		srv.ResetCounters()
		srv.SetFaults(oktatest.Faults{Throttle429Every: 50, Throttle429Reset: time.Second})
		d, _ = read()
		limited += d
		n := srv.Throttled()
		throttled += n
		resets += time.Duration(n) * time.Second
	}
	srv.SetFaults(oktatest.Faults{})
	n := float64(b.N)
	b.ReportMetric(plain.Seconds()/n, "plain-s/op")
	b.ReportMetric(limited.Seconds()/n, "with429-s/op")
	b.ReportMetric(float64(throttled)/n, "429s/op")
	b.ReportMetric(limited.Seconds()/(plain+resets).Seconds(), "ratio")
}
