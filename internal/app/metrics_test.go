package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// TestMetricsWired checks that the assembled console serves /metrics fed
// by the engine: a demo sync moves the run and request counters.
func TestMetricsWired(t *testing.T) {
	t.Setenv("DIRSYNC_METRICS_TOKEN", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, Options{DBPath: t.TempDir() + "/m.db", Addr: "127.0.0.1:0", Version: "test", Demo: true,
		Logger: slog.New(slog.DiscardHandler), Argon: auth.TestParams})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l) }()
	scrape := func() string {
		t.Helper()
		resp, err := http.Get("http://" + l.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/metrics %d", resp.StatusCode)
		}
		return string(b)
	}
	if body := scrape(); strings.Contains(body, `dirsync_runs_total{status="success"`) {
		t.Fatal("a run counted before any ran")
	}
	if res, err := a.Engine.Run(ctx, store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerManual}); err != nil || res.Run.Status != dsync.StatusSuccess {
		t.Fatalf("demo sync: %v", err)
	}
	body := scrape()
	for _, want := range []string{`dirsync_runs_total{status="success",trigger="manual"} 1`, `dirsync_okta_requests_total{status="200"}`, `dirsync_bitwarden_requests_total{status="200"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown hung")
	}
}
