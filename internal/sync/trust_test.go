package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// Issue 8: a guard for every kind of loss, and reads that cannot silently
// come up short. Each fault ends with nothing lost in the fake Bitwarden,
// and the first run after the fault clears makes it whole again, with no
// cache clear.

// trustOrg is 300 active users, an "Everyone" group of all of them and
// five smaller groups: 300 + 5×30 = 450 memberships.
func trustOrg() *oktatest.Org {
	org := oktatest.Generate(oktatest.Spec{Users: 300, Groups: 5, MembersPerGroup: 30, Seed: 21})
	all := make([]string, len(org.Users))
	for i, u := range org.Users {
		all[i] = u.ID
	}
	org.Groups = append(org.Groups, &oktatest.Group{ID: "00gEveryone0000000000", Type: oktatest.GroupTypeOkta, Name: "Everyone",
		Created: oktatest.Epoch, LastUpdated: oktatest.Epoch, LastMembershipUpdated: oktatest.Epoch, Members: all})
	return org
}

// bitwardenState is the fake Bitwarden's members (externalId → email)
// and group memberships (group externalId → member externalIds).
func bitwardenState(h *harness) (map[string]string, map[string][]string) {
	members, ext := map[string]string{}, map[string]string{}
	for _, m := range h.bw.Members() {
		members[m.ExternalID] = m.Email
		ext[m.ID] = m.ExternalID
	}
	groups := map[string][]string{}
	for _, g := range h.bw.Groups() {
		var ids []string
		for _, id := range g.MemberIDs {
			ids = append(ids, ext[id])
		}
		slices.Sort(ids)
		groups[g.ExternalID] = ids
	}
	return members, groups
}

// assertWhole checks that Bitwarden holds every live Okta user and every
// group with exactly its Okta members.
func assertWhole(t *testing.T, h *harness) {
	t.Helper()
	members, groups := bitwardenState(h)
	org := h.okta.Org()
	for _, u := range org.Users {
		if _, ok := members[u.ID]; !ok && u.Status == oktatest.StatusActive {
			t.Fatalf("Okta user %s is not in Bitwarden", u.ID)
		}
	}
	for _, g := range org.Groups {
		want := slices.Clone(g.Members)
		slices.Sort(want)
		if got := groups[g.ID]; !slices.Equal(got, want) {
			t.Fatalf("group %s has %d members in Bitwarden, %d in Okta", g.Name, len(got), len(want))
		}
	}
}

// assertUntouched checks that Bitwarden still holds what it held before.
func assertUntouched(t *testing.T, h *harness, imports int, members map[string]string, groups map[string][]string) {
	t.Helper()
	if h.imports() != imports {
		t.Fatalf("%d imports were sent", h.imports()-imports)
	}
	m, g := bitwardenState(h)
	if fmt.Sprint(m) != fmt.Sprint(members) || fmt.Sprint(g) != fmt.Sprint(groups) {
		t.Fatal("Bitwarden changed")
	}
}

