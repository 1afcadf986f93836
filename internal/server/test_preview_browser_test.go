package server

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// TestBrowserTestPreview runs a test from the Test page in Chromium, then
// searches as it types: htmx swaps only the table (the page is not
// reloaded), the address follows the search, and the CSP reports nothing.
func TestBrowserTestPreview(t *testing.T) {
	p := newPreviewEnv(t, previewOrg(), nil)
	// The browser starts after the console, so it closes first: the
	// console's test server waits for open connections (the event stream).
	b := browsertest.Start(t, 60*time.Second)
	b.ScreenshotOnFailure("")
	sel := browsertest.Sel
	b.Do("log in",
		chromedp.Navigate(p.ts.URL+"/test"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("test-run-form")),
	)
	b.Do("run a test", chromedp.Click(sel("test-run")), chromedp.WaitVisible(sel("preview-counts")))
	if got := b.Text("count-users"); got != "120" {
		t.Fatalf("users count %q", got)
	}
	rows := `document.querySelectorAll('[data-testid="preview-user"]').length`
	b.WaitJS("first page", rows+` === 50`, 5*time.Second)
	b.WaitJS("mark the page", `(window.dsMarker = "kept") === "kept"`, time.Second)
	b.Do("type a search", chromedp.SendKeys(sel("preview-search"), "USER00001"))
	b.WaitJS("search results", rows+` === 10 && window.dsMarker === "kept"`, 10*time.Second)
	b.WaitJS("address follows the search", `location.search.includes("q=USER00001")`, 5*time.Second)
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
