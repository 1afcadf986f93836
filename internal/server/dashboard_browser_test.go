package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// TestBrowserDashboardLive drives Chromium: with the dashboard open, a
// sync started elsewhere (as the scheduler would) shows its progress over
// the event stream, and its end refreshes the latest runs — without a page
// reload and without CSP errors. DIRSYNC_SCREENSHOT_DIR, when set, keeps
// PNG screenshots; a failure always leaves one (see
// browsertest.ArtifactDir).
func TestBrowserDashboardLive(t *testing.T) {
	d := newDashEnv(t, true)
	// The browser starts after the console, so it closes first: the
	// console's test server waits for open connections (the event stream).
	b := browsertest.Start(t, 60*time.Second)
	sel := browsertest.Sel
	shotDir := os.Getenv("DIRSYNC_SCREENSHOT_DIR")
	shot := func(name string) {
		if shotDir == "" {
			return
		}
		p := filepath.Join(shotDir, "dashboard-"+name+".png")
		if err := b.Screenshot(p); err != nil {
			t.Logf("screenshot %s: %v", name, err)
			return
		}
		t.Logf("screenshot: %s", p)
	}

	b.Do("log in",
		chromedp.Navigate(d.ts.URL+"/"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("dashboard")),
		chromedp.WaitVisible(sel("progress-idle")),
	)
	// A marker that a reload would wipe.
	b.Do("mark the page", chromedp.Evaluate[chromedp.Void](`window.dirsyncMarker = 42`))
	// The event stream must be open before the run starts.
	b.WaitJS("event stream open", `(() => { const el = document.querySelector('[sse-connect]'); const es = el && el['htmx-internal-data'] && el['htmx-internal-data'].sseEventSource; return !!es && es.readyState === 1 })()`, 15*time.Second)

	d.closeGate()
	if err := d.worker.RunNow(dsync.TriggerSchedule, dsync.Options{Mode: dsync.ModeSync}); err != nil {
		t.Fatal(err)
	}
	b.WaitJS("live progress", `!!document.querySelector('[data-testid="progress"] progress')`, 15*time.Second)
	shot("running")
	d.openGate()
	// The status box is its own fragment (refetched on "done"): wait for
	// it too, not only for the runs table (seen: status "" read between
	// the two swaps under load).
	b.WaitJS("the finished run listed", `document.querySelectorAll('[data-testid="run-row"]').length === 1 && !!document.querySelector('[data-testid="progress-final"]') && (() => { const s = document.querySelector('[data-testid="last-run-status"]'); const t = s ? s.textContent.trim() : ''; return t !== '' && t !== 'running' })()`, 15*time.Second)
	last := b.Text("last-run-status")
	marker, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`window.dirsyncMarker || 0`))
	if err != nil {
		t.Fatal(err)
	}
	if shotDir != "" {
		shot("done")
		b.Do("open More", chromedp.Navigate(d.ts.URL+"/more"), chromedp.WaitVisible(sel("more")))
		shot("more")
	}
	if last != "success" {
		t.Fatalf("last run status %q", last)
	}
	if marker != 42 {
		t.Fatal("the page was reloaded; the live update did not happen in place")
	}
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}

// TestBrowserDashboardFollowsCLIRun opens the dashboard, then runs a sync
// with a second engine over the same database, as `dirsync sync` in
// another process would: this console gets none of its events, yet the
// page shows it running (Sync now off) and then finished, from the store
// alone, without a reload.
func TestBrowserDashboardFollowsCLIRun(t *testing.T) {
	d := newDashEnv(t, true)
	d.srv.storePoll = 50 * time.Millisecond
	cli := dsync.New(d.st, "v-cli")
	cli.Holder = "cli-process"
	b := browsertest.Start(t, 60*time.Second)
	sel := browsertest.Sel
	b.Do("log in",
		chromedp.Navigate(d.ts.URL+"/"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("progress-idle")),
	)
	b.Do("mark the page", chromedp.Evaluate[chromedp.Void](`window.dirsyncMarker = 42`))
	b.WaitJS("event stream open", `(() => { const el = document.querySelector('[sse-connect]'); const es = el && el['htmx-internal-data'] && el['htmx-internal-data'].sseEventSource; return !!es && es.readyState === 1 })()`, 15*time.Second)

	d.closeGate()
	done := make(chan error, 1)
	go func() {
		_, err := cli.Run(context.Background(), store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerCLI, Mode: dsync.ModeSync})
		done <- err
	}()
	b.WaitJS("the CLI run shown running", `!!document.querySelector('[data-testid="progress"]') && document.querySelector('[data-testid="sync-now"]').disabled`, 15*time.Second)
	d.openGate()
	if err := <-done; err != nil {
		t.Fatalf("CLI run: %v", err)
	}
	b.WaitJS("the CLI run shown finished", `!!document.querySelector('[data-testid="progress-final"]') && document.querySelectorAll('[data-testid="run-row"]').length === 1 && !document.querySelector('[data-testid="sync-now"]').disabled && (() => { const s = document.querySelector('[data-testid="last-run-status"]'); const t = s ? s.textContent.trim() : ''; return t !== '' && t !== 'running' })()`, 15*time.Second)
	if got := b.Text("last-run-status"); got != "success" {
		t.Errorf("last run status %q", got)
	}
	marker, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`window.dirsyncMarker || 0`))
	if err != nil {
		t.Fatal(err)
	}
	if marker != 42 {
		t.Fatal("the page was reloaded; the live update did not happen in place")
	}
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}
