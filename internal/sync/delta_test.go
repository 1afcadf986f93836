package sync

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
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

// testClock is a clock the test moves; the fake Okta stamps lastUpdated
// with it and the engine decides full reads with it.
type testClock struct {
	mu gosync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// side is one engine with its own store and fake Bitwarden, reading a
// shared fake Okta.
type side struct {
	engine *Engine
	store  *store.Store
	bw     *bwtest.Server
}

func newSide(t *testing.T, o *oktatest.Server, clock *testClock, mod func(*config.Settings)) *side {
	t.Helper()
	sd := &side{bw: bwtest.New(bwtest.Options{})}
	t.Cleanup(sd.bw.Close)
	st, err := store.Open(context.Background(), t.TempDir()+"/dirsync.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sd.store = st
	s := demo.Settings(o, sd.bw)
	s.Guard.MaxRemovals, s.Guard.MaxRemovalPercent = 0, 0 // this test is about results, not holds
	s.Guard.MaxMembershipRemovals, s.Guard.MaxMembershipRemovalPercent, s.Guard.MaxShrinkPercent = 0, 0, 0
	if mod != nil {
		mod(&s)
	}
	if err := demo.Save(context.Background(), st, store.DefaultProfile, s); err != nil {
		t.Fatal(err)
	}
	sd.engine = New(st, "test")
	sd.engine.Now = clock.Now
	sd.engine.NewSource = func(s config.Settings) (directory.Source, error) {
		return okta.New(okta.Config{OrgURL: okta.Of(s.Directory).OrgURL, Token: okta.Of(s.Directory).Token.Reveal(),
			Concurrency: okta.Of(s.Directory).Concurrency, RateLimitShare: 1, BackoffBase: time.Millisecond, MaxRetries: 2})
	}
	return sd
}

// bwOrgState describes a fake Bitwarden org by external ids and emails only
// (each fake numbers its members itself).
func bwOrgState(bw *bwtest.Server) string {
	members := bw.Members()
	ext := map[string]string{}
	var lines []string
	for _, m := range members {
		ext[m.ID] = m.ExternalID + "/" + m.Email
		lines = append(lines, fmt.Sprintf("member %s %s status=%d type=%d", m.ExternalID, m.Email, m.Status, m.Type))
	}
	for _, g := range bw.Groups() {
		var ids []string
		for _, id := range g.MemberIDs {
			ids = append(ids, ext[id])
		}
		slices.Sort(ids)
		lines = append(lines, fmt.Sprintf("group %s %q %v", g.ExternalID, g.Name, ids))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// diffLines names the lines only one of a and b has.
func diffLines(a, b string) string {
	as, bs := map[string]bool{}, map[string]bool{}
	for _, l := range strings.Split(a, "\n") {
		as[l] = true
	}
	for _, l := range strings.Split(b, "\n") {
		bs[l] = true
	}
	var out []string
	for _, l := range slices.Sorted(maps.Keys(as)) {
		if !bs[l] {
			out = append(out, "delta only: "+l)
		}
	}
	for _, l := range slices.Sorted(maps.Keys(bs)) {
		if !as[l] {
			out = append(out, "full only:  "+l)
		}
	}
	return strings.Join(out, "\n")
}

// mutateUsers makes one random change to the users of the fake org: new
// users, email changes, suspensions, deprovisioning, reactivation, hard
// deletes (of deprovisioned users, and of live ones as if deprovisioned
// and deleted between two runs), and an account re-created with the
// email of a deprovisioned one.
func mutateUsers(t *testing.T, o *oktatest.Server, rng *rand.Rand, n *int) string {
	t.Helper()
	org := o.Org()
	pick := func(status ...string) *oktatest.User {
		var c []*oktatest.User
		for _, u := range org.Users {
			if len(status) == 0 || slices.Contains(status, u.Status) {
				c = append(c, u)
			}
		}
		if len(c) == 0 {
			return nil
		}
		return c[rng.IntN(len(c))]
	}
	*n++
	var err error
	what := ""
	switch rng.IntN(8) {
	case 0:
		email := fmt.Sprintf("new%d@example.com", *n)
		if rng.IntN(3) == 0 {
			email = strings.ToUpper(email)
		}
		id := o.AddUser(oktatest.User{Email: email, LastName: "Keep"})
		what = "new user " + id
		if len(org.Groups) > 0 {
			g := org.Groups[rng.IntN(len(org.Groups))]
			err = o.AddMember(g.ID, id)
			what += " in " + g.ID
		}
	case 1:
		u := pick()
		err, what = o.SetUserEmail(u.ID, fmt.Sprintf("changed%d@example.com", *n)), "email change of "+u.ID
	case 2:
		u := pick(oktatest.StatusActive)
		if u == nil {
			return "nothing"
		}
		err, what = o.SetUserStatus(u.ID, oktatest.StatusSuspended), "suspend "+u.ID
	case 3:
		u := pick(oktatest.StatusActive, oktatest.StatusSuspended)
		if u == nil {
			return "nothing"
		}
		err, what = o.SetUserStatus(u.ID, oktatest.StatusDeprovisioned), "deprovision "+u.ID
	case 4:
		u := pick(oktatest.StatusDeprovisioned, oktatest.StatusSuspended)
		if u == nil {
			return "nothing"
		}
		for _, v := range org.Users {
			if v.ID != u.ID && v.Status != oktatest.StatusDeprovisioned && u.Email != "" && strings.EqualFold(v.Email, u.Email) {
				return "nothing" // two live accounts sharing an email stop both runs alike
			}
		}
		err, what = o.SetUserStatus(u.ID, oktatest.StatusActive), "reactivate "+u.ID
	case 5:
		u := pick(oktatest.StatusDeprovisioned)
		if u == nil {
			return "nothing"
		}
		err, what = o.RemoveUser(u.ID), "hard delete deprovisioned "+u.ID
	case 6:
		u := pick(oktatest.StatusActive, oktatest.StatusSuspended)
		if u == nil {
			return "nothing"
		}
		err, what = o.RemoveUser(u.ID), "hard delete live "+u.ID
	case 7:
		u := pick(oktatest.StatusDeprovisioned)
		if u == nil || u.Email == "" {
			return "nothing"
		}
		// Only when no live account has the email (two live accounts
		// sharing one stop both runs alike, which proves nothing).
		for _, v := range org.Users {
			if v.Status != oktatest.StatusDeprovisioned && strings.EqualFold(v.Email, u.Email) {
				return "nothing"
			}
		}
		id := o.AddUser(oktatest.User{Email: u.Email, LastName: "Keep"})
		what = "re-create " + u.Email + " as " + id
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return what
}

// mutateGroups makes one random change to the groups of the fake org.
func mutateGroups(t *testing.T, o *oktatest.Server, rng *rand.Rand) string {
	t.Helper()
	org := o.Org()
	pickUser := func() string { return org.Users[rng.IntN(len(org.Users))].ID }
	if len(org.Groups) == 0 || rng.IntN(8) == 0 {
		return "add group " + o.AddGroup(oktatest.Group{Name: fmt.Sprintf("New %d", rng.IntN(1e6)), Members: []string{pickUser(), pickUser()}})
	}
	g := org.Groups[rng.IntN(len(org.Groups))]
	var err error
	var what string
	switch rng.IntN(5) {
	case 0:
		u := pickUser()
		err, what = o.AddMember(g.ID, u), "add "+u+" to "+g.ID
	case 1:
		if len(g.Members) == 0 {
			return "nothing"
		}
		u := g.Members[rng.IntN(len(g.Members))]
		err, what = o.RemoveMember(g.ID, u), "remove "+u+" from "+g.ID
	case 2:
		err, what = o.RenameGroup(g.ID, fmt.Sprintf("Renamed %d", rng.IntN(1e6))), "rename "+g.ID
	case 3:
		err, what = o.DeleteGroup(g.ID), "delete "+g.ID
	case 4:
		var m []string
		for range rng.IntN(10) {
			m = append(m, pickUser())
		}
		err, what = o.SetMembers(g.ID, m), "replace members of "+g.ID
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return what
}

// TestDeltaEquivalence applies random sequences of Okta changes and, after
// every step, syncs twice: once as a scheduled run does (delta read, delta
// push) into one fake Bitwarden, and once with a full read and a full push
// into another. Both organizations must end exactly alike, under several
// settings (native user filters that a change can leave, removeDisabled,
// a group set).
func TestDeltaEquivalence(t *testing.T) {
	variants := []struct {
		name string
		mod  func(*config.Settings)
	}{
		{"defaults", nil},
		{"removeDisabled", func(s *config.Settings) { s.Sync.RemoveDisabled = true }},
		{"native user filter", func(s *config.Settings) {
			s.Sync.UserFilter = `|status eq "ACTIVE" or status eq "DEPROVISIONED"`
		}},
		{"native filter and set", func(s *config.Settings) {
			s.Sync.UserFilter = `exclude:user000003@example.com|profile.lastName eq "Keep" or status eq "ACTIVE"`
		}},
		{"group set", func(s *config.Settings) {
			s.Sync.GroupFilter = `exclude:Group 0001,Group 0002`
			s.Sync.RemoveDisabled = true
		}},
	}
	for vi, v := range variants {
		for seed := range uint64(1) {
			t.Run(fmt.Sprintf("%s/seed%d", v.name, seed), func(t *testing.T) {
				clock := &testClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
				o := oktatest.New(oktatest.Options{RateLimit: 1_000_000, Now: clock.Now})
				t.Cleanup(o.Close)
				o.SetOrg(oktatest.Generate(oktatest.Spec{Users: 80, Groups: 6, MembersPerGroup: 15, Deprovisioned: 6, Suspended: 6, Seed: int64(seed) + 10*int64(vi)}))
				delta := newSide(t, o, clock, v.mod)
				full := newSide(t, o, clock, v.mod)
				rng := rand.New(rand.NewPCG(seed, uint64(vi)))
				n := 0
				deltaReads, deltaPushes := 0, 0
				for step := range 35 {
					var did []string
					for range 1 + rng.IntN(3) {
						if rng.IntN(3) == 0 {
							did = append(did, mutateGroups(t, o, rng))
						} else {
							did = append(did, mutateUsers(t, o, rng, &n))
						}
						clock.Advance(time.Duration(rng.IntN(90)) * time.Second)
					}
					if rng.IntN(15) == 0 {
						clock.Advance(25 * time.Hour) // the daily full read
					}
					dr, derr := delta.engine.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerSchedule})
					fr, ferr := full.engine.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerSchedule, FullRead: true})
					if ferr != nil {
						t.Fatalf("step %d after %v: the full run failed: %v", step, did, ferr)
					}
					if (derr == nil) != (ferr == nil) {
						t.Fatalf("step %d after %v: delta run error %v, full run error %v", step, did, derr, ferr)
					}
					// A hard delete the delta cannot see leaves its run
					// "unchanged" where the full one pushes a body without
					// the user: which one pushes may differ, the result not.
					pushed := func(s string) bool { return s == StatusSuccess || s == StatusUnchanged }
					if dr.Run.Status != fr.Run.Status && !(pushed(dr.Run.Status) && pushed(fr.Run.Status)) {
						t.Fatalf("step %d after %v: delta run %s, full run %s (%s)", step, did, dr.Run.Status, fr.Run.Status, dr.Run.Error)
					}
					if a, b := bwOrgState(delta.bw), bwOrgState(full.bw); a != b {
						t.Fatalf("step %d after %v: the organizations differ:\n%s", step, did, diffLines(a, b))
					}
					t.Logf("step %d: %s full=%v usersRead=%d fullPush=%v pushed=%d/%d okta=%d %v", step, dr.Run.Status, dr.Run.Counts.FullRead, dr.Run.Counts.UsersRead, dr.Run.Counts.FullPush, dr.Run.Counts.PushedMembers, dr.Run.Counts.PushedGroups, dr.Run.Counts.DirectoryRequests, did)
					if !dr.Run.Counts.FullRead {
						deltaReads++
					}
					if dr.Run.Status == StatusSuccess && !dr.Run.Counts.FullPush {
						deltaPushes++
					}
					clock.Advance(time.Duration(1+rng.IntN(20)) * time.Minute)
				}
				if deltaReads < 10 || deltaPushes < 10 {
					t.Fatalf("only %d delta reads and %d delta pushes in 35 steps: the test proves little", deltaReads, deltaPushes)
				}
				t.Logf("delta reads %d, delta pushes %d", deltaReads, deltaPushes)
			})
		}
	}
}

// requestsSince returns the fake Okta's request log after mark.
func requestsSince(o *oktatest.Server, mark int) []string { return o.Log()[mark:] }

// TestDeltaRunCosts shows what a scheduled run costs once the caches are
// warm: an unchanged org costs the delta user request and the group list;
// one changed user adds the member pages of its groups, and the push
// sends that member and its groups only.
func TestDeltaRunCosts(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	o := oktatest.New(oktatest.Options{RateLimit: 1_000_000, Now: clock.Now})
	t.Cleanup(o.Close)
	o.SetOrg(oktatest.Generate(oktatest.Spec{Users: 500, Groups: 10, MembersPerGroup: 60, Deprovisioned: 5, Suspended: 5, Seed: 3}))
	sd := newSide(t, o, clock, nil)
	run := func(want string) *Result {
		t.Helper()
		res, err := sd.engine.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerSchedule})
		if err != nil || res.Run.Status != want {
			t.Fatalf("run: status %s (want %s), error %v", res.Run.Status, want, err)
		}
		return res
	}
	cold := run(StatusSuccess)
	if !cold.Run.Counts.FullRead || !cold.Run.Counts.FullPush || cold.Run.Counts.PushedMembers != 500 {
		t.Fatalf("cold run counts %+v", cold.Run.Counts)
	}
	clock.Advance(10 * time.Minute)
	mark := len(o.Log())
	warm := run(StatusUnchanged)
	if got := requestsSince(o, mark); len(got) > 3 || warm.Run.Counts.FullRead {
		t.Fatalf("warm unchanged run: %d Okta requests, want at most 3: %v", len(got), got)
	}
	if reqs := requestsSince(o, mark); len(reqs) != 2 || !strings.Contains(reqs[0]+reqs[1], "filter=lastUpdated%20gt%20%22") {
		t.Fatalf("warm run requests %v, want the delta user request and the group list", reqs)
	}

	// One user changes its email.
	imports := len(sd.bw.Imports())
	org := o.Org()
	var user *oktatest.User
	var groups []string
	for _, u := range org.Users {
		if u.Status != oktatest.StatusActive {
			continue
		}
		groups = groups[:0]
		for _, g := range org.Groups {
			if slices.Contains(g.Members, u.ID) {
				groups = append(groups, g.ID)
			}
		}
		if len(groups) > 0 {
			user = u
			break
		}
	}
	// A change of email in Okta touches the user only; a removal from one
	// group touches that group.
	if err := o.SetUserEmail(user.ID, "renamed@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := o.RemoveMember(groups[0], user.ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	mark = len(o.Log())
	changed := run(StatusSuccess)
	reqs := requestsSince(o, mark)
	if len(reqs) > 3 { // delta users, group list, one member page of the changed group
		t.Fatalf("one changed user: %d Okta requests, want at most 3: %v", len(reqs), reqs)
	}
	if got := len(sd.bw.Imports()) - imports; got != 1 {
		t.Fatalf("%d imports, want 1", got)
	}
	sent := sd.bw.Imports()[imports].Request
	if len(sent.Members) != 1 || sent.Members[0].ExternalID != user.ID || sent.Members[0].Email != "renamed@example.com" {
		t.Fatalf("delta push members %+v, want only %s", sent.Members, user.ID)
	}
	want := slices.Clone(groups)
	slices.Sort(want)
	var got []string
	for _, g := range sent.Groups {
		got = append(got, g.ExternalID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("delta push groups %v, want the user's groups %v", got, want)
	}
	if changed.Run.Counts.FullPush || changed.Run.Counts.PushedMembers != 1 {
		t.Fatalf("counts %+v", changed.Run.Counts)
	}
	t.Logf("one changed user: %d Okta requests, import of %d bytes (the cold import was %d bytes)",
		len(reqs), len(sd.bw.Imports()[imports].Raw), len(sd.bw.Imports()[0].Raw))
	// The stored body still describes the whole state: the next run is
	// unchanged, and "Clear sync cache" sends everything again.
	run(StatusUnchanged)
	if err := sd.engine.ClearCache(context.Background(), store.DefaultProfile); err != nil {
		t.Fatal(err)
	}
	again := run(StatusSuccess)
	if !again.Run.Counts.FullRead || !again.Run.Counts.FullPush || again.Run.Counts.PushedMembers != 500 {
		t.Fatalf("after clearing the cache: counts %+v", again.Run.Counts)
	}
}

// TestDeltaFallsBackToFull shows each case in which a run reads or pushes
// in full although a delta would be possible.
func TestDeltaFallsBackToFull(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	o := oktatest.New(oktatest.Options{RateLimit: 1_000_000, Now: clock.Now})
	t.Cleanup(o.Close)
	o.SetOrg(oktatest.Generate(oktatest.Spec{Users: 50, Groups: 4, MembersPerGroup: 10, Seed: 5}))
	sd := newSide(t, o, clock, nil)
	n := 0
	run := func(opts Options) (*Result, error) {
		// Something changes before every run, so that every run pushes.
		n++
		o.AddUser(oktatest.User{Email: fmt.Sprintf("fallback%d@example.com", n)})
		clock.Advance(10 * time.Minute)
		opts.Trigger = TriggerSchedule
		return sd.engine.Run(context.Background(), store.DefaultProfile, opts)
	}
	expect := func(what string, fullRead, fullPush bool, opts Options) {
		t.Helper()
		res, err := run(opts)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if c := res.Run.Counts; c.FullRead != fullRead || c.FullPush != fullPush {
			t.Fatalf("%s: full read %v, full push %v; want %v, %v", what, c.FullRead, c.FullPush, fullRead, fullPush)
		}
	}
	expect("first run", true, true, Options{})
	expect("warm run", false, false, Options{})

	// A failed read: the next run reads in full.
	o.FailNext("/api/v1/users", 500, 3) // every attempt of one run
	if _, err := run(Options{}); err == nil {
		t.Fatal("the read did not fail")
	}
	res, err := run(Options{})
	if err != nil || res.Run.Counts.UsersRead < 50 {
		t.Fatalf("after a failed read: %d users read (want a full user read), error %v", res.Run.Counts.UsersRead, err)
	}
	expect("after the full user read", false, false, Options{})

	// A failed push: the next push is a full one.
	sd.bw.FailImport(1, 500, "boom")
	if _, err := run(Options{}); err == nil {
		t.Fatal("the push did not fail")
	}
	expect("after a failed push", false, true, Options{})
	expect("after the full push", false, false, Options{})

	// An interrupted push (the process died between start and end).
	if err := sd.store.SetPushPending(context.Background(), store.DefaultProfile, 0, true); err != nil {
		t.Fatal(err)
	}
	expect("after an interrupted push", false, true, Options{})

	// The daily full read.
	clock.Advance(25 * time.Hour)
	expect("a day later", true, true, Options{})
	expect("then", false, false, Options{})

	// Changed settings.
	s, err := sd.store.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	s.Sync.RemoveDisabled = true
	if err := demo.Save(context.Background(), sd.store, store.DefaultProfile, s); err != nil {
		t.Fatal(err)
	}
	res, err = run(Options{})
	if err != nil || res.Run.Counts.UsersRead < 50 || !res.Run.Counts.FullPush {
		t.Fatalf("after a settings change: %d users read, full push %v, error %v", res.Run.Counts.UsersRead, res.Run.Counts.FullPush, err)
	}
	expect("then", false, false, Options{})

	// With overwriteExisting on every run reads the users and pushes in full.
	s.Sync.OverwriteExisting = true
	if err := demo.Save(context.Background(), sd.store, store.DefaultProfile, s); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		res, err := run(Options{})
		if err != nil || res.Run.Counts.UsersRead < 50 || !res.Run.Counts.FullPush {
			t.Fatalf("overwrite run %d: %d users read, full push %v, error %v", i, res.Run.Counts.UsersRead, res.Run.Counts.FullPush, err)
		}
	}
}

// TestDeltaReadMargin: a user whose change carries a time just before the
// last one seen (Okta stamps a write before it becomes visible, and keeps
// only milliseconds) is still read by the next delta.
func TestDeltaReadMargin(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	o := oktatest.New(oktatest.Options{RateLimit: 1_000_000, Now: clock.Now})
	t.Cleanup(o.Close)
	o.SetOrg(oktatest.Generate(oktatest.Spec{Users: 30, Groups: 2, MembersPerGroup: 5, Seed: 9}))
	sd := newSide(t, o, clock, nil)
	if _, err := sd.engine.Run(context.Background(), store.DefaultProfile, Options{}); err != nil {
		t.Fatal(err)
	}
	users := o.Org().Users
	// B's write is stamped first but becomes visible after A's was read.
	clock.Advance(time.Hour)
	stampB := clock.Now()
	clock.Advance(30 * time.Second)
	if err := o.SetUserEmail(users[0].ID, "a-changed@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := sd.engine.Run(context.Background(), store.DefaultProfile, Options{}); err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	clock.Set(stampB)
	if err := o.SetUserEmail(users[1].ID, "b-changed@example.com"); err != nil {
		t.Fatal(err)
	}
	clock.Set(now.Add(time.Minute))
	res, err := sd.engine.Run(context.Background(), store.DefaultProfile, Options{})
	if err != nil || res.Run.Counts.FullRead {
		t.Fatalf("run: %v (full read %v)", err, res.Run.Counts.FullRead)
	}
	body, err := sd.store.LastBody(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := decompressImport(body)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(imp.Members, func(m bitwarden.ImportMember) bool { return m.Email == "b-changed@example.com" }) {
		t.Fatal("the late write is not in the pushed state: the delta read missed it")
	}
}

// TestHeldDeltaPushIsApproved: a delta push held by the deletion guard is
// approved as held (the same delta batches), and the stored state is the
// whole import afterwards.
func TestHeldDeltaPushIsApproved(t *testing.T) {
	clock := &testClock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	o := oktatest.New(oktatest.Options{RateLimit: 1_000_000, Now: clock.Now})
	t.Cleanup(o.Close)
	o.SetOrg(oktatest.Generate(oktatest.Spec{Users: 60, Groups: 3, MembersPerGroup: 10, Seed: 4}))
	sd := newSide(t, o, clock, func(s *config.Settings) { s.Guard.MaxRemovals = 2 })
	ctx := context.Background()
	if _, err := sd.engine.Run(ctx, store.DefaultProfile, Options{}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	var gone []string
	for _, u := range o.Org().Users[:3] {
		if err := o.SetUserStatus(u.ID, oktatest.StatusDeprovisioned); err != nil {
			t.Fatal(err)
		}
		gone = append(gone, u.ID)
	}
	clock.Advance(10 * time.Minute)
	held, err := sd.engine.Run(ctx, store.DefaultProfile, Options{})
	if err != nil || held.Run.Status != StatusHeld || held.Run.Counts.FullPush || held.Run.Counts.PushedMembers != 3 {
		t.Fatalf("run: status %s, counts %+v, error %v; want a held delta push of 3 members", held.Run.Status, held.Run.Counts, err)
	}
	imports := len(sd.bw.Imports())
	res, err := sd.engine.Approve(ctx, store.DefaultProfile, held.Run.ID, "tester")
	if err != nil || res.Run.Status != StatusSuccess {
		t.Fatalf("approve: %v (%s)", err, res.Run.Status)
	}
	sent := sd.bw.Imports()[imports:]
	if len(sent) != 1 || len(sent[0].Request.Members) != 3 {
		t.Fatalf("approval sent %d imports, want the held delta of 3 members", len(sent))
	}
	for _, id := range gone {
		for _, m := range sd.bw.Members() {
			if m.ExternalID == id {
				t.Fatalf("deprovisioned %s is still a member", id)
			}
		}
	}
	clock.Advance(10 * time.Minute)
	if res, err := sd.engine.Run(ctx, store.DefaultProfile, Options{}); err != nil || res.Run.Status != StatusUnchanged {
		t.Fatalf("after the approval: %v (%s), want unchanged", err, res.Run.Status)
	}
}
