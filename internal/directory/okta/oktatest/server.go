package oktatest

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate-limit buckets, named after the endpoint families Okta limits apart.
const (
	BucketUsers   = "/api/v1/users"
	BucketGroups  = "/api/v1/groups"
	BucketMembers = "/api/v1/groups/{id}/users"
	BucketOther   = "other"
)

// Page caps (and defaults) of the list endpoints.
const (
	MaxUsersPage   = 200
	MaxGroupsPage  = 10000
	MaxMembersPage = 1000
)

// DefaultRateLimit is the per-window budget of each bucket when
// Options.RateLimit is 0.
const DefaultRateLimit = 600

// Options configures a fake Okta server.
type Options struct {
	// Token is the SSWS token the fake accepts; empty means "test-token".
	Token string
	// Latency delays every answer (honouring the request's context).
	Latency time.Duration
	// Hold, when set, is called before each request is answered and may
	// block it (a test's gate: hold the group reads until the page has
	// shown the users phase). It gets the request's bucket (BucketUsers,
	// BucketGroups, BucketMembers, BucketToken).
	Hold func(r *http.Request, bucket string)
	// RateLimit is each bucket's budget per window; 0 means DefaultRateLimit.
	RateLimit int
	// Window is the rate-limit window (default 60s). Windows are aligned to
	// multiples of Window since the Unix epoch; X-Rate-Limit-Reset is the
	// window end in epoch seconds, rounded up.
	Window time.Duration
	// CommaJoinedLinks sends the self and next links in one Link header
	// joined by a comma, as some proxies do, instead of separate lines.
	CommaJoinedLinks bool
	// NoStats ignores expand=stats on the group list, as a server (or a
	// proxy) that does not know it would: groups come without _embedded.
	NoStats bool
	// Now is the clock (default time.Now); it drives rate-limit windows,
	// the Date header and the timestamps the mutators set.
	Now func() time.Time
}

// DefaultToken is the SSWS token a fake accepts when Options.Token is empty.
const DefaultToken = "test-token"

// Server is a running fake Okta org.
type Server struct {
	// URL is the org URL (http://127.0.0.1:port), without a trailing slash.
	URL string

	srv   *httptest.Server
	opts  Options
	nonce string

	mu          sync.Mutex
	org         *Org
	token       string
	rng         *rand.Rand
	requests    int
	byBucket    map[string]int
	inFlight    int
	maxInFlight int
	// per bucket
	bucketInFlight    map[string]int
	maxBucketInFlight map[string]int
	violations        int
	throttled         int
	log               []string
	lastHeader        http.Header
	buckets           map[string]*rateBucket
	failures          []*failRule
	failGroups        map[string]int
	// oauth is the service app and token state (oauth.go), nil until
	// SetOAuthApp.
	oauth  *oauthState
	faults Faults
}

type rateBucket struct {
	window  time.Time // start of the current window
	count   int
	blocked time.Time // after a 429: the announced reset
}

type failRule struct {
	prefix      string
	skip        int // requests to let through first
	status      int
	n           int
	contentType string
	body        string
}

// New starts a fake Okta server with an empty org. Call Close when done.
func New(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.RateLimit <= 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:       opts,
		org:        &Org{},
		token:      opts.Token,
		rng:        rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42)),
		byBucket:   map[string]int{},
		buckets:    map[string]*rateBucket{},
		failGroups: map[string]int{},
	}
	s.nonce = NewID("cur", s.rng)[3:11]
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Token returns the token the fake currently accepts.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// SetToken changes the accepted token; the old one is answered with 401
// from then on, as after a revocation.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// Org returns a deep copy of the org as served now.
func (s *Server) Org() *Org {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.org.Clone()
}

// SetOrg replaces the org. The server keeps o (sorted by id); the caller
// must not change it afterwards.
func (s *Server) SetOrg(o *Org) {
	if o == nil {
		o = &Org{}
	}
	o.normalize()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.org = o
}

// Requests returns how many requests the server received.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RequestsByBucket returns the request count per rate-limit bucket.
func (s *Server) RequestsByBucket() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.byBucket))
	for k, v := range s.byBucket {
		m[k] = v
	}
	return m
}

// MaxInFlight returns the most requests that were being served at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// MaxInFlightIn returns the most requests of one bucket (BucketUsers,
// BucketGroups, BucketMembers) the server had in flight at once.
func (s *Server) MaxInFlightIn(bucket string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxBucketInFlight[bucket]
}

