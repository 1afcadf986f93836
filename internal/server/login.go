package server

import (
	"errors"
	"net/http"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

// wrongCredentials is the one message for an unknown user and a wrong
// password, so the form does not reveal which names exist.
const wrongCredentials = "wrong username or password"

// loginShow shows the login form; a logged-in admin goes straight on.
func (s *Server) loginShow(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if sessionFrom(r).user != "" {
		http.Redirect(w, r, orRoot(next), http.StatusSeeOther)
		return
	}
	if s.SetupToken() != "" {
		s.flash(r, web.FlashInfo, "No admin exists yet: open the setup link that dirsync printed in its log.")
	}
	s.render(w, r, http.StatusOK, s.page(r, "Log in", ""), web.LoginPage(web.LoginForm{Next: next}))
}

// loginSubmit checks the throttle, then the password, and opens a session.
func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	username := auth.NormalizeUsername(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	next := localPath(r.PostFormValue("next"))
	addr := remoteAddr(r)
	fail := func(status int, msg string) {
		s.render(w, r, status, s.page(r, "Log in", ""),
			web.LoginPage(web.LoginForm{Username: username, Next: next, Error: msg}))
	}
	if err := s.throttle.Allow(username, addr); err != nil {
		s.log.Warn("login throttled", "remote", addr)
		w.Header().Set("Retry-After", retryAfterSeconds(err))
		fail(http.StatusTooManyRequests, err.Error())
		return
	}
	a, err := s.admins.GetAdmin(r.Context(), username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Spend the same time as a real check.
		_ = auth.Verify(password, s.dummyHash)
		s.throttle.Fail(username, addr)
		// The name is not logged: people type passwords into it.
		s.log.Warn("login failed", "remote", addr, "reason", "unknown user")
		s.addAudit(r, "", "admin.login_failed", "unknown user name")
		fail(http.StatusUnauthorized, wrongCredentials)
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	if err := auth.Verify(password, a.PasswordHash); err != nil {
		if !errors.Is(err, auth.ErrMismatch) {
			s.log.Error("stored password hash unreadable", "user", username, "err", err)
		}
		s.throttle.Fail(username, addr)
		s.log.Warn("login failed", "user", username, "remote", addr, "reason", "wrong password")
		s.addAudit(r, username, "admin.login_failed", "wrong password")
		fail(http.StatusUnauthorized, wrongCredentials)
		return
	}
	s.throttle.Succeed(username)
	now := s.now()
	hash := a.PasswordHash
	if auth.NeedsRehash(hash, s.cfg.Argon) {
		if h, err := auth.Hash(password, s.cfg.Argon); err == nil {
			if err := s.admins.SetAdminPassword(r.Context(), username, h); err == nil {
				hash = h
			} else {
				s.log.Warn("upgrade password hash", "user", username, "err", err)
			}
		}
	}
	if err := s.admins.TouchAdminLogin(r.Context(), a.ID, now); err != nil {
		s.log.Warn("record login time", "user", username, "err", err)
	}
	s.addAudit(r, username, "admin.login", "")
	sessionFrom(r).login(username, a.ID, hash, now.Unix())
	s.redirect(w, r, orRoot(next))
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func retryAfterSeconds(err error) string {
	var te *auth.ThrottledError
	if errors.As(err, &te) {
		secs := int(te.RetryAfter.Seconds())
		if secs < 1 {
			secs = 1
		}
		return itoa(secs)
	}
	return "60"
}
