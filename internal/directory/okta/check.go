package okta

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/internal/directory"
)

// Okta has no count endpoint, so Check counts by listing, up to a cap:
// at most checkUserPages pages of 200 users and checkGroupPages pages of
// 10,000 groups — a dozen requests at most, whatever the org's size,
// against a users bucket that allows hundreds a minute. Past the cap the
// result says "more than".
const (
	checkUserPages  = 10
	checkGroupPages = 2
)

// Check implements directory.Settings: it signs in (a token request for a
// service app), lists users and groups up to the caps above, and shows
// the first user as a sample.
func (o *Settings) Check(ctx context.Context, env directory.Env) (*directory.CheckResult, error) {
	c, err := New(o.Config(env))
	if err != nil {
		return nil, err
	}
	r := &run{}
	users, moreUsers, sample, err := countPages[oktaUser](ctx, c, r, BucketUsers, c.base+"/api/v1/users?limit="+strconv.Itoa(usersPageSize), checkUserPages)
	if err != nil {
		return nil, err
	}
	groups, moreGroups, _, err := countPages[oktaGroup](ctx, c, r, BucketGroups, c.base+"/api/v1/groups?limit="+strconv.Itoa(groupsPageSize), checkGroupPages)
	if err != nil {
		return nil, err
	}
	host := c.baseURL.Host
	how := "an API token"
	if o.UsesOAuth() {
		how = "the OAuth service app " + o.ClientID
	}
	res := &directory.CheckResult{
		// Okta's user list leaves deactivated (DEPROVISIONED) users out;
		// a sync reads them too, to remove them.
		Summary: fmt.Sprintf("Signed in to %s with %s: %s (not counting deactivated ones), %s.", host, how,
			countText(users, moreUsers, "user", "users"), countText(groups, moreGroups, "group", "groups")),
		Facts: []directory.Fact{{Label: "Org", Value: c.base}, {Label: "Requests", Value: strconv.FormatInt(r.requests.Load(), 10)}},
	}
	if sample != nil {
		email := sample.Profile.Email
		if email == "" {
			email = "(no email)"
		}
		res.Facts = append(res.Facts, directory.Fact{Label: "Sample user", Value: fmt.Sprintf("%s (%s, id %s)", email, sample.Status, sample.ID)})
		if sample.Profile.Email == "" {
			res.Warnings = append(res.Warnings, "The sample user has no email address; Bitwarden needs one, so users without one are left out of the sync.")
		}
	}
	if users == 0 && !moreUsers {
		res.Warnings = append(res.Warnings, "Okta listed no active users: check that the token's admin (or the service app's role) may read users.")
	}
	return res, nil
}

// countPages counts the items of a listing, reading at most maxPages
// pages; more is true when there were more pages. It returns the first
// item as a sample.
func countPages[T any](ctx context.Context, c *Client, r *run, bucket, first string, maxPages int) (n int, more bool, sample *T, err error) {
	for u, pages := first, 0; u != ""; pages++ {
		if pages == maxPages {
			return n, true, sample, nil
		}
		items, next, err := fetchPage[T](ctx, c, r, bucket, u)
		if err != nil {
			return 0, false, nil, err
		}
		if sample == nil && len(items) > 0 {
			sample = &items[0]
		}
		n += len(items)
		u = next
	}
	return n, false, sample, nil
}

func countText(n int, more bool, one, many string) string {
	word := many
	if n == 1 && !more {
		word = one
	}
	if more {
		return fmt.Sprintf("more than %s %s", group(n), word)
	}
	return group(n) + " " + word
}

