package bitwarden_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
)

// clock is a controllable clock shared by the client and the fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recorder is a transport that remembers every request it carried.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Clone(context.Background()))
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) all() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

func newClient(t *testing.T, fake *bwtest.Server, mod func(*bitwarden.Config)) *bitwarden.Client {
	t.Helper()
	cfg := bitwarden.Config{Server: fake.URL, ClientID: fake.ClientID(), ClientSecret: fake.ClientSecret()}
	if mod != nil {
		mod(&cfg)
	}
	c, err := bitwarden.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func newFake(t *testing.T, opts bwtest.Options) *bwtest.Server {
	t.Helper()
	f := bwtest.New(opts)
	t.Cleanup(f.Close)
	return f
}

func TestResolveServer(t *testing.T) {
	tests := []struct {
		in, token, api string
		wantErr        bool
	}{
		{in: "us", token: "https://identity.bitwarden.com/connect/token", api: "https://api.bitwarden.com"},
		{in: " US ", token: "https://identity.bitwarden.com/connect/token", api: "https://api.bitwarden.com"},
		{in: "", token: "https://identity.bitwarden.com/connect/token", api: "https://api.bitwarden.com"},
		{in: "eu", token: "https://identity.bitwarden.eu/connect/token", api: "https://api.bitwarden.eu"},
		{in: "https://vault.example.com", token: "https://vault.example.com/identity/connect/token", api: "https://vault.example.com/api"},
		{in: "https://vault.example.com/", token: "https://vault.example.com/identity/connect/token", api: "https://vault.example.com/api"},
		{in: "https://example.com:8443/bw", token: "https://example.com:8443/bw/identity/connect/token", api: "https://example.com:8443/bw/api"},
		{in: "http://127.0.0.1:8080", token: "http://127.0.0.1:8080/identity/connect/token", api: "http://127.0.0.1:8080/api"},
		{in: "http://vault.example.com", wantErr: true},
		{in: "ftp://vault.example.com", wantErr: true},
		{in: "vault.example.com", wantErr: true},
		{in: "https://vault.example.com/?x=1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ep, err := bitwarden.ResolveServer(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ResolveServer(%q) = %+v, want error", tt.in, ep)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveServer(%q): %v", tt.in, err)
			}
			if ep.TokenURL != tt.token || ep.APIURL != tt.api {
				t.Errorf("ResolveServer(%q) = %+v, want token %s api %s", tt.in, ep, tt.token, tt.api)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  bitwarden.Config
		want string
	}{
		{"personal key", bitwarden.Config{Server: "us", ClientID: "user.123", ClientSecret: "x"}, "organization"},
		{"no secret", bitwarden.Config{Server: "us", ClientID: bwtest.DefaultClientID}, "secret"},
		{"bad server", bitwarden.Config{Server: "http://vault.example.com", ClientID: bwtest.DefaultClientID, ClientSecret: "x"}, "https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bitwarden.New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestTokenRequestSendsCredentialsAndDeviceInBody(t *testing.T) {
	fake := newFake(t, bwtest.Options{})
	rec := &recorder{}
	c := newClient(t, fake, func(cfg *bitwarden.Config) {
		cfg.HTTPClient = &http.Client{Transport: rec}
		cfg.UserAgent = "dirsync/test"
	})
	if err := c.CheckToken(context.Background()); err != nil {
		t.Fatalf("CheckToken: %v", err)
	}
	if _, err := c.ListMembers(context.Background()); err != nil {
		t.Fatalf("ListMembers: %v", err)
	}
	forms := fake.TokenForms()
	if len(forms) != 1 {
		t.Fatalf("token requests = %d, want 1", len(forms))
	}
	f := forms[0]
	want := map[string]string{
		"grant_type":       "client_credentials",
		"scope":            "api.organization",
		"client_id":        fake.ClientID(),
		"client_secret":    fake.ClientSecret(),
		"deviceType":       bitwarden.DeviceType,
		"deviceName":       "dirsync",
		"deviceIdentifier": bitwarden.DeviceIdentifierFor(fake.ClientID()),
	}
	for k, v := range want {
		if got := f.Get(k); got != v {
			t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	uuidRE := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	if id := f.Get("deviceIdentifier"); !uuidRE.MatchString(id) {
		t.Errorf("deviceIdentifier %q is not uuid-shaped", id)
	}
	if bitwarden.DeviceIdentifierFor("organization.a") == bitwarden.DeviceIdentifierFor("organization.b") {
		t.Error("different client ids derive the same device identifier")
	}
	reqs := rec.all()
	if len(reqs) != 2 {
		t.Fatalf("requests = %d, want 2", len(reqs))
	}
	for _, r := range reqs {
		if ua := r.Header.Get("User-Agent"); ua != "dirsync/test" {
			t.Errorf("%s User-Agent = %q", r.URL.Path, ua)
		}
	}
	if h := reqs[0].Header.Get("Authorization"); h != "" {
		t.Errorf("token request carries Authorization %q; credentials belong in the body", h)
	}
	if h := reqs[1].Header.Get("Authorization"); !strings.HasPrefix(h, "Bearer ") {
		t.Errorf("API request Authorization = %q, want a bearer token", h)
	}
}

func TestTokenReusedAndRenewedBeforeExpiry(t *testing.T) {
	clk := newClock()
	fake := newFake(t, bwtest.Options{Now: clk.Now, TokenLifetime: time.Hour})
	c := newClient(t, fake, nil)
	bitwarden.SetClock(c, clk.Now)
	ctx := context.Background()
	list := func() {
		t.Helper()
		if _, err := c.ListMembers(ctx); err != nil {
			t.Fatalf("ListMembers: %v", err)
		}
	}
	steps := []struct {
		advance    time.Duration
		wantTokens int
	}{
		{0, 1},
		{0, 1},
		{30 * time.Minute, 1},
		{28 * time.Minute, 1}, // 58 min: still well before expiry
		{90 * time.Second, 2}, // 59.5 min: inside the renewal margin
		{10 * time.Minute, 2}, // the new token is young
		{2 * time.Hour, 3},    // long past expiry
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		list()
		if got := fake.TokenRequests(); got != st.wantTokens {
			t.Fatalf("step %d: token requests = %d, want %d", i, got, st.wantTokens)
		}
	}
	if n := fake.Unauthorized(); n != 0 {
		t.Errorf("the fake answered 401 %d times; tokens should be renewed before they lapse", n)
	}
}

func TestUnauthorizedRenewsOnceAndRetriesOnce(t *testing.T) {
	tests := []struct {
		name         string
		setup        func(*bwtest.Server)
		wantErr      bool
		wantTokens   int
		wantUnauth   int
		wantImported int
	}{
		{"expired token renewed", func(f *bwtest.Server) { f.ExpireTokens() }, false, 2, 1, 1},
		{"one refusal", func(f *bwtest.Server) { f.FailAuth(1) }, false, 2, 1, 1},
		{"second 401 fails", func(f *bwtest.Server) { f.FailAuth(2) }, true, 2, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t, bwtest.Options{})
			c := newClient(t, fake, nil)
			ctx := context.Background()
			if err := c.CheckToken(ctx); err != nil {
				t.Fatal(err)
			}
			tt.setup(fake)
			err := c.Import(ctx, &bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "u1"}}})
			if tt.wantErr {
				var ae *bitwarden.APIError
				if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
					t.Fatalf("Import error = %v, want APIError 401", err)
				}
				if !strings.Contains(err.Error(), "API key") {
					t.Errorf("error %q gives no hint", err)
				}
			} else if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if got := fake.TokenRequests(); got != tt.wantTokens {
				t.Errorf("token requests = %d, want %d", got, tt.wantTokens)
			}
			if got := fake.Unauthorized(); got != tt.wantUnauth {
				t.Errorf("401 answers = %d, want %d", got, tt.wantUnauth)
			}
			if got := len(fake.Imports()); got != tt.wantImported {
				t.Errorf("imports reaching the handler = %d, want %d", got, tt.wantImported)
			}
		})
	}
}

