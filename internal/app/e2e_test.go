package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

var sel = browsertest.Sel

// startConsole serves a fresh console on a random port and returns its
// base URL. The schedule's "minute" lasts unit.
func startConsole(t *testing.T, unit time.Duration) (*App, string) {
	t.Helper()
	return startConsoleWith(t, Options{IntervalUnit: unit})
}

// startConsoleWith is startConsole with more options (a clock). The
// console's log is kept and saved with the failure artifacts.
func startConsoleWith(t *testing.T, opts Options) (*App, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &lockedBuffer{}
	browsertest.SaveOnFailure(t, "console.log", logs.Bytes)
	opts.DBPath = filepath.Join(t.TempDir(), "e2e.db")
	opts.Addr, opts.Version = "127.0.0.1:0", "e2e"
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Argon, opts.ShutdownWait = auth.TestParams, 5*time.Second
	a, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return a, "http://" + l.Addr().String()
}

// lockedBuffer is a bytes.Buffer safe for the console's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Bytes returns a copy of what was written.
func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// testClock is a clock the test moves: real time plus an offset.
type testClock struct{ offset atomic.Int64 }

// Now is the test's time.
func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// startFakes starts a fake Okta holding spec's org and a fake Bitwarden,
// both closed at the end of the test.
func startFakes(t *testing.T, spec oktatest.Spec) (*oktatest.Server, *bwtest.Server) {
	t.Helper()
	okta := oktatest.New(oktatest.Options{})
	t.Cleanup(okta.Close)
	okta.SetOrg(oktatest.Generate(spec))
	bw := bwtest.New(bwtest.Options{})
	t.Cleanup(bw.Close)
	return okta, bw
}

