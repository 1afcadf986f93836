package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// TestBrowserWithoutJavaScript drives the console with page scripts off:
// every action must work as a plain form or link.
func TestBrowserWithoutJavaScript(t *testing.T) {
	okta, bw := startFakes(t, oktatest.Spec{Users: 120, Groups: 4, MembersPerGroup: 20, Seed: 21})
	a, base := startConsole(t, time.Minute)
	// The browser starts after the console so that its clean-up (closing
	// open connections) runs before the console's.
	b := browsertest.StartWith(t, 2*time.Minute, browsertest.NoJavaScript)
	const user, password = "bob", "another long passphrase"

	b.Do("set-up",
		chromedp.Navigate(base+"/setup?token="+a.Server.SetupToken()),
		chromedp.WaitVisible(sel("setup-form")),
		chromedp.SendKeys(sel("setup-username"), user),
		chromedp.SendKeys(sel("setup-password"), password),
		chromedp.SendKeys(sel("setup-confirm"), password),
		chromedp.Click(sel("setup-submit")),
		chromedp.WaitVisible(sel("settings-form")),
	)
	// A bad filter is explained after a plain POST (no live validation).
	b.Do("save with a bad filter",
		chromedp.SendKeys(sel("field-okta.orgUrl"), okta.URL),
		chromedp.SendKeys(sel("field-okta.token"), okta.Token()),
		chromedp.Click(sel("field-bitwarden.server-self")),
		chromedp.SendKeys(sel("field-bitwarden.url"), bw.URL),
		chromedp.SendKeys(sel("field-bitwarden.clientId"), bw.ClientID()),
		chromedp.SendKeys(sel("field-bitwarden.clientSecret"), bw.ClientSecret()),
		chromedp.SendKeys(sel("field-sync.userFilter"), "foo:a"),
		chromedp.Click(sel("settings-save")),
		chromedp.WaitVisible(sel("error-sync.userFilter")),
	)
	if msg := b.Text("error-sync.userFilter"); !strings.Contains(msg, `unknown keyword "foo"`) {
		t.Fatalf("filter error %q", msg)
	}
	b.Do("fix and save",
		chromedp.Clear(sel("field-sync.userFilter")),
		chromedp.SendKeys(sel("field-okta.token"), okta.Token()),
		chromedp.SendKeys(sel("field-bitwarden.clientSecret"), bw.ClientSecret()),
		chromedp.Click(sel("settings-save")),
		chromedp.WaitVisible(sel("flash-success")),
	)
	// Check connection posts the whole form; the page comes back with the
	// answer in the Bitwarden section (the stored secret is carried: same
	// server).
	b.Do("check Bitwarden with a plain form",
		chromedp.Click(sel("check-button-bitwarden")),
		chromedp.WaitVisible(sel("check-ok")),
	)
	if got := b.Text("check-summary"); !strings.HasPrefix(got, "Signed in to "+bw.URL) {
		t.Errorf("check without JavaScript: %q", got)
	}
	b.Do("test and search with a plain form",
		chromedp.Navigate(base+"/test"),
		chromedp.Click(sel("test-run")),
		chromedp.WaitVisible(sel("preview-users")),
		chromedp.SendKeys(sel("preview-search"), "user000007@"),
		chromedp.Click(sel("preview-search-submit")),
	)
	// The old page has the same element: wait for the searched one.
	deadline := time.Now().Add(browsertest.StepTimeout)
	for m := b.Text("preview-matches"); !strings.HasPrefix(m, "1 of 120"); m = b.Text("preview-matches") {
		if time.Now().After(deadline) {
			t.Fatalf("search result %q", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Do("sync now",
		chromedp.Navigate(base+"/"),
		chromedp.Click(sel("sync-now")),
		chromedp.WaitVisible(sel("flash-success")),
	)
	waitRuns(t, a, "the sync", func(runs []store.Run) bool { return len(runs) == 1 && runs[0].Status == store.StatusSuccess })
	b.Do("history and the run page",
		chromedp.Navigate(base+"/history"),
		chromedp.Click(sel("run-link")),
		chromedp.WaitVisible(sel("changes")),
	)
	// The confirmation box is required (the browser insists; the handler
	// tests cover the server's own refusal).
	b.Do("clear the cache after confirming",
		chromedp.Navigate(base+"/more"),
		chromedp.Click(sel("cache-clear-confirm")),
		chromedp.Click(sel("cache-clear-submit")),
		chromedp.WaitVisible(sel("flash-success")),
	)
	if st, _ := a.Store.GetSyncState(context.Background(), store.DefaultProfile); st.Hash != "" {
		t.Error("the cache was not cleared")
	}
	b.Do("log out",
		chromedp.Click(sel("logout")),
		chromedp.WaitVisible(sel("login-form")),
	)
	// The 422 of the refused save is logged by Chromium; it is expected.
	for _, p := range b.Problems() {
		if !strings.Contains(p, "status of 422") {
			t.Errorf("browser error: %s", p)
		}
	}
}
