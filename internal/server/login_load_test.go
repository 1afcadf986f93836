package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/store"
)

// loginFrom posts a login as if from addr (the throttle keys on the TCP
// peer address) straight into the handler.
func (e *env) loginFrom(addr, user, password string) *httptest.ResponseRecorder {
	e.t.Helper()
	form := url.Values{"username": {user}, "password": {password}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = addr + ":40000"
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// TestParallelLoginsReservedBeforeVerify: 40 wrong passwords for one user
// at once get at most the limit's worth of 401s, the rest 429 — the
// attempt is counted before the slow password check, not after it.
func TestParallelLoginsReservedBeforeVerify(t *testing.T) {
	e := newEnv(t, true)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.loginFrom("10.1.1.1", testUser, "wrong password "+itoa(i))
			mu.Lock()
			statuses[r.Code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusUnauthorized] > store.DefaultLoginLimits.PerPair || statuses[http.StatusTooManyRequests] < 40-store.DefaultLoginLimits.PerPair {
		t.Fatalf("answers %v: want at most %d 401s and the rest 429", statuses, store.DefaultLoginLimits.PerPair)
	}
}

// TestBusyHashingSlotsAnswer429: with every hashing slot taken, a login
// waits HashWait and is refused with 429 — and that attempt does not count
// as a failure.
func TestBusyHashingSlotsAnswer429(t *testing.T) {
	e := newEnv(t, true, func(c *Config) { c.MaxConcurrentHashes = 1; c.HashWait = 10 * time.Millisecond })
	e.srv.hashSlots <- struct{}{} // the only slot is busy
	r := e.loginFrom("10.1.1.2", testUser, testPassword)
	if r.Code != http.StatusTooManyRequests || !strings.Contains(r.Body.String(), "busy") {
		t.Fatalf("status %d, want 429 saying the console is busy", r.Code)
	}
	<-e.srv.hashSlots
	for range store.DefaultLoginLimits.PerPair - 1 {
		e.loginFrom("10.1.1.2", testUser, "wrong password")
	}
	if r := e.loginFrom("10.1.1.2", testUser, testPassword); r.Code != http.StatusSeeOther {
		t.Fatalf("the busy refusal counted as a failure: status %d", r.Code)
	}
}

// TestSprayDoesNotLockOutTheRightPassword: many failures for the admin's
// name from many addresses slow that name down everywhere they failed,
// but the right password from an address that has not failed still logs
// in; the state survives a restart; unlocking clears it.
func TestSprayDoesNotLockOutTheRightPassword(t *testing.T) {
	e := newEnv(t, true)
	lim := store.DefaultLoginLimits
	for a := range lim.UserSlowAfter / lim.PerPair {
		for range lim.PerPair {
			if r := e.loginFrom("10.2.0."+itoa(a+1), testUser, "wrong password"); r.Code != http.StatusUnauthorized {
				t.Fatalf("failure %d from 10.2.0.%d: status %d", a, a+1, r.Code)
			}
		}
	}
	// The pair limit holds for a failing address, even for the right password.
	if r := e.loginFrom("10.2.0.1", testUser, testPassword); r.Code != http.StatusTooManyRequests {
		t.Fatalf("right password from a failing address: status %d, want 429", r.Code)
	}
	// A new address that fails once is slowed by the name's back-off.
	if r := e.loginFrom("10.2.0.9", testUser, "wrong password"); r.Code != http.StatusUnauthorized {
		t.Fatalf("first failure from a new address: %d", r.Code)
	}
	if r := e.loginFrom("10.2.0.9", testUser, testPassword); r.Code != http.StatusTooManyRequests {
		t.Fatalf("the name's back-off does not slow an address that failed: %d", r.Code)
	}
	// The admin's clean address is never locked out.
	if r := e.loginFrom("192.0.2.7", testUser, testPassword); r.Code != http.StatusSeeOther {
		t.Fatalf("right password from a clean address: status %d, want 303; body %.300s", r.Code, r.Body.String())
	}

	// A restart (a new console over the same database) remembers.
	srv2, err := New(e.srv.cfg, e.st)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv2
	if r := e.loginFrom("10.2.0.2", testUser, testPassword); r.Code != http.StatusTooManyRequests {
		t.Fatalf("after a restart: status %d, want 429", r.Code)
	}
	// `dirsync admin unlock` clears the name's failures.
	if n, err := e.st.UnlockLogins(context.Background(), testUser); err != nil || n == 0 {
		t.Fatalf("unlock: %d, %v", n, err)
	}
	if r := e.loginFrom("10.2.0.2", testUser, testPassword); r.Code != http.StatusSeeOther {
		t.Fatalf("after unlock: status %d", r.Code)
	}
	// The window slides: old failures stop counting.
	e.loginFrom("10.2.0.3", "someone", "x")
	e.clock.Advance(lim.Window + time.Second)
	for range lim.PerPair {
		e.loginFrom("10.2.0.3", "someone", "x")
	}
	if r := e.loginFrom("10.2.0.3", "someone", "x"); r.Code != http.StatusTooManyRequests {
		t.Fatalf("pair limit after the window slid: %d", r.Code)
	}
}

// TestLogoutEndsTheSession: a copy of the session cookie taken before
// logout does not work after it.
func TestLogoutEndsTheSession(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	u, _ := url.Parse(e.ts.URL)
	stolen := c.Jar.Cookies(u)
	if len(stolen) == 0 {
		t.Fatal("no session cookie")
	}
	wantStatus(t, e.post(c, "/logout", url.Values{}), http.StatusSeeOther)
	replay := e.client()
	replay.Jar.SetCookies(u, stolen)
	r := e.get(replay, "/settings")
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, "/login?next=%2Fsettings")
}
