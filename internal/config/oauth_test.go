package config_test

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

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
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

func oauthSettings(t *testing.T) config.Settings {
	s := config.Defaults()
	config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "https://acme.okta.com" })
	config.Edit(&s.Directory, func(o *okta.Settings) { o.ClientID = "0oa1b2c3d4EXAMPLE5x7" })
	config.Edit(&s.Directory, func(o *okta.Settings) { o.PrivateKey = config.Secret(testPEM(t)) })
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
	config.Edit(&crlf.Directory, func(o *okta.Settings) {
		o.PrivateKey = config.Secret(strings.ReplaceAll(strings.TrimSpace(okta.Of(crlf.Directory).PrivateKey.Reveal()), "\n", "\r\n"))
	})
	crlf.Normalize()
	if err := crlf.Validate(true); err != nil {
		t.Fatalf("a key pasted with CRLF line ends was refused: %v", err)
	}
	for _, tc := range []struct {
		name  string
		mod   func(*okta.Settings)
		field string
		want  string
	}{
		{"both token and app", func(o *okta.Settings) { o.Token = "tok" }, okta.FieldToken, "not both"},
		{"no client id", func(o *okta.Settings) { o.ClientID = "" }, okta.FieldClientID, "client ID is required"},
		{"bad client id", func(o *okta.Settings) { o.ClientID = "0oa <x>" }, okta.FieldClientID, "not an Okta client ID"},
		{"no key", func(o *okta.Settings) { o.PrivateKey = "" }, okta.FieldPrivateKey, "private key (PEM) is required"},
		{"public key", func(o *okta.Settings) {
			o.PrivateKey = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
		}, okta.FieldPrivateKey, "not the private key"},
		{"bad kid", func(o *okta.Settings) { o.KeyID = "a b" }, okta.FieldKeyID, "not a key ID"},
		{"kid without app", func(o *okta.Settings) { o.ClientID, o.PrivateKey, o.Token, o.KeyID = "", "", "tok", "k1" }, okta.FieldKeyID, "only used with an OAuth service app"},
		{"nothing", func(o *okta.Settings) { o.ClientID, o.PrivateKey = "", "" }, okta.FieldToken, "or use an OAuth service app"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := oauthSettings(t)
			config.Edit(&s.Directory, tc.mod)
			err := s.Validate(true)
			fe, _ := err.(config.FieldErrors)
			if !strings.Contains(fe[tc.field], tc.want) {
				t.Fatalf("%s: %q, want %q (all: %v)", tc.field, fe[tc.field], tc.want, err)
			}
		})
	}
	// Kept from the stored profile: the key may be absent.
	s := oauthSettings(t)
	config.Edit(&s.Directory, func(o *okta.Settings) { o.PrivateKey = "" })
	if err := s.Validate(false); err != nil {
		t.Fatalf("Validate(false) without the key: %v", err)
	}
}

func TestPrivateKeyNeverPrinted(t *testing.T) {
	s := oauthSettings(t)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("settings", "s", s)
	var file bytes.Buffer
	if err := config.WriteFile(&file, s); err != nil {
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
	config.Edit(&s.Directory, func(o *okta.Settings) { o.KeyID = "k1" })
	var file bytes.Buffer
	if err := config.WriteFile(&file, s); err != nil {
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
	back, keep, err := config.ParseFileKeep(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if !keep.Has(okta.FieldPrivateKey) || okta.Of(back.Directory).ClientID != okta.Of(s.Directory).ClientID || okta.Of(back.Directory).KeyID != "k1" {
		t.Fatalf("import: keep %+v, okta %+v", keep, okta.Of(back.Directory))
	}
	// Re-importing the export into the same org keeps the stored key, and
	// not the token a token-era profile might still hold.
	stored := s
	config.Edit(&stored.Directory, func(o *okta.Settings) { o.Token = "old-token" })
	if fe := config.CarrySecrets(stored, &back, keep.Has); fe != nil {
		t.Fatal(fe)
	}
	if okta.Of(back.Directory).PrivateKey != okta.Of(s.Directory).PrivateKey || okta.Of(back.Directory).Token.IsSet() {
		t.Fatalf("carried: key %v, token %v", okta.Of(back.Directory).PrivateKey.IsSet(), okta.Of(back.Directory).Token.IsSet())
	}
	if err := back.Validate(true); err != nil {
		t.Fatal(err)
	}
	// A key in the file is taken as given.
	withKey := strings.Replace(out, `"privateKey": "[REDACTED]"`, fmt.Sprintf(`"privateKey": %q`, testPEM(t)), 1)
	got, keep, err := config.ParseFileKeep(strings.NewReader(withKey))
	if err != nil || keep.Has(okta.FieldPrivateKey) || !okta.Of(got.Directory).PrivateKey.IsSet() {
		t.Fatalf("import with a key: %v, keep %+v", err, keep)
	}
}

func TestCarrySecretsAcrossAuthMethods(t *testing.T) {
	oauth := oauthSettings(t)
	token := oauth
	config.Edit(&token.Directory, func(o *okta.Settings) { o.ClientID, o.PrivateKey, o.Token = "", "", "tok-1234" })
	all := func(string) bool { return true }

	// Token → OAuth: the stored token is dropped, silently.
	next := oauth
	config.Edit(&next.Directory, func(o *okta.Settings) { o.PrivateKey = "" })
	stored := token
	config.Edit(&stored.Directory, func(o *okta.Settings) { o.PrivateKey = okta.Of(oauth.Directory).PrivateKey }) // a key kept from earlier
	if fe := config.CarrySecrets(stored, &next, all); fe != nil || okta.Of(next.Directory).Token.IsSet() || !okta.Of(next.Directory).PrivateKey.IsSet() {
		t.Fatalf("token → OAuth: %v, token %v, key %v", fe, okta.Of(next.Directory).Token.IsSet(), okta.Of(next.Directory).PrivateKey.IsSet())
	}
	// OAuth → token: the stored key is dropped.
	next = token
	config.Edit(&next.Directory, func(o *okta.Settings) { o.Token = "" })
	if fe := config.CarrySecrets(oauth, &next, all); fe != nil || okta.Of(next.Directory).PrivateKey.IsSet() {
		t.Fatalf("OAuth → token: %v, key %v", fe, okta.Of(next.Directory).PrivateKey.IsSet())
	}
	// Another org: the key must be entered again.
	next = oauth
	config.Edit(&next.Directory, func(o *okta.Settings) { o.PrivateKey = "" })
	config.Edit(&next.Directory, func(o *okta.Settings) { o.OrgURL = "https://evil.example.com" })
	fe := config.CarrySecrets(oauth, &next, all)
	if !strings.Contains(fe[okta.FieldPrivateKey], "enter the service app's private key again") || okta.Of(next.Directory).PrivateKey.IsSet() {
		t.Fatalf("org changed: %v", fe)
	}
}
