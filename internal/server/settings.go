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
	s.render(w, r, http.StatusOK, s.settingsPage(r, stored), web.SettingsPage(settingsView(stored.Settings)))
}
