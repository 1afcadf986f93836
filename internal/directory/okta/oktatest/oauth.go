package oktatest

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// The fake's org authorization server follows Okta's OpenAPI description
// (okta/okta-management-openapi-spec, dist/current/oauth-oneOfInheritance.yaml:
// POST /oauth2/v1/token, form-encoded client_credentials with a
// client_assertion, OAuthError {error, error_description}; 401
// invalid_client for an unknown client) and RFC 9449 for DPoP: the token
// endpoint demands a server nonce (400 use_dpop_nonce with a DPoP-Nonce
// header, as Okta does), the API takes "Authorization: DPoP <token>" with
// a proof whose ath, htm, htu and key thumbprint must match.

// TokenPath is the org authorization server's token endpoint.
const TokenPath = "/oauth2/v1/token"

// BucketToken is the token endpoint's rate-limit bucket.
const BucketToken = TokenPath

// Service-app scopes the fake knows.
const (
	ScopeUsersRead  = "okta.users.read"
	ScopeGroupsRead = "okta.groups.read"
)

// AppKey is one public key registered with a service app (its JWKS).
type AppKey struct {
	// KID is the key's id; empty when the app has a single unnamed key.
	KID string
	// Public is an *rsa.PublicKey or *ecdsa.PublicKey.
	Public crypto.PublicKey
}

// OAuthApp is an OAuth 2.0 "API Services" app registered with the fake.
type OAuthApp struct {
	ClientID string
	Keys     []AppKey
	// DPoP is Okta's "Require Demonstrating Proof of Possession (DPoP)
	// header in token requests": tokens are DPoP-bound. Off: Bearer tokens
	// (a DPoP header on the token request is then ignored, RFC 9449 §5).
	DPoP bool
	// Granted are the scopes granted on the app's Okta API Scopes tab.
	Granted []string
	// AdminRole is whether the app has an admin role (without one every
	// API call answers 403 E0000006).
	AdminRole bool
	// TokenTTL is the access tokens' lifetime (default 1h).
	TokenTTL time.Duration
	// APINonce makes the API demand the server's DPoP nonce in proofs
	// too (401 use_dpop_nonce), as a resource server may.
	APINonce bool
	// RefuseUnusedDPoP makes the token endpoint of an app without DPoP
	// refuse an offered proof (400 invalid_dpop_proof) instead of
	// ignoring it; RFC 9449 allows either.
	RefuseUnusedDPoP bool
}

// oauthState is the fake's authorization-server state, under Server.mu.
type oauthState struct {
	app       OAuthApp
	nonce     string
	tokens    map[string]*issuedToken
	jtis      map[string]time.Time // assertion and proof jtis seen, for replay checks
	minted    int
	tokenReqs int
	schemes   map[string]int
	proofs    []ProofClaims
}

type issuedToken struct {
	expires time.Time
	jkt     string // "" for a Bearer token
	scopes  []string
}

// ProofClaims are the claims of a DPoP proof the API accepted.
type ProofClaims struct {
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	JTI   string `json:"jti"`
	ATH   string `json:"ath"`
	Nonce string `json:"nonce"`
}

// SetOAuthApp registers (or replaces) the service app the fake accepts;
// its tokens then authorize the API as the SSWS token does.
func (s *Server) SetOAuthApp(app OAuthApp) {
	if app.TokenTTL <= 0 {
		app.TokenTTL = time.Hour
	}
	app.Keys = slices.Clone(app.Keys)
	app.Granted = slices.Clone(app.Granted)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oauth == nil {
		s.oauth = &oauthState{tokens: map[string]*issuedToken{}, jtis: map[string]time.Time{}, schemes: map[string]int{}}
		s.oauth.nonce = randomToken(12)
	}
	s.oauth.app = app
}

// UpdateOAuthApp changes the registered app in place (for example to take
// away its admin role); issued tokens stay valid.
func (s *Server) UpdateOAuthApp(f func(*OAuthApp)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oauth != nil {
		f(&s.oauth.app)
	}
}

// RotateNonce replaces the DPoP nonce; proofs with the old one are
// refused from now on.
func (s *Server) RotateNonce() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oauth == nil {
		return ""
	}
	s.oauth.nonce = randomToken(12)
	return s.oauth.nonce
}

// ExpireTokens ends every issued access token now, as when they reach
// their expiry (or are revoked) in the middle of a run.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oauth != nil {
		clear(s.oauth.tokens)
	}
}

// TokensMinted counts the access tokens the token endpoint issued.
func (s *Server) TokensMinted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oauth == nil {
		return 0
	}
	return s.oauth.minted
}

