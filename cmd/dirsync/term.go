package main

import (
	"fmt"
	"strings"
	"unicode"
)

// termSafe escapes what a terminal would act on instead of print: control
// characters (ESC starts sequences that move the cursor, retitle the
// window or rewrite earlier lines; CR overwrites the line) and Unicode
// bidirectional controls (which reorder what is shown). Text from Okta or
// Bitwarden — names, emails, error messages — goes through it before it
// is printed; it shows as \x1b, \r, \u202e.
func termSafe(s string) string { return escapeTerm(s, false) }

// termSafeLines is termSafe keeping line breaks, for multi-line messages.
func termSafeLines(s string) string { return escapeTerm(s, true) }

func escapeTerm(s string, keepNewlines bool) string {
	if !strings.ContainsFunc(s, needsEscape) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' && keepNewlines:
			b.WriteRune(r)
		case !needsEscape(r):
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == unicode.ReplacementChar
}
