package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// TestMembershipCacheEquivalence applies random sequences of directory
// changes to the fake Okta and checks, after each step, that a sync using
// the membership cache (and the user cache) builds exactly the import a
// full read builds — except for users Okta hard-deleted, which a delta
// read cannot see and keeps until the next full read (delta.go explains
// why Bitwarden ends the same; TestDeltaEquivalence checks that).
func TestMembershipCacheEquivalence(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			org := oktatest.Generate(oktatest.Spec{Users: 200, Groups: 20, MembersPerGroup: 25, Deprovisioned: 5, Suspended: 5, Seed: int64(seed)})
			// An ample rate-limit budget: this test is about results, not pacing.
			h := newHarnessWith(t, org, nil, oktatest.Options{RateLimit: 1_000_000})
			h.engine.CacheSettle = 0 // the fake's timestamps always move: trust the cache fully
			rng := rand.New(rand.NewPCG(seed, 99))
			cachedTotal, readTotal := 0, 0
			for step := range 30 {
				var did []string
				for range 1 + rng.IntN(3) {
					did = append(did, mutate(t, h.okta, rng))
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
			t.Logf("member lists from the cache: %d, read from Okta: %d", cachedTotal, readTotal)
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
