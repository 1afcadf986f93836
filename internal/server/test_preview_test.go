package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/demo"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// previewEnv is the console with a real engine over a fake Okta, a fake
// Bitwarden and the env's SQLite store, settings saved and an admin
// logged in.
type previewEnv struct {
	*env
	okta *oktatest.Server
	bw   *bwtest.Server
	org  *oktatest.Org
	c    *http.Client
}

func newPreviewEnv(t *testing.T, org *oktatest.Org, mod func(*config.Settings)) *previewEnv {
	t.Helper()
	p := &previewEnv{env: newEnv(t, true), org: org}
	p.okta = oktatest.New(oktatest.Options{})
	t.Cleanup(p.okta.Close)
	p.okta.SetOrg(org)
	p.bw = bwtest.New(bwtest.Options{})
	t.Cleanup(p.bw.Close)
	st := demo.Settings(p.okta, p.bw)
	if mod != nil {
		mod(&st)
	}
	if err := demo.Save(context.Background(), p.st, store.DefaultProfile, st); err != nil {
		t.Fatal(err)
	}
	// Built before any request, so no handler sees the change.
	p.srv.engine = dsync.New(p.st, "v-test")
	p.c = p.client()
	p.login(p.c)
	return p
}

// runTest posts form to /test/run, follows the redirect and returns the
// preview page and its URL.
func (p *previewEnv) runTest(form url.Values) (resp, string) {
	p.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	r := p.post(p.c, "/test/run", form)
	wantStatus(p.t, r, http.StatusSeeOther)
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "/test?id=") {
		p.t.Fatalf("redirect to %q", loc)
	}
	// The test runs in the background: the page shows its progress until
	// the job has ended and its preview is kept.
	waitTestDone(p.t, p.env, strings.TrimPrefix(loc, "/test?id="))
	page := p.get(p.c, loc)
	wantStatus(p.t, page, http.StatusOK)
	return page, loc
}

// waitTestDone waits until the background test with this id has ended.
func waitTestDone(t *testing.T, e *env, id string) {
	t.Helper()
	j := e.srv.tests.get(id)
	if j == nil {
		t.Fatalf("no test job %q", id)
	}
	select {
	case <-j.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("test %s still running after 60 s", id)
	}
}

// column returns the trimmed texts of the elements with testid.
func column(d *goquery.Document, id string) []string {
	var out []string
	testid(d, id).Each(func(_ int, s *goquery.Selection) { out = append(out, strings.TrimSpace(s.Text())) })
	return out
}

func previewOrg() *oktatest.Org {
	return oktatest.Generate(oktatest.Spec{Users: 120, Groups: 4, MembersPerGroup: 15, Deprovisioned: 3, Suspended: 4, Seed: 5})
}

func countOf(t *testing.T, r resp, key string) string {
	t.Helper()
	s := testid(r.doc(t), "count-"+key)
	if s.Length() == 0 {
		return "0" // zero counts are not shown
	}
	if s.Length() != 1 {
		t.Fatalf("count %q: %d elements", key, s.Length())
	}
	return strings.TrimSpace(s.Text())
}

// userByQuery searches the preview for one id and returns the row's state.
func (p *previewEnv) stateOf(loc, id string) string {
	p.t.Helper()
	r := p.get(p.c, loc+"&q="+url.QueryEscape(id))
	wantStatus(p.t, r, http.StatusOK)
	states := column(r.doc(p.t), "user-state")
	if len(states) != 1 {
		p.t.Fatalf("search for %s: %d rows", id, len(states))
	}
	return states[0]
}

