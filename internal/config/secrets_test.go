package config

import (
	"strings"
	"testing"
)

func storedForBinding() Settings {
	s := Defaults()
	s.Directory.Okta.OrgURL = "https://acme.okta.com"
	s.Directory.Okta.Token = "stored-okta-token"
	s.Bitwarden.Server = ServerEU
	s.Bitwarden.ClientID = "organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012"
	s.Bitwarden.ClientSecret = "stored-bw-secret"
	s.Alerts.WebhookURLs = "https://hooks.example.com/x"
	s.Normalize()
	return s
}

func TestCarrySecrets(t *testing.T) {
	keepAll := func(string) bool { return true }
	for _, tc := range []struct {
		name    string
		mod     func(*Settings)
		errs    []string // paths that must be re-entered
		carried []string // secrets carried over
	}{
		{"same hosts", func(*Settings) {}, nil, []string{FieldOktaToken, FieldBWClientSecret, FieldWebhooks}},
		{"same URL written differently", func(s *Settings) { s.Directory.Okta.OrgURL = " https://ACME.okta.com/ " }, nil, []string{FieldOktaToken}},
		{"org URL changed", func(s *Settings) { s.Directory.Okta.OrgURL = "https://evil.example.com" }, []string{FieldOktaToken}, []string{FieldBWClientSecret, FieldWebhooks}},
		{"bitwarden server changed", func(s *Settings) { s.Bitwarden.Server = "https://vault.evil.example.com" }, []string{FieldBWClientSecret}, []string{FieldOktaToken}},
		{"client id changed", func(s *Settings) { s.Bitwarden.ClientID = "organization.99999999-aaaa-bbbb-cccc-123456789012" }, []string{FieldBWClientSecret}, nil},
		{"a typed secret is kept as typed", func(s *Settings) {
			s.Directory.Okta.OrgURL = "https://other.okta.com"
			s.Directory.Okta.Token = "typed"
		}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := storedForBinding()
			next := stored
			for _, f := range SecretFields {
				if f.Path != FieldOktaToken || tc.name != "a typed secret is kept as typed" {
					*f.Get(&next) = ""
				}
			}
			tc.mod(&next)
			fe := CarrySecrets(stored, &next, keepAll)
			if len(fe) != len(tc.errs) {
				t.Fatalf("errors %v, want %v", fe, tc.errs)
			}
			for _, p := range tc.errs {
				if !strings.Contains(fe[p], "enter") {
					t.Errorf("%s: %q", p, fe[p])
				}
				for _, f := range SecretFields {
					if f.Path == p && f.Get(&next).IsSet() {
						t.Errorf("%s was carried to a changed host", p)
					}
				}
			}
			for _, p := range tc.carried {
				for _, f := range SecretFields {
					if f.Path == p && *f.Get(&next) != *f.Get(&stored) {
						t.Errorf("%s not carried", p)
					}
				}
			}
			if tc.name == "a typed secret is kept as typed" && next.Directory.Okta.Token != "typed" {
				t.Errorf("typed token replaced by %q", next.Directory.Okta.Token.Reveal())
			}
		})
	}
	// keep false (a form's "clear", a file that gives the field) carries nothing.
	stored := storedForBinding()
	next := stored
	next.Alerts.WebhookURLs = ""
	if fe := CarrySecrets(stored, &next, func(p string) bool { return p != FieldWebhooks }); fe != nil || next.Alerts.WebhookURLs.IsSet() {
		t.Fatalf("cleared webhooks came back: %v %v", fe, next.Alerts.WebhookURLs.IsSet())
	}
}

func TestRedactAndSecretValues(t *testing.T) {
	s := storedForBinding()
	vals := s.SecretValues()
	if len(vals) != 3 {
		t.Fatalf("secret values %d, want 3", len(vals))
	}
	for i := 1; i < len(vals); i++ {
		if len(vals[i]) > len(vals[i-1]) {
			t.Fatal("secret values are not longest first")
		}
	}
	text := "Authorization: SSWS stored-okta-token; secret=stored-bw-secret; hook https://hooks.example.com/x; ok"
	got := Redact(text, vals...)
	if strings.Contains(got, "stored-") || strings.Contains(got, "hooks.example.com/x") || strings.Count(got, RedactedSecret) != 3 {
		t.Fatalf("Redact = %q", got)
	}
	if Redact("abc abc", "abc") != "abc abc" {
		t.Fatal("a 3-character secret garbles text")
	}
}
