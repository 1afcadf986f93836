package bwtest_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
)

func ptr[T any](v T) *T { return &v }

// The overwrite refusal, in the server's order: the deleted removals are
// applied, then the import is refused, with no invites and no group
// updates (ImportOrganizationUsersAndGroupsCommand.OverwriteExisting).
func TestOverwriteRefusedForMembersWithoutMasterPassword(t *testing.T) {
	tests := []struct {
		name    string
		leaver  bwtest.Member
		sendDel bool // the leaver is sent as deleted rather than left out
	}{
		{"invited leaver left out", bwtest.Member{Email: "inv@x.com", ExternalID: "inv", Type: bwtest.User, Status: bwtest.Invited}, false},
		{"staged leaver left out", bwtest.Member{Email: "st@x.com", ExternalID: "st", Type: bwtest.User, Status: bwtest.Staged}, false},
		{"SSO user left out", bwtest.Member{Email: "sso@x.com", ExternalID: "sso", Type: bwtest.User, Status: bwtest.Confirmed, NoMasterPassword: true}, false},
		// The overwrite step works on the snapshot taken before the deleted
		// removals, so a deleted member without a master password trips it
		// too — after it was removed.
		{"invited leaver sent as deleted", bwtest.Member{Email: "inv@x.com", ExternalID: "inv", Type: bwtest.User, Status: bwtest.Invited}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, bwtest.Options{})
			f.AddMember("o@x.com", "", bwtest.Owner)
			keep := f.AddMember("keep@x.com", "keep", bwtest.User)
			f.AddMember("gone@x.com", "gone", bwtest.User)
			f.AddMemberWith(tt.leaver)
			f.AddGroup("Eng", "g1", keep.ID)
			req := bitwarden.ImportRequest{
				OverwriteExisting: true,
				Members: []bitwarden.ImportMember{
					{Email: "keep@x.com", ExternalID: "keep"},
					{Email: "gone@x.com", ExternalID: "gone", Deleted: true},
					{Email: "new@x.com", ExternalID: "new"},
				},
				Groups: []bitwarden.ImportGroup{{Name: "Engineering", ExternalID: "g1", MemberExternalIDs: []string{"keep", "new"}}},
			}
			if tt.sendDel {
				req.Members = append(req.Members, bitwarden.ImportMember{Email: tt.leaver.Email, ExternalID: tt.leaver.ExternalID, Deleted: true})
			}
			a := post(t, f, imp(t, req))
			if a.Status != http.StatusBadRequest || a.Message != bitwarden.MsgPreventUserRemoval {
				t.Fatalf("answer = %d %q, want 400 %q", a.Status, a.Message, bitwarden.MsgPreventUserRemoval)
			}
			wantRemoved := []string{"gone@x.com"}
			if tt.sendDel {
				wantRemoved = append(wantRemoved, tt.leaver.Email)
			}
			if got := f.Removals(); !slices.Equal(got, wantRemoved) {
				t.Errorf("removed = %v, want %v (the deleted removals, applied before the refusal)", got, wantRemoved)
			}
			if len(f.Invites()) != 0 {
				t.Errorf("invites = %v after a refusal", f.Invites())
			}
			if g, _ := f.GroupByExternalID("g1"); g.Name != "Eng" || !slices.Equal(g.MemberIDs, []string{keep.ID}) {
				t.Errorf("group = %+v; a refused import updates no group", g)
			}
			if imps := f.Imports(); !imps[0].Refused {
				t.Error("the import is not marked refused")
			}
		})
	}
}

func TestOverwriteRemovesMembersWithMasterPassword(t *testing.T) {
	f := newFake(t, bwtest.Options{})
	f.AddMember("a@x.com", "a", bwtest.User)
	f.AddMemberWith(bwtest.Member{Email: "r@x.com", ExternalID: "r", Type: bwtest.User, Status: bwtest.Revoked})
	a := post(t, f, imp(t, bitwarden.ImportRequest{OverwriteExisting: true, Members: []bitwarden.ImportMember{{Email: "b@x.com", ExternalID: "b"}}}))
	if a.Status != 200 {
		t.Fatalf("import = %d %s", a.Status, a.Raw)
	}
	if got := f.Removals(); !slices.Equal(got, []string{"a@x.com", "r@x.com"}) {
		t.Errorf("removed = %v", got)
	}
}

