package bwtest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
)

func newFake(t *testing.T, opts bwtest.Options) *bwtest.Server {
	t.Helper()
	f := bwtest.New(opts)
	t.Cleanup(f.Close)
	return f
}

func tokenForm(f *bwtest.Server) url.Values {
	return url.Values{
		"grant_type": {"client_credentials"}, "scope": {"api.organization"},
		"client_id": {f.ClientID()}, "client_secret": {f.ClientSecret()},
		"deviceType": {"22"}, "deviceIdentifier": {"0b5a5f5e-0000-5000-8000-000000000000"}, "deviceName": {"dirsync"},
	}
}

func getToken(t *testing.T, f *bwtest.Server) string {
	t.Helper()
	resp, err := http.PostForm(f.URL+"/identity/connect/token", tokenForm(f))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.AccessToken == "" {
		t.Fatalf("token: status %d, %+v, %v", resp.StatusCode, body, err)
	}
	return body.AccessToken
}

type apiAnswer struct {
	Status  int
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors"`
	Raw     string
}

func call(t *testing.T, f *bwtest.Server, tok, method, path, body string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, f.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := apiAnswer{Status: resp.StatusCode, Raw: string(raw)}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &a)
	}
	return a
}

// post sends a raw import body with a fresh token.
func post(t *testing.T, f *bwtest.Server, body string) apiAnswer {
	t.Helper()
	return call(t, f, getToken(t, f), http.MethodPost, "/api/public/organization/import", body)
}

