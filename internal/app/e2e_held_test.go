package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/demo"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// TestBrowserHeldRunApproved walks the deletion guard in real Chromium: a
// first sync pushes 100 members; 30 are deprovisioned in Okta; Sync now
// is held (nothing pushed) and the dashboard says so; the admin opens the
// run from the banner, ticks the confirmation and approves; the approval
// is pushed (the org loses the 30), History shows it as a success and the
// held run as approved.
func TestBrowserHeldRunApproved(t *testing.T) {
	okta, _ := startFakes(t, oktatest.Spec{Users: 100, Groups: 4, MembersPerGroup: 20, Seed: 11})
	// A Bitwarden that can be made slow: while gate holds a channel, every
	// API request waits for it to close.
	var gate atomic.Pointer[chan struct{}]
	bw := bwtest.New(bwtest.Options{BeforeAPI: func(*http.Request) {
		if g := gate.Load(); g != nil {
			<-*g
		}
	}})
	t.Cleanup(bw.Close)
	slow := make(chan struct{})
	defer func() {
		if gate.Load() != nil {
			close(slow)
		}
	}()
	a, base := startConsole(t, time.Minute)
	// The browser closes before the console (cleanups run last first).
	b := browsertest.Start(t, 3*time.Minute)
	ctx := context.Background()

	const user, password = "alice", "a long enough passphrase"
	hash, err := auth.Hash(password, auth.TestParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.CreateAdmin(ctx, user, hash); err != nil {
		t.Fatal(err)
	}
	// Default deletion guard: 50 members or 10%, so 10 of 100.
	if err := demo.Save(ctx, a.Store, store.DefaultProfile, demo.Settings(okta, bw)); err != nil {
		t.Fatal(err)
	}

	b.Do("log in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), user),
		chromedp.SendKeys(sel("login-password"), password),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("sync-now")),
	)
	b.Do("first Sync now", chromedp.Click(sel("sync-now")), chromedp.WaitVisible(sel("flash-success")))
	waitRuns(t, a, "the first sync", func(runs []store.Run) bool {
		return len(runs) == 1 && runs[0].Status == store.StatusSuccess
	})
	if n := len(bw.Members()); n != 100 {
		t.Fatalf("the org has %d members after the first sync, want 100", n)
	}
	imports := len(bw.Imports())

	gone := map[string]bool{}
	for _, u := range okta.Org().Users[:30] {
		if err := okta.SetUserStatus(u.ID, oktatest.StatusDeprovisioned); err != nil {
			t.Fatal(err)
		}
		gone[strings.ToLower(u.Email)] = true
	}
	b.Do("second Sync now",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(sel("sync-now")),
		chromedp.Click(sel("sync-now")),
		// "Sync started.", or already how it ended (the run is quick).
		chromedp.WaitVisible(`#flash .flash`),
	)
	var held int64
	waitRuns(t, a, "the held run", func(runs []store.Run) bool {
		if len(runs) == 2 && runs[0].Status == store.StatusHeld {
			held = runs[0].ID
			return true
		}
		return false
	})
	if n := len(bw.Imports()); n != imports {
		t.Fatalf("the held run pushed: %d imports, want %d", n, imports)
	}

	b.Do("the dashboard shows the held run",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(sel("attention-banner")),
	)
	if txt := b.Text("attention-banner"); !strings.Contains(txt, fmt.Sprintf("Run #%d is held for approval", held)) || !strings.Contains(txt, "approve") {
		t.Errorf("banner %q", txt)
	}
	shots(t, b, "held-dashboard")
	b.Do("open the run from the banner",
		chromedp.Click(sel("attention-link")),
		chromedp.WaitVisible(sel("held-explanation")),
	)
	if got := b.Text("held-removals"); got != "30" {
		t.Errorf("removals %q, want 30", got)
	}
	if got := b.Text("held-limit"); !strings.HasPrefix(got, "10 removals") {
		t.Errorf("limit %q", got)
	}
	listed, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid="held-removal"]')].map(e => e.textContent.trim().split(/\s+/)[0])`))
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 30 {
		t.Errorf("%d removals listed, want 30", len(listed))
	}
	for _, email := range listed {
		if !gone[email] {
			t.Errorf("listed removal %q was not deprovisioned", email)
		}
	}
	shots(t, b, "held-run")

	gate.Store(&slow)
	b.Do("tick the box and approve, with Bitwarden slow",
		chromedp.Click(sel("approve-confirm")),
		chromedp.Click(sel("approve-submit")),
		// The POST answers at once with the held run's page, which
		// follows the approval while the push waits.
		chromedp.WaitVisible(sel("approval-running")),
	)
	if n := len(bw.Imports()); n != imports {
		t.Fatalf("%d imports while Bitwarden is held, want %d", n, imports)
	}
	shots(t, b, "held-approving")
	gate.Store(nil)
	close(slow)
	// The page reloads itself when the approval ends (the event stream's
	// "done") and says how it ended.
	b.Do("the outcome appears", chromedp.WaitVisible(sel("approval-outcome")))
	var pushed int64
	waitRuns(t, a, "the approval run", func(runs []store.Run) bool {
		if len(runs) == 3 && runs[0].Trigger == "approval" && runs[0].Status == store.StatusSuccess {
			pushed = runs[0].ID
			return true
		}
		return false
	})
	if got, want := b.Text("approval-outcome"), fmt.Sprintf("Run %d approved: pushed as run %d.", held, pushed); !strings.HasPrefix(got, want) {
		t.Errorf("outcome %q, want %q", got, want)
	}
	if h := b.Text("page-heading"); !strings.Contains(h, fmt.Sprintf("Run %d", held)) || !strings.Contains(h, "approved") {
		t.Errorf("after approval the page shows %q", h)
	}
	if n := len(bw.Imports()); n != imports+1 {
		t.Errorf("%d imports after approval, want %d", n, imports+1)
	}
	members := bw.Members()
	if len(members) != 70 {
		t.Errorf("the org has %d members after approval, want 70", len(members))
	}
	for _, m := range members {
		if gone[strings.ToLower(m.Email)] {
			t.Errorf("%s is still in the org", m.Email)
		}
	}

	b.Do("History shows both runs",
		chromedp.Navigate(base+"/history"),
		chromedp.WaitVisible(sel("history-table")),
	)
	statuses, err := chromedp.Run(b.Ctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll('[data-testid="history-row"]')].map(r => [r.dataset.runId, r.querySelector('[data-testid="status-badge"]').textContent.trim()]))`))
	if err != nil {
		t.Fatal(err)
	}
	if got := statuses[fmt.Sprint(pushed)]; got != "success" {
		t.Errorf("History shows run %d as %q, want success (all: %v)", pushed, got, statuses)
	}
	if got := statuses[fmt.Sprint(held)]; got != "approved" {
		t.Errorf("History shows run %d as %q, want approved (all: %v)", held, got, statuses)
	}
	shots(t, b, "held-history")
	b.Do("the held run says who approved it",
		chromedp.Navigate(fmt.Sprintf("%s/history/%d", base, held)),
		chromedp.WaitVisible(sel("resolution")),
	)
	if note := b.Text("resolution"); !strings.Contains(note, "approved by alice (console") || !strings.Contains(note, fmt.Sprintf("pushed by run %d", pushed)) {
		t.Errorf("resolution %q", note)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("browser errors (CSP violations?): %q", p)
	}
}
