package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// captureServer records every request's Authorization header and body: it
// stands for a host an attacker controls.
type captureServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newCaptureServer(t *testing.T) *captureServer {
	c := &captureServer{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.seen = append(c.seen, r.Method+" "+r.URL.Path+" auth="+r.Header.Get("Authorization")+" body="+string(b))
		c.mu.Unlock()
		http.Error(w, "nothing here", http.StatusNotFound)
	}))
	t.Cleanup(c.Close)
	return c
}

// leaked reports the requests that carried one of the secrets.
func (c *captureServer) leaked(secrets ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.seen {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(s, sec) {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestSecretsBoundToTheirHostOnSave: changing where a secret goes, with
// its field left empty, asks for it again instead of keeping it.
func TestSecretsBoundToTheirHostOnSave(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	wantStatus(t, e.post(c, "/settings", validForm()), http.StatusSeeOther)
	for _, tc := range []struct {
		name, field, want string
		kv                []string
	}{
		{"okta org URL", "okta.token", "org URL changed", []string{"okta.orgUrl", "https://evil.example.com"}},
		{"bitwarden server", "bitwarden.clientSecret", "server or client id changed", []string{"bitwarden.server", web.ServerChoiceSelf, "bitwarden.url", "https://vault.evil.example.com"}},
		{"bitwarden client id", "bitwarden.clientSecret", "server or client id changed", []string{"bitwarden.clientId", "organization.99999999-aaaa-bbbb-cccc-123456789012"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := append([]string{"okta.token", "", "bitwarden.clientSecret", ""}, tc.kv...)
			r := e.post(c, "/settings", with(validForm(), kv...))
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if got := testid(r.doc(t), "error-"+tc.field).Text(); !strings.Contains(got, tc.want) || !strings.Contains(got, "enter") {
				t.Fatalf("error next to %s = %q, want it to say %q and to enter it again", tc.field, got, tc.want)
			}
			got, err := e.st.LoadSettings(context.Background(), store.DefaultProfile)
			if err != nil {
				t.Fatal(err)
			}
			if okta.Of(got.Directory).OrgURL != "https://acme.okta.com" || got.Bitwarden.Server != "eu" {
				t.Fatalf("settings were saved: %+v", got)
			}
		})
	}
	// The same URL written differently (trailing slash, case) still keeps it.
	wantStatus(t, e.post(c, "/settings", with(validForm(), "okta.token", "", "okta.orgUrl", "https://ACME.okta.com/")), http.StatusSeeOther)
	// Entering the secret again with the new host is accepted.
	wantStatus(t, e.post(c, "/settings", with(validForm(), "okta.token", "new-token-for-the-new-org", "okta.orgUrl", "https://other.okta.com")), http.StatusSeeOther)
}

// TestUnsavedTestSendsNoStoredSecretElsewhere: "Test these settings" with
// an empty secret field and the org URL (or Bitwarden server) pointed at
// another host sends nothing there.
func TestUnsavedTestSendsNoStoredSecretElsewhere(t *testing.T) {
	p := newPreviewEnv(t, previewOrg(), nil)
	saved, err := p.st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	token, secret := okta.Of(saved.Directory).Token.Reveal(), saved.Bitwarden.ClientSecret.Reveal()
	evil := newCaptureServer(t)

	r := p.post(p.c, "/test/run", p.fakeForm("okta.orgUrl", evil.URL))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := testid(r.doc(t), "error-okta.token").Text(); !strings.Contains(got, "org URL changed") {
		t.Fatalf("token error %q", got)
	}
	r = p.post(p.c, "/test/run", p.fakeForm("bitwarden.url", evil.URL))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := testid(r.doc(t), "error-bitwarden.clientSecret").Text(); !strings.Contains(got, "server or client id changed") {
		t.Fatalf("client secret error %q", got)
	}
	if l := evil.leaked(token, secret); len(l) > 0 || len(evil.seen) > 0 {
		t.Fatalf("the other host was called: %v", evil.seen)
	}

	// The engine itself refuses too, whoever calls it.
	eng := dsync.New(p.st, "v-test")
	for _, mod := range []func(*config.Settings){
		func(s *config.Settings) { config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = evil.URL }) },
		func(s *config.Settings) { s.Bitwarden.Server = evil.URL },
	} {
		s := saved
		config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = "" })
		s.Bitwarden.ClientSecret = ""
		mod(&s)
		_, err := eng.Run(context.Background(), store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerTest, Mode: dsync.ModeTest, Settings: &s})
		if err == nil || !strings.Contains(err.Error(), "enter") {
			t.Fatalf("engine run with a moved host: %v", err)
		}
	}
	if len(evil.seen) > 0 {
		t.Fatalf("the other host was called: %v", evil.seen)
	}
	// With the same hosts the stored secrets are still used.
	page, _ := p.runTest(p.fakeForm())
	if testid(page.doc(t), "preview-error").Length() != 0 {
		t.Fatalf("the unchanged test failed: %s", testid(page.doc(t), "preview-error").Text())
	}
}
