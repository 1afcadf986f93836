package sync

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/demo"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/okta"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// harness wires the engine to a fake Okta, a fake Bitwarden and a real
// SQLite store, all over real HTTP.
type harness struct {
	t      *testing.T
	okta   *oktatest.Server
	bw     *bwtest.Server
	store  *store.Store
	engine *Engine
}

func newHarness(t *testing.T, org *oktatest.Org, mod func(*config.Settings)) *harness {
	t.Helper()
	return newHarnessWith(t, org, mod, oktatest.Options{})
}

func newHarnessWith(t *testing.T, org *oktatest.Org, mod func(*config.Settings), oo oktatest.Options) *harness {
	t.Helper()
	h := &harness{t: t}
	h.okta = oktatest.New(oo)
	t.Cleanup(h.okta.Close)
	if org != nil {
		h.okta.SetOrg(org)
	}
	h.bw = bwtest.New(bwtest.Options{})
	t.Cleanup(h.bw.Close)
	st, err := store.Open(context.Background(), t.TempDir()+"/dirsync.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h.store = st
	s := demo.Settings(h.okta, h.bw)
	if mod != nil {
		mod(&s)
	}
	h.save(s)
	h.engine = New(st, "test")
	base := h.engine.NewSource
	h.engine.NewSource = func(s config.Settings) (directory.Source, error) {
		if okta.Of(s.Directory).OrgURL != h.okta.URL {
			return base(s)
		}
		cfg := okta.Of(s.Directory).Config(directory.Env{})
		cfg.BackoffBase, cfg.MaxRetries = time.Millisecond, 2
		return okta.New(cfg)
	}
	return h
}

func (h *harness) save(s config.Settings) {
	h.t.Helper()
	if err := demo.Save(context.Background(), h.store, store.DefaultProfile, s); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) settings() config.Settings {
	s, err := h.store.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *harness) run(mode Mode) (*Result, error) {
	return h.engine.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: mode})
}

func (h *harness) mustRun(wantStatus string) *Result {
	h.t.Helper()
	res, err := h.run(ModeSync)
	if err != nil {
		h.t.Fatalf("run: %v", err)
	}
	if res.Run.Status != wantStatus {
		h.t.Fatalf("run status %q, want %q (error %q)", res.Run.Status, wantStatus, res.Run.Error)
	}
	return res
}

func (h *harness) imports() int { return len(h.bw.Imports()) }

func smallOrg() *oktatest.Org {
	return oktatest.Generate(oktatest.Spec{Users: 60, Groups: 6, MembersPerGroup: 12, Deprovisioned: 5, Suspended: 4, Seed: 7})
}

