package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/web"
)

// DefaultCheckTimeout bounds one "Check connection": long enough for a
// slow self-hosted server's first answer, short enough that the button
// never seems to hang (and well under a reverse proxy's 60 s).
const DefaultCheckTimeout = 20 * time.Second

// SettingsCheck is one Settings section's "Check connection": the
// console posts the form's current values (saved or not) to
// POST /settings/check/{section} and shows what Run found, or what
// Explain says to check.
type SettingsCheck struct {
	// Fields are the field-path prefixes of the section ("bitwarden.");
	// while one of its fields has an error the check does not run and
	// says which fields to fix.
	Fields []string
	// Run tries the connection with the form's settings (unsaved values;
	// stored secrets only where config.CarrySecrets carried them, that is
	// while they still go to the same host). It must answer within ctx's
	// deadline.
	Run func(ctx context.Context, s config.Settings) (*directory.CheckResult, error)
	// Explain turns Run's error into what to check; nil (or a nil answer)
	// shows the error's own text under a generic sentence.
	Explain func(s config.Settings, err error) *directory.Explanation
}

// owns reports whether a field path belongs to the section.
func (c SettingsCheck) owns(path string) bool {
	for _, p := range c.Fields {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// settingsCheck is POST /settings/check/{section}: try one section of the
// Settings form as it is now, saving nothing. htmx gets the result
// fragment for the section's aria-live region; a plain POST (no
// JavaScript) gets the Settings page again, with the values as typed and
// the result in place.
func (s *Server) settingsCheck(w http.ResponseWriter, r *http.Request) {
	section := chi.URLParam(r, "section")
	c, ok := s.checks[section]
	if !ok || c.Run == nil {
		s.renderError(w, r, http.StatusNotFound, "No such check", "There is no connection check for this part of the settings.")
		return
	}
	f, ok := s.readSettingsForm(w, r)
	if !ok {
		return
	}
	v := s.runCheck(r.Context(), section, c, f)
	// Secrets are never sent back to the browser: a secret typed into the
	// form was used for the check, but the form comes back without it.
	var typed []string
	for _, sf := range f.settings.SecretFields() {
		if strings.TrimSpace(r.PostForm.Get(sf.Path)) != "" {
			typed = append(typed, sf.Name)
		}
	}
	if isHTMX(r) {
		s.renderFragment(w, r, http.StatusOK, web.CheckResult(v))
		return
	}
	if len(typed) > 0 {
		them := "it"
		if len(typed) > 1 {
			them = "them"
		}
		v.Note = "Not saved: " + strings.Join(typed, " and ") + " you typed served this check only, and secrets are never shown again — enter " + them + " again before you save."
	}
	view := f.view
	// The page is a check's answer, not a failed save: the field
	// messages are in the result, and no banner says "nothing was saved".
	view.Errors, view.Summary, view.Unplaced = nil, nil, nil
	view.ClearTyped()
	view.Checks = map[string]*web.CheckView{section: &v}
	s.render(w, r, http.StatusOK, s.settingsPage(r, f.stored), web.SettingsPage(view))
}

// runCheck runs one check on the posted settings within the check
// deadline and turns its answer into the view.
func (s *Server) runCheck(ctx context.Context, section string, c SettingsCheck, f postedSettings) web.CheckView {
	v := web.CheckView{Section: section}
	for _, k := range sortedKeys(f.errs) {
		if !c.owns(k) {
			continue
		}
		slot := slotOf(k)
		if slot == "" {
			slot = k
		}
		v.Fields = append(v.Fields, web.ErrorLink{Href: errorHref(slot), Text: web.Sentence(f.errs[k])})
	}
	if len(v.Fields) > 0 {
		v.Summary = "The check did not run: fix " + web.Plural(len(v.Fields), "field", "fields") + " first."
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, s.checkTimeout)
	defer cancel()
	start := s.now()
	res, err := c.Run(ctx, f.settings)
	s.log.Info("settings check", "section", section, "ok", err == nil, "ms", s.now().Sub(start).Milliseconds())
	if err == nil && res == nil {
		err = errors.New("the check returned nothing")
	}
	if err != nil {
		var ex *directory.Explanation
		if c.Explain != nil {
			ex = c.Explain(f.settings, err)
		}
		switch {
		case ex != nil:
			v.Summary, v.Hints = ex.Summary, ex.Hints
		case errors.Is(err, context.DeadlineExceeded):
			v.Summary = fmt.Sprintf("No answer within %s.", s.checkTimeout.Round(time.Second))
			v.Hints = []string{"Check that the server is up and reachable from this machine, then try again."}
		default:
			v.Summary = "The check failed."
		}
		v.Detail = web.Sentence(config.Redact(err.Error(), f.settings.SecretValues()...))
		return v
	}
	v.OK, v.Summary, v.Warnings = true, res.Summary, res.Warnings
	for _, fact := range res.Facts {
		v.Facts = append(v.Facts, web.CheckFact{Label: fact.Label, Value: fact.Value})
	}
	return v
}
