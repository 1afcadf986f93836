package app

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/demo"
	"github.com/dirsync/dirsync/internal/directory/okta"
	"github.com/dirsync/dirsync/internal/store"
)

// TestDemoRefusesARealDatabase: serve --demo on a database that holds an
// installation's settings refuses (naming the flag to use) and leaves the
// settings and secrets as they were; on its own demo database it starts
// again and again.
func TestDemoRefusesARealDatabase(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "dirsync.db")
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	real := config.Defaults()
	config.Edit(&real.Directory, func(o *okta.Settings) { o.OrgURL = "https://acme.okta.com" })
	config.Edit(&real.Directory, func(o *okta.Settings) { o.Token = "00real-okta-token-value" })
	real.Bitwarden.ClientID = "organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012"
	real.Bitwarden.ClientSecret = "real-bitwarden-secret"
	real.Normalize()
	if _, err := st.SaveSettings(ctx, store.DefaultProfile, real); err != nil {
		t.Fatal(err)
	}
	st.Close()

	opts := Options{DBPath: db, Addr: "127.0.0.1:0", Version: "test", Demo: true, Logger: slog.New(slog.DiscardHandler), Argon: auth.TestParams}
	_, err = New(ctx, opts)
	if !errors.Is(err, demo.ErrRealSettings) || !strings.Contains(err.Error(), "--db ./data/demo.db") || !strings.Contains(err.Error(), "acme.okta.com") {
		t.Fatalf("New with --demo on a real database: %v", err)
	}
	st, err = store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.LoadSettings(ctx, store.DefaultProfile)
	st.Close()
	if err != nil || okta.Of(got.Directory).OrgURL != "https://acme.okta.com" || okta.Of(got.Directory).Token.Reveal() != "00real-okta-token-value" ||
		got.Bitwarden.ClientSecret.Reveal() != "real-bitwarden-secret" {
		t.Fatalf("the real settings changed: %+v (%v)", got, err)
	}

	// A demo database is reused freely.
	opts.DBPath = filepath.Join(t.TempDir(), "demo.db")
	for range 2 {
		a, err := New(ctx, opts)
		if err != nil {
			t.Fatalf("demo on its own database: %v", err)
		}
		a.closeStore()
	}
}
