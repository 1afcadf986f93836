package ldap

// The Active Directory rules, against the real Samba AD DC of
// samba_test.go.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/directory"
)

func usersByEmail(snap *directory.Snapshot) map[string]directory.User {
	m := map[string]directory.User{}
	for _, u := range snap.Users {
		if u.Email != "" {
			m[u.Email] = u
		}
	}
	return m
}

// TestADUsers: externalId is the objectGUID in BDC's form, which is the
// GUID string Windows and samba-tool print (BDC's bufToGuid reverses the
// first three groups, as the little-endian GUID layout stores them);
// disabled is userAccountControl bit 2; the email is trimmed and
// lower-cased; memberOf is the server's own.
func TestADUsers(t *testing.T) {
	dc := sharedSamba(t)
	snap := read(t, dc.config(), directory.ReadOptions{Users: true})
	by := usersByEmail(snap)
	for _, name := range []string{"alice", "bob", "dave"} {
		out := dc.sambaTool(t, "user", "show", name, "--attributes=objectGUID")
		guid, err := showAttr(out, "objectGUID")
		if err != nil {
			t.Fatalf("samba-tool user show %s: %v\n%s", name, err, out)
		}
		u, ok := by[name+"@ad.test"]
		if !ok {
			t.Errorf("%s is not among the %d users read", name, len(snap.Users))
			continue
		}
		if u.ID != guid {
			t.Errorf("%s's externalId = %q, want its objectGUID as samba-tool shows it, %q", name, u.ID, guid)
		}
	}
	if u := by["bob@ad.test"]; !u.Disabled || u.Status != StatusDisabled {
		t.Errorf("bob (userAccountControl 546) = %+v, want disabled", u)
	}
	for _, name := range []string{"alice", "dave"} {
		if u := by[name+"@ad.test"]; u.Disabled || u.Deleted || u.Status != StatusActive {
			t.Errorf("%s (userAccountControl 544) = %+v, want active", name, u)
		}
	}
	// Not the deleted one.
	if n := len(snap.Users); n != adUserCount {
		t.Errorf("read %d users, want %d", n, adUserCount)
	}
	if _, ok := by["gone@ad.test"]; ok {
		t.Error("the deleted user was read without IncludeDeleted")
	}
	for _, u := range snap.Users {
		if u.Deleted {
			t.Errorf("user %+v is deleted without IncludeDeleted", u)
		}
	}
	if out := dc.sambaTool(t, "user", "show", "alice", "--attributes=memberOf"); !strings.Contains(out, "memberOf: CN=Eng,CN=Users,DC=ad,DC=test") {
		t.Errorf("alice's memberOf is not the server's back link to Eng:\n%s", out)
	}
	out := dc.sambaTool(t, "group", "show", "Eng", "--attributes=objectGUID")
	guid, err := showAttr(out, "objectGUID")
	if err != nil {
		t.Fatalf("samba-tool group show Eng: %v\n%s", err, out)
	}
	if g := groupsByName(read(t, dc.config(), directory.ReadOptions{Groups: true}))["Eng"]; g.ID != guid {
		t.Errorf("Eng's externalId = %q, want its objectGUID %q", g.ID, guid)
	}
}

// TestADRangeRetrieval: the 2,000 members of Big come whole although the
// server sends at most 1,500 per answer (BDC's read stops at 1,500).
func TestADRangeRetrieval(t *testing.T) {
	dc := sharedSamba(t)
	gf, err := directory.ParseFilter("|(name=Big)")
	if err != nil {
		t.Fatal(err)
	}
	snap := read(t, dc.config(), directory.ReadOptions{Users: true, Groups: true, GroupFilter: gf})
	if len(snap.Groups) != 1 || snap.Groups[0].Name != "Big" {
		t.Fatalf("groups = %v, want Big only", snap.Groups)
	}
	by := usersByEmail(snap)
	var want []string
	for i := range adBigMembers {
		u, ok := by[adBulkName(i)+"@ad.test"]
		if !ok {
			t.Fatalf("user %s missing", adBulkName(i))
		}
		want = append(want, u.ID)
	}
	slices.Sort(want)
	if got := snap.Groups[0].MemberIDs; !slices.Equal(got, want) {
		t.Errorf("Big has %d members, want all %d bulk users (a read without range retrieval stops at %d)", len(got), len(want), adRangeStep)
	}
	// Users in pages of 500 (5), the group (1), the rest of its members
	// (1).
	if snap.Stats.Requests != 7 {
		t.Errorf("%d searches, want 7", snap.Stats.Requests)
	}
	t.Logf("read %d users and Big (%d members) in %d searches, %s", len(snap.Users), len(snap.Groups[0].MemberIDs), snap.Stats.Requests, snap.Stats.Duration)
}

