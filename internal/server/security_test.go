package server

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/web"
)

func TestCrossOriginPOSTRefused(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	form := validForm()
	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
	}{
		{"sec-fetch-site cross-site", "/settings", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"sec-fetch-site same-site", "/settings", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"origin mismatch", "/settings", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"login cross-site", "/login", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"logout cross-site", "/logout", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same origin", "/settings", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": e.ts.URL}, http.StatusSeeOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(c, "POST", tc.path, form, tc.hdr)
			wantStatus(t, r, tc.status)
			if tc.status == http.StatusForbidden {
				if !strings.Contains(r.body, "cross-origin request refused") {
					t.Fatalf("body %q", r.body)
				}
				if r.Header.Get("Content-Security-Policy") == "" {
					t.Fatal("refusal lacks security headers")
				}
			}
		})
	}
	// Only the same-origin POST got through; the session survived the
	// cross-site logout attempt.
	r := e.get(c, "/settings")
	wantStatus(t, r, http.StatusOK)
	if n := strings.Count(e.logs.String(), "cross-origin request refused"); n != 5 {
		t.Fatalf("%d refusals logged, want 5", n)
	}
}

func TestTrustedPublicOrigin(t *testing.T) {
	e := newEnv(t, true, func(c *Config) { c.PublicURL = "https://dirsync.example.com/" })
	c := e.client()
	e.login(c)
	r := e.do(c, "POST", "/settings", validForm(), map[string]string{"Origin": "https://dirsync.example.com"})
	wantStatus(t, r, http.StatusSeeOther)
	// With an https public URL the cookie is Secure even over plain http.
	cookie := r.Header.Get("Set-Cookie")
	for _, want := range []string{"dirsync_session=", "HttpOnly", "Secure", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Fatalf("Set-Cookie %q lacks %q", cookie, want)
		}
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	e := newEnv(t, true)
	r := e.post(e.client(), "/login", url.Values{"username": {testUser}, "password": {testPassword}})
	cookie := r.Header.Get("Set-Cookie")
	for _, want := range []string{"dirsync_session=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Fatalf("Set-Cookie %q lacks %q", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") || strings.Contains(cookie, "Max-Age") {
		t.Fatalf("plain-http session cookie %q is Secure or persistent", cookie)
	}
	if len(r.Header.Values("Set-Cookie")) != 1 {
		t.Fatalf("%d Set-Cookie headers", len(r.Header.Values("Set-Cookie")))
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	for _, p := range []string{"/", "/settings", "/login", "/healthz", "/static/app.css", "/no-such-page", "/setup"} {
		r := e.get(c, p)
		h := r.Header
		csp := h.Get("Content-Security-Policy")
		if csp != contentSecurityPolicy {
			t.Errorf("%s: CSP %q", p, csp)
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows unsafe sources", p)
		}
		for k, v := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "same-origin",
			"X-Frame-Options":        "DENY",
		} {
			if h.Get(k) != v {
				t.Errorf("%s: %s = %q, want %q", p, k, h.Get(k), v)
			}
		}
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(h.Get("X-Request-Id")) {
			t.Errorf("%s: X-Request-Id %q", p, h.Get("X-Request-Id"))
		}
		if p != "/static/app.css" && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", p, h.Get("Cache-Control"))
		}
	}
	// Each request line has method, path, status and request id.
	if !regexp.MustCompile(`msg=request method=GET path=/settings status=200 duration=\S+ request_id=[0-9a-f]{16}`).MatchString(e.logs.String()) {
		t.Fatalf("no request log line:\n%s", e.logs.String())
	}
}

