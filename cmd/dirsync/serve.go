package main

import (
	"log/slog"
	"os"
	"strings"

	"github.com/dirsync/dirsync/internal/app"
)

// cmdServe runs the web console until SIGINT/SIGTERM.
func (e *env) cmdServe(args []string) error {
	fs := e.flags("serve")
	addr := fs.String("addr", envOr("DIRSYNC_ADDR", "127.0.0.1:8080"), "listen address (env DIRSYNC_ADDR)")
	publicURL := fs.String("public-url", os.Getenv("DIRSYNC_PUBLIC_URL"), "the console's public https URL behind a proxy (env DIRSYNC_PUBLIC_URL)")
	demoMode := fs.Bool("demo", false, "start with an in-process fake Okta and fake Bitwarden already configured")
	logFormat := fs.String("log-format", envOr("DIRSYNC_LOG_FORMAT", "text"), "log format: text or json (env DIRSYNC_LOG_FORMAT)")
	logLevel := fs.String("log-level", envOr("DIRSYNC_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env DIRSYNC_LOG_LEVEL)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("serve: --log-level %q: use debug, info, warn or error", *logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	switch strings.ToLower(*logFormat) {
	case "text":
		log = slog.New(slog.NewTextHandler(e.stderr, hopts))
	case "json":
		log = slog.New(slog.NewJSONHandler(e.stderr, hopts))
	default:
		return usagef("serve: --log-format %q: use text or json", *logFormat)
	}
	slog.SetDefault(log)
	a, err := app.New(e.ctx, app.Options{
		DBPath: e.dbPath, Addr: *addr, PublicURL: *publicURL, Version: version, Logger: log, Demo: *demoMode,
	})
	if err != nil {
		return err
	}
	return a.ListenAndServe(e.ctx)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
