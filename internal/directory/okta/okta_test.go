package okta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
)

const testToken = "s3cr3t-token-0123456789"

func newFake(t testing.TB, opts oktatest.Options, org *oktatest.Org) *oktatest.Server {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	s := oktatest.New(opts)
	t.Cleanup(s.Close)
	if org != nil {
		s.SetOrg(org)
	}
	return s
}

func newClient(t testing.TB, orgURL string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{OrgURL: orgURL + "/", Token: testToken, BackoffBase: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var all = directory.ReadOptions{Users: true, Groups: true}

// expected maps an org the way the contract says, independently of the
// client's code paths.
func expected(o *oktatest.Org) *directory.Snapshot {
	s := &directory.Snapshot{Users: []directory.User{}, Groups: []directory.Group{}}
	for _, u := range o.Users {
		s.Users = append(s.Users, directory.User{
			ID: u.ID, Email: strings.ToLower(strings.TrimSpace(u.Email)), Status: u.Status,
			Deleted: u.Status == "DEPROVISIONED", Disabled: u.Status == "SUSPENDED",
		})
	}
	for _, g := range o.Groups {
		m := slices.Clone(g.Members)
		if m == nil {
			m = []string{}
		}
		s.Groups = append(s.Groups, directory.Group{ID: g.ID, Name: g.Name, MemberIDs: m, LastMembershipUpdated: g.LastMembershipUpdated})
	}
	return s
}

func diffSnapshots(t *testing.T, got, want *directory.Snapshot) {
	t.Helper()
	if len(got.Users) != len(want.Users) {
		t.Fatalf("%d users, want %d", len(got.Users), len(want.Users))
	}
	for i := range want.Users {
		if got.Users[i] != want.Users[i] {
			t.Fatalf("user %d: got %+v, want %+v", i, got.Users[i], want.Users[i])
		}
	}
	if len(got.Groups) != len(want.Groups) {
		t.Fatalf("%d groups, want %d", len(got.Groups), len(want.Groups))
	}
	for i, w := range want.Groups {
		g := got.Groups[i]
		if g.ID != w.ID || g.Name != w.Name || !g.LastMembershipUpdated.Equal(w.LastMembershipUpdated) || !slices.Equal(g.MemberIDs, w.MemberIDs) || g.MemberIDs == nil {
			t.Fatalf("group %d: got %s %q %v (%d members), want %s %q %v (%d members)", i,
				g.ID, g.Name, g.LastMembershipUpdated, len(g.MemberIDs), w.ID, w.Name, w.LastMembershipUpdated, len(w.MemberIDs))
		}
	}
}

func countLog(log []string, substr string) int {
	n := 0
	for _, l := range log {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func TestReadMapsWholeOrg(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 60, Deprovisioned: 4, Suspended: 5, NoEmail: 2, DuplicateEmails: 2,
		Groups: 12, MembersPerGroup: 9, EmptyGroups: 2, LongGroupNames: 1, Seed: 3})
	org.Users[7].Email = "  Mixed.Case@Example.COM "
	srv := newFake(t, oktatest.Options{}, org)
	c := newClient(t, srv.URL, func(c *Config) { c.UserAgent = "dirsync/1.2.3" })
	snap, err := c.Read(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	want := expected(srv.Org())
	diffSnapshots(t, snap, want)
	if snap.Users[7].Email != "mixed.case@example.com" {
		t.Fatalf("email not trimmed and lower-cased: %q", snap.Users[7].Email)
	}
	h := srv.LastHeader()
	if h.Get("User-Agent") != "dirsync/1.2.3" || h.Get("Accept") != "application/json" {
		t.Fatalf("headers %v", h)
	}
	st := snap.Stats
	if st.Requests != srv.Requests() || st.MemberReads != 12 || st.CachedGroups != 0 || st.Retries != 0 || st.Duration <= 0 {
		t.Fatalf("stats %+v, server saw %d requests", st, srv.Requests())
	}
}

func TestPagination(t *testing.T) {
	big := func() *oktatest.Org {
		o := oktatest.Generate(oktatest.Spec{Users: 2600, Deprovisioned: 2150, Groups: 2, MembersPerGroup: 2500, Seed: 1})
		return o
	}
	for _, tc := range []struct {
		name       string
		org        *oktatest.Org
		joined     bool
		userPages  int // requests without filter
		deprPages  int
		memberReqs int
	}{
		// 450 active users: pages of 200, 200, 50. 2150 deprovisioned: 11 pages.
		// 2 groups of 2500 members: 3 pages each.
		{"separate Link lines", big(), false, 3, 11, 6},
		{"comma-joined Link", big(), true, 3, 11, 6},
		// 400 active users: 200, 200, then an empty page ends the list.
		{"exact multiple ends on an empty page", oktatest.Generate(oktatest.Spec{Users: 400, Groups: 1, MembersPerGroup: 400}), false, 3, 1, 1},
		{"empty org", &oktatest.Org{}, false, 1, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, oktatest.Options{CommaJoinedLinks: tc.joined}, tc.org)
			snap, err := newClient(t, srv.URL, nil).Read(context.Background(), all)
			if err != nil {
				t.Fatal(err)
			}
			diffSnapshots(t, snap, expected(srv.Org()))
			log := srv.Log()
			users := countLog(log, "GET /api/v1/users?") - countLog(log, "DEPROVISIONED")
			depr := countLog(log, "DEPROVISIONED")
			members := srv.RequestsByBucket()[oktatest.BucketMembers]
			if users != tc.userPages || depr != tc.deprPages || members != tc.memberReqs {
				t.Fatalf("requests: users %d deprovisioned %d members %d, want %d %d %d\n%s",
					users, depr, members, tc.userPages, tc.deprPages, tc.memberReqs, strings.Join(log, "\n"))
			}
			for _, l := range log {
				if (strings.HasPrefix(l, "GET /api/v1/users?") && !strings.Contains(l, "limit=200")) ||
					(strings.Contains(l, "/users?") && strings.HasPrefix(l, "GET /api/v1/groups/") && !strings.Contains(l, "limit=1000")) {
					t.Fatalf("request without the page cap: %s", l)
				}
			}
			if snap.Stats.Requests != len(log) {
				t.Fatalf("Stats.Requests %d, server saw %d", snap.Stats.Requests, len(log))
			}
		})
	}
}

func TestReadOptions(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 30, Deprovisioned: 3, Suspended: 2, Groups: 10, MembersPerGroup: 5, Seed: 5})
	names := []string{}
	for _, g := range org.Groups {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	for _, tc := range []struct {
		name         string
		opts         directory.ReadOptions
		wantUsers    func(*oktatest.User) bool
		wantGroups   func(*oktatest.Group) bool
		wantUserReqs int
		wantFilter   string // a query fragment every users request carries
	}{
		{name: "users only", opts: directory.ReadOptions{Users: true},
			wantUsers: func(*oktatest.User) bool { return true }, wantGroups: func(*oktatest.Group) bool { return false }, wantUserReqs: 2},
		{name: "groups only", opts: directory.ReadOptions{Groups: true},
			wantUsers: func(*oktatest.User) bool { return false }, wantGroups: func(*oktatest.Group) bool { return true }},
		{name: "native user filter: one read, includes DEPROVISIONED",
			opts:      directory.ReadOptions{Users: true, UserFilter: directory.MustParseFilter(`| status eq "DEPROVISIONED" or status eq "SUSPENDED"`)},
			wantUsers: func(u *oktatest.User) bool { return u.Status != "ACTIVE" }, wantGroups: func(*oktatest.Group) bool { return false },
			wantUserReqs: 1, wantFilter: "filter=status%20eq%20%22DEPROVISIONED%22%20or"},
		{name: "group include set: members of dropped groups not read",
			opts:       directory.ReadOptions{Groups: true, GroupFilter: directory.MustParseFilter("include:" + strings.ToUpper(names[2]) + "," + names[7])},
			wantUsers:  func(*oktatest.User) bool { return false },
			wantGroups: func(g *oktatest.Group) bool { return g.Name == names[2] || g.Name == names[7] }},
		{name: "group exclude set",
			opts:      directory.ReadOptions{Groups: true, GroupFilter: directory.MustParseFilter("exclude:" + names[0])},
			wantUsers: func(*oktatest.User) bool { return false }, wantGroups: func(g *oktatest.Group) bool { return g.Name != names[0] }},
		{name: "native group filter",
			opts:      directory.ReadOptions{Groups: true, GroupFilter: directory.MustParseFilter(`| type eq "APP_GROUP"`)},
			wantUsers: func(*oktatest.User) bool { return false }, wantGroups: func(g *oktatest.Group) bool { return g.Type == "APP_GROUP" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, oktatest.Options{}, org.Clone())
			snap, err := newClient(t, srv.URL, nil).Read(context.Background(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			want := &oktatest.Org{}
			for _, u := range org.Users {
				if tc.wantUsers(u) {
					want.Users = append(want.Users, u)
				}
			}
			for _, g := range org.Groups {
				if tc.wantGroups(g) {
					want.Groups = append(want.Groups, g)
				}
			}
			diffSnapshots(t, snap, expected(want))
			by := srv.RequestsByBucket()
			if by[oktatest.BucketUsers] != tc.wantUserReqs {
				t.Fatalf("users requests %d, want %d", by[oktatest.BucketUsers], tc.wantUserReqs)
			}
			if by[oktatest.BucketMembers] != len(want.Groups) || snap.Stats.MemberReads != len(want.Groups) {
				t.Fatalf("member reads %d (stats %d), want %d", by[oktatest.BucketMembers], snap.Stats.MemberReads, len(want.Groups))
			}
			if !tc.opts.Groups && by[oktatest.BucketGroups] != 0 {
				t.Fatal("groups read although groups are off")
			}
			for _, l := range srv.Log() {
				if strings.HasPrefix(l, "GET /api/v1/users?") && !strings.Contains(l, tc.wantFilter) {
					t.Fatalf("request %s lacks %s", l, tc.wantFilter)
				}
			}
		})
	}
}

func TestLinkParsing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   string
	}{
		{"separate lines", []string{`<https://a/x?limit=2>; rel="self"`, `<https://a/x?after=b&limit=2>; rel="next"`}, "https://a/x?after=b&limit=2"},
		{"comma joined", []string{`<https://a/x>; rel="self", <https://a/x?after=c>; rel="next"`}, "https://a/x?after=c"},
		{"commas and semicolons inside the URL", []string{`<https://a/x?f=a,b;c>; rel="self",<https://a/x?f=a,b;c&after=d>;rel=next`}, "https://a/x?f=a,b;c&after=d"},
		{"several rels and extra params", []string{`<https://a/y>; title="a, b; c"; rel="last next"`}, "https://a/y"},
		{"only self", []string{`<https://a/x>; rel="self"`}, ""},
		{"no header", nil, ""},
		{"garbage", []string{`nonsense, <unterminated`}, ""},
		{"rel named nextish is not next", []string{`<https://a/z>; rel="next-archive"`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := nextLink(tc.values); got != tc.want {
				t.Fatalf("nextLink = %q, want %q", got, tc.want)
			}
		})
	}
}

