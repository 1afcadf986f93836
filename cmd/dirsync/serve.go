package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/dirsync/dirsync/internal/app"
)

// defaultAddr is the console's listen address without --addr/DIRSYNC_ADDR.
const defaultAddr = "127.0.0.1:8080"

// serveOpts are the flags of `dirsync serve`.
type serveOpts struct {
	addr, publicURL, logFormat, logLevel string
	demo                                 bool
}

func (e *env) serveCmd() *cobra.Command {
	var o serveOpts
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the web console (and the scheduled syncs) until SIGINT or SIGTERM",
		Long: `Run the web console and the scheduled syncs until SIGINT or SIGTERM.

With no admin yet it logs a one-time set-up link. GET /healthz and /readyz
need no login; /metrics takes DIRSYNC_METRICS_TOKEN as a bearer token when
it is set.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return e.serve(o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", defaultAddr, "listen address")
	f.StringVar(&o.publicURL, "public-url", "", "the console's public https URL behind a proxy (Secure cookies, origin check)")
	f.BoolVar(&o.demo, "demo", false, "start with an in-process fake Okta and fake Bitwarden already configured")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}

// serve runs the web console until the context is cancelled.
func (e *env) serve(o serveOpts) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return usagef("serve: --log-level %q: use debug, info, warn or error", o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	switch strings.ToLower(o.logFormat) {
	case "text":
		log = slog.New(slog.NewTextHandler(e.stderr, hopts))
	case "json":
		log = slog.New(slog.NewJSONHandler(e.stderr, hopts))
	default:
		return usagef("serve: --log-format %q: use text or json", o.logFormat)
	}
	slog.SetDefault(log)
	a, err := app.New(e.ctx, app.Options{
		DBPath: e.dbPath, KeyFile: e.keyFile, Addr: o.addr, PublicURL: o.publicURL, Version: version, Logger: log, Demo: o.demo,
	})
	if err != nil {
		return err
	}
	return a.ListenAndServe(e.ctx)
}

func (e *env) healthcheckCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the console at --addr is ready (GET /readyz answers 200)",
		Long: `Exit 0 when the console listening on --addr is ready: GET /readyz answers
200 (the database answers, its migrations are current, the worker runs).
Exit 1 otherwise, with the reason. It is the Docker image's HEALTHCHECK,
which has no shell or curl; an unspecified host (0.0.0.0, [::] or none) is
asked on loopback.`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return e.healthcheck(addr) },
	}
	cmd.Flags().StringVar(&addr, "addr", defaultAddr, "the console's listen address")
	return cmd
}

// healthcheck asks the console's /readyz.
func (e *env) healthcheck(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("healthcheck: --addr %q is not HOST:PORT: %v", addr, err)
	}
	switch ip := net.ParseIP(host); {
	case host == "" || (ip != nil && ip.IsUnspecified() && ip.To4() != nil):
		host = "127.0.0.1"
	case ip != nil && ip.IsUnspecified():
		host = "::1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	_, err = fmt.Fprintf(e.stdout, "ready: %s answered %s\n", url, resp.Status)
	return err
}
