package sync

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/dirtest"
	"github.com/dirsync/dirsync/internal/store"
)

// TestFakeKindSyncs: the engine's default source is the chosen type's
// Open, so a type it has never heard of syncs, its errors fail the run
// with nothing pushed, and it is never asked for a delta.
func TestFakeKindSyncs(t *testing.T) {
	dirtest.Register()
	dirtest.SetDirectory("fake.sync", &directory.Snapshot{
		Users:  []directory.User{{ID: "u1", Email: "a@x.com", Status: "active"}, {ID: "u2", Email: "b@x.com", Status: "active"}},
		Groups: []directory.Group{{ID: "g1", Name: "Fakers", MemberIDs: []string{"u1", "u2"}}},
	})
	t.Cleanup(func() { dirtest.SetDirectory("fake.sync", nil) })
	bw := bwtest.New(bwtest.Options{})
	t.Cleanup(bw.Close)
	st, err := store.Open(context.Background(), t.TempDir()+"/dirsync.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := config.Defaults()
	s.Directory.Type = dirtest.Name
	config.Edit(&s.Directory, func(f *dirtest.Settings) { f.Host = "fake.sync"; f.Password = dirtest.Password })
	s.Bitwarden.Server, s.Bitwarden.ClientID, s.Bitwarden.ClientSecret = bw.URL, bw.ClientID(), config.Secret(bw.ClientSecret())
	s.Normalize()
	if err := s.Validate(true); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveSettings(context.Background(), store.DefaultProfile, s); err != nil {
		t.Fatal(err)
	}
	e := New(st, "test")
	opens := dirtest.Opens.Load()
	res, err := e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
	if err != nil || res.Run.Status != StatusSuccess {
		t.Fatalf("run: %v %+v", err, res)
	}
	if dirtest.Opens.Load() != opens+1 {
		t.Errorf("Open called %d times, want 1", dirtest.Opens.Load()-opens)
	}
	if m, ok := bw.MemberByEmail("b@x.com"); !ok || m.ExternalID != "u2" {
		t.Errorf("member b@x.com: %+v %v", m, ok)
	}
	if g, ok := bw.GroupByExternalID("g1"); !ok || g.Name != "Fakers" {
		t.Errorf("group g1: %+v %v", g, ok)
	}
	// A second run reads in full again (the fake keeps no cache) and
	// pushes nothing new.
	res, err = e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
	if err != nil || res.Run.Status != StatusUnchanged {
		t.Fatalf("second run: %v %+v", err, res.Run)
	}
	// The type's error fails the run, nothing is pushed.
	bad := s
	config.Edit(&bad.Directory, func(f *dirtest.Settings) { f.Password = "wrong-password" })
	imports := len(bw.Imports())
	res, err = e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync, Settings: &bad})
	if res == nil || res.Run.Status != StatusFailed || !strings.Contains(res.Run.Error, "password was refused") {
		t.Fatalf("wrong password: %v %+v", err, res)
	}
	if len(bw.Imports()) != imports {
		t.Error("a failed read pushed")
	}
}

// recordingSource answers an empty directory and keeps what it was asked.
type recordingSource struct{ opts []directory.ReadOptions }

