package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type env struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	st    *store.Store
	clock *fakeClock
	logs  *syncBuffer
}

const (
	testUser     = "admin"
	testPassword = "a long enough passphrase"
)

// newEnv starts the console over a real SQLite store in t.TempDir().
// withAdmin creates testUser first.
func newEnv(t *testing.T, withAdmin bool, mod ...func(*Config)) *env {
	t.Helper()
	return newEnvWith(t, withAdmin, func(_ *store.Store, cfg *Config) {
		for _, m := range mod {
			m(cfg)
		}
	})
}

// newEnvWith is newEnv for configs that need the store, such as a real
// engine and worker over it; mod runs before the server is built.
func newEnvWith(t *testing.T, withAdmin bool, mod func(*store.Store, *Config)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "dirsync.db"), store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if withAdmin {
		h, err := auth.Hash(testPassword, auth.TestParams)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateAdmin(ctx, testUser, h); err != nil {
			t.Fatalf("create admin: %v", err)
		}
	}
	e := &env{t: t, st: st, clock: &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}, logs: &syncBuffer{}}
	cfg := Config{
		Version:    "v-test",
		ListenAddr: "127.0.0.1:8080",
		Logger:     slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:        e.clock.Now,
		Argon:      auth.TestParams,
	}
	if mod != nil {
		mod(st, &cfg)
	}
	e.srv, err = New(cfg, st)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

// client is a browser-like client: a cookie jar, no redirect following.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type resp struct {
	*http.Response
	body string
}

func (r resp) doc(t *testing.T) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return d
}

func (e *env) do(c *http.Client, method, path string, form url.Values, hdr map[string]string) resp {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{Response: res, body: string(b)}
}

func (e *env) get(c *http.Client, path string) resp { return e.do(c, "GET", path, nil, nil) }

func (e *env) post(c *http.Client, path string, form url.Values) resp {
	return e.do(c, "POST", path, form, nil)
}

// login logs c in as testUser and fails the test otherwise.
func (e *env) login(c *http.Client) {
	e.t.Helper()
	r := e.post(c, "/login", url.Values{"username": {testUser}, "password": {testPassword}})
	if r.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login: status %d, body %s", r.StatusCode, r.body)
	}
}

func wantStatus(t *testing.T, r resp, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body:\n%.2000s", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, r.body)
	}
}

func wantLocation(t *testing.T, r resp, want string) {
	t.Helper()
	if got := r.Header.Get("Location"); got != want {
		t.Fatalf("%s %s: Location %q, want %q", r.Request.Method, r.Request.URL.Path, got, want)
	}
}

func testid(d *goquery.Document, id string) *goquery.Selection {
	return d.Find(`[data-testid="` + id + `"]`)
}
