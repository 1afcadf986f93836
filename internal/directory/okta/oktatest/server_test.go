package oktatest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

type answer struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, s *Server, token, pathQuery string) answer {
	t.Helper()
	u := pathQuery
	if !strings.HasPrefix(u, "http") {
		u = s.URL + pathQuery
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "SSWS "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func ids(t *testing.T, a answer) []string {
	t.Helper()
	var items []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(a.body, &items); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func next(a answer) string {
	for _, v := range a.header.Values("Link") {
		for l := range strings.SplitSeq(v, ", <") {
			if strings.Contains(l, `rel="next"`) {
				return strings.Trim(strings.SplitN(l, ">", 2)[0], "<")
			}
		}
	}
	return ""
}

func errorCode(t *testing.T, a answer) string {
	t.Helper()
	var e struct {
		ErrorCode string `json:"errorCode"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("decode error %s: %v", a.body, err)
	}
	return e.ErrorCode
}

func TestAuth(t *testing.T) {
	s := New(Options{Token: "tok"})
	defer s.Close()
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"missing", "", 401},
		{"wrong", "nope", 401},
		{"right", "tok", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := get(t, s, tc.token, "/api/v1/users")
			if a.status != tc.want {
				t.Fatalf("status %d, want %d", a.status, tc.want)
			}
			if tc.want == 401 && errorCode(t, a) != "E0000011" {
				t.Fatalf("body %s", a.body)
			}
			if a.header.Get("X-Rate-Limit-Limit") == "" || a.header.Get("X-Rate-Limit-Reset") == "" {
				t.Fatalf("no rate-limit headers: %v", a.header)
			}
		})
	}
	s.SetToken("new")
	if a := get(t, s, "tok", "/api/v1/users"); a.status != 401 {
		t.Fatalf("revoked token: status %d", a.status)
	}
}

func TestPagingCapsAndCursors(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	s.SetOrg(Generate(Spec{Users: 450, Deprovisioned: 30, Groups: 3, MembersPerGroup: 420}))
	org := s.Org()
	for _, tc := range []struct {
		name, first string
		wantSizes   []int
		wantTotal   int
	}{
		{"users capped at 200, no deprovisioned", "/api/v1/users?limit=500", []int{200, 200, 20}, 420},
		{"deprovisioned filter", "/api/v1/users?filter=" + url.QueryEscape(`status eq "DEPROVISIONED"`), []int{30}, 30},
		{"small limit", "/api/v1/groups?limit=2", []int{2, 1}, 3},
		{"members capped at 1000, default", "/api/v1/groups/" + org.Groups[0].ID + "/users?limit=100", []int{100, 100, 100, 100, 20}, 420},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sizes []int
			seen := map[string]bool{}
			for u := tc.first; u != ""; {
				a := get(t, s, s.Token(), u)
				if a.status != 200 {
					t.Fatalf("%s: %d %s", u, a.status, a.body)
				}
				page := ids(t, a)
				if len(page) == 0 {
					break
				}
				sizes = append(sizes, len(page))
				for _, id := range page {
					if seen[id] {
						t.Fatalf("id %s served twice", id)
					}
					seen[id] = true
				}
				u = next(a)
				if u != "" {
					q, _ := url.Parse(u)
					after := q.Query().Get("after")
					if _, err := strconv.Atoi(after); err == nil || after == page[len(page)-1] {
						t.Fatalf("cursor %q is guessable", after)
					}
				}
			}
			if len(seen) != tc.wantTotal || len(sizes) != len(tc.wantSizes) {
				t.Fatalf("pages %v (total %d), want %v (total %d)", sizes, len(seen), tc.wantSizes, tc.wantTotal)
			}
		})
	}
	if a := get(t, s, s.Token(), "/api/v1/users?after=bogus"); a.status != 400 {
		t.Fatalf("tampered cursor: %d", a.status)
	}
}

func TestCommaJoinedLinks(t *testing.T) {
	for _, joined := range []bool{false, true} {
		s := New(Options{CommaJoinedLinks: joined})
		s.SetOrg(Generate(Spec{Users: 5}))
		a := get(t, s, s.Token(), "/api/v1/users?limit=2")
		s.Close()
		lines := a.header.Values("Link")
		want := 2
		if joined {
			want = 1
		}
		if len(lines) != want || next(a) == "" {
			t.Fatalf("joined=%v: Link lines %q", joined, lines)
		}
	}
}

func TestFilterGrammar(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	o := Generate(Spec{Users: 20, Deprovisioned: 2, Suspended: 3, Groups: 10})
	s.SetOrg(o)
	u5 := o.Users[5]
	for _, tc := range []struct {
		path, filter string
		want         int // -1: 400 E0000031
	}{
		{"users", `status eq "SUSPENDED"`, 3},
		{"users", `status eq "DEPROVISIONED" or status eq "SUSPENDED"`, 5},
		{"users", `id eq "` + u5.ID + `"`, 1},
		{"users", `profile.email eq "` + u5.Email + `"`, 1},
		// Okta compares values case-sensitively.
		{"users", `profile.email eq "` + strings.ToUpper(u5.Email) + `"`, 0},
		{"users", `status eq "suspended"`, 0},
		{"users", `profile.firstName eq "first1"`, 0},
		{"users", `profile.login eq "` + u5.Login + `" and status eq "NOPE"`, 0},
		{"users", `(status eq "SUSPENDED") and lastUpdated gt "2000-01-01T00:00:00.000Z"`, 3},
		{"users", `lastUpdated lt "2000-01-01T00:00:00.000Z"`, 0},
		{"users", `profile.firstName eq "First1" or profile.lastName eq "Last2"`, 2},
		{"users", `profile.department eq "x"`, -1},
		{"users", `status sw "A"`, -1},
		{"users", `status eq ACTIVE`, -1},
		{"users", `status eq "ACTIVE" and`, -1},
		{"users", `lastUpdated gt "yesterday"`, -1},
		// Date literals need the milliseconds.
		{"users", `lastUpdated gt "2000-01-01T00:00:00Z"`, -1},
		{"users", `lastUpdated gt "2000-01-01"`, -1},
		{"users", `lastUpdated gt "2000-01-01T00:00:00.000+01:00"`, 20}, // every status, DEPROVISIONED too
		{"groups", `type eq "APP_GROUP"`, 2},
		{"groups", `lastMembershipUpdated ge "2000-01-01T00:00:00.000Z"`, 10},
		{"groups", `lastMembershipUpdated ge "2000-01-01T00:00:00Z"`, -1},
		{"groups", `profile.name eq "Group 0001"`, -1},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			a := get(t, s, s.Token(), "/api/v1/"+tc.path+"?filter="+url.QueryEscape(tc.filter))
			if tc.want < 0 {
				if a.status != 400 || errorCode(t, a) != "E0000031" {
					t.Fatalf("status %d body %s, want 400 E0000031", a.status, a.body)
				}
				return
			}
			if a.status != 200 {
				t.Fatalf("status %d body %s", a.status, a.body)
			}
			if got := len(ids(t, a)); got != tc.want {
				t.Fatalf("%d matches, want %d", got, tc.want)
			}
		})
	}
}

func TestRateLimitAndViolations(t *testing.T) {
	s := New(Options{RateLimit: 2, Window: time.Hour})
	defer s.Close()
	for i, want := range []int{200, 200, 429, 429} {
		a := get(t, s, s.Token(), "/api/v1/groups")
		if a.status != want {
			t.Fatalf("request %d: status %d, want %d", i, a.status, want)
		}
		if want == 429 && errorCode(t, a) != "E0000047" {
			t.Fatalf("body %s", a.body)
		}
		if rem := a.header.Get("X-Rate-Limit-Remaining"); want == 429 && rem != "0" {
			t.Fatalf("remaining %q", rem)
		}
	}
	if s.RateLimitViolations() != 1 || s.Throttled() != 2 {
		t.Fatalf("violations %d throttled %d, want 1 and 2", s.RateLimitViolations(), s.Throttled())
	}
	// Buckets are separate.
	if a := get(t, s, s.Token(), "/api/v1/users"); a.status != 200 {
		t.Fatalf("users bucket: %d", a.status)
	}
}

func TestFailureInjection(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	o := Generate(Spec{Users: 3, Groups: 2, MembersPerGroup: 2})
	s.SetOrg(o)
	s.FailNext("/api/v1/users", 503, 2)
	s.FailGroupMembers(o.Groups[1].ID, 403)
	for i, tc := range []struct {
		path string
		want int
	}{
		{"/api/v1/users", 503}, {"/api/v1/groups", 200}, {"/api/v1/users", 503}, {"/api/v1/users", 200},
		{"/api/v1/groups/" + o.Groups[0].ID + "/users", 200},
		{"/api/v1/groups/" + o.Groups[1].ID + "/users", 403},
		{"/api/v1/groups/nope/users", 404},
		{"/api/v1/apps", 404},
	} {
		if a := get(t, s, s.Token(), tc.path); a.status != tc.want {
			t.Fatalf("request %d %s: %d, want %d", i, tc.path, a.status, tc.want)
		}
	}
	s.FailNextRaw("/", 502, 1, "text/html", "<html>Bad Gateway</html>")
	if a := get(t, s, s.Token(), "/api/v1/users"); a.status != 502 || !strings.Contains(string(a.body), "<html>") {
		t.Fatalf("raw failure: %d %s", a.status, a.body)
	}
	by := s.RequestsByBucket()
	if by[BucketUsers] != 4 || by[BucketMembers] != 3 || s.Requests() != 9 || len(s.Log()) != 9 {
		t.Fatalf("counters: %v total %d", by, s.Requests())
	}
}

func TestMutatorsBumpTimestamps(t *testing.T) {
	now := Epoch.Add(time.Hour)
	s := New(Options{Now: func() time.Time { return now }})
	defer s.Close()
	s.SetOrg(Generate(Spec{Users: 4, Groups: 1, MembersPerGroup: 2}))
	g := s.Org().Groups[0]
	u := s.AddUser(User{Email: "new@example.com"})
	if err := s.AddMember(g.ID, u); err != nil {
		t.Fatal(err)
	}
	g1 := s.Org().Group(g.ID)
	if !g1.LastMembershipUpdated.After(g.LastMembershipUpdated) || len(g1.Members) != 3 || !g1.LastUpdated.Equal(g.LastUpdated) {
		t.Fatalf("after AddMember: %+v", g1)
	}
	if err := s.RenameGroup(g.ID, "Renamed"); err != nil {
		t.Fatal(err)
	}
	g2 := s.Org().Group(g.ID)
	if !g2.LastMembershipUpdated.Equal(g1.LastMembershipUpdated) || !g2.LastUpdated.After(g1.LastUpdated) || g2.Name != "Renamed" {
		t.Fatalf("after rename: %+v", g2)
	}
	if err := s.RemoveMember(g.ID, u); err != nil {
		t.Fatal(err)
	}
	if g3 := s.Org().Group(g.ID); !g3.LastMembershipUpdated.After(g2.LastMembershipUpdated) {
		t.Fatalf("same clock, membership change must still move the timestamp: %v", g3.LastMembershipUpdated)
	}
	if err := s.SetUserStatus("00unknown", StatusSuspended); err == nil {
		t.Fatal("unknown user accepted")
	}
	if err := s.RemoveUser(s.Org().Groups[0].Members[0]); err != nil {
		t.Fatal(err)
	}
	if len(s.Org().Groups[0].Members) != 1 {
		t.Fatal("RemoveUser left the membership")
	}
}

func TestGenerate(t *testing.T) {
	spec := Spec{Users: 300, Groups: 20, MembersPerGroup: 50, Deprovisioned: 5, Suspended: 6, DuplicateEmails: 3,
		LongGroupNames: 2, EmptyGroups: 4, NoEmail: 7, Seed: 9}
	a, b := Generate(spec), Generate(spec)
	if a.Users[17].ID != b.Users[17].ID || a.GroupByName("Group 0010").Members[3] != b.GroupByName("Group 0010").Members[3] {
		t.Fatal("not deterministic")
	}
	count := map[string]int{}
	emails := map[string]int{}
	for _, u := range a.Users {
		if len(u.ID) != 20 || !strings.HasPrefix(u.ID, "00u") {
			t.Fatalf("bad id %q", u.ID)
		}
		count[u.Status]++
		if u.Email == "" {
			count["noemail"]++
		} else {
			emails[strings.ToLower(u.Email)]++
		}
	}
	dups := 0
	for _, n := range emails {
		if n > 1 {
			dups++
		}
	}
	long, empty := 0, 0
	for _, g := range a.Groups {
		if len(g.Name) > 100 {
			long++
		}
		if len(g.Members) == 0 {
			empty++
		} else if len(g.Members) != 50 {
			t.Fatalf("group %s has %d members", g.ID, len(g.Members))
		}
	}
	if count[StatusDeprovisioned] != 5 || count[StatusSuspended] != 6 || count["noemail"] != 7 || dups != 3 || long != 2 || empty != 4 {
		t.Fatalf("counts %v dups %d long %d empty %d", count, dups, long, empty)
	}
}
