package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/sessions"

	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

const sessionCookie = "dirsync_session"

// Session values. The cookie is signed and encrypted with keys derived
// from the master key, so its content is neither readable nor forgeable.
const (
	keyUser  = "user"  // string: admin user name
	keyUID   = "uid"   // int64: admin id
	keyPwFP  = "pwfp"  // string: fingerprint of the password hash
	keyLogin = "login" // int64: unix seconds of the login
	keySeen  = "seen"  // int64: unix seconds of the last request
	keyFlash = "flash" // []string: "kind\x00message"
)

// reqSession is the session of one request. Handlers change it through
// the helpers below; the cookie is written just before the response
// headers, once, and only if something changed.
type reqSession struct {
	sess   *sessions.Session
	dirty  bool
	user   string // logged-in admin, "" when anonymous or expired
	secure bool
}

func sessionFrom(r *http.Request) *reqSession {
	rs, _ := r.Context().Value(ctxSession).(*reqSession)
	if rs == nil {
		// Outside the session middleware: an empty, unsaved session.
		return &reqSession{sess: sessions.NewSession(nil, sessionCookie)}
	}
	return rs
}

// passwordFingerprint ties a session to the password it was opened with:
// changing the password (for example with `dirsync admin`) ends every
// session opened before.
func passwordFingerprint(hash string) string {
	sum := sha256.Sum256([]byte("dirsync-session\x00" + hash))
	return hex.EncodeToString(sum[:8])
}

// isSecure reports whether the session cookie must be Secure: the request
// came over TLS, or the public URL is https. X-Forwarded-Proto is not
// trusted; behind a TLS-terminating proxy, set PublicURL to the https URL.
func (s *Server) isSecure(r *http.Request) bool {
	return r.TLS != nil || (s.public != nil && s.public.Scheme == "https")
}

// withSession loads the session cookie, ends it when it is idle or too old
// (with a flash saying so), and refreshes its last-seen time.
func (s *Server) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A cookie that fails to decode (old keys, tampering) yields a new
		// empty session; nothing else to do.
		sess, _ := s.cookies.New(r, sessionCookie)
		rs := &reqSession{sess: sess, secure: s.isSecure(r)}
		if user, _ := sess.Values[keyUser].(string); user != "" {
			now := s.now().Unix()
			seen, _ := sess.Values[keySeen].(int64)
			login, _ := sess.Values[keyLogin].(int64)
			if now-seen > int64(s.cfg.SessionIdle.Seconds()) || now-login > int64(s.cfg.SessionMax.Seconds()) {
				rs.clearLogin()
				rs.addFlash(web.FlashInfo, "Your session expired; log in again.")
			} else {
				rs.user = user
				sess.Values[keySeen] = now
				rs.dirty = true
			}
		}
		sw := &sessionWriter{ResponseWriter: w, s: s, r: r, rs: rs}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxSession, rs)))
		sw.commit()
	})
}

// requireLogin lets a request through only with a live session of an
// admin who still exists with the same password.
func (s *Server) requireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := sessionFrom(r)
		if rs.user == "" {
			s.loginRequired(w, r)
			return
		}
		a, err := s.admins.GetAdmin(r.Context(), rs.user)
		switch {
		case errors.Is(err, store.ErrNotFound):
			rs.clearLogin()
			s.loginRequired(w, r)
			return
		case err != nil:
			s.serverError(w, r, err)
			return
		}
		if fp, _ := rs.sess.Values[keyPwFP].(string); fp != passwordFingerprint(a.PasswordHash) {
			rs.clearLogin()
			rs.addFlash(web.FlashInfo, "Your password was changed; log in again.")
			s.loginRequired(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
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
		http.Redirect(w, r, loginURL(next), http.StatusSeeOther)
		return
	}
	s.renderError(w, r, http.StatusUnauthorized, "Log in first", "Your session ended before this request. Log in and try again.")
}

func (rs *reqSession) login(username string, id int64, passwordHash string, now int64) {
	rs.sess.Values = map[any]any{
		keyUser: username, keyUID: id, keyPwFP: passwordFingerprint(passwordHash),
		keyLogin: now, keySeen: now,
	}
	rs.user = username
	rs.dirty = true
}

// clearLogin ends the login but keeps pending flashes.
func (rs *reqSession) clearLogin() {
	for _, k := range []string{keyUser, keyUID, keyPwFP, keyLogin, keySeen} {
		delete(rs.sess.Values, k)
	}
	rs.user = ""
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