func TestSyncPushesAndMatchesOkta(t *testing.T) {
	h := newHarness(t, smallOrg(), nil)
	res := h.mustRun(StatusSuccess)
	if h.imports() != 1 {
		t.Fatalf("imports %d, want 1", h.imports())
	}
	// Every live Okta user with an email is now a member of the org.
	org := h.okta.Org()
	for _, u := range org.Users {
		m, ok := h.bw.MemberByEmail(strings.ToLower(u.Email))
		switch {
		case u.Status == "DEPROVISIONED":
			if ok && m.ExternalID == u.ID {
				t.Errorf("deprovisioned %s is a member", u.ID)
			}
		case !ok:
			t.Errorf("user %s (%s) missing from Bitwarden", u.ID, u.Status)
		case m.ExternalID != u.ID:
			t.Errorf("member %s has externalId %s, want the Okta id %s", u.Email, m.ExternalID, u.ID)
		}
	}
	for _, g := range org.Groups {
		bg, ok := h.bw.GroupByExternalID(g.ID)
		if !ok || bg.Name != g.Name {
			t.Errorf("group %s (%s) not created: %+v", g.ID, g.Name, bg)
		}
	}
	// The run is recorded with its counts and changes.
	got, err := h.store.GetRun(context.Background(), res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusSuccess || got.Counts.Members != 55 || got.Counts.Deleted != 5 || got.Counts.Groups != 6 || got.Counts.DirectoryRequests == 0 {
		t.Errorf("recorded run %+v", got)
	}
	if !strings.Contains(string(got.Changes), `"first":true`) || !strings.Contains(string(got.Changes), `"membersAdded":55`) {
		t.Errorf("recorded changes %s", got.Changes)
	}
}

func TestUnchangedDirectoryPushesOnce(t *testing.T) {
	h := newHarness(t, smallOrg(), func(s *config.Settings) { config.Edit(&s.Directory, func(o *okta.Settings) { o.Concurrency = 6 }) })
	h.mustRun(StatusSuccess)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 4 {
		// Okta may return things in another order; concurrency changes the
		// order member reads finish in.
		org := h.okta.Org().Clone()
		rng.Shuffle(len(org.Groups), func(a, b int) { org.Groups[a], org.Groups[b] = org.Groups[b], org.Groups[a] })
		h.okta.SetOrg(org)
		res := h.mustRun(StatusUnchanged)
		if res.Changes == nil || !res.Changes.Empty() {
			t.Errorf("run %d: unchanged run shows changes %+v", i, res.Changes)
		}
	}
	if h.imports() != 1 {
		t.Fatalf("imports %d after 5 syncs of an unchanged directory, want 1", h.imports())
	}
	// A change in Okta is pushed, once.
	org := h.okta.Org()
	if err := h.okta.RenameGroup(org.Groups[0].ID, "Renamed group"); err != nil {
		t.Fatal(err)
	}
	res := h.mustRun(StatusSuccess)
	if res.Changes.Counts.GroupsRenamed != 1 || res.Changes.GroupsRenamed[0].To != "Renamed group" {
		t.Errorf("changes %+v", res.Changes.Counts)
	}
	h.mustRun(StatusUnchanged)
	// Clearing the cache sends everything again.
	if err := h.engine.ClearCache(context.Background(), store.DefaultProfile); err != nil {
		t.Fatal(err)
	}
	h.mustRun(StatusSuccess)
	if h.imports() != 3 {
		t.Fatalf("imports %d, want 3", h.imports())
	}
}

func TestFailedReadsPushNothing(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(h *harness)
		want   []string
	}{
		{"unreadable group members", func(h *harness) {
			h.okta.FailGroupMembers(h.okta.Org().Groups[2].ID, 500)
		}, []string{"500"}},
		{"revoked okta token", func(h *harness) {
			h.okta.SetToken("a-new-token")
		}, []string{"401", "E0000011", "API token"}},
		{"forbidden", func(h *harness) {
			h.okta.FailNext("/api/v1/groups", 403, 1)
		}, []string{"403"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, smallOrg(), nil)
			tc.break_(h)
			res, err := h.run(ModeSync)
			if err == nil {
				t.Fatal("the run succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), h.okta.Token()) || strings.Contains(err.Error(), "test-token") {
				t.Errorf("error %q shows the token", err)
			}
			if h.imports() != 0 {
				t.Errorf("%d imports sent after a failed read", h.imports())
			}
			got, gerr := h.store.GetRun(context.Background(), res.Run.ID)
			if gerr != nil || got.Status != StatusFailed || got.Error == "" {
				t.Errorf("recorded run %+v (err %v), want failed with the error", got, gerr)
			}
		})
	}
}

func TestWrongBitwardenSecret(t *testing.T) {
	h := newHarness(t, smallOrg(), func(s *config.Settings) { s.Bitwarden.ClientSecret = "not-the-secret" })
	_, err := h.run(ModeSync)
	if err == nil || !errors.Is(err, bitwarden.ErrInvalidClient) || !strings.Contains(err.Error(), "client id and secret") {
		t.Fatalf("err %v, want the invalid_client explanation", err)
	}
	if strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("error shows the secret: %v", err)
	}
	if h.imports() != 0 {
		t.Errorf("imports %d", h.imports())
	}
	st, _ := h.store.GetSyncState(context.Background(), store.DefaultProfile)
	if st.Hash != "" {
		t.Errorf("a hash was stored after a failed push")
	}
	// Fixing the secret sends the import.
	s := h.settings()
	s.Bitwarden.ClientSecret = config.Secret(h.bw.ClientSecret())
	h.save(s)
	h.mustRun(StatusSuccess)
}

func TestTooLargeWithoutLargeImport(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 2050, Groups: 2, MembersPerGroup: 3, Seed: 1})
	h := newHarness(t, org, nil)
	_, err := h.run(ModeSync)
	if err == nil || !strings.Contains(err.Error(), "large import") {
		t.Fatalf("err %v, want the largeImport explanation", err)
	}
	if h.imports() != 0 {
		t.Fatalf("imports %d, want none", h.imports())
	}
}

func TestBatchedOverwrite(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 4100, Groups: 3, MembersPerGroup: 10, Seed: 2})
	h := newHarness(t, org, func(s *config.Settings) { s.Sync.LargeImport = true; s.Sync.OverwriteExisting = true })
	// A member synced earlier but no longer in Okta is removed exactly once.
	h.bw.AddMember("former@x.com", "00uformer", bwtest.User)
	h.mustRun(StatusSuccess)
	imps := h.bw.Imports()
	overwrite := 0
	for _, imp := range imps {
		if imp.Request.OverwriteExisting {
			overwrite++
		}
		if !imp.Request.LargeImport {
			t.Errorf("a batch lacks largeImport")
		}
	}
	if len(imps) < 2 || overwrite != 1 {
		t.Fatalf("%d imports, %d with overwriteExisting; want several and exactly one", len(imps), overwrite)
	}
	if n := len(h.bw.Members()); n != 4100 {
		t.Errorf("org has %d members after the batched overwrite, want 4100", n)
	}
	if r := h.bw.Removals(); len(r) != 1 {
		t.Errorf("removals %v, want only the former member", r)
	}
}

