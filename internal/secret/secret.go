// Package secret holds the string type of every write-only setting. It is
// a leaf so that config and every directory type's settings can share it.
package secret

import (
	"encoding/json"
	"log/slog"
)

// Redacted is what a set secret prints as.
const Redacted = "[REDACTED]"

// Secret is a string that never prints itself: fmt, slog and JSON encoding
// all show "[REDACTED]" (or "" when unset). Use Reveal to get the value.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether a value is present.
func (s Secret) IsSet() bool { return s != "" }

// String redacts.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString redacts for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts for slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts. Import reads secrets through UnmarshalJSON, which
// keeps the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }
