package sync

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
)

func settings(mod func(*config.Sync)) config.Settings {
	s := config.Defaults()
	if mod != nil {
		mod(&s.Sync)
	}
	return s
}

func u(id, email, status string) directory.User {
	return directory.User{ID: id, Email: email, Status: status, Deleted: status == "DEPROVISIONED", Disabled: status == "SUSPENDED"}
}

func g(id, name string, members ...string) directory.Group {
	return directory.Group{ID: id, Name: name, MemberIDs: members}
}

func mustPlan(t *testing.T, snap *directory.Snapshot, s config.Settings) *Plan {
	t.Helper()
	p, err := BuildPlan(snap, s)
	if err != nil {
		t.Fatalf("BuildPlan: %v", err)
	}
	return p
}

func memberFlags(p *Plan) map[string]string {
	out := map[string]string{}
	for _, m := range p.Import.Members {
		out[m.ExternalID] = fmt.Sprintf("%s deleted=%v", m.Email, m.Deleted)
	}
	return out
}

func TestPlanStatusRules(t *testing.T) {
	snap := &directory.Snapshot{Users: []directory.User{
		u("u1", "a@x.com", "ACTIVE"), u("u2", "b@x.com", "SUSPENDED"), u("u3", "c@x.com", "DEPROVISIONED"),
		u("u4", "d@x.com", "PROVISIONED"), u("u5", "e@x.com", "LOCKED_OUT"), u("u6", "f@x.com", "PASSWORD_EXPIRED"),
	}}
	for _, removeDisabled := range []bool{false, true} {
		p := mustPlan(t, snap, settings(func(s *config.Sync) { s.RemoveDisabled = removeDisabled; s.Groups = false }))
		got := memberFlags(p)
		want := map[string]string{
			"u1": "a@x.com deleted=false", "u2": fmt.Sprintf("b@x.com deleted=%v", removeDisabled), "u3": "c@x.com deleted=true",
			"u4": "d@x.com deleted=false", "u5": "e@x.com deleted=false", "u6": "f@x.com deleted=false",
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("removeDisabled=%v: members %v, want %v", removeDisabled, got, want)
		}
		if p.Counts.Disabled != 1 {
			t.Errorf("disabled count %d, want 1", p.Counts.Disabled)
		}
	}
}

func TestPlanDropsBadEmailsAndCutsNames(t *testing.T) {
	long := strings.Repeat("x", 251) + "@x.com" // 257 characters
	longName := strings.Repeat("é", 120)
	snap := &directory.Snapshot{
		Users:  []directory.User{u("u1", "", "ACTIVE"), u("u2", long, "ACTIVE"), u("u3", "ok@x.com", "ACTIVE")},
		Groups: []directory.Group{g("g1", longName, "u1", "u2", "u3"), g("g2", strings.Repeat("😀", 60), "u3")},
	}
	p := mustPlan(t, snap, settings(nil))
	if len(p.Import.Members) != 1 || p.Import.Members[0].ExternalID != "u3" {
		t.Fatalf("members %+v, want only u3", p.Import.Members)
	}
	if p.Counts.Dropped != 2 {
		t.Errorf("dropped %d, want 2", p.Counts.Dropped)
	}
	if n := len([]rune(p.Import.Groups[0].Name)); n != 100 {
		t.Errorf("group name cut to %d runes, want 100", n)
	}
	// Emoji take two UTF-16 units each: 50 fit in Bitwarden's 100.
	if n := len([]rune(p.Import.Groups[1].Name)); n != 50 {
		t.Errorf("emoji group name cut to %d runes, want 50", n)
	}
	if got := p.Import.Groups[0].MemberExternalIDs; len(got) != 1 || got[0] != "u3" {
		t.Errorf("group members %v, want [u3] (dropped users are not listed)", got)
	}
	joined := strings.Join(p.Warnings, "\n")
	for _, want := range []string{"user u1 (ACTIVE) left out: no email", "user u2 left out: email longer than 256", "group g1: name cut", "group g2: name cut"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q lack %q", joined, want)
		}
	}
}

