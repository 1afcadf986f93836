package okta

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"

	"github.com/dirsync/dirsync/internal/directory/okta/oauthkey"
)

// OAuth 2.0 service apps ("API Services" app integrations) authenticate
// with private_key_jwt, the only client authentication Okta allows for
// tokens with okta.* scopes, and (by default for apps created since 2024)
// DPoP, RFC 9449. x/oauth2 has neither DPoP nor a per-request signing
// hook, so this file is a small token source of its own; go-jose (a
// maintained JOSE library) does the JWS signing and JWK work.
//
// Okta's side of the protocol: okta-management-openapi-spec,
// dist/current/oauth-oneOfInheritance.yaml (POST /oauth2/v1/token, the
// OAuthError examples such as OAuthError401InvalidClient_InvalidClientId),
// and Okta's guides "Implement OAuth for Okta with a service app" and
// "Configure OAuth 2.0 Demonstrating Proof-of-Possession".

// DefaultScopes are the scopes dirsync asks for: read users and groups,
// nothing else.
var DefaultScopes = []string{"okta.users.read", "okta.groups.read"}

// BucketToken is the RequestEvent bucket of token requests.
const BucketToken = "token"

// TokenPath is the org authorization server's token endpoint.
const TokenPath = "/oauth2/v1/token"

const (
	// assertionTTL is the client assertion's lifetime; Okta allows at
	// most an hour.
	assertionTTL = 5 * time.Minute
	// tokenMargin is how long before its expiry a cached token is
	// replaced, so that no request carries a token that expires in flight.
	tokenMargin = 2 * time.Minute
	// maxNonceRetries bounds use_dpop_nonce answers to one token request.
	maxNonceRetries = 2
	// maxNonceRetries bounds the times one API page is sent again with a
	// new DPoP nonce, and maxRemints the times with a new token (after a
	// 401 for an expired or revoked one).
	maxAPINonceRetries  = 3
	maxRemints          = 1
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// OAuth configures an Okta OAuth 2.0 service app instead of an SSWS token.
type OAuth struct {
	// ClientID is the app's client ID (0oa…): the assertion's iss and sub.
	ClientID string
	// PrivateKey is the PEM private key whose public half is registered
	// with the app (see oauthkey.Parse for the forms accepted). It is only
	// used to sign; it never leaves the process.
	PrivateKey string
	// KeyID is the JWS kid of the key, optional: Okta needs it only when
	// the app has more than one key.
	KeyID string
	// Scopes default to DefaultScopes.
	Scopes []string
}

// TokenError is a refusal from Okta's token endpoint, with advice for the
// admin that depends on the OAuth error code.
type TokenError struct {
	Status int
	// Code is the OAuth error ("invalid_client", "invalid_scope",
	// "invalid_dpop_proof", …); Description is Okta's error_description.
	Code        string
	Description string
	// Body is the start of a non-JSON answer (a proxy's page).
	Body     string
	ClientID string
	KeyID    string
	Scopes   []string
}

// Error reads like "okta: POST /oauth2/v1/token: 401 invalid_client (…);
// <what to do>".
func (e *TokenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "okta: POST %s: %d", TokenPath, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	} else if t := http.StatusText(e.Status); t != "" {
		b.WriteString(" " + t)
	}
	if e.Description != "" {
		b.WriteString(" (" + e.Description + ")")
	} else if e.Body != "" {
		fmt.Fprintf(&b, " (not an Okta answer: %q)", e.Body)
	}
	if h := e.Hint(); h != "" {
		b.WriteString("; " + h)
	}
	return b.String()
}