func TestStagedMembers(t *testing.T) {
	f := newFake(t, bwtest.Options{})
	f.SetSeatLimit(1) // staging needs no seat
	f.AddMember("o@x.com", "", bwtest.Owner)
	a := post(t, f, imp(t, bitwarden.ImportRequest{
		InviteUsersAfterProvisioning: ptr(false),
		Members:                      []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a"}, {Email: "O@x.com", ExternalID: "o2"}},
		Groups:                       []bitwarden.ImportGroup{{Name: "G", ExternalID: "g", MemberExternalIDs: []string{"a"}}},
	}))
	if a.Status != 200 {
		t.Fatalf("import = %d %s", a.Status, a.Raw)
	}
	m, ok := f.MemberByEmail("a@x.com")
	if !ok || m.Status != bwtest.Staged || m.UserID != "" || m.ExternalID != "a" {
		t.Errorf("member = %+v, want staged", m)
	}
	rec := f.Imports()[0]
	if !slices.Equal(rec.Staged, []string{"a@x.com"}) || len(rec.Invited) != 0 || len(f.Invites()) != 0 {
		t.Errorf("staged %v invited %v; staging sends no invitation, and skips emails in the org", rec.Staged, rec.Invited)
	}
	if g, _ := f.GroupByExternalID("g"); !slices.Equal(g.MemberIDs, []string{m.ID}) {
		t.Errorf("group = %+v: staged members join groups", g)
	}
	// The listing shows status 3.
	a = call(t, f, getToken(t, f), "GET", "/api/public/members", "")
	if !strings.Contains(a.Raw, `"status":3`) {
		t.Errorf("members listing %s lacks status 3", a.Raw)
	}
}

func TestSeats(t *testing.T) {
	two := bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a"}, {Email: "b@x.com", ExternalID: "b"}}}
	tests := []struct {
		name       string
		opts       bwtest.Options
		seats, max *int
		seed       []bwtest.Member
		wantStatus int
		wantMsg    string
		wantSeats  *int
		wantBought int
	}{
		{name: "free seats", seats: ptr(3), wantStatus: 200, wantSeats: ptr(3)},
		{name: "cloud buys seats without a limit", seats: ptr(1), wantStatus: 200, wantSeats: ptr(3), wantBought: 2},
		{name: "cloud buys up to the autoscale limit", seats: ptr(1), max: ptr(3), wantStatus: 200, wantSeats: ptr(3), wantBought: 2},
		{name: "cloud refuses past the autoscale limit", seats: ptr(1), max: ptr(2), wantStatus: 400, wantMsg: bitwarden.MsgSeatLimit, wantSeats: ptr(1)},
		{name: "self-hosted refuses to buy", opts: bwtest.Options{SelfHosted: true}, seats: ptr(2), wantStatus: 400, wantMsg: bitwarden.MsgSelfHostedSeats, wantSeats: ptr(2)},
		{name: "self-hosted with enough seats", opts: bwtest.Options{SelfHosted: true}, seats: ptr(3), wantStatus: 200, wantSeats: ptr(3)},
		{name: "revoked and staged hold no seat", seats: ptr(3), max: ptr(3), seed: []bwtest.Member{
			{Email: "r@x.com", ExternalID: "r", Type: bwtest.User, Status: bwtest.Revoked},
			{Email: "s@x.com", ExternalID: "s", Type: bwtest.User, Status: bwtest.Staged},
		}, wantStatus: 200, wantSeats: ptr(3)},
		{name: "invited hold a seat", seats: ptr(3), max: ptr(3), seed: []bwtest.Member{
			{Email: "i@x.com", ExternalID: "i", Type: bwtest.User, Status: bwtest.Invited},
		}, wantStatus: 400, wantMsg: bitwarden.MsgSeatLimit, wantSeats: ptr(3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.opts)
			f.AddMember("o@x.com", "", bwtest.Owner)
			for _, m := range tt.seed {
				f.AddMemberWith(m)
			}
			f.SetSeats(tt.seats, tt.max)
			a := post(t, f, imp(t, two))
			if a.Status != tt.wantStatus || a.Message != tt.wantMsg {
				t.Fatalf("answer = %d %q, want %d %q", a.Status, a.Message, tt.wantStatus, tt.wantMsg)
			}
			seats, bought := f.Seats()
			if *seats != *tt.wantSeats || bought != tt.wantBought {
				t.Errorf("seats = %d (bought %d), want %d (bought %d)", *seats, bought, *tt.wantSeats, tt.wantBought)
			}
			if tt.wantStatus != 200 && len(f.Invites()) != 0 {
				t.Errorf("invites %v after a seat refusal", f.Invites())
			}
		})
	}
}

