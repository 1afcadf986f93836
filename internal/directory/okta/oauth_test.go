package okta

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
)

// testRSAKey is made once: RSA key generation is slow.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func pkcs8(t testing.TB, k crypto.Signer) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("PRIVATE KEY", der)
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const testClientID = "0oa1servicEapp5x7"

// oauthSetup is a fake org with a service app and a client for it.
type oauthSetup struct {
	srv *oktatest.Server
	org *oktatest.Org
	// statuses counts the answers the client saw, by path and status.
	mu       sync.Mutex
	statuses map[string]int
	// after, when set, runs after every API answer the client sees
	// (n counts them), to change the fake in the middle of a read.
	after func(n int)
	n     atomic.Int64
}

func newOAuthSetup(t *testing.T, app oktatest.OAuthApp, opts oktatest.Options) *oauthSetup {
	t.Helper()
	org := oktatest.Generate(oktatest.Spec{Users: 450, Deprovisioned: 3, Suspended: 2, Groups: 6, MembersPerGroup: 20, Seed: 7})
	s := &oauthSetup{srv: newFake(t, opts, org), statuses: map[string]int{}}
	s.org = s.srv.Org()
	if app.ClientID == "" {
		app.ClientID = testClientID
	}
	if app.Granted == nil {
		app.Granted = []string{oktatest.ScopeUsersRead, oktatest.ScopeGroupsRead}
	}
	s.srv.SetOAuthApp(app)
	return s
}

func (s *oauthSetup) client(t *testing.T, o OAuth, mod func(*Config)) *Client {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID = testClientID
	}
	return newClient(t, s.srv.URL, func(c *Config) {
		c.Token = ""
		c.OAuth = &o
		c.Observer = func(ev RequestEvent) {
			s.mu.Lock()
			key := ev.Path
			if strings.HasPrefix(key, "/api/v1/groups/") {
				key = "/api/v1/groups/{id}/users"
			}
			s.statuses[key+" "+http.StatusText(ev.Status)]++
			s.mu.Unlock()
			if ev.Bucket != BucketToken && s.after != nil {
				s.after(int(s.n.Add(1)))
			}
		}
		if mod != nil {
			mod(c)
		}
	})
}

func (s *oauthSetup) seen(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statuses[key]
}

// noSSWS fails the test if the fake saw an SSWS header (or none at all).
func noSSWS(t *testing.T, srv *oktatest.Server, want string) {
	t.Helper()
	for scheme, n := range srv.AuthSchemes() {
		if scheme != want && n > 0 {
			t.Errorf("%d API requests with Authorization scheme %q (want only %q): %v", n, scheme, want, srv.AuthSchemes())
		}
	}
	if srv.AuthSchemes()[want] == 0 {
		t.Errorf("no %s requests: %v", want, srv.AuthSchemes())
	}
}

func TestOAuthKeysAndDPoP(t *testing.T) {
	ec := newECKey(t)
	ecDER, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := testRSAKey()
	for _, tc := range []struct {
		name string
		pem  string
		pub  crypto.PublicKey
	}{
		{"RSA PKCS#8", pkcs8(t, rsaKey), &rsaKey.PublicKey},
		{"RSA PKCS#1", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), &rsaKey.PublicKey},
		{"EC P-256 PKCS#8", pkcs8(t, ec), &ec.PublicKey},
		{"EC P-256 SEC 1", pemOf("EC PRIVATE KEY", ecDER), &ec.PublicKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{KID: "k1", Public: tc.pub}}, DPoP: true, AdminRole: true, APINonce: true},
				oktatest.Options{})
			c := s.client(t, OAuth{PrivateKey: tc.pem, KeyID: "k1"}, nil)
			snap, err := c.Read(context.Background(), all)
			if err != nil {
				t.Fatal(err)
			}
			diffSnapshots(t, snap, expected(s.org))
			noSSWS(t, s.srv, "DPoP")
			if n := s.srv.TokensMinted(); n != 1 {
				t.Errorf("%d tokens minted, want 1", n)
			}
			// The first token request has no nonce and is answered with
			// use_dpop_nonce; the retry carries it.
			if n := s.srv.TokenRequests(); n != 2 {
				t.Errorf("%d token requests, want 2 (use_dpop_nonce, then the token)", n)
			}
			proofs := s.srv.AcceptedProofs()
			if len(proofs) < 5 {
				t.Fatalf("%d proofs accepted", len(proofs))
			}
			jtis := map[string]bool{}
			for _, p := range proofs {
				if p.HTM != "GET" || strings.Contains(p.HTU, "?") || !strings.HasPrefix(p.HTU, s.srv.URL+"/api/v1/") || p.ATH == "" || p.Nonce == "" {
					t.Fatalf("proof %+v", p)
				}
				if jtis[p.JTI] {
					t.Fatalf("jti %s reused", p.JTI)
				}
				jtis[p.JTI] = true
			}
		})
	}
}