func (r *recordingSource) Read(_ context.Context, opts directory.ReadOptions) (*directory.Snapshot, error) {
	r.opts = append(r.opts, opts)
	// A watermark, so that the engine would ask a DeltaReader for a delta.
	return &directory.Snapshot{Users: []directory.User{{ID: "x1", Email: "x@x.com"}}, UsersLastUpdated: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, nil
}

// TestIncludeDeletedAsBDC: soft-deleted users are asked for only on test
// runs and with overwriteExisting, as BDC asks for them; a source that is
// no DeltaReader is never asked for a delta.
func TestIncludeDeletedAsBDC(t *testing.T) {
	h := newHarness(t, smallOrg(), nil)
	rec := &recordingSource{}
	h.engine.NewSource = func(config.Settings) (directory.Source, error) { return rec, nil }
	ctx := context.Background()
	if _, err := h.run(ModeTest); err != nil {
		t.Fatal(err)
	}
	if _, err := h.run(ModeSync); err != nil {
		t.Fatal(err)
	}
	if _, err := h.run(ModeSync); err != nil {
		t.Fatal(err)
	}
	s := h.settings()
	s.Sync.OverwriteExisting = true
	if _, err := h.engine.Run(ctx, store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeDryRun, Settings: &s}); err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, o := range rec.opts {
		got = append(got, o.IncludeDeleted)
		if !o.UsersChangedSince.IsZero() {
			t.Errorf("a source without deltas was asked for one: %v", o.UsersChangedSince)
		}
	}
	if fmt.Sprint(got) != "[true false false true]" {
		t.Errorf("IncludeDeleted per run %v, want [true false false true] (test, sync, sync, overwrite)", got)
	}
}

// TestDeletedWithoutEmail: a directory may report a deleted account with
// no email (an AD tombstone). Bitwarden removes it by externalId (email
// null is allowed for deleted members); Vaultwarden refuses a null email
// for the whole import, so there it is left out — and either way the run
// succeeds and the prediction matches what the server did.
func TestDeletedWithoutEmail(t *testing.T) {
	for _, vw := range []bool{false, true} {
		t.Run(fmt.Sprintf("vaultwarden=%v", vw), func(t *testing.T) {
			dirtest.Register()
			host := fmt.Sprintf("fake.tombstone.%v", vw)
			live := []directory.User{{ID: "u1", Email: "a@x.com", Status: "active"}, {ID: "u2", Email: "b@x.com", Status: "active"}}
			dirtest.SetDirectory(host, &directory.Snapshot{Users: live})
			t.Cleanup(func() { dirtest.SetDirectory(host, nil) })
			bw := bwtest.New(bwtest.Options{Vaultwarden: vw})
			t.Cleanup(bw.Close)
			st, err := store.Open(context.Background(), t.TempDir()+"/dirsync.db", store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			s := config.Defaults()
			s.Directory.Type = dirtest.Name
			config.Edit(&s.Directory, func(f *dirtest.Settings) { f.Host = host; f.Password = dirtest.Password })
			s.Bitwarden.Server, s.Bitwarden.ClientID, s.Bitwarden.ClientSecret = bw.URL, bw.ClientID(), config.Secret(bw.ClientSecret())
			s.Guard = config.Guard{}
			s.Normalize()
			if _, err := st.SaveSettings(context.Background(), store.DefaultProfile, s); err != nil {
				t.Fatal(err)
			}
			e := New(st, "test")
			run := func() *Result {
				t.Helper()
				res, err := e.Run(context.Background(), store.DefaultProfile, Options{Trigger: TriggerCLI, Mode: ModeSync})
				if err != nil || res.Run.Status != StatusSuccess {
					t.Fatalf("run: %v %+v", err, res.Run)
				}
				return res
			}
			run()
			// u2 is deleted in the directory and has lost its email.
			dirtest.SetDirectory(host, &directory.Snapshot{Users: []directory.User{live[0], {ID: "u2", Status: "deleted", Deleted: true}}})
			res := run()
			m, ok := bw.MemberByEmail("b@x.com")
			switch {
			case !vw && ok:
				t.Errorf("Bitwarden kept the deleted member: %+v", m)
			case vw && (!ok || m.Status == bwtest.Revoked):
				t.Errorf("Vaultwarden member b@x.com %+v %v: it cannot be matched without an email, so it stays", m, ok)
			}
			if d := res.Bitwarden; d == nil || (d.Counts.Removals == 1) == vw {
				t.Errorf("prediction %+v: want one removal on Bitwarden, none on Vaultwarden", d)
			}
		})
	}
}