// TokenRequests counts the requests to the token endpoint.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oauth == nil {
		return 0
	}
	return s.oauth.tokenReqs
}

// AuthSchemes counts the API requests by Authorization scheme ("SSWS",
// "DPoP", "Bearer", "" for none), counted from when an OAuth app is set.
func (s *Server) AuthSchemes() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	if s.oauth != nil {
		for k, v := range s.oauth.schemes {
			m[k] = v
		}
	}
	return m
}

// AcceptedProofs returns the claims of the API's accepted DPoP proofs.
func (s *Server) AcceptedProofs() []ProofClaims {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oauth == nil {
		return nil
	}
	return slices.Clone(s.oauth.proofs)
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authResult is the API's verdict on a request's credentials.
type authResult struct {
	ok bool
	// status, code and summary make the Okta error body; challenge is
	// the WWW-Authenticate value.
	status    int
	code      string
	summary   string
	challenge string
}

var (
	authOK          = authResult{ok: true}
	authBadToken    = authResult{status: http.StatusUnauthorized, code: "E0000011", summary: "Invalid token provided"}
	authNoAdminRole = authResult{status: http.StatusForbidden, code: "E0000006", summary: "You do not have permission to perform the requested action"}
)

// dpopRefusal is the API's refusal of a DPoP request: 401 for a token
// or nonce problem, 400 for a bad proof, as Okta answers (Okta's SDK
// issue okta/okta-sdk-python#541 shows "400 … WWW-Authenticate: DPoP …
// error="invalid_dpop_proof"").
func dpopRefusal(status int, errCode, desc string) authResult {
	code := errCode
	if errCode == "invalid_token" {
		code = "E0000011"
	}
	return authResult{status: status, code: code, summary: desc,
		challenge: fmt.Sprintf(`DPoP algs="ES256 RS256", error=%q, error_description=%q`, errCode, desc)}
}

// authorizeLocked checks a request's credentials: the SSWS token, or
// (with an app set) a DPoP or Bearer access token with the scope the path
// needs and, for DPoP, a valid proof.
func (s *Server) authorizeLocked(r *http.Request, now time.Time) authResult {
	h := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(h, " ")
	if s.oauth != nil {
		s.oauth.schemes[scheme]++
	}
	switch scheme {
	case "SSWS":
		if s.token != "" && cred == s.token {
			return authOK
		}
		return authBadToken
	case "DPoP", "Bearer":
	default:
		return authBadToken
	}
	if s.oauth == nil {
		return authBadToken
	}
	tok := s.oauth.tokens[cred]
	if tok == nil || !now.Before(tok.expires) {
		if scheme == "DPoP" {
			return dpopRefusal(http.StatusUnauthorized, "invalid_token", "Invalid token provided")
		}
		r := authBadToken
		r.challenge = `Bearer error="invalid_token", error_description="The access token is invalid or has expired."`
		return r
	}
	if scheme == "Bearer" && tok.jkt != "" {
		return dpopRefusal(http.StatusUnauthorized, "invalid_token", "The DPoP-bound access token was presented as a Bearer token.")
	}
	if scheme == "DPoP" {
		if tok.jkt == "" {
			return dpopRefusal(http.StatusUnauthorized, "invalid_token", "A Bearer access token was presented with the DPoP scheme.")
		}
		proofs := r.Header.Values("DPoP")
		if len(proofs) != 1 {
			return dpopRefusal(http.StatusBadRequest, "invalid_dpop_proof", "The DPoP proof JWT header is missing.")
		}
		sum := sha256.Sum256([]byte(cred))
		claims, jkt, err := s.verifyProofLocked(proofs[0], r.Method, "http://"+r.Host+r.URL.Path, base64.RawURLEncoding.EncodeToString(sum[:]), now)
		if err != nil {
			return dpopRefusal(http.StatusBadRequest, "invalid_dpop_proof", err.Error())
		}
		if jkt != tok.jkt {
			return dpopRefusal(http.StatusBadRequest, "invalid_dpop_proof", "The DPoP proof was not signed by the key the token is bound to.")
		}
		if s.oauth.app.APINonce && claims.Nonce != s.oauth.nonce {
			return dpopRefusal(http.StatusUnauthorized, "use_dpop_nonce", "Resource server requires nonce in DPoP proof.")
		}
		s.oauth.proofs = append(s.oauth.proofs, claims)
	}
	need := ScopeGroupsRead
	if bucketOf(r.URL.Path) == BucketUsers {
		need = ScopeUsersRead
	}
	if !slices.Contains(tok.scopes, need) {
		r := authNoAdminRole
		r.challenge = fmt.Sprintf(`%s error="insufficient_scope", error_description="The access token provided does not contain the required scopes.", scope=%q`, scheme, need)
		return r
	}
	if !s.oauth.app.AdminRole {
		return authNoAdminRole
	}
	return authOK
}

// writeAuthError answers a refused request.
func (s *Server) writeAuthError(w http.ResponseWriter, a authResult) {
	if a.challenge != "" {
		w.Header().Set("WWW-Authenticate", a.challenge)
	}
	s.writeError(w, a.status, a.code, a.summary)
}

// nonceHeaderLocked sets DPoP-Nonce on an answer, so that clients learn a
// new nonce from any answer, not only from a refusal.
func (s *Server) nonceHeaderLocked(h http.Header) {
	if s.oauth != nil && s.oauth.app.DPoP {
		h.Set("DPoP-Nonce", s.oauth.nonce)
	}
}

type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(oauthError{Error: code, ErrorDescription: desc})
}