func TestOAuthBearerMode(t *testing.T) {
	k := newECKey(t)
	s := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{Public: &k.PublicKey}}, DPoP: false, AdminRole: true}, oktatest.Options{})
	c := s.client(t, OAuth{PrivateKey: pkcs8(t, k)}, nil)
	snap, err := c.Read(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	diffSnapshots(t, snap, expected(s.org))
	noSSWS(t, s.srv, "Bearer")
	if h := s.srv.LastHeader(); h.Get("DPoP") != "" {
		t.Errorf("DPoP proof sent with a Bearer token")
	}
	if s.srv.TokenRequests() != 1 || len(s.srv.AcceptedProofs()) != 0 {
		t.Errorf("%d token requests, %d proofs", s.srv.TokenRequests(), len(s.srv.AcceptedProofs()))
	}
}

func TestOAuthNonceChangeMidRun(t *testing.T) {
	k := newECKey(t)
	app := oktatest.OAuthApp{Keys: []oktatest.AppKey{{Public: &k.PublicKey}}, DPoP: true, AdminRole: true, APINonce: true}
	t.Run("one chain", func(t *testing.T) {
		// A native filter makes the user read one cursor chain, so the
		// order of answers is known: 401 use_dpop_nonce (no nonce yet),
		// page 1, rotate, 401, page 2, rotate, 401, page 3.
		s := newOAuthSetup(t, app, oktatest.Options{})
		var rotated []string
		s.after = func(n int) {
			if n == 2 || n == 4 {
				rotated = append(rotated, s.srv.RotateNonce())
			}
		}
		f, err := directory.ParseFilter(`|status eq "ACTIVE"`)
		if err != nil {
			t.Fatal(err)
		}
		c := s.client(t, OAuth{PrivateKey: pkcs8(t, k)}, nil)
		snap, err := c.Read(context.Background(), directory.ReadOptions{Users: true, UserFilter: f})
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Users) != 445 {
			t.Errorf("%d users, want 445 active", len(snap.Users))
		}
		if n := s.seen("/api/v1/users Unauthorized"); n != 3 {
			t.Errorf("%d use_dpop_nonce answers, want 3 (the first request, then one per rotation): %v", n, s.statuses)
		}
		if s.srv.TokensMinted() != 1 {
			t.Errorf("a nonce change re-minted the token: %d tokens", s.srv.TokensMinted())
		}
		proofs := s.srv.AcceptedProofs()
		if len(proofs) != 3 || proofs[1].Nonce != rotated[0] || proofs[2].Nonce != rotated[1] {
			t.Errorf("accepted proofs %+v, rotated %v", proofs, rotated)
		}
		noSSWS(t, s.srv, "DPoP")
	})
	t.Run("whole org, parallel requests", func(t *testing.T) {
		s := newOAuthSetup(t, app, oktatest.Options{})
		// Two rotations while several requests are in flight: each can
		// be refused at most three times (no nonce yet, then once per
		// rotation), within the client's retry bound.
		s.after = func(n int) {
			if n == 3 || n == 9 {
				s.srv.RotateNonce()
			}
		}
		c := s.client(t, OAuth{PrivateKey: pkcs8(t, k)}, nil)
		snap, err := c.Read(context.Background(), all)
		if err != nil {
			t.Fatal(err)
		}
		diffSnapshots(t, snap, expected(s.org))
		noSSWS(t, s.srv, "DPoP")
	})
}

