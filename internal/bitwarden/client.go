// Package bitwarden is the client for the parts of Bitwarden's organization
// Public API that a directory sync needs: the client-credentials token, the
// member/group import, and the member and group listings used to preview
// what an import would change.
package bitwarden

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dirsync/dirsync/internal/config"
)

// Endpoints are the two base URLs a Bitwarden installation exposes.
type Endpoints struct {
	// TokenURL is the identity server's token endpoint.
	TokenURL string
	// APIURL is the API base; Public API paths ("/public/…") are appended.
	APIURL string
}

// ResolveServer maps a bitwarden.server setting to its endpoints: "us" and
// "eu" are Bitwarden's clouds; anything else is a self-hosted base URL B,
// served as B/identity and B/api (the standard self-hosted layout).
func ResolveServer(server string) (Endpoints, error) {
	s := strings.TrimSpace(server)
	switch strings.ToLower(s) {
	case config.ServerUS, "":
		return Endpoints{TokenURL: "https://identity.bitwarden.com/connect/token", APIURL: "https://api.bitwarden.com"}, nil
	case config.ServerEU:
		return Endpoints{TokenURL: "https://identity.bitwarden.eu/connect/token", APIURL: "https://api.bitwarden.eu"}, nil
	}
	base := strings.TrimRight(s, "/")
	if err := config.ValidateServer(base); err != nil {
		return Endpoints{}, fmt.Errorf("bitwarden: server %w", err)
	}
	return Endpoints{TokenURL: base + "/identity/connect/token", APIURL: base + "/api"}, nil
}

// RequestEvent describes one finished HTTP exchange, for metrics. Path is a
// route template ("/public/groups/{id}/member-ids"), never an id or a query,
// so it is safe as a metric label.
type RequestEvent struct {
	Method   string
	Path     string
	Status   int // 0 when no answer arrived
	Duration time.Duration
	Err      error // transport error, if any
}

// Config configures a Client.
type Config struct {
	// Server is "us", "eu" or a self-hosted base URL.
	Server string
	// ClientID is the organization API key's client id ("organization.<uuid>").
	ClientID string
	// ClientSecret is the organization API key's secret. Never logged.
	ClientSecret string
	// HTTPClient is used for every request (default: a new client). Its
	// Timeout should be zero or generous; Timeout below bounds each request.
	HTTPClient *http.Client
	// DeviceIdentifier is the stable uuid sent with token requests
	// (Vaultwarden requires one). Default: derived from ClientID, so one
	// organization key always presents as the same device.
	DeviceIdentifier string
	// UserAgent is sent on every request (default "dirsync").
	UserAgent string
	// Timeout bounds one request. Default: 30 s; when set it applies to
	// every request but the import when ImportTimeout is set too.
	Timeout time.Duration
	// ImportTimeout bounds one import request (default
	// DefaultImportTimeout). A large first import can take minutes while
	// the server keeps going; one that times out is never sent again.
	ImportTimeout time.Duration
	// RetryMaxElapsed bounds how long a read keeps retrying 429 and 5xx
	// answers (default 2 minutes; a negative value turns retries off).
	RetryMaxElapsed time.Duration
	// Observer, if set, is called after every HTTP exchange (token included).
	Observer func(RequestEvent)
	// Redact lists other configured secrets (besides ClientSecret) that
	// must never appear in an error text.
	Redact []string
}

// ErrRedirect is returned (wrapped) when a Bitwarden server answers with
// a redirect: the client follows none, since a 307/308 would re-send the
// client secret or the access token to wherever it points.
var ErrRedirect = errors.New("the Bitwarden server answered with a redirect, which dirsync does not follow with credentials")

// Device values sent with token requests. Bitwarden's DeviceType enum has
// no "directory connector" member; 22 ("Server") is the one meant for a
// service running on a server, which dirsync is.
const (
	DeviceType = "22"
	DeviceName = "dirsync"
	// Scope is the OAuth scope of organization API keys.
	Scope = "api.organization"
)

