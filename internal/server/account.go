package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

// account is GET /account: the admin's sessions, the change-password
// form and the admin list.
func (s *Server) account(w http.ResponseWriter, r *http.Request) {
	s.renderAccount(w, r, http.StatusOK, web.AccountView{})
}

// renderAccount fills v's lists and renders the page with status.
func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, v web.AccountView) {
	rs := sessionFrom(r)
	sessions, err := s.sessionStore.ListSessions(r.Context(), rs.adminID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	admins, err := s.admins.ListAdmins(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v.User = rs.user
	for _, se := range sessions {
		v.Sessions = append(v.Sessions, web.SessionRow{
			Created: dashTime(se.CreatedAt), CreatedISO: se.CreatedAt.UTC().Format(time.RFC3339),
			LastSeen: dashTime(se.LastSeenAt), LastSeenISO: se.LastSeenAt.UTC().Format(time.RFC3339),
			RemoteAddr: se.RemoteAddr, Browser: browserName(se.UserAgent), Current: se.ID == rs.id,
		})
	}
	for _, a := range admins {
		row := web.AdminRow{Username: a.Username, Created: dashTime(a.CreatedAt), LastLogin: "never", Self: a.ID == rs.adminID}
		if a.LastLoginAt != nil {
			row.LastLogin = dashTime(*a.LastLoginAt)
		}
		v.Admins = append(v.Admins, row)
	}
	s.render(w, r, status, s.page(r, "Account", ""), web.AccountPage(v))
}

// accountSignOutOthers is POST /account/sessions/others: end every other
// session of this admin.
func (s *Server) accountSignOutOthers(w http.ResponseWriter, r *http.Request) {
	rs := sessionFrom(r)
	n, err := s.sessionStore.DeleteSessionsOf(r.Context(), rs.adminID, rs.id)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.addAudit(r, rs.user, "admin.sessions_ended", fmt.Sprintf("signed out %d other session(s)", n))
	s.flash(r, web.FlashSuccess, web.Plural(n, "other session was", "other sessions were")+" signed out.")
	s.redirect(w, r, "/account")
}

// accountPassword is POST /account/password: with the current password,
// set a new one and end every other session.
func (s *Server) accountPassword(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	rs := sessionFrom(r)
	current, password, confirm := r.PostFormValue("current"), r.PostFormValue("password"), r.PostFormValue("confirm")
	errs := web.FormErrors{}
	if err := auth.CheckPassword(password, rs.user); err != nil {
		errs["password"] = err.Error()
	} else if password != confirm {
		errs["confirm"] = "the two passwords differ"
	} else if password == current {
		errs["password"] = "the new password must differ from the current one"
	}
	ctx := r.Context()
	// The current password is checked like a login: throttled, so a
	// stolen session cannot be used to guess it.
	id, wait, err := s.logins.ReserveLogin(ctx, rs.user, remoteAddr(r), s.now(), s.cfg.LoginLimits)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if wait > 0 {
		w.Header().Set("Retry-After", itoa(max(1, int(wait.Seconds()))))
		s.renderAccount(w, r, http.StatusTooManyRequests, web.AccountView{PasswordErrors: web.FormErrors{"form": throttledMessage(wait)}})
		return
	}
	a, err := s.admins.GetAdmin(ctx, rs.user)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var verr error
	if err := s.withHashSlot(ctx, func() error { verr = auth.Verify(current, a.PasswordHash); return nil }); err != nil {
		_ = s.logins.ReleaseLogin(ctx, id)
		s.renderAccount(w, r, http.StatusTooManyRequests, web.AccountView{PasswordErrors: web.FormErrors{"form": errBusy.Error()}})
		return
	}
	if verr != nil {
		errs = web.FormErrors{"current": "this is not your current password"}
		s.addAudit(r, rs.user, "admin.password_change_failed", "wrong current password")
	} else if err := s.logins.LoginSucceeded(ctx, id, rs.user, remoteAddr(r)); err != nil {
		s.log.Warn("clear login failures", "err", err)
	}
	if len(errs) > 0 {
		s.renderAccount(w, r, http.StatusUnprocessableEntity, web.AccountView{PasswordErrors: errs})
		return
	}
	var hash string
	if err := s.withHashSlot(ctx, func() (err error) { hash, err = auth.Hash(password, s.cfg.Argon); return err }); err != nil {
		s.renderAccount(w, r, http.StatusTooManyRequests, web.AccountView{PasswordErrors: web.FormErrors{"form": errBusy.Error()}})
		return
	}
	if err := s.admins.ChangeAdminPassword(ctx, rs.user, hash, rs.id); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.addAudit(r, rs.user, "admin.password_changed", "other sessions ended")
	s.flash(r, web.FlashSuccess, "Password changed; your other sessions were signed out.")
	s.redirect(w, r, "/account")
}

// accountAddAdmin is POST /account/admins: create another admin.
func (s *Server) accountAddAdmin(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	rs := sessionFrom(r)
	username := auth.NormalizeUsername(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	errs := web.FormErrors{}
	if err := auth.CheckUsername(username); err != nil {
		errs["username"] = err.Error()
	}
	if err := auth.CheckPassword(password, username); err != nil {
		errs["password"] = err.Error()
	}
	fail := func(status int) {
		s.renderAccount(w, r, status, web.AccountView{AdminErrors: errs, NewUsername: username})
	}
	if len(errs) > 0 {
		fail(http.StatusUnprocessableEntity)
		return
	}
	var hash string
	if err := s.withHashSlot(r.Context(), func() (err error) { hash, err = auth.Hash(password, s.cfg.Argon); return err }); err != nil {
		errs["form"] = errBusy.Error()
		fail(http.StatusTooManyRequests)
		return
	}
	if _, err := s.admins.CreateAdmin(r.Context(), username, hash); err != nil {
		if errors.Is(err, store.ErrExists) {
			errs["username"] = fmt.Sprintf("an admin named %q already exists", username)
			fail(http.StatusUnprocessableEntity)
			return
		}
		s.serverError(w, r, err)
		return
	}
	s.addAudit(r, rs.user, "admin.created", username)
	s.flash(r, web.FlashSuccess, fmt.Sprintf("Admin %s added.", username))
	s.redirect(w, r, "/account")
}

// accountRemoveAdmin is POST /account/admins/remove: remove another admin
// and end their sessions; never yourself, never the last one.
func (s *Server) accountRemoveAdmin(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	rs := sessionFrom(r)
	username := auth.NormalizeUsername(r.PostFormValue("username"))
	fail := func(status int, msg string) {
		s.renderAccount(w, r, status, web.AccountView{AdminErrors: web.FormErrors{"form": msg}})
	}
	if strings.EqualFold(username, rs.user) {
		fail(http.StatusUnprocessableEntity, "you cannot remove your own account here; another admin can, or use `dirsync admin remove` on the server")
		return
	}
	switch err := s.admins.DeleteAdmin(r.Context(), username); {
	case errors.Is(err, store.ErrNotFound):
		fail(http.StatusNotFound, fmt.Sprintf("there is no admin named %q (anymore)", username))
		return
	case errors.Is(err, store.ErrLastAdmin):
		fail(http.StatusConflict, err.Error())
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	s.addAudit(r, rs.user, "admin.removed", username)
	s.flash(r, web.FlashSuccess, fmt.Sprintf("Admin %s removed; their sessions ended.", username))
	s.redirect(w, r, "/account")
}

// browserName is a short "Firefox on Linux" from a User-Agent, for
// recognising one's own sessions; the raw string is long and noisy.
func browserName(ua string) string {
	if ua == "" {
		return "unknown browser"
	}
	name := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chromium/", "Chromium"},
		{"HeadlessChrome/", "Headless Chrome"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
		{"curl/", "curl"}, {"Go-http-client/", "Go HTTP client"},
	} {
		if strings.Contains(ua, b.token) {
			name = b.name
			break
		}
	}
	if name == "" {
		if len(ua) > 40 {
			ua = ua[:40] + "…"
		}
		return ua
	}
	for _, o := range []struct{ token, name string }{
		{"Windows", "Windows"}, {"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return name + " on " + o.name
		}
	}
	return name
}