func TestOAuthTokenExpiryMidRun(t *testing.T) {
	t.Run("refused by Okta", func(t *testing.T) {
		k := newECKey(t)
		s := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{Public: &k.PublicKey}}, DPoP: true, AdminRole: true}, oktatest.Options{})
		s.after = func(n int) {
			if n == 3 {
				s.srv.ExpireTokens()
			}
		}
		c := s.client(t, OAuth{PrivateKey: pkcs8(t, k)}, nil)
		snap, err := c.Read(context.Background(), all)
		if err != nil {
			t.Fatal(err)
		}
		diffSnapshots(t, snap, expected(s.org))
		if n := s.srv.TokensMinted(); n != 2 {
			t.Errorf("%d tokens minted, want 2 (one re-mint after the expiry)", n)
		}
		noSSWS(t, s.srv, "DPoP")
	})
	t.Run("expiry on the clock", func(t *testing.T) {
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		k := newECKey(t)
		s := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{Public: &k.PublicKey}}, AdminRole: true, TokenTTL: 10 * time.Minute},
			oktatest.Options{Now: clock, RateLimit: 100000})
		s.after = func(n int) {
			if n == 3 {
				mu.Lock()
				now = now.Add(9 * time.Minute) // past expiry minus the margin
				mu.Unlock()
			}
		}
		c := s.client(t, OAuth{PrivateKey: pkcs8(t, k)}, func(c *Config) { c.Now = clock; c.Concurrency = 1 })
		if _, err := c.Read(context.Background(), all); err != nil {
			t.Fatal(err)
		}
		if n := s.srv.TokensMinted(); n != 2 {
			t.Errorf("%d tokens minted, want 2", n)
		}
		if n := s.seen("/api/v1/users Unauthorized") + s.seen("/api/v1/groups/{id}/users Unauthorized") + s.seen("/api/v1/groups Unauthorized"); n != 0 {
			t.Errorf("%d requests went out with an expired token", n)
		}
	})
}

