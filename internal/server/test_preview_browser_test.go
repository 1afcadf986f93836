package server

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/demo"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// TestBrowserTestPreview runs a test from the Test page in Chromium, then
// searches as it types: htmx swaps only the table (the page is not
// reloaded), the address follows the search, and the CSP reports nothing.
func TestBrowserTestPreview(t *testing.T) {
	p := newPreviewEnv(t, previewOrg(), nil)
	// The browser starts after the console, so it closes first: the
	// console's test server waits for open connections (the event stream).
	b := browsertest.Start(t, 60*time.Second)
	sel := browsertest.Sel
	b.Do("log in",
		chromedp.Navigate(p.ts.URL+"/test"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("test-run-form")),
	)
	b.Do("run a test", chromedp.Click(sel("test-run")), chromedp.WaitVisible(sel("verdict")))
	if got := b.Text("number-users"); !strings.HasPrefix(got, "120 ") {
		t.Fatalf("users count %q", got)
	}
	rows := `document.querySelectorAll('[data-testid="preview-user"]').length`
	b.WaitJS("first page", rows+` === 50`, 5*time.Second)
	b.WaitJS("mark the page", `(window.dsMarker = "kept") === "kept"`, time.Second)
	b.Do("type a search", chromedp.SendKeys(sel("preview-search"), "USER00001"))
	b.WaitJS("search results", rows+` === 10 && window.dsMarker === "kept"`, 10*time.Second)
	// …and no search is still in flight (the next click would abort it).
	b.WaitJS("address follows the search", `location.search.includes("q=USER00001") && !document.querySelector(".htmx-request")`, 5*time.Second)
	if os.Getenv("DIRSYNC_SCREENSHOTS") != "" {
		if err := b.Screenshot(os.Getenv("DIRSYNC_SCREENSHOTS") + "/test-preview.png"); err != nil {
			t.Log(err)
		}
	}
	b.Do("groups tab", chromedp.Click(sel("tab-groups")), chromedp.WaitVisible(sel("preview-groups")))
	if n := strings.Count(b.Text("preview-groups"), "Group 0"); n != 4 {
		t.Errorf("%d groups listed, want 4", n)
	}
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}

// TestBrowserTestRunLive runs a test against a fake Okta whose group reads
// wait at a gate: the page answers at once with the running test, its
// progress moves over the event stream (the users phase, then, once the
// gate opens, the groups), and the result replaces it in place — no
// reload, no CSP error.
func TestBrowserTestRunLive(t *testing.T) {
	p := newPreviewEnv(t, oktatest.Generate(oktatest.Spec{Users: 1000, Groups: 8, MembersPerGroup: 40, Seed: 9}), nil)
	// The group reads wait at a gate until the page has shown the users
	// phase, so the progress is seen to move whatever the machine's speed.
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	slow := oktatest.New(oktatest.Options{Latency: 20 * time.Millisecond, Hold: func(r *http.Request, bucket string) {
		if bucket == oktatest.BucketGroups {
			select {
			case <-gate:
			case <-r.Context().Done():
			}
		}
	}})
	t.Cleanup(slow.Close)
	slow.SetOrg(p.org)
	st := demo.Settings(slow, p.bw)
	if err := demo.Save(context.Background(), p.st, store.DefaultProfile, st); err != nil {
		t.Fatal(err)
	}
	b := browsertest.Start(t, 90*time.Second)
	sel := browsertest.Sel
	b.Do("log in",
		chromedp.Navigate(p.ts.URL+"/test"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("test-run-form")),
	)
	b.Do("start a test", chromedp.Click(sel("test-run")), chromedp.WaitVisible(sel("test-running-card")))
	// Record every progress text the page shows from now on; a reload
	// would lose the marker and the record.
	b.Do("watch the progress", chromedp.Evaluate[chromedp.Void](`(() => {
		window.dsMarker = "kept";
		window.dsSeen = new Set();
		const note = () => { const m = document.querySelector('[data-testid="test-progress-message"]'); if (m) window.dsSeen.add(m.textContent.trim()); };
		note();
		new MutationObserver(note).observe(document.body, {subtree: true, childList: true, characterData: true});
	})()`))
	b.WaitJS("the users phase shown", `window.dsSeen.size >= 1`, 30*time.Second)
	release()
	b.Do("the result", chromedp.WaitVisible(sel("verdict")))
	seen, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(window.dsSeen)`))
	if err != nil {
		t.Fatal(err)
	}
	marker, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`window.dsMarker || ""`))
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 2 {
		t.Errorf("the progress did not move: %q", seen)
	}
	if marker != "kept" {
		t.Error("the page was reloaded; the result did not come in place")
	}
	if got := b.Text("verdict-text"); !strings.Contains(got, "This sync would invite") {
		t.Errorf("verdict %q", got)
	}
	if dir := os.Getenv("DIRSYNC_SCREENSHOTS"); dir != "" {
		if err := b.Screenshot(dir + "/test-verdict.png"); err != nil {
			t.Log(err)
		}
	}
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}