// RateLimitViolations counts requests received in a bucket after a 429 was
// sent for it and before the reset that 429 announced. A well-behaved
// client keeps it at 0.
func (s *Server) RateLimitViolations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.violations
}

// Throttled counts the 429 answers sent.
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// Log returns every request received as "METHOD /path?query".
func (s *Server) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// LastHeader returns the headers of the last request, without
// Authorization.
func (s *Server) LastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastHeader.Clone()
}

// ResetCounters zeroes the request counters, the log, the in-flight peak
// and the violation count (not the rate-limit windows).
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.maxInFlight, s.violations, s.throttled = 0, s.inFlight, 0, 0
	for b := range s.maxBucketInFlight {
		s.maxBucketInFlight[b] = s.bucketInFlight[b]
	}
	s.byBucket = map[string]int{}
	s.log = nil
}

// FailNext answers the next n requests whose path starts with pathPrefix
// with status and an Okta JSON error body.
func (s *Server) FailNext(pathPrefix string, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failRule{prefix: pathPrefix, status: status, n: n})
}

// FailAfter lets the next skip requests whose path starts with
// pathPrefix through, then answers the n after them with status (a fault
// in the middle of an exchange, such as the second token request).
func (s *Server) FailAfter(pathPrefix string, skip, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failRule{prefix: pathPrefix, skip: skip, status: status, n: n})
}

// FailNextRaw answers the next n requests whose path starts with
// pathPrefix with status and a raw body (e.g. a proxy's HTML page).
func (s *Server) FailNextRaw(pathPrefix string, status, n int, contentType, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failRule{prefix: pathPrefix, status: status, n: n, contentType: contentType, body: body})
}

// FailGroupMembers makes every member read of groupID answer status
// (0 stops it).
func (s *Server) FailGroupMembers(groupID string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.failGroups, groupID)
		return
	}
	s.failGroups[groupID] = status
}

func bucketOf(path string) string {
	switch {
	case path == "/api/v1/users":
		return BucketUsers
	case path == "/api/v1/groups":
		return BucketGroups
	case path == TokenPath:
		return BucketToken
	case strings.HasPrefix(path, "/api/v1/groups/") && strings.HasSuffix(path, "/users") &&
		strings.Count(path, "/") == 5:
		return BucketMembers
	}
	return BucketOther
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	now := s.opts.Now()
	bucket := bucketOf(r.URL.Path)
	s.mu.Lock()
	s.requests++
	s.byBucket[bucket]++
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	if s.bucketInFlight == nil {
		s.bucketInFlight, s.maxBucketInFlight = map[string]int{}, map[string]int{}
	}
	s.bucketInFlight[bucket]++
	s.maxBucketInFlight[bucket] = max(s.maxBucketInFlight[bucket], s.bucketInFlight[bucket])
	s.log = append(s.log, r.Method+" "+r.URL.RequestURI())
	s.lastHeader = r.Header.Clone()
	s.lastHeader.Del("Authorization")
	auth := authOK // the token endpoint authenticates the client itself
	if bucket != BucketToken {
		auth = s.authorizeLocked(r, now)
	}
	authorized := auth.ok
	limited, limit, remaining, reset := s.rateLocked(bucket, now)
	var fail *failRule
	if authorized && !limited {
		fail = s.failureLocked(r.URL.Path)
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.bucketInFlight[bucket]--
		s.mu.Unlock()
	}()

	if s.opts.Hold != nil {
		s.opts.Hold(r, bucket)
	}
	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	h := w.Header()
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(remaining))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(reset.Unix(), 10))
	s.mu.Lock()
	if s.oauth != nil && s.oauth.app.APINonce {
		s.nonceHeaderLocked(h)
	}
	s.mu.Unlock()
	switch {
	case limited:
		s.writeError(w, http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests.")
		return
	case !authorized:
		s.writeAuthError(w, auth)
		return
	case fail != nil:
		if fail.contentType != "" {
			h.Set("Content-Type", fail.contentType)
			w.WriteHeader(fail.status)
			_, _ = w.Write([]byte(fail.body))
			return
		}
		s.writeStatusError(w, fail.status)
		return
	case bucket == BucketToken:
		s.serveToken(w, r, now)
		return
	case r.Method != http.MethodGet:
		s.writeError(w, http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method")
		return
	}
	switch bucket {
	case BucketUsers:
		s.serveUsers(w, r)
	case BucketGroups:
		s.serveGroups(w, r)
	case BucketMembers:
		s.serveMembers(w, r)
	default:
		s.writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+r.URL.Path)
	}
}