func TestFaultyReadsLoseNothing(t *testing.T) {
	everyone := "00gEveryone0000000000"
	for _, tc := range []struct {
		name   string
		faults func(org *oktatest.Org) oktatest.Faults
		// change, when set, changes Everyone's members first, so that
		// the run reads its list instead of taking it from the cache.
		change bool
		// full makes the faulty run a full read (the daily one): a delta
		// read of users never lists them all, so only a full read can
		// end early.
		full bool
		// wantStatus is the faulty run's; wantMsg is in its error.
		wantStatus string
		wantMsg    []string
	}{
		{"the users list ends early", func(*oktatest.Org) oktatest.Faults { return oktatest.Faults{UsersEndAfter: 40} },
			false, true, StatusHeld, []string{"the read shrank: 40 live users read, 300 last time", "would remove", "group memberships in Bitwarden"}},
		{"an empty page with a next link", func(*oktatest.Org) oktatest.Faults { return oktatest.Faults{EmptyFirstPage: true} },
			false, false, StatusUnchanged, nil},
		{"one group's list cut short", func(*oktatest.Org) oktatest.Faults {
			return oktatest.Faults{CutMembers: map[string]int{everyone: -1}, CutMembersTo: 196}
		}, true, false, StatusHeld, []string{`the member list of group "Everyone" (` + everyone + `) came back with 196 members although Okta counts 299`, "approve only if"}},
		{"an endless cursor", func(*oktatest.Org) oktatest.Faults { return oktatest.Faults{EndlessPath: "/api/v1/users"} },
			false, true, StatusFailed, []string{"cursor loop"}},
		{"an endless cursor in a member list", func(*oktatest.Org) oktatest.Faults {
			return oktatest.Faults{EndlessPath: "/api/v1/groups/" + everyone + "/users"}
		}, true, false, StatusFailed, []string{"cursor loop"}},
		{"a 429 with a one-second reset", func(*oktatest.Org) oktatest.Faults {
			return oktatest.Faults{Throttle429Every: 4, Throttle429Reset: time.Second}
		}, false, true, StatusUnchanged, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, trustOrg(), nil)
			h.mustRun(StatusSuccess)
			assertWhole(t, h)
			imports := h.imports()
			members, groups := bitwardenState(h)
			cache, err := h.store.LoadMemberCache(context.Background(), store.DefaultProfile)
			if err != nil {
				t.Fatal(err)
			}

			if tc.change {
				// One person leaves Everyone: a real change, read while
				// the fault is on (the fake's timestamps are recent, so
				// the engine must not keep it out of the cache as unsettled).
				h.engine.CacheSettle = 0
				if err := h.okta.RemoveMember(everyone, h.okta.Org().Users[0].ID); err != nil {
					t.Fatal(err)
				}
			}
			h.okta.SetFaults(tc.faults(h.okta.Org()))
			res, err := h.engine.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, FullRead: tc.full})
			if res.Run.Status != tc.wantStatus {
				t.Fatalf("faulty run: status %s (error %v, %q), want %s", res.Run.Status, err, res.Run.Error, tc.wantStatus)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(res.Run.Error, m) {
					t.Errorf("faulty run's error lacks %q:\n%s", m, res.Run.Error)
				}
			}
			assertUntouched(t, h, imports, members, groups)
			after, err := h.store.LoadMemberCache(context.Background(), store.DefaultProfile)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(after) != fmt.Sprint(cache) {
				t.Fatal("the faulty read changed the membership cache")
			}

			// The fault clears: the next run is whole, with no cache clear.
			h.okta.SetFaults(oktatest.Faults{})
			res, err = h.run(ModeSync)
			if err != nil || (res.Run.Status != StatusUnchanged && res.Run.Status != StatusSuccess) {
				t.Fatalf("run after the fault: %s %v %q", res.Run.Status, err, res.Run.Error)
			}
			assertWhole(t, h)
		})
	}
}

// TestRealShrinkIsHeldThenApproved: people really left; the shrink and
// membership guards hold it, and an approval pushes it.
func TestRealShrinkIsHeldThenApproved(t *testing.T) {
	h := newHarness(t, trustOrg(), nil)
	h.mustRun(StatusSuccess)
	org := h.okta.Org()
	for _, u := range org.Users[:100] {
		if err := h.okta.RemoveUser(u.ID); err != nil {
			t.Fatal(err)
		}
	}
	// The daily full read sees them gone (a delta read cannot see a hard
	// delete).
	held, err := h.engine.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, FullRead: true})
	if err != nil || held.Run.Status != StatusHeld {
		t.Fatalf("run: %v %s", err, held.Run.Status)
	}
	if !strings.Contains(held.Run.Error, "200 live users read, 300 last time (33% fewer") {
		t.Fatalf("held run's error %q", held.Run.Error)
	}
	// The run page lists the memberships per group from the record.
	if d := held.Bitwarden; d == nil || d.Counts.MembershipsRemoved < 100 || len(d.Memberships) == 0 || d.OrgMemberships != 450 {
		t.Fatalf("held run's Bitwarden diff %+v", held.Bitwarden)
	}
	res, err := h.engine.Approve(context.Background(), store.DefaultProfile, held.Run.ID, "alice")
	if err != nil || res.Run.Status != StatusSuccess {
		t.Fatalf("approve: %v %s %q", err, res.Run.Status, res.Run.Error)
	}
	assertWhole(t, h)
	// The approved read is the new baseline: the next run is not held.
	h.mustRun(StatusUnchanged)
}

func TestMembershipGuard(t *testing.T) {
	for _, tc := range []struct {
		name    string
		guard   func(*config.Guard)
		removed int
		want    string
	}{
		{"under 10% of 450", nil, 40, StatusSuccess},
		{"over 10% of 450", nil, 50, StatusHeld},
		{"absolute limit smaller", func(g *config.Guard) { g.MaxMembershipRemovals = 20 }, 25, StatusHeld},
		{"off", func(g *config.Guard) { g.MaxMembershipRemovals, g.MaxMembershipRemovalPercent = 0, 0 }, 150, StatusSuccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, trustOrg(), func(s *config.Settings) {
				s.Guard.MaxShrinkPercent = 0 // this test is about the membership guard
				if tc.guard != nil {
					tc.guard(&s.Guard)
				}
			})
			h.mustRun(StatusSuccess)
			everyone := h.okta.Org().GroupByName("Everyone")
			if err := h.okta.SetMembers(everyone.ID, everyone.Members[tc.removed:]); err != nil {
				t.Fatal(err)
			}
			imports := h.imports()
			res := h.mustRun(tc.want)
			if tc.want == StatusHeld {
				if h.imports() != imports {
					t.Fatal("a held run pushed")
				}
				if !strings.Contains(res.Run.Error, fmt.Sprintf("would remove %d of 450 group memberships in Bitwarden", tc.removed)) {
					t.Fatalf("held run's error %q", res.Run.Error)
				}
				return
			}
			assertWhole(t, h)
		})
	}
}