// A failure after the first seat check comes back aggregated, the
// invites undone, the earlier steps kept.
func TestSeatPurchaseFailureIsAggregated(t *testing.T) {
	f := newFake(t, bwtest.Options{})
	f.AddMember("gone@x.com", "gone", bwtest.User)
	f.SetSeats(ptr(1), nil)
	f.SetSeatPurchaseFails("Something went wrong with your request. Please contact support.")
	a := post(t, f, imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{
		{Email: "gone@x.com", ExternalID: "gone", Deleted: true},
		{Email: "a@x.com", ExternalID: "a"}, {Email: "b@x.com", ExternalID: "b"},
	}}))
	if a.Status != 400 || a.Message != "Errors have occurred." || len(a.Errors["An error has occurred."]) != 1 {
		t.Fatalf("answer = %d %s, want the aggregate shape", a.Status, a.Raw)
	}
	if _, ok := f.MemberByEmail("a@x.com"); ok || !slices.Equal(f.Removals(), []string{"gone@x.com"}) {
		t.Errorf("members %v removals %v: invites undone, removals kept", f.Members(), f.Removals())
	}
}

func TestServerErrorsOnAmbiguousOrgs(t *testing.T) {
	member := bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a"}, {Email: "d@x.com", ExternalID: "d", Deleted: true}}}
	withGroup := member
	withGroup.Groups = []bitwarden.ImportGroup{{Name: "G", ExternalID: "g", MemberExternalIDs: []string{"a"}}}
	tests := []struct {
		name        string
		setup       func(*bwtest.Server)
		req         bitwarden.ImportRequest
		wantRemoved []string // member steps applied before the 500
	}{
		{"two existing groups with one externalId", func(f *bwtest.Server) {
			f.AddGroup("G1", "g")
			f.AddGroup("G2", "g")
		}, withGroup, []string{"d@x.com"}},
		{"two unlinked members with one email", func(f *bwtest.Server) {
			f.AddMember("same@x.com", "", bwtest.User)
			f.AddMember("same@x.com", "", bwtest.User)
		}, member, []string{"d@x.com"}},
		{"two members with one externalId", func(f *bwtest.Server) {
			f.AddMember("m1@x.com", "dup", bwtest.User)
			f.AddMember("m2@x.com", "dup", bwtest.User)
		}, member, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, bwtest.Options{})
			f.AddMember("d@x.com", "d", bwtest.User)
			tt.setup(f)
			if a := post(t, f, imp(t, tt.req)); a.Status != 500 {
				t.Fatalf("answer = %d %s, want 500", a.Status, a.Raw)
			}
			if got := f.Removals(); !slices.Equal(got, tt.wantRemoved) {
				t.Errorf("removed = %v, want %v", got, tt.wantRemoved)
			}
		})
	}
}

func TestEmptyEmailRefusedEvenWhenDeleted(t *testing.T) {
	f := newFake(t, bwtest.Options{})
	a := post(t, f, `{"groups":[],"members":[{"email":"","externalId":"1","deleted":true}],"overwriteExisting":false}`)
	if a.Status != 400 || len(a.Errors["Members[0].Email"]) == 0 {
		t.Errorf(`email "" = %d %s, want 400 on Members[0].Email`, a.Status, a.Raw)
	}
	for _, body := range []string{
		`{"groups":[],"members":[{"email":null,"externalId":"1","deleted":true}],"overwriteExisting":false}`,
		`{"groups":[],"members":[{"externalId":"1","deleted":true}],"overwriteExisting":false}`,
	} {
		if a := post(t, f, body); a.Status != 200 {
			t.Errorf("%s = %d %s, want 200", body, a.Status, a.Raw)
		}
	}
}

func TestEmailLinksCompareExactly(t *testing.T) {
	f := newFake(t, bwtest.Options{})
	f.AddMemberWith(bwtest.Member{Email: "Pat@X.com", Type: bwtest.User, Status: bwtest.Confirmed})
	f.AddMember("sam@x.com", "", bwtest.User)
	a := post(t, f, imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "pat@x.com", ExternalID: "p"}, {Email: "Sam@X.com", ExternalID: "s"}}}))
	if a.Status != 200 {
		t.Fatalf("import = %d %s", a.Status, a.Raw)
	}
	if got := state(f); !slices.Equal(got, []string{"Pat@X.com=/2/2", "sam@x.com=s/2/2"}) {
		t.Errorf("org = %v: only the exact (lower-cased import) email links; the other is neither linked nor invited", got)
	}
}