// rateLocked counts a request against its bucket's window. Member reads
// (/groups/{id}/users) count in the groups bucket: Okta's rate-limit table
// lists /api/v1/groups and everything below it as one limit.
func (s *Server) rateLocked(bucket string, now time.Time) (limited bool, limit, remaining int, reset time.Time) {
	if bucket == BucketMembers {
		bucket = BucketGroups
	}
	b := s.buckets[bucket]
	if b == nil {
		b = &rateBucket{}
		s.buckets[bucket] = b
	}
	start := now.Truncate(s.opts.Window)
	if !start.Equal(b.window) {
		b.window, b.count = start, 0
	}
	end := start.Add(s.opts.Window)
	reset = end.Truncate(time.Second)
	if reset.Before(end) {
		reset = reset.Add(time.Second)
	}
	if now.Before(b.blocked) {
		s.violations++
	}
	limit = s.opts.RateLimit
	if b.count >= limit {
		s.throttled++
		b.blocked = reset
		return true, limit, 0, reset
	}
	b.count++
	if f := &s.faults; f.Throttle429Every > 0 {
		f.sinceThrottle++
		if f.sinceThrottle >= f.Throttle429Every {
			// A 429 of its own, as Okta's concurrency limit sends: its
			// reset is the short one given, not the window's end.
			f.sinceThrottle = 0
			s.throttled++
			// Reset is epoch seconds: the given delay after the Date
			// header's (whole) second.
			r := now.Truncate(time.Second).Add(f.Throttle429Reset).Truncate(time.Second)
			if !r.After(now) {
				r = r.Add(time.Second)
			}
			if r.After(b.blocked) || now.After(b.blocked) {
				b.blocked = r
			}
			return true, limit, limit - b.count, r
		}
	}
	if f := s.faults.AnnounceResetIn; f > 0 {
		reset = now.Add(f).Truncate(time.Second)
	}
	return false, limit, limit - b.count, reset
}

func (s *Server) failureLocked(path string) *failRule {
	if bucketOf(path) == BucketMembers {
		id := strings.Split(path, "/")[4]
		if st, ok := s.failGroups[id]; ok {
			return &failRule{status: st}
		}
	}
	for i, f := range s.failures {
		if strings.HasPrefix(path, f.prefix) && f.n > 0 {
			if f.skip > 0 {
				f.skip--
				continue
			}
			f.n--
			if f.n == 0 {
				s.failures = slices.Delete(s.failures, i, i+1)
			}
			return f
		}
	}
	return nil
}

func (s *Server) writeStatusError(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusUnauthorized:
		s.writeError(w, status, "E0000011", "Invalid token provided")
	case status == http.StatusForbidden:
		s.writeError(w, status, "E0000006", "You do not have permission to perform the requested action")
	case status == http.StatusNotFound:
		s.writeError(w, status, "E0000007", "Not found: Resource not found")
	case status == http.StatusTooManyRequests:
		s.writeError(w, status, "E0000047", "API call exceeded rate limit due to too many requests.")
	case status >= 500:
		s.writeError(w, status, "E0000009", "Internal Server Error")
	default:
		s.writeError(w, status, "E0000001", "Api validation failed")
	}
}

type apiError struct {
	ErrorCode    string       `json:"errorCode"`
	ErrorSummary string       `json:"errorSummary"`
	ErrorLink    string       `json:"errorLink"`
	ErrorID      string       `json:"errorId"`
	ErrorCauses  []errorCause `json:"errorCauses"`
}

type errorCause struct {
	ErrorSummary string `json:"errorSummary"`
}

