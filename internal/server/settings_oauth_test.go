package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
	"github.com/dirsync/dirsync/internal/store"
)

func testAppKey(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// oauthForm is validForm with the OAuth service app chosen.
func oauthForm(key string) url.Values {
	return with(validForm(), "okta.authMethod", "oauth", "okta.clientId", "0oa1b2c3d4EXAMPLE5x7",
		"okta.privateKey", key, "okta.keyId", "k1")
}

func TestSettingsOAuthServiceApp(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	ctx := context.Background()
	load := func() config.Settings {
		t.Helper()
		s, err := e.st.LoadSettings(ctx, store.DefaultProfile)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// A new profile offers both methods, the API token chosen, with the
	// Okta steps for a service app.
	d := e.get(c, "/settings").doc(t)
	if _, ok := testid(d, "field-okta.authMethod-token").Attr("checked"); !ok {
		t.Fatal("API token not chosen by default")
	}
	steps := testid(d, "steps-okta.clientId").Text()
	for _, want := range []string{"API Services", "Public key / Private key", "okta.users.read", "okta.groups.read", "Read-only Administrator", "DPoP"} {
		if !strings.Contains(steps, want) {
			t.Errorf("the Okta steps do not mention %q", want)
		}
	}

	// Start with a token, then switch to a service app: the token goes.
	wantStatus(t, e.post(c, "/settings", validForm()), http.StatusSeeOther)
	key := testAppKey(t)
	// The token field still filled in (hidden by CSS) is ignored.
	wantStatus(t, e.post(c, "/settings", oauthForm(key)), http.StatusSeeOther)
	got := load()
	if okta.Of(got.Directory).Token.IsSet() || okta.Of(got.Directory).ClientID != "0oa1b2c3d4EXAMPLE5x7" || okta.Of(got.Directory).KeyID != "k1" ||
		strings.TrimSpace(okta.Of(got.Directory).PrivateKey.Reveal()) != strings.TrimSpace(key) {
		t.Fatalf("saved okta %+v (token set %v)", okta.Of(got.Directory), okta.Of(got.Directory).Token.IsSet())
	}

	// Shown again: OAuth chosen, key "set" and never echoed.
	r := e.get(c, "/settings")
	d = r.doc(t)
	if _, ok := testid(d, "field-okta.authMethod-oauth").Attr("checked"); !ok {
		t.Fatal("OAuth not chosen for a service-app profile")
	}
	if testid(d, "status-okta.privateKey").Text() != "set" || testid(d, "field-okta.clientId").AttrOr("value", "") != "0oa1b2c3d4EXAMPLE5x7" {
		t.Fatal("stored app not shown")
	}
	if strings.Contains(r.body, "PRIVATE KEY-----\n") || testid(d, "field-okta.privateKey").Text() != "" {
		t.Fatal("the private key is echoed in the page")
	}

	// An empty key field keeps the stored key.
	wantStatus(t, e.post(c, "/settings", with(oauthForm(""), "sync.intervalMinutes", "20")), http.StatusSeeOther)
	if got := load(); !okta.Of(got.Directory).PrivateKey.IsSet() || got.Sync.IntervalMinutes != 20 {
		t.Fatal("stored key not kept")
	}

	// A bad key: its own message, nothing saved, not echoed, retype note.
	bad := "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"
	r = e.post(c, "/settings", oauthForm(bad))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	d = r.doc(t)
	if msg := testid(d, "error-okta.privateKey").Text(); !strings.Contains(msg, "not the private key") {
		t.Fatalf("key error %q", msg)
	}
	if strings.Contains(r.body, "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE") || testid(d, "retype-okta.privateKey").Length() != 1 {
		t.Fatal("bad key echoed, or no note to enter it again")
	}

	// No client ID: said on the client ID, not as "token required".
	r = e.post(c, "/settings", with(oauthForm(""), "okta.clientId", ""))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	d = r.doc(t)
	if msg := testid(d, "error-okta.clientId").Text(); !strings.Contains(msg, "client ID is required") {
		t.Fatalf("client id error %q", msg)
	}
	if msg := testid(d, "error-okta.token").Text(); msg != "" {
		t.Fatalf("token error in OAuth mode: %q", msg)
	}

	// Another org URL: the stored key must be entered again.
	r = e.post(c, "/settings", with(oauthForm(""), "okta.orgUrl", "https://other.okta.com"))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if msg := testid(r.doc(t), "error-okta.privateKey").Text(); !strings.Contains(msg, "enter the service app's private key again") {
		t.Fatalf("key error after an org change %q", msg)
	}

	// Back to a token: the app's fields and key go.
	wantStatus(t, e.post(c, "/settings", with(oauthForm(""), "okta.authMethod", "token")), http.StatusSeeOther)
	got = load()
	if okta.Of(got.Directory).UsesOAuth() || okta.Of(got.Directory).KeyID != "" || okta.Of(got.Directory).Token.Reveal() != testToken {
		t.Fatalf("after switching back: %+v", okta.Of(got.Directory))
	}
}

// TestBrowserOktaAuthChoice: the page shows only the chosen sign-in
// method's fields (CSS, no script), and a service app saves from a real
// browser.
func TestBrowserOktaAuthChoice(t *testing.T) {
	e := newEnv(t, true)
	b := browsertest.Start(t, 60*time.Second)
	sel := browsertest.Sel
	visible := func(id string) string {
		return `(() => { const el = document.querySelector('[data-testid="` + id + `"]'); return !!el && el.offsetParent !== null })()`
	}
	b.Do("log in",
		chromedp.Navigate(e.ts.URL+"/settings"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("settings-form")),
	)
	b.WaitJS("token field shown", visible("field-okta.token"), 5*time.Second)
	b.WaitJS("app fields hidden", "!"+visible("field-okta.clientId"), 5*time.Second)
	key := testAppKey(t)
	b.Do("choose OAuth and fill in",
		chromedp.Click(sel("field-okta.authMethod-oauth")),
		chromedp.WaitVisible(sel("field-okta.clientId")),
		chromedp.SendKeys(sel("field-okta.orgUrl"), "https://acme.okta.com"),
		chromedp.SendKeys(sel("field-okta.clientId"), "0oa1b2c3d4EXAMPLE5x7"),
		chromedp.SetValue(sel("field-okta.privateKey"), key),
		chromedp.SendKeys(sel("field-bitwarden.clientId"), "organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012"),
		chromedp.SendKeys(sel("field-bitwarden.clientSecret"), testSecret),
	)
	b.WaitJS("token field hidden", "!"+visible("field-okta.token"), 5*time.Second)
	b.Do("save", chromedp.Click(sel("settings-save")), chromedp.WaitVisible(sel("flash-success")))
	got, err := e.st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if okta.Of(got.Directory).ClientID != "0oa1b2c3d4EXAMPLE5x7" || !okta.Of(got.Directory).PrivateKey.IsSet() || okta.Of(got.Directory).Token.IsSet() {
		t.Fatalf("saved %+v", okta.Of(got.Directory))
	}
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("browser reported errors: %q", problems)
	}
}

// The Test page's hints speak of the service app, not of an API token,
// when settings use one.
func TestErrorHintsOAuth(t *testing.T) {
	st := config.Defaults()
	config.Edit(&st.Directory, func(o *okta.Settings) { o.ClientID = "0oa1" })
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&okta.TokenError{Status: 400, Code: "invalid_scope", Scopes: okta.DefaultScopes}, "grant okta.users.read and okta.groups.read"},
		{&okta.TokenError{Status: 401, Code: "invalid_client", ClientID: "0oa1"}, "Public key / Private key"},
		{&okta.APIError{Method: "GET", Path: "/api/v1/users", Status: 403, Code: "E0000006", OAuth: true}, "Read-only Administrator role"},
		{&okta.APIError{Method: "GET", Path: "/api/v1/users", Status: 401, Code: "E0000011", OAuth: true}, "Okta API Scopes"},
	} {
		hints := strings.Join(errorHints(tc.err, st), " ")
		if !strings.Contains(hints, tc.want) || strings.Contains(hints, "API token") {
			t.Errorf("%v: hints %q, want %q and no API token advice", tc.err, hints, tc.want)
		}
	}
}