// group writes n with thousands separators (1,204).
func group(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Explain implements directory.Settings: what an admin should check after
// an error of Okta (or of the network in front of it). Okta's answers are
// recognised by type when the error chain keeps it, and by their code in
// the text otherwise (an error that crossed a process boundary).
func (o *Settings) Explain(err error) *directory.Explanation {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var apiErr *APIError
	isAPI := errors.As(err, &apiErr)
	has := func(code string, status int) bool {
		if isAPI {
			return apiErr.Status == status && (code == "" || apiErr.Code == code)
		}
		return strings.Contains(msg, code) && strings.Contains(msg, strconv.Itoa(status))
	}
	orgURL := o.OrgURL
	if orgURL == "" {
		orgURL = "not set"
	}
	var tokErr *TokenError
	oauth := o.UsesOAuth() || (isAPI && apiErr.OAuth)
	ex := func(summary string, hints ...string) *directory.Explanation {
		return &directory.Explanation{Summary: summary, Hints: hints}
	}
	switch {
	case errors.As(err, &tokErr):
		return ex("Okta refused the service app's token request.",
			"The OAuth service app: Okta refused dirsync's token request. "+tokErr.Hint()+".")
	case oauth && isAPI && apiErr.Status == http.StatusForbidden:
		return ex("Okta refused the service app's reads.",
			"The service app's admin role: in Okta open Applications → the app → Admin roles and assign it the Read-only Administrator role (reading users and groups needs one).")
	case oauth && isAPI && apiErr.Status == http.StatusUnauthorized:
		return ex("Okta refused the service app's access token.",
			"The service app's access token: Okta refused even a new one. Check that the app is active and that okta.users.read and okta.groups.read are granted on its Okta API Scopes tab.")
	case has(CodeInvalidToken, http.StatusUnauthorized) || (isAPI && apiErr.Status == http.StatusUnauthorized):
		return ex("Okta refused the API token.",
			"The Okta API token: Okta says it is invalid, expired or revoked. Tokens expire after 30 days without use and end when their admin is deactivated. Create a new one in Okta (Security → API → Tokens) and enter it in Settings.",
			"The org URL: a token only works on the org that issued it ("+orgURL+" now).")
	case has(CodeForbidden, http.StatusForbidden) || (isAPI && apiErr.Status == http.StatusForbidden):
		return ex("Okta refused the token's reads.",
			"The token's rights: the admin who created it must be allowed to read users and groups (Read-only Administrator is enough). Create the token as such an admin.")
	case has(CodeBadFilter, http.StatusBadRequest):
		e := ex("Okta refused a native filter.",
			"The native filter syntax (the part after | in the user or group filter). Okta accepts, for users: eq on status, id, profile.login, profile.email, profile.firstName, profile.lastName, and gt/ge/lt/le on lastUpdated; for groups: eq on id and type, and the timestamps. Values go in double quotes and expressions combine with and/or, e.g. | status eq \"ACTIVE\".")
		if isAPI && apiErr.Filter != "" {
			e.Hints = append(e.Hints, "Okta refused this expression: "+apiErr.Filter)
		}
		return e
	case isAPI && apiErr.Status == http.StatusNotFound:
		return ex("Okta answered 404.", "The org URL: it should be your Okta address, such as https://acme.okta.com (now "+orgURL+").")
	case isAPI && apiErr.Status == http.StatusTooManyRequests:
		return ex("Okta's rate limit stopped the read.", "Okta's rate limits: other clients may be using most of them. Lower the concurrency or the rate-limit share in Settings → Advanced, or try again later.")
	case isAPI && apiErr.Status >= 500:
		return ex("Okta failed to answer.", "Okta's status (status.okta.com), or the proxy in front of it; try again later.")
	case errors.Is(err, ErrForeignLink):
		return ex("Okta's links lead elsewhere.", "A proxy or custom domain in front of Okta: Okta's page links point to another address than the org URL. Use the address Okta's links use as the org URL.")
	case strings.Contains(msg, "not a JSON array") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "no such host") || strings.Contains(msg, "timed out") || strings.Contains(msg, "certificate"):
		return ex("Okta could not be reached.",
			"The org URL: it should be your Okta address, such as https://acme.okta.com (now "+orgURL+").",
			"The network: this server must reach Okta over https (proxy, firewall, DNS).")
	}
	return nil
}