// tiny serves a fixed page per request path with an optional Link header.
func tiny(t *testing.T, f func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(f))
	t.Cleanup(s.Close)
	return s
}

func TestLinkSafety(t *testing.T) {
	var foreignMu sync.Mutex
	var foreignAuth []string
	foreign := tiny(t, func(w http.ResponseWriter, r *http.Request) {
		foreignMu.Lock()
		foreignAuth = append(foreignAuth, r.Header.Get("Authorization"))
		foreignMu.Unlock()
		_, _ = w.Write([]byte(`[]`))
	})
	for _, tc := range []struct {
		name    string
		handler func(org string) http.HandlerFunc
		wantErr error
	}{
		{"next link to another host", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				w.Header().Add("Link", "<"+foreign.URL+r.URL.RequestURI()+`&after=x>; rel="next"`)
				_, _ = w.Write([]byte(`[{"id":"00u1","status":"ACTIVE","profile":{"email":"a@x.com"}}]`))
			}
		}, ErrForeignLink},
		{"redirect to another host", func(string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, foreign.URL+r.URL.RequestURI(), http.StatusFound)
			}
		}, ErrForeignLink},
		{"repeated next link", func(org string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				// Two pages pointing at each other.
				nextAfter := "p1"
				if r.URL.Query().Get("after") == "p1" {
					nextAfter = "p2"
				} else if r.URL.Query().Get("after") == "p2" {
					nextAfter = "p1"
				}
				w.Header().Add("Link", "<"+org+r.URL.Path+"?limit=200&after="+nextAfter+`>; rel="next"`)
				_, _ = w.Write([]byte(`[{"id":"00u1","status":"ACTIVE","profile":{"email":"a@x.com"}}]`))
			}
		}, ErrPageLoop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h http.HandlerFunc
			org := tiny(t, func(w http.ResponseWriter, r *http.Request) { h(w, r) })
			h = tc.handler(org.URL)
			snap, err := newClient(t, org.URL, nil).Read(context.Background(), directory.ReadOptions{Users: true})
			if !errors.Is(err, tc.wantErr) || snap != nil {
				t.Fatalf("Read = %v, %v; want %v and no snapshot", snap, err, tc.wantErr)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatal("token in error")
			}
			foreignMu.Lock()
			defer foreignMu.Unlock()
			if len(foreignAuth) != 0 {
				t.Fatalf("the foreign host got %d requests (auth %q)", len(foreignAuth), foreignAuth)
			}
		})
	}
}

