package bitwarden

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
)

// IsNotListed reports whether err is a listing the server does not serve
// (404): Vaultwarden serves the import but not GET /public/members,
// /public/groups or their member-ids (src/api/core/public.rs routes only
// ldap_import).
func IsNotListed(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Method == http.MethodGet && ae.Status == http.StatusNotFound
}

// APIError is a non-2xx answer from the Bitwarden API.
type APIError struct {
	// Method and Path identify the call (Path is the route template).
	Method, Path string
	// Status is the HTTP status code.
	Status int
	// Message is the answer's "message", if it was Bitwarden's JSON error.
	Message string
	// Errors are the field errors ("Members[0].Email": ["…"]), if any.
	Errors map[string][]string
	// Body is the start of the raw answer, kept for non-JSON answers
	// (a proxy's HTML page, a load balancer's text).
	Body string
	// RetryAfter is the answer's Retry-After, if any (429, 503).
	RetryAfter time.Duration
}

// Reasons returns the message and every field error's text: Bitwarden
// reports failures after its first checks as {"message":"Errors have
// occurred.","errors":{"An error has occurred.":["Seat limit has been
// reached."]}} (the AggregateException branch of
// src/Api/Utilities/ExceptionHandlerFilterAttribute.cs), so the reason
// may be in either.
func (e *APIError) Reasons() string {
	parts := []string{e.Message}
	for _, k := range slices.Sorted(maps.Keys(e.Errors)) {
		parts = append(parts, e.Errors[k]...)
	}
	return strings.Join(parts, " ")
}

// Known server messages (Bitwarden's import command and controller).
const (
	MsgTooMuchData        = "You cannot import this much data at once."
	MsgCannotUseDirectory = "Organization cannot use directory syncing."
	MsgCannotUseGroups    = "Organization cannot use groups."
	MsgSeatLimit          = "Seat limit has been reached."
	// MsgSelfHostedSeats is CanScaleAsync's answer on a self-hosted server
	// (src/Core/AdminConsole/Services/Implementations/OrganizationService.cs).
	MsgSelfHostedSeats = "Cannot autoscale on self-hosted instance."
	// MsgPreventUserRemoval is OverwriteExisting's refusal in
	// src/Core/AdminConsole/OrganizationFeatures/Import/ImportOrganizationUsersAndGroupsCommand.cs.
	MsgPreventUserRemoval  = "Sync failed. To proceed, disable the 'Remove and re-add users during next sync' setting and try again."
	msgPreventUserRemoval  = "Sync failed. To proceed, disable the 'Remove and re-add users during next sync' setting"
	maxErrorBodyKept       = 2048
	maxErrorSnippetInError = 300
)

// Error shows the status, the server's message and field errors, and what
// to do for the failures an admin can fix.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bitwarden: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	switch {
	case e.Message != "":
		b.WriteString(": ")
		b.WriteString(e.Message)
	case len(e.Errors) == 0:
		b.WriteString(": ")
		b.WriteString(snippet([]byte(e.Body)))
	}
	if len(e.Errors) > 0 {
		keys := make([]string, 0, len(e.Errors))
		for k := range e.Errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+": "+strings.Join(e.Errors[k], " "))
		}
		b.WriteString(" [")
		b.WriteString(strings.Join(parts, "; "))
		b.WriteString("]")
	}
	if h := e.Hint(); h != "" {
		b.WriteString(" — ")
		b.WriteString(h)
	}
	return b.String()
}

// Hint says what an admin can do about a known failure ("" if none).
func (e *APIError) Hint() string {
	msg := e.Reasons()
	switch {
	case strings.Contains(msg, msgPreventUserRemoval):
		return "Bitwarden refuses a full overwrite (sync.overwriteExisting) that would remove a member without a master password — an invited or staged member, or an SSO, trusted-device or Key Connector user — and it had already removed the members sent as deleted when it refused; remove the members sync cannot remove in Bitwarden, or turn off overwriteExisting"
	case strings.Contains(msg, MsgSelfHostedSeats):
		return "the self-hosted organization has no free seats and a self-hosted server cannot buy more: raise the seats with a new license, remove members, or narrow the user filter"
	case strings.Contains(msg, MsgTooMuchData):
		return "more than 2000 members or groups need the largeImport option (sync.largeImport), which also lets dirsync send batches"
	case strings.Contains(msg, MsgCannotUseDirectory):
		return "the organization's plan does not include directory sync (Teams or Enterprise needed)"
	case strings.Contains(msg, MsgCannotUseGroups):
		return "the organization's plan does not include groups: turn off group sync (sync.groups) or upgrade the plan"
	case strings.Contains(strings.ToLower(msg), "seat"):
		return "the organization has no free seats for the new members: add seats (or raise the seat autoscaling limit) in the Bitwarden admin console, or narrow the user filter"
	}
	switch e.Status {
	case http.StatusUnauthorized:
		return "Bitwarden refused the access token even after renewing it; check the organization API key"
	case http.StatusForbidden:
		return "the organization API key may not do this; check the organization's plan and API access"
	case http.StatusTooManyRequests:
		return "Bitwarden is rate limiting; the next run will try again"
	case http.StatusNotFound:
		if e.Method == http.MethodGet {
			return "this server does not serve this listing (Vaultwarden serves the import only)"
		}
	}
	if e.Status >= 500 && e.Message == "" {
		return "the server or a proxy in front of it failed; try again later"
	}
	return ""
}

// errorBody is Bitwarden's error shape; "message" alone also occurs.
type errorBody struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors"`
}

func newAPIError(method, path string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: status}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && (eb.Message != "" || len(eb.Errors) > 0) {
		e.Message = eb.Message
		e.Errors = eb.Errors
	}
	kept := body
	if len(kept) > maxErrorBodyKept {
		kept = kept[:maxErrorBodyKept]
	}
	e.Body = string(kept)
	return e
}

// snippet is a short one-line printable version of an answer body.
func snippet(body []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, string(body))
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(empty answer)"
	}
	if r := []rune(s); len(r) > maxErrorSnippetInError {
		s = string(r[:maxErrorSnippetInError]) + "…"
	}
	return s
}
