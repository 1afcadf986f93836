package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

const sessionCookie = "dirsync_session"

// Cookie values. The cookie is signed and encrypted with keys derived from
// the master key; it carries only a random session token and pending
// flashes. Who is logged in, since when and from where is a row in the
// sessions table, found by the token's hash: deleting the row (logout,
// "sign out everywhere else", a password change, the admin's removal)
// ends the session at once, whatever copies of the cookie exist.
const (
	keySID   = "sid"   // string: the session token (base64url, 32 random bytes)
	keyFlash = "flash" // []string: "kind\x00message"
)

// touchEvery is how stale a session's last-seen time may get before a
// request writes it again: idle timeouts are in minutes, and a write per
// request would queue every page behind the one SQLite writer.
const touchEvery = time.Minute

// reqSession is the session of one request. Handlers change it through
// the helpers below; the cookie is written just before the response
// headers, once, and only if something changed.
type reqSession struct {
	sess    *sessions.Session
	dirty   bool
	user    string // logged-in admin, "" when anonymous or expired
	adminID int64
	id      string // the sessions row (store.SessionID of the token)
	secure  bool
}

func sessionFrom(r *http.Request) *reqSession {
	rs, _ := r.Context().Value(ctxSession).(*reqSession)
	if rs == nil {
		// Outside the session middleware: an empty, unsaved session.
		return &reqSession{sess: sessions.NewSession(nil, sessionCookie)}
	}
	return rs
}

// isSecure reports whether the session cookie must be Secure: the request
// came over TLS, or the public URL is https. X-Forwarded-Proto is not
// trusted; behind a TLS-terminating proxy, set PublicURL to the https URL.
func (s *Server) isSecure(r *http.Request) bool {
	return r.TLS != nil || (s.public != nil && s.public.Scheme == "https")
}

// withSession loads the session cookie and, when it names a session,
// that session's row: a row that is gone (logged out elsewhere, password
// changed, admin removed) or idle or too old ends the login, with a flash
// saying so. A live session's last-seen time is refreshed.
func (s *Server) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A cookie that fails to decode (old keys, tampering) yields a new
		// empty session; nothing else to do.
		sess, _ := s.cookies.New(r, sessionCookie)
		rs := &reqSession{sess: sess, secure: s.isSecure(r)}
		if tok, _ := sess.Values[keySID].(string); tok != "" {
			id := store.SessionID(tok)
			se, err := s.sessionStore.GetSession(r.Context(), id)
			now := s.now()
			switch {
			case errors.Is(err, store.ErrNotFound):
				rs.clearLogin()
				rs.addFlash(web.FlashInfo, "Your session has ended; log in again.")
			case err != nil:
				s.serverError(w, r, err)
				return
			case now.Sub(se.LastSeenAt) > s.cfg.SessionIdle || now.Sub(se.CreatedAt) > s.cfg.SessionMax:
				if err := s.sessionStore.DeleteSession(r.Context(), id); err != nil {
					s.log.Warn("end expired session", "err", err, "request_id", requestIDFrom(r.Context()))
				}
				rs.clearLogin()
				rs.addFlash(web.FlashInfo, "Your session expired; log in again.")
			default:
				rs.user, rs.adminID, rs.id = se.Username, se.AdminID, id
				if now.Sub(se.LastSeenAt) >= touchEvery {
					if err := s.sessionStore.TouchSession(r.Context(), id, now); err != nil {
						s.log.Warn("refresh session", "err", err, "request_id", requestIDFrom(r.Context()))
					}
				}
			}
		}
		sw := &sessionWriter{ResponseWriter: w, s: s, r: r, rs: rs}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxSession, rs)))
		sw.commit()
	})
}

