package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/schedule"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// TestReadyzChecksWorkerAndDatabase: /readyz is 200 only while the
// database answers and the worker runs; otherwise 503 names what failed.
func TestReadyzChecksWorkerAndDatabase(t *testing.T) {
	var w *schedule.Worker
	var st *store.Store
	e := newEnvWith(t, false, func(s *store.Store, cfg *Config) {
		st = s
		eng := dsync.New(s, "test")
		w = schedule.New(eng, s, store.DefaultProfile, nil)
		cfg.Engine, cfg.Worker = eng, w
	})
	c := e.client()
	r := e.get(c, "/readyz")
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "background worker not running") {
		t.Fatalf("before the worker starts: %d %q", r.StatusCode, r.body)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := e.get(c, "/readyz"); r.StatusCode != http.StatusOK {
		t.Fatalf("with the worker running: %d %q", r.StatusCode, r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := e.get(c, "/readyz"); r.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after the worker stopped: %d %q", r.StatusCode, r.body)
	}
	st.Close()
	if r := e.get(c, "/readyz"); r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "database") {
		t.Fatalf("with the database closed: %d %q", r.StatusCode, r.body)
	}
	// /healthz only says the process serves HTTP.
	if r := e.get(c, "/healthz"); r.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", r.StatusCode)
	}
}
