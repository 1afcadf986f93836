package bitwarden

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/sync/errgroup"
)

// ImportMember is one member of an import. Deleted members are removed from
// the organization (unless owners). Bitwarden refuses `email: ""` even for
// deleted members (EmailAddressAttribute on
// src/Api/AdminConsole/Public/Models/Request/OrganizationImportRequestModel.cs)
// but accepts null for them, so a deleted member without an email (an AD
// tombstone) is sent with email null (MarshalJSON) and removed by
// externalId. Vaultwarden matches members by email and refuses a null
// (src/api/core/public.rs), so VaultwardenBatches leaves such members out.
type ImportMember struct {
	Email      string `json:"email"`
	ExternalID string `json:"externalId"`
	Deleted    bool   `json:"deleted"`
}

// MarshalJSON sends an empty email as null, which Bitwarden accepts for a
// deleted member, where "" is refused.
func (m ImportMember) MarshalJSON() ([]byte, error) {
	var email *string
	if m.Email != "" {
		email = &m.Email
	}
	return json.Marshal(struct {
		Email      *string `json:"email"`
		ExternalID string  `json:"externalId"`
		Deleted    bool    `json:"deleted"`
	}{email, m.ExternalID, m.Deleted})
}

// ImportGroup is one group of an import; MemberExternalIDs are member
// external ids.
type ImportGroup struct {
	Name              string   `json:"name"`
	ExternalID        string   `json:"externalId"`
	MemberExternalIDs []string `json:"memberExternalIds"`
}

// ImportRequest is the body of POST /public/organization/import.
type ImportRequest struct {
	Groups            []ImportGroup  `json:"groups"`
	Members           []ImportMember `json:"members"`
	OverwriteExisting bool           `json:"overwriteExisting"`
	LargeImport       bool           `json:"largeImport"`
	// InviteUsersAfterProvisioning false makes Bitwarden add new members as
	// Staged, without an invitation email; nil leaves the server's default
	// (true). A pointer so that a request built without it never stages
	// anyone by accident. Vaultwarden ignores the field.
	InviteUsersAfterProvisioning *bool `json:"inviteUsersAfterProvisioning,omitempty"`
}

// Invites reports whether the request invites new members (the server's
// default) rather than staging them.
func (r *ImportRequest) Invites() bool {
	return r.InviteUsersAfterProvisioning == nil || *r.InviteUsersAfterProvisioning
}

// Member types and statuses, as the Public API numbers them.
const (
	MemberTypeOwner  = 0
	MemberTypeAdmin  = 1
	MemberTypeUser   = 2
	MemberTypeCustom = 4

	MemberStatusRevoked   = -1
	MemberStatusInvited   = 0
	MemberStatusAccepted  = 1
	MemberStatusConfirmed = 2
	// MemberStatusStaged is a member added by a sync with
	// inviteUsersAfterProvisioning false: no invitation sent yet
	// (src/Core/AdminConsole/Enums/OrganizationUserStatusType.cs).
	MemberStatusStaged = 3
)

// MayLackMasterPassword reports whether the Public API shows a member that
// cannot have a master password: invited or staged (no account yet), or
// without a userId. Bitwarden refuses an overwriteExisting import that
// would remove such a member. SSO, trusted-device and Key Connector users
// also lack one, but the API does not show it.
func (m Member) MayLackMasterPassword() bool {
	return m.Status == MemberStatusInvited || m.Status == MemberStatusStaged || m.UserID == ""
}

// Member is an organization member from GET /public/members. ID is the
// organization-member id (what group member-ids list); UserID is empty for
// members who have not accepted their invitation.
type Member struct {
	ID, UserID, Email, ExternalID string
	Type                          int
	Status                        int
}

// Group is an organization group with its member ids (organization-member
// ids, as Member.ID).
type Group struct {
	ID, Name, ExternalID string
	MemberIDs            []string
}

const (
	pathImport    = "/public/organization/import"
	pathMembers   = "/public/members"
	pathGroups    = "/public/groups"
	pathMemberIDs = "/public/groups/{id}/member-ids"
	// maxListBody bounds a decoded list answer; lists are streamed, so
	// this is a guard against a runaway server, not a buffer size.
	maxListBody = 1 << 30
	// maxBody bounds an answer read into memory (imports, errors).
	maxBody      = 16 << 20
	maxErrorBody = 64 << 10
)