// alignedClock is a clock for the fake that runs with real time, an hour
// ahead (so the client must use the Date header, not its own clock), and
// starts just after a window boundary so that a test has almost a whole
// window before the limit resets.
func alignedClock(window time.Duration) func() time.Time {
	now := time.Now()
	offset := now.Add(time.Hour).Truncate(window).Add(window).Sub(now) + 5*time.Millisecond
	return func() time.Time { return time.Now().Add(offset) }
}

func TestRateLimit429WaitsForReset(t *testing.T) {
	clock := alignedClock(time.Second)
	org := oktatest.Generate(oktatest.Spec{Users: 10, Groups: 3, MembersPerGroup: 4})
	srv := newFake(t, oktatest.Options{RateLimit: 4, Window: time.Second, Now: clock}, org)
	// Another Okta client spent the members bucket's budget.
	for range 4 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/groups/"+org.Groups[0].ID+"/users", nil)
		req.Header.Set("Authorization", "SSWS "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("setup: %d", resp.StatusCode)
		}
	}
	reset := clock().Truncate(time.Second).Add(time.Second)
	start := time.Now()
	// Without clock-skew correction the client would wait an hour.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := newClient(t, srv.URL, func(c *Config) { c.Concurrency = 3 }).Read(ctx, directory.ReadOptions{Groups: true})
	if err != nil {
		t.Fatal(err)
	}
	diffSnapshots(t, snap, expected(&oktatest.Org{Groups: srv.Org().Groups}))
	if srv.Throttled() == 0 {
		t.Fatal("the test did not provoke a 429")
	}
	if v := srv.RateLimitViolations(); v != 0 {
		t.Fatalf("%d requests sent before the announced reset", v)
	}
	if clock().Before(reset) || snap.Stats.RateLimitWaits == 0 || snap.Stats.RateLimitWait <= 0 || snap.Stats.Retries == 0 {
		t.Fatalf("finished before the reset or stats missing: %+v", snap.Stats)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("waited %s; the reset was at most 1s away (clock skew not corrected?)", el)
	}
}