// serveToken is POST /oauth2/v1/token for the client credentials grant
// with private_key_jwt, the only grant an Okta service app uses.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, now time.Time) {
	if r.Method != http.MethodPost {
		s.writeError(w, http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.oauth == nil {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Invalid value for the `client_id` parameter")
		return
	}
	s.oauth.tokenReqs++
	s.nonceHeaderLocked(w.Header())
	status, code, desc := s.tokenLocked(r, now)
	if code != "" {
		writeOAuthError(w, status, code, desc)
		return
	}
	app := &s.oauth.app
	tok := randomToken(24)
	it := &issuedToken{expires: now.Add(app.TokenTTL), scopes: strings.Fields(r.PostForm.Get("scope")), jkt: desc}
	s.oauth.tokens[tok] = it
	s.oauth.minted++
	typ := "Bearer"
	if it.jkt != "" {
		typ = "DPoP"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token_type": typ, "expires_in": int(app.TokenTTL / time.Second),
		"access_token": tok, "scope": strings.Join(it.scopes, " "),
	})
}

// tokenLocked checks a token request. On success code is "" and desc is
// the thumbprint the token is bound to ("" for a Bearer token).
func (s *Server) tokenLocked(r *http.Request, now time.Time) (status int, code, desc string) {
	f := r.PostForm
	app := &s.oauth.app
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		return http.StatusBadRequest, "unsupported_grant_type", "The grant type in the request isn't supported."
	}
	if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return http.StatusBadRequest, "invalid_request", "The `client_assertion_type` is invalid."
	}
	if err := s.checkAssertionLocked(f.Get("client_assertion"), s.URL+TokenPath, now); err != nil {
		return http.StatusUnauthorized, "invalid_client", err.Error()
	}
	jkt := ""
	if !app.DPoP && app.RefuseUnusedDPoP && r.Header.Get("DPoP") != "" {
		return http.StatusBadRequest, "invalid_dpop_proof", "DPoP proof was provided but the client is not configured for DPoP."
	}
	if app.DPoP {
		proofs := r.Header.Values("DPoP")
		if len(proofs) != 1 {
			return http.StatusBadRequest, "invalid_dpop_proof", "The DPoP proof JWT header is missing."
		}
		claims, thumb, err := s.verifyProofLocked(proofs[0], http.MethodPost, s.URL+TokenPath, "", now)
		if err != nil {
			return http.StatusBadRequest, "invalid_dpop_proof", err.Error()
		}
		if claims.Nonce != s.oauth.nonce {
			return http.StatusBadRequest, "use_dpop_nonce", "Authorization server requires nonce in DPoP proof."
		}
		jkt = thumb
	}
	scopes := strings.Fields(f.Get("scope"))
	if len(scopes) == 0 {
		return http.StatusBadRequest, "invalid_scope", "No scopes were requested."
	}
	var missing []string
	for _, sc := range scopes {
		if !slices.Contains(app.Granted, sc) {
			missing = append(missing, sc)
		}
	}
	if len(missing) > 0 {
		return http.StatusBadRequest, "invalid_scope", "The following scopes are not granted to the client: " + strings.Join(missing, " ")
	}
	return http.StatusOK, "", jkt
}