func TestPlanDuplicateEmails(t *testing.T) {
	live := u("u1", "a@x.com", "ACTIVE")
	dead := u("u9", "a@x.com", "DEPROVISIONED")
	// A re-created account: the deleted twin is sent as deleted (Bitwarden
	// removes the old member by externalId), in either order.
	var first string
	for _, order := range [][]directory.User{{live, dead}, {dead, live}} {
		p := mustPlan(t, &directory.Snapshot{Users: order}, settings(func(s *config.Sync) { s.Groups = false }))
		want := []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "u1"}, {Email: "a@x.com", ExternalID: "u9", Deleted: true}}
		if !slices.Equal(p.Import.Members, want) {
			t.Errorf("order %s,%s: members %+v, want %+v", order[0].ID, order[1].ID, p.Import.Members, want)
		}
		if first == "" {
			first = p.Hash
		} else if p.Hash != first {
			t.Error("the hash depends on Okta's order")
		}
		if !strings.Contains(strings.Join(p.Warnings, "\n"), "re-created account") {
			t.Errorf("warnings %q do not name the re-created account", p.Warnings)
		}
	}
	// With removeDisabled, a suspended twin counts as deleted too.
	susp := u("u5", "a@x.com", "SUSPENDED")
	p := mustPlan(t, &directory.Snapshot{Users: []directory.User{susp, live}}, settings(func(s *config.Sync) { s.Groups = false; s.RemoveDisabled = true }))
	if len(p.Import.Members) != 2 || p.Import.Members[0].ExternalID != "u1" || !p.Import.Members[1].Deleted {
		t.Errorf("suspended twin: members %+v", p.Import.Members)
	}
	// Two deleted twins are both fine for Bitwarden.
	p = mustPlan(t, &directory.Snapshot{Users: []directory.User{dead, u("u8", "a@x.com", "DEPROVISIONED")}}, settings(func(s *config.Sync) { s.Groups = false }))
	if len(p.Import.Members) != 2 {
		t.Errorf("deleted twins: members %+v, want both", p.Import.Members)
	}
	// Live twins stop the run, naming the email and the ids.
	_, err := BuildPlan(&directory.Snapshot{Users: []directory.User{live, u("u2", "A@x.com", "ACTIVE"), susp}}, settings(nil))
	var pe *PlanError
	if !errors.As(err, &pe) {
		t.Fatalf("live twins: err %v, want a PlanError", err)
	}
	for _, want := range []string{"a@x.com", "u1", "u2", "u5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestPlanIsOrderIndependent(t *testing.T) {
	var users []directory.User
	for i := range 300 {
		users = append(users, u(fmt.Sprintf("00u%04d", i), fmt.Sprintf("user%d@x.com", i), "ACTIVE"))
	}
	var groups []directory.Group
	for i := range 20 {
		var m []string
		for j := i; j < 300; j += 7 {
			m = append(m, users[j].ID)
		}
		groups = append(groups, g(fmt.Sprintf("00g%03d", i), fmt.Sprintf("Group %d", i), m...))
	}
	base := mustPlan(t, &directory.Snapshot{Users: users, Groups: groups}, settings(nil))
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		us := append([]directory.User(nil), users...)
		gs := make([]directory.Group, len(groups))
		for i, gr := range groups {
			gr.MemberIDs = append([]string(nil), gr.MemberIDs...)
			rng.Shuffle(len(gr.MemberIDs), func(a, b int) { gr.MemberIDs[a], gr.MemberIDs[b] = gr.MemberIDs[b], gr.MemberIDs[a] })
			gs[i] = gr
		}
		rng.Shuffle(len(us), func(a, b int) { us[a], us[b] = us[b], us[a] })
		rng.Shuffle(len(gs), func(a, b int) { gs[a], gs[b] = gs[b], gs[a] })
		p := mustPlan(t, &directory.Snapshot{Users: us, Groups: gs}, settings(nil))
		if p.Hash != base.Hash {
			t.Fatalf("hash changed with read order: %s vs %s", p.Hash, base.Hash)
		}
	}
}

