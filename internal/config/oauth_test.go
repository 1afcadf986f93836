package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func testPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func oauthSettings(t *testing.T) Settings {
	s := Defaults()
	s.Directory.Okta.OrgURL = "https://acme.okta.com"
	s.Directory.Okta.ClientID = "0oa1b2c3d4EXAMPLE5x7"
	s.Directory.Okta.PrivateKey = Secret(testPEM(t))
	s.Bitwarden.ClientID = "organization.1b2c3d4e"
	s.Bitwarden.ClientSecret = "bw-secret"
	s.Normalize()
	return s
}

func TestValidateOktaAuth(t *testing.T) {
	if err := oauthSettings(t).Validate(true); err != nil {
		t.Fatalf("OAuth settings refused: %v", err)
	}
	crlf := oauthSettings(t)
	crlf.Directory.Okta.PrivateKey = Secret(strings.ReplaceAll(strings.TrimSpace(crlf.Directory.Okta.PrivateKey.Reveal()), "\n", "\r\n"))
	crlf.Normalize()
	if err := crlf.Validate(true); err != nil {
		t.Fatalf("a key pasted with CRLF line ends was refused: %v", err)
	}
	for _, tc := range []struct {
		name  string
		mod   func(*Okta)
		field string
		want  string
	}{
		{"both token and app", func(o *Okta) { o.Token = "tok" }, FieldOktaToken, "not both"},
		{"no client id", func(o *Okta) { o.ClientID = "" }, FieldOktaClientID, "client ID is required"},
		{"bad client id", func(o *Okta) { o.ClientID = "0oa <x>" }, FieldOktaClientID, "not an Okta client ID"},
		{"no key", func(o *Okta) { o.PrivateKey = "" }, FieldOktaPrivateKey, "private key (PEM) is required"},
		{"public key", func(o *Okta) {
			o.PrivateKey = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
		}, FieldOktaPrivateKey, "not the private key"},
		{"bad kid", func(o *Okta) { o.KeyID = "a b" }, FieldOktaKeyID, "not a key ID"},
		{"kid without app", func(o *Okta) { o.ClientID, o.PrivateKey, o.Token, o.KeyID = "", "", "tok", "k1" }, FieldOktaKeyID, "only used with an OAuth service app"},
		{"nothing", func(o *Okta) { o.ClientID, o.PrivateKey = "", "" }, FieldOktaToken, "or use an OAuth service app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthSettings(t)
			tc.mod(&s.Directory.Okta)
			err := s.Validate(true)
			fe, _ := err.(FieldErrors)
			if !strings.Contains(fe[tc.field], tc.want) {
				t.Fatalf("%s: %q, want %q (all: %v)", tc.field, fe[tc.field], tc.want, err)
			}
		})
	}
	// Kept from the stored profile: the key may be absent.
	s := oauthSettings(t)
	s.Directory.Okta.PrivateKey = ""
	if err := s.Validate(false); err != nil {
		t.Fatalf("Validate(false) without the key: %v", err)
	}
}

func TestPrivateKeyNeverPrinted(t *testing.T) {
	s := oauthSettings(t)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("settings", "s", s)
	var file bytes.Buffer
	if err := WriteFile(&file, s); err != nil {
		t.Fatal(err)
	}
	for where, text := range map[string]string{"%v": fmt.Sprintf("%v", s), "%+v": fmt.Sprintf("%+v", s), "%#v": fmt.Sprintf("%#v", s),
		"log": logged.String(), "export": file.String()} {
		if strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("%s shows the private key", where)
		}
	}
}

func TestOAuthImportExport(t *testing.T) {
	s := oauthSettings(t)
	s.Directory.Okta.KeyID = "k1"
	var file bytes.Buffer
	if err := WriteFile(&file, s); err != nil {
		t.Fatal(err)
	}
	out := file.String()
	for _, want := range []string{`"clientId": "0oa1b2c3d4EXAMPLE5x7"`, `"keyId": "k1"`, `"privateKey": "[REDACTED]"`} {
		if !strings.Contains(out, want) {
			t.Errorf("export lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, `"token"`) {
		t.Errorf("an OAuth export names the token:\n%s", out)
	}
	back, keep, err := ParseFileKeep(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if !keep.PrivateKey || back.Directory.Okta.ClientID != s.Directory.Okta.ClientID || back.Directory.Okta.KeyID != "k1" {
		t.Fatalf("import: keep %+v, okta %+v", keep, back.Directory.Okta)
	}
	// Re-importing the export into the same org keeps the stored key, and
	// not the token a token-era profile might still hold.
	stored := s
	stored.Directory.Okta.Token = "old-token"
	if fe := CarrySecrets(stored, &back, keep.Has); fe != nil {
		t.Fatal(fe)
	}
	if back.Directory.Okta.PrivateKey != s.Directory.Okta.PrivateKey || back.Directory.Okta.Token.IsSet() {
		t.Fatalf("carried: key %v, token %v", back.Directory.Okta.PrivateKey.IsSet(), back.Directory.Okta.Token.IsSet())
	}
	if err := back.Validate(true); err != nil {
		t.Fatal(err)
	}
	// A key in the file is taken as given.
	withKey := strings.Replace(out, `"privateKey": "[REDACTED]"`, fmt.Sprintf(`"privateKey": %q`, testPEM(t)), 1)
	got, keep, err := ParseFileKeep(strings.NewReader(withKey))
	if err != nil || keep.PrivateKey || !got.Directory.Okta.PrivateKey.IsSet() {
		t.Fatalf("import with a key: %v, keep %+v", err, keep)
	}
}

func TestCarrySecretsAcrossAuthMethods(t *testing.T) {
	oauth := oauthSettings(t)
	token := oauth
	token.Directory.Okta.ClientID, token.Directory.Okta.PrivateKey, token.Directory.Okta.Token = "", "", "tok-1234"
	all := func(string) bool { return true }

	// Token → OAuth: the stored token is dropped, silently.
	next := oauth
	next.Directory.Okta.PrivateKey = ""
	stored := token
	stored.Directory.Okta.PrivateKey = oauth.Directory.Okta.PrivateKey // a key kept from earlier
	if fe := CarrySecrets(stored, &next, all); fe != nil || next.Directory.Okta.Token.IsSet() || !next.Directory.Okta.PrivateKey.IsSet() {
		t.Fatalf("token → OAuth: %v, token %v, key %v", fe, next.Directory.Okta.Token.IsSet(), next.Directory.Okta.PrivateKey.IsSet())
	}
	// OAuth → token: the stored key is dropped.
	next = token
	next.Directory.Okta.Token = ""
	if fe := CarrySecrets(oauth, &next, all); fe != nil || next.Directory.Okta.PrivateKey.IsSet() {
		t.Fatalf("OAuth → token: %v, key %v", fe, next.Directory.Okta.PrivateKey.IsSet())
	}
	// Another org: the key must be entered again.
	next = oauth
	next.Directory.Okta.PrivateKey = ""
	next.Directory.Okta.OrgURL = "https://evil.example.com"
	fe := CarrySecrets(oauth, &next, all)
	if !strings.Contains(fe[FieldOktaPrivateKey], "enter the service app's private key again") || next.Directory.Okta.PrivateKey.IsSet() {
		t.Fatalf("org changed: %v", fe)
	}
}