// TestRunTimeout: a read that hangs (a 429 whose reset is a year ahead)
// fails at sync.timeoutMinutes with nothing pushed, frees the lock and is
// whole on the next run.
func TestRunTimeout(t *testing.T) {
	h := newHarness(t, trustOrg(), nil)
	h.mustRun(StatusSuccess)
	imports := h.imports()
	members, groups := bitwardenState(h)
	h.okta.SetFaults(oktatest.Faults{Throttle429Every: 1, Throttle429Reset: 365 * 24 * time.Hour})
	h.engine.Timeout = 1500 * time.Millisecond
	var finished []string
	h.engine.OnFinish = append(h.engine.OnFinish, func(_ context.Context, r *Result) { finished = append(finished, r.Run.Status) })
	start := time.Now()
	res, err := h.run(ModeSync)
	if err == nil || res.Run.Status != StatusFailed || !strings.Contains(err.Error(), "took longer than 1.5s (sync.timeoutMinutes) and was stopped; nothing was sent") {
		t.Fatalf("run: %s %v", res.Run.Status, err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("the run took %s", el)
	}
	if !slices.Equal(finished, []string{StatusFailed}) {
		t.Fatalf("finish hooks (alerts) saw %v", finished)
	}
	assertUntouched(t, h, imports, members, groups)
	// The lock is free at once: a CLI run can take it.
	l, err := h.store.AcquireRunLock(context.Background(), store.DefaultProfile, "other:1:x", time.Minute)
	if err != nil {
		t.Fatalf("lock after a timed-out run: %v", err)
	}
	_ = l.Release(context.Background())
	h.okta.SetFaults(oktatest.Faults{})
	if _, err := h.run(ModeSync); err != nil {
		t.Fatalf("the run after a timed-out one: %v (locked: %v)", err, errors.Is(err, ErrLocked))
	}
	assertWhole(t, h)
}

// TestApprovalThatFindsNothingToPushSaysSo: the directory went back to what
// Bitwarden has while the run was held; approving pushes nothing and the
// outcome says so instead of "approved and pushed".
func TestApprovalThatFindsNothingToPushSaysSo(t *testing.T) {
	h := guardedHarness(t)
	users := activeUsers(h)[:30]
	h.deprovision(30)
	held := h.mustRun(StatusHeld)
	for _, u := range users {
		if err := h.okta.SetUserStatus(u.ID, oktatest.StatusActive); err != nil {
			t.Fatal(err)
		}
	}
	imports := h.imports()
	res, err := h.engine.Approve(context.Background(), store.DefaultProfile, held.Run.ID, "alice")
	if err != nil || res.Run.Status != StatusUnchanged || h.imports() != imports {
		t.Fatalf("approve: %v %s, %d imports", err, res.Run.Status, h.imports()-imports)
	}
	if got := ApprovalOutcome(held.Run.ID, res); !strings.Contains(got, "was not pushed") || !strings.Contains(got, "nothing was sent") {
		t.Fatalf("outcome %q", got)
	}
	if got := ApprovalOutcome(held.Run.ID, &Result{Run: store.Run{ID: 9, Status: StatusSuccess}}); !strings.Contains(got, "approved: pushed as run 9") {
		t.Fatalf("outcome %q", got)
	}
}

// TestMembershipGuardOnVaultwarden: Vaultwarden lists nothing, so the
// membership guard counts from the last push; emptying Everyone is held.
func TestMembershipGuardOnVaultwarden(t *testing.T) {
	h := newHarness(t, trustOrg(), func(s *config.Settings) { s.Guard.MaxShrinkPercent = 0 })
	useBitwarden(t, h, bwtest.Options{Vaultwarden: true, VaultwardenGroups: true})
	h.mustRun(StatusSuccess)
	if err := h.okta.SetMembers("00gEveryone0000000000", nil); err != nil {
		t.Fatal(err)
	}
	imports := h.imports()
	res := h.mustRun(StatusHeld)
	if h.imports() != imports || !strings.Contains(res.Run.Error, "would remove 300 of 450 group memberships") {
		t.Fatalf("held run: %d imports, error %q", h.imports()-imports, res.Run.Error)
	}
}
