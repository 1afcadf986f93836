package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// pageWidths are the widths no page may scroll sideways at: phones (360,
// 390), a tablet, laptops and a wide screen.
var pageWidths = []int64{360, 390, 768, 1024, 1280, 1440}

// TestBrowserPagesResponsiveAccessible loads every console page in
// Chromium at phone and desktop sizes, in light and dark mode, and checks
// that none scrolls sideways (360–1440 px) and that axe-core finds no
// serious or critical problem (contrast, names, keyboard-reachable
// scroll regions, landmarks).
func TestBrowserPagesResponsiveAccessible(t *testing.T) {
	h := newHeldEnv(t)
	fresh := newDashEnv(t, false)
	// The browser starts after the consoles, so it closes first: their
	// test servers wait for open connections (the event stream).
	b := browsertest.Start(t, 4*time.Minute)
	sel := browsertest.Sel

	var failures []string
	check := func(name string) {
		t.Helper()
		// Measured before the stylesheets have loaded (a loaded machine),
		// an unstyled page is wider than the styled one.
		b.WaitJS(name+" loaded", `document.readyState === "complete"`, 30*time.Second)
		for _, w := range pageWidths {
			b.Viewport(w, 844, w < 700)
			if over, culprits := b.HorizontalOverflow(); over > 0 {
				failures = append(failures, fmt.Sprintf("%s at %d px: scrolls sideways by %d px (%s)", name, w, over, strings.Join(culprits, ", ")))
			}
		}
		for _, size := range []struct {
			w, h   int64
			mobile bool
		}{{390, 844, true}, {1280, 800, false}} {
			b.Viewport(size.w, size.h, size.mobile)
			for _, dark := range []bool{false, true} {
				b.ColorScheme(dark)
				for _, v := range b.Axe("serious", "critical") {
					failures = append(failures, fmt.Sprintf("%s at %dx%d dark=%v: %s", name, size.w, size.h, dark, v))
				}
			}
		}
		b.ColorScheme(false)
		b.Viewport(1280, 800, false)
	}

	b.Do("open the login page", chromedp.Navigate(h.ts.URL+"/login"), chromedp.WaitVisible(sel("login-form")))
	b.ColorScheme(false)
	check("/login")
	b.Do("log in",
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("dashboard")),
	)
	check("/ (held run)")
	b.Do("run a test", chromedp.Navigate(h.ts.URL+"/test"), chromedp.WaitVisible(sel("test-run")), chromedp.Click(sel("test-run")),
		chromedp.WaitVisible(sel("verdict")))
	check("/test (result)")
	for _, p := range []struct{ path, ready string }{
		{"/history", "history"},
		{"/history/1", "run-page"},
		{fmt.Sprintf("/history/%d", h.held), "run-page"},
		{"/settings", "settings-form"},
		{"/more", "more"},
		{"/audit", "page-heading"},
		{"/account", "account"},
		{"/no-such-page", "error-page"},
	} {
		b.Do("open "+p.path, chromedp.Navigate(h.ts.URL+p.path), chromedp.WaitVisible(sel(p.ready)))
		check(p.path)
	}
	// A fresh install: the dashboard's only call to action is Settings.
	b.Do("log in to a fresh install",
		chromedp.Navigate(fresh.ts.URL+"/"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("go-settings")),
	)
	check("/ (fresh install)")
	for _, f := range failures {
		t.Error(f)
	}
	var problems []string
	for _, p := range b.Problems() {
		// The 404 page's own status is reported as a failed load.
		if !strings.Contains(p, "/no-such-page") {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}

// TestBrowserPhoneNavAndKeyboard checks the phone layout and the keyboard
// path: on a 390 px screen the links fold into a menu that opens and
// leads on; the first Tab reaches the skip link, and following it puts
// the focus on the page content.
func TestBrowserPhoneNavAndKeyboard(t *testing.T) {
	e := newEnv(t, true)
	b := browsertest.Start(t, 60*time.Second)
	sel := browsertest.Sel
	b.Viewport(390, 844, true)
	b.Do("log in",
		chromedp.Navigate(e.ts.URL+"/more"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("nav-menu-toggle")),
		chromedp.WaitNotVisible(sel("nav-settings")),
	)
	b.Do("open the menu", chromedp.Click(sel("nav-menu-toggle")), chromedp.WaitVisible(sel("menu-settings")))
	b.Do("follow a menu link", chromedp.Click(sel("menu-settings")), chromedp.WaitVisible(sel("settings-form")))
	if over, culprits := b.HorizontalOverflow(); over > 0 {
		t.Errorf("settings scrolls sideways by %d px: %v", over, culprits)
	}

	// A first run's Settings page puts the focus in its first field (a
	// form to fill in); the skip link is for pages that start at the top.
	b.Do("a page that starts at the top", chromedp.Navigate(e.ts.URL+"/history"), chromedp.WaitVisible(sel("page-heading")))
	b.Do("first Tab", chromedp.KeyEvent("\t"))
	b.WaitJS("skip link focused", `document.activeElement && document.activeElement.dataset.testid === "skip-link"`, 5*time.Second)
	b.Do("follow the skip link", chromedp.KeyEvent("\r"))
	b.WaitJS("content focused", `document.activeElement && document.activeElement.id === "main"`, 5*time.Second)
	b.Do("desktop", chromedp.Navigate(e.ts.URL+"/more"), chromedp.WaitVisible(sel("more")))
	b.Viewport(1280, 800, false)
	b.Do("links inline on a wide screen", chromedp.WaitVisible(sel("nav-settings")), chromedp.WaitNotVisible(sel("nav-menu-toggle")))
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}