func (s *Server) writeError(w http.ResponseWriter, status int, code, summary string, causes ...string) {
	s.mu.Lock()
	id := "oae" + NewID("", s.rng)
	s.mu.Unlock()
	e := apiError{ErrorCode: code, ErrorSummary: summary, ErrorLink: code, ErrorID: id, ErrorCauses: []errorCause{}}
	for _, c := range causes {
		e.ErrorCauses = append(e.ErrorCauses, errorCause{ErrorSummary: c})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// listQuery reads limit and after; ok is false when an error was written.
func (s *Server) listQuery(w http.ResponseWriter, r *http.Request, kind string, max int) (limit int, after string, ok bool) {
	q := r.URL.Query()
	limit = max
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: limit", "limit: must be a positive number")
			return 0, "", false
		}
		limit = min(n, max)
	}
	if v := q.Get("after"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		prefix := s.nonce + kind + ":"
		if err != nil || !strings.HasPrefix(string(raw), prefix) {
			s.writeError(w, http.StatusBadRequest, "E0000001", "Api validation failed: after", "after: invalid cursor")
			return 0, "", false
		}
		after = strings.TrimPrefix(string(raw), prefix)
	}
	return limit, after, true
}

func (s *Server) cursor(kind, lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(s.nonce + kind + ":" + lastID))
}

// writeLinks sends the self link and, when more may follow, the next link.
func (s *Server) writeLinks(w http.ResponseWriter, r *http.Request, kind, lastID string, more bool) {
	base := "http://" + r.Host + r.URL.Path
	q := r.URL.Query()
	self := base
	if len(q) > 0 {
		self += "?" + q.Encode()
	}
	links := []string{"<" + self + `>; rel="self"`}
	if more {
		q.Set("after", s.cursor(kind, lastID))
		links = append(links, "<"+base+"?"+q.Encode()+`>; rel="next"`)
	}
	if s.opts.CommaJoinedLinks {
		w.Header().Set("Link", strings.Join(links, ", "))
		return
	}
	for _, l := range links {
		w.Header().Add("Link", l)
	}
}

// listFault answers a list request the injected faults take over (an
// empty first page, an endless cursor) and reports whether it did;
// repeat is set when the list must serve its first page again.
func (s *Server) listFault(w http.ResponseWriter, r *http.Request, kind string) (handled, repeat bool) {
	s.mu.Lock()
	emptyFirst := s.faults.EmptyFirstPage && !r.URL.Query().Has("after")
	endless, fresh := s.endlessLocked(r.URL.Path)
	empty := s.faults.EndlessEmpty
	s.mu.Unlock()
	switch {
	case emptyFirst:
		// after= the empty cursor: the real first page.
		s.writeLinks(w, r, kind, "", true)
		writeArray(w, r, []User{}, userJSON)
		return true, false
	case endless && empty:
		s.writeLinks(w, r, kind, fresh, true)
		writeArray(w, r, []User{}, userJSON)
		return true, false
	case endless:
		s.writeLinks(w, r, kind, fresh, true)
		return false, true
	}
	return false, false
}

func (s *Server) serveUsers(w http.ResponseWriter, r *http.Request) {
	limit, after, ok := s.listQuery(w, r, "u", MaxUsersPage)
	if !ok {
		return
	}
	handled, repeat := s.listFault(w, r, "u")
	if handled {
		return
	}
	if repeat {
		after = ""
	}
	match := func(u *User) bool { return u.Status != StatusDeprovisioned }
	if f := r.URL.Query().Get("filter"); f != "" {
		p, err := parseFilter(f, userAttrs)
		if err != nil {
			s.writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.", err.Error())
			return
		}
		match = p
	}
	if r.URL.Query().Has("search") || r.URL.Query().Has("q") {
		s.writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.", "search and q are not supported by this fake")
		return
	}
	page := make([]User, 0, min(limit, 256))
	s.mu.Lock()
	users := s.org.Users
	if n := s.faults.UsersEndAfter; n > 0 && n < len(users) {
		users = users[:n]
	}
	i, _ := slices.BinarySearchFunc(users, after, func(u *User, id string) int { return cmp.Compare(u.ID, id) })
	for ; i < len(users) && len(page) < limit; i++ {
		if users[i].ID == after {
			continue
		}
		if match(users[i]) {
			page = append(page, *users[i])
		}
	}
	ended := s.faults.UsersEndAfter > 0 && i >= len(users)
	s.mu.Unlock()
	last := ""
	if len(page) > 0 {
		last = page[len(page)-1].ID
	}
	if !repeat {
		s.writeLinks(w, r, "u", last, len(page) == limit && !ended)
	}
	writeArray(w, r, page, userJSON)
}

