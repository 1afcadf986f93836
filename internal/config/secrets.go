package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// SecretField describes one write-only setting: where it lives in
// Settings and which non-secret fields say where it is sent. A stored
// secret is carried over into new settings (a form left empty, an import
// with "[REDACTED]") only while those fields are unchanged, so pointing
// the settings at another host can never send it there.
//
// To add a secret (an OAuth private key, say), add an entry to
// SecretFields; every path that merges stored secrets (the Settings form,
// "Test these settings", `config import`, the engine's unsaved-settings
// run) goes through CarrySecrets.
type SecretField struct {
	// Path is the field path, as in FieldErrors ("okta.token").
	Path string
	// Name is how messages call it ("the Okta API token").
	Name string
	// Get returns a pointer to the secret in s.
	Get func(s *Settings) *Secret
	// BoundTo returns the place the secret is sent to, from normalized
	// settings ("" for a secret that is its own destination, such as a
	// webhook URL).
	BoundTo func(s Settings) string
	// BoundName names the fields of BoundTo for messages ("the Okta org
	// URL").
	BoundName string
	// Applies, when set, says whether the settings use this secret at all
	// (the Okta token and the service app's key exclude each other): a
	// stored secret the new settings do not use is dropped, silently.
	Applies func(s Settings) bool
}

// SecretFields lists every secret of Settings.
var SecretFields = []SecretField{
	{
		Path: FieldOktaToken, Name: "the Okta API token",
		Get:       func(s *Settings) *Secret { return &s.Directory.Okta.Token },
		BoundTo:   func(s Settings) string { return s.Directory.Type + "\x00" + strings.ToLower(s.Directory.Okta.OrgURL) },
		BoundName: "the Okta org URL",
		Applies:   func(s Settings) bool { return !s.Directory.Okta.UsesOAuth() },
	},
	{
		Path: FieldOktaPrivateKey, Name: "the service app's private key",
		Get:       func(s *Settings) *Secret { return &s.Directory.Okta.PrivateKey },
		BoundTo:   func(s Settings) string { return s.Directory.Type + "\x00" + strings.ToLower(s.Directory.Okta.OrgURL) },
		BoundName: "the Okta org URL",
		// The key is what makes settings OAuth ones; with a client ID
		// given (the form's OAuth choice), a stored key applies.
		Applies: func(s Settings) bool { return s.Directory.Okta.ClientID != "" },
	},
	{
		Path: FieldBWClientSecret, Name: "the Bitwarden client secret",
		Get:       func(s *Settings) *Secret { return &s.Bitwarden.ClientSecret },
		BoundTo:   func(s Settings) string { return strings.ToLower(s.Bitwarden.Server) + "\x00" + s.Bitwarden.ClientID },
		BoundName: "the Bitwarden server or client id",
	},
	{
		Path: FieldWebhooks, Name: "the alert webhook URLs",
		Get:     func(s *Settings) *Secret { return &s.Alerts.WebhookURLs },
		BoundTo: func(Settings) string { return "" },
	},
}

// CarrySecrets fills each secret that next leaves to the stored settings
// (keep reports true for its path) from stored, but only when the fields
// that bind it are unchanged. When they changed, the secret stays empty
// and the returned FieldErrors (nil if none) say, by path, that it must be
// entered again. A secret given in next is never touched.
func CarrySecrets(stored Settings, next *Settings, keep func(path string) bool) FieldErrors {
	a, b := stored, *next
	a.Normalize()
	b.Normalize()
	var fe FieldErrors
	for _, f := range SecretFields {
		dst := f.Get(next)
		if dst.IsSet() || !keep(f.Path) || (f.Applies != nil && !f.Applies(b)) {
			continue
		}
		old := *f.Get(&stored)
		if !old.IsSet() {
			continue
		}
		if f.BoundTo(a) != f.BoundTo(b) {
			if fe == nil {
				fe = FieldErrors{}
			}
			fe[f.Path] = fmt.Sprintf("%s changed, so enter %s again: a stored secret is only sent to where it was entered", f.BoundName, f.Name)
			continue
		}
		*dst = old
	}
	return fe
}

// SecretValues returns every secret value set in s (each webhook URL on
// its own), longest first, for scrubbing texts that came from elsewhere.
func (s Settings) SecretValues() []string {
	var out []string
	for _, f := range SecretFields {
		v := f.Get(&s).Reveal()
		if f.Path == FieldWebhooks {
			out = append(out, s.Alerts.Webhooks()...)
			continue
		}
		if strings.TrimSpace(v) != "" {
			out = append(out, v)
		}
	}
	// Longest first, so a secret containing another is replaced whole.
	slices.SortStableFunc(out, func(x, y string) int { return cmp.Compare(len(y), len(x)) })
	return out
}

// Redact replaces every occurrence of each secret in text with
// "[REDACTED]". Secrets shorter than 4 characters are skipped: they would
// garble ordinary words and protect nothing.
func Redact(text string, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 && strings.Contains(text, sec) {
			text = strings.ReplaceAll(text, sec, RedactedSecret)
		}
	}
	return text
}