// TestADNestedGroups: on AD nesting is resolved by the server's in-chain
// rule; the cycle and the diamond come out as client-side flattening
// gives them (the same server read with AD off, so without in-chain), and
// only in-chain sees through a group outside the group search (Hidden,
// nested in Outer).
func TestADNestedGroups(t *testing.T) {
	dc := sharedSamba(t)
	inChain := read(t, dc.config(), directory.ReadOptions{Users: true, Groups: true})
	cfg := dc.config()
	cfg.AD = false
	cfg.UserObjectClass, cfg.GroupObjectClass, cfg.GroupNameAttribute = "person", "group", "name"
	client := read(t, cfg, directory.ReadOptions{Users: true, Groups: true})

	id := map[string]string{}
	for _, u := range inChain.Users {
		id[strings.TrimSuffix(u.Email, "@ad.test")] = u.ID
	}
	ids := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, id[n])
		}
		slices.Sort(out)
		return out
	}
	want := map[string][]string{
		"Eng": ids("alice", "bob", "carol"), "Backend": ids("alice", "bob", "carol"), // the cycle
		"Top": ids("dave", "u01"), "Left": ids("dave"), "Right": ids("dave", "u01"), "Bottom": ids("dave"), // the diamond
	}
	gi, gc := groupsByName(inChain), groupsByName(client)
	for name, w := range want {
		if got := gi[name].MemberIDs; !slices.Equal(got, w) {
			t.Errorf("in-chain: %s = %q, want %q", name, got, w)
		}
		if got := gc[name].MemberIDs; !slices.Equal(got, w) {
			t.Errorf("client-side: %s = %q, want %q", name, got, w)
		}
	}
	if got := gi["Outer"].MemberIDs; !slices.Equal(got, ids("u02")) {
		t.Errorf("in-chain: Outer = %q, want u02 through Hidden (outside CN=Users)", got)
	}
	if got := gc["Outer"].MemberIDs; len(got) != 0 {
		t.Errorf("client-side: Outer = %q, want none (Hidden is not a group read)", got)
	}
	if got := gi["Big"].MemberIDs; len(got) != adBigMembers {
		t.Errorf("in-chain: Big has %d members", len(got))
	}
	// One in-chain search per group with a nested member: Eng, Backend,
	// Top, Left, Right, Outer and AD's Denied RODC Password Replication
	// Group (which nests Domain Admins and others).
	if extra := inChain.Stats.Requests - client.Stats.Requests; extra != 8 {
		t.Errorf("in-chain read: %d searches, client-side %d: want 8 more (7 in-chain, 1 range)", inChain.Stats.Requests, client.Stats.Requests)
	}
	// The set part of the group filter: in-chain runs only for the groups
	// it keeps.
	gf, _ := directory.ParseFilter("include:eng")
	kept := read(t, dc.config(), directory.ReadOptions{Users: true, Groups: true, GroupFilter: gf})
	if len(kept.Groups) != 1 || !slices.Equal(kept.Groups[0].MemberIDs, want["Eng"]) {
		t.Errorf("include:eng = %v", kept.Groups)
	}
	if extra := kept.Stats.Requests - client.Stats.Requests; extra != 2 {
		t.Errorf("include:eng: %d searches, want %d (1 in-chain, 1 range)", kept.Stats.Requests, client.Stats.Requests+2)
	}
}

