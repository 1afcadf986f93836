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
	want.Directory.Okta.Token = ""
	want.Directory.Okta.ClientID = "0oa1b2c3d4EXAMPLE5x7"
	want.Directory.Okta.KeyID = "k1"
	want.Directory.Okta.PrivateKey = pemKey
	if _, err := s.SaveSettings(ctx, DefaultProfile, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadSettings(ctx, DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", got.Directory.Okta, want.Directory.Okta)
	}
	if got.Directory.Okta.PrivateKey.Reveal() != pemKey {
		t.Fatal("private key not restored")
	}
	next := want
	next.Directory.Okta.PrivateKey = pemKey + " "
	ch, err := s.SaveSettings(ctx, DefaultProfile, next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ch.Fields, config.FieldOktaPrivateKey) {
		t.Errorf("changed fields %v lack %s", ch.Fields, config.FieldOktaPrivateKey)
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
