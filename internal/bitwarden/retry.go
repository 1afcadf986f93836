package bitwarden

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

const (
	// defaultRetryMaxElapsed bounds the waits of one read's retries.
	defaultRetryMaxElapsed = 2 * time.Minute
	// maxReadAttempts bounds how often one read is sent.
	maxReadAttempts = 5
	// maxRetryAfter caps a Retry-After the client honours; a server asking
	// for longer fails the read (the next run tries again).
	maxRetryAfter = 60 * time.Second
)

// retryable reports whether a read that failed with err may be sent again:
// Bitwarden's rate limit (429) and server or proxy failures (5xx). Token
// failures, 4xx answers and transport errors are not retried here.
func retryable(err error) (*APIError, bool) {
	var ae *APIError
	if !errors.As(err, &ae) {
		return nil, false
	}
	return ae, ae.Status == http.StatusTooManyRequests || ae.Status >= 500
}

// retryRead runs a read, retrying it on 429 (honouring Retry-After) and 5xx
// with exponential backoff and jitter (cenkalti/backoff supplies the
// schedule; the waits go through c.sleep so tests control time). Only
// reads are retried: an import is never sent twice by the client.
func (c *Client) retryRead(ctx context.Context, read func() error) error {
	if c.retryMax < 0 {
		return read()
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	b.MaxInterval = 20 * time.Second
	b.MaxElapsedTime = 0 // bounded below by the summed waits
	b.Reset()
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		err := read()
		ae, ok := retryable(err)
		if !ok || attempt >= maxReadAttempts {
			return err
		}
		wait := b.NextBackOff()
		if ae.RetryAfter > 0 {
			if ae.RetryAfter > maxRetryAfter {
				return fmt.Errorf("%w (Bitwarden asked to wait %s before trying again; the next run will)", err, ae.RetryAfter.Round(time.Second))
			}
			wait = max(wait, ae.RetryAfter)
		}
		if waited+wait > c.retryMax {
			return err
		}
		waited += wait
		if serr := c.sleep(ctx, wait); serr != nil {
			return err
		}
	}
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date (RFC 9110 §10.2.3). Zero when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ImportTimeoutError is an import that got no answer in time. The server
// may have applied all of it, part of it or none: the client never sends
// it again, and the caller re-reads the organization (or says it could
// not) and lets the next run decide.
type ImportTimeoutError struct {
	// After is the time limit that ran out (bitwarden.importTimeoutSeconds).
	After time.Duration
	Err   error
}

func (e *ImportTimeoutError) Error() string {
	return fmt.Sprintf("bitwarden: the import got no answer within %s; Bitwarden may still be applying it, so dirsync did not send it again (raise bitwarden.importTimeoutSeconds if large imports need longer): %v",
		e.After.Round(time.Second), e.Err)
}

func (e *ImportTimeoutError) Unwrap() error { return e.Err }

// isTimeout reports whether err is the request's own time limit running
// out (not the caller cancelling).
func isTimeout(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