// Hint says what to change in Okta or in dirsync's settings.
func (e *TokenError) Hint() string {
	switch e.Code {
	case "invalid_client":
		kid := fmt.Sprintf("that its key ID (kid) is %q", e.KeyID)
		if e.KeyID == "" {
			kid = "and, if the app has more than one key, set the key ID (kid) here"
		}
		return fmt.Sprintf("Okta did not accept the service app's credentials: check that %q is the client ID of an API Services app, "+
			"that its Client Credentials use \"Public key / Private key\" with the public key of this private key added and Active, %s",
			e.ClientID, kid)
	case "invalid_scope":
		return fmt.Sprintf("the app has not been granted the scopes dirsync asks for: in Okta open Applications → the app → Okta API Scopes and grant %s",
			strings.Join(e.Scopes, " and "))
	case "invalid_dpop_proof":
		return "Okta refused dirsync's DPoP proof: check that this machine's clock is right (proofs are dated); " +
			"if the app should not use DPoP, clear \"Require Demonstrating Proof of Possession (DPoP) header in token requests\" in its General Settings"
	case "use_dpop_nonce":
		return "Okta kept asking for a new DPoP nonce; try again"
	case "unauthorized_client":
		return "the app may not use the client credentials grant: use an API Services app integration (Applications → Create App Integration → API Services)"
	case "invalid_grant", "unsupported_grant_type":
		return "the app must be an API Services app integration, which uses the client credentials grant"
	}
	if e.Status == http.StatusNotFound {
		return "check the org URL (the token endpoint is {org URL}" + TokenPath + ")"
	}
	return ""
}

// IsTokenError reports whether err is a refusal from the token endpoint
// with the given OAuth error code ("" matches any).
func IsTokenError(err error, code string) bool {
	var te *TokenError
	return errors.As(err, &te) && (code == "" || te.Code == code)
}

// authenticator puts credentials on API requests; the Client's request
// path calls it and knows nothing of the scheme.
type authenticator interface {
	// authorize sets the Authorization header (and DPoP proof) of req.
	authorize(ctx context.Context, c *Client, req *http.Request) error
	// answered sees every API answer's headers. It says whether the
	// request should be sent again with fresh credentials.
	answered(req *http.Request, resp *http.Response) retryKind
	// oauth reports whether this is a service app (for error hints).
	oauth() bool
}

// sswsAuth is the API-token scheme.
type sswsAuth struct{ token string }

func (a sswsAuth) authorize(_ context.Context, _ *Client, req *http.Request) error {
	req.Header.Set("Authorization", "SSWS "+a.token)
	return nil
}
func (sswsAuth) answered(*http.Request, *http.Response) retryKind { return noRetry }
func (sswsAuth) oauth() bool                                      { return false }

// retryKind is why a request is sent again with fresh credentials.
type retryKind int

const (
	noRetry    retryKind = iota
	retryNonce           // the server sent a new DPoP nonce
	retryToken           // the token was refused; a new one is minted
)

// authRetryError marks an answer whose request is to be sent again with
// fresh credentials; it carries the answer's error for when the retries
// run out.
type authRetryError struct {
	kind retryKind
	err  error
}

func (e *authRetryError) Error() string { return e.err.Error() }
func (e *authRetryError) Unwrap() error { return e.err }

// oauthAuth is the service-app scheme of one Client. The token and the
// nonces live in a process-wide oauthState, so that the clients of
// successive runs (the engine makes one per run) share a token until it
// expires instead of minting one per run.
type oauthAuth struct {
	clientID string
	keyID    string
	scopes   []string
	signer   jose.Signer
	tokenURL string
	state    *oauthState

	// refused is this client's (this run's) permanent token refusal: the
	// users, groups and member reads that ask after it get it at once
	// instead of each asking the token endpoint again.
	refusedMu sync.Mutex
	refused   error
}

// oauthState is what clients of the same org and app share.
type oauthState struct {
	sf singleflight.Group

	mu        sync.Mutex
	token     string
	tokenType string // "DPoP" or "Bearer"
	expires   time.Time
	asNonce   string // the token endpoint's latest DPoP nonce
	rsNonce   string // the API's latest DPoP nonce
	// noDPoP is set once the token endpoint refused an offered proof and
	// then issued a token without one: the app does not use DPoP.
	noDPoP bool
}

