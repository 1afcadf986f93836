package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// orgState is the fake Bitwarden org at one moment.
type orgState struct {
	members map[string]bwtest.Member // by member id
	groups  map[string]bwtest.Group  // by group id
}

func snapshotOrg(bw *bwtest.Server) orgState {
	s := orgState{members: map[string]bwtest.Member{}, groups: map[string]bwtest.Group{}}
	for _, m := range bw.Members() {
		s.members[m.ID] = m
	}
	for _, g := range bw.Groups() {
		s.groups[g.ID] = g
	}
	return s
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// checkDiffMatchesOrg compares a predicted diff with what the fake org
// looks like after the push.
func checkDiffMatchesOrg(t *testing.T, d *OrgDiff, before, after orgState) {
	t.Helper()
	if d.Truncated {
		t.Fatal("the diff is truncated; the test needs whole lists")
	}
	invited, removed, linked := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for id, m := range after.members {
		o, had := before.members[id]
		switch {
		case !had:
			invited[m.Email] = true
		case o.ExternalID == "" && m.ExternalID != "":
			linked[m.Email+" "+m.ExternalID] = true
		}
	}
	for id, m := range before.members {
		if _, ok := after.members[id]; !ok {
			removed[m.Email] = true
		}
	}
	gotInv, gotRem, gotLink := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, m := range d.Invites {
		gotInv[m.Email] = true
	}
	for _, m := range d.Removals {
		gotRem[m.Email] = true
	}
	for _, m := range d.Links {
		gotLink[m.Email+" "+m.ExternalID] = true
	}
	for _, c := range []struct {
		what      string
		want, got map[string]bool
		count     int
	}{
		{"invites", invited, gotInv, d.Counts.Invites},
		{"removals", removed, gotRem, d.Counts.Removals},
		{"links", linked, gotLink, d.Counts.Links},
	} {
		if !maps.Equal(c.want, c.got) || c.count != len(c.want) {
			t.Errorf("%s: predicted %v (count %d), the org shows %v", c.what, sortedKeys(c.got), c.count, sortedKeys(c.want))
		}
	}
	if d.Counts.Removals != d.Counts.RemovalsDeleted+d.Counts.RemovalsOverwrite {
		t.Errorf("removal counts %+v do not add up", d.Counts)
	}

	// Groups: created, renamed, membership by email.
	email := func(s orgState, id string) string { return s.members[id].Email }
	created, renamed := map[string]bool{}, map[string]bool{}
	wantMembers := map[string]string{} // group ext → "added|removed"
	for id, g := range after.groups {
		o, had := before.groups[id]
		if !had {
			created[g.ExternalID+" "+g.Name] = true
		} else if o.Name != g.Name {
			renamed[g.ExternalID+" "+o.Name+" → "+g.Name] = true
		}
		var added, removed []string
		for _, mid := range g.MemberIDs {
			if !slices.Contains(o.MemberIDs, mid) {
				added = append(added, email(after, mid))
			}
		}
		for _, mid := range o.MemberIDs {
			if !slices.Contains(g.MemberIDs, mid) {
				removed = append(removed, email(before, mid))
			}
		}
		if len(added)+len(removed) > 0 {
			slices.Sort(added)
			slices.Sort(removed)
			wantMembers[g.ExternalID+" "+g.Name] = strings.Join(added, ",") + "|" + strings.Join(removed, ",")
		}
	}
	gotCreated, gotRenamed := map[string]bool{}, map[string]bool{}
	for _, g := range d.GroupsCreated {
		gotCreated[g.ExternalID+" "+g.Name] = true
	}
	for _, g := range d.GroupsRenamed {
		gotRenamed[g.ExternalID+" "+g.From+" → "+g.To] = true
	}
	if !maps.Equal(created, gotCreated) || d.Counts.GroupsCreated != len(created) {
		t.Errorf("groups created: predicted %v, the org shows %v", sortedKeys(gotCreated), sortedKeys(created))
	}
	if !maps.Equal(renamed, gotRenamed) || d.Counts.GroupsRenamed != len(renamed) {
		t.Errorf("groups renamed: predicted %v, the org shows %v", sortedKeys(gotRenamed), sortedKeys(renamed))
	}
	gotMembers := map[string]string{}
	added, removedN := 0, 0
	for _, mc := range d.Memberships {
		gotMembers[mc.ExternalID+" "+mc.Name] = strings.Join(mc.Added, ",") + "|" + strings.Join(mc.Removed, ",")
		added += len(mc.Added)
		removedN += len(mc.Removed)
	}
	if !maps.Equal(wantMembers, gotMembers) {
		for k, v := range wantMembers {
			if gotMembers[k] != v {
				t.Errorf("group %s: org shows %q, predicted %q", k, v, gotMembers[k])
			}
		}
		for k, v := range gotMembers {
			if _, ok := wantMembers[k]; !ok {
				t.Errorf("group %s: predicted %q, the org did not change", k, v)
			}
		}
	}
	if added != d.Counts.MembershipsAdded || removedN != d.Counts.MembershipsRemoved || len(wantMembers) != d.Counts.GroupsChanged {
		t.Errorf("membership counts %+v do not match the lists", d.Counts)
	}
}

// activeUsers returns the fake Okta's ACTIVE users with an email.
func activeUsers(h *harness) []*oktatest.User {
	var out []*oktatest.User
	for _, u := range h.okta.Org().Users {
		if u.Status == oktatest.StatusActive && u.Email != "" {
			out = append(out, u)
		}
	}
	return out
}

func guardOff(s *config.Settings) { s.Guard = config.Guard{} }

func TestOrgDiffMatchesFakeAfterPush(t *testing.T) {
	type scenario struct {
		name string
		org  func() *oktatest.Org
		mod  func(*config.Settings)
		// setup seeds the fake org, may run syncs and change the directory
		// before the checked run.
		setup func(t *testing.T, h *harness)
		// want checks that the scenario exercises what it is about.
		want func(t *testing.T, d *OrgDiff)
	}
	okta := func(n, groups, per int) func() *oktatest.Org {
		return func() *oktatest.Org {
			return oktatest.Generate(oktatest.Spec{Users: n, Groups: groups, MembersPerGroup: per, Deprovisioned: 3, Suspended: 2, Seed: int64(n)})
		}
	}
	cases := []scenario{
		{
			name: "first sync invites and creates groups, owner kept",
			org:  okta(40, 4, 10),
			setup: func(t *testing.T, h *harness) {
				h.bw.AddMember("owner@corp.example", "", bwtest.Owner)
			},
			want: func(t *testing.T, d *OrgDiff) {
				if d.Counts.Invites != 37 || d.Counts.GroupsCreated != 4 || d.Counts.Removals != 0 {
					t.Errorf("counts %+v, want 37 invites, 4 groups created", d.Counts)
				}
				if d.Counts.Ignored == 0 {
					t.Error("deprovisioned group members should be listed as ignored")
				}
			},
		},
		{
			name: "links by email and emails taken by another externalId",
			org:  okta(30, 3, 8),
			setup: func(t *testing.T, h *harness) {
				users := h.okta.Org().Users
				// Members invited by hand: linked by email (case differs).
				h.bw.AddMember(strings.ToUpper(users[10].Email), "", bwtest.User)
				h.bw.AddMember(users[11].Email, "", bwtest.Admin)
				// A member synced from elsewhere holds user 12's email.
				h.bw.AddMember(users[12].Email, "other-directory-id", bwtest.User)
				// Put the hand-invited member in a group already synced.
				g := h.okta.Org().Groups[0]
				h.bw.AddGroup("Old name", g.ID)
			},
			want: func(t *testing.T, d *OrgDiff) {
				if d.Counts.Links != 2 || d.Counts.EmailTaken != 1 || d.Counts.GroupsRenamed != 1 {
					t.Errorf("counts %+v, want 2 links, 1 email taken, 1 rename", d.Counts)
				}
			},
		},
		{
			name: "deleted users are removed, owners kept",
			org:  okta(40, 4, 15),
			mod:  func(s *config.Settings) { guardOff(s); s.Sync.RemoveDisabled = true },
			setup: func(t *testing.T, h *harness) {
				h.mustRun(StatusSuccess)
				active := activeUsers(h)
				for _, u := range active[:4] {
					if err := h.okta.SetUserStatus(u.ID, oktatest.StatusDeprovisioned); err != nil {
						t.Fatal(err)
					}
				}
				if err := h.okta.SetUserStatus(active[4].ID, oktatest.StatusSuspended); err != nil {
					t.Fatal(err)
				}
				// An owner synced from Okta who leaves is kept.
				h.bw.AddMember("boss@corp.example", "00uboss", bwtest.Owner)
				h.okta.AddUser(oktatest.User{ID: "00uboss", Email: "boss@corp.example", Status: oktatest.StatusDeprovisioned})
			},
			want: func(t *testing.T, d *OrgDiff) {
				if d.Counts.RemovalsDeleted != 5 || d.Counts.Invites != 0 || d.Counts.OwnersKept != 1 {
					t.Errorf("counts %+v, want 5 deleted removals and an owner kept", d.Counts)
				}
				if d.Counts.MembershipsRemoved == 0 {
					t.Error("removed members should leave their groups")
				}
			},
		},
		{
			name: "overwrite removes synced members missing from the import, not owners",
			org:  okta(30, 3, 8),
			mod:  func(s *config.Settings) { guardOff(s); s.Sync.OverwriteExisting = true },
			setup: func(t *testing.T, h *harness) {
				h.mustRun(StatusSuccess)
				h.bw.AcceptAll()
				h.bw.AddMember("gone1@corp.example", "00ugone1", bwtest.User)
				h.bw.AddMember("gone2@corp.example", "00ugone2", bwtest.Admin)
				h.bw.AddMember("ownerext@corp.example", "00uowner", bwtest.Owner)
				h.bw.AddMember("manual@corp.example", "", bwtest.User) // no externalId: kept
				users := h.okta.Org().Users
				if err := h.okta.RemoveUser(users[15].ID); err != nil {
					t.Fatal(err)
				}
			},
			want: func(t *testing.T, d *OrgDiff) {
				if d.Counts.RemovalsOverwrite != 3 || d.Counts.OwnersKept != 1 {
					t.Errorf("counts %+v, want 3 overwrite removals and 1 owner kept", d.Counts)
				}
			},
		},
		{
			name: "group renames and membership changes",
			org:  okta(40, 5, 10),
			setup: func(t *testing.T, h *harness) {
				h.mustRun(StatusSuccess)
				org := h.okta.Org()
				g0, g1 := org.Groups[0], org.Groups[1]
				if err := h.okta.RenameGroup(g0.ID, "Renamed zero"); err != nil {
					t.Fatal(err)
				}
				if err := h.okta.RemoveMember(g1.ID, g1.Members[0]); err != nil {
					t.Fatal(err)
				}
				for _, u := range org.Users[30:34] {
					if !slices.Contains(g1.Members, u.ID) {
						if err := h.okta.AddMember(g1.ID, u.ID); err != nil {
							t.Fatal(err)
						}
					}
				}
				h.okta.AddGroup(oktatest.Group{Name: "Brand new", Type: oktatest.GroupTypeOkta, Members: []string{org.Users[7].ID}})
			},
			want: func(t *testing.T, d *OrgDiff) {
				if d.Counts.GroupsRenamed != 1 || d.Counts.GroupsCreated != 1 || d.Counts.MembershipsAdded < 2 || d.Counts.MembershipsRemoved < 1 {
					t.Errorf("counts %+v, want a rename, a new group, memberships added and removed", d.Counts)
				}
			},
		},
		{
			name: "large import in batches",
			org: func() *oktatest.Org {
				return oktatest.Generate(oktatest.Spec{Users: 2100, Groups: 3, MembersPerGroup: 40, Deprovisioned: 2, Seed: 3})
			},
			mod: func(s *config.Settings) { s.Sync.LargeImport = true },
			setup: func(t *testing.T, h *harness) {
				users := h.okta.Org().Users
				h.bw.AddMember(users[2050].Email, "", bwtest.User) // linked in the second batch
			},
			want: func(t *testing.T, d *OrgDiff) {
				if d.Counts.Invites != 2097 || d.Counts.Links != 1 || d.Counts.GroupsCreated != 3 {
					t.Errorf("counts %+v, want 2097 invites, 1 link, 3 groups", d.Counts)
				}
			},
		},
	}
	defer func(n, g, i int) { maxListed, maxGroupsListed, maxIDsListed = n, g, i }(maxListed, maxGroupsListed, maxIDsListed)
	maxListed, maxGroupsListed, maxIDsListed = 1<<20, 1<<20, 1<<20
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.org(), tc.mod)
			tc.setup(t, h)
			before := snapshotOrg(h.bw)
			n := h.imports()
			res := h.mustRun(StatusSuccess)
			if h.imports() == n {
				t.Fatal("nothing was pushed")
			}
			after := snapshotOrg(h.bw)
			d := res.Bitwarden
			if d == nil {
				t.Fatalf("no Bitwarden diff (error %q)", res.BitwardenError)
			}
			if len(d.Problems) > 0 {
				t.Fatalf("problems: %v", d.Problems)
			}
			checkDiffMatchesOrg(t, d, before, after)
			tc.want(t, d)
			// The run record keeps it, and its counts.
			run, err := h.store.GetRun(context.Background(), res.Run.ID)
			if err != nil {
				t.Fatal(err)
			}
			var ch Changes
			if err := jsonUnmarshal(run.Changes, &ch); err != nil || ch.Bitwarden == nil {
				t.Fatalf("run record has no Bitwarden diff: %v", err)
			}
			if ch.Bitwarden.Counts != d.Counts || run.Counts.Invites != d.Counts.Invites || run.Counts.Removals != d.Counts.Removals {
				t.Errorf("run record counts %+v / %+v, want %+v", ch.Bitwarden.Counts, run.Counts, d.Counts)
			}
		})
	}
}