// TestADDeletedUsers: deleted users come from CN=Deleted Objects, read
// with the show-deleted control, only when the engine asks (test runs and
// overwriteExisting, as BDC) and only on AD; their id is the GUID they had.
// AD shows tombstones only to a bind user with rights on the container
// (administrators by default); to others it answers with none, no error.
func TestADDeletedUsers(t *testing.T) {
	dc := sharedSamba(t)
	admin := dc.config()
	admin.Username, admin.Password = adAdmin, adAdminPW
	// The tombstone's name carries the GUID: "gone\0ADEL:<guid>".
	_, guid, ok := strings.Cut(dc.goneDN, "DEL:")
	if !ok {
		t.Fatalf("tombstone DN %q", dc.goneDN)
	}
	guid, _, _ = strings.Cut(guid, ",")
	find := func(snap *directory.Snapshot) *directory.User {
		for _, u := range snap.Users {
			if u.ID == guid {
				return &u
			}
		}
		return nil
	}
	if u := find(read(t, admin, directory.ReadOptions{Users: true})); u != nil {
		t.Errorf("read without IncludeDeleted: %+v", u)
	}
	if u := find(read(t, dc.config(), directory.ReadOptions{Users: true, IncludeDeleted: true})); u != nil {
		t.Errorf("the reader, who may not list deleted objects, read %+v", u)
	}
	snap := read(t, admin, directory.ReadOptions{Users: true, Groups: true, IncludeDeleted: true})
	u := find(snap)
	if u == nil {
		t.Fatalf("the deleted user %s is not among the %d users read with IncludeDeleted", guid, len(snap.Users))
	}
	if !u.Deleted || u.Status != StatusDeleted || u.Email != "" {
		t.Errorf("deleted user = %+v, want deleted (a tombstone keeps no mail)", *u)
	}
	n := 0
	for _, u := range snap.Users {
		if u.Deleted {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d deleted users, want 1", n)
	}
	cfg := admin
	cfg.AD = false
	cfg.UserObjectClass, cfg.GroupObjectClass = "person", "group"
	if u := find(read(t, cfg, directory.ReadOptions{Users: true, IncludeDeleted: true})); u != nil {
		t.Errorf("deleted objects read with AD off: %+v", u)
	}
}

// TestADTLSAndBind: LDAPS and StartTLS with the CA the DC was provisioned
// with; an unknown CA points to caCert; a password bind without TLS, which
// AD refuses, says to turn TLS on; a UPN and a DN both bind.
func TestADTLSAndBind(t *testing.T) {
	dc := sharedSamba(t)
	for _, mode := range []string{"ldaps", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			cfg := dc.config()
			cfg.StartTLS = mode == "starttls"
			snap := read(t, cfg, directory.ReadOptions{Users: true})
			if len(snap.Users) != adUserCount {
				t.Errorf("%d users", len(snap.Users))
			}
			cfg.CACert = ""
			src, _ := New(cfg, nil)
			if _, err := src.Read(context.Background(), directory.ReadOptions{Users: true}); err == nil || !strings.Contains(err.Error(), "caCert") {
				t.Errorf("without the CA: %v, want a pointer to caCert", err)
			}
		})
	}
	cfg := dc.config()
	cfg.SSL = false
	src, _ := New(cfg, nil)
	_, err := src.Read(context.Background(), directory.ReadOptions{Users: true})
	if err == nil || !strings.Contains(err.Error(), "refuses a password bind on an unencrypted connection") {
		t.Errorf("plain LDAP: %v, want advice to turn TLS on", err)
	}
	cfg = dc.config()
	cfg.Username = adUserDN("reader")
	if snap := read(t, cfg, directory.ReadOptions{Users: true}); len(snap.Users) == 0 {
		t.Error("bind by DN read no users")
	}
	cfg.Password = "wrong"
	src, _ = New(cfg, nil)
	if _, err := src.Read(context.Background(), directory.ReadOptions{Users: true}); err == nil || !strings.Contains(err.Error(), "refused the bind user") {
		t.Errorf("wrong password: %v", err)
	}
}