var (
	statesMu sync.Mutex
	states   = map[string]*oauthState{}
)

// sharedState returns the state of an org and app; the key includes a
// hash of the private key, so a new key never reuses an old key's token.
func sharedState(orgURL string, o *OAuth) *oauthState {
	h := sha256.New()
	for _, s := range []string{orgURL, o.ClientID, o.KeyID, o.PrivateKey, strings.Join(o.Scopes, " ")} {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	key := hex.EncodeToString(h.Sum(nil))
	statesMu.Lock()
	defer statesMu.Unlock()
	st := states[key]
	if st == nil {
		st = &oauthState{}
		states[key] = st
	}
	return st
}

func newOAuthAuth(orgURL string, o *OAuth) (*oauthAuth, error) {
	if strings.TrimSpace(o.ClientID) == "" {
		return nil, errors.New("okta: the service app's client ID is required")
	}
	key, err := oauthkey.Parse(o.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("okta: service app private key: %w", err)
	}
	if len(o.Scopes) == 0 {
		o.Scopes = slices.Clone(DefaultScopes)
	}
	jwk := jose.JSONWebKey{Key: key.Signer, KeyID: o.KeyID, Algorithm: key.Alg}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Alg), Key: jwk},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("okta: service app private key: %w", err)
	}
	return &oauthAuth{
		clientID: o.ClientID, keyID: o.KeyID, scopes: o.Scopes, signer: signer,
		tokenURL: orgURL + TokenPath, state: sharedState(orgURL, o),
	}, nil
}

func (a *oauthAuth) oauth() bool { return true }

func (a *oauthAuth) authorize(ctx context.Context, c *Client, req *http.Request) error {
	tok, typ, err := a.accessToken(ctx, c)
	if err != nil {
		return err
	}
	if typ != "DPoP" {
		req.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
	a.state.mu.Lock()
	nonce := a.state.rsNonce
	a.state.mu.Unlock()
	proof, err := dpopProof(req.Method, req.URL, tok, nonce, c.cfg.Now())
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	return nil
}

func (a *oauthAuth) answered(req *http.Request, resp *http.Response) retryKind {
	nonce := resp.Header.Get("DPoP-Nonce")
	used := strings.TrimPrefix(strings.TrimPrefix(req.Header.Get("Authorization"), "DPoP "), "Bearer ")
	a.state.mu.Lock()
	defer a.state.mu.Unlock()
	if nonce != "" {
		a.state.rsNonce = nonce
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return noRetry
	}
	switch challengeError(resp.Header) {
	case "use_dpop_nonce":
		// Worth a retry only with a nonce other than the one refused.
		if nonce != "" && nonce != proofNonce(req.Header.Get("DPoP")) {
			return retryNonce
		}
		return noRetry
	case "invalid_dpop_proof":
		return noRetry
	}
	// Expired or revoked (Okta answers 401 E0000011): forget the token, so
	// the retry mints a new one, unless another request already did.
	if a.state.token == used {
		a.state.token, a.state.expires = "", time.Time{}
	}
	return retryToken
}

// proofNonce is the nonce claim of a DPoP proof dirsync made.
func proofNonce(proof string) string {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Nonce string `json:"nonce"`
	}
	_ = json.Unmarshal(raw, &c)
	return c.Nonce
}

// challengeError is the error parameter of a DPoP or Bearer
// WWW-Authenticate challenge ("" if none).
func challengeError(h http.Header) string {
	for _, v := range h.Values("WWW-Authenticate") {
		i := strings.Index(v, `error="`)
		if i < 0 {
			continue
		}
		rest := v[i+len(`error="`):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			return rest[:j]
		}
	}
	return ""
}

