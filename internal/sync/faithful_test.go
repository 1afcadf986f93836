package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/demo"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// useBitwarden points the harness at a new fake with opts (Vaultwarden,
// self-hosted).
func useBitwarden(t *testing.T, h *harness, opts bwtest.Options) {
	t.Helper()
	h.bw = bwtest.New(opts)
	t.Cleanup(h.bw.Close)
	s := h.settings()
	demo.Connect(&s, h.okta, h.bw)
	h.save(s)
}

// fullLists lifts the list caps for the test, so predictions compare whole.
func fullLists(t *testing.T) {
	n, g, i := maxListed, maxGroupsListed, maxIDsListed
	t.Cleanup(func() { maxListed, maxGroupsListed, maxIDsListed = n, g, i })
	maxListed, maxGroupsListed, maxIDsListed = 1<<20, 1<<20, 1<<20
}

// pushAndCheck runs a sync and checks that the prediction the run made is
// what the fake org shows afterwards ("predicted == applied").
func pushAndCheck(t *testing.T, h *harness, want string) *Result {
	t.Helper()
	before := snapshotOrg(h.bw)
	res := h.mustRun(want)
	if res.Bitwarden == nil {
		t.Fatalf("no prediction (error %q)", res.BitwardenError)
	}
	checkDiffMatchesOrg(t, res.Bitwarden, before, snapshotOrg(h.bw))
	return res
}

// checkVaultwardenDiff is checkDiffMatchesOrg for Vaultwarden's rules:
// deleted members are revoked (still listed), revoked ones restored, and
// a member the push revoked counts as leaving its groups.
func checkVaultwardenDiff(t *testing.T, d *OrgDiff, before, after orgState) {
	t.Helper()
	set := func(s map[string]bool) []string { return sortedKeys(s) }
	invited, revoked, restored, removed := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for id, m := range after.members {
		o, had := before.members[id]
		switch {
		case !had:
			invited[m.Email] = true
		case o.Status != bwtest.Revoked && m.Status == bwtest.Revoked:
			revoked[m.Email] = true
		case o.Status == bwtest.Revoked && m.Status != bwtest.Revoked:
			restored[m.Email] = true
		}
	}
	for id, m := range before.members {
		if _, ok := after.members[id]; !ok {
			removed[m.Email] = true
		}
	}
	pInv, pRev, pRest, pRem := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, m := range d.Invites {
		pInv[m.Email] = true
	}
	for _, m := range d.Restored {
		pRest[m.Email] = true
	}
	for _, m := range d.Removals {
		if m.Reason == RemovalRevoked {
			pRev[m.Email] = true
		} else {
			pRem[m.Email] = true
		}
	}
	for _, c := range []struct {
		what      string
		want, got map[string]bool
	}{{"invites", invited, pInv}, {"revocations", revoked, pRev}, {"restores", restored, pRest}, {"removals", removed, pRem}} {
		if fmt.Sprint(set(c.want)) != fmt.Sprint(set(c.got)) {
			t.Errorf("%s: predicted %v, the server shows %v", c.what, set(c.got), set(c.want))
		}
	}
	// Memberships by group externalId: "added|removed" emails.
	email := func(s orgState, id string) string { return s.members[id].Email }
	want := map[string]string{}
	for id, g := range after.groups {
		o := before.groups[id]
		var add, rem []string
		for _, mid := range g.MemberIDs {
			if !slices.Contains(o.MemberIDs, mid) && after.members[mid].Status != bwtest.Revoked {
				add = append(add, email(after, mid))
			} else if slices.Contains(o.MemberIDs, mid) && revoked[email(after, mid)] {
				rem = append(rem, email(after, mid))
			}
		}
		for _, mid := range o.MemberIDs {
			if !slices.Contains(g.MemberIDs, mid) {
				rem = append(rem, email(before, mid))
			}
		}
		if len(add)+len(rem) > 0 {
			slices.Sort(add)
			slices.Sort(rem)
			want[g.ExternalID] = strings.Join(add, ",") + "|" + strings.Join(rem, ",")
		}
	}
	got := map[string]string{}
	for _, mc := range d.Memberships {
		got[mc.ExternalID] = strings.Join(mc.Added, ",") + "|" + strings.Join(mc.Removed, ",")
	}
	if fmt.Sprint(want) != fmt.Sprint(got) {
		t.Errorf("memberships: predicted %v, the server shows %v", got, want)
	}
}