// TestADPagingTimeLimitCancel: AD answers a paged search page by page;
// a DC that stops answering mid-read (SIGSTOP) fails the read at the time
// limit, and a cancelled context ends it at once.
func TestADPagingTimeLimitCancel(t *testing.T) {
	dc := sharedSamba(t)
	cfg := dc.config()
	cfg.PageSize = 100
	snap := read(t, cfg, directory.ReadOptions{Users: true})
	if want := (adUserCount + 99) / 100; snap.Stats.Requests != want || len(snap.Users) != adUserCount {
		t.Errorf("pages of 100: %d users in %d searches, want %d users in %d", len(snap.Users), snap.Stats.Requests, adUserCount, want)
	}

	// freeze runs inside a read (its progress callback), maybe off the
	// test's goroutine: it reports with Error, not Fatal.
	freeze := func(t *testing.T) {
		if err := dc.Proc.Signal(syscall.SIGSTOP); err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { _ = dc.Proc.Signal(syscall.SIGCONT) })
	}
	t.Run("time limit", func(t *testing.T) {
		cfg := dc.config()
		// Samba counts a search's time limit in whole seconds of the clock,
		// so 1 s may end after a few milliseconds: 3 s is safe.
		cfg.SearchTimeLimit = 3 * time.Second
		src, _ := New(cfg, nil)
		frozen := make(chan time.Time, 1)
		done := make(chan error, 1)
		go func() {
			_, err := src.Read(context.Background(), directory.ReadOptions{Users: true, Groups: true, Progress: func(p directory.Progress) {
				if p.Phase == "users" && len(frozen) == 0 {
					frozen <- time.Now()
					freeze(t)
				}
			}})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "took longer than the time limit of 3s") {
				t.Errorf("frozen DC: %v, want the time limit", err)
			}
			if d := time.Since(<-frozen); d > 10*time.Second {
				t.Errorf("the read failed %s after the DC froze, want about 3 s", d)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the read of a frozen DC did not end within 30 s: no time limit")
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		src, _ := New(dc.config(), nil)
		done := make(chan error, 1)
		go func() {
			_, err := src.Read(ctx, directory.ReadOptions{Users: true, Groups: true, Progress: func(p directory.Progress) {
				if p.Phase == "users" {
					freeze(t)
					time.AfterFunc(100*time.Millisecond, cancel)
				}
			}})
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled read: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the read did not end within 10 s of its cancellation")
		}
	})
	// The DC answers again once continued.
	_ = dc.Proc.Signal(syscall.SIGCONT)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dc.dial(adReader, adReaderPW)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the DC did not answer after SIGCONT: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestADDeletedSearchRefused: a DC that refuses the deleted-objects
// search costs a warning, as in BDC; one that stops answering it fails
// the read. (Samba lets any user list deleted objects, so the refusal
// comes from the fake AD.)
func TestADDeletedSearchRefused(t *testing.T) {
	f := &fakeAD{users: 3, maxValRange: 1500, deletedCode: 50} // insufficientAccessRights
	cfg := fakeADConfig(f.start(t))
	snap := read(t, cfg, directory.ReadOptions{Users: true, IncludeDeleted: true})
	if len(snap.Users) != 3 || len(snap.Warnings) != 1 || !strings.Contains(snap.Warnings[0], "deleted users under CN=Deleted Objects,dc=ad,dc=test were not read") {
		t.Errorf("refused deleted search: %d users, warnings %q", len(snap.Users), snap.Warnings)
	}
	f = &fakeAD{users: 3, maxValRange: 1500, deletedHang: true}
	cfg = fakeADConfig(f.start(t))
	cfg.SearchTimeLimit = 300 * time.Millisecond
	src, _ := New(cfg, nil)
	if _, err := src.Read(context.Background(), directory.ReadOptions{Users: true, IncludeDeleted: true}); err == nil || !strings.Contains(err.Error(), "deleted user search took longer than the time limit") {
		t.Errorf("hung deleted search: %v", err)
	}
}
