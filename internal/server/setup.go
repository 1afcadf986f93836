package server

import (
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

// setupState decides what /setup shows: closed once an admin exists, the
// form for the right token, a refusal otherwise.
func (s *Server) setupState(r *http.Request, token string) (string, error) {
	n, err := s.admins.CountAdmins(r.Context())
	if err != nil {
		return "", err
	}
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if n > 0 {
		s.setupToken = "" // e.g. created with the CLI meanwhile
		return web.SetupStateDone, nil
	}
	if s.setupToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.setupToken)) != 1 {
		return web.SetupStateBadToken, nil
	}
	return web.SetupStateForm, nil
}

func setupStatus(state string) int {
	if state == web.SetupStateBadToken {
		return http.StatusForbidden
	}
	return http.StatusOK
}

// setupShow is GET /setup?token=….
func (s *Server) setupShow(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	state, err := s.setupState(r, token)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	f := web.SetupForm{State: state}
	if state == web.SetupStateForm {
		f.Token = token
	}
	s.render(w, r, setupStatus(state), s.page(r, "Setup", ""), web.SetupPage(f))
}

// setupSubmit creates the first admin, voids the token and logs them in.
func (s *Server) setupSubmit(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	token := r.PostFormValue("token")
	state, err := s.setupState(r, token)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if state != web.SetupStateForm {
		s.render(w, r, setupStatus(state), s.page(r, "Setup", ""), web.SetupPage(web.SetupForm{State: state}))
		return
	}
	username := auth.NormalizeUsername(r.PostFormValue("username"))
	password, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	errs := web.FormErrors{}
	if err := auth.CheckUsername(username); err != nil {
		errs["username"] = err.Error()
	}
	if err := auth.CheckPassword(password, username); err != nil {
		errs["password"] = err.Error()
	} else if password != confirm {
		errs["confirm"] = "the two passwords differ"
	}
	if len(errs) > 0 {
		s.render(w, r, http.StatusUnprocessableEntity, s.page(r, "Setup", ""),
			web.SetupPage(web.SetupForm{State: state, Token: token, Username: username, Errors: errs}))
		return
	}
	var hash string
	if err := s.withHashSlot(r.Context(), func() (err error) { hash, err = auth.Hash(password, s.cfg.Argon); return err }); err != nil {
		s.serverError(w, r, err)
		return
	}
	// Hold the lock across create so two submits cannot both succeed.
	s.setupMu.Lock()
	if s.setupToken == "" {
		s.setupMu.Unlock()
		s.render(w, r, http.StatusOK, s.page(r, "Setup", ""), web.SetupPage(web.SetupForm{State: web.SetupStateDone}))
		return
	}
	a, err := s.admins.CreateAdmin(r.Context(), username, hash)
	if err == nil || errors.Is(err, store.ErrExists) {
		s.setupToken = ""
	}
	s.setupMu.Unlock()
	switch {
	case errors.Is(err, store.ErrExists):
		s.render(w, r, http.StatusOK, s.page(r, "Setup", ""), web.SetupPage(web.SetupForm{State: web.SetupStateDone}))
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	s.log.Info("first admin created; setup closed", "user", username)
	s.addAudit(r, username, "admin.created", "first admin, via /setup")
	if err := s.startSession(r, a); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.flash(r, web.FlashSuccess, "Admin created. Now connect Okta and Bitwarden.")
	s.redirect(w, r, "/settings")
}