// checkNoInline fails if a page has inline script, inline style, event
// handler attributes or javascript: URLs, all of which the CSP blocks.
func checkNoInline(t *testing.T, name, body string) {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if d.Find("[style]").Length() > 0 || d.Find("style").Length() > 0 {
		t.Errorf("%s: inline style", name)
	}
	d.Find("script").Each(func(_ int, s *goquery.Selection) {
		if src, ok := s.Attr("src"); !ok || !strings.HasPrefix(src, "/static/") || strings.TrimSpace(s.Text()) != "" {
			t.Errorf("%s: inline or foreign script %q", name, src)
		}
	})
	d.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") || strings.HasPrefix(strings.ToLower(a.Key), "hx-on") {
				t.Errorf("%s: event handler attribute %s", name, a.Key)
			}
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
				t.Errorf("%s: javascript: URL in %s", name, a.Key)
			}
		}
	})
	if regexp.MustCompile(`(?i)style\s*=`).MatchString(body) {
		t.Errorf("%s: style= in the markup", name)
	}
}

func TestNoInlineScriptOrStyle(t *testing.T) {
	e := newEnv(t, false)
	anon := e.client()
	pages := map[string]string{}
	pages["setup bad token"] = e.get(anon, "/setup").body
	pages["setup form"] = e.get(anon, "/setup?token="+e.srv.SetupToken()).body
	pages["setup errors"] = e.post(anon, "/setup", url.Values{"token": {e.srv.SetupToken()}, "username": {"x y"}}).body
	r := e.post(anon, "/setup", url.Values{"token": {e.srv.SetupToken()}, "username": {testUser}, "password": {testPassword}, "confirm": {testPassword}})
	wantStatus(t, r, http.StatusSeeOther)
	pages["login"] = e.get(e.client(), "/login").body
	pages["login error"] = e.post(e.client(), "/login", url.Values{"username": {"x"}, "password": {"y"}}).body
	for _, p := range []string{"/", "/test", "/history", "/settings", "/more", "/no-such-page", "/setup"} {
		pages[p] = e.get(anon, p).body
	}
	bad := validForm()
	bad.Set("okta.orgUrl", "ftp://x")
	bad.Set("sync.userFilter", "foo:a")
	bad.Set("sync.intervalMinutes", "x")
	pages["settings errors"] = e.post(anon, "/settings", bad).body
	pages["settings fragment"] = e.do(anon, "GET", "/settings", nil, map[string]string{"HX-Request": "true"}).body
	for name, body := range pages {
		if !strings.Contains(body, "<") {
			t.Fatalf("%s: empty page", name)
		}
		checkNoInline(t, name, body)
	}
	// Every asset a page references is served.
	d, _ := goquery.NewDocumentFromReader(strings.NewReader(pages["/settings"]))
	n := 0
	d.Find(`script[src], link[rel="stylesheet"]`).Each(func(_ int, s *goquery.Selection) {
		u := s.AttrOr("src", s.AttrOr("href", ""))
		n++
		r := e.get(anon, u)
		if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: status %d, Cache-Control %q", u, r.StatusCode, r.Header.Get("Cache-Control"))
		}
	})
	if n != 5 { // Pico, app.css, htmx, its SSE extension, app.js
		t.Fatalf("%d assets referenced, want 5", n)
	}
	if v := d.Find(`meta[name="htmx-config"]`).AttrOr("content", ""); !strings.Contains(v, `"includeIndicatorStyles":false`) {
		t.Fatalf("htmx-config %q", v)
	}
}

func TestStatic(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	tests := []struct {
		path, status, cache, ctype string
	}{
		{web.Asset("app.css"), "200", "public, max-age=31536000, immutable", "text/css; charset=utf-8"},
		{web.Asset("vendor/htmx/htmx.min.js"), "200", "public, max-age=31536000, immutable", "text/javascript; charset=utf-8"},
		{"/static/app.css", "200", "no-cache", "text/css; charset=utf-8"},
		{"/static/app.css?v=stale", "200", "no-cache", "text/css; charset=utf-8"},
		{"/static/vendor/pico/LICENSE.md", "200", "no-cache", ""},
		{"/static/", "404", "", ""},
		{"/static/vendor/", "404", "", ""},
		{"/static/nope.js", "404", "", ""},
		{"/static/../go.mod", "404", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := e.get(c, tc.path)
			if got := r.Status[:3]; got != tc.status {
				t.Fatalf("status %s, want %s", r.Status, tc.status)
			}
			if tc.cache != "" && r.Header.Get("Cache-Control") != tc.cache {
				t.Fatalf("Cache-Control %q, want %q", r.Header.Get("Cache-Control"), tc.cache)
			}
			if tc.ctype != "" && r.Header.Get("Content-Type") != tc.ctype {
				t.Fatalf("Content-Type %q, want %q", r.Header.Get("Content-Type"), tc.ctype)
			}
		})
	}
	// A revalidation with the ETag answers 304.
	r := e.do(c, "GET", web.Asset("app.css"), nil, map[string]string{"If-None-Match": `"` + web.AssetVersion("app.css") + `"`})
	wantStatus(t, r, http.StatusNotModified)
}

