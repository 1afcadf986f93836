package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAccessLogAndRecovery: one slog line per request with its id and
// status and without the query; a panic answers 500 and is logged with the
// request id; flushing still reaches the connection (the event stream).
func TestAccessLogAndRecovery(t *testing.T) {
	var buf bytes.Buffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&buf, nil))}
	h := s.requestID(s.accessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/boom":
			panic("boom")
		case "/stream":
			w.Write([]byte("data: 1\n\n"))
			if err := http.NewResponseController(w).Flush(); err != nil {
				t.Errorf("flush through the access log: %v", err)
			}
		}
	})))
	lines := func() []map[string]any {
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not JSON: %q", l)
			}
			out = append(out, m)
		}
		buf.Reset()
		return out
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/setup?token=ONE-TIME-SECRET", nil))
	got := lines()
	if len(got) != 1 || got[0]["msg"] != "request" || got[0]["path"] != "/setup" || got[0]["status"] != float64(200) || got[0]["request_id"] != rec.Header().Get("X-Request-Id") {
		t.Errorf("access log %v (request id %q)", got, rec.Header().Get("X-Request-Id"))
	}
	if strings.Contains(buf.String()+formatLines(got), "ONE-TIME-SECRET") {
		t.Error("the query was logged")
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	got = lines()
	if rec.Code != http.StatusInternalServerError || len(got) != 2 || got[0]["msg"] != "panic while serving" || got[0]["panic"] != "boom" ||
		got[0]["request_id"] != rec.Header().Get("X-Request-Id") || got[1]["status"] != float64(500) {
		t.Errorf("panic: status %d, logs %v", rec.Code, got)
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stream", nil))
	if !rec.Flushed {
		t.Error("the flush did not reach the connection")
	}
	lines()
}

func formatLines(ls []map[string]any) string {
	b, _ := json.Marshal(ls)
	return string(b)
}
