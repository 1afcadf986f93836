package config_test

import (
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
)

func storedForBinding() config.Settings {
	s := config.Defaults()
	config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "https://acme.okta.com" })
	config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = "stored-okta-token" })
	s.Bitwarden.Server = config.ServerEU
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
		mod     func(*config.Settings)
		errs    []string // paths that must be re-entered
		carried []string // secrets carried over
	}{
		{"same hosts", func(*config.Settings) {}, nil, []string{okta.FieldToken, config.FieldBWClientSecret, config.FieldWebhooks}},
		{"same URL written differently", func(s *config.Settings) {
			config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = " https://ACME.okta.com/ " })
		}, nil, []string{okta.FieldToken}},
		{"org URL changed", func(s *config.Settings) {
			config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "https://evil.example.com" })
		}, []string{okta.FieldToken}, []string{config.FieldBWClientSecret, config.FieldWebhooks}},
		{"bitwarden server changed", func(s *config.Settings) { s.Bitwarden.Server = "https://vault.evil.example.com" }, []string{config.FieldBWClientSecret}, []string{okta.FieldToken}},
		{"client id changed", func(s *config.Settings) { s.Bitwarden.ClientID = "organization.99999999-aaaa-bbbb-cccc-123456789012" }, []string{config.FieldBWClientSecret}, nil},
		{"a typed secret is kept as typed", func(s *config.Settings) {
			config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "https://other.okta.com" })
			config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = "typed" })
		}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored := storedForBinding()
			next := stored
			for _, f := range next.SecretFields() {
				if f.Path != okta.FieldToken || tc.name != "a typed secret is kept as typed" {
					*f.Value = ""
				}
			}
			tc.mod(&next)
			fe := config.CarrySecrets(stored, &next, keepAll)
			if len(fe) != len(tc.errs) {
				t.Fatalf("errors %v, want %v", fe, tc.errs)
			}
			for _, p := range tc.errs {
				if !strings.Contains(fe[p], "enter") {
					t.Errorf("%s: %q", p, fe[p])
				}
				for _, f := range next.SecretFields() {
					if f.Path == p && f.Value.IsSet() {
						t.Errorf("%s was carried to a changed host", p)
					}
				}
			}
			for _, p := range tc.carried {
				old := map[string]config.Secret{}
				for _, f := range stored.SecretFields() {
					old[f.Path] = *f.Value
				}
				for _, f := range next.SecretFields() {
					if f.Path == p && *f.Value != old[p] {
						t.Errorf("%s not carried", p)
					}
				}
			}
			if tc.name == "a typed secret is kept as typed" && okta.Of(next.Directory).Token != "typed" {
				t.Errorf("typed token replaced by %q", okta.Of(next.Directory).Token.Reveal())
			}
		})
	}
	// keep false (a form's "clear", a file that gives the field) carries nothing.
	stored := storedForBinding()
	next := stored
	next.Alerts.WebhookURLs = ""
	if fe := config.CarrySecrets(stored, &next, func(p string) bool { return p != config.FieldWebhooks }); fe != nil || next.Alerts.WebhookURLs.IsSet() {
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
	got := config.Redact(text, vals...)
	if strings.Contains(got, "stored-") || strings.Contains(got, "hooks.example.com/x") || strings.Count(got, config.RedactedSecret) != 3 {
		t.Fatalf("Redact = %q", got)
	}
	if config.Redact("abc abc", "abc") != "abc abc" {
		t.Fatal("a 3-character secret garbles text")
	}
}
