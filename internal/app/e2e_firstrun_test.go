package app

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
)

// TestBrowserFirstRunGuided walks a fresh install the way a new admin
// does, on a fresh database against the fakes, and checks each step's
// guidance: the Dashboard's call to action leads to an empty Settings
// page that says what is needed and starts in its first field; "Check
// connection" tries the Bitwarden values before they are saved; after
// Save the page offers "Run a test" as the next step; the test's result
// leads with its verdict.
func TestBrowserFirstRunGuided(t *testing.T) {
	b := browsertest.Start(t, 2*time.Minute)
	okta, bw := startFakes(t, oktatest.Spec{Users: 30, Groups: 3, MembersPerGroup: 8, Seed: 3})
	a, base := startConsole(t, time.Minute)
	const user, password = "alice", "a long enough passphrase"

	b.Do("set-up",
		chromedp.Navigate(base+"/setup?token="+a.Server.SetupToken()),
		chromedp.WaitVisible(sel("setup-form")),
		chromedp.SendKeys(sel("setup-username"), user),
		chromedp.SendKeys(sel("setup-password"), password),
		chromedp.SendKeys(sel("setup-confirm"), password),
		chromedp.Click(sel("setup-submit")),
		chromedp.WaitVisible(sel("settings-form")),
	)
	b.Do("the Dashboard of a fresh install", chromedp.Navigate(base+"/"), chromedp.WaitVisible(sel("no-settings-notice")))
	if got := b.Text("no-settings-notice"); !strings.Contains(got, "not set up yet") {
		t.Errorf("dashboard notice %q", got)
	}
	b.Do("its call to action", chromedp.Click(sel("go-settings")), chromedp.WaitVisible(sel("first-run")))
	needs := b.Text("first-run")
	for _, want := range []string{"Okta org URL", "API token", "API Services app", "organization's API key", "client secret", "run a test"} {
		if !strings.Contains(needs, want) {
			t.Errorf("the first-run list lacks %q: %q", want, needs)
		}
	}
	b.WaitJS("the first field has the focus",
		`document.activeElement === document.querySelector('[data-testid="settings-form"]').querySelector('input:not([type=hidden]), select, textarea')`, 5*time.Second)
	shots(t, b, "first-run-settings")

	b.Do("fill in Settings and check Bitwarden before saving",
		chromedp.SendKeys(sel("field-okta.orgUrl"), okta.URL),
		chromedp.SendKeys(sel("field-okta.token"), okta.Token()),
		chromedp.Click(sel("field-bitwarden.server-self")),
		chromedp.SendKeys(sel("field-bitwarden.url"), bw.URL),
		chromedp.SendKeys(sel("field-bitwarden.clientId"), bw.ClientID()),
		chromedp.SendKeys(sel("field-bitwarden.clientSecret"), "not-the-secret"),
		chromedp.Click(sel("check-button-bitwarden")),
		chromedp.WaitVisible(sel("check-error")),
	)
	if got := b.Text("check-error"); !strings.Contains(got, "refused the organization API key") {
		t.Errorf("a wrong secret checks as %q", got)
	}
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`(document.querySelector('[data-testid="field-bitwarden.clientSecret"]').value = "") === ""`)); err != nil {
		t.Fatal(err)
	}
	b.Do("the right secret",
		chromedp.SendKeys(sel("field-bitwarden.clientSecret"), bw.ClientSecret()),
		chromedp.Click(sel("check-button-bitwarden")),
		chromedp.WaitVisible(sel("check-ok")),
	)
	if got := b.Text("check-ok"); !strings.Contains(got, "Signed in to "+bw.URL) {
		t.Errorf("check %q", got)
	}
	shots(t, b, "settings-check")
	if n := len(bw.Imports()); n != 0 {
		t.Fatalf("the check sent %d imports", n)
	}

	b.Do("save", chromedp.Click(sel("settings-save")), chromedp.WaitVisible(sel("next-step")))
	if got := b.Text("flash-success"); !strings.HasPrefix(got, "Settings saved") {
		t.Errorf("flash %q", got)
	}
	if got := b.Text("next-step"); !strings.Contains(got, "Next: run a test") || !strings.Contains(got, "nothing is sent") {
		t.Errorf("next step %q", got)
	}
	b.Do("run the test", chromedp.Click(sel("next-run-test")), chromedp.WaitVisible(sel("verdict")))
	b.WaitJS("the test's result", `!!document.querySelector('[data-testid="preview-users"]')`, 30*time.Second)
	if got := b.Text("verdict-text"); !strings.HasPrefix(got, "This sync would invite 30") {
		t.Errorf("verdict %q", got)
	}
	if n := len(bw.Imports()); n != 0 {
		t.Errorf("the test sent %d imports", n)
	}
	b.Do("Settings no longer offers the first test", chromedp.Navigate(base+"/settings"), chromedp.WaitVisible(sel("settings-form")))
	if found, _ := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`!!document.querySelector('[data-testid="next-step"], [data-testid="first-run"]')`)); found {
		t.Error("Settings still leads a first run after the test")
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("browser errors (CSP violations?): %q", p)
	}
}
