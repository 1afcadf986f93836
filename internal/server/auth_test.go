package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/auth"
)

func TestSetupFlow(t *testing.T) {
	e := newEnv(t, false)
	token := e.srv.SetupToken()
	if len(token) < 40 {
		t.Fatalf("setup token %q too short", token)
	}
	if !strings.Contains(e.logs.String(), "no admin yet: open http://127.0.0.1:8080/setup?token="+token+" to create the first admin") {
		t.Fatalf("setup link not logged:\n%s", e.logs.String())
	}
	c := e.client()

	for _, path := range []string{"/setup", "/setup?token=", "/setup?token=wrong" + token[5:]} {
		r := e.get(c, path)
		wantStatus(t, r, http.StatusForbidden)
		if testid(r.doc(t), "setup-bad-token").Length() != 1 || testid(r.doc(t), "setup-form").Length() != 0 {
			t.Fatalf("GET %s: no refusal", path)
		}
	}
	r := e.get(c, "/setup?token="+token)
	wantStatus(t, r, http.StatusOK)
	if v, _ := testid(r.doc(t), "setup-form").Find(`input[name="token"]`).Attr("value"); v != token {
		t.Fatalf("form does not carry the token")
	}

	form := func(tok, user, pw, confirm string) url.Values {
		return url.Values{"token": {tok}, "username": {user}, "password": {pw}, "confirm": {confirm}}
	}
	r = e.post(c, "/setup", form("nope", "root", testPassword, testPassword))
	wantStatus(t, r, http.StatusForbidden)

	invalid := []struct {
		name, user, pw, confirm, field, msg string
	}{
		{"short password", "root", "short", "short", "password", "at least 12 characters"},
		{"confirm differs", "root", testPassword, testPassword + "x", "confirm", "differ"},
		{"bad user name", "ro ot", testPassword, testPassword, "username", "only letters"},
		{"no user name", "", testPassword, testPassword, "username", "required"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(c, "/setup", form(token, tc.user, tc.pw, tc.confirm))
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if got := testid(r.doc(t), "error-"+tc.field).Text(); !strings.Contains(got, tc.msg) {
				t.Fatalf("error-%s = %q, want %q", tc.field, got, tc.msg)
			}
			if strings.Contains(r.body, tc.pw) && len(tc.pw) > 5 {
				t.Fatal("the password is echoed")
			}
		})
	}
	if n, _ := e.st.CountAdmins(context.Background()); n != 0 {
		t.Fatalf("%d admins after refused submits", n)
	}

	r = e.post(c, "/setup", form(token, " Root ", testPassword, testPassword))
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, "/settings")
	if e.srv.SetupToken() != "" {
		t.Fatal("token still valid after the first admin")
	}
	a, err := e.st.GetAdmin(context.Background(), "root")
	if err != nil {
		t.Fatalf("admin not created: %v", err)
	}
	if err := auth.Verify(testPassword, a.PasswordHash); err != nil {
		t.Fatalf("stored hash does not verify: %v", err)
	}
	r = e.get(c, "/settings")
	wantStatus(t, r, http.StatusOK)
	d := r.doc(t)
	if testid(d, "current-user").Text() != "root" || !strings.Contains(testid(d, "flash-success").Text(), "Admin created") {
		t.Fatalf("not logged in after setup:\n%s", r.body)
	}

	// Setup is closed now, whatever the token.
	r = e.get(e.client(), "/setup?token="+token)
	wantStatus(t, r, http.StatusOK)
	if testid(r.doc(t), "setup-done").Length() != 1 || testid(r.doc(t), "setup-login-link").AttrOr("href", "") != "/login" {
		t.Fatal("setup page does not say an admin exists")
	}
	r = e.post(e.client(), "/setup", form(token, "second", testPassword, testPassword))
	if n, _ := e.st.CountAdmins(context.Background()); n != 1 || testid(r.doc(t), "setup-done").Length() != 1 {
		t.Fatalf("second setup: %d admins", n)
	}
	// The token appears in the log only in the setup line, never in request lines.
	if n := strings.Count(e.logs.String(), token); n != 1 {
		t.Fatalf("token appears %d times in the log:\n%s", n, e.logs.String())
	}
}

