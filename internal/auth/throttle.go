package auth

import (
	"fmt"
	"sync"
	"time"
)

// ThrottleConfig sets the failed-login limits. Zero fields take defaults.
type ThrottleConfig struct {
	// PerUser is how many failures one user name may have in Window
	// (default 5).
	PerUser int
	// PerAddr is how many failures one remote address may have in Window
	// (default 20).
	PerAddr int
	// Window is the sliding window (default 15 minutes).
	Window time.Duration
	// MaxKeys bounds the memory used: beyond it, expired entries are swept
	// and then the stalest keys are dropped (default 10000).
	MaxKeys int
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
}

// Throttle counts failed logins per user name and per remote address in a
// sliding window and refuses further attempts once either limit is reached.
// It is safe for concurrent use. State is in memory: a restart forgets it,
// which is acceptable for a single-process console.
type Throttle struct {
	cfg   ThrottleConfig
	mu    sync.Mutex
	users map[string][]time.Time
	addrs map[string][]time.Time
}

// ThrottledError says that logins are refused for a while.
type ThrottledError struct {
	// RetryAfter is how long until one more attempt is allowed.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	m := int((e.RetryAfter + time.Minute - 1) / time.Minute)
	if m < 1 {
		m = 1
	}
	unit := "minutes"
	if m == 1 {
		unit = "minute"
	}
	return fmt.Sprintf("too many failed attempts; try again in %d %s", m, unit)
}

// NewThrottle returns a throttle with cfg's limits.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.PerUser <= 0 {
		cfg.PerUser = 5
	}
	if cfg.PerAddr <= 0 {
		cfg.PerAddr = 20
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{cfg: cfg, users: map[string][]time.Time{}, addrs: map[string][]time.Time{}}
}

// Allow returns nil if a login for username from addr may be attempted,
// or a *ThrottledError saying how long to wait. Call it before checking
// the password so that a throttled attacker learns nothing.
func (t *Throttle) Allow(username, addr string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	wait := max(t.wait(t.users, username, t.cfg.PerUser, now), t.wait(t.addrs, addr, t.cfg.PerAddr, now))
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// Fail records a failed login for username from addr.
func (t *Throttle) Fail(username, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.Now()
	t.add(t.users, username, t.cfg.PerUser, now)
	t.add(t.addrs, addr, t.cfg.PerAddr, now)
}

// Succeed forgets username's failures after a successful login. The
// address's failures stay, so one valid account cannot be used to reset
// the counter while guessing others.
func (t *Throttle) Succeed(username string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.users, username)
}

// wait returns how long until key has fewer than limit failures in the
// window; it also drops expired entries.
func (t *Throttle) wait(m map[string][]time.Time, key string, limit int, now time.Time) time.Duration {
	ts := t.prune(m, key, now)
	if len(ts) < limit {
		return 0
	}
	// The attempt becomes possible when the failure that pushed the count
	// to the limit leaves the window.
	return ts[len(ts)-limit].Add(t.cfg.Window).Sub(now)
}

func (t *Throttle) add(m map[string][]time.Time, key string, limit int, now time.Time) {
	ts := t.prune(m, key, now)
	ts = append(ts, now)
	if len(ts) > limit {
		// Older entries beyond the limit never decide a wait time.
		ts = ts[len(ts)-limit:]
	}
	m[key] = ts
	if len(m) > t.cfg.MaxKeys {
		t.sweep(m, now)
	}
}

func (t *Throttle) prune(m map[string][]time.Time, key string, now time.Time) []time.Time {
	ts, ok := m[key]
	if !ok {
		return nil
	}
	cut := now.Add(-t.cfg.Window)
	i := 0
	for i < len(ts) && !ts[i].After(cut) {
		i++
	}
	if i == len(ts) {
		delete(m, key)
		return nil
	}
	ts = ts[i:]
	m[key] = ts
	return ts
}

// sweep drops expired keys and then, if still over MaxKeys, the keys whose
// last failure is oldest.
func (t *Throttle) sweep(m map[string][]time.Time, now time.Time) {
	for k := range m {
		t.prune(m, k, now)
	}
	for len(m) > t.cfg.MaxKeys {
		var oldest string
		var at time.Time
		first := true
		for k, ts := range m {
			if last := ts[len(ts)-1]; first || last.Before(at) {
				oldest, at, first = k, last, false
			}
		}
		delete(m, oldest)
	}
}