func TestPlanJSONHasNoNulls(t *testing.T) {
	for name, s := range map[string]config.Settings{
		"users only":  settings(func(s *config.Sync) { s.Groups = false }),
		"groups only": settings(func(s *config.Sync) { s.Users = false }),
		"both":        settings(nil),
	} {
		snap := &directory.Snapshot{Users: []directory.User{u("u1", "a@x.com", "ACTIVE")}, Groups: []directory.Group{g("g1", "Empty")}}
		p := mustPlan(t, snap, s)
		body, _ := json.Marshal(p.Import)
		if strings.Contains(string(body), "null") {
			t.Errorf("%s: body has a null: %s", name, body)
		}
		for _, key := range []string{`"members":[`, `"groups":[`, `"overwriteExisting":false`, `"largeImport":false`} {
			if !strings.Contains(string(body), key) {
				t.Errorf("%s: body %s lacks %s", name, body, key)
			}
		}
		if !s.Sync.Groups && len(p.Import.Groups) != 0 || !s.Sync.Users && len(p.Import.Members) != 0 {
			t.Errorf("%s: import %s sends what is turned off", name, body)
		}
	}
}

func TestPlanGroupsOnlyKeepsAllMemberIDs(t *testing.T) {
	snap := &directory.Snapshot{Groups: []directory.Group{g("g1", "Eng", "u2", "u1")}}
	p := mustPlan(t, snap, settings(func(s *config.Sync) { s.Users = false }))
	if got := p.Import.Groups[0].MemberExternalIDs; fmt.Sprint(got) != "[u1 u2]" {
		t.Errorf("members %v, want sorted [u1 u2]", got)
	}
}

func TestPlanGroupSetNarrowsUsers(t *testing.T) {
	snap := &directory.Snapshot{
		Users: []directory.User{
			u("u1", "in@x.com", "ACTIVE"), u("u2", "out@x.com", "ACTIVE"),
			u("u3", "gone@x.com", "DEPROVISIONED"), u("u4", "susp@x.com", "SUSPENDED"),
		},
		Groups: []directory.Group{g("g1", "Engineering", "u1"), g("g2", "Sales", "u2")},
	}
	p := mustPlan(t, snap, settings(func(s *config.Sync) { s.GroupFilter = "include:engineering" }))
	if got := fmt.Sprint(memberFlags(p)); got != "map[u1:in@x.com deleted=false u3:gone@x.com deleted=true]" {
		t.Errorf("members %s", got)
	}
	p = mustPlan(t, snap, settings(func(s *config.Sync) { s.GroupFilter = "include:engineering"; s.RemoveDisabled = true }))
	if _, ok := memberFlags(p)["u4"]; !ok {
		t.Errorf("a suspended user with removeDisabled must be kept (as deleted): %v", memberFlags(p))
	}
	// A native group filter alone does not narrow users.
	p = mustPlan(t, snap, settings(func(s *config.Sync) { s.GroupFilter = `|type eq "OKTA_GROUP"` }))
	if len(p.Import.Members) != 4 {
		t.Errorf("native-only group filter narrowed users: %v", memberFlags(p))
	}
	// The user set applies to emails.
	p = mustPlan(t, snap, settings(func(s *config.Sync) { s.UserFilter = "exclude:OUT@x.com" }))
	if _, ok := memberFlags(p)["u2"]; ok || len(p.Import.Members) != 3 {
		t.Errorf("exclude filter: %v", memberFlags(p))
	}
	if got := p.Import.Groups[1].MemberExternalIDs; len(got) != 0 {
		t.Errorf("an excluded user stays in group Sales: %v", got)
	}
}

