// Package demo starts an in-process fake Okta and fake Bitwarden and points
// a profile's settings at them, so a new user can click through Test, Sync
// now and History without real accounts.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// Spec is the demo org: a few hundred users in a dozen groups, with some
// suspended and deprovisioned accounts, an empty group and a long name.
var Spec = oktatest.Spec{
	Users: 320, Groups: 12, MembersPerGroup: 40, Deprovisioned: 12, Suspended: 8,
	LongGroupNames: 1, EmptyGroups: 1, NoEmail: 1, Seed: 2026,
}

// Fakes are the running demo servers.
type Fakes struct {
	Okta      *oktatest.Server
	Bitwarden *bwtest.Server
}

// Close stops both servers.
func (f *Fakes) Close() {
	f.Okta.Close()
	f.Bitwarden.Close()
}

// Start starts the fakes and saves settings that use them into profile,
// keeping the sync options an earlier demo session chose.
func Start(ctx context.Context, st *store.Store, profileID int64) (*Fakes, error) {
	f := &Fakes{Okta: oktatest.New(oktatest.Options{}), Bitwarden: bwtest.New(bwtest.Options{})}
	org := oktatest.Generate(Spec)
	// A deprovisioned account that shares a live one's email, as happens
	// when someone leaves and comes back: the preview shows it left out.
	var live, gone *oktatest.User
	for _, u := range org.Users {
		switch {
		case live == nil && u.Status == "ACTIVE" && u.Email != "":
			live = u
		case gone == nil && u.Status == "DEPROVISIONED":
			gone = u
		}
	}
	if live != nil && gone != nil {
		gone.Email = live.Email
	}
	f.Okta.SetOrg(org)
	f.Bitwarden.AddMember("owner@example.com", "", bwtest.Owner)
	s, err := st.LoadSettings(ctx, profileID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s = config.Defaults()
		s.Sync.IntervalMinutes = 60
	case err != nil || !IsDemo(s):
		// Overwriting real settings would point the installation's schedule
		// at a fake and drop its secrets.
		f.Close()
		return nil, fmt.Errorf("%w: %s holds the settings of a real installation (%s), which the demo would overwrite; "+
			"run the demo on a database of its own: dirsync --db ./data/demo.db serve --demo", ErrRealSettings, st.Path(), where(s))
	}
	Connect(&s, f.Okta, f.Bitwarden)
	if err := Save(ctx, st, profileID, s); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ErrRealSettings is returned by Start for a database whose settings are
// not the demo's.
var ErrRealSettings = errors.New("serve --demo refused")

// IsDemo reports whether saved settings are a demo's: both connections go
// to loopback fakes with the fakes' own credentials. Anything else is an
// installation's.
func IsDemo(s config.Settings) bool {
	o, ok := s.Directory.Current().(*okta.Settings)
	return ok && isLoopbackURL(o.OrgURL) && isLoopbackURL(s.Bitwarden.Server) &&
		!o.UsesOAuth() &&
		o.Token.Reveal() == oktatest.DefaultToken &&
		s.Bitwarden.ClientID == bwtest.DefaultClientID && s.Bitwarden.ClientSecret.Reveal() == bwtest.DefaultClientSecret
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && config.IsLoopbackHost(u.Hostname())
}

// where names the directory and organization of settings for a message
// (no secret).
func where(s config.Settings) string {
	o, ok := s.Directory.Current().(*okta.Settings)
	if !ok {
		return "a " + s.Directory.Type + " directory, Bitwarden " + s.Bitwarden.Server
	}
	if o.OrgURL == "" {
		return "settings the key cannot open"
	}
	return "Okta " + o.OrgURL + ", Bitwarden " + s.Bitwarden.Server
}

// Settings returns the default settings pointed at a fake Okta and a fake
// Bitwarden (for the demo and for tests).
func Settings(fake *oktatest.Server, bw *bwtest.Server) config.Settings {
	s := config.Defaults()
	Connect(&s, fake, bw)
	return s
}

// Connect points s's directory and organization at the fakes, keeping
// the sync options.
func Connect(s *config.Settings, fake *oktatest.Server, bw *bwtest.Server) {
	s.Directory.Type = okta.KindName
	config.Edit(&s.Directory, func(o *okta.Settings) {
		o.OrgURL = fake.URL
		o.Token = config.Secret(fake.Token())
	})
	s.Bitwarden.Server = bw.URL
	s.Bitwarden.ClientID = bw.ClientID()
	s.Bitwarden.ClientSecret = config.Secret(bw.ClientSecret())
}

// Save normalizes, validates and saves settings.
func Save(ctx context.Context, st *store.Store, profileID int64, s config.Settings) error {
	s.Normalize()
	if err := s.Validate(true); err != nil {
		return fmt.Errorf("demo: settings: %w", err)
	}
	if _, err := st.SaveSettings(ctx, profileID, s); err != nil {
		return fmt.Errorf("demo: save settings: %w", err)
	}
	return nil
}
