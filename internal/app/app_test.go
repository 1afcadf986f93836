package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

func TestDemoServeAndShutdown(t *testing.T) {
	var logs strings.Builder
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := New(ctx, Options{
		DBPath: t.TempDir() + "/demo.db", Addr: "127.0.0.1:0", Version: "test", Demo: true,
		Logger: slog.New(slog.NewTextHandler(&syncWriter{b: &logs}, nil)), Argon: auth.TestParams,
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Server.SetupToken() == "" {
		t.Fatal("no setup token on a fresh database")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, l) }()
	base := "http://" + l.Addr().String()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d %s", resp.StatusCode, body)
	}
	// The demo is configured: a sync against the fakes succeeds.
	res, err := a.Engine.Run(ctx, store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerManual})
	if err != nil || res.Run.Status != dsync.StatusSuccess || res.Run.Counts.Users < 300 {
		t.Fatalf("demo sync: %+v %v", res.Run, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown hung")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
	if !strings.Contains(logs.String(), "setup?token=") {
		t.Error("the set-up link was not logged")
	}
}

func TestInterruptedRunMarkedAtStart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, dir+"/d.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := store.Run{ProfileID: store.DefaultProfile, Trigger: "schedule", Holder: "dead-process"}
	if err := st.CreateRun(ctx, &r); err != nil {
		t.Fatal(err)
	}
	st.Close()
	a, err := New(ctx, Options{DBPath: dir + "/d.db", Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler), Argon: auth.TestParams})
	if err != nil {
		t.Fatal(err)
	}
	defer a.closeStore()
	got, err := a.Store.GetRun(ctx, r.ID)
	if err != nil || got.Status != store.StatusInterrupted {
		t.Fatalf("run after restart: %+v %v", got, err)
	}
}

// syncWriter serializes writes from the server's goroutines.
type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