func TestFailedBatchStoresNoHash(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 4100, Groups: 3, MembersPerGroup: 10, Seed: 2})
	h := newHarness(t, org, func(s *config.Settings) { s.Sync.LargeImport = true })
	h.bw.FailImport(2, 500, "An error has occurred.")
	_, err := h.run(ModeSync)
	if err == nil || !strings.Contains(err.Error(), "batch 2 of") {
		t.Fatalf("err %v, want batch 2 to fail", err)
	}
	st, _ := h.store.GetSyncState(context.Background(), store.DefaultProfile)
	if st.Hash != "" {
		t.Fatal("hash stored after a failed batch")
	}
	before := h.imports()
	h.mustRun(StatusSuccess)
	if h.imports() <= before {
		t.Error("the next run sent nothing")
	}
}

func TestUsersOnlyAndGroupsOnly(t *testing.T) {
	h := newHarness(t, smallOrg(), func(s *config.Settings) { s.Sync.Groups = false })
	h.mustRun(StatusSuccess)
	imp := h.bw.Imports()[0].Request
	if len(imp.Groups) != 0 || len(imp.Members) == 0 {
		t.Errorf("users only: %d groups, %d members", len(imp.Groups), len(imp.Members))
	}
	for _, l := range h.okta.Log() {
		if strings.Contains(l, "/groups") {
			t.Fatalf("users only read groups: %s", l)
		}
	}

	h = newHarness(t, smallOrg(), func(s *config.Settings) { s.Sync.Users = false })
	h.mustRun(StatusSuccess)
	imp = h.bw.Imports()[0].Request
	if len(imp.Members) != 0 || len(imp.Groups) != 6 {
		t.Errorf("groups only: %d groups, %d members", len(imp.Groups), len(imp.Members))
	}
	for _, l := range h.okta.Log() {
		if strings.Contains(l, "/api/v1/users") {
			t.Fatalf("groups only read the user list: %s", l)
		}
	}
}

func TestDuplicateEmailsOverHTTP(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 10, Seed: 3})
	// A deprovisioned account and a live one share an email, in both id
	// orders (Okta lists by id).
	org.Users = append(org.Users,
		&oktatest.User{ID: "00u000000000000000a1", Status: "DEPROVISIONED", Login: "old1", Email: "Twin1@x.com"},
		&oktatest.User{ID: "00u000000000000000a2", Status: "ACTIVE", Login: "new1", Email: "twin1@x.com"},
		&oktatest.User{ID: "00u000000000000000b1", Status: "ACTIVE", Login: "new2", Email: "twin2@x.com"},
		&oktatest.User{ID: "00u000000000000000b2", Status: "DEPROVISIONED", Login: "old2", Email: "twin2@x.com"},
	)
	h := newHarness(t, org, nil)
	res := h.mustRun(StatusSuccess)
	for _, email := range []string{"twin1@x.com", "twin2@x.com"} {
		m, ok := h.bw.MemberByEmail(email)
		if !ok || !(m.ExternalID == "00u000000000000000a2" || m.ExternalID == "00u000000000000000b1") {
			t.Errorf("%s: member %+v, want the live account", email, m)
		}
	}
	if len(res.Run.Warnings) < 2 {
		t.Errorf("warnings %v, want the dropped twins named", res.Run.Warnings)
	}
	// Two live twins stop the run before anything is sent.
	if err := h.okta.SetUserStatus("00u000000000000000b2", "ACTIVE"); err != nil {
		t.Fatal(err)
	}
	before := h.imports()
	_, err := h.run(ModeSync)
	if err == nil || !strings.Contains(err.Error(), "twin2@x.com") || !strings.Contains(err.Error(), "00u000000000000000b2") {
		t.Fatalf("err %v, want the twins named", err)
	}
	if h.imports() != before {
		t.Error("an import was sent despite live twins")
	}
}

