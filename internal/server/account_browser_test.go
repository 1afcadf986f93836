package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// TestBrowserAccountPage drives a real browser through the Account page:
// reach it from the user name in the header, see both sessions (the
// browser's, marked, and another one), sign out everywhere else — the
// other session really ends — and change the password, then log in with
// the new one.
func TestBrowserAccountPage(t *testing.T) {
	e := newEnv(t, true)
	other := e.client()
	e.login(other) // a second session, say on another computer
	b := browsertest.Start(t, 90*time.Second)
	sel := browsertest.Sel
	rows := `document.querySelectorAll('[data-testid="session-row"]').length`

	b.Do("log in and open the account page",
		chromedp.Navigate(e.ts.URL+"/login"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("current-user")),
		chromedp.Click(sel("current-user")),
		chromedp.WaitVisible(sel("sessions-table")),
	)
	b.WaitJS("two sessions listed", rows+` === 2`, 10*time.Second)
	if got := b.Text("session-current"); got != "this browser" {
		t.Fatalf("current marker %q", got)
	}
	browsers := b.Text("sessions-table")
	if !strings.Contains(browsers, "Chrome") || !strings.Contains(browsers, "Go HTTP client") || !strings.Contains(browsers, "127.0.0.1") {
		t.Fatalf("sessions table does not name the browsers and address:\n%s", browsers)
	}

	b.Do("sign out everywhere else",
		chromedp.Click(sel("sign-out-others")),
		chromedp.WaitVisible(sel("flash-success")),
	)
	if got := b.Text("flash-success"); got != "1 other session was signed out." {
		t.Fatalf("flash %q", got)
	}
	b.WaitJS("one session left", rows+` === 1`, 10*time.Second)
	if r := e.get(other, "/"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the other session still works: %d", r.StatusCode)
	}

	const newPassword = "a brand new long passphrase"
	// Drop the previous flash so that waiting for one waits for the answer
	// to this POST.
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](
		`document.querySelectorAll('[data-testid="flash-success"]').forEach(e => e.remove()); ""`)); err != nil {
		t.Fatalf("clear the flash: %v", err)
	}
	b.Do("change the password",
		chromedp.SendKeys(sel("password-current"), testPassword),
		chromedp.SendKeys(sel("password-new"), newPassword),
		chromedp.SendKeys(sel("password-confirm"), newPassword),
		chromedp.Click(sel("password-submit")),
		chromedp.WaitVisible(sel("flash-success")),
	)
	if got := b.Text("flash-success"); !strings.Contains(got, "Password changed") {
		t.Fatalf("flash %q", got)
	}
	b.Do("log out and in with the new password",
		chromedp.Click(sel("logout")),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), newPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("current-user")),
	)
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}