func TestInvalidClient(t *testing.T) {
	const wrong = "s3cr3t-that-must-not-leak"
	fake := newFake(t, bwtest.Options{})
	tests := []struct {
		name     string
		clientID string
		secret   string
	}{
		{"wrong secret", fake.ClientID(), wrong},
		{"wrong client id", "organization.11111111-2222-4333-8444-555555555555", wrong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := bitwarden.New(bitwarden.Config{Server: fake.URL, ClientID: tt.clientID, ClientSecret: tt.secret})
			if err != nil {
				t.Fatal(err)
			}
			for name, call := range map[string]func() error{
				"CheckToken": func() error { return c.CheckToken(context.Background()) },
				"Import":     func() error { return c.Import(context.Background(), &bitwarden.ImportRequest{}) },
				"ListGroups": func() error { _, err := c.ListGroups(context.Background()); return err },
			} {
				err := call()
				if !errors.Is(err, bitwarden.ErrInvalidClient) {
					t.Fatalf("%s error = %v, want ErrInvalidClient", name, err)
				}
				msg := err.Error()
				want := "Bitwarden rejected the organization API key (invalid_client): check the client id and secret, and that the organization can use the API (Enterprise/Teams plans)"
				if msg != want {
					t.Errorf("%s message = %q, want %q", name, msg, want)
				}
				if strings.Contains(msg, wrong) {
					t.Errorf("%s message contains the secret", name)
				}
			}
		})
	}
	if n := len(fake.Imports()); n != 0 {
		t.Errorf("imports = %d, want none without a token", n)
	}
}