func TestDryRunAndTestPushNothing(t *testing.T) {
	h := newHarness(t, smallOrg(), nil)
	res, err := h.run(ModeDryRun)
	if err != nil || res.Run.Status != StatusDryRun || res.Run.ID == 0 {
		t.Fatalf("dry run: %+v, %v", res.Run, err)
	}
	res, err = h.run(ModeTest)
	if err != nil || res.Run.ID != 0 || len(res.Plan.Users) != 60 {
		t.Fatalf("test: id %d users %d err %v", res.Run.ID, len(res.Plan.Users), err)
	}
	if h.imports() != 0 {
		t.Fatalf("imports %d", h.imports())
	}
	runs, total, _ := h.store.ListRuns(context.Background(), store.DefaultProfile, 10, 0)
	if total != 1 || runs[0].Status != StatusDryRun {
		t.Errorf("history %+v total %d, want only the dry run", runs, total)
	}
	// A preview of unsaved settings uses the saved secrets.
	s := h.settings()
	config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = "" })
	s.Sync.UserFilter = "include:" + strings.ToLower(h.okta.Org().Users[0].Email)
	s.Sync.Groups = false
	res, err = h.engine.Run(context.Background(), store.DefaultProfile, Options{Mode: ModeTest, Settings: &s})
	if err != nil || len(res.Plan.Users) != 1 {
		t.Fatalf("unsaved preview: %v users, err %v", len(res.Plan.Users), err)
	}
}

func TestOneRunAtATime(t *testing.T) {
	h := newHarness(t, smallOrg(), nil)
	h.okta.Close()
	slow := oktatest.New(oktatest.Options{Latency: 30 * time.Millisecond})
	t.Cleanup(slow.Close)
	slow.SetOrg(smallOrg())
	s := h.settings()
	config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = slow.URL })
	config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = config.Secret(slow.Token()) })
	h.save(s)
	h.okta = slow
	var wg gosync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.run(ModeSync)
		}()
	}
	wg.Wait()
	ok, locked := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrLocked):
			locked++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 || locked != 2 {
		t.Errorf("%d ran, %d refused as locked", ok, locked)
	}
	if h.imports() != 1 {
		t.Errorf("imports %d, want 1", h.imports())
	}
}

func TestMembershipCacheSkipsUnchangedGroups(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 100, Groups: 10, MembersPerGroup: 20, Seed: 5})
	h := newHarness(t, org, nil)
	first := h.mustRun(StatusSuccess)
	if first.Stats.MemberReads != 10 {
		t.Fatalf("first run read members of %d groups, want 10", first.Stats.MemberReads)
	}
	second := h.mustRun(StatusUnchanged)
	if second.Stats.MemberReads != 0 || second.Stats.CachedGroups != 10 {
		t.Errorf("second run: %d member reads, %d cached; want 0 and 10", second.Stats.MemberReads, second.Stats.CachedGroups)
	}
	g := h.okta.Org().Groups[4]
	if err := h.okta.AddMember(g.ID, h.okta.Org().Users[99].ID); err != nil {
		t.Fatal(err)
	}
	third := h.mustRun(StatusSuccess)
	if third.Stats.MemberReads != 1 {
		t.Errorf("third run read %d groups, want only the changed one", third.Stats.MemberReads)
	}
	// A full read is due after FullReadEvery.
	h.engine.FullReadEvery = time.Nanosecond
	fourth := h.mustRun(StatusUnchanged)
	if fourth.Stats.MemberReads != 10 {
		t.Errorf("full read read %d groups, want 10", fourth.Stats.MemberReads)
	}
}

func TestRunRecordsSettingsError(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir()+"/x.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := New(st, "test")
	_, err = e.Run(context.Background(), store.DefaultProfile, Options{Mode: ModeSync})
	if err == nil || !strings.Contains(err.Error(), "no settings saved") {
		t.Fatalf("err %v", err)
	}
	runs, total, _ := st.ListRuns(context.Background(), store.DefaultProfile, 5, 0)
	if total != 1 || runs[0].Status != StatusFailed {
		t.Errorf("runs %+v", runs)
	}
}

func TestRecentlyChangedGroupsAreReadAgain(t *testing.T) {
	org := oktatest.Generate(oktatest.Spec{Users: 50, Groups: 5, MembersPerGroup: 10, Seed: 8})
	h := newHarness(t, org, nil)
	h.mustRun(StatusSuccess)
	g := h.okta.Org().Groups[2]
	if err := h.okta.AddMember(g.ID, h.okta.Org().Users[49].ID); err != nil {
		t.Fatal(err)
	}
	// Within CacheSettle of its change the group is not trusted to the
	// cache: Okta's timestamps may not move for a second change within
	// the same second.
	for i, want := range []int{1, 1} {
		res := h.mustRun([]string{StatusSuccess, StatusUnchanged}[i])
		if res.Stats.MemberReads != want {
			t.Errorf("run %d read %d groups, want %d", i, res.Stats.MemberReads, want)
		}
	}
	h.engine.CacheSettle = 0
	h.mustRun(StatusUnchanged)
	if res := h.mustRun(StatusUnchanged); res.Stats.MemberReads != 0 {
		t.Errorf("with no settling time the group was read again (%d reads)", res.Stats.MemberReads)
	}
}
