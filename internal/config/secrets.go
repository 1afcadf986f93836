package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/internal/directory"
)

// SecretField is one write-only setting (directory.SecretRef): where it
// lives in Settings and which non-secret fields say where it is sent. A
// stored secret is carried over into new settings (a form left empty, an
// import with "[REDACTED]") only while those fields are unchanged, so
// pointing the settings at another host can never send it there.
//
// The directory section declares its own (directory.Settings.Secrets);
// every path that merges stored secrets (the Settings form, "Test these
// settings", `config import`, the engine's unsaved-settings run) goes
// through CarrySecrets.
type SecretField = directory.SecretRef

// SecretFields lists every secret of s: the chosen directory type's, the
// Bitwarden client secret and the alert webhooks. Each Value points into
// s (the directory section is made s's own first), computed from s's
// current values.
func (s *Settings) SecretFields() []SecretField {
	var out []SecretField
	if cur := s.Directory.own(); cur != nil {
		out = append(out, cur.Secrets()...)
	}
	return append(out,
		SecretField{Path: FieldBWClientSecret, Name: "the Bitwarden client secret", Value: &s.Bitwarden.ClientSecret,
			BoundTo:   strings.ToLower(s.Bitwarden.Server) + "\x00" + s.Bitwarden.ClientID,
			BoundName: "the Bitwarden server or client id", Applies: true},
		// A webhook URL is its own destination.
		SecretField{Path: FieldWebhooks, Name: "the alert webhook URLs", Value: &s.Alerts.WebhookURLs, Applies: true},
	)
}

// ClearSecrets empties every secret of s, those of the sections of the
// types not chosen included (what the store writes as plain JSON).
func (s *Settings) ClearSecrets() {
	for _, name := range s.Directory.sectionNames() {
		sec := s.Directory.Section(name)
		for _, ref := range sec.Secrets() {
			*ref.Value = ""
		}
		s.Directory.SetSection(sec)
	}
	s.Bitwarden.ClientSecret, s.Alerts.WebhookURLs = "", ""
}

// CarrySecrets fills each secret that next leaves to the stored settings
// (keep reports true for its path) from stored, but only when the fields
// that bind it are unchanged. When they changed, the secret stays empty
// and the returned FieldErrors (nil if none) say, by path, that it must be
// entered again. A secret given in next is never touched; a stored secret
// next does not use (another directory type, the other Okta sign-in) is
// dropped. next is normalized.
func CarrySecrets(stored Settings, next *Settings, keep func(path string) bool) FieldErrors {
	a := stored
	a.Normalize()
	next.Normalize()
	old := map[string]SecretField{}
	for _, f := range a.SecretFields() {
		old[f.Path] = f
	}
	var fe FieldErrors
	for _, f := range next.SecretFields() {
		if f.Value.IsSet() || !keep(f.Path) || !f.Applies {
			continue
		}
		o, ok := old[f.Path]
		if !ok || !o.Value.IsSet() {
			continue
		}
		if o.BoundTo != f.BoundTo {
			if fe == nil {
				fe = FieldErrors{}
			}
			fe[f.Path] = fmt.Sprintf("%s changed, so enter %s again: a stored secret is only sent to where it was entered", f.BoundName, f.Name)
			continue
		}
		*f.Value = *o.Value
	}
	return fe
}

// SecretValues returns every secret value set in s (each webhook URL on
// its own), longest first, for scrubbing texts that came from elsewhere.
func (s Settings) SecretValues() []string {
	var out []string
	for _, f := range s.SecretFields() {
		if f.Path == FieldWebhooks {
			out = append(out, s.Alerts.Webhooks()...)
			continue
		}
		if v := f.Value.Reveal(); strings.TrimSpace(v) != "" {
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
