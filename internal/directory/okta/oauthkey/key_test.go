package oauthkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParse(t *testing.T) {
	r2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	r1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der8 := func(k any) []byte {
		d, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ecDER, _ := x509.MarshalECPrivateKey(p256)
	pubDER, _ := x509.MarshalPKIXPublicKey(&p256.PublicKey)
	for _, tc := range []struct {
		name, pem, alg, err string
	}{
		{"RSA PKCS#8", pemOf("PRIVATE KEY", der8(r2048)), "RS256", ""},
		{"RSA PKCS#1", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(r2048)), "RS256", ""},
		{"EC PKCS#8", "\n  " + pemOf("PRIVATE KEY", der8(p256)) + "\n", "ES256", ""},
		{"EC SEC 1", pemOf("EC PRIVATE KEY", ecDER), "ES256", ""},
		{"empty", "  ", "", "empty"},
		{"JWK", `{"kty":"EC"}`, "", "PEM tab"},
		{"garbage", "hello", "", "not a PEM private key"},
		{"public key", pemOf("PUBLIC KEY", pubDER), "", "not the private key"},
		{"encrypted", pemOf("ENCRYPTED PRIVATE KEY", []byte{1}), "", "decrypt it first"},
		{"short RSA", pemOf("PRIVATE KEY", der8(r1024)), "", "1024 bits"},
		{"P-384", pemOf("PRIVATE KEY", der8(p384)), "", "P-384"},
		{"damaged", pemOf("PRIVATE KEY", []byte("nope")), "", "cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Parse(tc.pem)
			if tc.err == "" {
				if err != nil || k.Alg != tc.alg || k.Signer == nil {
					t.Fatalf("Parse: %v, alg %q", err, k.Alg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Parse error %v, want %q", err, tc.err)
			}
			if strings.Contains(err.Error(), "BEGIN PRIVATE") && tc.name != "garbage" {
				t.Errorf("error quotes the key: %v", err)
			}
		})
	}
}