func TestPlanEmptyResult(t *testing.T) {
	p := mustPlan(t, &directory.Snapshot{}, settings(nil))
	if !p.SkipPush || len(p.Batches) != 0 {
		t.Errorf("empty result without overwrite: SkipPush=%v batches=%d, want nothing sent", p.SkipPush, len(p.Batches))
	}
	p = mustPlan(t, &directory.Snapshot{}, settings(func(s *config.Sync) { s.OverwriteExisting = true }))
	if p.SkipPush || len(p.Batches) != 1 || !p.Batches[0].OverwriteExisting {
		t.Errorf("empty result with overwrite: SkipPush=%v batches=%d, want one empty overwrite import", p.SkipPush, len(p.Batches))
	}
}

func bigSnapshot(users, groups int) *directory.Snapshot {
	snap := &directory.Snapshot{}
	for i := range users {
		snap.Users = append(snap.Users, u(fmt.Sprintf("00u%06d", i), fmt.Sprintf("u%d@x.com", i), "ACTIVE"))
	}
	for i := range groups {
		snap.Groups = append(snap.Groups, g(fmt.Sprintf("00g%06d", i), fmt.Sprintf("G%d", i), snap.Users[i%users].ID))
	}
	return snap
}

func TestPlanLargeImport(t *testing.T) {
	snap := bigSnapshot(4500, 2100)
	_, err := BuildPlan(snap, settings(nil))
	if err == nil || !strings.Contains(err.Error(), "large import") || !strings.Contains(err.Error(), "4500 members") {
		t.Fatalf("over 2000 without largeImport: err %v", err)
	}
	// Deleted members do not count toward the limit.
	small := bigSnapshot(2100, 1)
	for i := range 200 {
		small.Users[i] = u(small.Users[i].ID, small.Users[i].Email, "DEPROVISIONED")
	}
	if _, err := BuildPlan(small, settings(nil)); err != nil {
		t.Errorf("1900 live + 200 deleted refused: %v", err)
	}

	for _, overwrite := range []bool{false, true} {
		p := mustPlan(t, snap, settings(func(s *config.Sync) { s.LargeImport = true; s.OverwriteExisting = overwrite }))
		overwrites, members, groups := 0, 0, 0
		for i, b := range p.Batches {
			if !b.LargeImport {
				t.Errorf("batch %d lacks largeImport", i)
			}
			if b.OverwriteExisting {
				overwrites++
				if len(b.Members) != 4500 {
					t.Errorf("the overwrite batch lists %d members, want all 4500", len(b.Members))
				}
			}
			if len(b.Groups) > MaxBatch || (!b.OverwriteExisting && len(b.Members) > MaxBatch) {
				t.Errorf("batch %d too big: %d members %d groups", i, len(b.Members), len(b.Groups))
			}
			if b.Members == nil || b.Groups == nil {
				t.Errorf("batch %d has a nil array", i)
			}
			members += len(b.Members)
			groups += len(b.Groups)
		}
		wantOverwrites := 0
		if overwrite {
			wantOverwrites = 1
		}
		if overwrites != wantOverwrites {
			t.Errorf("overwrite=%v: %d batches carry overwriteExisting, want %d", overwrite, overwrites, wantOverwrites)
		}
		if members != 4500 || groups != 2100 {
			t.Errorf("overwrite=%v: batches carry %d members and %d groups, want 4500 and 2100", overwrite, members, groups)
		}
		if !overwrite && len(p.Batches) != 5 { // 3 member batches + 2 group batches
			t.Errorf("batches %d, want 5", len(p.Batches))
		}
		// Members are sent before the groups that list them.
		seenGroups := false
		for _, b := range p.Batches {
			if len(b.Groups) > 0 {
				seenGroups = true
			} else if seenGroups && len(b.Members) > 0 {
				t.Errorf("a member batch follows a group batch")
			}
		}
	}
}

