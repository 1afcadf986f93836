package server

import (
	"net/http"
	"strings"
	"testing"
)

func TestMetricsEndpoint(t *testing.T) {
	fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("dirsync_runs_total 3\n"))
	})
	tests := []struct {
		name    string
		token   string // DIRSYNC_METRICS_TOKEN
		handler http.Handler
		auth    string
		want    int
	}{
		{"open without a token", "", fake, "", http.StatusOK},
		{"token required", "s3cret-metrics", fake, "", http.StatusUnauthorized},
		{"wrong token", "s3cret-metrics", fake, "Bearer s3cret-metric", http.StatusUnauthorized},
		{"wrong scheme", "s3cret-metrics", fake, "Basic s3cret-metrics", http.StatusUnauthorized},
		{"right token", "s3cret-metrics", fake, "Bearer s3cret-metrics", http.StatusOK},
		{"no metrics configured", "", nil, "", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(MetricsTokenEnv, tc.token)
			e := newEnv(t, true, func(c *Config) { c.Metrics = tc.handler })
			hdr := map[string]string{}
			if tc.auth != "" {
				hdr["Authorization"] = tc.auth
			}
			r := e.do(e.client(), "GET", "/metrics", nil, hdr)
			wantStatus(t, r, tc.want)
			if tc.want == http.StatusOK && !strings.Contains(r.body, "dirsync_runs_total 3") {
				t.Fatalf("body %q", r.body)
			}
			if tc.want == http.StatusUnauthorized && r.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("no WWW-Authenticate")
			}
		})
	}
}