func TestVaultwardenMode(t *testing.T) {
	f := newFake(t, bwtest.Options{Vaultwarden: true})
	tok := getToken(t, f)
	for _, path := range []string{"/api/public/members", "/api/public/groups", "/api/public/groups/x/member-ids", "/api/public/organization/subscription"} {
		if a := call(t, f, tok, "GET", path, ""); a.Status != 404 {
			t.Errorf("GET %s = %d, want 404", path, a.Status)
		}
	}
	owner := f.AddMember("o@x.com", "", bwtest.Owner)
	f.AddMember("old@x.com", "u-old", bwtest.User)
	f.AddMember("admin@x.com", "u-admin", bwtest.Admin)
	g := f.AddGroup("Manual", "g1", owner.ID)
	_ = g
	// Matched by email: the re-created account (old deleted first, then the
	// new live one with the same email) ends restored under the new id.
	a := post(t, f, imp(t, bitwarden.ImportRequest{
		OverwriteExisting: true,
		Members: []bitwarden.ImportMember{
			{Email: "old@x.com", ExternalID: "u-old", Deleted: true},
			{Email: "old@x.com", ExternalID: "u-new"},
			{Email: "new@x.com", ExternalID: "u-n2"},
		},
		Groups: []bitwarden.ImportGroup{{Name: "Renamed", ExternalID: "g1", MemberExternalIDs: []string{"u-new"}}},
	}))
	if a.Status != 200 {
		t.Fatalf("import = %d %s", a.Status, a.Raw)
	}
	// The admin's externalId is not among the sent members: overwrite
	// removes it (Vaultwarden spares only the last confirmed owner).
	if got := state(f); !slices.Equal(got, []string{"new@x.com=u-n2/2/0", "o@x.com=/0/2", "old@x.com=u-new/2/2"}) {
		t.Errorf("org = %v", got)
	}
	rec := f.Imports()[0]
	if !slices.Equal(rec.Revoked, []string{"old@x.com"}) || !slices.Equal(rec.Restored, []string{"old@x.com"}) || !slices.Equal(rec.Removed, []string{"admin@x.com"}) {
		t.Errorf("revoked %v restored %v removed %v", rec.Revoked, rec.Restored, rec.Removed)
	}
	// Groups are off by default in Vaultwarden: ignored.
	if gs := groupState(f); !slices.Equal(gs, []string{"Manual(g1)=o@x.com"}) {
		t.Errorf("groups = %v; without org groups enabled they are ignored", gs)
	}
	// The other order revokes the person.
	post(t, f, imp(t, bitwarden.ImportRequest{Members: []bitwarden.ImportMember{
		{Email: "old@x.com", ExternalID: "u-new"},
		{Email: "old@x.com", ExternalID: "u-old", Deleted: true},
	}}))
	if m, _ := f.MemberByEmail("old@x.com"); m.Status != bwtest.Revoked || m.ExternalID != "u-old" {
		t.Errorf("member = %+v, want revoked under the deleted id (Vaultwarden applies members in order)", m)
	}
	// Every field is required; no 2,000 limit.
	if a := post(t, f, `{"groups":[],"members":[{"email":null,"externalId":"1","deleted":true}],"overwriteExisting":false}`); a.Status != http.StatusUnprocessableEntity {
		t.Errorf("null email = %d, want 422", a.Status)
	}
	if a := post(t, f, imp(t, bitwarden.ImportRequest{Members: members(2001, false)})); a.Status != 200 {
		t.Errorf("2001 members = %d", a.Status)
	}
}

func TestVaultwardenGroups(t *testing.T) {
	f := newFake(t, bwtest.Options{Vaultwarden: true, VaultwardenGroups: true})
	f.AddGroup("Eng", "g1")
	a := post(t, f, imp(t, bitwarden.ImportRequest{
		Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a"}},
		Groups:  []bitwarden.ImportGroup{{Name: "Engineering", ExternalID: "g1", MemberExternalIDs: []string{"a", "ghost"}}, {Name: "Ops", ExternalID: "g2", MemberExternalIDs: []string{}}},
	}))
	if a.Status != 200 {
		t.Fatalf("import = %d %s", a.Status, a.Raw)
	}
	if gs := groupState(f); !slices.Equal(gs, []string{"Eng(g1)=a@x.com", "Ops(g2)="}) {
		t.Errorf("groups = %v; Vaultwarden never renames", gs)
	}
}
