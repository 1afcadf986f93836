package server

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPath finds Chromium, or skips the test.
func browserPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	for _, p := range []string{os.Getenv("DIRSYNC_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (set DIRSYNC_CHROMIUM)")
	return ""
}

// TestBrowserLiveValidation drives a real browser: log in, have htmx
// explain a malformed filter before saving, save, and see the flash — all
// under the real CSP, with no console errors (a CSP violation is one).
func TestBrowserLiveValidation(t *testing.T) {
	exe := browserPath(t)
	e := newEnv(t, true)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 45*time.Second)
	defer cancel()

	// Collect console messages (CSP violations are browser-log errors).
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

	sel := func(id string) string { return `[data-testid="` + id + `"]` }
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel(id)))
		if err != nil {
			t.Fatalf("text of %s: %v", id, err)
		}
		return s
	}
	step("log in",
		chromedp.Navigate(e.ts.URL+"/settings"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("settings-form")),
	)
	heading := text("page-heading")
	// htmx explains the filter while typing, before any save.
	step("type a bad filter", chromedp.SendKeys(sel("field-sync.userFilter"), "foo:a"))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`(document.querySelector('[data-testid="error-sync.userFilter"]')||{textContent:""}).textContent.includes("unknown keyword")`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("no live filter error: %v", err)
	}
	filterErr := text("error-sync.userFilter")
	// Fix it, fill the rest and save (a plain form POST).
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.querySelector('[data-testid="field-sync.userFilter"]').value = ""`)); err != nil {
		t.Fatalf("clear the filter: %v", err)
	}
	step("fill and save",
		chromedp.SendKeys(sel("field-okta.orgUrl"), "https://acme.okta.com"),
		chromedp.SendKeys(sel("field-okta.token"), testToken),
		chromedp.SendKeys(sel("field-bitwarden.clientId"), "organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012"),
		chromedp.SendKeys(sel("field-bitwarden.clientSecret"), testSecret),
		chromedp.Click(sel("settings-save")),
		chromedp.WaitVisible(sel("flash-success")),
	)
	flash := text("flash-success")
	stopMsgs()
	<-done
	if heading != "Settings" {
		t.Fatalf("heading %q", heading)
	}
	if !strings.Contains(filterErr, `invalid filter "foo:a"`) {
		t.Fatalf("filter error %q", filterErr)
	}
	if flash != "Settings saved" {
		t.Fatalf("flash %q", flash)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}