// DefaultImportTimeout is the import's default time limit: a large first
// import runs past a minute, and Bitwarden cloud's edge waits about 100 s.
const DefaultImportTimeout = 300 * time.Second

const (
	defaultTimeout       = 30 * time.Second
	memberIDsConcurrency = 4
)

// Client talks to one Bitwarden organization. It is safe for concurrent use.
type Client struct {
	endpoints  Endpoints
	clientID   string
	secret     string
	redactList []string
	deviceID   string
	userAgent  string
	timeout    time.Duration
	// importTimeout bounds the import (0: DefaultImportTimeout or timeout).
	importTimeout time.Duration
	retryMax      time.Duration
	// sleep waits between read retries; tests replace it.
	sleep      func(context.Context, time.Duration) error
	observer   func(RequestEvent)
	httpClient *http.Client
	now        func() time.Time

	mu     sync.Mutex // guards token fields and serializes token fetches
	token  string
	expiry time.Time
}

// New checks cfg and returns a client. It makes no request.
func New(cfg Config) (*Client, error) {
	ep, err := ResolveServer(cfg.Server)
	if err != nil {
		return nil, err
	}
	if err := config.ValidateClientID(strings.TrimSpace(cfg.ClientID)); err != nil {
		return nil, fmt.Errorf("bitwarden: %w", err)
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("bitwarden: the organization API key's client secret is required")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	c := &Client{
		endpoints:  ep,
		clientID:   strings.TrimSpace(cfg.ClientID),
		secret:     cfg.ClientSecret,
		redactList: append([]string{cfg.ClientSecret}, cfg.Redact...),
		deviceID:   cfg.DeviceIdentifier,
		userAgent:  cfg.UserAgent,
		timeout:    cfg.Timeout,
		observer:   cfg.Observer,
		now:        time.Now,

		importTimeout: cfg.ImportTimeout,
		retryMax:      cfg.RetryMaxElapsed,
		sleep:         sleepCtx,
	}
	if c.retryMax == 0 {
		c.retryMax = defaultRetryMaxElapsed
	}
	if c.deviceID == "" {
		c.deviceID = DeviceIdentifierFor(c.clientID)
	}
	if c.userAgent == "" {
		c.userAgent = "dirsync"
	}
	// Copy the caller's client so the User-Agent transport wraps only ours.
	cp := *hc
	base := cp.Transport
	if base == nil {
		// Keep a connection per concurrent member-ids read: the default
		// keeps two idle per host, and a new TLS handshake per request
		// would dominate reading 2,000 groups.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = memberIDsConcurrency + 2
		base = t
	}
	cp.Transport = &uaTransport{base: base, ua: c.userAgent}
	// Follow no redirect: the token request carries the client secret in
	// its body and every API request the access token, and Go re-sends
	// both on a 307/308 (to another host, and https→http, too).
	cp.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("%w (to %s://%s%s); set bitwarden.server to the address it redirects to",
			ErrRedirect, req.URL.Scheme, req.URL.Host, req.URL.Path)
	}
	c.httpClient = &cp
	return c, nil
}

// Endpoints returns the resolved server URLs.
func (c *Client) Endpoints() Endpoints { return c.endpoints }

// DeviceIdentifierFor derives a stable, uuid-shaped device identifier from
// a client id, so restarts do not register a new device each time.
func DeviceIdentifierFor(clientID string) string {
	sum := sha256.Sum256([]byte("dirsync device\x00" + clientID))
	b := sum[:16]
	b[6] = (b[6] & 0x0f) | 0x50 // version 5 layout (name-based)
	b[8] = (b[8] & 0x3f) | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// uaTransport sets the User-Agent on every request, including the token
// request made inside x/oauth2.
type uaTransport struct {
	base http.RoundTripper
	ua   string
}

func (t *uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.Header.Set("User-Agent", t.ua)
	return t.base.RoundTrip(r2)
}

func (c *Client) observe(method, path string, status int, start time.Time, err error) {
	if c.observer == nil {
		return
	}
	c.observer(RequestEvent{Method: method, Path: path, Status: status, Duration: time.Since(start), Err: err})
}