// requireLogin lets a request through only with a live session (its row,
// and so its admin, exist: withSession checked).
func (s *Server) requireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sessionFrom(r).user == "" {
			s.loginRequired(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// startSession opens a new session for an admin who just proved the
// password: a new random token (never one the browser brought, so a
// planted cookie cannot be logged in), its row, and the cookie.
func (s *Server) startSession(r *http.Request, a store.Admin) error {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("server: session token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	se := store.Session{ID: store.SessionID(tok), AdminID: a.ID, CreatedAt: now, LastSeenAt: now,
		RemoteAddr: remoteAddr(r), UserAgent: r.UserAgent()}
	// Expired rows of anyone are swept here, the one moment sessions grow.
	if err := s.sessionStore.DeleteStaleSessions(r.Context(), now.Add(-s.cfg.SessionIdle), now.Add(-s.cfg.SessionMax)); err != nil {
		s.log.Warn("sweep expired sessions", "err", err)
	}
	if err := s.sessionStore.CreateSession(r.Context(), se); err != nil {
		return err
	}
	rs := sessionFrom(r)
	flashes := rs.sess.Values[keyFlash]
	rs.sess.Values = map[any]any{keySID: tok}
	if flashes != nil {
		rs.sess.Values[keyFlash] = flashes
	}
	rs.user, rs.adminID, rs.id = a.Username, a.ID, se.ID
	rs.dirty = true
	return nil
}

// loginRequired sends an anonymous request to the login page: GETs are
// redirected with ?next=, htmx requests get HX-Redirect, other requests
// a 401.
func (s *Server) loginRequired(w http.ResponseWriter, r *http.Request) {
	if isHTMX(r) {
		next := "/"
		if cur := r.Header.Get("HX-Current-URL"); cur != "" {
			if p := localPath(cur); p != "" {
				next = p
			}
		}
		w.Header().Set("HX-Redirect", loginURL(next))
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		next := r.URL.Path
		if r.URL.RawQuery != "" {
			next += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, loginURL(next), http.StatusSeeOther) //nolint:gosec // G710: /login on this host; next is only its query
		return
	}
	s.renderError(w, r, http.StatusUnauthorized, "Log in first", "Your session ended before this request. Log in and try again.")
}

// clearLogin ends the login in this cookie but keeps pending flashes.
func (rs *reqSession) clearLogin() {
	delete(rs.sess.Values, keySID)
	rs.user, rs.adminID, rs.id = "", 0, ""
	rs.dirty = true
}

func (rs *reqSession) addFlash(kind, msg string) {
	fs, _ := rs.sess.Values[keyFlash].([]string)
	rs.sess.Values[keyFlash] = append(fs, kind+"\x00"+msg)
	rs.dirty = true
}

func (rs *reqSession) popFlashes() []web.Flash {
	fs, _ := rs.sess.Values[keyFlash].([]string)
	if len(fs) == 0 {
		return nil
	}
	delete(rs.sess.Values, keyFlash)
	rs.dirty = true
	out := make([]web.Flash, 0, len(fs))
	for _, f := range fs {
		kind, msg, _ := strings.Cut(f, "\x00")
		out = append(out, web.Flash{Kind: kind, Message: msg})
	}
	return out
}

// sessionWriter writes the session cookie right before the response
// headers go out.
type sessionWriter struct {
	http.ResponseWriter
	s         *Server
	r         *http.Request
	rs        *reqSession
	committed bool
}

func (w *sessionWriter) commit() {
	if w.committed {
		return
	}
	w.committed = true
	if !w.rs.dirty {
		return
	}
	opts := *w.s.cookies.Options
	opts.Path = "/"
	opts.HttpOnly = true
	opts.SameSite = http.SameSiteLaxMode
	opts.Secure = w.rs.secure
	opts.MaxAge = 0 // a browser-session cookie; expiry is enforced server-side
	w.rs.sess.Options = &opts
	if err := w.s.cookies.Save(w.r, w.ResponseWriter, w.rs.sess); err != nil {
		w.s.log.Error("save session", "err", err, "request_id", requestIDFrom(w.r.Context()))
	}
}

func (w *sessionWriter) WriteHeader(code int) {
	w.commit()
	w.ResponseWriter.WriteHeader(code)
}

func (w *sessionWriter) Write(b []byte) (int, error) {
	w.commit()
	return w.ResponseWriter.Write(b)
}

func (w *sessionWriter) Flush() {
	w.commit()
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