// imp builds an import body from the client's types (arrays never null).
func imp(t *testing.T, req bitwarden.ImportRequest) string {
	t.Helper()
	b, err := bitwarden.MarshalImport(&req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func members(n int, deleted bool) []bitwarden.ImportMember {
	out := make([]bitwarden.ImportMember, n)
	for i := range out {
		out[i] = bitwarden.ImportMember{Email: fmt.Sprintf("u%d@x.com", i), ExternalID: fmt.Sprintf("u%d", i), Deleted: deleted}
	}
	return out
}

func groups(n int) []bitwarden.ImportGroup {
	out := make([]bitwarden.ImportGroup, n)
	for i := range out {
		out[i] = bitwarden.ImportGroup{Name: fmt.Sprintf("g%d", i), ExternalID: fmt.Sprintf("g%d", i)}
	}
	return out
}

func TestTokenEndpoint(t *testing.T) {
	f := newFake(t, bwtest.Options{})
	tests := []struct {
		name      string
		mod       func(url.Values)
		basic     bool
		wantCode  int
		wantError string
	}{
		{name: "ok", mod: func(url.Values) {}, wantCode: 200},
		{name: "wrong secret", mod: func(v url.Values) { v.Set("client_secret", "nope") }, wantCode: 400, wantError: "invalid_client"},
		{name: "wrong id", mod: func(v url.Values) { v.Set("client_id", "organization.x") }, wantCode: 400, wantError: "invalid_client"},
		{name: "basic auth instead of body", mod: func(v url.Values) { v.Del("client_id"); v.Del("client_secret") }, basic: true, wantCode: 400, wantError: "invalid_client"},
		{name: "basic auth and body", mod: func(url.Values) {}, basic: true, wantCode: 400, wantError: "invalid_client"},
		{name: "grant", mod: func(v url.Values) { v.Set("grant_type", "password") }, wantCode: 400, wantError: "unsupported_grant_type"},
		{name: "scope", mod: func(v url.Values) { v.Set("scope", "api") }, wantCode: 400, wantError: "invalid_scope"},
		{name: "no deviceType", mod: func(v url.Values) { v.Del("deviceType") }, wantCode: 400, wantError: "invalid_request"},
		{name: "no deviceIdentifier", mod: func(v url.Values) { v.Del("deviceIdentifier") }, wantCode: 400, wantError: "invalid_request"},
		{name: "no deviceName", mod: func(v url.Values) { v.Del("deviceName") }, wantCode: 400, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := tokenForm(f)
			tt.mod(form)
			req, _ := http.NewRequest(http.MethodPost, f.URL+"/identity/connect/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic {
				req.SetBasicAuth(f.ClientID(), f.ClientSecret())
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status = %d, want %d (%v)", resp.StatusCode, tt.wantCode, body)
			}
			if tt.wantError != "" && body["error"] != tt.wantError {
				t.Errorf("error = %v, want %s", body["error"], tt.wantError)
			}
			if tt.wantCode == 200 && (body["access_token"] == "" || body["expires_in"] != float64(3600) || body["token_type"] != "Bearer") {
				t.Errorf("token answer = %v", body)
			}
		})
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestAPIRequiresValidToken(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	f := newFake(t, bwtest.Options{Now: clk.Now, TokenLifetime: time.Hour})
	g := f.AddGroup("g", "g1")
	paths := []struct{ method, path string }{
		{"GET", "/api/public/members"},
		{"GET", "/api/public/groups"},
		{"GET", "/api/public/groups/" + g.ID + "/member-ids"},
		{"POST", "/api/public/organization/import"},
	}
	good := getToken(t, f)
	for _, p := range paths {
		if a := call(t, f, "", p.method, p.path, "{}"); a.Status != 401 {
			t.Errorf("%s %s without token = %d, want 401", p.method, p.path, a.Status)
		}
		if a := call(t, f, "bogus", p.method, p.path, "{}"); a.Status != 401 {
			t.Errorf("%s %s with unknown token = %d, want 401", p.method, p.path, a.Status)
		}
		if p.method == "GET" {
			if a := call(t, f, good, p.method, p.path, ""); a.Status != 200 {
				t.Errorf("%s %s with token = %d, want 200", p.method, p.path, a.Status)
			}
		}
	}
	clk.Advance(59 * time.Minute)
	if a := call(t, f, good, "GET", "/api/public/members", ""); a.Status != 200 {
		t.Errorf("before expiry = %d, want 200", a.Status)
	}
	clk.Advance(time.Minute)
	if a := call(t, f, good, "GET", "/api/public/members", ""); a.Status != 401 {
		t.Errorf("at expiry = %d, want 401", a.Status)
	}
	fresh := getToken(t, f)
	f.ExpireTokens()
	if a := call(t, f, fresh, "GET", "/api/public/members", ""); a.Status != 401 {
		t.Errorf("after ExpireTokens = %d, want 401", a.Status)
	}
	if a := call(t, f, getToken(t, f), "GET", "/api/public/groups/nope/member-ids", ""); a.Status != 404 {
		t.Errorf("unknown group = %d, want 404", a.Status)
	}
}

func TestImportValidation(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	email := func(n int) string { return strings.Repeat("e", n-len("@x.com")) + "@x.com" }
	tests := []struct {
		name       string
		opts       bwtest.Options
		body       string
		wantStatus int
		wantMsg    string
		wantField  string
	}{
		{name: "valid empty", body: `{"groups":[],"members":[],"overwriteExisting":false}`, wantStatus: 200},
		{name: "null members", body: `{"groups":[],"members":null,"overwriteExisting":false}`, wantStatus: 500},
		{name: "null groups", body: `{"groups":null,"members":[],"overwriteExisting":false}`, wantStatus: 500},
		{name: "missing members", body: `{"groups":[],"overwriteExisting":false}`, wantStatus: 500},
		{name: "null memberExternalIds", body: `{"groups":[{"name":"g","externalId":"g1","memberExternalIds":null}],"members":[],"overwriteExisting":false}`, wantStatus: 500},
		{name: "duplicate live emails", body: `{"groups":[],"members":[{"email":"a@x.com","externalId":"1","deleted":false},{"email":"A@X.com","externalId":"2","deleted":false}],"overwriteExisting":false}`, wantStatus: 500},
		{name: "duplicate email one deleted", body: `{"groups":[],"members":[{"email":"a@x.com","externalId":"1","deleted":true},{"email":"a@x.com","externalId":"2","deleted":false}],"overwriteExisting":false}`, wantStatus: 200},
		{name: "duplicate email deleted second", body: `{"groups":[],"members":[{"email":"a@x.com","externalId":"1","deleted":false},{"email":"a@x.com","externalId":"2","deleted":true}],"overwriteExisting":false}`, wantStatus: 200},
		{name: "missing overwriteExisting", body: `{"groups":[],"members":[]}`, wantStatus: 400, wantMsg: "The request's model state is invalid.", wantField: "OverwriteExisting"},
		{name: "null overwriteExisting", body: `{"groups":[],"members":[],"overwriteExisting":null}`, wantStatus: 400, wantField: "OverwriteExisting"},
		{name: "not json", body: `<xml/>`, wantStatus: 400},
		{name: "email 256", body: imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: email(256), ExternalID: "1"}}}), wantStatus: 200},
		{name: "email 257", body: imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: email(257), ExternalID: "1"}}}), wantStatus: 400, wantField: "Members[0].Email"},
		{name: "email invalid", body: imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "nobody", ExternalID: "1"}}}), wantStatus: 400, wantField: "Members[0].Email"},
		{name: "live member without email", body: imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{ExternalID: "1"}}}), wantStatus: 400, wantField: "Members[0].Email"},
		{name: "deleted member without email", body: imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{ExternalID: "1", Deleted: true}}}), wantStatus: 200},
		{name: "member without externalId", body: imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com"}}}), wantStatus: 400, wantField: "Members[0].ExternalId"},
		{name: "member externalId 300", body: imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: long(300)}}}), wantStatus: 200},
		{name: "member externalId 301", body: imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: long(301)}}}), wantStatus: 400, wantField: "Members[0].ExternalId"},
		{name: "group name 100", body: imp(t, bitwarden.ImportRequest{Groups: []bitwarden.ImportGroup{{Name: long(100), ExternalID: "g"}}}), wantStatus: 200},
		{name: "group name 101", body: imp(t, bitwarden.ImportRequest{Groups: []bitwarden.ImportGroup{{Name: long(101), ExternalID: "g"}}}), wantStatus: 400, wantField: "Groups[0].Name"},
		{name: "group name 100 UTF-16 units", body: imp(t, bitwarden.ImportRequest{Groups: []bitwarden.ImportGroup{{Name: strings.Repeat("😀", 51), ExternalID: "g"}}}), wantStatus: 400, wantField: "Groups[0].Name"},
		{name: "group externalId 301", body: imp(t, bitwarden.ImportRequest{Groups: []bitwarden.ImportGroup{{Name: "g", ExternalID: long(301)}}}), wantStatus: 400, wantField: "Groups[0].ExternalId"},
		{name: "group without name", body: imp(t, bitwarden.ImportRequest{Groups: []bitwarden.ImportGroup{{ExternalID: "g"}}}), wantStatus: 400, wantField: "Groups[0].Name"},
		{name: "2000 members", body: imp(t, bitwarden.ImportRequest{Members: members(2000, false)}), wantStatus: 200},
		{name: "2001 members", body: imp(t, bitwarden.ImportRequest{Members: members(2001, false)}), wantStatus: 400, wantMsg: bitwarden.MsgTooMuchData},
		{name: "2001 members largeImport", body: imp(t, bitwarden.ImportRequest{Members: members(2001, false), LargeImport: true}), wantStatus: 200},
		{name: "2001 members self-hosted", opts: bwtest.Options{SelfHosted: true}, body: imp(t, bitwarden.ImportRequest{Members: members(2001, false)}), wantStatus: 200},
		{name: "2001 deleted members", body: imp(t, bitwarden.ImportRequest{Members: members(2001, true)}), wantStatus: 200},
		{name: "2001 groups", body: imp(t, bitwarden.ImportRequest{Groups: groups(2001)}), wantStatus: 400, wantMsg: bitwarden.MsgTooMuchData},
		{name: "2001 groups largeImport", body: imp(t, bitwarden.ImportRequest{Groups: groups(2001), LargeImport: true}), wantStatus: 200},
		{name: "duplicate group externalId", body: imp(t, bitwarden.ImportRequest{Groups: []bitwarden.ImportGroup{{Name: "a", ExternalID: "g"}, {Name: "b", ExternalID: "g"}}}), wantStatus: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.opts)
			a := post(t, f, tt.body)
			if a.Status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", a.Status, tt.wantStatus, a.Raw)
			}
			if tt.wantStatus == 200 && a.Raw != "" {
				t.Errorf("200 answer has a body: %q", a.Raw)
			}
			if tt.wantStatus != 200 && !strings.Contains(a.Raw, `"object":"error"`) {
				t.Errorf("error answer %q is not Bitwarden's error shape", a.Raw)
			}
			if tt.wantMsg != "" && a.Message != tt.wantMsg {
				t.Errorf("message = %q, want %q", a.Message, tt.wantMsg)
			}
			if tt.wantField != "" && len(a.Errors[tt.wantField]) == 0 {
				t.Errorf("errors = %v, want one for %s", a.Errors, tt.wantField)
			}
			imps := f.Imports()
			if len(imps) != 1 || imps[0].Status != tt.wantStatus || string(imps[0].Raw) != tt.body {
				t.Errorf("recorded import = %+v", imps)
			}
			if tt.wantStatus != 200 && len(f.Members()) != 0 {
				t.Errorf("a refused import changed the org: %+v", f.Members())
			}
		})
	}
}

