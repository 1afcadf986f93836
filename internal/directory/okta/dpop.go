package okta

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// dpopSigner signs DPoP proofs (RFC 9449) with a P-256 key made once per
// process and never stored: tokens are bound to it (cnf.jkt), and they die
// with the process anyway, as the token cache lives in memory only.
var dpopSigner = sync.OnceValues(func() (jose.Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("okta: make the DPoP key: %w", err)
	}
	return jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
})

// dpopProof is a fresh proof for one request: htm, htu (the URL without
// query and fragment, RFC 9449 §4.2), iat, a unique jti, ath (the
// SHA-256 of the access token) when a token is presented, and the
// server's latest nonce when it sent one.
func dpopProof(method string, u *url.URL, accessToken, nonce string, now time.Time) (string, error) {
	signer, err := dpopSigner()
	if err != nil {
		return "", err
	}
	claims := map[string]any{
		"htm": method,
		"htu": htu(u),
		"iat": now.Unix(),
		"jti": randomID(),
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("okta: sign the DPoP proof: %w", err)
	}
	return jws.CompactSerialize()
}

// htu is the proof's target URI: scheme, host and path only.
func htu(u *url.URL) string {
	// The decoded path: Okta compares htu with the normalized request
	// URI, so a percent-encoded form would not match.
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return v.String()
}
