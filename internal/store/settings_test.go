package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
)

const (
	testToken  = "00aBcDeF-okta-token-value-Zz9876543210"
	testSecret = "bw-client-secret-QwErTy-1234567890"
	testHook   = "https://hooks.example.com/services/T000/B000/hook-credential-XYZ"
)

func sampleSettings() config.Settings {
	st := config.Defaults()
	config.Edit(&st.Directory, func(o *okta.Settings) { o.OrgURL = "https://acme.okta.com" })
	config.Edit(&st.Directory, func(o *okta.Settings) { o.Token = testToken })
	st.Bitwarden.ClientID = "organization.1b2c3d4e-0000-1111-2222-333344445555"
	st.Bitwarden.ClientSecret = testSecret
	st.Sync.UserFilter = "include:a@x.com"
	st.Sync.GroupFilter = `|type eq "OKTA_GROUP"`
	st.Sync.IntervalMinutes = 15
	st.Alerts.WebhookURLs = testHook
	return st
}

func TestLoadSettingsNotFound(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.LoadSettings(ctx, DefaultProfile); !errors.Is(err, ErrNotFound) {
		t.Errorf("LoadSettings before save: err = %v, want ErrNotFound", err)
	}
	// A profile row created by something else (schedule) still has no settings.
	if err := s.SetSchedule(ctx, DefaultProfile, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadSettings(ctx, DefaultProfile); !errors.Is(err, ErrNotFound) {
		t.Errorf("LoadSettings with only a schedule: err = %v, want ErrNotFound", err)
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	want := sampleSettings()
	want.Sync.RemoveDisabled, want.Sync.LargeImport = true, true
	config.Edit(&want.Directory, func(o *okta.Settings) { o.Concurrency = 7 })
	ch, err := s.SaveSettings(ctx, DefaultProfile, want)
	if err != nil {
		t.Fatalf("SaveSettings: %v", err)
	}
	if !ch.DirectoryChanged || !ch.OrganizationChanged || !ch.CacheCleared || len(ch.Fields) == 0 {
		t.Errorf("first save change = %+v", ch)
	}
	got, err := s.LoadSettings(ctx, DefaultProfile)
	if err != nil {
		t.Fatalf("LoadSettings: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
	}
	if okta.Of(got.Directory).Token.Reveal() != testToken || got.Bitwarden.ClientSecret.Reveal() != testSecret {
		t.Errorf("secrets not restored")
	}

	// Saving the same settings again changes nothing.
	ch, err = s.SaveSettings(ctx, DefaultProfile, want)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Changed() || ch.CacheCleared || ch.DirectoryChanged || ch.OrganizationChanged {
		t.Errorf("unchanged save reported %+v", ch)
	}

	// An empty secret deletes it.
	noSecret := want
	noSecret.Bitwarden.ClientSecret = ""
	ch, err = s.SaveSettings(ctx, DefaultProfile, noSecret)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ch.Fields, []string{config.FieldBWClientSecret}) {
		t.Errorf("fields = %v", ch.Fields)
	}
	var n int
	if err := s.DB().Get(&n, `SELECT count(*) FROM secrets WHERE name = ?`, config.FieldBWClientSecret); err != nil || n != 0 {
		t.Errorf("client secret row count = %d (%v), want 0", n, err)
	}
	got, err = s.LoadSettings(ctx, DefaultProfile)
	if err != nil || got.Bitwarden.ClientSecret.IsSet() || okta.Of(got.Directory).Token.Reveal() != testToken {
		t.Errorf("after deleting the client secret: %v, secret set %v", err, got.Bitwarden.ClientSecret.IsSet())
	}

	// Profiles are separate.
	if _, err := s.LoadSettings(ctx, 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("profile 2: %v", err)
	}
}

func TestSecretsNotStoredInClear(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "d.db")
	s := openAt(t, dbPath, writeKey(t, dir, "k", randKey(t), "hex"))
	ctx := context.Background()
	if _, err := s.SaveSettings(ctx, DefaultProfile, sampleSettings()); err != nil {
		t.Fatal(err)
	}
	// Check the WAL before a checkpoint and the main file after closing.
	check := func(when string) {
		for _, p := range []string{dbPath, dbPath + "-wal"} {
			b, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{testToken, testSecret, "hook-credential-XYZ", config.RedactedSecret} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s: %s contains %q in clear", when, filepath.Base(p), secret)
				}
			}
			if when == "after close" && p == dbPath && !bytes.Contains(b, []byte("acme.okta.com")) {
				t.Errorf("sanity: the non-secret org URL should be in the file")
			}
		}
	}
	check("before close")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("after close")
}