// accessToken returns a cached token, or mints one; concurrent callers
// share one mint.
func (a *oauthAuth) accessToken(ctx context.Context, c *Client) (string, string, error) {
	now := c.cfg.Now()
	a.state.mu.Lock()
	if a.state.token != "" && now.Before(a.state.expires) {
		tok, typ := a.state.token, a.state.tokenType
		a.state.mu.Unlock()
		return tok, typ, nil
	}
	a.state.mu.Unlock()
	a.refusedMu.Lock()
	refused := a.refused
	a.refusedMu.Unlock()
	if refused != nil {
		return "", "", refused
	}
	ch := a.state.sf.DoChan("token", func() (any, error) {
		// Another caller's mint may have ended between this caller's look
		// at the cache and this call (the flight was over, so it did not
		// join it): use its token rather than mint a second.
		a.state.mu.Lock()
		fresh := a.state.token != "" && c.cfg.Now().Before(a.state.expires)
		a.state.mu.Unlock()
		if fresh {
			return nil, nil
		}
		// Detached from the first caller: another caller may wait on it.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RequestTimeout)
		defer cancel()
		return nil, a.mint(mctx, c)
	})
	select {
	case <-ctx.Done():
		return "", "", ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			if _, ok := errors.AsType[*TokenError](res.Err); ok {
				a.refusedMu.Lock()
				a.refused = res.Err
				a.refusedMu.Unlock()
			}
			return "", "", res.Err
		}
	}
	a.state.mu.Lock()
	defer a.state.mu.Unlock()
	return a.state.token, a.state.tokenType, nil
}

type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// mint asks the token endpoint for a token, answering use_dpop_nonce with
// a new proof, and stores it in the shared state.
func (a *oauthAuth) mint(ctx context.Context, c *Client) error {
	var refused *TokenError // a refusal of the offered DPoP proof
	for attempt := 0; ; attempt++ {
		a.state.mu.Lock()
		nonce, withDPoP := a.state.asNonce, !a.state.noDPoP
		a.state.mu.Unlock()
		ans, status, header, raw, err := a.tokenRequest(ctx, c, nonce, withDPoP)
		if err != nil {
			return err
		}
		if n := header.Get("DPoP-Nonce"); n != "" {
			a.state.mu.Lock()
			a.state.asNonce = n
			a.state.mu.Unlock()
		}
		if status == http.StatusOK && ans.AccessToken != "" {
			typ := "Bearer"
			if strings.EqualFold(ans.TokenType, "DPoP") {
				typ = "DPoP"
			}
			ttl := time.Duration(ans.ExpiresIn) * time.Second
			if ttl <= 0 {
				ttl = time.Hour
			}
			margin := min(tokenMargin, ttl/4)
			a.state.mu.Lock()
			a.state.token, a.state.tokenType = ans.AccessToken, typ
			a.state.expires = c.cfg.Now().Add(ttl - margin)
			a.state.mu.Unlock()
			c.logger(ctx).Info("okta: service app token minted", "type", typ, "expires_in", ttl)
			return nil
		}
		if status == http.StatusTooManyRequests || status >= 500 {
			// Worth retrying, also when it answered the ask without a
			// proof: that says nothing about whether the proof was needed,
			// so the next mint offers one again.
			if refused != nil {
				a.state.mu.Lock()
				a.state.noDPoP = false
				a.state.mu.Unlock()
			}
			return &transportError{err: fmt.Errorf("okta: POST %s: %d %s", TokenPath, status, http.StatusText(status))}
		}
		if refused != nil {
			// Without the proof it was refused too: the proof was needed,
			// and its refusal is the error to report.
			a.state.mu.Lock()
			a.state.noDPoP = false
			a.state.mu.Unlock()
			return refused
		}
		if ans.Error == "use_dpop_nonce" && header.Get("DPoP-Nonce") != "" && attempt < maxNonceRetries {
			continue
		}
		te := &TokenError{Status: status, Code: ans.Error, Description: c.scrub(ans.ErrorDescription),
			ClientID: a.clientID, KeyID: a.keyID, Scopes: a.scopes}
		if te.Code == "" {
			if status == http.StatusOK {
				te.Description = "the answer has no access_token"
			} else {
				te.Body = snippet([]byte(c.scrub(string(raw))), "")
			}
		}
		// An app without DPoP may refuse an offered proof rather than
		// ignore it (RFC 9449 lets it do either): ask once without one.
		if withDPoP && status == http.StatusBadRequest && mentionsDPoP(ans) {
			refused = te
			a.state.mu.Lock()
			a.state.noDPoP = true
			a.state.mu.Unlock()
			continue
		}
		return te
	}
}