func TestTestPreviewListsUsersAndGroups(t *testing.T) {
	tests := []struct {
		name                       string
		removeDisabled             bool
		enabled, disabled, deleted string
		suspendedState             string
		invites                    string
	}{
		{"suspended sent as members", false, "113", "4", "3", web.StateDisabled, "117"},
		{"suspended sent as deleted", true, "113", "0", "7", web.StateDeleted, "113"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			org := previewOrg()
			p := newPreviewEnv(t, org, func(s *config.Settings) { s.Sync.RemoveDisabled = tc.removeDisabled })
			page, loc := p.runTest(nil)
			for key, want := range map[string]string{
				"users": "120", "enabled": tc.enabled, "disabled": tc.disabled, "deleted": tc.deleted,
				"left-out": "0", "groups": "4",
			} {
				if got := countOf(t, page, key); got != want {
					t.Errorf("count %s = %q, want %q", key, got, want)
				}
			}
			// The fake organization is empty: every live member is invited.
			if got, want := strings.TrimSpace(testid(page.doc(t), "bitwarden-counts").Find(`[data-testid="count-invites"]`).Text()), tc.invites; got != want {
				t.Errorf("Bitwarden invites = %q, want %q", got, want)
			}
			if n := countOf(t, page, "okta-requests"); n == "0" {
				t.Error("no Okta requests counted")
			}
			d := page.doc(t)
			if got := len(column(d, "user-email")); got != web.PreviewPageSize {
				t.Errorf("%d user rows on page 1, want %d", got, web.PreviewPageSize)
			}
			if got := strings.TrimSpace(testid(d, "filter-user-native").Text()); got != "none" {
				t.Errorf("user native filter shown as %q", got)
			}
			wantState := map[string]string{
				oktatest.StatusDeprovisioned: web.StateDeleted,
				oktatest.StatusSuspended:     tc.suspendedState,
				oktatest.StatusActive:        web.StateEnabled,
			}
			checked := map[string]int{}
			for _, u := range org.Users {
				if checked[u.Status] == 3 {
					continue
				}
				checked[u.Status]++
				if got := p.stateOf(loc, u.ID); got != wantState[u.Status] {
					t.Errorf("user %s (%s): badge %q, want %q", u.ID, u.Status, got, wantState[u.Status])
				}
			}
			if len(checked) != 3 {
				t.Fatalf("the org lacks some statuses: %v", checked)
			}

			groups := p.get(p.c, loc+"&tab=groups")
			wantStatus(t, groups, http.StatusOK)
			gd := groups.doc(t)
			want := map[string]string{}
			for _, g := range org.Groups {
				want[g.Name] = fmt.Sprint(len(slices.Compact(slices.Sorted(slices.Values(g.Members)))))
			}
			got := map[string]string{}
			testid(gd, "preview-group").Each(func(_ int, s *goquery.Selection) {
				got[strings.TrimSpace(s.Find(`[data-testid="group-name"]`).Text())] = strings.TrimSpace(s.Find(`[data-testid="group-members"]`).Text())
			})
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("groups and member counts:\n got %v\nwant %v", got, want)
			}
			if testid(gd, "tab-groups").AttrOr("aria-current", "") != "page" {
				t.Error("groups tab not marked current")
			}

			// A test never pushes and is not recorded.
			if n := len(p.bw.Imports()); n != 0 {
				t.Errorf("a test sent %d imports", n)
			}
			if _, total, _ := p.st.ListRuns(context.Background(), store.DefaultProfile, 10, 0); total != 0 {
				t.Errorf("a test recorded %d runs", total)
			}
		})
	}
}

