package oktatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The fake's token endpoint and API must refuse what Okta refuses, or the
// client's tests prove nothing. These requests are built by hand.
type jwtKit struct {
	t    *testing.T
	srv  *Server
	app  *ecdsa.PrivateKey
	dpop *ecdsa.PrivateKey
}

func newKit(t *testing.T) *jwtKit {
	app, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dpop, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srv := New(Options{})
	t.Cleanup(srv.Close)
	srv.SetOAuthApp(OAuthApp{ClientID: "0oaK", Keys: []AppKey{{KID: "k", Public: &app.PublicKey}}, DPoP: true, AdminRole: true,
		Granted: []string{ScopeUsersRead, ScopeGroupsRead}})
	return &jwtKit{t: t, srv: srv, app: app, dpop: dpop}
}

func (k *jwtKit) sign(key any, opts *jose.SignerOptions, claims map[string]any) string {
	k.t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		k.t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := s.Sign(b)
	if err != nil {
		k.t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func (k *jwtKit) assertion(mod func(map[string]any)) string {
	now := time.Now()
	c := map[string]any{"iss": "0oaK", "sub": "0oaK", "aud": k.srv.URL + TokenPath, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": randomToken(8)}
	if mod != nil {
		mod(c)
	}
	return k.sign(jose.JSONWebKey{Key: k.app, KeyID: "k"}, (&jose.SignerOptions{}).WithType("JWT"), c)
}

func (k *jwtKit) proof(htm, htu, token, nonce string) string {
	c := map[string]any{"htm": htm, "htu": htu, "iat": time.Now().Unix(), "jti": randomToken(8)}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	return k.sign(k.dpop, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"), c)
}

func (k *jwtKit) tokenRequest(assertion, proof string) (int, map[string]any, http.Header) {
	k.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {ScopeUsersRead + " " + ScopeGroupsRead},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	req, _ := http.NewRequest(http.MethodPost, k.srv.URL+TokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, resp.Header
}

// token mints a DPoP token the regular way (nonce first).
func (k *jwtKit) token() (string, string) {
	_, _, h := k.tokenRequest(k.assertion(nil), k.proof("POST", k.srv.URL+TokenPath, "", ""))
	nonce := h.Get("DPoP-Nonce")
	st, body, _ := k.tokenRequest(k.assertion(nil), k.proof("POST", k.srv.URL+TokenPath, "", nonce))
	if st != 200 {
		k.t.Fatalf("token: %d %v", st, body)
	}
	return body["access_token"].(string), nonce
}

func TestFakeTokenEndpointRefuses(t *testing.T) {
	k := newKit(t)
	_, _, h := k.tokenRequest(k.assertion(nil), k.proof("POST", k.srv.URL+TokenPath, "", ""))
	nonce := h.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("no nonce offered")
	}
	good := func() string { return k.proof("POST", k.srv.URL+TokenPath, "", nonce) }
	replayed := k.assertion(nil)
	if st, body, _ := k.tokenRequest(replayed, good()); st != 200 {
		t.Fatalf("a good request: %d %v", st, body)
	}
	for _, tc := range []struct {
		name, assertion, proof, code, desc string
	}{
		{"replayed assertion", replayed, good(), "invalid_client", "already been used"},
		{"wrong aud", k.assertion(func(c map[string]any) { c["aud"] = k.srv.URL + "/oauth2/default/v1/token" }), good(), "invalid_client", "audience"},
		{"exp over an hour", k.assertion(func(c map[string]any) { c["exp"] = time.Now().Add(2 * time.Hour).Unix() }), good(), "invalid_client", "too far"},
		{"expired", k.assertion(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }), good(), "invalid_client", "expired"},
		{"iss is not sub", k.assertion(func(c map[string]any) { c["sub"] = "0oaOTHER" }), good(), "invalid_client", "client_id"},
		{"no proof", k.assertion(nil), "", "invalid_dpop_proof", "missing"},
		{"proof for another URL", k.assertion(nil), k.proof("POST", k.srv.URL+"/oauth2/v1/authorize", "", nonce), "invalid_dpop_proof", "htu"},
		{"stale nonce", k.assertion(nil), k.proof("POST", k.srv.URL+TokenPath, "", "old"), "use_dpop_nonce", "nonce"},
	} {
		st, body, _ := k.tokenRequest(tc.assertion, tc.proof)
		if st == 200 || body["error"] != tc.code || !strings.Contains(body["error_description"].(string), tc.desc) {
			t.Errorf("%s: %d %v, want %s (%s)", tc.name, st, body, tc.code, tc.desc)
		}
	}
}

func TestFakeAPIChecksProofs(t *testing.T) {
	k := newKit(t)
	tok, _ := k.token()
	users := k.srv.URL + "/api/v1/users"
	get := func(auth, proof string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, users+"?limit=2", nil)
		req.Header.Set("Authorization", auth)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	replay := k.proof("GET", users, tok, "")
	if st, wa := get("DPoP "+tok, replay); st != 200 {
		t.Fatalf("a good request: %d %s", st, wa)
	}
	for _, tc := range []struct {
		name, auth, proof string
		status            int
		want              string
	}{
		{"replayed proof", "DPoP " + tok, replay, 400, "invalid_dpop_proof"},
		{"query in htu", "DPoP " + tok, k.proof("GET", users+"?limit=2", tok, ""), 400, "invalid_dpop_proof"},
		{"wrong method", "DPoP " + tok, k.proof("POST", users, tok, ""), 400, "invalid_dpop_proof"},
		{"ath of another token", "DPoP " + tok, k.proof("GET", users, "other", ""), 400, "invalid_dpop_proof"},
		{"no proof", "DPoP " + tok, "", 400, "invalid_dpop_proof"},
		{"DPoP token as Bearer", "Bearer " + tok, "", 401, "invalid_token"},
		{"SSWS with an access token", "SSWS " + tok, "", 401, ""},
	} {
		if st, wa := get(tc.auth, tc.proof); st != tc.status || !strings.Contains(wa, tc.want) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, st, wa, tc.status, tc.want)
		}
	}
	k.srv.UpdateOAuthApp(func(a *OAuthApp) { a.APINonce = true })
	if st, wa := get("DPoP "+tok, k.proof("GET", users, tok, "")); st != 401 || !strings.Contains(wa, "use_dpop_nonce") {
		t.Errorf("no nonce at the API: %d %q", st, wa)
	}
}