// tokenRequest sends one token request with a fresh client assertion and
// DPoP proof.
// mentionsDPoP reports whether a token refusal is about the DPoP proof.
func mentionsDPoP(ans tokenAnswer) bool {
	return ans.Error == "invalid_dpop_proof" ||
		(ans.Error == "invalid_request" && strings.Contains(strings.ToLower(ans.ErrorDescription), "dpop"))
}

func (a *oauthAuth) tokenRequest(ctx context.Context, c *Client, nonce string, withDPoP bool) (tokenAnswer, int, http.Header, []byte, error) {
	now := c.cfg.Now()
	assertion, err := a.assertion(now)
	if err != nil {
		return tokenAnswer{}, 0, nil, nil, err
	}
	u, _ := url.Parse(a.tokenURL)
	proof, err := dpopProof(http.MethodPost, u, "", nonce, now)
	if err != nil {
		return tokenAnswer{}, 0, nil, nil, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {strings.Join(a.scopes, " ")},
		"client_assertion_type": {clientAssertionType},
		"client_assertion":      {assertion},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenAnswer{}, 0, nil, nil, fmt.Errorf("okta: POST %s: %w", TokenPath, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	// Offered unless the app was seen not to use DPoP: an app that
	// requires it refuses a request without it, and one that does not
	// answers token_type "Bearer" (RFC 9449 §5) or refuses the proof (then
	// mint asks again without it).
	if withDPoP {
		req.Header.Set("DPoP", proof)
	}
	start := time.Now()
	ev := RequestEvent{Kind: KindName, Method: http.MethodPost, Path: TokenPath, Bucket: BucketToken, RateLimitRemaining: -1, RateLimitLimit: -1}
	resp, err := c.http.Do(req)
	if err == nil {
		ev.Status = resp.StatusCode
		rh := readRateHeaders(resp.Header, c.cfg.Now())
		ev.RateLimitLimit, ev.RateLimitRemaining = rh.limit, rh.remaining
	}
	ev.Duration = time.Since(start)
	c.logger(ctx).Debug("okta: request", "path", TokenPath, "status", ev.Status, "duration", ev.Duration)
	if c.cfg.Observer != nil {
		c.cfg.Observer(ev)
	}
	if err != nil {
		if errors.Is(err, ErrForeignLink) {
			return tokenAnswer{}, 0, nil, nil, fmt.Errorf("okta: POST %s: %w", TokenPath, err)
		}
		return tokenAnswer{}, 0, nil, nil, &transportError{err: fmt.Errorf("okta: POST %s: %w", TokenPath, describeTransport(err, ctx, c.cfg.RequestTimeout))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return tokenAnswer{}, 0, nil, nil, &transportError{err: fmt.Errorf("okta: POST %s: reading the answer: %w", TokenPath, err)}
	}
	var ans tokenAnswer
	_ = json.Unmarshal(raw, &ans)
	return ans, resp.StatusCode, resp.Header, raw, nil
}

// assertion is a fresh private_key_jwt client assertion: iss = sub =
// client ID, aud = the token endpoint, a unique jti, five minutes of life.
func (a *oauthAuth) assertion(now time.Time) (string, error) {
	claims := map[string]any{
		"iss": a.clientID,
		"sub": a.clientID,
		"aud": a.tokenURL,
		"iat": now.Unix(),
		"exp": now.Add(assertionTTL).Unix(),
		"jti": randomID(),
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := a.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("okta: sign the client assertion: %w", err)
	}
	return jws.CompactSerialize()
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
