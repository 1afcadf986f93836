package server

import (
	"fmt"
	"net/http"
	"strings"
)

// healthz answers while the process serves HTTP.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 when the database answers, its migrations are current
// and the background worker is alive; 503 with the failing checks
// otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var failed []string
	if err := s.runs.Ping(r.Context()); err != nil {
		s.log.Warn("not ready: database", "err", err)
		failed = append(failed, "database unreachable")
	} else if ok, err := s.runs.MigrationsCurrent(r.Context()); err != nil || !ok {
		failed = append(failed, "database migrations not current")
	}
	if s.worker != nil && !s.worker.Alive() {
		failed = append(failed, "background worker not running")
	}
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s\n", strings.Join(failed, "; "))
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