// TestDiffTombstone: a deleted account that lost its email (an AD
// tombstone) is listed as deleted under the email pushed before, with no
// email change.
func TestDiffTombstone(t *testing.T) {
	s := settings(nil)
	prev := mustPlan(t, &directory.Snapshot{Users: []directory.User{u("u1", "a@x.com", "ACTIVE"), u("u2", "b@x.com", "ACTIVE")}}, s)
	gone := u("u2", "", "DELETED")
	gone.Deleted = true
	next := mustPlan(t, &directory.Snapshot{Users: []directory.User{u("u1", "a@x.com", "ACTIVE"), gone}}, s)
	c := Diff(prev.Import, next.Import)
	if c.Counts.EmailsChanged != 0 || c.Counts.MembersDeleted != 1 || c.MembersDeleted[0].Email != "b@x.com" {
		t.Errorf("changes %+v", c)
	}
}

func TestDiff(t *testing.T) {
	s := settings(nil)
	prev := mustPlan(t, &directory.Snapshot{
		Users:  []directory.User{u("u1", "a@x.com", "ACTIVE"), u("u2", "b@x.com", "ACTIVE"), u("u3", "c@x.com", "ACTIVE")},
		Groups: []directory.Group{g("g1", "Eng", "u1", "u2"), g("g2", "Old", "u3")},
	}, s)
	next := mustPlan(t, &directory.Snapshot{
		Users:  []directory.User{u("u1", "a2@x.com", "ACTIVE"), u("u2", "b@x.com", "DEPROVISIONED"), u("u4", "d@x.com", "ACTIVE")},
		Groups: []directory.Group{g("g1", "Engineering", "u1", "u4"), g("g3", "New")},
	}, s)
	c := Diff(prev.Import, next.Import)
	got, _ := json.Marshal(c.Counts)
	want := `{"membersAdded":1,"membersRemoved":1,"membersDeleted":1,"membersRestored":0,"emailsChanged":1,"groupsAdded":1,"groupsRemoved":1,"groupsRenamed":1,"groupsChanged":1,"membershipsAdded":1,"membershipsRemoved":1}`
	if string(got) != want {
		t.Errorf("counts\n got %s\nwant %s", got, want)
	}
	if c.MembersAdded[0].ExternalID != "u4" || c.MembersRemoved[0].ExternalID != "u3" || c.MembersDeleted[0].ExternalID != "u2" {
		t.Errorf("lists: %+v", c)
	}
	mc := c.MembershipChanges[0]
	if mc.ExternalID != "g1" || fmt.Sprint(mc.Added) != "[u4]" || fmt.Sprint(mc.Removed) != "[u2]" {
		t.Errorf("membership change %+v", mc)
	}
	if c.First || c.Empty() {
		t.Errorf("First=%v Empty=%v", c.First, c.Empty())
	}
	if same := Diff(next.Import, next.Import); !same.Empty() {
		t.Errorf("diff of an import with itself: %+v", same.Counts)
	}
	if first := Diff(nil, next.Import); !first.First || first.Counts.MembersAdded != 2 || first.Counts.MembersDeleted != 1 {
		t.Errorf("first diff: %+v", first.Counts)
	}
}

