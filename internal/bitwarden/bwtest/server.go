// Package bwtest is an in-process fake Bitwarden server for tests, benchmarks
// and demo mode. One httptest server serves the identity token endpoint
// (/identity/connect/token) and the organization Public API (/api/public/…),
// so a bitwarden.Client configured with Server = fake.URL talks to it as to
// a self-hosted installation. Imports are validated and applied to an
// in-memory organization the way Bitwarden's server does (see import.go).
package bwtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden"
)

// MemberType is an organization member's role, numbered as the Public API does.
type MemberType int

// Member types.
const (
	Owner  MemberType = bitwarden.MemberTypeOwner
	Admin  MemberType = bitwarden.MemberTypeAdmin
	User   MemberType = bitwarden.MemberTypeUser
	Custom MemberType = bitwarden.MemberTypeCustom
)

// MemberStatus is an organization member's status, numbered as the Public API does.
type MemberStatus int

// Member statuses.
const (
	Revoked   MemberStatus = bitwarden.MemberStatusRevoked
	Invited   MemberStatus = bitwarden.MemberStatusInvited
	Accepted  MemberStatus = bitwarden.MemberStatusAccepted
	Confirmed MemberStatus = bitwarden.MemberStatusConfirmed
	// Staged: added by an import with inviteUsersAfterProvisioning false.
	Staged MemberStatus = bitwarden.MemberStatusStaged
)

// Member is an organization member of the fake org. UserID is empty while
// the member is only invited or staged.
type Member struct {
	ID, UserID, Email, ExternalID string
	Type                          MemberType
	Status                        MemberStatus
	// NoMasterPassword marks an account without a master password (SSO,
	// trusted-device or Key Connector users), which the Public API does
	// not show. Invited and staged members never have one either.
	NoMasterPassword bool

	prevStatus MemberStatus // Vaultwarden: the status a revoked member returns to
}

// hasMasterPassword is OrganizationUserUserDetails.HasMasterPassword: the
// member has an account, and the account a master password.
func (m *Member) hasMasterPassword() bool { return m.UserID != "" && !m.NoMasterPassword }

// Group is a group of the fake org; MemberIDs are Member.IDs, sorted.
type Group struct {
	ID, Name, ExternalID string
	MemberIDs            []string
}

// Import is one import the fake received, valid or not.
type Import struct {
	// Raw is the body exactly as received.
	Raw []byte
	// Request is Raw decoded leniently (nulls become nil slices); zero if
	// Raw is not JSON.
	Request bitwarden.ImportRequest
	// Status is the HTTP status the fake answered.
	Status int
	// Invited, Removed and Linked are the emails this import invited,
	// removed and linked by email (externalId set on an existing member).
	Invited, Removed, Linked []string
	// Staged are the emails added as Staged (no invitation).
	Staged []string
	// Revoked and Restored are Vaultwarden's: deleted members revoked,
	// revoked members listed live again restored.
	Revoked, Restored []string
	// Refused is set when the overwrite step refused the import.
	Refused bool
}

// Options configures a fake server. The zero value works.
type Options struct {
	// ClientID and ClientSecret are the accepted organization API key
	// (defaults: DefaultClientID, DefaultClientSecret).
	ClientID, ClientSecret string
	// TokenLifetime is the issued tokens' lifetime (default 1 h, as Bitwarden).
	TokenLifetime time.Duration
	// Now is the fake's clock for token expiry (default time.Now).
	Now func() time.Time
	// SelfHosted drops the 2000-members-or-groups limit, as Bitwarden does
	// on self-hosted installations, refuses to buy seats ("Cannot autoscale
	// on self-hosted instance.") and answers the subscription 400.
	SelfHosted bool
	// Vaultwarden makes the fake behave as Vaultwarden: the import alone
	// (the listings and the subscription answer 404), Vaultwarden's import
	// rules (see importVaultwardenLocked) and its error shape.
	Vaultwarden bool
	// VaultwardenGroups is Vaultwarden's org_groups_enabled (off by
	// default there): without it, imported groups are ignored.
	VaultwardenGroups bool
	// Members are seeded before the server starts (ids filled in if empty).
	Members []Member
	// BeforeAPI, if set, is called for each authorized API request before it
	// is handled, outside the fake's lock (tests use it to hold requests).
	BeforeAPI func(*http.Request)
}

// Defaults for Options.
const (
	DefaultClientID     = "organization.0f0e0d0c-0b0a-4909-8807-060504030201"
	DefaultClientSecret = "fake-bitwarden-secret"
)

type readFailure struct {
	status     int
	retryAfter string
}