func TestOrgRestrictions(t *testing.T) {
	oneMember := bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a"}, {Email: "b@x.com", ExternalID: "b"}}}
	withGroup := oneMember
	withGroup.Groups = []bitwarden.ImportGroup{{Name: "g", ExternalID: "g", MemberExternalIDs: []string{"a"}}}
	tests := []struct {
		name       string
		setup      func(*bwtest.Server)
		req        bitwarden.ImportRequest
		wantStatus int
		wantMsg    string
		wantMember int
	}{
		{"no directory sync", func(f *bwtest.Server) { f.SetCannotUseDirectorySync(true) }, oneMember, 400, bitwarden.MsgCannotUseDirectory, 1},
		{"no groups, groups sent", func(f *bwtest.Server) { f.SetCannotUseGroups(true) }, withGroup, 400, bitwarden.MsgCannotUseGroups, 3},
		{"no groups, none sent", func(f *bwtest.Server) { f.SetCannotUseGroups(true) }, oneMember, 200, "", 3},
		{"seat limit reached", func(f *bwtest.Server) { f.SetSeatLimit(2) }, oneMember, 400, bitwarden.MsgSeatLimit, 1},
		{"seat limit exact", func(f *bwtest.Server) { f.SetSeatLimit(3) }, oneMember, 200, "", 3},
		{"revoked members free their seat", func(f *bwtest.Server) {
			f.SetSeatLimit(3)
			f.AddMemberWith(bwtest.Member{Email: "r@x.com", ExternalID: "r", Type: bwtest.User, Status: bwtest.Revoked})
		}, oneMember, 200, "", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, bwtest.Options{})
			f.AddMember("owner@x.com", "", bwtest.Owner)
			tt.setup(f)
			a := post(t, f, imp(t, tt.req))
			if a.Status != tt.wantStatus || a.Message != tt.wantMsg {
				t.Fatalf("answer = %d %q, want %d %q", a.Status, a.Message, tt.wantStatus, tt.wantMsg)
			}
			if n := len(f.Members()); n != tt.wantMember {
				t.Errorf("members = %d, want %d", n, tt.wantMember)
			}
		})
	}
}

