package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// newCheckEnv is the preview env with the Bitwarden check registered as
// the app registers it.
func newCheckEnv(t *testing.T) *previewEnv {
	t.Helper()
	p := newPreviewEnv(t, previewOrg(), nil)
	eng := p.srv.engine.(*dsync.Engine)
	p.srv.checks = map[string]SettingsCheck{
		"bitwarden": {Fields: []string{"bitwarden."}, Run: eng.CheckBitwarden, Explain: dsync.ExplainBitwarden},
	}
	return p
}

var htmxHeaders = map[string]string{"HX-Request": "true"}

// check posts form to the Bitwarden check as htmx does and returns the
// fragment.
func (p *previewEnv) check(form url.Values) resp {
	p.t.Helper()
	r := p.do(p.c, "POST", "/settings/check/bitwarden", form, htmxHeaders)
	wantStatus(p.t, r, http.StatusOK)
	return r
}

func TestSettingsCheckBitwarden(t *testing.T) {
	p := newCheckEnv(t)
	ctx := context.Background()
	before, err := p.st.LoadSettings(ctx, store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	a := p.bw.AddMemberWith(bwtest.Member{Email: "a@example.com", ExternalID: "00u1", Status: bwtest.Confirmed})
	p.bw.AddMemberWith(bwtest.Member{Email: "b@example.com", Status: bwtest.Invited})
	p.bw.AddMemberWith(bwtest.Member{Email: "c@example.com", ExternalID: "00u3", Status: bwtest.Revoked})
	p.bw.AddGroup("Engineering", "00g1", a.ID)
	seats, autoscale := 10, 25
	p.bw.SetSeats(&seats, &autoscale)

	// The unsaved form, with the stored secret carried (same server).
	r := p.check(p.fakeForm("sync.intervalMinutes", "45"))
	d := r.doc(t)
	if testid(d, "check-ok").Length() != 1 {
		t.Fatalf("no success answer:\n%s", r.body)
	}
	if strings.Contains(r.body, "<html") {
		t.Error("htmx got a whole page, want the fragment")
	}
	sum := testid(d, "check-summary").Text()
	for _, want := range []string{"Signed in to " + p.bw.URL, "3 members", "1 group"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary %q lacks %q", sum, want)
		}
	}
	facts := strings.Join(column(d, "check-fact"), " | ")
	for _, want := range []string{"0f0e0d0c-0b0a-4909-8807-060504030201", "3 members, 2 linked to a directory", "2 in use of 10", "up to 25"} {
		if !strings.Contains(facts, want) {
			t.Errorf("facts %q lack %q", facts, want)
		}
	}
	after, err := p.st.LoadSettings(ctx, store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if after.Sync.IntervalMinutes != before.Sync.IntervalMinutes {
		t.Error("a check saved the form")
	}
	if n := len(p.bw.Imports()); n != 0 {
		t.Errorf("a check sent %d imports", n)
	}

	t.Run("no JavaScript: the page again, with the result in place", func(t *testing.T) {
		r := p.post(p.c, "/settings/check/bitwarden", p.fakeForm("sync.intervalMinutes", "45", "bitwarden.clientSecret", p.bw.ClientSecret()))
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		if testid(d, "settings-form").Length() != 1 || testid(d, "check-bitwarden").Find(`[data-testid="check-ok"]`).Length() != 1 {
			t.Fatalf("no Settings page with the result in the Bitwarden section:\n%.3000s", r.body)
		}
		if v, _ := testid(d, "field-sync.intervalMinutes").Attr("value"); v != "45" {
			t.Errorf("the typed interval came back as %q", v)
		}
		if testid(d, "settings-errors").Length() != 0 {
			t.Error("a check shows the failed-save banner")
		}
		if strings.Contains(r.body, p.bw.ClientSecret()) {
			t.Error("the typed secret is echoed in the page")
		}
		if !strings.Contains(testid(d, "check-note").Text(), "the Bitwarden client secret you typed") {
			t.Errorf("no note that the typed secret must be entered again: %q", testid(d, "check-note").Text())
		}
	})

	t.Run("a stored secret is not carried to another server", func(t *testing.T) {
		other := bwtest.New(bwtest.Options{})
		defer other.Close()
		r := p.check(p.fakeForm("bitwarden.url", other.URL))
		d := r.doc(t)
		if testid(d, "check-error").Length() != 1 || !strings.Contains(testid(d, "check-summary").Text(), "did not run") {
			t.Fatalf("the check ran with the stored secret sent to another server:\n%s", r.body)
		}
		if href, _ := testid(d, "check-field").Attr("href"); href != "#"+web.FieldID("bitwarden.clientSecret") {
			t.Errorf("the field link goes to %q", href)
		}
		if other.TokenRequests() != 0 {
			t.Error("the other server got a token request")
		}
	})

	t.Run("errors of other sections do not stop the check", func(t *testing.T) {
		d := p.check(p.fakeForm("okta.orgUrl", "", "sync.userFilter", "include:a:b")).doc(t)
		if testid(d, "check-ok").Length() != 1 {
			t.Error("a bad Okta field stopped the Bitwarden check")
		}
	})

	t.Run("unknown section", func(t *testing.T) {
		r := p.do(p.c, "POST", "/settings/check/nothing", p.fakeForm(), htmxHeaders)
		wantStatus(t, r, http.StatusNotFound)
	})

	t.Run("login and same origin required", func(t *testing.T) {
		r := p.do(p.client(), "POST", "/settings/check/bitwarden", p.fakeForm(), nil)
		if r.StatusCode != http.StatusUnauthorized || strings.Contains(r.body, "check-") {
			t.Errorf("without a session: %d %.200s", r.StatusCode, r.body)
		}
		r = p.do(p.c, "POST", "/settings/check/bitwarden", p.fakeForm(), map[string]string{"Sec-Fetch-Site": "cross-site"})
		wantStatus(t, r, http.StatusForbidden)
	})
}

func TestSettingsCheckBitwardenErrors(t *testing.T) {
	p := newCheckEnv(t)
	p.srv.checkTimeout = 500 * time.Millisecond

	notBitwarden := httptest.NewServer(http.NotFoundHandler())
	defer notBitwarden.Close()
	hold := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hold:
		}
	}))
	defer slow.Close()
	defer close(hold)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	p.bw.FailReads(1000, http.StatusForbidden, "")

	for _, tc := range []struct {
		name    string
		form    url.Values
		summary string
	}{
		{"wrong client secret", p.fakeForm("bitwarden.clientSecret", "not-the-secret"), "refused the organization API key"},
		{"wrong client id", p.fakeForm("bitwarden.clientId", "organization.11111111-2222-3333-4444-555555555555", "bitwarden.clientSecret", p.bw.ClientSecret()), "refused the organization API key"},
		{"not a Bitwarden server", p.fakeForm("bitwarden.url", notBitwarden.URL, "bitwarden.clientSecret", "x-secret"), "There is no Bitwarden identity service at " + notBitwarden.URL + "/identity/connect/token"},
		{"self-hosted server unreachable", p.fakeForm("bitwarden.url", closed, "bitwarden.clientSecret", "x-secret"), "could not connect to " + closed},
		{"no answer in time", p.fakeForm("bitwarden.url", slow.URL, "bitwarden.clientSecret", "x-secret"), "did not answer in time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := p.check(tc.form)
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("the check took %s", el)
			}
			d := r.doc(t)
			if testid(d, "check-error").Length() != 1 {
				t.Fatalf("no error answer:\n%s", r.body)
			}
			if role, _ := testid(d, "check-error").Attr("role"); role != "alert" {
				t.Errorf("the error has role %q, want alert", role)
			}
			if got := testid(d, "check-summary").Text(); !strings.Contains(got, tc.summary) {
				t.Errorf("summary %q, want %q", got, tc.summary)
			}
			if testid(d, "check-hint").Length() == 0 {
				t.Error("no hints")
			}
			if strings.Contains(r.body, "not-the-secret") || strings.Contains(r.body, p.bw.ClientSecret()) {
				t.Error("a secret is in the answer")
			}
		})
	}

	t.Run("key accepted, listing refused", func(t *testing.T) {
		d := p.check(p.fakeForm()).doc(t)
		if got := testid(d, "check-summary").Text(); !strings.Contains(got, "accepted the API key but refused") {
			t.Errorf("summary %q", got)
		}
	})
}

// TestErrorLinksReachTheirField: an error summary's link (the Settings
// page's and the check's) points at an element of the page for every
// field, radio choices included (their inputs have an id per value; the
// check's links once pointed at an id no element had).
func TestErrorLinksReachTheirField(t *testing.T) {
	p := newCheckEnv(t)
	d := p.get(p.c, "/settings").doc(t)
	paths := []string{config.FieldBWServer, config.FieldInterval}
	for _, k := range directory.Kinds() {
		for _, f := range k.New().Fields() {
			paths = append(paths, f.Path)
		}
	}
	for _, path := range paths {
		href := errorHref(path)
		if d.Find(href).Length() != 1 {
			t.Errorf("the link for %s goes to %s, which the page does not have", path, href)
		}
	}
}
