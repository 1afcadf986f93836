package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
)

// A service app's private key is a sealed secret like the token: stored
// in its own row, never in clear, and restored on load.
func TestOAuthPrivateKeySealed(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "d.db")
	s := openAt(t, dbPath, writeKey(t, dir, "k", randKey(t), "hex"))
	ctx := context.Background()
	const pemKey = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTESTKEYbodyONLY\n-----END PRIVATE KEY-----\n"
	want := sampleSettings()
	config.Edit(&want.Directory, func(o *okta.Settings) { o.Token = "" })
	config.Edit(&want.Directory, func(o *okta.Settings) { o.ClientID = "0oa1b2c3d4EXAMPLE5x7" })
	config.Edit(&want.Directory, func(o *okta.Settings) { o.KeyID = "k1" })
	config.Edit(&want.Directory, func(o *okta.Settings) { o.PrivateKey = pemKey })
	if _, err := s.SaveSettings(ctx, DefaultProfile, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadSettings(ctx, DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", okta.Of(got.Directory), okta.Of(want.Directory))
	}
	if okta.Of(got.Directory).PrivateKey.Reveal() != pemKey {
		t.Fatal("private key not restored")
	}
	next := want
	config.Edit(&next.Directory, func(o *okta.Settings) { o.PrivateKey = pemKey + " " })
	ch, err := s.SaveSettings(ctx, DefaultProfile, next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ch.Fields, okta.FieldPrivateKey) {
		t.Errorf("changed fields %v lack %s", ch.Fields, okta.FieldPrivateKey)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dbPath, dbPath + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte("TESTKEYbodyONLY")) || bytes.Contains(b, []byte("BEGIN PRIVATE KEY")) {
			t.Errorf("%s holds the private key in clear", filepath.Base(p))
		}
	}
}