// pushAndCheckVaultwarden is pushAndCheck against a Vaultwarden fake.
func pushAndCheckVaultwarden(t *testing.T, h *harness, want string) *Result {
	t.Helper()
	before := snapshotOrg(h.bw)
	res := h.mustRun(want)
	if res.Bitwarden == nil || res.Bitwarden.Server != ServerVaultwarden {
		t.Fatalf("no Vaultwarden prediction (error %q)", res.BitwardenError)
	}
	checkVaultwardenDiff(t, res.Bitwarden, before, snapshotOrg(h.bw))
	return res
}

func emailsOf(refs []MemberRef) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, r.Email)
	}
	slices.Sort(out)
	return out
}

func lower(s string) string { return strings.ToLower(s) }

// An invited member who leaves while overwriteExisting is on: Bitwarden
// would refuse the whole import for them, so the push keeps them (listed
// as a member sync cannot remove) — and still removes the others, invites
// the new people and updates groups. Nothing is refused.
func TestOverwriteWithInvitedLeaver(t *testing.T) {
	fullLists(t)
	h := newHarness(t, genOrg(20, 2, 6), func(s *config.Settings) { guardOff(s); s.Sync.OverwriteExisting = true })
	h.mustRun(StatusSuccess)
	h.bw.AcceptAll()
	users := activeUsers(h)
	invited, confirmed := users[3], users[4]
	h.bw.UpdateMember(invited.Email, func(m *bwtest.Member) { m.Status, m.UserID = bwtest.Invited, "" })
	for _, u := range []*oktatest.User{invited, confirmed} {
		if err := h.okta.RemoveUser(u.ID); err != nil {
			t.Fatal(err)
		}
	}
	newID := h.okta.AddUser(oktatest.User{Email: "newcomer@corp.example"})
	g := h.okta.Org().Groups[0]
	if err := h.okta.AddMember(g.ID, newID); err != nil {
		t.Fatal(err)
	}
	res := pushAndCheck(t, h, StatusSuccess)
	d := res.Bitwarden
	if got := emailsOf(d.CannotRemove); !slices.Equal(got, []string{lower(invited.Email)}) || d.Counts.CannotRemove != 1 {
		t.Errorf("cannot remove = %v, want the invited leaver", got)
	}
	if d.Counts.Removals != 1 || d.Removals[0].Email != lower(confirmed.Email) {
		t.Errorf("removals = %+v, want the confirmed leaver", d.Removals)
	}
	if _, ok := h.bw.MemberByEmail("newcomer@corp.example"); !ok || d.Counts.Invites != 1 {
		t.Errorf("the newcomer was not invited (predicted %d)", d.Counts.Invites)
	}
	bg, _ := h.bw.GroupByExternalID(g.ID)
	nm, _ := h.bw.MemberByEmail("newcomer@corp.example")
	if !slices.Contains(bg.MemberIDs, nm.ID) {
		t.Error("the group update did not happen")
	}
	for _, imp := range h.bw.Imports() {
		if imp.Status != 200 {
			t.Errorf("an import answered %d", imp.Status)
		}
	}
	if _, ok := h.bw.MemberByEmail(invited.Email); !ok {
		t.Error("the invited leaver was removed")
	}
}

// An invited member who is DEPROVISIONED while overwriteExisting is on: sent
// as deleted, the server would remove it and then refuse the overwrite
// (its snapshot still holds it). dirsync removes it in a request of its
// own first, which the server allows.
func TestOverwriteWithInvitedLeaverDeprovisioned(t *testing.T) {
	fullLists(t)
	h := newHarness(t, genOrg(20, 2, 6), func(s *config.Settings) { guardOff(s); s.Sync.OverwriteExisting = true })
	h.mustRun(StatusSuccess)
	h.bw.AcceptAll()
	leaver := activeUsers(h)[5]
	h.bw.UpdateMember(leaver.Email, func(m *bwtest.Member) { m.Status, m.UserID = bwtest.Invited, "" })
	if err := h.okta.SetUserStatus(leaver.ID, oktatest.StatusDeprovisioned); err != nil {
		t.Fatal(err)
	}
	n := h.imports()
	res := pushAndCheck(t, h, StatusSuccess)
	if got := emailsOf(res.Bitwarden.RemovedFirst); !slices.Equal(got, []string{lower(leaver.Email)}) {
		t.Errorf("removed first = %v", got)
	}
	imps := h.bw.Imports()[n:]
	if len(imps) != 2 || imps[0].Request.OverwriteExisting || !imps[1].Request.OverwriteExisting {
		t.Fatalf("imports %d; want the deleted member's own request, then the overwrite", len(imps))
	}
	if _, ok := h.bw.MemberByEmail(leaver.Email); ok {
		t.Error("the deprovisioned invited member is still there")
	}
}