func TestOAuthTokenSharedAndMintedOnce(t *testing.T) {
	k := newECKey(t)
	s := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{Public: &k.PublicKey}}, DPoP: true, AdminRole: true},
		oktatest.Options{Latency: 5 * time.Millisecond})
	key := pkcs8(t, k)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		c := s.client(t, OAuth{PrivateKey: key}, nil)
		wg.Go(func() {
			_, err := c.Read(context.Background(), all)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Eight clients at once (as eight runs would be), one token: the
	// mint is shared, and the token outlives a client.
	if n := s.srv.TokensMinted(); n != 1 {
		t.Errorf("%d tokens minted, want 1", n)
	}
	if _, err := s.client(t, OAuth{PrivateKey: key}, nil).Read(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	if n := s.srv.TokensMinted(); n != 1 {
		t.Errorf("a later client minted again: %d tokens", n)
	}
}

func TestOAuthErrors(t *testing.T) {
	k := newECKey(t)
	other := newECKey(t)
	key := pkcs8(t, k)
	keys := []oktatest.AppKey{{KID: "k1", Public: &k.PublicKey}}
	granted := []string{oktatest.ScopeUsersRead, oktatest.ScopeGroupsRead}
	for _, tc := range []struct {
		name  string
		app   oktatest.OAuthApp
		oauth OAuth
		clock time.Duration // client clock offset
		code  string        // TokenError code, or "" for an APIError
		want  []string
	}{
		{"unknown client id", oktatest.OAuthApp{Keys: keys, DPoP: true, AdminRole: true}, OAuth{ClientID: "0oaWRONG", PrivateKey: key, KeyID: "k1"}, 0,
			"invalid_client", []string{"401 invalid_client", "client_id", `"0oaWRONG" is the client ID of an API Services app`}},
		{"key not registered", oktatest.OAuthApp{Keys: keys, DPoP: true, AdminRole: true}, OAuth{PrivateKey: pkcs8(t, other), KeyID: "k1"}, 0,
			"invalid_client", []string{"signature is invalid", "public key of this private key"}},
		{"wrong kid", oktatest.OAuthApp{Keys: keys, DPoP: true, AdminRole: true}, OAuth{PrivateKey: key, KeyID: "k9"}, 0,
			"invalid_client", []string{"kid (k9)", `key ID (kid) is "k9"`}},
		{"no kid, two keys", oktatest.OAuthApp{Keys: append([]oktatest.AppKey{{KID: "k0", Public: &other.PublicKey}}, keys...), DPoP: true, AdminRole: true},
			OAuth{PrivateKey: key}, 0, "invalid_client", []string{"no kid", "set the key ID (kid) here"}},
		{"scope not granted", oktatest.OAuthApp{Keys: keys, DPoP: true, AdminRole: true, Granted: []string{oktatest.ScopeUsersRead}}, OAuth{PrivateKey: key}, 0,
			"invalid_scope", []string{"400 invalid_scope", "okta.groups.read", "Okta API Scopes and grant okta.users.read and okta.groups.read"}},
		{"DPoP proof refused", oktatest.OAuthApp{Keys: keys, DPoP: true, AdminRole: true}, OAuth{PrivateKey: key}, 3 * time.Minute,
			"invalid_dpop_proof", []string{"400 invalid_dpop_proof", "iat", "clock"}},
		{"no admin role", oktatest.OAuthApp{Keys: keys, DPoP: true, AdminRole: false}, OAuth{PrivateKey: key}, 0,
			"", []string{"403 E0000006", "Admin roles", "Read-only Administrator"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.app.Granted == nil {
				tc.app.Granted = granted
			}
			s := newOAuthSetup(t, tc.app, oktatest.Options{})
			// Locked: a refused token request can still be logging from
			// its detached mint (shared with callers that gave up) when
			// Read returns.
			var logs lockedBuffer
			c := s.client(t, tc.oauth, func(c *Config) {
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				if tc.clock != 0 {
					c.Now = func() time.Time { return time.Now().Add(tc.clock) }
				}
			})
			_, err := c.Read(context.Background(), all)
			if err == nil {
				t.Fatal("read succeeded")
			}
			if tc.code != "" && !IsTokenError(err, tc.code) {
				t.Fatalf("not a %s token error: %v", tc.code, err)
			}
			if tc.code == "" && !IsForbidden(err) {
				t.Fatalf("not a 403: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(logs.String(), "PRIVATE KEY") {
				t.Error("the private key leaked into the error or the log")
			}
			// A refused token request is not retried: it cannot pass.
			if tc.code != "" && s.srv.TokenRequests() > 3 {
				t.Errorf("%d token requests for a permanent refusal", s.srv.TokenRequests())
			}
			for scheme := range s.srv.AuthSchemes() {
				if scheme == "SSWS" {
					t.Error("SSWS header sent in OAuth mode")
				}
			}
		})
	}
}

func TestOAuthTokenEndpointFaults(t *testing.T) {
	k := newECKey(t)
	s := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{Public: &k.PublicKey}}, DPoP: true, AdminRole: true}, oktatest.Options{})
	s.srv.FailNext(oktatest.TokenPath, http.StatusServiceUnavailable, 2)
	c := s.client(t, OAuth{PrivateKey: pkcs8(t, k)}, nil)
	if _, err := c.Read(context.Background(), all); err != nil {
		t.Fatalf("two 503s from the token endpoint were not retried: %v", err)
	}
	s2 := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{Public: &k.PublicKey}}, DPoP: true, AdminRole: true}, oktatest.Options{})
	s2.srv.FailNext(oktatest.TokenPath, http.StatusServiceUnavailable, 100)
	c2 := s2.client(t, OAuth{PrivateKey: pkcs8(t, k)}, func(c *Config) { c.MaxRetries = 2 })
	_, err := c2.Read(context.Background(), all)
	if err == nil || !strings.Contains(err.Error(), "/oauth2/v1/token") || !strings.Contains(err.Error(), "503") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewOAuthValidates(t *testing.T) {
	k := pkcs8(t, newECKey(t))
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{OrgURL: "https://acme.okta.com", Token: "t", OAuth: &OAuth{ClientID: "0oa1", PrivateKey: k}}, "not both"},
		{Config{OrgURL: "https://acme.okta.com", OAuth: &OAuth{PrivateKey: k}}, "client ID is required"},
		{Config{OrgURL: "https://acme.okta.com", OAuth: &OAuth{ClientID: "0oa1", PrivateKey: "nope"}}, "not a PEM private key"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v, want %q", err, tc.want)
		}
	}
}

