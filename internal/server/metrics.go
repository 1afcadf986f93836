package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"os"
	"strings"
)

// MetricsTokenEnv names the environment variable holding the bearer token
// that /metrics requires (no token: /metrics is open, like /healthz).
const MetricsTokenEnv = "DIRSYNC_METRICS_TOKEN"

// metrics serves Config.Metrics, checking the bearer token from the
// environment when one is set. The comparison is constant-time (over
// hashes, so the token's length does not leak either).
func (s *Server) metrics() http.HandlerFunc {
	token := strings.TrimSpace(os.Getenv(MetricsTokenEnv))
	want := sha256.Sum256([]byte(token))
	h := s.cfg.Metrics
	return func(w http.ResponseWriter, r *http.Request) {
		if h == nil {
			http.NotFound(w, r)
			return
		}
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="dirsync metrics"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, r)
	}
}
