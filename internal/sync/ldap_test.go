package sync

import (
	"context"
	"slices"
	"strings"
	"testing"

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