// shots saves screenshots for the README when DIRSYNC_SCREENSHOTS names a
// folder (make screenshots); otherwise it does nothing.
func shots(t *testing.T, b *browsertest.Browser, name string) {
	dir := os.Getenv("DIRSYNC_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := b.Screenshot(filepath.Join(dir, name+".png")); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}

// TestBrowserFirstRunToScheduledSync walks an admin through the product in
// real Chromium: set-up, login, Settings pointing at the fakes, Test, Sync
// now, the run in History with its changes, automatic sync, Stop.
func TestBrowserFirstRunToScheduledSync(t *testing.T) {
	b := browsertest.Start(t, 3*time.Minute)
	okta, bw := startFakes(t, oktatest.Spec{Users: 140, Groups: 6, MembersPerGroup: 20, Deprovisioned: 4, Suspended: 3, Seed: 11})
	// The schedule runs on a clock the test moves: exactly one scheduled
	// run happens, when the test asks for it, so no run's end swaps the
	// dashboard while the test clicks on it.
	clock := &testClock{}
	a, base := startConsoleWith(t, Options{IntervalUnit: time.Minute, Clock: clock.Now})
	token := a.Server.SetupToken()
	if token == "" {
		t.Fatal("no set-up token")
	}
	const user, password = "alice", "a long enough passphrase"

	b.Do("first-run set-up",
		chromedp.Navigate(base+"/setup?token="+token),
		chromedp.WaitVisible(sel("setup-form")),
		chromedp.SendKeys(sel("setup-username"), user),
		chromedp.SendKeys(sel("setup-password"), password),
		chromedp.SendKeys(sel("setup-confirm"), password),
		chromedp.Click(sel("setup-submit")),
		chromedp.WaitVisible(sel("settings-form")), // set-up logs the new admin in
	)
	b.Do("log out and in again",
		chromedp.Click(sel("logout")),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), user),
		chromedp.SendKeys(sel("login-password"), password),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("no-settings-notice")),
	)
	if a.Server.SetupToken() != "" {
		t.Error("the set-up token still works after the first admin was created")
	}

	b.Do("fill Settings",
		chromedp.Navigate(base+"/settings"),
		chromedp.WaitVisible(sel("settings-form")),
		chromedp.SendKeys(sel("field-okta.orgUrl"), okta.URL),
		chromedp.SendKeys(sel("field-okta.token"), okta.Token()),
		chromedp.Click(sel("field-bitwarden.server-self")),
		chromedp.SendKeys(sel("field-bitwarden.url"), bw.URL),
		chromedp.SendKeys(sel("field-bitwarden.clientId"), bw.ClientID()),
		chromedp.SendKeys(sel("field-bitwarden.clientSecret"), bw.ClientSecret()),
		chromedp.SetValue(sel("field-sync.intervalMinutes"), "5"),
		chromedp.Click(sel("settings-save")),
		chromedp.WaitVisible(sel("flash-success")),
	)
	if got := b.Text("flash-success"); !strings.HasPrefix(got, "Settings saved") {
		t.Fatalf("flash %q", got)
	}
	shots(t, b, "settings")
	html, _ := chromedp.Run(b.Ctx, chromedp.OuterHTML("html"))
	if strings.Contains(html, okta.Token()) || strings.Contains(html, bw.ClientSecret()) {
		t.Fatal("the Settings page shows a secret after saving")
	}

	b.Do("Test now lists the users",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(sel("test-now")),
		chromedp.Click(sel("test-now")),
		chromedp.WaitVisible(sel("preview-users")),
	)
	rows, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="preview-user"]').length`))
	if err != nil || rows != 50 {
		t.Fatalf("preview rows %d (%v), want a first page of 50", rows, err)
	}
	first := strings.ToLower(okta.Org().Users[len(okta.Org().Users)-1].Email)
	// htmx searches as the admin types, swapping only the table.
	b.Do("search the preview", chromedp.SendKeys(sel("preview-search"), first))
	// Wait for the answer to the whole address, not to a prefix of it that
	// already matches one user: htmx searches at each pause in typing, and
	// leaving the page with a search in flight aborts it (a console error).
	b.WaitJS("the search finds one user", fmt.Sprintf(`document.querySelectorAll('[data-testid="preview-user"]').length === 1 && `+
		`new URLSearchParams(location.search).get("q") === %q && !document.querySelector(".htmx-request")`, first), 10*time.Second)
	shots(t, b, "test-preview")
	if len(bw.Imports()) != 0 {
		t.Fatal("Test sent an import")
	}

	b.Do("Sync now",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(sel("sync-now")),
		chromedp.Click(sel("sync-now")),
		chromedp.WaitVisible(sel("flash-success")),
	)
	waitRuns(t, a, "the manual sync", func(runs []store.Run) bool {
		return len(runs) == 1 && runs[0].Status == store.StatusSuccess
	})
	if len(bw.Imports()) != 1 {
		t.Fatalf("imports %d after Sync now", len(bw.Imports()))
	}

	b.Do("the run is in History with its changes",
		chromedp.Navigate(base+"/history"),
		chromedp.WaitVisible(sel("history-row")),
		chromedp.Click(sel("run-link")),
		chromedp.WaitVisible(sel("run-page")),
		chromedp.WaitVisible(sel("verdict")),
		// The comparison with the previous push is folded into Details.
		chromedp.Click(sel("run-details")+" > summary"),
		chromedp.WaitVisible(sel("changes")),
	)
	if s := b.Text("page-heading"); !strings.Contains(s, "success") {
		t.Errorf("run status %q", s)
	}
	live := 0
	for _, u := range okta.Org().Users {
		if u.Status != "DEPROVISIONED" {
			live++
		}
	}
	if c := b.Text("changes"); !strings.Contains(c, fmt.Sprintf("Members added\n%d\n", live)) || !strings.Contains(c, "Members deleted\n4\n") {
		t.Errorf("changes do not show the %d members added and 4 deleted: %q", live, c)
	}
	shots(t, b, "run")

	// Something changes in Okta, so the scheduled run has work to do.
	if err := okta.RenameGroup(okta.Org().Groups[0].ID, "Renamed by the schedule test"); err != nil {
		t.Fatal(err)
	}
	b.Do("Start automatic sync",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(sel("schedule-start")),
		chromedp.Click(sel("schedule-start")),
		chromedp.WaitVisible(sel("schedule-stop")),
	)
	// The manual sync ran just now: the first scheduled run is one
	// interval (5 minutes) after it. Move the clock there.
	st := a.Worker.Status()
	if !st.Enabled || st.Running || st.NextRun.IsZero() || st.NextRun.Sub(clock.Now()) < 4*time.Minute {
		t.Fatalf("after Start the schedule is %+v; want the next run about 5 minutes away", st)
	}
	clock.Advance(st.NextRun.Sub(clock.Now()) + time.Second)
	a.Worker.Reload(context.Background())
	waitRuns(t, a, "a scheduled run", func(runs []store.Run) bool {
		for _, r := range runs {
			if r.Trigger == "schedule" && r.Status != store.StatusRunning {
				return true
			}
		}
		return false
	})
	b.Do("the scheduled run shows on the dashboard",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(sel("recent-runs")),
	)
	if txt := b.Text("recent-runs"); !strings.Contains(txt, "schedule") {
		t.Errorf("recent runs do not show the scheduled run: %q", txt)
	}
	shots(t, b, "dashboard")
	b.Do("Stop",
		chromedp.Click(sel("schedule-stop")),
		chromedp.WaitVisible(sel("schedule-start")),
	)
	if on, _ := a.Store.GetSchedule(context.Background(), store.DefaultProfile); on {
		t.Error("the schedule is still on after Stop")
	}
	if st := b.Text("schedule-state"); !strings.Contains(strings.ToLower(st), "stopped") && !strings.Contains(strings.ToLower(st), "off") {
		t.Errorf("schedule state %q after Stop", st)
	}
	if os.Getenv("DIRSYNC_SCREENSHOTS") != "" {
		// The same console on a phone: the links fold into a menu.
		b.Viewport(390, 844, true)
		b.Do("the dashboard on a phone", chromedp.Navigate(base+"/"), chromedp.WaitVisible(sel("nav-menu-toggle")))
		shots(t, b, "phone-dashboard")
		b.Do("the test on a phone", chromedp.Navigate(base+"/test"), chromedp.WaitVisible(sel("verdict")))
		shots(t, b, "phone-test")
		b.Viewport(1280, 900, false)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("browser errors (CSP violations?): %q", p)
	}
}

// waitRuns polls the history until cond holds and the worker is idle: a
// run is recorded as finished a moment before its end is announced to the
// open pages (which then swap their status), so a page loaded after
// waitRuns sees no swap from it.
func waitRuns(t *testing.T, a *App, what string, cond func([]store.Run) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, _, err := a.Store.ListRuns(context.Background(), store.DefaultProfile, 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		if cond(runs) && !a.Worker.Status().Running {
			return
		}
		if time.Now().After(deadline) {
			var s []string
			for _, r := range runs {
				s = append(s, fmt.Sprintf("%d:%s/%s %s", r.ID, r.Trigger, r.Status, r.Error))
			}
			t.Fatalf("timed out waiting for %s; runs: %v", what, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