func TestCiphertextMovedToAnotherRowFails(t *testing.T) {
	cases := []struct {
		name string
		move string
	}{
		{"other name", `UPDATE secrets SET nonce = (SELECT nonce FROM secrets WHERE profile_id = 1 AND name = 'okta.token'),
			ciphertext = (SELECT ciphertext FROM secrets WHERE profile_id = 1 AND name = 'okta.token')
			WHERE profile_id = 1 AND name = 'bitwarden.clientSecret'`},
		{"other profile", `INSERT INTO profiles (id, settings, created_at, updated_at)
				SELECT 2, settings, created_at, updated_at FROM profiles WHERE id = 1;
			INSERT INTO secrets (profile_id, name, nonce, ciphertext, updated_at)
				SELECT 2, name, nonce, ciphertext, updated_at FROM secrets WHERE profile_id = 1`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			if _, err := s.SaveSettings(ctx, DefaultProfile, sampleSettings()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.DB().Exec(tc.move); err != nil {
				t.Fatal(err)
			}
			profile := DefaultProfile
			if tc.name == "other profile" {
				profile = 2
			}
			got, err := s.LoadSettings(ctx, profile)
			if !errors.Is(err, ErrKeyMismatch) {
				t.Fatalf("LoadSettings err = %v, want ErrKeyMismatch", err)
			}
			if got.Bitwarden.ClientSecret.Reveal() == testToken {
				t.Errorf("the moved ciphertext opened")
			}
			if okta.Of(got.Directory).OrgURL != "https://acme.okta.com" {
				t.Errorf("non-secret settings not returned with the error")
			}
		})
	}
}

func TestWrongKey(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "d.db")
	keyA := writeKey(t, dir, "a.key", randKey(t), "base64")
	keyB := writeKey(t, dir, "b.key", randKey(t), "base64")
	ctx := context.Background()

	s, err := Open(ctx, dbPath, Options{KeyFile: keyA})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveSettings(ctx, DefaultProfile, sampleSettings()); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s2 := openAt(t, dbPath, keyB)
	if !s2.KeyInfo().Mismatch {
		t.Errorf("KeyInfo.Mismatch = false with a replaced key")
	}
	got, err := s2.LoadSettings(ctx, DefaultProfile)
	if !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("LoadSettings err = %v, want ErrKeyMismatch", err)
	}
	for _, want := range []string{"secret key does not match", "restore secret.key or re-enter the secrets"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if okta.Of(got.Directory).Token.IsSet() || okta.Of(got.Directory).OrgURL == "" {
		t.Errorf("with a wrong key: token set %v, org %q", okta.Of(got.Directory).Token.IsSet(), okta.Of(got.Directory).OrgURL)
	}

	// Re-entering the secrets re-seals them with the new key.
	ch, err := s2.SaveSettings(ctx, DefaultProfile, sampleSettings())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ch.Fields, []string{okta.FieldToken, config.FieldBWClientSecret, config.FieldWebhooks}) {
		t.Errorf("re-entered secrets: fields = %v", ch.Fields)
	}
	got, err = s2.LoadSettings(ctx, DefaultProfile)
	if err != nil || okta.Of(got.Directory).Token.Reveal() != testToken {
		t.Errorf("after re-entering: %v", err)
	}
}

func TestSaveSettingsChanges(t *testing.T) {
	cases := []struct {
		name      string
		mutate    func(*config.Settings)
		fields    []string
		dir, org  bool
		clearsTmp bool
	}{
		{"nothing", func(*config.Settings) {}, nil, false, false, false},
		{"org url", func(s *config.Settings) {
			config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "https://other.okta.com" })
		},
			[]string{okta.FieldOrgURL}, true, false, true},
		{"client id", func(s *config.Settings) { s.Bitwarden.ClientID = "organization.ffff" },
			[]string{config.FieldBWClientID}, false, true, true},
		{"server", func(s *config.Settings) { s.Bitwarden.Server = config.ServerEU },
			[]string{config.FieldBWServer}, false, true, true},
		{"token only", func(s *config.Settings) { config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = "new-token" }) },
			[]string{okta.FieldToken}, false, false, false},
		{"client secret only", func(s *config.Settings) { s.Bitwarden.ClientSecret = "new" },
			[]string{config.FieldBWClientSecret}, false, false, false},
		{"sync options", func(s *config.Settings) {
			s.Sync.IntervalMinutes = 60
			s.Sync.OverwriteExisting = true
			s.Sync.Groups = false
			s.Sync.UserFilter = ""
			config.Edit(&s.Directory, func(o *okta.Settings) { o.RateLimitShare = 0.25 })
		}, []string{okta.FieldShare, config.FieldInterval, "sync.overwriteExisting", config.FieldUserFilter, "sync.groups"}, false, false, false},
		{"both", func(s *config.Settings) {
			config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "https://b.okta.com" })
			s.Bitwarden.ClientID = "organization.b"
		}, []string{okta.FieldOrgURL, config.FieldBWClientID}, true, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			ctx := context.Background()
			base := sampleSettings()
			if _, err := s.SaveSettings(ctx, DefaultProfile, base); err != nil {
				t.Fatal(err)
			}
			// Fill the cache so that clearing is visible.
			now := time.Now()
			if err := s.SaveSyncState(ctx, SyncState{ProfileID: DefaultProfile, Hash: "abc", LastBody: []byte{1}, LastFullReadAt: &now, LastRunAt: &now}); err != nil {
				t.Fatal(err)
			}
			if err := s.ReplaceMemberCache(ctx, DefaultProfile, []CachedGroup{{GroupID: "g", MemberIDs: []string{"u"}}}); err != nil {
				t.Fatal(err)
			}
			next := base
			tc.mutate(&next)
			ch, err := s.SaveSettings(ctx, DefaultProfile, next)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ch.Fields, tc.fields) || ch.DirectoryChanged != tc.dir || ch.OrganizationChanged != tc.org || ch.CacheCleared != tc.clearsTmp {
				t.Errorf("change = %+v, want fields %v dir %v org %v cleared %v", ch, tc.fields, tc.dir, tc.org, tc.clearsTmp)
			}
			st, err := s.GetSyncState(ctx, DefaultProfile)
			if err != nil {
				t.Fatal(err)
			}
			mc, err := s.LoadMemberCache(ctx, DefaultProfile)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := s.LastBody(ctx, DefaultProfile)
			cleared := st.Hash == "" && body == nil && st.LastFullReadAt == nil && len(mc) == 0
			kept := st.Hash == "abc" && body != nil && st.LastFullReadAt != nil && len(mc) == 1
			if tc.clearsTmp && !cleared || !tc.clearsTmp && !kept {
				t.Errorf("cache state: hash %q body %v fullRead %v groups %d; want cleared=%v", st.Hash, body, st.LastFullReadAt, len(mc), tc.clearsTmp)
			}
			if st.LastRunAt == nil {
				t.Errorf("clearing the cache must keep run times")
			}
			got, err := s.LoadSettings(ctx, DefaultProfile)
			if err != nil || !reflect.DeepEqual(got, next) {
				t.Errorf("stored settings = %+v (%v), want %+v", got, err, next)
			}
		})
	}
}

