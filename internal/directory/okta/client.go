// Package okta reads users and groups from an Okta org through its
// Management API (contract §2): SSWS auth, Link-header pagination, per
// bucket rate-limit pacing and 429 handling, retries with backoff, bounded
// concurrency for member reads, and the optional membership cache.
package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/logctx"
)

// Defaults of Config.
const (
	DefaultConcurrency    = 4
	DefaultRateLimitShare = 0.5
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxRetries     = 4
	DefaultBackoffBase    = 500 * time.Millisecond
	DefaultUserAgent      = "dirsync/dev"
	// maxRateLimitRetries bounds consecutive 429s for one page, so that a
	// limit that never recovers fails the read instead of hanging it.
	maxRateLimitRetries = 20
	maxBackoff          = 30 * time.Second
	// DefaultMaxRateLimitWait is the longest rate-limit wait believed:
	// Okta's windows are a minute, so a reset further ahead than a few of
	// them is a broken clock or proxy, not a limit to sit out.
	DefaultMaxRateLimitWait = 3 * time.Minute
)

// Rate-limit buckets: Okta limits these endpoint families separately.
const (
	BucketUsers   = "users"
	BucketGroups  = "groups"
	BucketMembers = "members"
)

// Config configures a Client.
type Config struct {
	// OrgURL is the org's base URL, already validated by
	// config.ValidateBaseURL; a trailing slash is trimmed.
	OrgURL string
	// Token is the SSWS API token. It is only ever put in the
	// Authorization header of requests to OrgURL's scheme and host.
	Token string
	// OAuth, instead of Token, is an OAuth 2.0 service app (oauth.go).
	OAuth *OAuth
	// HTTPClient is optional. Its redirect policy is replaced by one that
	// refuses to leave the org's scheme and host.
	HTTPClient *http.Client
	// Concurrency bounds the group-member reads one Read has in flight;
	// the user, deprovisioned and group lists add at most one request each
	// (they are cursor chains). 0 means 4.
	Concurrency int
	// RateLimitShare is the share (0–1] of each rate-limit bucket a Read
	// may use before it pauses until the bucket resets; 0 means 0.5.
	RateLimitShare float64
	// RequestTimeout bounds each request including its body; 0 means 30s.
	RequestTimeout time.Duration
	// MaxRetries bounds retries of 5xx answers, timeouts and connection
	// errors per page; 0 means 4, negative means none.
	MaxRetries int
	// BackoffBase is the first retry delay, doubled per retry with jitter;
	// 0 means 500ms.
	BackoffBase time.Duration
	// MaxRateLimitWait caps every rate-limit wait (0 means 3 minutes). A
	// reset announced further ahead is not believed: the read waits a
	// third of the cap and then probes with one request.
	MaxRateLimitWait time.Duration
	// UserAgent defaults to "dirsync/dev".
	UserAgent string
	// Redact lists other configured secrets (besides Token) that must
	// never appear in an error text, however Okta or a proxy echoes them.
	Redact []string
	// Logger is optional; it never receives the token.
	Logger *slog.Logger
	// Observer, when set, is called after every HTTP attempt (for metrics).
	Observer func(RequestEvent)
	// Now is the clock for rate-limit arithmetic (default time.Now).
	Now func() time.Time
}

// RequestEvent describes one HTTP attempt (directory.RequestEvent, with
// Kind "okta"), so that metrics need not import this package.
type RequestEvent = directory.RequestEvent

// Client reads one Okta org. It is safe for concurrent use; rate-limit
// state is shared by all reads of a Client, as Okta's limits are org-wide.
type Client struct {
	cfg     Config
	base    string
	baseURL *url.URL
	http    *http.Client
	log     *slog.Logger
	limits  *limiter
	auth    authenticator
}

// logger is the logger for work done under ctx: the sync run's (with its
// run id) when the engine put one there, else Config.Logger.
func (c *Client) logger(ctx context.Context) *slog.Logger { return logctx.From(ctx, c.log) }

