package auth

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Password length limits, in characters (not bytes).
const (
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// Username limits.
const (
	MaxUsernameLen = 64
)

// CheckPassword applies the password policy: 12 to 256 characters, valid
// UTF-8, no control characters, not all the same character, and not the
// user name. Length is what matters most (NIST SP 800-63B), so there are no
// composition rules. The message is meant for the person choosing it.
func CheckPassword(password, username string) error {
	if !utf8.ValidString(password) {
		return fmt.Errorf("the password contains invalid characters")
	}
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLen:
		return fmt.Errorf("the password must be at least %d characters long (it has %d)", MinPasswordLen, n)
	case n > MaxPasswordLen:
		return fmt.Errorf("the password must be at most %d characters long (it has %d)", MaxPasswordLen, n)
	}
	if strings.ContainsFunc(password, unicode.IsControl) {
		return fmt.Errorf("the password must not contain control characters such as tabs or line breaks")
	}
	first, _ := utf8.DecodeRuneInString(password)
	if strings.Trim(password, string(first)) == "" {
		return fmt.Errorf("the password must not repeat a single character")
	}
	if username != "" && strings.EqualFold(strings.TrimSpace(password), strings.TrimSpace(username)) {
		return fmt.Errorf("the password must not be the user name")
	}
	return nil
}

// NormalizeUsername trims a user name and lower-cases it, so "Admin" and
// "admin " are the same account.
func NormalizeUsername(username string) string {
	return strings.ToLower(strings.TrimSpace(username))
}

// CheckUsername validates a (normalized) user name: 1–64 characters of
// letters, digits and . _ @ + -.
func CheckUsername(username string) error {
	if username == "" {
		return fmt.Errorf("the user name is required")
	}
	if n := utf8.RuneCountInString(username); n > MaxUsernameLen {
		return fmt.Errorf("the user name must be at most %d characters long (it has %d)", MaxUsernameLen, n)
	}
	for _, r := range username {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._@+-", r)) {
			return fmt.Errorf("the user name may contain only letters, digits and . _ @ + - (found %q)", r)
		}
	}
	return nil
}