// stubServer serves a valid token and answers every API call with the
// given status, content type and body.
func stubServer(t *testing.T, status int, contentType, body string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /identity/connect/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"tok","expires_in":3600,"token_type":"Bearer"}`)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func TestAPIErrors(t *testing.T) {
	const secret = "the-secret-value"
	tests := []struct {
		name        string
		status      int
		ctype, body string
		wantMsg     string
		wantFields  map[string][]string
		wantInError []string
		notInError  []string
	}{
		{
			name: "bitwarden error with fields", status: 400, ctype: "application/json",
			body:        `{"object":"error","message":"The request's model state is invalid.","errors":{"Members[0].Email":["The field Email must be a string with a maximum length of 256."],"OverwriteExisting":["The OverwriteExisting field is required."]}}`,
			wantMsg:     "The request's model state is invalid.",
			wantFields:  map[string][]string{"Members[0].Email": {"The field Email must be a string with a maximum length of 256."}, "OverwriteExisting": {"The OverwriteExisting field is required."}},
			wantInError: []string{"400", "model state is invalid", "Members[0].Email: The field Email must be", "OverwriteExisting: The OverwriteExisting field is required."},
		},
		{
			name: "message alone", status: 400, ctype: "application/json",
			body: `{"message":"You cannot import this much data at once."}`, wantMsg: "You cannot import this much data at once.",
			wantInError: []string{"You cannot import this much data at once.", "largeImport"},
		},
		{
			name: "directory sync not in plan", status: 400, ctype: "application/json",
			body: `{"object":"error","message":"Organization cannot use directory syncing."}`, wantMsg: "Organization cannot use directory syncing.",
			wantInError: []string{"plan does not include directory sync"},
		},
		{
			name: "groups not in plan", status: 400, ctype: "application/json",
			body: `{"object":"error","message":"Organization cannot use groups."}`, wantMsg: "Organization cannot use groups.",
			wantInError: []string{"turn off group sync"},
		},
		{
			name: "seat limit", status: 400, ctype: "application/json",
			body: `{"object":"error","message":"Seat limit has been reached."}`, wantMsg: "Seat limit has been reached.",
			wantInError: []string{"add seats"},
		},
		{
			name: "proxy html", status: 502, ctype: "text/html",
			body:        "<html>\n<body><h1>502 Bad Gateway</h1></body>\n</html>",
			wantInError: []string{"502", "<h1>502 Bad Gateway</h1>", "try again later"},
			notInError:  []string{"\n"},
		},
		{
			name: "echoed secret is redacted", status: 500, ctype: "text/plain",
			body:        "upstream failed for client_secret=" + secret,
			wantInError: []string{"[REDACTED]"},
			notInError:  []string{secret},
		},
		{
			name: "empty body", status: 503, ctype: "text/plain", body: "",
			wantInError: []string{"503", "(empty answer)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := stubServer(t, tt.status, tt.ctype, tt.body)
			c, err := bitwarden.New(bitwarden.Config{Server: ts.URL, ClientID: bwtest.DefaultClientID, ClientSecret: secret})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Import(context.Background(), &bitwarden.ImportRequest{})
			var ae *bitwarden.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error = %v (%T), want *APIError", err, err)
			}
			if ae.Status != tt.status || ae.Method != "POST" || ae.Path != "/public/organization/import" {
				t.Errorf("APIError = %d %s %s", ae.Status, ae.Method, ae.Path)
			}
			if ae.Message != tt.wantMsg {
				t.Errorf("Message = %q, want %q", ae.Message, tt.wantMsg)
			}
			if tt.wantFields != nil && !equalFields(ae.Errors, tt.wantFields) {
				t.Errorf("Errors = %v, want %v", ae.Errors, tt.wantFields)
			}
			msg := err.Error()
			for _, s := range tt.wantInError {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q lacks %q", msg, s)
				}
			}
			for _, s := range tt.notInError {
				if strings.Contains(msg, s) {
					t.Errorf("error %q contains %q", msg, s)
				}
			}
		})
	}
}

func equalFields(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestTokenErrorOtherThanInvalidClientIsRedacted(t *testing.T) {
	const secret = "another-secret-value"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "proxy saw client_secret="+secret)
	}))
	t.Cleanup(ts.Close)
	c, err := bitwarden.New(bitwarden.Config{Server: ts.URL, ClientID: bwtest.DefaultClientID, ClientSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckToken(context.Background())
	if err == nil || errors.Is(err, bitwarden.ErrInvalidClient) {
		t.Fatalf("CheckToken error = %v, want a non-invalid_client failure", err)
	}
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "502") {
		t.Errorf("error %q: want the status and no secret", err)
	}
}

func TestImportNeverSendsNull(t *testing.T) {
	tests := []struct {
		name string
		req  bitwarden.ImportRequest
		want string
	}{
		{"empty", bitwarden.ImportRequest{}, `{"groups":[],"members":[],"overwriteExisting":false,"largeImport":false}`},
		{"overwrite empty", bitwarden.ImportRequest{OverwriteExisting: true}, `{"groups":[],"members":[],"overwriteExisting":true,"largeImport":false}`},
		{
			"group without members",
			bitwarden.ImportRequest{
				Groups:  []bitwarden.ImportGroup{{Name: "Eng", ExternalID: "g1"}},
				Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "u1"}, {ExternalID: "u2", Deleted: true}},
			},
			`{"groups":[{"name":"Eng","externalId":"g1","memberExternalIds":[]}],"members":[{"email":"a@x.com","externalId":"u1","deleted":false},{"email":null,"externalId":"u2","deleted":true}],"overwriteExisting":false,"largeImport":false}`,
		},
		{
			"staged",
			bitwarden.ImportRequest{InviteUsersAfterProvisioning: ptr(false)},
			`{"groups":[],"members":[],"overwriteExisting":false,"largeImport":false,"inviteUsersAfterProvisioning":false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t, bwtest.Options{})
			c := newClient(t, fake, nil)
			req := tt.req
			if err := c.Import(context.Background(), &req); err != nil {
				t.Fatalf("Import: %v", err)
			}
			imps := fake.Imports()
			if len(imps) != 1 {
				t.Fatalf("imports = %d, want 1", len(imps))
			}
			if got := string(imps[0].Raw); got != tt.want {
				t.Errorf("body\n got %s\nwant %s", got, tt.want)
			}
			// The only null allowed is a deleted member's missing email:
			// Bitwarden refuses "" there (EmailAddressAttribute).
			if strings.Contains(strings.ReplaceAll(string(imps[0].Raw), `"email":null,"externalId":"u2","deleted":true`, ""), "null") {
				t.Errorf("body contains null: %s", imps[0].Raw)
			}
			for i, g := range req.Groups {
				if g.MemberExternalIDs == nil && tt.req.Groups[i].MemberExternalIDs != nil {
					t.Error("Import modified the caller's request")
				}
			}
			if req.Members == nil && tt.req.Members != nil || (tt.req.Members == nil && req.Members != nil) {
				t.Error("Import modified the caller's request")
			}
			b, err := bitwarden.MarshalImport(&tt.req)
			if err != nil || string(b) != tt.want {
				t.Errorf("MarshalImport = %s, %v; want the bytes Import sent", b, err)
			}
		})
	}
}