func TestTestPreviewSearchAndPages(t *testing.T) {
	p := newPreviewEnv(t, previewOrg(), nil)
	_, loc := p.runTest(nil)
	first := column(p.get(p.c, loc).doc(t), "user-email")

	tests := []struct {
		name    string
		query   string
		rows    int
		current string // "" when there is a single page (no pager)
		empty   string
		check   func(t *testing.T, emails []string)
	}{
		{name: "page 1", query: "", rows: 50, current: "Page 1 of 3"},
		{name: "page 2 differs", query: "&page=2", rows: 50, current: "Page 2 of 3", check: func(t *testing.T, emails []string) {
			for _, e := range emails {
				if slices.Contains(first, e) {
					t.Errorf("%s is on pages 1 and 2", e)
				}
			}
		}},
		{name: "past the end clamps", query: "&page=999", rows: 20, current: "Page 3 of 3"},
		{name: "before the start clamps", query: "&page=-4", rows: 50, current: "Page 1 of 3", check: func(t *testing.T, emails []string) {
			if !slices.Equal(emails, first) {
				t.Error("page -4 is not page 1")
			}
		}},
		{name: "junk page", query: "&page=abc", rows: 50, current: "Page 1 of 3"},
		{name: "search is case-insensitive", query: "&q=USER00001", rows: 10, check: func(t *testing.T, emails []string) {
			for _, e := range emails {
				if !strings.Contains(e, "user00001") {
					t.Errorf("%s does not match", e)
				}
			}
		}},
		{name: "search with a page past its end", query: "&q=user00001&page=5", rows: 10},
		{name: "search by id", query: "&q=" + url.QueryEscape(strings.ToLower(p.org.Users[50].ID)), rows: 1},
		{name: "no match", query: "&q=nobody-here", rows: 0, empty: "No users match “nobody-here”."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := p.get(p.c, loc+tc.query)
			wantStatus(t, r, http.StatusOK)
			d := r.doc(t)
			emails := column(d, "user-email")
			if len(emails) != tc.rows {
				t.Fatalf("%d rows, want %d", len(emails), tc.rows)
			}
			if got := strings.TrimSpace(testid(d, "page-current").Text()); got != tc.current {
				t.Errorf("pager says %q, want %q", got, tc.current)
			}
			if got := strings.TrimSpace(testid(d, "preview-empty").Text()); got != tc.empty {
				t.Errorf("empty note %q, want %q", got, tc.empty)
			}
			if tc.check != nil {
				tc.check(t, emails)
			}
		})
	}

	t.Run("htmx gets the table alone", func(t *testing.T) {
		r := p.do(p.c, "GET", loc+"&q=user00001", nil, map[string]string{"HX-Request": "true", "HX-Target": web.PreviewTableID})
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		if testid(d, "nav").Length() != 0 || testid(d, "preview-counts").Length() != 0 {
			t.Error("the fragment carries more than the table")
		}
		if n := len(column(d, "user-email")); n != 10 {
			t.Errorf("%d rows in the fragment, want 10", n)
		}
	})
	t.Run("search form works without JavaScript", func(t *testing.T) {
		d := p.get(p.c, loc).doc(t)
		form := testid(d, "preview-search-form")
		if form.AttrOr("method", "") != "get" || form.AttrOr("action", "") != "/test" {
			t.Fatal("the search form is not a plain GET form to /test")
		}
		id := form.Find(`input[name="id"]`).AttrOr("value", "")
		if !strings.Contains(loc, "id="+id) || id == "" {
			t.Errorf("search form carries id %q, preview is %s", id, loc)
		}
		if testid(d, "preview-search").AttrOr("hx-trigger", "") != "keyup changed delay:300ms, search" {
			t.Error("the search box does not search as one types")
		}
	})
	t.Run("latest preview without an id", func(t *testing.T) {
		d := p.get(p.c, "/test").doc(t)
		if !slices.Equal(column(d, "user-email"), first) {
			t.Error("GET /test does not show the latest preview")
		}
	})
}

// fakeForm is a complete Settings form pointing at p's fakes, with the
// secret fields empty (the stored secrets apply).
func (p *previewEnv) fakeForm(kv ...string) url.Values {
	f := with(validForm(),
		"okta.orgUrl", p.okta.URL, "okta.token", "",
		"bitwarden.server", web.ServerChoiceSelf, "bitwarden.url", p.bw.URL,
		"bitwarden.clientId", p.bw.ClientID(), "bitwarden.clientSecret", "",
		"sync.userFilter", "", "sync.groupFilter", "", "sync.removeDisabled", "\x00")
	return with(f, kv...)
}