// The rule the API cannot show: an SSO user (no master password, but
// confirmed with a userId). The server refuses; the run says why, and that
// the members sent as deleted were already removed.
func TestOverwriteRefusedForSSOUserExplains(t *testing.T) {
	h := newHarness(t, genOrg(20, 2, 6), func(s *config.Settings) { guardOff(s); s.Sync.OverwriteExisting = true })
	h.mustRun(StatusSuccess)
	h.bw.AcceptAll()
	users := activeUsers(h)
	sso, gone := users[1], users[2]
	h.bw.UpdateMember(sso.Email, func(m *bwtest.Member) { m.NoMasterPassword = true })
	if err := h.okta.RemoveUser(sso.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.okta.SetUserStatus(gone.ID, oktatest.StatusDeprovisioned); err != nil {
		t.Fatal(err)
	}
	res, err := h.run(ModeSync)
	if err == nil || res.Run.Status != StatusFailed {
		t.Fatalf("status %s err %v, want failed", res.Run.Status, err)
	}
	for _, want := range []string{"without a master password", "SSO", "already removed the members sent as deleted"} {
		if !strings.Contains(res.Run.Error, want) {
			t.Errorf("error %q lacks %q", res.Run.Error, want)
		}
	}
	if _, ok := h.bw.MemberByEmail(gone.Email); ok {
		t.Error("the fake did not apply the deleted removal before refusing")
	}
	if st, _ := h.store.GetSyncState(context.Background(), store.DefaultProfile); st.Hash == res.Plan.Hash {
		t.Error("the hash of a refused push was stored")
	}
}

// A re-created Okta account (the old one DEPROVISIONED, a new one with the
// same email) ends as one member linked to the new id, in the new id's
// groups, in one run — whichever of the two ids sorts first.
func TestRecreatedAccount(t *testing.T) {
	for _, tc := range []struct {
		name         string
		oldID, newID string
		vaultwarden  bool
	}{
		{"bitwarden, old id first", "00uAold", "00uZnew", false},
		{"bitwarden, new id first", "00uZold", "00uAnew", false},
		{"vaultwarden, old id first", "00uAold", "00uZnew", true},
		{"vaultwarden, new id first", "00uZold", "00uAnew", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fullLists(t)
			h := newHarness(t, genOrg(10, 2, 4), func(s *config.Settings) { guardOff(s) })
			if tc.vaultwarden {
				useBitwarden(t, h, bwtest.Options{Vaultwarden: true, VaultwardenGroups: true})
			}
			const email = "pat@corp.example"
			h.okta.AddUser(oktatest.User{ID: tc.oldID, Email: email})
			groups := h.okta.Org().Groups
			if err := h.okta.AddMember(groups[0].ID, tc.oldID); err != nil {
				t.Fatal(err)
			}
			h.mustRun(StatusSuccess)
			h.bw.AcceptAll()
			// Re-created: the old account deprovisioned (and out of its
			// groups), a new one in another group.
			if err := h.okta.RemoveMember(groups[0].ID, tc.oldID); err != nil {
				t.Fatal(err)
			}
			if err := h.okta.SetUserStatus(tc.oldID, oktatest.StatusDeprovisioned); err != nil {
				t.Fatal(err)
			}
			h.okta.AddUser(oktatest.User{ID: tc.newID, Email: email})
			if err := h.okta.AddMember(groups[1].ID, tc.newID); err != nil {
				t.Fatal(err)
			}
			var res *Result
			if tc.vaultwarden {
				res = pushAndCheckVaultwarden(t, h, StatusSuccess)
			} else {
				res = pushAndCheck(t, h, StatusSuccess)
			}
			var mine []bwtest.Member
			for _, m := range h.bw.Members() {
				if strings.EqualFold(m.Email, email) {
					mine = append(mine, m)
				}
			}
			if len(mine) != 1 || mine[0].ExternalID != tc.newID || mine[0].Status == bwtest.Revoked {
				t.Fatalf("members with %s: %+v, want one active member linked to %s", email, mine, tc.newID)
			}
			g0, _ := h.bw.GroupByExternalID(groups[0].ID)
			g1, _ := h.bw.GroupByExternalID(groups[1].ID)
			if slices.Contains(g0.MemberIDs, mine[0].ID) || !slices.Contains(g1.MemberIDs, mine[0].ID) {
				t.Errorf("groups: in old %v, in new %v; want only the new account's group", slices.Contains(g0.MemberIDs, mine[0].ID), slices.Contains(g1.MemberIDs, mine[0].ID))
			}
			d := res.Bitwarden
			if len(d.Relinks) != 1 || d.Relinks[0] != (Relink{Email: email, From: tc.oldID, To: tc.newID}) {
				t.Errorf("relinks = %+v, want %s → %s named", d.Relinks, tc.oldID, tc.newID)
			}
		})
	}
}

