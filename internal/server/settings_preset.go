package server

import (
	"net/http"
	"strings"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/web"
)

// settingsPreset is POST /settings/preset, a type's "Fill in the … defaults"
// button (preset=<type>:<preset>, with the whole form). It fills each of
// the type's fields that has a value for the preset (directory.Field.
// Presets) into the posted values and shows the form again: nothing is
// saved, with or without JavaScript. A switch named after the preset
// (ldap.ad for "ad") is the preset itself: turned on for it, off for the
// type's other presets.
func (s *Server) settingsPreset(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	kind, name, _ := strings.Cut(r.PostForm.Get("preset"), ":")
	k, ok := directory.Lookup(kind)
	fields := []directory.Field(nil)
	if ok {
		fields = k.New().Fields()
	}
	names := map[string]bool{}
	for _, f := range fields {
		for p := range f.Presets {
			names[p] = true
		}
	}
	if !names[name] {
		s.renderError(w, r, http.StatusBadRequest, "No such preset", "This directory type has no such set of defaults.")
		return
	}
	form := r.PostForm
	form.Set("directory.type", kind)
	for _, f := range fields {
		if v, ok := f.Presets[name]; ok {
			form.Set(f.Path, v)
		}
		if f.Kind != directory.FieldBool {
			continue
		}
		for p := range names {
			if strings.HasSuffix(f.Path, "."+p) {
				if p == name {
					form.Set(f.Path, "on")
				} else {
					form.Del(f.Path)
				}
			}
		}
	}
	stored, err := s.loadSettings(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	_, view, _ := settingsFromForm(form, stored.Settings)
	typed := false
	for _, t := range view.DirectoryTypes {
		for _, g := range t.Groups {
			for _, f := range g.Fields {
				typed = typed || f.Typed
				for _, d := range f.Dependents {
					typed = typed || d.Typed
				}
			}
		}
	}
	typed = typed || view.SecretTyped || view.WebhooksTyped
	view.Errors, view.Summary, view.Unplaced = nil, nil, nil
	view.ClearTyped()
	view.PresetNote = "Filled in the " + web.PresetLabel(name) + " defaults for " + k.Title + ". Nothing is saved yet: check the fields, then save."
	if typed {
		view.PresetNote += " Secrets you typed are never sent back to the browser: enter them again before you save."
	}
	s.render(w, r, http.StatusOK, s.settingsPage(r, stored), web.SettingsPage(view))
}