type failure struct {
	status  int
	message string
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL: use it as the Bitwarden server setting.
	URL string

	opts Options
	ts   *httptest.Server

	mu                sync.Mutex
	seq               int
	members           []*Member
	groups            []*Group
	tokens            map[string]time.Time
	tokenForms        []url.Values
	imports           []Import
	invites           []string
	removals          []string
	failImports       map[int]failure
	failAuth          int
	failReads         []readFailure
	unauthorized      int
	seats             *int // nil: no seat limit
	maxAutoscale      *int // nil: cloud buys as many seats as needed
	seatsBought       int
	seatPurchaseFails string
	noDirectorySync   bool
	noGroups          bool
}

// New starts a fake server. Call Close when done.
func New(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, tokens: map[string]time.Time{}, failImports: map[int]failure{}}
	for _, m := range opts.Members {
		s.AddMemberWith(m)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /identity/connect/token", s.handleToken)
	mux.HandleFunc("POST /api/public/organization/import", s.authorized(s.handleImport))
	if !opts.Vaultwarden {
		// Vaultwarden routes only the import (src/api/core/public.rs).
		mux.HandleFunc("GET /api/public/members", s.authorized(s.handleMembers))
		mux.HandleFunc("GET /api/public/groups", s.authorized(s.handleGroups))
		mux.HandleFunc("GET /api/public/groups/{id}/member-ids", s.authorized(s.handleMemberIDs))
		mux.HandleFunc("GET /api/public/organization/subscription", s.authorized(s.handleSubscription))
	}
	s.ts = httptest.NewServer(mux)
	s.URL = s.ts.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.ts.Close() }

// ClientID is the accepted client id.
func (s *Server) ClientID() string { return s.opts.ClientID }

// ClientSecret is the accepted client secret.
func (s *Server) ClientSecret() string { return s.opts.ClientSecret }

// Client returns an http.Client for the server (plain loopback HTTP).
func (s *Server) Client() *http.Client { return s.ts.Client() }

func (s *Server) nextID(kind int) string {
	s.seq++
	return fmt.Sprintf("%08d-0000-4000-8000-%012d", kind, s.seq)
}

// AddMember seeds a confirmed member (an existing owner, or a member without
// externalId to test linking by email), its email lower-cased as Bitwarden
// stores them, and returns it.
func (s *Server) AddMember(email, externalID string, typ MemberType) Member {
	return s.AddMemberWith(Member{Email: strings.ToLower(email), ExternalID: externalID, Type: typ, Status: Confirmed})
}

// AddMemberWith seeds a member as given (the email exactly as given: links
// by email compare it exactly); an empty ID (and UserID, unless the member
// is only invited or staged) is filled in.
func (s *Server) AddMemberWith(m Member) Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.ID == "" {
		m.ID = s.nextID(1)
	}
	if m.UserID == "" && m.Status != Invited && m.Status != Staged {
		m.UserID = s.nextID(3)
	}
	cp := m
	s.members = append(s.members, &cp)
	return m
}

// AddGroup seeds a group with the given member ids and returns it.
func (s *Server) AddGroup(name, externalID string, memberIDs ...string) Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &Group{ID: s.nextID(2), Name: name, ExternalID: externalID, MemberIDs: sortedCopy(memberIDs)}
	s.groups = append(s.groups, g)
	return copyGroup(g)
}

// AcceptAll makes every invited member accept and be confirmed (a user
// account with a master password), as people do after an invitation.
// Staged members are left alone: they were never invited.
func (s *Server) AcceptAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.members {
		if m.Status == Invited || m.Status == Accepted {
			m.Status = Confirmed
			if m.UserID == "" {
				m.UserID = s.nextID(3)
			}
		}
	}
}

// UpdateMember changes the member with email (case-insensitive) in place,
// e.g. to mark an SSO user (NoMasterPassword) or put one back to invited;
// false when there is none.
func (s *Server) UpdateMember(email string, f func(*Member)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memberByEmailLocked(email)
	if m == nil {
		return false
	}
	f(m)
	return true
}

// Members returns the org's members in creation order.
func (s *Server) Members() []Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Member, len(s.members))
	for i, m := range s.members {
		out[i] = *m
	}
	return out
}

// MemberByEmail finds a member by email (case-insensitive).
func (s *Server) MemberByEmail(email string) (Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.memberByEmailLocked(email); m != nil {
		return *m, true
	}
	return Member{}, false
}

// Groups returns the org's groups in creation order.
func (s *Server) Groups() []Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Group, len(s.groups))
	for i, g := range s.groups {
		out[i] = copyGroup(g)
	}
	return out
}

