package okta

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// Okta error codes dirsync explains.
const (
	CodeInvalidToken  = "E0000011"
	CodeForbidden     = "E0000006"
	CodeNotFound      = "E0000007"
	CodeBadFilter     = "E0000031"
	CodeRateLimited   = "E0000047"
	CodeInternalError = "E0000009"
)

// APIError is an error answer from Okta (or from a proxy in front of it).
type APIError struct {
	Method string
	// Path is the request path without the query.
	Path   string
	Status int
	// Code, Summary, ErrorID and Causes come from Okta's JSON error body;
	// they are empty when the body was not JSON.
	Code    string
	Summary string
	ErrorID string
	Causes  []string
	// Body is the start (about 200 bytes, whitespace collapsed) of a
	// non-JSON body, e.g. a proxy's HTML error page.
	Body string
	// Filter is the filter= expression the request sent, if any; it is
	// named in the hint for a refused filter (E0000031).
	Filter string
	// OAuth is true when the request carried a service app's token (the
	// advice for 401 and 403 differs from an API token's).
	OAuth bool
	// Challenge is the error of the answer's WWW-Authenticate challenge,
	// such as "invalid_dpop_proof" or "invalid_token" ("" if none).
	Challenge string
}

// Error reads like "okta: GET /api/v1/users: 401 E0000011 Invalid token
// provided; <what to do>".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "okta: %s %s: %d", e.Method, e.Path, e.Status)
	if e.Code != "" || e.Summary != "" {
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		if e.Summary != "" {
			b.WriteString(" " + e.Summary)
		}
		if len(e.Causes) > 0 {
			b.WriteString(" (" + strings.Join(e.Causes, "; ") + ")")
		}
	} else {
		if t := http.StatusText(e.Status); t != "" {
			b.WriteString(" " + t)
		}
		if e.Body != "" {
			fmt.Fprintf(&b, " (not an Okta answer: %q)", e.Body)
		}
	}
	if e.Challenge != "" && e.Challenge != e.Code {
		b.WriteString(" (" + e.Challenge + ")")
	}
	if e.ErrorID != "" {
		b.WriteString(" [errorId " + e.ErrorID + "]")
	}
	if h := e.Hint(); h != "" {
		b.WriteString("; " + h)
	}
	return b.String()
}

// Hint says what the admin can do about the error, or "" when there is no
// specific advice.
func (e *APIError) Hint() string {
	switch {
	case e.OAuth && (e.Challenge == "invalid_dpop_proof" || e.Code == "invalid_dpop_proof"):
		return "Okta refused dirsync's DPoP proof for this request: check that this machine's clock is right (proofs are dated)"
	case e.OAuth && e.Challenge == "use_dpop_nonce":
		return "Okta kept asking for a new DPoP nonce; try again"
	case e.OAuth && e.Status == http.StatusUnauthorized:
		return "Okta did not accept the service app's access token, even a newly minted one; check that the app is active and still has the okta.users.read and okta.groups.read scopes granted"
	case e.OAuth && e.Status == http.StatusForbidden:
		return "the service app has no admin role that may read users and groups: in Okta open Applications → the app → Admin roles and assign it the Read-only Administrator role (or a custom role with users and groups read permissions)"
	case e.Status == http.StatusUnauthorized:
		return "the API token is invalid, expired or revoked; create a new one in Okta (Security → API → Tokens)"
	case e.Status == http.StatusForbidden:
		return "the token's admin lacks the rights to read users/groups (use a Read-only Administrator or better)"
	case e.Status == http.StatusBadRequest && e.Code == CodeBadFilter:
		return fmt.Sprintf("Okta refused the filter expression %q; check the native filter syntax", e.Filter)
	case e.Status == http.StatusNotFound && isMembersPath(e.Path):
		return "the group was deleted while it was being read; run the sync again"
	case e.Status == http.StatusNotFound:
		return "check the org URL"
	case e.Status == http.StatusTooManyRequests:
		return "Okta's rate limit stayed exhausted; lower the concurrency or the rate-limit share, or try again later"
	case e.Status >= 500:
		return "Okta (or a proxy in front of it) kept failing; try again later"
	}
	return ""
}

func isMembersPath(p string) bool {
	return strings.HasPrefix(p, "/api/v1/groups/") && strings.HasSuffix(p, "/users")
}

func asAPIError(err error) *APIError {
	var e *APIError
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// IsInvalidToken reports whether err is Okta's 401 (invalid, expired or
// revoked token).
func IsInvalidToken(err error) bool {
	e := asAPIError(err)
	return e != nil && e.Status == http.StatusUnauthorized
}

// IsForbidden reports whether err is a 403: the token's admin lacks rights.
func IsForbidden(err error) bool {
	e := asAPIError(err)
	return e != nil && e.Status == http.StatusForbidden
}

// IsBadFilter reports whether Okta refused a filter expression (400
// E0000031).
func IsBadFilter(err error) bool {
	e := asAPIError(err)
	return e != nil && e.Status == http.StatusBadRequest && e.Code == CodeBadFilter
}

// IsNotFound reports whether err is a 404 (wrong org URL, or a group that
// vanished during the read).
func IsNotFound(err error) bool {
	e := asAPIError(err)
	return e != nil && e.Status == http.StatusNotFound
}

// ErrForeignLink is wrapped by the error of a read whose next-page link
// points away from the org's scheme and host; the link is not followed, so
// the token is never sent elsewhere.
var ErrForeignLink = errors.New("next page link leaves the org URL")

// ErrPageLoop is wrapped by the error of a read whose listing does not
// end: a next link repeats one already followed, a page repeats ids
// already returned, or the pages run past what the org can hold.
var ErrPageLoop = errors.New("the listing is a cursor loop (Okta keeps handing out next pages)")

// snippet makes the start of a non-JSON body printable and short, with
// the token (should a proxy echo it) removed.
func snippet(body []byte, token string) string {
	s := string(body)
	if token != "" {
		s = strings.ReplaceAll(s, token, "[REDACTED]")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