func TestRateLimitPacing(t *testing.T) {
	clock := alignedClock(time.Second)
	// 700 active users: 4 pages, plus one DEPROVISIONED page: 5 requests
	// against a budget of 6, of which we may use half.
	srv := newFake(t, oktatest.Options{RateLimit: 6, Window: time.Second, Now: clock}, oktatest.Generate(oktatest.Spec{Users: 700}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	snap, err := newClient(t, srv.URL, nil).Read(ctx, directory.ReadOptions{Users: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Users) != 700 {
		t.Fatalf("%d users", len(snap.Users))
	}
	if srv.Throttled() != 0 || srv.RateLimitViolations() != 0 {
		t.Fatalf("paced client got %d 429s", srv.Throttled())
	}
	if snap.Stats.RateLimitWaits == 0 {
		t.Fatalf("no pause although more than half the budget was needed: %+v", snap.Stats)
	}
}

func TestErrors(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 5, Groups: 3, MembersPerGroup: 2})
	for _, tc := range []struct {
		name     string
		setup    func(*oktatest.Server)
		opts     directory.ReadOptions
		retries  int
		want     []string
		is       func(error) bool
		wantReqs func(map[string]int) bool
	}{
		{name: "revoked token", setup: func(s *oktatest.Server) { s.SetToken("another") }, opts: directory.ReadOptions{Users: true},
			want: []string{"okta: GET /api/v1/users: 401 E0000011 Invalid token provided", "create a new one in Okta (Security → API → Tokens)"},
			is:   IsInvalidToken},
		{name: "bad native user filter", opts: directory.ReadOptions{Users: true, UserFilter: directory.MustParseFilter(`| profile.department eq "x"`)},
			want: []string{"400 E0000031 Invalid search criteria.", `Okta refused the filter expression "profile.department eq \"x\""; check the native filter syntax`},
			is:   IsBadFilter},
		{name: "bad native group filter", opts: directory.ReadOptions{Groups: true, GroupFilter: directory.MustParseFilter(`| profile.name eq "x"`)},
			want: []string{"okta: GET /api/v1/groups: 400 E0000031", `profile.name eq \"x\"`}, is: IsBadFilter},
		{name: "forbidden", setup: func(s *oktatest.Server) { s.FailNext("/api/v1/groups", 403, 1) }, opts: all,
			want: []string{"403 E0000006", "Read-only Administrator"}, is: IsForbidden},
		{name: "non-JSON proxy page", setup: func(s *oktatest.Server) {
			s.FailNextRaw("/api/v1/users", 502, 10, "text/html", "<html>\n<body>  Bad gateway "+testToken+" \x01</body></html>")
		}, opts: directory.ReadOptions{Users: true}, retries: 1,
			want: []string{"okta: GET /api/v1/users: 502 Bad Gateway", `<html> <body> Bad gateway [REDACTED] </body></html>`}},
		{name: "404 HTML at the org", setup: func(s *oktatest.Server) { s.FailNextRaw("/api/v1/users", 404, 2, "text/html", "<h1>Not here</h1>") },
			opts: directory.ReadOptions{Users: true}, want: []string{"404 Not Found", "check the org URL"}, is: IsNotFound},
		{name: "5xx exhausts retries", setup: func(s *oktatest.Server) { s.FailNext("/api/v1/groups", 500, 100) }, opts: all, retries: 2,
			want:     []string{"okta: GET /api/v1/groups: 500 E0000009 Internal Server Error", "try again later"},
			wantReqs: func(m map[string]int) bool { return m[oktatest.BucketGroups] == 3 && m[oktatest.BucketMembers] == 0 }},
		{name: "a group whose members cannot be read fails the read",
			setup: func(s *oktatest.Server) { s.FailGroupMembers(s.Org().Groups[1].ID, 403) }, opts: all,
			want: []string{"okta: GET /api/v1/groups/" + org.Groups[1].ID + "/users: 403"}, is: IsForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, oktatest.Options{}, org.Clone())
			if tc.setup != nil {
				tc.setup(srv)
			}
			var logBuf bytes.Buffer
			var logMu sync.Mutex
			c := newClient(t, srv.URL, func(c *Config) {
				c.MaxRetries = tc.retries
				if tc.retries == 0 {
					c.MaxRetries = -1
				}
				c.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logBuf, mu: &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			snap, err := c.Read(context.Background(), tc.opts)
			if err == nil || snap != nil {
				t.Fatalf("Read = %v, %v; want an error and no snapshot", snap, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
			if tc.is != nil && !tc.is(err) {
				t.Fatalf("predicate false for %v", err)
			}
			if tc.wantReqs != nil && !tc.wantReqs(srv.RequestsByBucket()) {
				t.Fatalf("requests %v", srv.RequestsByBucket())
			}
			logMu.Lock()
			defer logMu.Unlock()
			if strings.Contains(err.Error(), testToken) || strings.Contains(logBuf.String(), testToken) {
				t.Fatal("the token leaked into the error or the log")
			}
		})
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRetries(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 250, Groups: 2, MembersPerGroup: 3})
	srv := newFake(t, oktatest.Options{}, org)
	srv.FailNext("/api/v1/users", 503, 2)
	srv.FailNext("/api/v1/groups/", 500, 1)
	var events []RequestEvent
	var mu sync.Mutex
	c := newClient(t, srv.URL, func(c *Config) {
		c.Observer = func(e RequestEvent) { mu.Lock(); events = append(events, e); mu.Unlock() }
	})
	snap, err := c.Read(context.Background(), all)
	if err != nil {
		t.Fatal(err)
	}
	diffSnapshots(t, snap, expected(srv.Org()))
	if snap.Stats.Retries != 3 || snap.Stats.Requests != srv.Requests() {
		t.Fatalf("stats %+v, server saw %d", snap.Stats, srv.Requests())
	}
	mu.Lock()
	defer mu.Unlock()
	failed := 0
	for _, e := range events {
		if strings.Contains(e.Path, "?") || e.Method != "GET" || e.RateLimitLimit != oktatest.DefaultRateLimit {
			t.Fatalf("event %+v", e)
		}
		if e.Status >= 500 {
			failed++
		}
	}
	if len(events) != srv.Requests() || failed != 3 {
		t.Fatalf("%d events (%d failed) for %d requests", len(events), failed, srv.Requests())
	}
}

func TestTransportFailures(t *testing.T) {
	t.Run("timeout is retried", func(t *testing.T) {
		var mu sync.Mutex
		calls := 0
		s := tiny(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls++
			first := calls == 1
			mu.Unlock()
			if first {
				<-r.Context().Done() // hang until the client gives up
				return
			}
			_, _ = w.Write([]byte(`[{"id":"00u1","status":"ACTIVE","profile":{"email":"A@x.com"}}]`))
		})
		c := newClient(t, s.URL, func(c *Config) { c.RequestTimeout = 100 * time.Millisecond })
		snap, err := c.Read(context.Background(), directory.ReadOptions{Users: true, UserFilter: directory.MustParseFilter(`| status eq "ACTIVE"`)})
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Users) != 1 || snap.Users[0].Email != "a@x.com" || snap.Stats.Retries != 1 {
			t.Fatalf("snapshot %+v", snap)
		}
	})
	t.Run("connection refused exhausts retries", func(t *testing.T) {
		s := httptest.NewServer(http.NotFoundHandler())
		url := s.URL
		s.Close()
		var events int
		c := newClient(t, url, func(c *Config) { c.MaxRetries = 2; c.Observer = func(e RequestEvent) { events++ } })
		_, err := c.Read(context.Background(), directory.ReadOptions{Groups: true})
		if err == nil || !strings.Contains(err.Error(), "okta: GET /api/v1/groups: failed after 3 attempts") {
			t.Fatalf("err = %v", err)
		}
		if events != 3 {
			t.Fatalf("%d attempts, want 3", events)
		}
	})
	t.Run("users in both lists are de-duplicated, DEPROVISIONED wins", func(t *testing.T) {
		s := tiny(t, func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.RawQuery, "DEPROVISIONED") {
				_, _ = w.Write([]byte(`[{"id":"00u1","status":"DEPROVISIONED","profile":{"email":"a@x.com"}}]`))
				return
			}
			_, _ = w.Write([]byte(`[{"id":"00u1","status":"ACTIVE","profile":{"email":"a@x.com"}},{"id":"00u0","status":"SUSPENDED","profile":{}}]`))
		})
		snap, err := newClient(t, s.URL, nil).Read(context.Background(), directory.ReadOptions{Users: true})
		if err != nil {
			t.Fatal(err)
		}
		want := []directory.User{{ID: "00u0", Status: "SUSPENDED", Disabled: true}, {ID: "00u1", Email: "a@x.com", Status: "DEPROVISIONED", Deleted: true}}
		if !slices.Equal(snap.Users, want) {
			t.Fatalf("users %+v", snap.Users)
		}
	})
}