func TestLayout(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	r := e.get(c, "/history")
	d := r.doc(t)
	for _, it := range web.NavItems {
		if href := testid(d, "nav-"+it.Key).AttrOr("href", ""); href != it.Href {
			t.Errorf("nav-%s href %q", it.Key, href)
		}
	}
	if testid(d, "nav-history").AttrOr("aria-current", "") != "page" || testid(d, "nav-settings").AttrOr("aria-current", "") != "" {
		t.Error("active nav item not marked")
	}
	if testid(d, "version").Text() != "dirsync v-test" || testid(d, "current-user").Text() != testUser {
		t.Error("footer version or user missing")
	}
	if f := testid(d, "logout-form"); f.AttrOr("method", "") != "post" || f.AttrOr("action", "") != "/logout" {
		t.Error("logout is not a POST form")
	}
	if testid(d, "page-heading").Text() != "History" {
		t.Error("placeholder heading missing")
	}
	// htmx requests get the fragment, with the flash area out of band.
	r = e.do(c, "GET", "/history", nil, map[string]string{"HX-Request": "true"})
	if strings.Contains(r.body, "<html") || !strings.Contains(r.body, `hx-swap-oob="true"`) || !strings.Contains(r.body, "History") {
		t.Fatalf("fragment:\n%s", r.body)
	}
	// Probes.
	wantStatus(t, e.get(c, "/readyz"), http.StatusOK)
	if r := e.get(c, "/healthz"); r.body != "ok\n" {
		t.Fatalf("healthz %q", r.body)
	}
}

// TestPublicURLPinsHost: with DIRSYNC_PUBLIC_URL set, a request naming
// another host (DNS rebinding: the attacker's name resolving to us) is
// refused before the login page or /metrics; the public host, IP
// addresses and the health probes are served.
func TestPublicURLPinsHost(t *testing.T) {
	e := newEnv(t, true, func(c *Config) {
		c.PublicURL = "https://dirsync.example.com"
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics")) })
	})
	for _, tc := range []struct {
		host, path string
		want       int
	}{
		{"rebind.attacker.example", "/login", http.StatusMisdirectedRequest},
		{"rebind.attacker.example:8080", "/metrics", http.StatusMisdirectedRequest},
		{"dirsync.example.com.attacker.example", "/login", http.StatusMisdirectedRequest},
		{"DIRSYNC.example.com", "/login", http.StatusOK},
		{"dirsync.example.com:443", "/metrics", http.StatusOK},
		{"127.0.0.1:8080", "/login", http.StatusOK},
		{"[::1]:8080", "/metrics", http.StatusOK},
		{"rebind.attacker.example", "/healthz", http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+tc.path, nil)
		req.Host = tc.host
		res, err := e.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("Host %s %s: status %d, want %d", tc.host, tc.path, res.StatusCode, tc.want)
		}
	}
	// Without a public URL nothing is pinned.
	e2 := newEnv(t, true)
	req, _ := http.NewRequest(http.MethodGet, e2.ts.URL+"/login", nil)
	req.Host = "anything.example"
	res, err := e2.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("no public URL: status %d", res.StatusCode)
	}
}