func TestTestPreviewUnsavedSettings(t *testing.T) {
	p := newPreviewEnv(t, previewOrg(), nil)
	before, err := p.st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	keep := []string{"user000010@example.com", "user000011@example.com", "user000012@example.com"}
	page, _ := p.runTest(p.fakeForm(
		"sync.userFilter", "include:"+strings.Join(keep, ","),
		"sync.groupFilter", `| type eq "OKTA_GROUP"`,
	))
	d := page.doc(t)
	got := column(d, "user-email")
	slices.Sort(got)
	if !slices.Equal(got, keep) {
		t.Fatalf("the unsaved filter shows %v, want %v", got, keep)
	}
	if testid(d, "preview-unsaved").Length() != 1 {
		t.Error("the preview does not say it used unsaved settings")
	}
	for id, want := range map[string]string{
		"filter-user-set":     "include:" + strings.Join(keep, ","),
		"filter-user-native":  "none",
		"filter-group-native": `type eq "OKTA_GROUP"`,
	} {
		if got := strings.TrimSpace(testid(d, id).Text()); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	after, err := p.st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if after.Sync.UserFilter != before.Sync.UserFilter || after.Sync.GroupFilter != before.Sync.GroupFilter ||
		after.Sync.IntervalMinutes != before.Sync.IntervalMinutes {
		t.Errorf("a test saved settings: %+v", after.Sync)
	}

	t.Run("invalid form values", func(t *testing.T) {
		r := p.post(p.c, "/test/run", p.fakeForm("sync.userFilter", "include:a:b"))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		d := r.doc(t)
		if testid(d, "error-sync.userFilter").Text() == "" {
			t.Error("the filter error is not shown next to its field")
		}
		if !strings.Contains(testid(d, "flash-error").Text(), "test did not run") {
			t.Error("no note that the test did not run")
		}
	})
}

func TestTestPreviewFailures(t *testing.T) {
	tests := []struct {
		name     string
		settings func(*config.Settings)
		fake     func(*oktatest.Server)
		want     []string // in the error message
		hint     string   // in a hint
	}{
		{
			name: "revoked token",
			fake: func(o *oktatest.Server) { o.SetToken("a-new-token") },
			want: []string{"401", "E0000011"},
			hint: "API token",
		},
		{
			name:     "bad native filter",
			settings: func(s *config.Settings) { s.Sync.UserFilter = `| profile.nickName eq "x"` },
			want:     []string{"400", "E0000031"},
			hint:     "native filter syntax",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPreviewEnv(t, previewOrg(), tc.settings)
			if tc.fake != nil {
				tc.fake(p.okta)
			}
			page, _ := p.runTest(nil)
			d := page.doc(t)
			msg := testid(d, "preview-error-message").Text()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if !strings.Contains(testid(d, "verdict-hints").Text(), tc.hint) {
				t.Errorf("hints %q lack %q", testid(d, "verdict-hints").Text(), tc.hint)
			}
			if testid(d, "preview-table").Length() != 0 {
				t.Error("a failed test shows a table")
			}
			if strings.Contains(page.body, p.okta.Token()) || strings.Contains(page.body, "test-token") {
				t.Error("the page shows the token")
			}
		})
	}
}

