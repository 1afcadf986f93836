// Package logctx carries a logger in a context, so that code deep inside
// a sync run (the Okta client's requests and retries) logs with the run's
// attributes — its id above all — without every layer taking a logger.
// The engine puts the run's logger in the context; a client logs with
// From(ctx, its own logger).
package logctx

import (
	"context"
	"log/slog"
)

type key struct{}

// With returns a context carrying l.
func With(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, key{}, l)
}

// From returns the logger carried by ctx, else fallback (else a logger
// that discards).
func From(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if l, ok := ctx.Value(key{}).(*slog.Logger); ok && l != nil {
		return l
	}
	if fallback != nil {
		return fallback
	}
	return slog.New(slog.DiscardHandler)
}
