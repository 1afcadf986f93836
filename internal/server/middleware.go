package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
)

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxSession
)

// contentSecurityPolicy allows only our own scripts and styles: no inline
// script or style anywhere, so templates keep all looks in app.css and all
// behaviour in htmx attributes.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// securityHeaders sets the headers every response carries. Pages are
// never cached; the static handler overrides Cache-Control for assets.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// requestID gives each request a random id, echoed in X-Request-Id and
// attached to log lines and error pages. An incoming id is ignored so a
// client cannot forge log correlation. (chi's middleware.RequestID takes
// the client's X-Request-Id as is and does not echo the id, so this one
// stays ours.)
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxRequestID, id)))
	})
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(ctxRequestID).(string)
	return id
}

// accessLog is chi's request logger and panic recoverer with slog lines:
// chi's response wrapper keeps Flush, Hijack and http.ResponseController
// working (the event stream needs them), its Recoverer turns a panic into
// a 500 and lets http.ErrAbortHandler through. Only the path is logged,
// never the query: /setup's query holds the one-time token (chi's default
// formatter would log it).
func (s *Server) accessLog(next http.Handler) http.Handler {
	return middleware.RequestLogger(slogFormatter{s.log})(middleware.Recoverer(next))
}

// slogFormatter makes chi's log entries slog lines.
type slogFormatter struct{ log *slog.Logger }

// NewLogEntry starts the entry of one request.
func (f slogFormatter) NewLogEntry(r *http.Request) middleware.LogEntry {
	return slogEntry{log: f.log, method: r.Method, path: r.URL.Path, id: requestIDFrom(r.Context())}
}

// slogEntry is one request's log entry.
type slogEntry struct {
	log              *slog.Logger
	method, path, id string
}

// Write logs the finished request.
func (e slogEntry) Write(status, _ int, _ http.Header, elapsed time.Duration, _ any) {
	if status == 0 {
		status = http.StatusOK // nothing written: net/http sends 200
	}
	e.log.Info("request", "method", e.method, "path", e.path, "status", status, "duration", elapsed, "request_id", e.id)
}

// Panic logs a handler's panic (Recoverer answers 500).
func (e slogEntry) Panic(v any, stack []byte) {
	e.log.Error("panic while serving", "method", e.method, "path", e.path, "panic", v, "request_id", e.id, "stack", string(stack))
}
