package store

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/dirtest"
	"github.com/dirsync/dirsync/internal/directory/okta"
)

// TestFakeKindSealedAndDropped: a type the store has never heard of has
// its secret sealed in its own row (by its path), opened on load, its
// changed fields listed by path, and its secret deleted once another type
// is chosen.
func TestFakeKindSealedAndDropped(t *testing.T) {
	dirtest.Register()
	s := newStore(t)
	ctx := context.Background()
	st := sampleSettings()
	st.Directory.Type = dirtest.Name
	config.Edit(&st.Directory, func(f *dirtest.Settings) { f.Host = "fake.example"; f.Password = "fake-secret-value-42" })
	if _, err := s.SaveSettings(ctx, DefaultProfile, st); err != nil {
		t.Fatal(err)
	}
	var row secretRow
	if err := s.r.Get(&row, `SELECT profile_id, name, nonce, ciphertext FROM secrets WHERE profile_id = ? AND name = ?`, DefaultProfile, dirtest.FieldPassword); err != nil {
		t.Fatalf("no sealed row for %s: %v", dirtest.FieldPassword, err)
	}
	if strings.Contains(string(row.Ciphertext), "fake-secret-value-42") {
		t.Fatal("the password is stored in the clear")
	}
	var raw string
	if err := s.r.Get(&raw, `SELECT settings FROM profiles WHERE id = ?`, DefaultProfile); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "fake-secret-value-42") || strings.Contains(raw, testToken) || !strings.Contains(raw, `"fake":{"host":"fake.example"`) {
		t.Fatalf("settings JSON %s", raw)
	}
	got, err := s.LoadSettings(ctx, DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Directory.Current(), st.Directory.Current()) {
		t.Fatalf("loaded %+v, want %+v", got.Directory, st.Directory)
	}
	next := got
	config.Edit(&next.Directory, func(f *dirtest.Settings) { f.Port = 7001 })
	ch, err := s.SaveSettings(ctx, DefaultProfile, next)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ch.Fields, []string{dirtest.FieldPort}) || !ch.DirectoryChanged || !ch.CacheCleared {
		t.Errorf("change %+v", ch)
	}
	// Back to Okta: the fake password goes, the Okta section was kept.
	next.Directory.Type = okta.KindName
	ch, err = s.SaveSettings(ctx, DefaultProfile, next)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Fields[0] != config.FieldDirectoryType {
		t.Errorf("change %+v", ch)
	}
	var n int
	if err := s.r.Get(&n, `SELECT count(*) FROM secrets WHERE profile_id = ? AND name = ?`, DefaultProfile, dirtest.FieldPassword); err != nil || n != 0 {
		t.Fatalf("the fake password's row is still there (%d, %v)", n, err)
	}
	got, err = s.LoadSettings(ctx, DefaultProfile)
	if err != nil || okta.Of(got.Directory).OrgURL != "https://acme.okta.com" || got.Directory.Section(dirtest.Name).(*dirtest.Settings).Password.IsSet() {
		t.Fatalf("after switching back: %v %+v", err, got.Directory)
	}
}

// TestLegacySettingsRow: a row written before the registry (the Okta
// section as config.Okta encoded it, secrets as empty strings) loads as
// the same settings, and its sealed token still opens.
func TestLegacySettingsRow(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	want := sampleSettings()
	config.Edit(&want.Directory, func(o *okta.Settings) { o.Concurrency = 6; o.FullReadHours = 12 })
	if _, err := s.SaveSettings(ctx, DefaultProfile, want); err != nil {
		t.Fatal(err)
	}
	legacy := `{"directory":{"type":"okta","okta":{"orgUrl":"https://acme.okta.com","token":"","privateKey":"","concurrency":6,"rateLimitShare":0.5,"fullReadHours":12}},` +
		`"bitwarden":{"server":"us","clientId":"organization.1b2c3d4e-0000-1111-2222-333344445555","clientSecret":"","importTimeoutSeconds":300},` +
		`"sync":{"intervalMinutes":15,"removeDisabled":false,"overwriteExisting":false,"largeImport":false,"users":true,"userFilter":"include:a@x.com","groups":true,"groupFilter":"|type eq \"OKTA_GROUP\"","inviteUsers":true,"timeoutMinutes":30},` +
		`"guard":{"maxRemovals":50,"maxRemovalPercent":10,"maxMembershipRemovals":500,"maxMembershipRemovalPercent":10,"maxShrinkPercent":10},` +
		`"alerts":{"webhookUrls":""}}`
	if _, err := s.w.Exec(`UPDATE profiles SET settings = ? WHERE id = ?`, legacy, DefaultProfile); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadSettings(ctx, DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	want.Normalize()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("legacy row loaded as\n%+v\nwant\n%+v", got, want)
	}
	// Saving it again changes nothing.
	if ch, err := s.SaveSettings(ctx, DefaultProfile, got); err != nil || ch.Changed() {
		t.Fatalf("re-save: %+v %v", ch, err)
	}
}