func TestCancellationStopsQuickly(t *testing.T) {
	srv := newFake(t, oktatest.Options{Latency: time.Minute}, oktatest.Generate(oktatest.Spec{Users: 10, Groups: 2, MembersPerGroup: 2}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := newClient(t, srv.URL, nil).Read(ctx, all)
		done <- err
	}()
	waitFor(t, func() bool { return srv.Requests() >= 2 })
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("took %s to stop", el)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not stop after cancellation")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		<-tick.C
	}
}

func TestConcurrencyBound(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 500, Deprovisioned: 10, Groups: 24, MembersPerGroup: 3})
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			srv := newFake(t, oktatest.Options{Latency: 5 * time.Millisecond}, org.Clone())
			snap, err := newClient(t, srv.URL, func(c *Config) { c.Concurrency = n }).Read(context.Background(), all)
			if err != nil {
				t.Fatal(err)
			}
			diffSnapshots(t, snap, expected(srv.Org()))
			// Member reads are bounded by the setting; the three list
			// chains (users, deprovisioned, groups) add one each at most.
			if m := srv.MaxInFlightIn(oktatest.BucketMembers); m > n || (n > 1 && m < 2) {
				t.Fatalf("max member reads in flight %d with Concurrency %d", m, n)
			}
			if m := srv.MaxInFlight(); m > n+3 {
				t.Fatalf("max requests in flight %d with Concurrency %d (at most %d)", m, n, n+3)
			}
		})
	}
}