func TestFailImportInjection(t *testing.T) {
	f := newFake(t, bwtest.Options{})
	f.FailImport(2, 503, "maintenance")
	bodies := []string{
		imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a"}}}),
		imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "b@x.com", ExternalID: "b"}}}),
		imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "c@x.com", ExternalID: "c"}}}),
	}
	want := []int{200, 503, 200}
	for i, b := range bodies {
		a := post(t, f, b)
		if a.Status != want[i] {
			t.Errorf("import %d = %d, want %d", i+1, a.Status, want[i])
		}
		if want[i] == 503 && a.Message != "maintenance" {
			t.Errorf("message = %q", a.Message)
		}
	}
	if got := f.Invites(); !slices.Equal(got, []string{"a@x.com", "c@x.com"}) {
		t.Errorf("invites = %v; the failed import must not be applied", got)
	}
	imps := f.Imports()
	if len(imps) != 3 || imps[1].Status != 503 || imps[1].Request.Members[0].Email != "b@x.com" {
		t.Errorf("imports = %+v", imps)
	}
}

// state summarizes the org as "email=externalId/type/status" sorted.
func state(f *bwtest.Server) []string {
	var out []string
	for _, m := range f.Members() {
		out = append(out, fmt.Sprintf("%s=%s/%d/%d", m.Email, m.ExternalID, m.Type, m.Status))
	}
	slices.Sort(out)
	return out
}