func (s *Server) serveGroups(w http.ResponseWriter, r *http.Request) {
	limit, after, ok := s.listQuery(w, r, "g", MaxGroupsPage)
	if !ok {
		return
	}
	handled, repeat := s.listFault(w, r, "g")
	if handled {
		return
	}
	if repeat {
		after = ""
	}
	// expand=stats adds _embedded.stats.usersCount (okta-management-openapi-spec
	// dist/current/management-minimal.yaml, listGroups' expand parameter).
	stats := !s.opts.NoStats && slices.Contains(strings.Split(r.URL.Query().Get("expand"), ","), "stats")
	match := func(*Group) bool { return true }
	if f := r.URL.Query().Get("filter"); f != "" {
		p, err := parseFilter(f, groupAttrs)
		if err != nil {
			s.writeError(w, http.StatusBadRequest, "E0000031", "Invalid search criteria.", err.Error())
			return
		}
		match = p
	}
	page := make([]servedGroup, 0, min(limit, 256))
	s.mu.Lock()
	groups := s.org.Groups
	i, _ := slices.BinarySearchFunc(groups, after, func(g *Group, id string) int { return cmp.Compare(g.ID, id) })
	for ; i < len(groups) && len(page) < limit; i++ {
		if groups[i].ID == after {
			continue
		}
		if match(groups[i]) {
			sg := servedGroup{Group: *groups[i], usersCount: -1}
			if stats {
				// Okta counts the users the member list serves.
				n := 0
				for _, id := range sg.Members {
					if s.org.User(id) != nil {
						n++
					}
				}
				sg.usersCount = max(0, n+s.faults.StatsDelta[sg.ID])
			}
			sg.Members = nil
			page = append(page, sg)
		}
	}
	s.mu.Unlock()
	last := ""
	if len(page) > 0 {
		last = page[len(page)-1].ID
	}
	if !repeat {
		s.writeLinks(w, r, "g", last, len(page) == limit)
	}
	writeArray(w, r, page, groupJSON)
}

func (s *Server) serveMembers(w http.ResponseWriter, r *http.Request) {
	id := strings.Split(r.URL.Path, "/")[4]
	limit, after, ok := s.listQuery(w, r, "m"+id, MaxMembersPage)
	if !ok {
		return
	}
	handled, repeat := s.listFault(w, r, "m"+id)
	if handled {
		return
	}
	if repeat {
		after = ""
	}
	page := make([]User, 0, min(limit, 256))
	s.mu.Lock()
	g := s.org.Group(id)
	if g == nil {
		s.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "E0000007", "Not found: Resource not found: "+id+" (UserGroup)")
		return
	}
	cut := false
	if !r.URL.Query().Has("after") && !repeat {
		if n := s.cutLocked(id); n >= 0 {
			limit, cut = min(limit, n), true
		}
	}
	i, _ := slices.BinarySearch(g.Members, after)
	for ; i < len(g.Members) && len(page) < limit; i++ {
		if g.Members[i] == after {
			continue
		}
		if u := s.org.User(g.Members[i]); u != nil {
			page = append(page, *u)
		}
	}
	s.mu.Unlock()
	last := ""
	if len(page) > 0 {
		last = page[len(page)-1].ID
	}
	if !repeat {
		s.writeLinks(w, r, "m"+id, last, len(page) == limit && !cut)
	}
	writeArray(w, r, page, userJSON)
}

const oktaTime = "2006-01-02T15:04:05.000Z07:00"

func ts(t time.Time) string { return t.UTC().Format(oktaTime) }

// writeArray streams items as a JSON array, one item at a time, so that
// large pages never exist as one rendered document.
func writeArray[T any](w http.ResponseWriter, r *http.Request, items []T, render func(*bytes.Buffer, string, *T)) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	base := "http://" + r.Host
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		render(&buf, base, &items[i])
		if buf.Len() > 32<<10 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			buf.Reset()
		}
	}
	buf.WriteByte(']')
	_, _ = w.Write(buf.Bytes())
}

type jsonUser struct {
	ID              string          `json:"id"`
	Status          string          `json:"status"`
	Created         string          `json:"created"`
	Activated       *string         `json:"activated"`
	StatusChanged   *string         `json:"statusChanged"`
	LastLogin       *string         `json:"lastLogin"`
	LastUpdated     string          `json:"lastUpdated"`
	PasswordChanged *string         `json:"passwordChanged"`
	Type            map[string]any  `json:"type"`
	Profile         jsonUserProfile `json:"profile"`
	Credentials     map[string]any  `json:"credentials"`
	Links           map[string]any  `json:"_links"`
}