// An app without DPoP may refuse an offered proof instead of ignoring it:
// the client asks once more without one, and from then on offers none.
func TestOAuthBearerAppRefusingProofs(t *testing.T) {
	k := newECKey(t)
	s := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{Public: &k.PublicKey}}, AdminRole: true, RefuseUnusedDPoP: true}, oktatest.Options{})
	c := s.client(t, OAuth{PrivateKey: pkcs8(t, k)}, nil)
	snap, err := c.Read(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	diffSnapshots(t, snap, expected(s.org))
	noSSWS(t, s.srv, "Bearer")
	if n := s.srv.TokenRequests(); n != 2 {
		t.Errorf("%d token requests, want 2 (refused proof, then without)", n)
	}
	s.srv.ExpireTokens()
	if _, err := c.Read(context.Background(), all); err != nil {
		t.Fatal(err)
	}
	if n := s.srv.TokenRequests(); n != 3 {
		t.Errorf("%d token requests after a re-mint, want 3 (no proof offered again)", n)
	}
}

// A proof Okta's API refuses (here: this machine's clock runs ahead after
// the token was minted) fails the read with its own message, at once.
func TestOAuthAPIRefusesProof(t *testing.T) {
	var mu sync.Mutex
	offset := time.Duration(0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(offset) }
	k := newECKey(t)
	s := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{Public: &k.PublicKey}}, DPoP: true, AdminRole: true}, oktatest.Options{})
	s.after = func(n int) {
		mu.Lock()
		offset = 3 * time.Minute
		mu.Unlock()
	}
	c := s.client(t, OAuth{PrivateKey: pkcs8(t, k)}, func(c *Config) { c.Now = clock })
	_, err := c.Read(context.Background(), all)
	if err == nil {
		t.Fatal("read succeeded with proofs from the future")
	}
	for _, want := range []string{"400", "invalid_dpop_proof", "iat", "clock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if n := s.srv.TokensMinted(); n != 1 {
		t.Errorf("a refused proof re-minted the token (%d tokens)", n)
	}
}

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTokenRefusalRemembered: once the token endpoint refuses the app for
// good (invalid_client), the rest of the client's reads get that refusal
// at once; they never ask the endpoint again one by one (seen under load:
// four token requests for one refused run).
func TestTokenRefusalRemembered(t *testing.T) {
	k := newECKey(t)
	s := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{KID: "k1", Public: &k.PublicKey}}, DPoP: true, AdminRole: true,
		Granted: []string{oktatest.ScopeUsersRead, oktatest.ScopeGroupsRead}}, oktatest.Options{})
	c := s.client(t, OAuth{ClientID: "0oaWRONG", PrivateKey: pkcs8(t, k), KeyID: "k1"}, nil)
	if _, err := c.Read(context.Background(), all); !IsTokenError(err, "invalid_client") {
		t.Fatalf("first read: %v", err)
	}
	n := s.srv.TokenRequests()
	for range 3 {
		if _, err := c.Read(context.Background(), all); !IsTokenError(err, "invalid_client") {
			t.Fatalf("later read: %v", err)
		}
	}
	if got := s.srv.TokenRequests(); got != n {
		t.Errorf("%d token requests after the refusal, want none", got-n)
	}
}

// TestOAuthRetryWithoutProofHits5xx: an app refusing an offered proof is
// asked once more without one; when that second token request meets a
// 503, the answer is the 503 (worth retrying), not the refused proof —
// which, remembered as a refusal, would fail every read of the run.
func TestOAuthRetryWithoutProofHits5xx(t *testing.T) {
	k := newECKey(t)
	s := newOAuthSetup(t, oktatest.OAuthApp{Keys: []oktatest.AppKey{{Public: &k.PublicKey}}, AdminRole: true, RefuseUnusedDPoP: true}, oktatest.Options{})
	s.srv.FailAfter(oktatest.TokenPath, 1, http.StatusServiceUnavailable, 1)
	c := s.client(t, OAuth{PrivateKey: pkcs8(t, k)}, nil)
	_, err := c.Read(context.Background(), all)
	if IsTokenError(err, "invalid_dpop_proof") {
		t.Fatalf("a 503 on the retry without a proof was reported as the refused proof: %v", err)
	}
	if err != nil {
		if _, err := c.Read(context.Background(), all); err != nil {
			t.Fatalf("the read after a 503 still fails: %v", err)
		}
	}
}