// Import posts an import. Nil slices are sent as [] (Bitwarden answers 500
// to a null), and the caller's request is not modified.
func (c *Client) Import(ctx context.Context, req *ImportRequest) error {
	if req == nil {
		return errors.New("bitwarden: import: no request")
	}
	body, err := MarshalImport(req)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPost, pathImport, c.endpoints.APIURL+pathImport, body, true)
	if err != nil && isTimeout(ctx, err) {
		// Never re-send: the server may still be applying it.
		return &ImportTimeoutError{After: c.requestTimeout(true), Err: err}
	}
	return err
}

// MarshalImport encodes an import exactly as Import sends it: arrays never
// null. The engine hashes these bytes to skip unchanged pushes.
func MarshalImport(req *ImportRequest) ([]byte, error) {
	cp := *req
	if cp.Members == nil {
		cp.Members = []ImportMember{}
	}
	cp.Groups = make([]ImportGroup, len(req.Groups))
	for i, g := range req.Groups {
		if g.MemberExternalIDs == nil {
			g.MemberExternalIDs = []string{}
		}
		cp.Groups[i] = g
	}
	b, err := json.Marshal(&cp)
	if err != nil {
		return nil, fmt.Errorf("bitwarden: encode import: %w", err)
	}
	return b, nil
}

type listResponse[T any] struct {
	Data              []T     `json:"data"`
	ContinuationToken *string `json:"continuationToken"`
}

// memberJSON and groupJSON decode the Public API's objects straight into
// plain strings (JSON null leaves a string empty), so a 100,000-member
// organization costs no pointer per field.
type memberJSON struct {
	ID         string `json:"id"`
	UserID     string `json:"userId"`
	Email      string `json:"email"`
	ExternalID string `json:"externalId"`
	Type       int    `json:"type"`
	Status     int    `json:"status"`
}

type groupJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	ExternalID string `json:"externalId"`
}

// ListMembers returns every organization member.
func (c *Client) ListMembers(ctx context.Context) ([]Member, error) {
	items, err := listAll[memberJSON](ctx, c, pathMembers)
	if err != nil {
		return nil, err
	}
	out := make([]Member, len(items))
	for i, m := range items {
		out[i] = Member(m)
	}
	return out, nil
}

