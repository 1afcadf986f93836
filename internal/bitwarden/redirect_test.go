package bitwarden_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
)

// TestNoRedirectWithCredentials: a 307/308 from the token endpoint or the
// API is not followed, so neither the client secret nor the access token
// reaches the host it points to, and the error says what happened.
func TestNoRedirectWithCredentials(t *testing.T) {
	var mu sync.Mutex
	var got []string
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(b))
		mu.Unlock()
	}))
	t.Cleanup(evil.Close)
	fake := newFake(t, bwtest.Options{})
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		for _, path := range []string{"/identity/connect/token", "/api/public/members"} {
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == path {
					http.Redirect(w, r, evil.URL+r.URL.Path, code)
					return
				}
				// Everything else goes to the real fake.
				req, _ := http.NewRequestWithContext(r.Context(), r.Method, fake.URL+r.URL.RequestURI(), r.Body)
				req.Header = r.Header.Clone()
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadGateway)
					return
				}
				defer resp.Body.Close()
				for k, v := range resp.Header {
					w.Header()[k] = v
				}
				w.WriteHeader(resp.StatusCode)
				_, _ = io.Copy(w, resp.Body)
			}))
			c, err := bitwarden.New(bitwarden.Config{Server: proxy.URL, ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret()})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ListMembers(context.Background())
			proxy.Close()
			if err == nil || !errors.Is(err, bitwarden.ErrRedirect) || !strings.Contains(err.Error(), "redirect") {
				t.Fatalf("%d on %s: error %v, want ErrRedirect", code, path, err)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) > 0 {
		t.Fatalf("the redirect target received %v", got)
	}
}

// TestAPIErrorsScrubbedOfEverySecret: whatever the server echoes — in a
// JSON message, field errors or a plain body — no configured secret
// survives in the error text.
func TestAPIErrorsScrubbedOfEverySecret(t *testing.T) {
	fake := newFake(t, bwtest.Options{})
	const other = "SSWS-okta-token-value-42"
	for _, body := range []string{
		`{"message":"bad request with client_secret=` + "%s" + ` and ` + other + `"}`,
		`{"message":"x","errors":{"` + other + `":["saw %s"]}}`,
		`<html>echo %s ` + other + `</html>`,
	} {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/connect/token") {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"access_token":"tok-123456","expires_in":3600,"token_type":"Bearer"}`)
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, strings.ReplaceAll(body, "%s", fake.ClientSecret()))
		}))
		c, err := bitwarden.New(bitwarden.Config{Server: api.URL, ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret(), Redact: []string{other}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListMembers(context.Background())
		api.Close()
		if err == nil {
			t.Fatal("no error")
		}
		if msg := err.Error(); strings.Contains(msg, fake.ClientSecret()) || strings.Contains(msg, other) || !strings.Contains(msg, "[REDACTED]") {
			t.Fatalf("error %q keeps a secret", msg)
		}
	}
}