func TestListMembersAndGroupsReturnOrgState(t *testing.T) {
	fake := newFake(t, bwtest.Options{})
	owner := fake.AddMember("owner@x.com", "", bwtest.Owner)
	admin := fake.AddMemberWith(bwtest.Member{Email: "admin@x.com", ExternalID: "u-admin", Type: bwtest.Admin, Status: bwtest.Accepted})
	revoked := fake.AddMemberWith(bwtest.Member{Email: "gone@x.com", ExternalID: "u-gone", Type: bwtest.User, Status: bwtest.Revoked})
	manual := fake.AddGroup("Manual", "", owner.ID)
	c := newClient(t, fake, nil)
	ctx := context.Background()
	err := c.Import(ctx, &bitwarden.ImportRequest{
		Members: []bitwarden.ImportMember{{Email: "new@x.com", ExternalID: "u-new"}, {Email: "admin@x.com", ExternalID: "u-admin"}},
		Groups:  []bitwarden.ImportGroup{{Name: "Eng", ExternalID: "g-eng", MemberExternalIDs: []string{"u-new", "u-admin"}}},
	})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	members, err := c.ListMembers(ctx)
	if err != nil {
		t.Fatalf("ListMembers: %v", err)
	}
	newM, _ := fake.MemberByEmail("new@x.com")
	want := []bitwarden.Member{
		{ID: owner.ID, UserID: owner.UserID, Email: "owner@x.com", Type: bitwarden.MemberTypeOwner, Status: bitwarden.MemberStatusConfirmed},
		{ID: admin.ID, UserID: admin.UserID, Email: "admin@x.com", ExternalID: "u-admin", Type: bitwarden.MemberTypeAdmin, Status: bitwarden.MemberStatusAccepted},
		{ID: revoked.ID, UserID: revoked.UserID, Email: "gone@x.com", ExternalID: "u-gone", Type: bitwarden.MemberTypeUser, Status: bitwarden.MemberStatusRevoked},
		{ID: newM.ID, Email: "new@x.com", ExternalID: "u-new", Type: bitwarden.MemberTypeUser, Status: bitwarden.MemberStatusInvited},
	}
	if !slices.Equal(members, want) {
		t.Errorf("ListMembers\n got %+v\nwant %+v", members, want)
	}
	if owner.UserID == "" || newM.UserID != "" {
		t.Errorf("UserID: owner %q (want set), invited %q (want empty)", owner.UserID, newM.UserID)
	}
	groups, err := c.ListGroups(ctx)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	eng, _ := fake.GroupByExternalID("g-eng")
	wantIDs := []string{admin.ID, newM.ID}
	slices.Sort(wantIDs)
	wantGroups := []bitwarden.Group{
		{ID: manual.ID, Name: "Manual", MemberIDs: []string{owner.ID}},
		{ID: eng.ID, Name: "Eng", ExternalID: "g-eng", MemberIDs: wantIDs},
	}
	if len(groups) != len(wantGroups) {
		t.Fatalf("ListGroups = %+v, want %+v", groups, wantGroups)
	}
	for i := range groups {
		g, w := groups[i], wantGroups[i]
		slices.Sort(g.MemberIDs)
		if g.ID != w.ID || g.Name != w.Name || g.ExternalID != w.ExternalID || !slices.Equal(g.MemberIDs, w.MemberIDs) {
			t.Errorf("group %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestListGroupsEmptyMembersIsEmptySlice(t *testing.T) {
	fake := newFake(t, bwtest.Options{})
	fake.AddGroup("Empty", "g0")
	groups, err := newClient(t, fake, nil).ListGroups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].MemberIDs == nil || len(groups[0].MemberIDs) != 0 {
		t.Fatalf("groups = %#v, want one with empty non-nil MemberIDs", groups)
	}
}

func TestListGroupsReadsMemberIDsFourAtATime(t *testing.T) {
	var inFlight, maxInFlight atomic.Int32
	release := make(chan struct{})
	fake := newFake(t, bwtest.Options{BeforeAPI: func(r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/member-ids") {
			return
		}
		n := inFlight.Add(1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
	}})
	for i := range 12 {
		fake.AddGroup("g", "g"+string(rune('a'+i)))
	}
	c := newClient(t, fake, nil)
	done := make(chan error, 1)
	var groups []bitwarden.Group
	go func() {
		var err error
		groups, err = c.ListGroups(context.Background())
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for inFlight.Load() < 4 {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("only %d member-ids reads in flight; want 4 at once", inFlight.Load())
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	if len(groups) != 12 {
		t.Errorf("groups = %d, want 12", len(groups))
	}
	if m := maxInFlight.Load(); m != 4 {
		t.Errorf("max concurrent member-ids reads = %d, want 4", m)
	}
}

func TestObserverSeesRouteTemplates(t *testing.T) {
	fake := newFake(t, bwtest.Options{})
	fake.AddGroup("Eng", "g1")
	var mu sync.Mutex
	var events []bitwarden.RequestEvent
	c := newClient(t, fake, func(cfg *bitwarden.Config) {
		cfg.Observer = func(e bitwarden.RequestEvent) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}
	})
	ctx := context.Background()
	if _, err := c.ListGroups(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Import(ctx, &bitwarden.ImportRequest{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, e := range events {
		got = append(got, e.Method+" "+e.Path+" "+http.StatusText(e.Status))
		if e.Duration <= 0 {
			t.Errorf("%s %s: duration %v", e.Method, e.Path, e.Duration)
		}
	}
	want := []string{
		"POST /connect/token OK",
		"GET /public/groups OK",
		"GET /public/groups/{id}/member-ids OK",
		"POST /public/organization/import OK",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
}

func TestTimeoutBoundsARequest(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /identity/connect/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"tok","expires_in":3600,"token_type":"Bearer"}`)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hang until the client gives up
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	c, err := bitwarden.New(bitwarden.Config{Server: ts.URL, ClientID: bwtest.DefaultClientID, ClientSecret: "x", Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.ListMembers(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v; the timeout did not apply", d)
	}
}

func TestListMembersFollowsContinuationTokens(t *testing.T) {
	tests := []struct {
		name      string
		pages     map[string]string // continuationToken query → answer
		wantIDs   []string
		wantError string
	}{
		{
			name: "two pages",
			pages: map[string]string{
				"":   `{"object":"list","data":[{"object":"member","id":"m1","email":"a@x.com","type":2,"status":0,"userId":null,"externalId":"a"}],"continuationToken":"c1"}`,
				"c1": `{"object":"list","data":[{"object":"member","id":"m2","email":"b@x.com","type":0,"status":2,"userId":"u2","externalId":null}],"continuationToken":null}`,
			},
			wantIDs: []string{"m1", "m2"},
		},
		{
			name: "repeated token",
			pages: map[string]string{
				"":   `{"object":"list","data":[],"continuationToken":"c1"}`,
				"c1": `{"object":"list","data":[],"continuationToken":"c1"}`,
			},
			wantError: "repeated a continuation token",
		},
		{
			name:      "not a list",
			pages:     map[string]string{"": `<html>`},
			wantError: "decode list",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("POST /identity/connect/token", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"access_token":"tok","expires_in":3600,"token_type":"Bearer"}`)
			})
			mux.HandleFunc("GET /api/public/members", func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tt.pages[r.URL.Query().Get("continuationToken")])
			})
			ts := httptest.NewServer(mux)
			t.Cleanup(ts.Close)
			c, err := bitwarden.New(bitwarden.Config{Server: ts.URL, ClientID: bwtest.DefaultClientID, ClientSecret: "x"})
			if err != nil {
				t.Fatal(err)
			}
			ms, err := c.ListMembers(context.Background())
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("error = %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tt.wantIDs)
			}
			if ms[0].UserID != "" || ms[0].ExternalID != "a" || ms[1].UserID != "u2" || ms[1].ExternalID != "" || ms[1].Type != bitwarden.MemberTypeOwner {
				t.Errorf("members = %+v", ms)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
