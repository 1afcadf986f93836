// Package oauthkey reads the private key of an Okta OAuth 2.0 service app
// from PEM. It is a leaf (standard library only) so that config can check
// a pasted key when settings are saved, and the Okta client can sign with
// the same parse.
package oauthkey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MinRSABits is the smallest RSA key accepted; Okta refuses shorter keys
// for client authentication.
const MinRSABits = 2048

// Key is a parsed service-app private key.
type Key struct {
	// Signer is an *rsa.PrivateKey or an *ecdsa.PrivateKey on P-256.
	Signer crypto.Signer
	// Alg is the JWS algorithm for this key: "RS256" or "ES256".
	Alg string
}

// Parse reads one PEM private key: PKCS#8 ("PRIVATE KEY", RSA or EC
// P-256), PKCS#1 ("RSA PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY", P-256).
// Its errors are sentences an admin can act on; they never quote the key.
func Parse(pemText string) (Key, error) {
	text := strings.TrimSpace(pemText)
	if text == "" {
		return Key{}, errors.New("the private key is empty")
	}
	if strings.HasPrefix(text, "{") {
		return Key{}, errors.New(`this looks like a JWK (JSON); paste the PEM form instead (in Okta's "Add a public key" dialog choose the PEM tab, or convert the JWK to PEM)`)
	}
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return Key{}, errors.New(`not a PEM private key; paste the whole key, from "-----BEGIN PRIVATE KEY-----" to the matching END line`)
	}
	var raw any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		raw, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		if _, encrypted := block.Headers["Proc-Type"]; encrypted {
			return Key{}, errors.New("the private key is encrypted; decrypt it first (openssl rsa -in key.pem -out plain.pem)")
		}
		raw, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		if _, encrypted := block.Headers["Proc-Type"]; encrypted {
			return Key{}, errors.New("the private key is encrypted; decrypt it first (openssl ec -in key.pem -out plain.pem)")
		}
		raw, err = x509.ParseECPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return Key{}, errors.New("the private key is encrypted; decrypt it first (openssl pkcs8 -in key.pem -out plain.pem)")
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return Key{}, fmt.Errorf("this is a %s, not the private key; Okta keeps the public key, dirsync needs the private one", strings.ToLower(block.Type))
	default:
		return Key{}, fmt.Errorf("unsupported PEM block %q; use a PKCS#8 (BEGIN PRIVATE KEY), PKCS#1 (BEGIN RSA PRIVATE KEY) or EC (BEGIN EC PRIVATE KEY) key", block.Type)
	}
	if err != nil {
		return Key{}, fmt.Errorf("the %s block cannot be read (%v); paste the key exactly as Okta or openssl wrote it", block.Type, err)
	}
	switch k := raw.(type) {
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < MinRSABits {
			return Key{}, fmt.Errorf("the RSA key has %d bits; Okta needs at least %d", n, MinRSABits)
		}
		return Key{Signer: k, Alg: "RS256"}, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return Key{}, fmt.Errorf("the EC key is on curve %s; use P-256 (ES256)", k.Curve.Params().Name)
		}
		return Key{Signer: k, Alg: "ES256"}, nil
	default:
		return Key{}, fmt.Errorf("unsupported key type %T; use an RSA (2048 bits or more) or EC P-256 key", raw)
	}
}