// GroupByExternalID finds a group by external id.
func (s *Server) GroupByExternalID(externalID string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		if g.ExternalID == externalID {
			return copyGroup(g), true
		}
	}
	return Group{}, false
}

// Imports returns every import received, in order, including refused ones.
func (s *Server) Imports() []Import {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.imports)
}

// Invites returns the emails invited by imports so far.
func (s *Server) Invites() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.invites)
}

// Removals returns the emails removed by imports so far.
func (s *Server) Removals() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.removals)
}

// TokenRequests counts token requests, refused ones included.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokenForms)
}

// TokenForms returns the form bodies of the token requests (secrets and all:
// tests assert on them).
func (s *Server) TokenForms() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokenForms)
}

// Unauthorized counts the API requests answered 401.
func (s *Server) Unauthorized() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unauthorized
}

// FailImport makes the n-th next import (1 = the next one) answer status
// with Bitwarden's error body carrying message, without applying it.
func (s *Server) FailImport(n, status int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failImports[len(s.imports)+n] = failure{status: status, message: message}
}

// FailReads makes the next n authorized GET requests answer status, with
// a Retry-After header when retryAfter is not empty (a 429 from
// Bitwarden's rate limiter, a 503 from a proxy).
func (s *Server) FailReads(n, status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failReads = append(s.failReads, readFailure{status: status, retryAfter: retryAfter})
	}
}

// ExpireTokens revokes every token issued so far: their next use answers
// 401, as after a server-side expiry or key rotation.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// FailAuth makes the next n API requests answer 401 whatever their token.
func (s *Server) FailAuth(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAuth = n
}

// SetSeatLimit caps the seats at n with no autoscaling (cloud refuses
// past it with "Seat limit has been reached."); 0 means no limit.
func (s *Server) SetSeatLimit(n int) {
	if n <= 0 {
		s.SetSeats(nil, nil)
		return
	}
	s.SetSeats(&n, &n)
}

// SetSeats sets the organization's paid seats and its autoscale limit
// (Organization.Seats and MaxAutoscaleSeats); nil seats means no seat
// limit, nil maxAutoscale lets cloud buy as many as invites need. Seats
// are held by invited, accepted and confirmed members.
func (s *Server) SetSeats(seats, maxAutoscale *int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seats, s.maxAutoscale = clonePtr(seats), clonePtr(maxAutoscale)
}

// Seats returns the paid seats now (nil: no limit) and how many the fake
// bought by autoscaling.
func (s *Server) Seats() (seats *int, bought int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return clonePtr(s.seats), s.seatsBought
}

// SetSeatPurchaseFails makes buying seats fail with msg after the first
// seat check passed: the invites are undone and the answer is the
// aggregate shape {"message":"Errors have occurred.","errors":{…}}. ""
// turns it off.
func (s *Server) SetSeatPurchaseFails(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seatPurchaseFails = msg
}

func clonePtr(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// handleSubscription answers GET /public/organization/subscription as
// src/Api/Billing/Public/Controllers/OrganizationController.cs does:
// cloud only ([SelfHosted(NotSelfHostedOnly = true)] answers 400 on
// self-hosted).
func (s *Server) handleSubscription(w http.ResponseWriter, _ *http.Request) {
	if s.opts.SelfHosted {
		writeAPIError(w, http.StatusBadRequest, "Only allowed when not self hosted.", nil)
		return
	}
	s.mu.Lock()
	pm := map[string]any{"seats": nullableInt(s.seats), "maxAutoScaleSeats": nullableInt(s.maxAutoscale), "storage": 1}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"passwordManager": pm,
		"secretsManager":  map[string]any{"seats": nil, "maxAutoScaleSeats": nil, "serviceAccounts": nil, "maxAutoScaleServiceAccounts": nil},
	})
}

func nullableInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// SetCannotUseDirectorySync sets whether the org's plan lacks directory sync.
func (s *Server) SetCannotUseDirectorySync(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noDirectorySync = v
}

