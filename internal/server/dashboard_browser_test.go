package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	dsync "github.com/dirsync/dirsync/internal/sync"
)

// TestBrowserDashboardLive drives Chromium: with the dashboard open, a
// sync started elsewhere (as the scheduler would) shows its progress over
// the event stream, and its end refreshes the latest runs — without a page
// reload and without CSP errors. DIRSYNC_SCREENSHOT_DIR, when set, keeps
// PNG screenshots; a failure always leaves one in $TMPDIR/dirsync-screenshots.
func TestBrowserDashboardLive(t *testing.T) {
	exe := browserPath(t)
	d := newDashEnv(t, true)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1200, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 45*time.Second)
	defer cancel()

	msgCtx, stopMsgs := context.WithCancel(ctx)
	messages := chromedp.Console(msgCtx)
	var mu sync.Mutex
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String()+" ("+m.URL+")")
				mu.Unlock()
			}
		}
	}()

	shotDir := os.Getenv("DIRSYNC_SCREENSHOT_DIR")
	shot := func(name string) {
		dir := shotDir
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "dirsync-screenshots")
			_ = os.MkdirAll(dir, 0o755)
		}
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Logf("screenshot %s: %v", name, err)
			return
		}
		p := filepath.Join(dir, "dashboard-"+name+".png")
		if err := os.WriteFile(p, buf, 0o644); err == nil {
			t.Logf("screenshot: %s", p)
		}
	}
	sel := func(id string) string { return `[data-testid="` + id + `"]` }
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			shot("failed")
			t.Fatalf("%s: %v", name, err)
		}
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			shot("failed")
			t.Fatalf("%s: %v", what, err)
		}
	}

	step("log in",
		chromedp.Navigate(d.ts.URL+"/"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("dashboard")),
		chromedp.WaitVisible(sel("progress-idle")),
	)
	// A marker that a reload would wipe.
	step("mark the page", chromedp.Evaluate[chromedp.Void](`window.dirsyncMarker = 42`))
	// The event stream must be open before the run starts.
	poll("event stream open", `(() => { const el = document.querySelector('[sse-connect]'); const es = el && el['htmx-internal-data'] && el['htmx-internal-data'].sseEventSource; return !!es && es.readyState === 1 })()`)

	d.closeGate()
	if err := d.worker.RunNow(dsync.TriggerSchedule, dsync.Options{Mode: dsync.ModeSync}); err != nil {
		t.Fatal(err)
	}
	poll("live progress", `!!document.querySelector('[data-testid="progress"] progress')`)
	if shotDir != "" {
		shot("running")
	}
	d.openGate()
	poll("the finished run listed", `document.querySelectorAll('[data-testid="run-row"]').length === 1 && !!document.querySelector('[data-testid="progress-final"]')`)
	last, err := chromedp.Run(ctx, chromedp.Text(sel("last-run-status")))
	if err != nil {
		t.Fatal(err)
	}
	marker, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.dirsyncMarker || 0`))
	if err != nil {
		t.Fatal(err)
	}
	if shotDir != "" {
		shot("done")
		step("open More", chromedp.Navigate(d.ts.URL+"/more"), chromedp.WaitVisible(sel("more")))
		shot("more")
	}
	stopMsgs()
	<-done
	if strings.TrimSpace(last) != "success" {
		t.Fatalf("last run status %q", last)
	}
	if marker != 42 {
		t.Fatal("the page was reloaded; the live update did not happen in place")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}