type jsonUserProfile struct {
	FirstName   string  `json:"firstName"`
	LastName    string  `json:"lastName"`
	MobilePhone *string `json:"mobilePhone"`
	SecondEmail *string `json:"secondEmail"`
	Login       string  `json:"login"`
	Email       string  `json:"email"`
}

var userType = map[string]any{"id": "oty1abcdefghijklmno7"}
var userCredentials = map[string]any{"provider": map[string]any{"type": "OKTA", "name": "OKTA"}}

func userJSON(buf *bytes.Buffer, base string, u *User) {
	b, _ := json.Marshal(jsonUser{
		ID: u.ID, Status: u.Status, Created: ts(u.Created), LastUpdated: ts(u.LastUpdated),
		Type:        userType,
		Profile:     jsonUserProfile{FirstName: u.FirstName, LastName: u.LastName, Login: u.Login, Email: u.Email},
		Credentials: userCredentials,
		Links:       map[string]any{"self": map[string]string{"href": base + "/api/v1/users/" + u.ID}},
	})
	buf.Write(b)
}

type jsonGroup struct {
	ID                    string             `json:"id"`
	Created               string             `json:"created"`
	LastUpdated           string             `json:"lastUpdated"`
	LastMembershipUpdated string             `json:"lastMembershipUpdated"`
	ObjectClass           []string           `json:"objectClass"`
	Type                  string             `json:"type"`
	Profile               jsonGroupProfile   `json:"profile"`
	Embedded              *jsonGroupEmbedded `json:"_embedded,omitempty"`
	Links                 map[string]any     `json:"_links"`
}

// servedGroup is a group as one list page serves it; usersCount is -1
// without expand=stats.
type servedGroup struct {
	Group
	usersCount int
}

type jsonGroupEmbedded struct {
	Stats jsonGroupStats `json:"stats"`
}

type jsonGroupStats struct {
	UsersCount             int  `json:"usersCount"`
	AppsCount              int  `json:"appsCount"`
	GroupPushMappingsCount int  `json:"groupPushMappingsCount"`
	HasAdminPrivilege      bool `json:"hasAdminPrivilege"`
}

type jsonGroupProfile struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

var groupObjectClass = []string{"okta:user_group"}

func groupJSON(buf *bytes.Buffer, base string, sg *servedGroup) {
	g := &sg.Group
	var emb *jsonGroupEmbedded
	if sg.usersCount >= 0 {
		emb = &jsonGroupEmbedded{Stats: jsonGroupStats{UsersCount: sg.usersCount}}
	}
	b, _ := json.Marshal(jsonGroup{
		Embedded: emb,
		ID:       g.ID, Created: ts(g.Created), LastUpdated: ts(g.LastUpdated), LastMembershipUpdated: ts(g.LastMembershipUpdated),
		ObjectClass: groupObjectClass, Type: g.Type,
		Profile: jsonGroupProfile{Name: g.Name, Description: g.Description},
		Links: map[string]any{
			"users": map[string]string{"href": base + "/api/v1/groups/" + g.ID + "/users"},
		},
	})
	buf.Write(b)
}

// ---- mutators ----

// ErrNotFound is returned by mutators for an unknown user or group id.
var ErrNotFound = errors.New("oktatest: not found")

// stamp returns a timestamp after old at millisecond precision, as Okta
// keeps them, even when the clock has not moved.
func (s *Server) stamp(old time.Time) time.Time {
	t := s.opts.Now().UTC().Truncate(time.Millisecond)
	if !t.After(old) {
		t = old.Add(time.Millisecond)
	}
	return t
}

// AddUser adds u (an id is generated when u.ID is empty; status defaults to
// ACTIVE, login to the email) and returns its id.
func (s *Server) AddUser(u User) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		for u.ID == "" || s.org.User(u.ID) != nil {
			u.ID = NewID("00u", s.rng)
		}
	}
	if u.Status == "" {
		u.Status = StatusActive
	}
	if u.Login == "" {
		u.Login = u.Email
	}
	if u.Created.IsZero() {
		u.Created = s.stamp(time.Time{})
	}
	if u.LastUpdated.IsZero() {
		u.LastUpdated = u.Created
	}
	s.org.Users = append(s.org.Users, &u)
	slices.SortFunc(s.org.Users, func(a, b *User) int { return cmp.Compare(a.ID, b.ID) })
	return u.ID
}