func TestSaveSettingsRollsBackOnError(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.SaveSettings(ctx, DefaultProfile, sampleSettings()); err == nil {
		t.Fatal("SaveSettings with a cancelled context succeeded")
	}
	if _, err := s.LoadSettings(context.Background(), DefaultProfile); !errors.Is(err, ErrNotFound) {
		t.Errorf("after a failed save: %v, want ErrNotFound", err)
	}
}

// TestSaveSettingsEveryFieldCounts: a save whose only change is any one
// setting outside the directory section stores it and lists it (a field
// missing from the changed list was once dropped as "unchanged":
// sync.inviteUsers, bitwarden.importTimeoutSeconds).
func TestSaveSettingsEveryFieldCounts(t *testing.T) {
	ctx := context.Background()
	cases := map[string]func(*config.Settings){
		config.FieldInviteUsers:           func(s *config.Settings) { s.Sync.InviteUsers = !s.Sync.InviteUsers },
		config.FieldImportTimeout:         func(s *config.Settings) { s.Bitwarden.ImportTimeoutSeconds = 900 },
		config.FieldTimeout:               func(s *config.Settings) { s.Sync.TimeoutMinutes = 45 },
		config.FieldMaxShrinkPct:          func(s *config.Settings) { s.Guard.MaxShrinkPercent = 33 },
		"sync.largeImport":                func(s *config.Settings) { s.Sync.LargeImport = !s.Sync.LargeImport },
		config.FieldGroupFilter:           func(s *config.Settings) { s.Sync.GroupFilter = "include:Ops" },
		config.FieldMaxRemovalPct:         func(s *config.Settings) { s.Guard.MaxRemovalPercent = 7 },
		config.FieldBWServer:              func(s *config.Settings) { s.Bitwarden.Server = config.ServerEU },
		config.FieldMaxRemovals:           func(s *config.Settings) { s.Guard.MaxRemovals = 9 },
		config.FieldMaxMembershipRemovals: func(s *config.Settings) { s.Guard.MaxMembershipRemovals = 11 },
	}
	for path, mutate := range cases {
		t.Run(path, func(t *testing.T) {
			s := newStore(t)
			base := sampleSettings()
			if _, err := s.SaveSettings(ctx, DefaultProfile, base); err != nil {
				t.Fatal(err)
			}
			next := base
			mutate(&next)
			next.Normalize()
			ch, err := s.SaveSettings(ctx, DefaultProfile, next)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ch.Fields, []string{path}) {
				t.Errorf("changed fields %v, want [%s]", ch.Fields, path)
			}
			got, err := s.LoadSettings(ctx, DefaultProfile)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Sync, next.Sync) || !reflect.DeepEqual(got.Guard, next.Guard) || got.Bitwarden.ImportTimeoutSeconds != next.Bitwarden.ImportTimeoutSeconds || got.Bitwarden.Server != next.Bitwarden.Server {
				t.Errorf("stored settings lost the change to %s", path)
			}
		})
	}
}
