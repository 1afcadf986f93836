package sync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/ldap"
	"github.com/dirsync/dirsync/internal/directory/ldap/ldaptest"
	"github.com/dirsync/dirsync/internal/store"
)

// TestLDAPSyncIntoBitwarden runs the engine against a real slapd (StartTLS
// with a throwaway CA; a size limit of 3 that only paged searches pass)
// and the fake
// Bitwarden: Test predicts, Sync applies exactly the prediction
// (predicted == applied), the ids are the entries' DNs, nested groups are
// flattened through a cycle, a user without mail is dropped with a
// warning, and the next run is unchanged.
func TestLDAPSyncIntoBitwarden(t *testing.T) {
	fullLists(t)
	d := ldaptest.NewDirectory()
	alice := d.User("alice", "alice@example.com")
	bob := d.User("bob", " Bob@Example.COM ")
	d.User("carol", "") // no mail
	dave := d.User("dave", "dave@example.com")
	var users []string
	for _, u := range []string{"u1", "u2", "u3", "u4", "u5", "u6"} {
		users = append(users, d.User(u, u+"@example.com"))
	}
	backend := "cn=backend,ou=groups," + ldaptest.Suffix
	eng := d.Group("eng", alice, bob, backend)
	d.Group("backend", dave, eng) // a cycle: each gets the other's members
	d.Group("staff", users...)
	srv := ldaptest.Start(t, ldaptest.Options{LDIF: d.LDIF(), TLS: true, SizeLimit: 3})

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
		l.Hostname, l.Port, l.SSL, l.StartTLS, l.CACert = srv.Host, srv.Port, true, true, srv.CAPEM
		l.Username, l.Password = ldaptest.ReaderDN, ldaptest.ReaderPassword
		l.RootPath, l.UserPath, l.GroupPath = ldaptest.Suffix, "ou=people", "ou=groups"
	})
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
	if n := len(preview.Bitwarden.Invites); n != 9 {
		t.Errorf("Test predicts %d invites, want 9 (every user with mail)", n)
	}
	if len(bw.Imports()) != 0 {
		t.Fatal("Test pushed")
	}

	before := snapshotOrg(bw)
	res, err := e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
	if err != nil || res.Run.Status != StatusSuccess {
		t.Fatalf("sync: %v %+v", err, res)
	}
	checkDiffMatchesOrg(t, res.Bitwarden, before, snapshotOrg(bw))
	if m, ok := bw.MemberByEmail("bob@example.com"); !ok || m.ExternalID != bob {
		t.Errorf("bob: %+v %v, want externalId %s", m, ok, bob)
	}
	if _, ok := bw.MemberByEmail(""); ok {
		t.Error("carol, without mail, was sent")
	}
	if !slices.ContainsFunc(res.Run.Warnings, func(w string) bool { return strings.Contains(w, "carol") || strings.Contains(w, "no email") }) {
		t.Errorf("no warning for the user without mail: %q", res.Run.Warnings)
	}
	for _, g := range []string{eng, backend} {
		grp, ok := bw.GroupByExternalID(g)
		if !ok || len(grp.MemberIDs) != 3 {
			t.Errorf("group %s: %+v %v, want alice, bob and dave through the cycle", g, grp, ok)
		}
	}

	res, err = e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
	if err != nil || res.Run.Status != StatusUnchanged {
		t.Fatalf("second run: %v %+v", err, res.Run)
	}
}

// TestLDAPGuardsHold: the trust guards apply to LDAP unchanged. After a
// good sync, most users vanish from the directory (a wrong path, an
// object deleted by mistake): with overwriteExisting the run is held
// before anything is sent, and every member stays in Bitwarden.
func TestLDAPGuardsHold(t *testing.T) {
	d := ldaptest.NewDirectory()
	var dns []string
	for i := range 20 {
		uid := fmt.Sprintf("u%02d", i)
		dns = append(dns, d.User(uid, uid+"@example.com"))
	}
	srv := ldaptest.Start(t, ldaptest.Options{LDIF: d.LDIF()})
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
		l.Hostname, l.Port = srv.Host, srv.Port
		l.Username, l.Password = ldaptest.ReaderDN, ldaptest.ReaderPassword
		l.RootPath, l.UserPath, l.GroupPath = ldaptest.Suffix, "ou=people", "ou=groups"
	})
	s.Sync.OverwriteExisting = true
	s.Bitwarden.Server, s.Bitwarden.ClientID, s.Bitwarden.ClientSecret = bw.URL, bw.ClientID(), config.Secret(bw.ClientSecret())
	s.Normalize()
	if err := s.Validate(true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveSettings(context.Background(), store.DefaultProfile, s); err != nil {
		t.Fatal(err)
	}
	e := New(st, "test")
	res, err := e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
	if err != nil || res.Run.Status != StatusSuccess {
		t.Fatalf("first sync: %v %+v", err, res.Run)
	}
	if n := len(bw.Members()); n != 20 {
		t.Fatalf("%d members after the first sync, want 20", n)
	}
	conn, err := goldap.DialURL(fmt.Sprintf("ldap://%s:%d", srv.Host, srv.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(ldaptest.AdminDN, ldaptest.AdminPassword); err != nil {
		t.Fatal(err)
	}
	for _, dn := range dns[:15] {
		if err := conn.Del(goldap.NewDelRequest(dn, nil)); err != nil {
			t.Fatal(err)
		}
	}
	imports := len(bw.Imports())
	res, err = e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
	if err != nil && res == nil {
		t.Fatal(err)
	}
	t.Logf("held: %s", res.Run.Error)
	if res.Run.Status != StatusHeld {
		t.Fatalf("status %s (%s), want held", res.Run.Status, res.Run.Error)
	}
	if len(bw.Imports()) != imports || len(bw.Members()) != 20 {
		t.Errorf("a held run changed Bitwarden: %d imports (was %d), %d members", len(bw.Imports()), imports, len(bw.Members()))
	}
	if !strings.Contains(res.Run.Error, "5 live users read, 20 last time") && !strings.Contains(res.Run.Error, "would remove 15") {
		t.Errorf("hold reason %q names neither the shrink nor the removals", res.Run.Error)
	}
}