func (s *Server) withUser(id string, f func(*User)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.org.User(id)
	if u == nil {
		return fmt.Errorf("%w: user %s", ErrNotFound, id)
	}
	f(u)
	u.LastUpdated = s.stamp(u.LastUpdated)
	return nil
}

// SetUserStatus changes a user's status (e.g. SUSPENDED, DEPROVISIONED).
func (s *Server) SetUserStatus(id, status string) error {
	return s.withUser(id, func(u *User) { u.Status = status })
}

// SetUserEmail changes a user's primary email.
func (s *Server) SetUserEmail(id, email string) error {
	return s.withUser(id, func(u *User) { u.Email = email })
}

// RemoveUser deletes a user outright (as after deleting a deprovisioned
// user) and drops it from every group.
func (s *Server) RemoveUser(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.org.Users, func(u *User) bool { return u.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: user %s", ErrNotFound, id)
	}
	s.org.Users = slices.Delete(s.org.Users, i, i+1)
	for _, g := range s.org.Groups {
		if j, ok := slices.BinarySearch(g.Members, id); ok {
			g.Members = slices.Delete(g.Members, j, j+1)
			g.LastMembershipUpdated = s.stamp(g.LastMembershipUpdated)
		}
	}
	return nil
}

// AddGroup adds g (an id is generated when g.ID is empty; type defaults to
// OKTA_GROUP) and returns its id. Members must be existing user ids.
func (s *Server) AddGroup(g Group) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g.ID == "" {
		for g.ID == "" || s.org.Group(g.ID) != nil {
			g.ID = NewID("00g", s.rng)
		}
	}
	if g.Type == "" {
		g.Type = GroupTypeOkta
	}
	if g.Created.IsZero() {
		g.Created = s.stamp(time.Time{})
	}
	if g.LastUpdated.IsZero() {
		g.LastUpdated = g.Created
	}
	if g.LastMembershipUpdated.IsZero() {
		g.LastMembershipUpdated = g.Created
	}
	g.Members = slices.Clone(g.Members)
	slices.Sort(g.Members)
	g.Members = slices.Compact(g.Members)
	s.org.Groups = append(s.org.Groups, &g)
	slices.SortFunc(s.org.Groups, func(a, b *Group) int { return cmp.Compare(a.ID, b.ID) })
	return g.ID
}

func (s *Server) withGroup(id string, f func(*Group)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.org.Group(id)
	if g == nil {
		return fmt.Errorf("%w: group %s", ErrNotFound, id)
	}
	f(g)
	return nil
}

// RenameGroup changes a group's name; it bumps lastUpdated only, as Okta
// does, so lastMembershipUpdated stays put.
func (s *Server) RenameGroup(id, name string) error {
	return s.withGroup(id, func(g *Group) {
		g.Name = name
		g.LastUpdated = s.stamp(g.LastUpdated)
	})
}

// DeleteGroup removes a group.
func (s *Server) DeleteGroup(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.org.Groups, func(g *Group) bool { return g.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: group %s", ErrNotFound, id)
	}
	s.org.Groups = slices.Delete(s.org.Groups, i, i+1)
	return nil
}

// SetMembers replaces a group's members and bumps lastMembershipUpdated.
func (s *Server) SetMembers(groupID string, userIDs []string) error {
	return s.withGroup(groupID, func(g *Group) {
		g.Members = slices.Clone(userIDs)
		slices.Sort(g.Members)
		g.Members = slices.Compact(g.Members)
		g.LastMembershipUpdated = s.stamp(g.LastMembershipUpdated)
	})
}

// AddMember adds a user to a group and bumps lastMembershipUpdated.
func (s *Server) AddMember(groupID, userID string) error {
	return s.withGroup(groupID, func(g *Group) {
		if i, ok := slices.BinarySearch(g.Members, userID); !ok {
			g.Members = slices.Insert(g.Members, i, userID)
		}
		g.LastMembershipUpdated = s.stamp(g.LastMembershipUpdated)
	})
}

// RemoveMember removes a user from a group and bumps lastMembershipUpdated.
func (s *Server) RemoveMember(groupID, userID string) error {
	return s.withGroup(groupID, func(g *Group) {
		if i, ok := slices.BinarySearch(g.Members, userID); ok {
			g.Members = slices.Delete(g.Members, i, i+1)
		}
		g.LastMembershipUpdated = s.stamp(g.LastMembershipUpdated)
	})
}