func TestPreviewShowsBitwardenDiff(t *testing.T) {
	h := newHarness(t, smallOrg(), nil)
	h.bw.AddMember("owner@corp.example", "", bwtest.Owner)
	res, err := h.run(ModeTest)
	if err != nil {
		t.Fatal(err)
	}
	if res.Bitwarden == nil || res.Bitwarden.Counts.Invites != res.Run.Counts.Members || res.Bitwarden.OrgMembers != 1 {
		t.Fatalf("preview diff %+v (error %q), want %d invites over 1 org member", res.Bitwarden, res.BitwardenError, res.Run.Counts.Members)
	}
	if h.imports() != 0 {
		t.Fatal("a preview pushed")
	}

	// Bitwarden refusing the listing: the preview still comes back.
	h.bw.FailAuth(2)
	res, err = h.run(ModeTest)
	if err != nil {
		t.Fatalf("preview failed: %v", err)
	}
	if res.Bitwarden != nil || !strings.Contains(res.BitwardenError, "401") || res.Plan == nil {
		t.Fatalf("diff %v, error %q: want no diff, a 401 error and the plan", res.Bitwarden, res.BitwardenError)
	}
}

func TestUnreadableOrgFailsTheSync(t *testing.T) {
	h := newHarness(t, smallOrg(), nil)
	h.bw.FailAuth(2)
	res, err := h.run(ModeSync)
	if err == nil || res.Run.Status != StatusFailed || !strings.Contains(res.Run.Error, "could not read the Bitwarden organization") {
		t.Fatalf("status %q error %v, want failed for the unreadable org", res.Run.Status, err)
	}
	if h.imports() != 0 {
		t.Fatal("pushed without reading the org")
	}
	st, _ := h.store.GetSyncState(context.Background(), store.DefaultProfile)
	if st.Hash != "" {
		t.Fatal("hash stored for a failed run")
	}
}

func TestPredictOrgDiffProblems(t *testing.T) {
	d := PredictOrgDiff(
		[]bwMember{{ID: "a", Email: "a@x", ExternalID: "e1"}, {ID: "b", Email: "b@x", ExternalID: "e1"}},
		nil,
		[]*bwImport{{Members: []bwImportMember{{Email: "c@x", ExternalID: "e3"}}}},
	)
	if len(d.Problems) != 1 || d.Counts.Invites != 0 {
		t.Fatalf("problems %v counts %+v, want the duplicate externalId reported and nothing applied", d.Problems, d.Counts)
	}
	if d.SyncedMembers != 2 || d.OrgMembers != 2 {
		t.Fatalf("synced %d of %d", d.SyncedMembers, d.OrgMembers)
	}
	_ = fmt.Sprint
}

type (
	bwMember       = bitwarden.Member
	bwImport       = bitwarden.ImportRequest
	bwImportMember = bitwarden.ImportMember
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