// Staged members: sync.inviteUsers off sends inviteUsersAfterProvisioning
// false; the preview calls new members staged; they take no seat.
func TestStagedMembers(t *testing.T) {
	fullLists(t)
	h := newHarness(t, genOrg(12, 2, 4), func(s *config.Settings) { s.Sync.InviteUsers = false })
	one := 1
	h.bw.SetSeats(&one, &one) // staging needs no seat
	preview, err := h.run(ModeTest)
	if err != nil || preview.Bitwarden == nil || !preview.Bitwarden.Staged {
		t.Fatalf("preview %+v, %v: want staged invites", preview.Bitwarden, err)
	}
	res := pushAndCheck(t, h, StatusSuccess)
	if res.Bitwarden.Counts.Invites == 0 || len(h.bw.Invites()) != 0 {
		t.Errorf("predicted %d, invitations sent %v", res.Bitwarden.Counts.Invites, h.bw.Invites())
	}
	for _, m := range h.bw.Members() {
		if m.Status != bwtest.Staged {
			t.Errorf("member %s status %d, want staged", m.Email, m.Status)
		}
	}
	if imp := h.bw.Imports()[0]; imp.Request.InviteUsersAfterProvisioning == nil || *imp.Request.InviteUsersAfterProvisioning {
		t.Error("inviteUsersAfterProvisioning false was not sent")
	}
}

// Seats on Bitwarden cloud: the preview shows what the invites need and
// what cloud would buy; past the autoscale limit the push is refused
// before sending, with the numbers. Self-hosted does not tell its seats:
// the server refuses and the hint explains.
func TestSeats(t *testing.T) {
	t.Run("cloud buys seats up to the limit", func(t *testing.T) {
		fullLists(t)
		h := newHarness(t, genOrg(10, 1, 3), nil)
		seats, limit := 5, 20
		h.bw.SetSeats(&seats, &limit)
		res := pushAndCheck(t, h, StatusSuccess)
		sp := res.Bitwarden.Seats
		if sp == nil || sp.Seats != 5 || sp.InUse != 0 || sp.Needed != res.Bitwarden.Counts.Invites-5 || sp.Buys != sp.Needed || sp.Refused != "" {
			t.Errorf("seat plan %+v", sp)
		}
		if got, bought := h.bw.Seats(); bought != sp.Buys || *got != 5+sp.Buys {
			t.Errorf("the fake bought %d (now %d), predicted %d", bought, *got, sp.Buys)
		}
	})
	t.Run("cloud past the autoscale limit is refused before sending", func(t *testing.T) {
		h := newHarness(t, genOrg(10, 1, 3), nil)
		seats := 4
		h.bw.SetSeats(&seats, &seats)
		res, err := h.run(ModeSync)
		if err == nil || res.Run.Status != StatusFailed || h.imports() != 0 {
			t.Fatalf("status %s, imports %d, err %v: want refused before sending", res.Run.Status, h.imports(), err)
		}
		for _, want := range []string{"4 seats with 0 in use", "autoscale limit of 4", "nothing was sent"} {
			if !strings.Contains(res.Run.Error, want) {
				t.Errorf("error %q lacks %q", res.Run.Error, want)
			}
		}
	})
	t.Run("self-hosted refuses past its seats", func(t *testing.T) {
		h := newHarness(t, genOrg(10, 1, 3), nil)
		useBitwarden(t, h, bwtest.Options{SelfHosted: true})
		seats := 3
		h.bw.SetSeats(&seats, nil)
		res, err := h.run(ModeSync)
		if err == nil || res.Bitwarden == nil || res.Bitwarden.Seats != nil {
			t.Fatalf("err %v, seats %+v: self-hosted shows no seats and refuses", err, res.Bitwarden)
		}
		if !strings.Contains(res.Run.Error, bitwarden.MsgSelfHostedSeats) || !strings.Contains(res.Run.Error, "cannot buy more") {
			t.Errorf("error %q does not explain the self-hosted refusal", res.Run.Error)
		}
	})
}

