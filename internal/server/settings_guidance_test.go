package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
)

// TestSettingsErrorSummaryAndHelp checks that a rejected save lists every
// problem at the top, each linking to its field, as a sentence, and that
// inputs name their help text and error slot in aria-describedby.
func TestSettingsErrorSummaryAndHelp(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	r := e.post(c, "/settings", url.Values{"directory.type": {"okta"}, "okta.orgUrl": {"not a url"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	d := r.doc(t)
	sum := testid(d, "settings-errors")
	if _, ok := sum.Attr("data-focus-on-load"); !ok || sum.AttrOr("tabindex", "") != "-1" {
		t.Error("the summary does not take the focus")
	}
	links := testid(d, "error-link")
	if links.Length() < 2 {
		t.Fatalf("%d error links: %s", links.Length(), sum.Text())
	}
	found := false
	links.Each(func(_ int, l *goquery.Selection) {
		href := l.AttrOr("href", "")
		if d.Find(href).Length() != 1 {
			t.Errorf("link %q points to no field", href)
		}
		text := l.Text()
		if text == "" || strings.ToUpper(text[:1]) != text[:1] || !strings.HasSuffix(text, ".") && !strings.HasSuffix(text, ")") {
			t.Errorf("summary entry %q is not a sentence", text)
		}
		if href == "#f-okta-orgUrl" {
			found = true
		}
	})
	if !found {
		t.Error("no link to the org URL field")
	}
	in := d.Find("#f-okta-orgUrl")
	desc := strings.Fields(in.AttrOr("aria-describedby", ""))
	if len(desc) != 2 {
		t.Fatalf("aria-describedby %q", desc)
	}
	for _, id := range desc {
		if d.Find("#"+id).Length() != 1 {
			t.Errorf("aria-describedby names %q, which is not on the page", id)
		}
	}
	if help := d.Find("#" + desc[1]).Text(); help == "" {
		t.Error("empty help text")
	}
}

// TestBrowserSettingsErrorFocus saves empty settings in Chromium and
// checks that the focus lands on the error summary, whose first link
// leads to its field.
func TestBrowserSettingsErrorFocus(t *testing.T) {
	e := newEnv(t, true)
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
	b.Do("save empty settings", chromedp.Click(sel("settings-save")), chromedp.WaitVisible(sel("settings-errors")))
	b.WaitJS("focus on the summary", `document.activeElement && document.activeElement.id === "settings-errors"`, 10*time.Second)
	b.Do("follow the first link", chromedp.Click(sel("error-link")))
	b.WaitJS("the field is the target", `location.hash.startsWith("#f-")`, 5*time.Second)
	var problems []string
	for _, p := range b.Problems() {
		if !strings.Contains(p, "status of 422") { // the rejected save itself
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}