type mapCache map[string]directory.Group

func (m mapCache) CachedMembers(id string, lmu time.Time) ([]string, bool) {
	g, ok := m[id]
	if !ok || !g.LastMembershipUpdated.Equal(lmu) {
		return nil, false
	}
	return g.MemberIDs, true
}

func TestMembershipCache(t *testing.T) {
	srv := newFake(t, oktatest.Options{}, oktatest.Generate(oktatest.Spec{Users: 40, Groups: 10, MembersPerGroup: 6}))
	c := newClient(t, srv.URL, nil)
	first, err := c.Read(context.Background(), directory.ReadOptions{Groups: true})
	if err != nil {
		t.Fatal(err)
	}
	cache := mapCache{}
	for _, g := range first.Groups {
		cache[g.ID] = g
	}
	org := srv.Org()
	changed, renamed := org.Groups[3], org.Groups[5]
	if err := srv.AddMember(changed.ID, org.Users[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := srv.RenameGroup(renamed.ID, "Renamed"); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounters()
	second, err := c.Read(context.Background(), directory.ReadOptions{Groups: true, Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	diffSnapshots(t, second, expected(&oktatest.Org{Groups: srv.Org().Groups}))
	if second.Stats.MemberReads != 1 || second.Stats.CachedGroups != 9 {
		t.Fatalf("stats %+v", second.Stats)
	}
	if log := srv.Log(); countLog(log, "/users?") != 1 || countLog(log, changed.ID) != 1 {
		t.Fatalf("member reads: %q", log)
	}
}

func TestProgress(t *testing.T) {
	srv := newFake(t, oktatest.Options{}, oktatest.Generate(oktatest.Spec{Users: 450, Deprovisioned: 5, Groups: 4, MembersPerGroup: 2}))
	var phases []string
	last := map[string]directory.Progress{}
	_, err := newClient(t, srv.URL, nil).Read(context.Background(), directory.ReadOptions{Users: true, Groups: true,
		Progress: func(p directory.Progress) { phases = append(phases, p.Phase); last[p.Phase] = p }})
	if err != nil {
		t.Fatal(err)
	}
	if last["members"].Done != 4 || last["groups"].Done != 4 || last["users"].Done < 445 || last["deprovisioned"].Done == 0 {
		t.Fatalf("progress %v", last)
	}
}

func TestAPIErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    APIError
		want string
	}{
		{APIError{Method: "GET", Path: "/api/v1/users", Status: 401, Code: "E0000011", Summary: "Invalid token provided", ErrorID: "oae1"},
			"okta: GET /api/v1/users: 401 E0000011 Invalid token provided [errorId oae1]; the API token is invalid, expired or revoked; create a new one in Okta (Security → API → Tokens)"},
		{APIError{Method: "GET", Path: "/api/v1/groups", Status: 400, Code: "E0000031", Summary: "Invalid search criteria.", Causes: []string{"bad attr"}, Filter: `x eq "1"`},
			`okta: GET /api/v1/groups: 400 E0000031 Invalid search criteria. (bad attr); Okta refused the filter expression "x eq \"1\""; check the native filter syntax`},
		{APIError{Method: "GET", Path: "/api/v1/groups/00g1/users", Status: 404, Code: "E0000007", Summary: "Not found"},
			"okta: GET /api/v1/groups/00g1/users: 404 E0000007 Not found; the group was deleted while it was being read; run the sync again"},
		{APIError{Method: "GET", Path: "/api/v1/users", Status: 418, Body: "teapot"},
			`okta: GET /api/v1/users: 418 I'm a teapot (not an Okta answer: "teapot")`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	long := snippet([]byte(strings.Repeat("é", 300)), "")
	if !strings.HasSuffix(long, "…") || len(long) > 204 || !strings.HasPrefix(long, "éé") {
		t.Fatalf("snippet %q", long)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{{OrgURL: "acme.okta.com", Token: "t"}, {OrgURL: "https://acme.okta.com"}, {OrgURL: "ftp://x", Token: "t"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg.OrgURL)
		} else if cfg.Token != "" && strings.Contains(err.Error(), cfg.Token+"\"") {
			t.Errorf("token in error %v", err)
		}
	}
}