func TestImportApply(t *testing.T) {
	type seed struct {
		email, ext string
		typ        bwtest.MemberType
	}
	tests := []struct {
		name        string
		seed        []seed
		req         bitwarden.ImportRequest
		want        []string
		wantInvited []string
		wantRemoved []string
		wantLinked  []string
	}{
		{
			name: "new member invited",
			req:  bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "New@X.com", ExternalID: "n1"}}},
			want: []string{"new@x.com=n1/2/0"}, wantInvited: []string{"new@x.com"},
		},
		{
			name: "known externalId not invited again",
			seed: []seed{{"a@x.com", "a1", bwtest.User}},
			req:  bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a1"}}},
			want: []string{"a@x.com=a1/2/2"},
		},
		{
			name: "deleted member removed",
			seed: []seed{{"a@x.com", "a1", bwtest.User}, {"b@x.com", "b1", bwtest.Admin}},
			req:  bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{ExternalID: "a1", Deleted: true}, {ExternalID: "b1", Deleted: true}, {ExternalID: "zz", Deleted: true}}},
			want: nil, wantRemoved: []string{"a@x.com", "b@x.com"},
		},
		{
			name: "deleted owner kept",
			seed: []seed{{"o@x.com", "o1", bwtest.Owner}},
			req:  bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{ExternalID: "o1", Deleted: true}}},
			want: []string{"o@x.com=o1/0/2"},
		},
		{
			name: "deleted and live with same externalId kept",
			seed: []seed{{"a@x.com", "a1", bwtest.User}},
			req:  bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{ExternalID: "a1", Deleted: true}, {Email: "a@x.com", ExternalID: "a1"}}},
			want: []string{"a@x.com=a1/2/2"},
		},
		{
			name: "without overwrite missing members stay",
			seed: []seed{{"o@x.com", "o1", bwtest.Owner}, {"a@x.com", "a1", bwtest.User}, {"b@x.com", "b1", bwtest.User}, {"m@x.com", "", bwtest.User}},
			req:  bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a1"}}},
			want: []string{"a@x.com=a1/2/2", "b@x.com=b1/2/2", "m@x.com=/2/2", "o@x.com=o1/0/2"},
		},
		{
			name: "overwrite removes missing synced members only",
			seed: []seed{{"o@x.com", "o1", bwtest.Owner}, {"a@x.com", "a1", bwtest.User}, {"b@x.com", "b1", bwtest.User}, {"m@x.com", "", bwtest.User}},
			req:  bitwarden.ImportRequest{OverwriteExisting: true, Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a1"}}},
			want: []string{"a@x.com=a1/2/2", "m@x.com=/2/2", "o@x.com=o1/0/2"}, wantRemoved: []string{"b@x.com"},
		},
		{
			name: "empty overwrite removes every synced non-owner",
			seed: []seed{{"o@x.com", "o1", bwtest.Owner}, {"a@x.com", "a1", bwtest.User}, {"b@x.com", "b1", bwtest.Admin}},
			req:  bitwarden.ImportRequest{OverwriteExisting: true},
			want: []string{"o@x.com=o1/0/2"}, wantRemoved: []string{"a@x.com", "b@x.com"},
		},
		{
			name: "linked by email",
			seed: []seed{{"Pat@X.com", "", bwtest.Admin}},
			req:  bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "pat@x.com", ExternalID: "p1"}}},
			want: []string{"pat@x.com=p1/1/2"}, wantLinked: []string{"pat@x.com"},
		},
		{
			name: "email taken by another synced member is not invited",
			seed: []seed{{"a@x.com", "old", bwtest.User}},
			req:  bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "new"}}},
			want: []string{"a@x.com=old/2/2"},
		},
		{
			name: "overwrite then re-invite under a new externalId",
			seed: []seed{{"a@x.com", "old", bwtest.User}},
			req:  bitwarden.ImportRequest{OverwriteExisting: true, Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "new"}}},
			want: []string{"a@x.com=new/2/0"}, wantRemoved: []string{"a@x.com"}, wantInvited: []string{"a@x.com"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, bwtest.Options{})
			for _, s := range tt.seed {
				f.AddMember(s.email, s.ext, s.typ)
			}
			if a := post(t, f, imp(t, tt.req)); a.Status != 200 {
				t.Fatalf("import = %d %s", a.Status, a.Raw)
			}
			if got := state(f); !slices.Equal(got, tt.want) {
				t.Errorf("org\n got %v\nwant %v", got, tt.want)
			}
			imps := f.Imports()
			rec := imps[len(imps)-1]
			for _, c := range []struct {
				what      string
				got, want []string
			}{
				{"invited", rec.Invited, tt.wantInvited},
				{"removed", rec.Removed, tt.wantRemoved},
				{"linked", rec.Linked, tt.wantLinked},
				{"Invites()", f.Invites(), tt.wantInvited},
				{"Removals()", f.Removals(), tt.wantRemoved},
			} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}

// groupState summarizes groups as "name(ext)=email,email" in creation order.
func groupState(f *bwtest.Server) []string {
	emails := map[string]string{}
	for _, m := range f.Members() {
		emails[m.ID] = m.Email
	}
	var out []string
	for _, g := range f.Groups() {
		var es []string
		for _, id := range g.MemberIDs {
			es = append(es, emails[id])
		}
		slices.Sort(es)
		out = append(out, fmt.Sprintf("%s(%s)=%s", g.Name, g.ExternalID, strings.Join(es, ",")))
	}
	return out
}

