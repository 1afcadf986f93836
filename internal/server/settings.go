package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

// keyMismatchNote is shown when the master key cannot open the stored
// secrets; they then count as "not set" and must be entered again.
const keyMismatchNote = "The stored Okta token or Bitwarden client secret cannot be opened with the current secret key (was secret.key replaced?). Restore the key file, or enter the secrets again."

// storedSettings is what loadSettings found.
type storedSettings struct {
	config.Settings
	// Found is false when settings were never saved (Settings are the
	// defaults).
	Found bool
	// KeyMismatch is true when a stored secret could not be opened.
	KeyMismatch bool
}

// loadSettings returns the stored settings, or the defaults when none
// were ever saved.
func (s *Server) loadSettings(ctx context.Context) (storedSettings, error) {
	st, err := s.settings.LoadSettings(ctx, store.DefaultProfile)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return storedSettings{Settings: config.Defaults()}, nil
	case errors.Is(err, store.ErrKeyMismatch):
		return storedSettings{Settings: st, Found: true, KeyMismatch: true}, nil
	case err != nil:
		return storedSettings{}, fmt.Errorf("load settings: %w", err)
	}
	return storedSettings{Settings: st, Found: true}, nil
}

// settingsPage builds the page data, with the key-mismatch warning if any.
func (s *Server) settingsPage(r *http.Request, stored storedSettings) web.Page {
	p := s.page(r, "Settings", "settings")
	if stored.KeyMismatch {
		p.Flashes = append(p.Flashes, web.Flash{Kind: web.FlashError, Message: keyMismatchNote})
	}
	return p
}

// settingsShow is GET /settings.
func (s *Server) settingsShow(w http.ResponseWriter, r *http.Request) {
	stored, err := s.loadSettings(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v := settingsView(stored.Settings)
	s.guideFirstRun(r, stored, &v)
	s.render(w, r, http.StatusOK, s.settingsPage(r, stored), web.SettingsPage(v))
}

// firstRunNeeds is what an admin needs at hand for a first setup.
var firstRunNeeds = []string{
	"For Okta: your Okta org URL (https://acme.okta.com) and an Okta API token — or, instead of the token, an OAuth API Services app with its client ID and private key.",
	"For LDAP or Active Directory instead: the server's host name and port, a bind user with its password that may read users and groups, and the root path (the base DN, such as dc=example,dc=com).",
	"Your Bitwarden organization's API key: client id and client secret (Bitwarden admin console → Settings → Organization info → View API key), and whether the organization is on the US or EU cloud or self-hosted.",
}

// guideFirstRun marks the form of a first run (nothing saved yet: what
// you need, focus in the first field) or of a setup that was saved but
// never tried (the next step is a test).
func (s *Server) guideFirstRun(r *http.Request, stored storedSettings, v *web.SettingsForm) {
	if !stored.Found {
		v.FirstRun, v.Needs = true, firstRunNeeds
		return
	}
	if _, _, tested := s.previews.latest(sessionFrom(r).user); tested || s.tests.current(store.DefaultProfile) != nil {
		return
	}
	if _, total, err := s.runs.ListRuns(r.Context(), store.DefaultProfile, 1, 0); err == nil && total == 0 {
		v.NextStep = true
	}
}
