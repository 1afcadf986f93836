package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// TestMembershipCacheEquivalence applies random sequences of directory
// changes to the fake Okta and checks, after each step, that a sync using
// the membership cache (and the user cache) builds exactly the import a
// full read builds — except for users Okta hard-deleted, which a delta
// read cannot see and keeps until the next full read (delta.go explains
// why Bitwarden ends the same; TestDeltaEquivalence checks that).
//
// Every fourth step also makes Okta misbehave for one sync (a member list
// cut short, a member list with an endless cursor, a user list that ends
// early): that sync must be held or fail with nothing sent, and as nothing
// from it may reach the caches, the syncs after it still build exactly
// what a full read builds.
func TestMembershipCacheEquivalence(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			org := oktatest.Generate(oktatest.Spec{Users: 200, Groups: 20, MembersPerGroup: 25, Deprovisioned: 5, Suspended: 5, Seed: int64(seed)})
			// An ample rate-limit budget: this test is about results, not pacing.
			h := newHarnessWith(t, org, func(s *config.Settings) {
				// The random changes may take many people out of groups;
				// this test is about what reaches the caches, not the
				// membership guard. The shrink guard stays on for the user
				// list that ends early (80% fewer).
				s.Guard.MaxMembershipRemovals, s.Guard.MaxMembershipRemovalPercent, s.Guard.MaxShrinkPercent = 0, 0, 50
			}, oktatest.Options{RateLimit: 1_000_000})
			h.engine.CacheSettle = 0 // the fake's timestamps always move: trust the cache fully
			rng := rand.New(rand.NewPCG(seed, 99))
			cachedTotal, readTotal, faults := 0, 0, 0
			for step := range 30 {
				var did []string
				for range 1 + rng.IntN(3) {
					did = append(did, mutate(t, h.okta, rng))
				}
				if step%4 == 3 && faultySync(t, h, rng) {
					faults++
					continue
				}
				res, err := h.run(ModeSync)
				if err != nil {
					t.Fatalf("step %d (%v): sync: %v", step, did, err)
				}
				full, err := h.engine.Run(context.Background(), store.DefaultProfile, Options{Mode: ModeTest, FullRead: true})
				if err != nil {
					t.Fatalf("step %d: full read: %v", step, err)
				}
				if importHash(t, withoutVanished(res.Plan.Import, h.okta.Org())) != full.Plan.Hash {
					t.Fatalf("step %d after %v: the cached sync's import differs from a full read's", step, did)
				}
				cachedTotal += res.Stats.CachedGroups
				readTotal += res.Stats.MemberReads
			}
			if cachedTotal == 0 {
				t.Fatal("the cache was never used: the test proves nothing")
			}
			if faults < 5 {
				t.Fatalf("only %d faulty syncs: the test proves little", faults)
			}
			t.Logf("member lists from the cache: %d, read from Okta: %d; faulty syncs: %d", cachedTotal, readTotal, faults)
		})
	}
}

// withoutVanished drops the members the fake Okta no longer has.
func withoutVanished(imp *bitwarden.ImportRequest, org *oktatest.Org) *bitwarden.ImportRequest {
	out := *imp
	out.Members = nil
	for _, m := range imp.Members {
		if org.User(m.ExternalID) != nil {
			out.Members = append(out.Members, m)
		}
	}
	if out.Members == nil {
		out.Members = []bitwarden.ImportMember{}
	}
	return &out
}

func importHash(t *testing.T, imp *bitwarden.ImportRequest) string {
	t.Helper()
	h := sha256.New()
	if err := writeImport(h, imp); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// mutate makes one random change to the fake org and says what it did.
func mutate(t *testing.T, o *oktatest.Server, rng *rand.Rand) string {
	t.Helper()
	org := o.Org()
	pickUser := func() string { return org.Users[rng.IntN(len(org.Users))].ID }
	if len(org.Groups) == 0 {
		return "add group " + o.AddGroup(oktatest.Group{Name: fmt.Sprintf("New %d", rng.IntN(1e6)), Members: []string{pickUser()}})
	}
	g := org.Groups[rng.IntN(len(org.Groups))]
	var err error
	var what string
	switch rng.IntN(9) {
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
		id := o.AddGroup(oktatest.Group{Name: fmt.Sprintf("New %d", rng.IntN(1e6)), Members: []string{pickUser(), pickUser()}})
		what = "add group " + id
	case 5:
		statuses := []string{"ACTIVE", "SUSPENDED", "DEPROVISIONED"}
		u, st := pickUser(), statuses[rng.IntN(3)]
		err, what = o.SetUserStatus(u, st), "status "+st+" for "+u
	case 6:
		id := o.AddUser(oktatest.User{Email: fmt.Sprintf("new%d@example.com", rng.IntN(1e9))})
		err, what = o.AddMember(g.ID, id), "new user "+id+" in "+g.ID
	case 7:
		u := pickUser()
		err, what = o.RemoveUser(u), "remove user "+u
	case 8:
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

// faultySync runs one sync while Okta misbehaves and checks that it is
// held or fails with nothing sent; false when no fault could be set up.
func faultySync(t *testing.T, h *harness, rng *rand.Rand) bool {
	t.Helper()
	org := h.okta.Org()
	var g *oktatest.Group
	for _, i := range rng.Perm(len(org.Groups)) {
		if len(org.Groups[i].Members) >= 3 {
			g = org.Groups[i]
			break
		}
	}
	if g == nil {
		return false
	}
	var f oktatest.Faults
	full, want := false, StatusHeld
	switch kind := rng.IntN(3); kind {
	case 0, 1:
		// The group changes, so the sync must read its list.
		if err := h.okta.AddMember(g.ID, org.Users[rng.IntN(len(org.Users))].ID); err != nil {
			t.Fatal(err)
		}
		if kind == 0 {
			f = oktatest.Faults{CutMembers: map[string]int{g.ID: -1}, CutMembersTo: 1}
		} else {
			f, want = oktatest.Faults{EndlessPath: "/api/v1/groups/" + g.ID + "/users"}, StatusFailed
		}
	case 2:
		// Only a full read lists every user.
		f, full = oktatest.Faults{UsersEndAfter: 40}, true
	}
	imports := h.imports()
	h.okta.SetFaults(f)
	defer h.okta.SetFaults(oktatest.Faults{})
	res, _ := h.engine.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerSchedule, FullRead: full})
	if res.Run.Status != want || h.imports() != imports {
		t.Fatalf("faulty sync %+v: status %s (%q), %d imports sent; want %s and none", f, res.Run.Status, res.Run.Error, h.imports()-imports, want)
	}
	return true
}