func TestNoSetupTokenWithAdmin(t *testing.T) {
	e := newEnv(t, true)
	if tok := e.srv.SetupToken(); tok != "" {
		t.Fatalf("SetupToken = %q with an admin present", tok)
	}
	if strings.Contains(e.logs.String(), "no admin yet") {
		t.Fatal("setup link logged with an admin present")
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t, true)
	tests := []struct {
		name, user, pw, next string
		status               int
		location             string
	}{
		{"wrong password", testUser, "not the password!", "", http.StatusUnauthorized, ""},
		{"unknown user", "nobody", testPassword, "", http.StatusUnauthorized, ""},
		{"empty", "", "", "", http.StatusUnauthorized, ""},
		{"success", testUser, testPassword, "", http.StatusSeeOther, "/"},
		{"user name case and spaces", " ADMIN ", testPassword, "", http.StatusSeeOther, "/"},
		{"next", testUser, testPassword, "/history?page=2", http.StatusSeeOther, "/history?page=2"},
		{"open redirect", testUser, testPassword, "//evil.example/x", http.StatusSeeOther, "/x"},
		{"absolute next", testUser, testPassword, "https://evil.example/x", http.StatusSeeOther, "/x"},
		{"backslash", testUser, testPassword, "/\\evil.example", http.StatusSeeOther, "/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := e.client()
			r := e.post(c, "/login", url.Values{"username": {tc.user}, "password": {tc.pw}, "next": {tc.next}})
			wantStatus(t, r, tc.status)
			if tc.status != http.StatusSeeOther {
				if got := testid(r.doc(t), "login-error").Text(); got != "wrong username or password" {
					t.Fatalf("login-error = %q", got)
				}
				if r := e.get(c, "/settings"); r.StatusCode != http.StatusSeeOther {
					t.Fatal("failed login opened a session")
				}
				return
			}
			wantLocation(t, r, tc.location)
			r = e.get(c, "/settings")
			wantStatus(t, r, http.StatusOK)
		})
	}
	// A logged-in admin visiting /login goes on.
	c := e.client()
	e.login(c)
	wantLocation(t, e.get(c, "/login?next=/more"), "/more")
}

func TestLoginThrottle(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	for i := range 5 {
		r := e.post(c, "/login", url.Values{"username": {testUser}, "password": {"wrong password " + string(rune('a'+i))}})
		wantStatus(t, r, http.StatusUnauthorized)
		e.clock.Advance(time.Minute)
	}
	// Even the right password is refused now, from any address.
	r := e.post(c, "/login", url.Values{"username": {testUser}, "password": {testPassword}})
	wantStatus(t, r, http.StatusTooManyRequests)
	if got := testid(r.doc(t), "login-error").Text(); got != "too many failed attempts; try again in 10 minutes" {
		t.Fatalf("login-error = %q", got)
	}
	if r.Header.Get("Retry-After") != "600" {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	e.clock.Advance(10 * time.Minute)
	e.login(c)
}

func TestLogout(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	wantStatus(t, e.get(c, "/"), http.StatusOK)
	r := e.post(c, "/logout", url.Values{})
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, "/login")
	r = e.get(c, "/login")
	if got := testid(r.doc(t), "flash-success").Text(); got != "You have logged out." {
		t.Fatalf("flash = %q", got)
	}
	wantLocation(t, e.get(c, "/"), "/login")
	// Logout is POST only.
	c2 := e.client()
	e.login(c2)
	wantStatus(t, e.get(c2, "/logout"), http.StatusMethodNotAllowed)
	wantStatus(t, e.get(c2, "/"), http.StatusOK)
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, true, func(c *Config) { c.SessionIdle = 30 * time.Minute; c.SessionMax = 2 * time.Hour })
	c := e.client()
	e.login(c)
	// Each request refreshes the idle timer.
	for range 3 {
		e.clock.Advance(29 * time.Minute)
		wantStatus(t, e.get(c, "/settings"), http.StatusOK)
	}
	e.clock.Advance(31 * time.Minute)
	r := e.get(c, "/settings")
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, "/login?next=%2Fsettings")
	r = e.get(c, "/login?next=%2Fsettings")
	if got := testid(r.doc(t), "flash-info").Text(); got != "Your session expired; log in again." {
		t.Fatalf("flash = %q", got)
	}
	if v, _ := testid(r.doc(t), "login-form").Find(`input[name="next"]`).Attr("value"); v != "/settings" {
		t.Fatalf("next = %q", v)
	}

	// An active session still ends after SessionMax.
	e.login(c)
	for range 4 {
		e.clock.Advance(25 * time.Minute)
		wantStatus(t, e.get(c, "/"), http.StatusOK)
	}
	e.clock.Advance(25 * time.Minute) // 125 min after login, 25 min after the last request
	wantStatus(t, e.get(c, "/"), http.StatusSeeOther)
}

