package sync

import (
	"context"
	"fmt"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/ldap"
	"github.com/dirsync/dirsync/internal/directory/ldap/sambatest"
	"github.com/dirsync/dirsync/internal/store"
)

// TestADSyncIntoBitwarden runs the engine against a real Samba AD DC
// (LDAPS with the DC's throwaway CA) and the fake Bitwarden: the
// externalIds Bitwarden gets are the objectGUIDs as samba-tool prints them
// (BDC's form), a group of 1,600 arrives whole (AD answers at most 1,500
// members at once: range retrieval), a cycle of nested groups is resolved
// by AD's in-chain rule, the group set narrows the users to the kept
// groups' members, Test predicts what Sync applies, the next run is
// unchanged, and a user deleted in AD is predicted removed by a Test run
// (CN=Deleted Objects) but left alone by an ordinary sync.
func TestADSyncIntoBitwarden(t *testing.T) {
	sambatest.Require(t)
	fullLists(t)
	dc, err := sambatest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.Close)
	c, err := dc.Dial(sambatest.Admin, sambatest.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var fillErr []error
	must := func(_ string, err error) {
		if err != nil {
			fillErr = append(fillErr, err)
		}
	}
	const bulk = 1600
	name := func(i int) string { return fmt.Sprintf("staff%04d", i) }
	must(sambatest.AddUser(c, "alice", "Alice@AD.Test", sambatest.Enabled))
	must(sambatest.AddUser(c, "bob", "bob@ad.test", sambatest.Disabled))
	must(sambatest.AddUser(c, "carol", "carol@ad.test", sambatest.Enabled))
	must(sambatest.AddUser(c, "outsider", "outsider@ad.test", sambatest.Enabled))
	must("", sambatest.AddUsers(c, bulk, name))
	must(sambatest.AddGroup(c, sambatest.GroupDN("Backend"), "Backend", sambatest.UserDN("carol")))
	must(sambatest.AddGroup(c, sambatest.GroupDN("Eng"), "Eng", sambatest.UserDN("alice"), sambatest.UserDN("bob"), sambatest.GroupDN("Backend")))
	cycle := goldap.NewModifyRequest(sambatest.GroupDN("Backend"), nil)
	cycle.Add("member", []string{sambatest.GroupDN("Eng")})
	if err := c.Modify(cycle); err != nil {
		fillErr = append(fillErr, err)
	}
	staff := make([]string, bulk)
	for i := range staff {
		staff[i] = sambatest.UserDN(name(i))
	}
	must(sambatest.AddGroup(c, sambatest.GroupDN("Staff"), "Staff", staff...))
	if len(fillErr) > 0 {
		t.Fatal(fillErr[0])
	}

	bw := bwtest.New(bwtest.Options{})
	t.Cleanup(bw.Close)
	st, err := store.Open(context.Background(), t.TempDir()+"/dirsync.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s := config.Defaults()
	s.Directory.Type = ldap.KindName
	config.Edit(&s.Directory, func(l *ldap.Settings) {
		l.Hostname, l.SSL, l.CACert = dc.Host, true, dc.CAPEM
		l.Username, l.Password = sambatest.Reader, sambatest.ReaderPassword
		l.RootPath, l.AD = sambatest.Base, true
		l.UserPath, l.GroupPath = "CN=Users", "CN=Users"
	})
	s.Sync.GroupFilter = "include:Eng,Backend,Staff"
	s.Bitwarden.Server, s.Bitwarden.ClientID, s.Bitwarden.ClientSecret = bw.URL, bw.ClientID(), config.Secret(bw.ClientSecret())
	s.Normalize()
	if err := s.Validate(true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveSettings(context.Background(), store.DefaultProfile, s); err != nil {
		t.Fatal(err)
	}
	e := New(st, "test")

	preview, err := e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeTest})
	if err != nil || preview.Bitwarden == nil {
		t.Fatalf("test: %v %+v", err, preview)
	}
	// alice, bob (disabled, sent as a member: removeDisabled is off),
	// carol and the staff; not the outsider nor AD's own accounts.
	if n := len(preview.Bitwarden.Invites); n != bulk+3 {
		t.Errorf("Test predicts %d invites, want %d", n, bulk+3)
	}

	before := snapshotOrg(bw)
	res, err := e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
	if err != nil || res.Run.Status != StatusSuccess {
		t.Fatalf("sync: %v %+v", err, res)
	}
	checkDiffMatchesOrg(t, res.Bitwarden, before, snapshotOrg(bw))
	guid := func(kind, name string) string {
		out, err := dc.SambaTool(kind, "show", name, "--attributes=objectGUID")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(out) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "objectGUID: "); ok {
				return v
			}
		}
		t.Fatalf("no objectGUID for %s %s:\n%s", kind, name, out)
		return ""
	}
	for _, u := range []string{"alice", "bob", "carol", name(1234)} {
		m, ok := bw.MemberByEmail(u + "@ad.test")
		if want := guid("user", u); !ok || m.ExternalID != want {
			t.Errorf("%s: %+v %v, want externalId %s (its objectGUID)", u, m, ok, want)
		}
	}
	if _, ok := bw.MemberByEmail("outsider@ad.test"); ok {
		t.Error("the outsider, in no kept group, was sent")
	}
	for g, want := range map[string]int{"Eng": 3, "Backend": 3, "Staff": bulk} {
		grp, ok := bw.GroupByExternalID(guid("group", g))
		if !ok || grp.Name != g || len(grp.MemberIDs) != want {
			t.Errorf("group %s: %v, %d members, want %d", g, ok, len(grp.MemberIDs), want)
		}
	}

	res, err = e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
	if err != nil || res.Run.Status != StatusUnchanged {
		t.Fatalf("second run: %v %+v", err, res.Run)
	}

	// carol is deleted in AD. A Test run reads CN=Deleted Objects (as a
	// bind user allowed to list it: the administrator) and predicts her
	// removal by externalId, although her tombstone has no mail left; an
	// ordinary sync does not read deleted objects (BDC's rule).
	carol := guid("user", "carol")
	if err := c.Del(goldap.NewDelRequest(sambatest.UserDN("carol"), nil)); err != nil {
		t.Fatal(err)
	}
	config.Edit(&s.Directory, func(l *ldap.Settings) {
		l.Username, l.Password = sambatest.Admin, sambatest.AdminPassword
	})
	if _, err := st.SaveSettings(context.Background(), store.DefaultProfile, s); err != nil {
		t.Fatal(err)
	}
	preview, err = e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeTest})
	if err != nil || preview.Bitwarden == nil {
		t.Fatalf("test after the deletion: %v %+v", err, preview)
	}
	if r := preview.Bitwarden.Removals; len(r) != 1 || r[0].ExternalID != carol {
		t.Errorf("Test after carol's deletion predicts removals %+v, want carol (%s)", r, carol)
	}
	res, err = e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
	if err != nil || res.Run.Status != StatusSuccess {
		t.Fatalf("sync after the deletion: %v %+v", err, res.Run)
	}
	if _, ok := bw.MemberByEmail("carol@ad.test"); !ok {
		t.Error("an ordinary sync removed carol: it must not read deleted objects")
	}
	if grp, _ := bw.GroupByExternalID(guid("group", "Backend")); len(grp.MemberIDs) != 2 {
		t.Errorf("Backend has %d members after carol's deletion, want alice and bob", len(grp.MemberIDs))
	}
}