// SetCannotUseGroups sets whether the org's plan lacks groups.
func (s *Server) SetCannotUseGroups(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noGroups = v
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.oauthError(w, "invalid_request", "the body is not a form")
		return
	}
	form := r.PostForm
	s.mu.Lock()
	s.tokenForms = append(s.tokenForms, form)
	s.mu.Unlock()
	if _, _, basic := r.BasicAuth(); basic {
		// Bitwarden reads client credentials from the form body only.
		s.oauthError(w, "invalid_client", "")
		return
	}
	if form.Get("grant_type") != "client_credentials" {
		s.oauthError(w, "unsupported_grant_type", "")
		return
	}
	if form.Get("client_id") != s.opts.ClientID || form.Get("client_secret") != s.opts.ClientSecret {
		s.oauthError(w, "invalid_client", "")
		return
	}
	if form.Get("scope") != bitwarden.Scope {
		s.oauthError(w, "invalid_scope", "")
		return
	}
	for _, f := range []string{"deviceType", "deviceIdentifier", "deviceName"} {
		if form.Get(f) == "" {
			s.oauthError(w, "invalid_request", f+" cannot be blank")
			return
		}
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = s.opts.Now().Add(s.opts.TokenLifetime)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_in":   int(s.opts.TokenLifetime / time.Second),
		"token_type":   "Bearer",
		"scope":        bitwarden.Scope,
	})
}

func (s *Server) oauthError(w http.ResponseWriter, code, desc string) {
	if s.opts.Vaultwarden {
		// Vaultwarden's err!() in organization_api_key_login.
		msg := map[string]string{"invalid_client": "Invalid client_id", "unsupported_grant_type": "Invalid type"}[code]
		if msg == "" {
			msg = orDefault(desc, code)
		}
		writeVaultwardenError(w, http.StatusBadRequest, msg)
		return
	}
	writeOAuthError(w, code, desc)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func writeOAuthError(w http.ResponseWriter, code, desc string) {
	body := map[string]string{"error": code}
	if desc != "" {
		body["error_description"] = desc
	}
	writeJSON(w, http.StatusBadRequest, body)
}

// authorized checks the bearer token; without a valid one the answer is a
// bare 401 with a Bearer challenge, as ASP.NET's JWT handler sends.
func (s *Server) authorized(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		exp, known := s.tokens[tok]
		valid := ok && known && s.opts.Now().Before(exp)
		if s.failAuth > 0 {
			s.failAuth--
			valid = false
		}
		if !valid {
			s.unauthorized++
		}
		s.mu.Unlock()
		if !valid {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if s.opts.BeforeAPI != nil {
			s.opts.BeforeAPI(r)
		}
		if r.Method == http.MethodGet {
			s.mu.Lock()
			var f *readFailure
			if len(s.failReads) > 0 {
				f = &s.failReads[0]
				s.failReads = s.failReads[1:]
			}
			s.mu.Unlock()
			if f != nil {
				if f.retryAfter != "" {
					w.Header().Set("Retry-After", f.retryAfter)
				}
				writeAPIError(w, f.status, http.StatusText(f.status), nil)
				return
			}
		}
		h(w, r)
	}
}

type listJSON struct {
	Object            string  `json:"object"`
	Data              any     `json:"data"`
	ContinuationToken *string `json:"continuationToken"`
}

func (s *Server) handleMembers(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	data := make([]map[string]any, 0, len(s.members))
	for _, m := range s.members {
		data = append(data, map[string]any{
			"object": "member", "id": m.ID, "userId": nullable(m.UserID), "name": nil,
			"email": m.Email, "twoFactorEnabled": false, "status": int(m.Status),
			"collections": []any{}, "type": int(m.Type), "externalId": nullable(m.ExternalID),
			"resetPasswordEnrolled": false, "ssoExternalId": nil,
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, listJSON{Object: "list", Data: data})
}

func (s *Server) handleGroups(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	data := make([]map[string]any, 0, len(s.groups))
	for _, g := range s.groups {
		data = append(data, map[string]any{
			"object": "group", "id": g.ID, "name": g.Name,
			"externalId": nullable(g.ExternalID), "collections": []any{},
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, listJSON{Object: "list", Data: data})
}

func (s *Server) handleMemberIDs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	var ids []string
	found := false
	for _, g := range s.groups {
		if g.ID == id {
			ids, found = sortedCopy(g.MemberIDs), true
		}
	}
	s.mu.Unlock()
	if !found {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, ids)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, status int, message string, fieldErrors map[string][]string) {
	body := map[string]any{"object": "error", "message": message}
	if fieldErrors != nil {
		body["errors"] = fieldErrors
	}
	writeJSON(w, status, body)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func sortedCopy(ids []string) []string {
	out := slices.Clone(ids)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return out
}

func copyGroup(g *Group) Group {
	cp := *g
	cp.MemberIDs = sortedCopy(g.MemberIDs)
	return cp
}

func (s *Server) memberByEmailLocked(email string) *Member {
	for _, m := range s.members {
		if strings.EqualFold(m.Email, email) {
			return m
		}
	}
	return nil
}
