// Package app assembles the console: store, engine, worker and HTTP
// server, with start-up checks and an orderly shutdown. `dirsync serve`
// and the end-to-end tests both build it here.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dirsync/dirsync/internal/alert"
	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/demo"
	// Every directory type, linked in (each registers itself).
	_ "github.com/dirsync/dirsync/internal/directory/all"
	"github.com/dirsync/dirsync/internal/metrics"
	"github.com/dirsync/dirsync/internal/schedule"
	"github.com/dirsync/dirsync/internal/server"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// Options configure the console.
type Options struct {
	DBPath    string
	KeyFile   string
	Addr      string
	PublicURL string
	Version   string
	Logger    *slog.Logger
	// Demo starts a fake Okta and a fake Bitwarden and points the settings
	// at them.
	Demo bool
	// IntervalUnit is how long one "minute" of the sync interval lasts
	// (default time.Minute; the browser tests shorten it).
	IntervalUnit time.Duration
	// Clock, when set, replaces time.Now for the engine and the schedule,
	// so a test moves time to the next scheduled run instead of waiting
	// for it (and no run comes that the test did not ask for).
	Clock func() time.Time
	// ShutdownWait bounds how long shutdown waits for a running sync
	// (default 30s).
	ShutdownWait time.Duration
	// Argon overrides the password-hashing cost (tests).
	Argon auth.Params
}

// App is an assembled console.
type App struct {
	opts   Options
	log    *slog.Logger
	Store  *store.Store
	Engine *dsync.Engine
	Worker *schedule.Worker
	Server *server.Server
	Demo   *demo.Fakes
	// Metrics feeds /metrics; Alerts sends the webhooks of failed, held
	// and recovered runs.
	Metrics *metrics.Metrics
	Alerts  *alert.Notifier
}

// New opens the store and builds everything; nothing listens yet.
func New(ctx context.Context, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ShutdownWait <= 0 {
		opts.ShutdownWait = 30 * time.Second
	}
	a := &App{opts: opts, log: opts.Logger}
	st, err := store.Open(ctx, opts.DBPath, store.Options{KeyFile: opts.KeyFile, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	a.Store = st
	if info := st.KeyInfo(); info.Mismatch {
		a.log.Warn("the secret key does not open the stored secrets: restore secret.key or re-enter the secrets in Settings")
	}
	if opts.Demo {
		f, err := demo.Start(ctx, st, store.DefaultProfile)
		if err != nil {
			_ = st.Close() // the error being returned is the one that matters
			return nil, err
		}
		a.Demo = f
		a.log.Info("demo mode: settings point at an in-process fake Okta and fake Bitwarden", "okta", f.Okta.URL, "bitwarden", f.Bitwarden.URL)
	}
	a.Engine = dsync.New(st, opts.Version)
	a.Engine.Logger = opts.Logger
	if opts.Clock != nil {
		a.Engine.Now = opts.Clock
	}
	a.Metrics = metrics.New()
	a.Alerts = alert.New(st, opts.PublicURL, opts.Logger)
	a.Engine.DirectoryObserver = a.Metrics.ObserveDirectory
	a.Engine.BitwardenObserver = a.Metrics.ObserveBitwarden
	a.Engine.OnFinish = append(a.Engine.OnFinish, a.Metrics.OnFinish, a.Alerts.OnFinish)
	if state, err := st.GetSyncState(ctx, store.DefaultProfile); err == nil && state.LastSuccessAt != nil {
		a.Metrics.SetLastSuccess(*state.LastSuccessAt)
	}
	// Runs left "running" by a process that died are marked interrupted.
	if n, err := st.MarkInterruptedRuns(ctx, store.DefaultProfile, nil); err != nil {
		a.log.Warn("could not check for interrupted runs", "error", err)
	} else if n > 0 {
		a.log.Warn("marked runs interrupted by an earlier stop", "runs", n)
	}
	a.Worker = schedule.New(a.Engine, st, store.DefaultProfile, opts.Logger)
	if opts.IntervalUnit > 0 {
		a.Worker.Unit = opts.IntervalUnit
	}
	if opts.Clock != nil {
		a.Worker.SetClock(opts.Clock)
	}
	srv, err := server.New(server.Config{
		PublicURL: opts.PublicURL, ListenAddr: opts.Addr, Version: opts.Version, Logger: opts.Logger,
		Argon: opts.Argon, Engine: a.Engine, Worker: a.Worker, Metrics: a.Metrics.Handler(), Alerts: a.Alerts,
		Checks: map[string]server.SettingsCheck{
			"bitwarden": {Fields: []string{"bitwarden."}, Run: a.Engine.CheckBitwarden, Explain: dsync.ExplainBitwarden},
			"directory": {Fields: dsync.DirectoryFields(), Run: a.Engine.CheckDirectory, Explain: dsync.ExplainDirectory},
		},
	}, st)
	if err != nil {
		a.closeStore()
		return nil, err
	}
	a.Server = srv
	return a, nil
}

func (a *App) closeStore() {
	if a.Demo != nil {
		a.Demo.Close()
	}
	_ = a.Store.Close()
}

// Serve starts the worker and serves HTTP on l until ctx is done, then
// shuts down: HTTP first, then the worker (waiting a bounded time for a
// running sync), then the database.
func (a *App) Serve(ctx context.Context, l net.Listener) error {
	if err := a.Worker.Start(ctx); err != nil {
		a.closeStore()
		return err
	}
	hs := &http.Server{
		Handler:           a.Server.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	a.log.Info("dirsync console listening", "addr", "http://"+l.Addr().String(), "version", a.opts.Version,
		"db", a.Store.Path(), "public_url", a.opts.PublicURL, "demo", a.opts.Demo,
		"metrics_token", os.Getenv("DIRSYNC_METRICS_TOKEN") != "", "secret_key_file", a.keyFileForLog())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	a.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Open SSE streams would hold Shutdown until its deadline; close them.
	hs.RegisterOnShutdown(a.Server.CloseStreams)
	if err := hs.Shutdown(sctx); err != nil {
		a.log.Warn("HTTP shutdown", "error", err)
		_ = hs.Close()
	}
	wctx, wcancel := context.WithTimeout(context.Background(), a.opts.ShutdownWait)
	defer wcancel()
	if err := a.Worker.Shutdown(wctx); err != nil {
		a.log.Warn("worker shutdown", "error", err)
	}
	// An approval pushes in the background of the request that started
	// it: it ends (or is stopped and recorded) before the database closes.
	if err := a.Server.WaitApprovals(wctx, 10*time.Second); err != nil {
		a.log.Warn("approval at shutdown", "error", err)
	}
	// Alerts of the last runs go out before the database closes.
	actx, acancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer acancel()
	if err := a.Alerts.Wait(actx); err != nil {
		a.log.Warn("alerts still pending at shutdown", "error", err)
	}
	a.closeStore()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

// ListenAndServe listens on the configured address and serves.
func (a *App) ListenAndServe(ctx context.Context) error {
	l, err := net.Listen("tcp", a.opts.Addr)
	if err != nil {
		a.closeStore()
		return fmt.Errorf("listen on %s: %w (is another dirsync running? use --addr)", a.opts.Addr, err)
	}
	return a.Serve(ctx, l)
}

// keyFileForLog names where the master key comes from, never its value.
func (a *App) keyFileForLog() string {
	if a.opts.KeyFile != "" {
		return a.opts.KeyFile
	}
	if f := os.Getenv("DIRSYNC_SECRET_KEY_FILE"); f != "" {
		return f
	}
	return filepath.Join(filepath.Dir(a.Store.Path()), store.DefaultKeyFileName)
}
