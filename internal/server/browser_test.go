package server

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// TestBrowserLiveValidation drives a real browser: log in, have htmx
// explain a malformed filter before saving, save, and see the flash — all
// under the real CSP, with no console errors (a CSP violation is one).
func TestBrowserLiveValidation(t *testing.T) {
	e := newEnv(t, true)
	// The browser starts after the console, so it closes first: the
	// console's test server waits for open connections (the event stream).
	b := browsertest.Start(t, 60*time.Second)
	sel := browsertest.Sel

	b.Do("log in",
		chromedp.Navigate(e.ts.URL+"/settings"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("settings-form")),
	)
	heading := b.Text("page-heading")
	// htmx explains the filter while typing, before any save.
	b.Do("type a bad filter", chromedp.SendKeys(sel("field-sync.userFilter"), "foo:a"))
	b.WaitJS("no live filter error",
		`(document.querySelector('[data-testid="error-sync.userFilter"]')||{textContent:""}).textContent.includes("unknown keyword")`,
		10*time.Second)
	filterErr := b.Text("error-sync.userFilter")
	// Fix it, fill the rest and save (a plain form POST).
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](
		`document.querySelector('[data-testid="field-sync.userFilter"]').value = ""`)); err != nil {
		t.Fatalf("clear the filter: %v", err)
	}
	b.Do("fill",
		chromedp.SendKeys(sel("field-okta.orgUrl"), "https://acme.okta.com"),
		chromedp.SendKeys(sel("field-okta.token"), testToken),
		chromedp.SendKeys(sel("field-bitwarden.clientId"), "organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012"),
		chromedp.SendKeys(sel("field-bitwarden.clientSecret"), testSecret),
	)
	// Save once no live validation is in flight: the page's navigation
	// would abort it, and htmx reports an aborted request as an error.
	b.WaitJS("no validation in flight", `document.querySelectorAll(".htmx-request").length === 0`, 10*time.Second)
	b.Do("save",
		chromedp.Click(sel("settings-save")),
		chromedp.WaitVisible(sel("flash-success")),
	)
	flash := b.Text("flash-success")
	if heading != "Settings" {
		t.Fatalf("heading %q", heading)
	}
	if !strings.HasPrefix(filterErr, `Invalid filter "foo:a"`) {
		t.Fatalf("filter error %q", filterErr)
	}
	if flash != "Settings saved" {
		t.Fatalf("flash %q", flash)
	}
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}
