package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

// wrongCredentials is the one message for an unknown user and a wrong
// password, so the form does not reveal which names exist.
const wrongCredentials = "wrong username or password"

// errBusy says every hashing slot stayed taken for Config.HashWait.
var errBusy = errors.New("the console is busy checking other logins; try again in a few seconds")

// withHashSlot runs fn (an argon2 hashing) once one of the bounded slots
// is free, waiting at most Config.HashWait: argon2id takes ~19 MiB per
// call, so without a bound a burst of logins takes memory without limit.
func (s *Server) withHashSlot(ctx context.Context, fn func() error) error {
	t := time.NewTimer(s.cfg.HashWait)
	defer t.Stop()
	select {
	case s.hashSlots <- struct{}{}:
	case <-t.C:
		return errBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashSlots }()
	return fn()
}

// loginShow shows the login form; a logged-in admin goes straight on.
func (s *Server) loginShow(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if sessionFrom(r).user != "" {
		http.Redirect(w, r, orRoot(next), http.StatusSeeOther) //nolint:gosec // G710: next went through localPath
		return
	}
	if s.SetupToken() != "" {
		s.flash(r, web.FlashInfo, "No admin exists yet: open the setup link that dirsync printed in its log.")
	}
	s.render(w, r, http.StatusOK, s.page(r, "Log in", ""), web.LoginPage(web.LoginForm{Next: next}))
}

// loginSubmit reserves the attempt in the throttle (it counts as a failure
// until the password proves right), checks the password in a bounded
// hashing slot, and opens a session.
func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	username := auth.NormalizeUsername(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	next := localPath(r.PostFormValue("next"))
	addr := remoteAddr(r)
	ctx := r.Context()
	fail := func(status int, msg string) {
		s.render(w, r, status, s.page(r, "Log in", ""),
			web.LoginPage(web.LoginForm{Username: username, Next: next, Error: msg}))
	}
	id, wait, err := s.logins.ReserveLogin(ctx, username, addr, s.now(), s.cfg.LoginLimits)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if wait > 0 {
		s.log.Warn("login throttled", "remote", addr)
		w.Header().Set("Retry-After", itoa(max(1, int(wait.Seconds()))))
		fail(http.StatusTooManyRequests, throttledMessage(wait))
		return
	}
	a, err := s.admins.GetAdmin(ctx, username)
	unknown := errors.Is(err, store.ErrNotFound)
	if err != nil && !unknown {
		s.serverError(w, r, err)
		return
	}
	hash := a.PasswordHash
	if unknown {
		// Spend the same time as a real check.
		hash = s.dummyHash
	}
	var verr error
	if err := s.withHashSlot(ctx, func() error { verr = auth.Verify(password, hash); return nil }); err != nil {
		// The password was never checked: the attempt does not count.
		if rerr := s.logins.ReleaseLogin(context.WithoutCancel(ctx), id); rerr != nil {
			s.log.Warn("release login reservation", "err", rerr)
		}
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("login refused: hashing slots busy", "remote", addr)
		w.Header().Set("Retry-After", "5")
		fail(http.StatusTooManyRequests, errBusy.Error())
		return
	}
	switch {
	case unknown:
		// The name is not logged: people type passwords into it.
		s.log.Warn("login failed", "remote", addr, "reason", "unknown user")
		s.addAudit(r, "", "admin.login_failed", "unknown user name")
		fail(http.StatusUnauthorized, wrongCredentials)
		return
	case verr != nil:
		if !errors.Is(verr, auth.ErrMismatch) {
			s.log.Error("stored password hash unreadable", "user", username, "err", verr)
		}
		s.log.Warn("login failed", "user", username, "remote", addr, "reason", "wrong password")
		s.addAudit(r, username, "admin.login_failed", "wrong password")
		fail(http.StatusUnauthorized, wrongCredentials)
		return
	}
	if err := s.logins.LoginSucceeded(ctx, id, username, addr); err != nil {
		s.log.Warn("clear login failures", "user", username, "err", err)
	}
	if auth.NeedsRehash(hash, s.cfg.Argon) {
		var h string
		herr := s.withHashSlot(ctx, func() (err error) { h, err = auth.Hash(password, s.cfg.Argon); return err })
		if herr == nil {
			if err := s.admins.UpgradeAdminHash(ctx, username, h); err != nil {
				s.log.Warn("upgrade password hash", "user", username, "err", err)
			}
		}
	}
	if err := s.admins.TouchAdminLogin(ctx, a.ID, s.now()); err != nil {
		s.log.Warn("record login time", "user", username, "err", err)
	}
	if err := s.startSession(r, a); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.addAudit(r, username, "admin.login", "")
	s.redirect(w, r, orRoot(next))
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// throttledMessage says how long until one more attempt is allowed.
func throttledMessage(wait time.Duration) string {
	if wait < time.Minute {
		secs := max(1, int((wait+time.Second-1)/time.Second))
		unit := "seconds"
		if secs == 1 {
			unit = "second"
		}
		return fmt.Sprintf("too many failed attempts; try again in %d %s", secs, unit)
	}
	m := int((wait + time.Minute - 1) / time.Minute)
	unit := "minutes"
	if m == 1 {
		unit = "minute"
	}
	return fmt.Sprintf("too many failed attempts; try again in %d %s", m, unit)
}