// New checks cfg, applies defaults and returns a client.
func New(cfg Config) (*Client, error) {
	cfg.OrgURL = strings.TrimRight(strings.TrimSpace(cfg.OrgURL), "/")
	u, err := url.Parse(cfg.OrgURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("okta: org URL %q is not an absolute http(s) URL", cfg.OrgURL)
	}
	switch {
	case cfg.Token != "" && cfg.OAuth != nil:
		return nil, errors.New("okta: give either an API token or an OAuth service app, not both")
	case cfg.Token == "" && cfg.OAuth == nil:
		return nil, errors.New("okta: the API token (or an OAuth service app) is required")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.RateLimitShare <= 0 || cfg.RateLimitShare > 1 {
		cfg.RateLimitShare = DefaultRateLimitShare
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.MaxRateLimitWait <= 0 {
		cfg.MaxRateLimitWait = DefaultMaxRateLimitWait
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.Concurrency + 4
		hc.Transport = t
	}
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !sameOrigin(req.URL, u) {
			return fmt.Errorf("%w: redirect to %s://%s refused", ErrForeignLink, req.URL.Scheme, req.URL.Host)
		}
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return nil
	}
	var auth authenticator = sswsAuth{token: cfg.Token}
	if cfg.OAuth != nil {
		o := *cfg.OAuth
		a, err := newOAuthAuth(cfg.OrgURL, &o)
		if err != nil {
			return nil, err
		}
		auth = a
	}
	return &Client{
		cfg: cfg, base: cfg.OrgURL, baseURL: u, http: &hc, log: log,
		limits: newLimiter(cfg.RateLimitShare, cfg.MaxRateLimitWait, cfg.Now), auth: auth,
	}, nil
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// run is the state of one Read.
type run struct {
	requests       atomic.Int64
	retries        atomic.Int64
	rateLimitWaits atomic.Int64
	rateLimitWait  atomic.Int64 // nanoseconds
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// newBackoff is one page's retry schedule: doubling from BackoffBase with
// jitter (so parallel retries spread), capped at maxBackoff. The number of
// retries is bounded by MaxRetries, not by elapsed time.
func (c *Client) newBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.cfg.BackoffBase
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.MaxInterval = maxBackoff
	b.MaxElapsedTime = 0
	b.Reset()
	return b
}

// fetchPage GETs one page and decodes its JSON array into []T, retrying
// as the contract says. It returns the next page's URL ("" at the end).
func fetchPage[T any](ctx context.Context, c *Client, r *run, bucket, rawURL string) ([]T, string, error) {
	reqURL, err := url.Parse(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("okta: bad page URL: %w", err)
	}
	path := reqURL.Path
	failures, limited, nonces, remints := 0, 0, 0, 0
	var bo backoff.BackOff
	for {
		if err := c.acquire(ctx, r, bucket); err != nil {
			return nil, "", err
		}
		items, next, status, err := fetchOnce[T](ctx, c, r, bucket, reqURL)
		if err == nil {
			return items, next, nil
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		var ar *authRetryError
		if errors.As(err, &ar) {
			// A new DPoP nonce or an expired token: send it again at once.
			n, limit := &nonces, maxAPINonceRetries
			if ar.kind == retryToken {
				n, limit = &remints, maxRemints
			}
			if *n >= limit {
				return nil, "", ar.err
			}
			*n++
			continue
		}
		switch {
		case status == http.StatusTooManyRequests:
			limited++
			if limited > maxRateLimitRetries {
				return nil, "", err
			}
			c.logger(ctx).Warn("okta: rate limited (429); waiting for the reset", "path", path, "bucket", bucket)
			r.retries.Add(1)
			continue // acquire waits for the bucket's reset
		case retryable(status, err):
			if failures >= c.cfg.MaxRetries {
				if status == 0 {
					return nil, "", fmt.Errorf("okta: GET %s: failed after %d attempts: %w", path, failures+1, err)
				}
				return nil, "", err
			}
			if bo == nil {
				bo = c.newBackoff()
			}
			d := bo.NextBackOff()
			failures++
			r.retries.Add(1)
			c.logger(ctx).Warn("okta: request failed; retrying", "path", path, "status", status, "attempt", failures, "backoff", d, "err", err)
			if err := sleep(ctx, d); err != nil {
				return nil, "", err
			}
		default:
			return nil, "", err
		}
	}
}

// limitBucket is the rate-limit bucket a request counts in: Okta limits
// /api/v1/groups and everything below it (member lists included) as one
// bucket, so member reads share the group list's budget.
func limitBucket(bucket string) string {
	if bucket == BucketMembers {
		return BucketGroups
	}
	return bucket
}

// acquire reserves a place in the bucket's budget. Concurrency needs no
// slot here: member reads come from Concurrency workers, and each list is
// a cursor chain with one request at a time, so at most Concurrency + 3
// requests are in flight and member reads never wait behind the long user
// list.
func (c *Client) acquire(ctx context.Context, r *run, bucket string) error {
	return c.limits.acquire(ctx, r, limitBucket(bucket))
}

// transportError marks failures below HTTP (connection, timeout, a body
// cut short), which are retried.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func retryable(status int, err error) bool {
	var te *transportError
	return status >= 500 || errors.As(err, &te)
}

// fetchOnce sends one request. status is 0 on a transport error.
func fetchOnce[T any](ctx context.Context, c *Client, r *run, bucket string, u *url.URL) (items []T, next string, status int, err error) {
	path := u.Path
	reqCtx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", 0, fmt.Errorf("okta: GET %s: %w", path, err)
	}
	if err := c.auth.authorize(reqCtx, c, req); err != nil {
		c.limits.release(r, bucket, 0, rateHeaders{})
		return nil, "", 0, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	start := time.Now()
	r.requests.Add(1)
	ev := RequestEvent{Kind: KindName, Method: http.MethodGet, Path: path, Bucket: bucket, RateLimitRemaining: -1, RateLimitLimit: -1}
	defer func() {
		ev.Status = status
		ev.Duration = time.Since(start)
		c.logger(ctx).Debug("okta: request", "path", path, "status", status, "duration", ev.Duration, "remaining", ev.RateLimitRemaining)
		if c.cfg.Observer != nil {
			c.cfg.Observer(ev)
		}
	}()
	resp, err := c.http.Do(req)
	released := false
	release := func(st int, rh rateHeaders) {
		if !released {
			released = true
			c.limits.release(r, limitBucket(bucket), st, rh)
		}
	}
	defer release(0, rateHeaders{})
	if err != nil {
		if errors.Is(err, ErrForeignLink) {
			return nil, "", 0, fmt.Errorf("okta: GET %s: %w", path, err)
		}
		return nil, "", 0, &transportError{err: describeTransport(err, reqCtx, c.cfg.RequestTimeout)}
	}
	defer resp.Body.Close()
	reauth := c.auth.answered(req, resp)
	rh := readRateHeaders(resp.Header, c.cfg.Now())
	ev.RateLimitLimit, ev.RateLimitRemaining = rh.limit, rh.remaining
	if resp.StatusCode != http.StatusOK {
		// An error answer's body is small: release the bucket now so that
		// waiters learn of a 429 at once.
		release(resp.StatusCode, rh)
	}
	if resp.StatusCode != http.StatusOK {
		apiErr := c.apiError(resp, u)
		if resp.StatusCode >= 500 {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		}
		if reauth != noRetry {
			return nil, "", resp.StatusCode, &authRetryError{kind: reauth, err: apiErr}
		}
		return nil, "", resp.StatusCode, apiErr
	}
	items, err = decodeArray[T](resp.Body)
	if err == nil {
		// Read to EOF so the connection is reused and the answer is
		// complete before the next request takes this slot.
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	release(resp.StatusCode, rh)
	if err != nil {
		if reqCtx.Err() != nil || errors.Is(err, io.ErrUnexpectedEOF) || isNetError(err) {
			return nil, "", 0, &transportError{err: fmt.Errorf("reading the answer: %w", describeTransport(err, reqCtx, c.cfg.RequestTimeout))}
		}
		return nil, "", resp.StatusCode, fmt.Errorf("okta: GET %s: the answer is not a JSON array (is the org URL an Okta org?): %w", path, err)
	}
	next = nextLink(resp.Header.Values("Link"))
	if next != "" {
		nu, err := u.Parse(next)
		if err != nil {
			return nil, "", resp.StatusCode, fmt.Errorf("okta: GET %s: unparsable next page link: %w", path, err)
		}
		if !sameOrigin(nu, c.baseURL) {
			return nil, "", resp.StatusCode, fmt.Errorf("okta: GET %s: %w: it points to %s://%s, not the org %s://%s; refusing to send the token there",
				path, ErrForeignLink, nu.Scheme, nu.Host, c.baseURL.Scheme, c.baseURL.Host)
		}
		next = nu.String()
	}
	return items, next, resp.StatusCode, nil
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

func describeTransport(err error, reqCtx context.Context, timeout time.Duration) error {
	if errors.Is(reqCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("request timed out after %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the whole URL; the path is named already.
		return ue.Err
	}
	return err
}

// decodeArray streams a JSON array into small structs, so that a page is
// never held as a whole document.
func decodeArray[T any](body io.Reader) ([]T, error) {
	dec := json.NewDecoder(body)
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("want a JSON array, got %v", tok)
	}
	var items []T
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return items, nil
}

type errorBody struct {
	ErrorCode    string `json:"errorCode"`
	ErrorSummary string `json:"errorSummary"`
	ErrorID      string `json:"errorId"`
	ErrorCauses  []struct {
		ErrorSummary string `json:"errorSummary"`
	} `json:"errorCauses"`
}

func (c *Client) apiError(resp *http.Response, u *url.URL) *APIError {
	e := &APIError{Method: http.MethodGet, Path: u.Path, Status: resp.StatusCode, Filter: u.Query().Get("filter"),
		OAuth: c.auth.oauth(), Challenge: challengeError(resp.Header)}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var eb errorBody
	if err := json.Unmarshal(raw, &eb); err == nil && (eb.ErrorCode != "" || eb.ErrorSummary != "") {
		// Everything Okta sends back is scrubbed of every configured secret
		// here, at the source: an errorSummary may quote the request's
		// Authorization header, and from here the text reaches logs, the
		// run record, pages and alerts.
		e.Code, e.Summary, e.ErrorID = c.scrub(eb.ErrorCode), c.scrub(eb.ErrorSummary), c.scrub(eb.ErrorID)
		for _, cause := range eb.ErrorCauses {
			if cause.ErrorSummary != "" {
				e.Causes = append(e.Causes, c.scrub(cause.ErrorSummary))
			}
		}
		e.Filter = c.scrub(e.Filter)
		return e
	}
	e.Body = snippet([]byte(c.scrub(string(raw))), c.cfg.Token)
	e.Filter = c.scrub(e.Filter)
	return e
}

// scrub replaces the token and every other configured secret in text
// with [REDACTED].
func (c *Client) scrub(text string) string {
	for _, sec := range append([]string{c.cfg.Token}, c.cfg.Redact...) {
		if len(sec) >= 4 {
			text = strings.ReplaceAll(text, sec, "[REDACTED]")
		}
	}
	return text
}

// Listing bounds. A listing that hands out fresh cursors forever would
// otherwise hold the run (and its lock) until the run's timeout.
const (
	// maxOrgObjects bounds what one org can hold (users, or groups):
	// Okta's largest orgs hold a few million users. It derives the page cap
	// of the user and group lists.
	maxOrgObjects = 10_000_000
	// maxEmptyPages bounds consecutive empty pages that still carry a next
	// link: Okta may send one (a filtered listing), not a run of them.
	maxEmptyPages = 10
)

// pageCap is the most pages a list of at most n objects can need at
// pageSize per page, with slack for pages that come back short.
func pageCap(n, pageSize int) int {
	return n/pageSize + 10
}

// listAll reads every page from first, handing each to onPage. It follows
// a next link even after an empty page. A listing that repeats an id it
// already returned, or a cursor it already handed out, or runs past
// maxPages pages (or maxEmptyPages empty pages in a row) fails the read
// with ErrPageLoop: a cursor loop would otherwise never end.
func listAll[T any](ctx context.Context, c *Client, r *run, bucket, first string, maxPages int, idOf func(T) string, onPage func([]T) error) error {
	seen := map[string]struct{}{}
	ids := map[string]struct{}{}
	pages, empty := 0, 0
	for u := first; u != ""; {
		p, _ := url.Parse(u)
		if _, dup := seen[u]; dup {
			return fmt.Errorf("okta: GET %s: %w; stopping instead of looping", p.Path, ErrPageLoop)
		}
		seen[u] = struct{}{}
		if pages++; pages > maxPages {
			return fmt.Errorf("okta: GET %s: %w: more than %d pages, more than the org can hold; stopping instead of looping", p.Path, ErrPageLoop, maxPages)
		}
		items, next, err := fetchPage[T](ctx, c, r, bucket, u)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			if empty++; empty > maxEmptyPages && next != "" {
				return fmt.Errorf("okta: GET %s: %w: %d empty pages in a row, each with a next link; stopping instead of looping", p.Path, ErrPageLoop, empty)
			}
			u = next
			continue
		}
		empty = 0
		for _, it := range items {
			id := idOf(it)
			if _, dup := ids[id]; dup {
				return fmt.Errorf("okta: GET %s: %w: the listing returned %s again; stopping instead of looping", p.Path, ErrPageLoop, id)
			}
			ids[id] = struct{}{}
		}
		if err := onPage(items); err != nil {
			return err
		}
		u = next
	}
	return nil
}

// queryEscape escapes a filter with %20 for spaces, as Okta's docs do.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