// BenchmarkInProcess100k measures a 100,000-user, 2,000-group,
// 500,000-membership sync's work between the Okta read and the push:
// filter, dedupe, sort and hash (BuildPlan), the diff against the previous
// import, and the prediction of what the import does to an organization
// that already holds every member and group.
func BenchmarkInProcess100k(b *testing.B) {
	snap := &directory.Snapshot{}
	for i := range 100_000 {
		snap.Users = append(snap.Users, u(fmt.Sprintf("00u%017d", i), fmt.Sprintf("user%d@example.com", i), "ACTIVE"))
	}
	for i := range 2000 {
		var m []string
		for j := range 250 {
			m = append(m, snap.Users[(i*37+j*401)%100_000].ID)
		}
		snap.Groups = append(snap.Groups, g(fmt.Sprintf("00g%017d", i), fmt.Sprintf("Group %d", i), m...))
	}
	s := settings(func(s *config.Sync) { s.LargeImport = true })
	prev := mustPlanB(b, snap, s)
	var members []bitwarden.Member
	byExt := map[string]string{}
	for i, m := range prev.Import.Members {
		id := fmt.Sprintf("om-%d", i)
		members = append(members, bitwarden.Member{ID: id, Email: m.Email, ExternalID: m.ExternalID, Type: bitwarden.MemberTypeUser})
		byExt[m.ExternalID] = id
	}
	var groups []bitwarden.Group
	for i, gr := range prev.Import.Groups {
		var ids []string
		for _, ext := range gr.MemberExternalIDs {
			ids = append(ids, byExt[ext])
		}
		groups = append(groups, bitwarden.Group{ID: fmt.Sprintf("og-%d", i), Name: gr.Name, ExternalID: gr.ExternalID, MemberIDs: ids})
	}
	// One user leaves, one group is renamed: a typical run's changes.
	snap.Users[500].Status, snap.Users[500].Deleted = "DEPROVISIONED", true
	snap.Groups[7].Name = "Renamed"
	b.ReportAllocs()
	for b.Loop() {
		p, err := BuildPlan(snap, s)
		if err != nil {
			b.Fatal(err)
		}
		_ = Diff(prev.Import, p.Import)
		d := PredictOrgDiff(members, groups, p.Batches)
		if d.Counts.Removals != 1 || d.Counts.GroupsRenamed != 1 {
			b.Fatalf("prediction %+v", d.Counts)
		}
	}
}

func mustPlanB(b *testing.B, snap *directory.Snapshot, s config.Settings) *Plan {
	p, err := BuildPlan(snap, s)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// TestRunRecordStaysSmall checks that a first sync of a big org keeps its
// run record's changes near a megabyte: the lists are capped, the counts
// are complete.
func TestRunRecordStaysSmall(t *testing.T) {
	snap := bigSnapshot(20000, 1)
	for i := range 400 {
		var m []string
		for j := range 500 {
			m = append(m, snap.Users[(i*500+j)%20000].ID)
		}
		snap.Groups = append(snap.Groups, g(fmt.Sprintf("00gbig%05d", i), fmt.Sprintf("Big %d", i), m...))
	}
	p := mustPlan(t, snap, settings(func(s *config.Sync) { s.LargeImport = true }))
	c := Diff(nil, p.Import)
	body, _ := json.Marshal(c)
	if len(body) > 2<<20 {
		t.Errorf("changes of a first sync take %d bytes", len(body))
	}
	if c.Counts.MembershipsAdded != 200001 || !c.Truncated {
		t.Errorf("counts %+v truncated %v", c.Counts, c.Truncated)
	}
}

// TestPlanKeepsDeletedUsersWithoutEmail: a deleted account without an
// email (an AD tombstone) is still sent, as deleted with email null, so
// Bitwarden removes it by externalId (BDC keeps it too); a live one
// without an email is left out.
func TestPlanKeepsDeletedUsersWithoutEmail(t *testing.T) {
	gone := u("u1", "", "DELETED")
	gone.Deleted = true
	other := u("u3", "", "DELETED")
	other.Deleted = true
	snap := &directory.Snapshot{Users: []directory.User{gone, u("u2", "", "ACTIVE"), other, u("u4", "ok@x.com", "ACTIVE")}}
	p := mustPlan(t, snap, settings(nil))
	var got []string
	for _, m := range p.Import.Members {
		got = append(got, fmt.Sprintf("%s %q deleted=%v", m.ExternalID, m.Email, m.Deleted))
	}
	want := []string{`u1 "" deleted=true`, `u3 "" deleted=true`, `u4 "ok@x.com" deleted=false`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	if p.Counts.Dropped != 1 {
		t.Errorf("dropped %d, want 1 (the live user without email)", p.Counts.Dropped)
	}
	var body strings.Builder
	if err := writeImport(&body, p.Import); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body.String(), `{"email":null,"externalId":"u1","deleted":true}`) {
		t.Errorf("the tombstone is not sent with email null: %s", body.String())
	}
}
