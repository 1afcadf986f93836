package okta

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter keeps each bucket's rate-limit state, shared by all reads of a
// Client. Every request reserves one unit of the bucket's last known
// remaining budget while it is in flight, so parallel requests cannot
// overshoot the share we may use. A bucket whose state is unknown (first
// use, or after its window reset) lets a single probe through until an
// answer tells the budget; after a 429 nobody sends before the reset.
//
// A 429's own X-Rate-Limit-Reset decides how long the bucket pauses (Okta's
// concurrency limit answers with a short, estimated one); when it passes,
// one probe asks again instead of waiting for a window end that earlier
// answers announced. No wait is longer than maxWait: a reset further ahead
// is not believed, and the bucket probes after a third of it.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucketState
	share   float64
	maxWait time.Duration
	now     func() time.Time
}

type bucketState struct {
	known      bool
	limit      int   // <= 0: no limit announced
	remaining  int   // as last answered in the current window
	resetEpoch int64 // the server's X-Rate-Limit-Reset, identifies the window
	reset      time.Time
	until      time.Time // after a 429: send nothing before this
	inflight   int
	counted    time.Time // the pause last counted in the stats
	changed    chan struct{}
}

func newLimiter(share float64, maxWait time.Duration, now func() time.Time) *limiter {
	return &limiter{buckets: map[string]*bucketState{}, share: share, maxWait: maxWait, now: now}
}

// believe bounds an announced reset: one further ahead than maxWait is
// taken as a third of maxWait from now (then a probe asks again).
func (l *limiter) believe(reset, now time.Time) time.Time {
	if reset.Sub(now) > l.maxWait {
		return now.Add(l.maxWait / 3)
	}
	return reset
}

func (l *limiter) bucket(name string) *bucketState {
	b := l.buckets[name]
	if b == nil {
		b = &bucketState{changed: make(chan struct{})}
		l.buckets[name] = b
	}
	return b
}

// acquire waits until a request may be sent in the bucket and reserves
// its place. Every successful acquire needs one release.
func (l *limiter) acquire(ctx context.Context, r *run, name string) error {
	for {
		l.mu.Lock()
		b := l.bucket(name)
		now := l.now()
		if b.known && !now.Before(b.reset) && !now.Before(b.until) {
			// The window is over: the budget is unknown until a probe.
			b.known = false
		}
		wait, blocked := time.Duration(0), false
		switch {
		case b.until.After(now):
			blocked, wait = true, b.until.Sub(now)
		case !b.known && b.inflight > 0:
			blocked = true // wait for the probe's answer
		case b.known && b.limit > 0 &&
			float64(b.remaining-b.inflight) <= float64(b.limit)*(1-l.share):
			blocked, wait = true, b.reset.Sub(now)
			if !b.counted.Equal(b.reset) && b.inflight == 0 {
				b.counted = b.reset
				r.rateLimitWaits.Add(1)
				r.rateLimitWait.Add(int64(wait))
			}
		}
		if !blocked {
			b.inflight++
			l.mu.Unlock()
			return nil
		}
		wait = min(wait, l.maxWait)
		ch := b.changed
		l.mu.Unlock()
		var timer *time.Timer
		var fire <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ch:
		case <-fire:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// release ends a reservation and learns from the answer (status 0 and no
// headers after a transport error).
func (l *limiter) release(r *run, name string, status int, rh rateHeaders) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(name)
	b.inflight--
	now := l.now()
	if rh.ok {
		rh.reset = l.believe(rh.reset, now)
	}
	paused := b.until.After(now)
	switch {
	case status == http.StatusTooManyRequests:
		// Handled below: the 429's own reset decides.
	case paused:
		// An answer to a request sent before a 429 describes the window
		// that 429 interrupted; the probe after the pause asks afresh.
	case rh.ok && rh.limit > 0 && rh.remaining >= 0:
		switch {
		case !b.known || rh.resetEpoch > b.resetEpoch:
			b.known, b.limit, b.remaining, b.resetEpoch, b.reset = true, rh.limit, rh.remaining, rh.resetEpoch, rh.reset
		case rh.resetEpoch == b.resetEpoch:
			b.remaining = min(b.remaining, rh.remaining)
			if rh.reset.After(b.reset) {
				b.reset = rh.reset
			}
		}
	case status != 0 && !b.known:
		// No rate-limit headers (a proxy stripped them?): do not probe one
		// request at a time forever; look again in a minute.
		b.known, b.limit, b.reset = true, 0, now.Add(time.Minute)
	}
	if status == http.StatusTooManyRequests {
		until := now.Add(time.Second)
		if rh.ok && rh.reset.After(now) {
			until = rh.reset
		}
		// Jitter, so that every waiting client does not return at once.
		until = until.Add(time.Duration(rand.Int64N(int64(200 * time.Millisecond))))
		if until.After(b.until) {
			if b.until.After(now) {
				r.rateLimitWait.Add(int64(until.Sub(b.until)))
			} else {
				r.rateLimitWaits.Add(1)
				r.rateLimitWait.Add(int64(until.Sub(now)))
			}
			b.until = until
		}
		// The window ends with the pause: the first request after it is a
		// probe whose answer tells the budget, whatever earlier answers
		// said about the window's end.
		b.known, b.remaining, b.reset = true, 0, b.until
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// rateHeaders are the X-Rate-Limit-* values of one answer.
type rateHeaders struct {
	limit, remaining int // -1 when absent
	resetEpoch       int64
	reset            time.Time // on the local clock
	ok               bool
}

func readRateHeaders(h http.Header, localNow time.Time) rateHeaders {
	rh := rateHeaders{limit: -1, remaining: -1}
	if v, err := strconv.Atoi(h.Get("X-Rate-Limit-Limit")); err == nil {
		rh.limit = v
	}
	if v, err := strconv.Atoi(h.Get("X-Rate-Limit-Remaining")); err == nil {
		rh.remaining = v
	}
	secs, err := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
	if err != nil {
		return rh
	}
	reset := time.Unix(secs, 0)
	// Okta's clock, not ours, defines the reset: measure the wait against
	// the answer's Date and apply it to the local clock.
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		reset = localNow.Add(reset.Sub(d))
	}
	rh.resetEpoch, rh.reset, rh.ok = secs, reset, true
	return rh
}