func TestTestPreviewOwnedAndExpiring(t *testing.T) {
	p := newPreviewEnv(t, previewOrg(), nil)
	_, loc := p.runTest(nil)

	h, err := auth.Hash(testPassword, auth.TestParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.st.CreateAdmin(context.Background(), "other", h); err != nil {
		t.Fatal(err)
	}
	other := p.client()
	if r := p.post(other, "/login", url.Values{"username": {"other"}, "password": {testPassword}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login other: %d", r.StatusCode)
	}
	r := p.get(other, loc)
	wantStatus(t, r, http.StatusNotFound)
	if testid(r.doc(t), "preview-expired").Length() != 1 || testid(r.doc(t), "preview-user").Length() != 0 {
		t.Error("another admin sees the preview")
	}
	if testid(p.get(other, "/test").doc(t), "preview-none").Length() != 1 {
		t.Error("another admin's /test shows someone's preview")
	}

	p.clock.Advance(previewTTL - time.Minute)
	wantStatus(t, p.get(p.c, loc), http.StatusOK)
	p.clock.Advance(2 * time.Minute)
	r = p.get(p.c, loc)
	wantStatus(t, r, http.StatusNotFound)
	if testid(r.doc(t), "preview-expired").Length() != 1 {
		t.Error("an expired preview is not explained")
	}
	if testid(p.get(p.c, "/test").doc(t), "preview-none").Length() != 1 {
		t.Error("an expired preview is still the latest")
	}
}

func TestPreviewCacheLimits(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newPreviewCache(clock.Now)
	put := func(user string) string {
		t.Helper()
		clock.Advance(time.Second)
		id, err := c.put(user, &preview{at: clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a1, a2, a3, a4 := put("a"), put("a"), put("a"), put("a")
	if _, ok := c.get("a", a1); ok {
		t.Error("a's oldest preview kept beyond the per-user limit")
	}
	for _, id := range []string{a2, a3, a4} {
		if _, ok := c.get("a", id); !ok {
			t.Errorf("a's preview %s dropped", id)
		}
	}
	if id, _, _ := c.latest("a"); id != a4 {
		t.Error("latest is not the newest")
	}
	// Touch a2 so that it is the most recently used, then fill the cache.
	c.get("a", a2)
	for i := range previewMax {
		put(fmt.Sprintf("u%d", i))
	}
	if c.len() != previewMax {
		t.Fatalf("%d entries, want %d", c.len(), previewMax)
	}
	if _, ok := c.get("a", a3); ok {
		t.Error("the least recently used entry survived")
	}
	if _, ok := c.get("b", a4); ok {
		t.Error("b read a's preview")
	}
}

// A preview's table must stay fast and bounded for a big directory.
func TestPreviewTableLargeDirectory(t *testing.T) {
	p := syntheticPreview(100_000, 300)
	tb := p.table("x", "", "", "2000")
	if tb.Page != 2000 || tb.Pages != 2000 || len(tb.Users) != 50 {
		t.Fatalf("last page: page %d of %d, %d rows", tb.Page, tb.Pages, len(tb.Users))
	}
	tb = p.table("x", "", "user09999", "")
	if tb.Matches != 10 || len(tb.Users) != 10 {
		t.Fatalf("search matched %d (%d rows), want 10", tb.Matches, len(tb.Users))
	}
}

// syntheticPreview is a preview of n users and g groups built without
// Okta, as the engine would: ids sorted, every 50th user deleted and
// every 20th disabled.
func syntheticPreview(n, g int) *preview {
	users := make([]directory.User, n)
	for i := range users {
		u := directory.User{ID: fmt.Sprintf("00u%017d", i), Email: fmt.Sprintf("user%06d@example.com", i), Status: "ACTIVE"}
		switch {
		case i%50 == 0:
			u.Status, u.Deleted = "DEPROVISIONED", true
		case i%20 == 0:
			u.Status, u.Disabled = "SUSPENDED", true
		}
		users[i] = u
	}
	groups := make([]directory.Group, g)
	for i := range groups {
		groups[i] = directory.Group{ID: fmt.Sprintf("00g%017d", i), Name: fmt.Sprintf("Group %d", i)}
		for j := i; j < n; j += g {
			groups[i].MemberIDs = append(groups[i].MemberIDs, users[j].ID)
		}
	}
	plan := &dsync.Plan{Users: users, Groups: groups}
	plan.Counts.Users, plan.Counts.Groups = n, g
	res := &dsync.Result{Plan: plan, Changes: dsync.Diff(nil, &bitwarden.ImportRequest{})}
	// A first sync: every user is invited.
	res.Bitwarden = &dsync.OrgDiff{Counts: dsync.OrgDiffCounts{Invites: n}}
	for _, u := range users {
		res.Bitwarden.Invites = append(res.Bitwarden.Invites, dsync.MemberRef{ExternalID: u.ID, Email: u.Email})
	}
	return buildPreview(res, nil, config.Defaults(), false, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
}