type assertionClaims struct {
	Iss string          `json:"iss"`
	Sub string          `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Iat int64           `json:"iat"`
	Exp int64           `json:"exp"`
	Jti string          `json:"jti"`
}

// checkAssertionLocked verifies a private_key_jwt client assertion.
func (s *Server) checkAssertionLocked(raw, aud string, now time.Time) error {
	app := &s.oauth.app
	if raw == "" {
		return errors.New("No client credentials found")
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return errors.New("The client_assertion token is malformed or uses an unsupported algorithm.")
	}
	var claims assertionClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return errors.New("The client_assertion token is malformed.")
	}
	if claims.Iss != app.ClientID || claims.Sub != app.ClientID {
		return errors.New("Invalid value for the `client_id` parameter")
	}
	kid := jws.Signatures[0].Header.KeyID
	var keys []AppKey
	for _, k := range app.Keys {
		if kid == "" || k.KID == kid {
			keys = append(keys, k)
		}
	}
	switch {
	case len(keys) == 0:
		return fmt.Errorf("The client_assertion token has a kid (%s) that matches none of the client's keys.", kid)
	case kid == "" && len(keys) > 1:
		return errors.New("The client_assertion token has no kid and the client has more than one key.")
	}
	if _, err := jws.Verify(keys[0].Public); err != nil {
		return errors.New("The client_assertion signature is invalid.")
	}
	var auds []string
	if json.Unmarshal(claims.Aud, &auds) != nil {
		var one string
		_ = json.Unmarshal(claims.Aud, &one)
		auds = []string{one}
	}
	if !slices.Contains(auds, aud) {
		return errors.New("The audience [aud] claim in the client_assertion token is invalid.")
	}
	exp := time.Unix(claims.Exp, 0)
	switch {
	case claims.Exp == 0 || !now.Before(exp):
		return errors.New("The client_assertion token is expired.")
	case exp.Sub(now) > time.Hour || (claims.Iat != 0 && claims.Exp-claims.Iat > 3600):
		return errors.New("The client_assertion token has an expiration too far into the future.")
	case claims.Jti == "":
		return errors.New("The client_assertion token has no jti.")
	}
	if s.seenLocked("a:"+claims.Jti, exp, now) {
		return errors.New("The client_assertion token has already been used (jti replay).")
	}
	return nil
}

// seenLocked records a jti until exp and reports whether it was seen.
func (s *Server) seenLocked(jti string, exp, now time.Time) bool {
	for k, e := range s.oauth.jtis {
		if now.After(e) {
			delete(s.oauth.jtis, k)
		}
	}
	if _, ok := s.oauth.jtis[jti]; ok {
		return true
	}
	s.oauth.jtis[jti] = exp
	return false
}

// verifyProofLocked checks a DPoP proof (RFC 9449 §4.3) for method and
// URL (and, at the API, the token hash ath). It returns the claims and
// the proof key's thumbprint (RFC 7638).
func (s *Server) verifyProofLocked(raw, htm, htu, ath string, now time.Time) (ProofClaims, string, error) {
	var c ProofClaims
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256, jose.ES384})
	if err != nil || len(jws.Signatures) != 1 {
		return c, "", errors.New("The DPoP proof JWT is malformed.")
	}
	hdr := jws.Signatures[0].Protected
	if typ, _ := hdr.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return c, "", errors.New("The DPoP proof JWT typ header must be dpop+jwt.")
	}
	if hdr.JSONWebKey == nil || !hdr.JSONWebKey.IsPublic() || !hdr.JSONWebKey.Valid() {
		return c, "", errors.New("The DPoP proof JWT has no valid public jwk header.")
	}
	payload, err := jws.Verify(hdr.JSONWebKey)
	if err != nil {
		return c, "", errors.New("The DPoP proof JWT signature is invalid.")
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, "", errors.New("The DPoP proof JWT claims are malformed.")
	}
	iat := time.Unix(c.IAT, 0)
	switch {
	case c.HTM != htm:
		return c, "", fmt.Errorf("The DPoP proof htm %q does not match the request method %s.", c.HTM, htm)
	case c.HTU != htu:
		return c, "", fmt.Errorf("The DPoP proof htu %q does not match the request URL %s.", c.HTU, htu)
	case c.IAT == 0 || iat.Before(now.Add(-5*time.Minute)) || iat.After(now.Add(time.Minute)):
		return c, "", errors.New("The DPoP proof JWT iat is too far from the current time.")
	case c.JTI == "":
		return c, "", errors.New("The DPoP proof JWT has no jti.")
	case ath != "" && c.ATH != ath:
		return c, "", errors.New("The DPoP proof ath does not match the access token.")
	}
	if s.seenLocked("p:"+c.JTI, now.Add(10*time.Minute), now) {
		return c, "", errors.New("The DPoP proof JWT jti has already been used.")
	}
	thumb, err := hdr.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return c, "", errors.New("The DPoP proof JWT jwk cannot be thumbprinted.")
	}
	return c, base64.RawURLEncoding.EncodeToString(thumb), nil
}