func TestImportGroups(t *testing.T) {
	f := newFake(t, bwtest.Options{})
	owner := f.AddMember("o@x.com", "", bwtest.Owner)
	f.AddGroup("Manual", "", owner.ID)
	f.AddMember("d@x.com", "d1", bwtest.User)
	steps := []struct {
		name string
		req  bitwarden.ImportRequest
		want []string
	}{
		{
			name: "created with listed members, unknown ids ignored",
			req: bitwarden.ImportRequest{
				Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a1"}, {Email: "b@x.com", ExternalID: "b1"}},
				Groups: []bitwarden.ImportGroup{
					{Name: "Eng", ExternalID: "g1", MemberExternalIDs: []string{"a1", "b1", "ghost"}},
					{Name: "Ops", ExternalID: "g2", MemberExternalIDs: []string{"d1"}},
					{Name: "Empty", ExternalID: "g3"},
				},
			},
			want: []string{"Manual()=o@x.com", "Eng(g1)=a@x.com,b@x.com", "Ops(g2)=d@x.com", "Empty(g3)="},
		},
		{
			name: "renamed and membership replaced; missing groups kept",
			req: bitwarden.ImportRequest{
				Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a1"}, {Email: "b@x.com", ExternalID: "b1"}},
				Groups:  []bitwarden.ImportGroup{{Name: "Engineering", ExternalID: "g1", MemberExternalIDs: []string{"b1"}}},
			},
			want: []string{"Manual()=o@x.com", "Engineering(g1)=b@x.com", "Ops(g2)=d@x.com", "Empty(g3)="},
		},
		{
			name: "removed members leave their groups",
			req: bitwarden.ImportRequest{
				Members: []bitwarden.ImportMember{{ExternalID: "d1", Deleted: true}, {ExternalID: "b1", Deleted: true}},
				Groups:  []bitwarden.ImportGroup{{Name: "Engineering", ExternalID: "g1", MemberExternalIDs: []string{"a1", "b1"}}},
			},
			want: []string{"Manual()=o@x.com", "Engineering(g1)=a@x.com", "Ops(g2)=", "Empty(g3)="},
		},
		{
			name: "members only import leaves groups alone",
			req:  bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a1"}}},
			want: []string{"Manual()=o@x.com", "Engineering(g1)=a@x.com", "Ops(g2)=", "Empty(g3)="},
		},
	}
	for _, st := range steps {
		if a := post(t, f, imp(t, st.req)); a.Status != 200 {
			t.Fatalf("%s: import = %d %s", st.name, a.Status, a.Raw)
		}
		if got := groupState(f); !slices.Equal(got, st.want) {
			t.Errorf("%s:\n got %v\nwant %v", st.name, got, st.want)
		}
	}
}

func TestListingsShape(t *testing.T) {
	f := newFake(t, bwtest.Options{})
	o := f.AddMember("o@x.com", "", bwtest.Owner)
	g := f.AddGroup("G", "g1", o.ID)
	tok := getToken(t, f)
	a := call(t, f, tok, "GET", "/api/public/members", "")
	var members struct {
		Object            string           `json:"object"`
		Data              []map[string]any `json:"data"`
		ContinuationToken *string          `json:"continuationToken"`
	}
	if err := json.Unmarshal([]byte(a.Raw), &members); err != nil {
		t.Fatal(err)
	}
	if members.Object != "list" || len(members.Data) != 1 || members.ContinuationToken != nil || !strings.Contains(a.Raw, `"continuationToken":null`) {
		t.Fatalf("members answer = %s", a.Raw)
	}
	m := members.Data[0]
	if m["object"] != "member" || m["id"] != o.ID || m["userId"] != o.UserID || m["email"] != "o@x.com" || m["externalId"] != nil || m["type"] != float64(0) || m["status"] != float64(2) {
		t.Errorf("member = %v", m)
	}
	a = call(t, f, tok, "GET", "/api/public/groups", "")
	if !strings.Contains(a.Raw, `"object":"list"`) || !strings.Contains(a.Raw, `"object":"group"`) || !strings.Contains(a.Raw, `"externalId":"g1"`) {
		t.Errorf("groups answer = %s", a.Raw)
	}
	a = call(t, f, tok, "GET", "/api/public/groups/"+g.ID+"/member-ids", "")
	if strings.TrimSpace(a.Raw) != `["`+o.ID+`"]` {
		t.Errorf("member-ids answer = %s", a.Raw)
	}
}