func TestPasswordChangeEndsSessions(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	h, _ := auth.Hash("another long passphrase", auth.TestParams)
	if err := e.st.SetAdminPassword(context.Background(), testUser, h); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.get(c, "/"), http.StatusSeeOther)
}

func TestLoginRequired(t *testing.T) {
	e := newEnv(t, true)
	tests := []struct {
		method, path string
		hdr          map[string]string
		status       int
		location     string
	}{
		{"GET", "/", nil, http.StatusSeeOther, "/login"},
		{"GET", "/test", nil, http.StatusSeeOther, "/login?next=%2Ftest"},
		{"GET", "/history", nil, http.StatusSeeOther, "/login?next=%2Fhistory"},
		{"GET", "/settings", nil, http.StatusSeeOther, "/login?next=%2Fsettings"},
		{"GET", "/more", nil, http.StatusSeeOther, "/login?next=%2Fmore"},
		{"GET", "/no-such-page?x=1", nil, http.StatusSeeOther, "/login?next=%2Fno-such-page%3Fx%3D1"},
		{"POST", "/settings", nil, http.StatusUnauthorized, ""},
		{"POST", "/settings/validate", nil, http.StatusUnauthorized, ""},
		{"POST", "/logout", nil, http.StatusUnauthorized, ""},
		{"GET", "/dashboard/status", nil, http.StatusSeeOther, "/login?next=%2Fdashboard%2Fstatus"},
		{"GET", "/events", nil, http.StatusSeeOther, "/login?next=%2Fevents"},
		{"GET", "/audit?page=2", nil, http.StatusSeeOther, "/login?next=%2Faudit%3Fpage%3D2"},
		{"GET", "/settings/export", nil, http.StatusSeeOther, "/login?next=%2Fsettings%2Fexport"},
		{"POST", "/sync", nil, http.StatusUnauthorized, ""},
		{"POST", "/schedule/start", nil, http.StatusUnauthorized, ""},
		{"POST", "/schedule/stop", nil, http.StatusUnauthorized, ""},
		{"GET", "/test?id=x&q=a", nil, http.StatusSeeOther, "/login?next=%2Ftest%3Fid%3Dx%26q%3Da"},
		{"POST", "/test/run", nil, http.StatusUnauthorized, ""},
		{"GET", "/history/1", nil, http.StatusSeeOther, "/login?next=%2Fhistory%2F1"},
		{"GET", "/history/abc", nil, http.StatusSeeOther, "/login?next=%2Fhistory%2Fabc"},
		{"POST", "/cache/clear", nil, http.StatusUnauthorized, ""},
		{"POST", "/history/1/approve", nil, http.StatusUnauthorized, ""},
		{"POST", "/history/1/discard", nil, http.StatusUnauthorized, ""},
		{"POST", "/settings/alerts/test", nil, http.StatusUnauthorized, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			var form url.Values
			if tc.method == "POST" {
				form = url.Values{"sync.intervalMinutes": {"10"}}
			}
			r := e.do(e.client(), tc.method, tc.path, form, tc.hdr)
			wantStatus(t, r, tc.status)
			wantLocation(t, r, tc.location)
		})
	}
	t.Run("htmx", func(t *testing.T) {
		r := e.do(e.client(), "POST", "/settings/validate", url.Values{}, map[string]string{
			"HX-Request": "true", "HX-Current-URL": e.ts.URL + "/settings",
		})
		wantStatus(t, r, http.StatusUnauthorized)
		if got := r.Header.Get("HX-Redirect"); got != "/login?next=%2Fsettings" {
			t.Fatalf("HX-Redirect = %q", got)
		}
	})
	// Public routes.
	for _, p := range []string{"/login", "/healthz", "/readyz", "/static/app.css"} {
		wantStatus(t, e.get(e.client(), p), http.StatusOK)
	}
	if _, err := e.st.LoadSettings(context.Background(), 1); err == nil {
		t.Fatal("an anonymous POST stored settings")
	}
}