// ListGroups returns every group with its member ids, reading the member
// ids of up to four groups at a time.
func (c *Client) ListGroups(ctx context.Context) ([]Group, error) {
	items, err := listAll[groupJSON](ctx, c, pathGroups)
	if err != nil {
		return nil, err
	}
	out := make([]Group, len(items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(memberIDsConcurrency)
	for i, it := range items {
		out[i] = Group{ID: it.ID, Name: it.Name, ExternalID: it.ExternalID}
		g.Go(func() error {
			u := c.endpoints.APIURL + pathGroups + "/" + url.PathEscape(it.ID) + "/member-ids"
			var ids []string
			err := c.getJSON(gctx, pathMemberIDs, u, func(r io.Reader) error { return json.NewDecoder(r).Decode(&ids) })
			if err != nil {
				return fmt.Errorf("bitwarden: member ids of group %q: %w", it.Name, err)
			}
			if ids == nil {
				ids = []string{}
			}
			out[i].MemberIDs = ids
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// CountGroups returns how many groups the organization has, from the
// group list alone (one request; ListGroups also reads every group's
// member ids). The Settings page's connection check uses it.
func (c *Client) CountGroups(ctx context.Context) (int, error) {
	items, err := listAll[groupJSON](ctx, c, pathGroups)
	return len(items), err
}

// listAll reads a Public API list, following continuation tokens should
// the server ever send one (today it does not page).
func listAll[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	next := ""
	for {
		u := c.endpoints.APIURL + path
		if next != "" {
			u += "?continuationToken=" + url.QueryEscape(next)
		}
		var page listResponse[T]
		if err := c.getJSON(ctx, path, u, func(r io.Reader) error { return json.NewDecoder(r).Decode(&page) }); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if page.ContinuationToken == nil || *page.ContinuationToken == "" {
			return all, nil
		}
		next = *page.ContinuationToken
		if seen[next] {
			return nil, fmt.Errorf("bitwarden: GET %s: the server repeated a continuation token", path)
		}
		seen[next] = true
	}
}

// do sends one authenticated request. On 401 it renews the token once and
// retries once; the body is replayed from memory.
func (c *Client) do(ctx context.Context, method, route, rawURL string, body []byte, isImport bool) ([]byte, error) {
	var stale string
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx, stale)
		if err != nil {
			return nil, err
		}
		status, respBody, err := c.send(ctx, method, route, rawURL, body, tok, isImport)
		if err != nil {
			return nil, err
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			c.invalidate(tok)
			stale = tok
			continue
		}
		if status < 200 || status > 299 {
			return nil, c.scrub(newAPIError(method, route, status, respBody))
		}
		return respBody, nil
	}
}

// getJSON sends an authenticated GET and decodes a 2xx answer straight from
// the body, without holding it in memory (a large organization's member
// list is tens of megabytes). On 401 it renews the token once and retries.
// Reads are retried on 429 and 5xx answers (see retry.go).
func (c *Client) getJSON(ctx context.Context, route, rawURL string, decode func(io.Reader) error) error {
	return c.retryRead(ctx, func() error {
		var stale string
		for attempt := 0; ; attempt++ {
			tok, err := c.accessToken(ctx, stale)
			if err != nil {
				return err
			}
			retry, err := c.getOnce(ctx, route, rawURL, tok, attempt == 0, decode)
			if retry {
				c.invalidate(tok)
				stale = tok
				continue
			}
			return err
		}
	})
}

func (c *Client) getOnce(ctx context.Context, route, rawURL, tok string, mayRetry bool, decode func(io.Reader) error) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.requestTimeout(false))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return false, fmt.Errorf("bitwarden: GET %s: %w", route, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := c.httpClient.Do(req)
	if err != nil {
		c.observe(http.MethodGet, route, 0, start, err)
		return false, fmt.Errorf("bitwarden: GET %s: %w", route, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		c.observe(http.MethodGet, route, resp.StatusCode, start, rerr)
		if resp.StatusCode == http.StatusUnauthorized && mayRetry {
			return true, nil
		}
		e := c.scrub(newAPIError(http.MethodGet, route, resp.StatusCode, body))
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
		return false, e
	}
	err = decode(io.LimitReader(resp.Body, maxListBody))
	c.observe(http.MethodGet, route, resp.StatusCode, start, err)
	if err != nil {
		return false, fmt.Errorf("bitwarden: GET %s: decode list: %w", route, err)
	}
	return false, nil
}

func (c *Client) requestTimeout(isImport bool) time.Duration {
	if isImport && c.importTimeout > 0 {
		return c.importTimeout
	}
	if c.timeout > 0 {
		return c.timeout
	}
	if isImport {
		return DefaultImportTimeout
	}
	return defaultTimeout
}

func (c *Client) send(ctx context.Context, method, route, rawURL string, body []byte, tok string, isImport bool) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.requestTimeout(isImport))
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("bitwarden: %s %s: %w", method, route, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	start := time.Now()
	resp, err := c.httpClient.Do(req)
	if err != nil {
		c.observe(method, route, 0, start, err)
		return 0, nil, fmt.Errorf("bitwarden: %s %s: %w", method, route, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	c.observe(method, route, resp.StatusCode, start, err)
	if err != nil {
		return 0, nil, fmt.Errorf("bitwarden: %s %s: read answer: %w", method, route, err)
	}
	return resp.StatusCode, respBody, nil
}

// Subscription is the organization's Password Manager seats from
// GET /public/organization/subscription (src/Api/Billing/Public/Controllers/OrganizationController.cs).
// Bitwarden cloud only: self-hosted answers 400 "Only allowed when not self
// hosted." and Vaultwarden 404; nil fields mean no limit.
type Subscription struct {
	// Seats are the seats paid for; nil: no seat limit.
	Seats *int
	// MaxAutoscaleSeats is the most seats cloud buys by itself when
	// invites need them; nil: no limit (it buys as many as needed).
	MaxAutoscaleSeats *int
}

const pathSubscription = "/public/organization/subscription"

// ErrNoSubscription means the server does not tell the organization's
// seats (self-hosted Bitwarden, Vaultwarden).
var ErrNoSubscription = errors.New("the server does not tell the organization's seats")

// Subscription reads the organization's seats. It returns
// ErrNoSubscription (wrapped) where the server does not answer it.
func (c *Client) Subscription(ctx context.Context) (*Subscription, error) {
	var body struct {
		PasswordManager *struct {
			Seats             *int `json:"seats"`
			MaxAutoScaleSeats *int `json:"maxAutoScaleSeats"`
		} `json:"passwordManager"`
	}
	err := c.getJSON(ctx, pathSubscription, c.endpoints.APIURL+pathSubscription, func(r io.Reader) error {
		return json.NewDecoder(r).Decode(&body)
	})
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusBadRequest) {
		return nil, fmt.Errorf("%w: %v", ErrNoSubscription, err)
	}
	if err != nil {
		return nil, err
	}
	if body.PasswordManager == nil {
		return &Subscription{}, nil
	}
	return &Subscription{Seats: body.PasswordManager.Seats, MaxAutoscaleSeats: body.PasswordManager.MaxAutoScaleSeats}, nil
}