// Vaultwarden serves the import but no listings: every run says so once,
// predicts from the last push, and pushes.
func TestVaultwardenWorks(t *testing.T) {
	fullLists(t)
	h := newHarness(t, genOrg(30, 3, 8), nil)
	useBitwarden(t, h, bwtest.Options{Vaultwarden: true, VaultwardenGroups: true})
	res := pushAndCheckVaultwarden(t, h, StatusSuccess)
	d := res.Bitwarden
	if d == nil || d.Server != ServerVaultwarden || d.Basis != BasisNone {
		t.Fatalf("prediction %+v, want Vaultwarden with no basis", d)
	}
	notes := 0
	for _, w := range res.Run.Warnings {
		if strings.Contains(w, "does not list members") {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("warnings %q: want the note once", res.Run.Warnings)
	}
	if d.Counts.Invites != len(activeUsers(h)) || len(h.bw.Invites()) != d.Counts.Invites {
		t.Errorf("predicted %d invites, the server invited %d", d.Counts.Invites, len(h.bw.Invites()))
	}
	// The next change is predicted from the last push.
	users := activeUsers(h)
	if err := h.okta.SetUserStatus(users[0].ID, oktatest.StatusDeprovisioned); err != nil {
		t.Fatal(err)
	}
	g := h.okta.Org().Groups[0]
	if err := h.okta.AddMember(g.ID, users[1].ID); err != nil && !errors.Is(err, oktatest.ErrNotFound) {
		t.Log(err)
	}
	h.bw.AcceptAll()
	res = pushAndCheckVaultwarden(t, h, StatusSuccess)
	d = res.Bitwarden
	if d.Basis != BasisLastPush || d.Counts.Removals != 1 || d.Removals[0].Reason != RemovalRevoked {
		t.Fatalf("prediction basis %s removals %+v, want one revocation from the last push", d.Basis, d.Removals)
	}
	if m, _ := h.bw.MemberByEmail(users[0].Email); m.Status != bwtest.Revoked {
		t.Errorf("the deprovisioned member is %d on Vaultwarden, want revoked", m.Status)
	}
	// Reactivated: restored. With overwriteExisting, a user gone from Okta
	// is removed.
	s := h.settings()
	s.Sync.OverwriteExisting = true
	s.Guard = config.Guard{}
	h.save(s)
	if err := h.okta.SetUserStatus(users[0].ID, oktatest.StatusActive); err != nil {
		t.Fatal(err)
	}
	if err := h.okta.RemoveUser(users[2].ID); err != nil {
		t.Fatal(err)
	}
	d = pushAndCheckVaultwarden(t, h, StatusSuccess).Bitwarden
	if d.Counts.Restored != 1 || d.Counts.RemovalsOverwrite != 1 {
		t.Errorf("counts %+v, want one restore and one overwrite removal", d.Counts)
	}
}

// On Vaultwarden the deletion guard still holds a 30% deprovision, counted
// from the import and the last push.
func TestVaultwardenGuardHoldsMassDeprovision(t *testing.T) {
	h := newHarness(t, oktatest.Generate(oktatest.Spec{Users: 100, Groups: 2, MembersPerGroup: 10, Seed: 9}), nil)
	useBitwarden(t, h, bwtest.Options{Vaultwarden: true})
	h.mustRun(StatusSuccess)
	for _, u := range activeUsers(h)[:30] {
		if err := h.okta.SetUserStatus(u.ID, oktatest.StatusDeprovisioned); err != nil {
			t.Fatal(err)
		}
	}
	n := h.imports()
	res := h.mustRun(StatusHeld)
	if h.imports() != n {
		t.Fatal("a held run pushed")
	}
	if res.Bitwarden.Counts.Removals != 30 || !strings.Contains(res.Run.Error, "would remove 30 of 100 members") {
		t.Errorf("removals %d, error %q", res.Bitwarden.Counts.Removals, res.Run.Error)
	}
	for _, m := range h.bw.Members() {
		if m.Status == bwtest.Revoked {
			t.Fatalf("%s was revoked by a held run", m.Email)
		}
	}
}

// A first full overwrite on a server that lists nothing cannot be counted:
// held.
func TestVaultwardenFirstOverwriteIsHeld(t *testing.T) {
	h := newHarness(t, genOrg(10, 1, 3), func(s *config.Settings) { s.Sync.OverwriteExisting = true })
	useBitwarden(t, h, bwtest.Options{Vaultwarden: true})
	res := h.mustRun(StatusHeld)
	if !strings.Contains(res.Run.Error, "cannot count what a full overwrite") || h.imports() != 0 {
		t.Errorf("error %q, imports %d", res.Run.Error, h.imports())
	}
	// An admin's approval pushes it; from then on the last push is the basis.
	ap, err := h.engine.Approve(context.Background(), store.DefaultProfile, res.Run.ID, "alice")
	if err != nil || ap.Run.Status != StatusSuccess || h.imports() != 1 {
		t.Fatalf("approve: %v, status %s, imports %d", err, ap.Run.Status, h.imports())
	}
	if err := h.okta.AddMember(h.okta.Org().Groups[0].ID, activeUsers(h)[0].ID); err != nil {
		t.Log(err)
	}
	h.okta.AddUser(oktatest.User{Email: "late@corp.example"})
	if next := h.mustRun(StatusSuccess); next.Bitwarden.Basis != BasisLastPush {
		t.Errorf("basis %s after the first push", next.Bitwarden.Basis)
	}
}

// timeoutPusher is the real client whose imports get no answer in time:
// applied (the server kept going) or not.
type timeoutPusher struct {
	*bitwarden.Client
	apply   bool
	imports int
}

func (p *timeoutPusher) Import(ctx context.Context, req *bitwarden.ImportRequest) error {
	p.imports++
	if p.apply {
		if err := p.Client.Import(ctx, req); err != nil {
			return err
		}
	}
	return &bitwarden.ImportTimeoutError{After: 300 * time.Second, Err: context.DeadlineExceeded}
}

// An import that times out is not sent again: the org is read again, and
// when it shows everything applied the run succeeds; otherwise it fails
// saying what is outstanding, and the next run decides.
func TestImportTimeoutIsNotResent(t *testing.T) {
	for _, applied := range []bool{true, false} {
		t.Run(map[bool]string{true: "applied", false: "not applied"}[applied], func(t *testing.T) {
			h := newHarness(t, genOrg(10, 1, 3), nil)
			var tp *timeoutPusher
			base := h.engine.NewPusher
			h.engine.NewPusher = func(s config.Settings) (Pusher, error) {
				p, err := base(s)
				if err != nil {
					return nil, err
				}
				tp = &timeoutPusher{Client: p.(*bitwarden.Client), apply: applied}
				return tp, nil
			}
			res, err := h.run(ModeSync)
			if tp.imports != 1 {
				t.Fatalf("the import was sent %d times, want once", tp.imports)
			}
			st, _ := h.store.GetSyncState(context.Background(), store.DefaultProfile)
			if applied {
				if err != nil || res.Run.Status != StatusSuccess || st.Hash != res.Plan.Hash {
					t.Fatalf("status %s err %v: the re-read shows it applied, want success", res.Run.Status, err)
				}
				if !strings.Contains(strings.Join(res.Run.Warnings, "\n"), "shows every change applied") {
					t.Errorf("warnings %q do not say so", res.Run.Warnings)
				}
				return
			}
			if err == nil || res.Run.Status != StatusFailed || st.Hash != "" {
				t.Fatalf("status %s err %v hash %q: want failed, no hash", res.Run.Status, err, st.Hash)
			}
			for _, want := range []string{"did not send it again", "invites", "still to do", "the next run"} {
				if !strings.Contains(res.Run.Error, want) {
					t.Errorf("error %q lacks %q", res.Run.Error, want)
				}
			}
		})
	}
}

// genOrg is a generated directory with no deprovisioned or suspended users,
// so the counts the tests check are the ones they cause.
func genOrg(n, groups, per int) *oktatest.Org {
	return oktatest.Generate(oktatest.Spec{Users: n, Groups: groups, MembersPerGroup: per, Seed: int64(n)})
}
