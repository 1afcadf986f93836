// Package server is the web console: a chi router with the middleware
// every page shares (security headers, request ids, logging, sessions,
// login, cross-origin protection), the login and first-admin setup flow,
// and the pages. Routes are listed in routes.go; each page or action has
// its own file; handlers are methods on Server and reach the rest of the
// program only through the small interfaces declared here.
//
// Adding a page: write its handler as a method on Server in its own file
// (dashboard.go, sync_now.go), declare in that file the interface it needs
// from the rest of the program (the engine, the scheduler), take it through
// a new Config field, and add one line in routes.go under its heading. Use
// s.render (full page, or the fragment for htmx), s.flash and s.redirect
// (303 after a POST), and answer 422 with the form again on invalid input.
// Every POST is already protected against cross-origin requests, and every
// route in the login group already requires a live session.
package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/sessions"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/store"
)

// Config configures the console.
type Config struct {
	// PublicURL is the address admins use, such as
	// https://dirsync.example.com. When it is https, session cookies are
	// always Secure and its origin is trusted by the cross-origin check
	// (useful behind a proxy that rewrites Host). When set, requests for
	// any other host name (not an IP address) are refused with 421, which
	// stops DNS rebinding. Empty: derived per request.
	PublicURL string
	// ListenAddr is the address the caller listens on; it only completes
	// the setup link logged when there is no admin yet.
	ListenAddr string
	// Version is shown in the footer.
	Version string
	// SessionIdle logs an admin out after this long without a request
	// (default 30 minutes).
	SessionIdle time.Duration
	// SessionMax logs an admin out this long after login, however active
	// (default 12 hours).
	SessionMax time.Duration
	// Logger receives request logs and errors (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
	// Argon are the password-hashing costs for new hashes (default
	// auth.DefaultParams; tests use auth.TestParams).
	Argon auth.Params
	// LoginLimits override the failed-login limits (zero:
	// store.DefaultLoginLimits).
	LoginLimits store.LoginLimits
	// MaxConcurrentHashes bounds the password hashings (logins, setup,
	// password changes) running at once; each takes about 19 MiB with the
	// default argon2 costs (default 4).
	MaxConcurrentHashes int
	// HashWait is how long a login waits for a free hashing slot before it
	// is answered 429 (default 3 s).
	HashWait time.Duration
	// Engine runs syncs and test reads; Worker runs the schedule. Both are
	// required by `dirsync serve`; handler tests of pages that do not use
	// them may leave them nil.
	Engine Engine
	Worker Worker
	// Metrics serves /metrics (Prometheus text format) outside the login,
	// behind a bearer token when DIRSYNC_METRICS_TOKEN is set; nil answers
	// 404.
	Metrics http.Handler
	// Alerts sends the Settings page's test alert; nil says alerts are
	// not available.
	Alerts AlertSender
	// Checks are the Settings sections' "Check connection" by section
	// name ("bitwarden", "directory"); POST /settings/check/{section}
	// answers 404 for a section without one.
	Checks map[string]SettingsCheck
	// CheckTimeout bounds one check (default DefaultCheckTimeout).
	CheckTimeout time.Duration
}

// AdminStore is what the login and setup pages need.
type AdminStore interface {
	CountAdmins(ctx context.Context) (int, error)
	CreateAdmin(ctx context.Context, username, passwordHash string) (store.Admin, error)
	GetAdmin(ctx context.Context, username string) (store.Admin, error)
	UpgradeAdminHash(ctx context.Context, username, passwordHash string) error
	ChangeAdminPassword(ctx context.Context, username, passwordHash, keepSession string) error
	TouchAdminLogin(ctx context.Context, id int64, at time.Time) error
	ListAdmins(ctx context.Context) ([]store.Admin, error)
	DeleteAdmin(ctx context.Context, username string) error
}

// SessionStore keeps the console's sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, se store.Session) error
	GetSession(ctx context.Context, id string) (store.Session, error)
	ListSessions(ctx context.Context, adminID int64) ([]store.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	DeleteSessionsOf(ctx context.Context, adminID int64, keep string) (int, error)
	DeleteStaleSessions(ctx context.Context, idleBefore, createdBefore time.Time) error
}

// LoginStore keeps the failed-login throttle.
type LoginStore interface {
	ReserveLogin(ctx context.Context, username, addr string, now time.Time, lim store.LoginLimits) (int64, time.Duration, error)
	LoginSucceeded(ctx context.Context, id int64, username, addr string) error
	ReleaseLogin(ctx context.Context, id int64) error
}

// SettingsStore is what the settings page needs.
type SettingsStore interface {
	LoadSettings(ctx context.Context, profileID int64) (config.Settings, error)
	SaveSettings(ctx context.Context, profileID int64, st config.Settings) (store.SettingsChange, error)
}

// AuditLog records who changed what.
type AuditLog interface {
	AddAudit(ctx context.Context, e store.AuditEntry) error
}

// KeyDeriver derives keys from the master key (session cookie keys).
type KeyDeriver interface {
	DeriveKey(purpose string, n int) []byte
}

// Store is everything the console needs from storage; *store.Store
// satisfies it.
type Store interface {
	AdminStore
	SessionStore
	LoginStore
	SettingsStore
	AuditLog
	KeyDeriver
	RunStore
}

// Server is the console. Create it with New.
type Server struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	public   *url.URL // nil when Config.PublicURL is empty
	admins   AdminStore
	settings SettingsStore
	audit    AuditLog
	runs     RunStore
	engine   Engine
	worker   Worker
	alerts   AlertSender
	streams  streams
	previews *previewCache
	tests    testJobs
	// approvals are this process's background approvals of held runs.
	approvals approvals
	// checks and checkTimeout are Config.Checks and Config.CheckTimeout.
	checks       map[string]SettingsCheck
	checkTimeout time.Duration
	// storePoll is how often an event stream looks at the store for runs
	// of other processes (tests shorten it).
	storePoll time.Duration
	cookies   *sessions.CookieStore
	// sessionStore and logins keep sessions and the login throttle.
	sessionStore SessionStore
	logins       LoginStore
	// hashSlots bounds concurrent argon2 work (a token per hashing).
	hashSlots chan struct{}
	// dummyHash is verified against when a user name does not exist, so a
	// login takes as long for unknown names as for wrong passwords.
	dummyHash string

	setupMu    sync.Mutex
	setupToken string // "" once an admin exists
}

// New builds the console. When no admin exists it creates a one-time setup
// token and logs the link that opens the first-admin page.
func New(cfg Config, st Store) (*Server, error) {
	if st == nil {
		return nil, errors.New("server: nil store")
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Argon == (auth.Params{}) {
		cfg.Argon = auth.DefaultParams
	}
	if cfg.LoginLimits == (store.LoginLimits{}) {
		cfg.LoginLimits = store.DefaultLoginLimits
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = 4
	}
	if cfg.HashWait <= 0 {
		cfg.HashWait = 3 * time.Second
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = DefaultCheckTimeout
	}
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger,
		now:          cfg.Now,
		admins:       st,
		settings:     st,
		audit:        st,
		runs:         st,
		engine:       cfg.Engine,
		worker:       cfg.Worker,
		alerts:       cfg.Alerts,
		sessionStore: st,
		logins:       st,
		hashSlots:    make(chan struct{}, cfg.MaxConcurrentHashes),
		previews:     newPreviewCache(cfg.Now),
		storePoll:    time.Second,
		checks:       cfg.Checks,
		approvals:    approvals{now: cfg.Now},
		checkTimeout: cfg.CheckTimeout,
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("server: public URL %q must be an absolute http(s) URL", cfg.PublicURL)
		}
		s.public = u
	}
	hashKey, blockKey := st.DeriveKey("session-hash", 32), st.DeriveKey("session-block", 32)
	if len(hashKey) != 32 || len(blockKey) != 32 {
		return nil, errors.New("server: the store returned session keys of the wrong length")
	}
	s.cookies = sessions.NewCookieStore(hashKey, blockKey)
	// The cookie's own signature expires a little after the longest
	// session; the session's timestamps decide the real expiry.
	s.cookies.MaxAge(int((cfg.SessionMax + time.Hour) / time.Second))
	dummy, err := auth.Hash("dirsync-dummy-password", cfg.Argon)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.dummyHash = dummy

	n, err := st.CountAdmins(context.Background())
	if err != nil {
		return nil, fmt.Errorf("server: count admins: %w", err)
	}
	if n == 0 {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("server: setup token: %w", err)
		}
		s.setupToken = base64.RawURLEncoding.EncodeToString(b)
		s.log.Info("no admin yet: open " + s.baseURLForLog() + "/setup?token=" + s.setupToken + " to create the first admin")
	}
	return s, nil
}

// SetupToken returns the one-time token of the first-admin page, or ""
// once an admin exists.
func (s *Server) SetupToken() string {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	return s.setupToken
}

// baseURLForLog is PublicURL, or http://<listen address> with a
// wildcard host replaced by localhost.
func (s *Server) baseURLForLog() string {
	if s.public != nil {
		return s.public.String()
	}
	addr := s.cfg.ListenAddr
	if addr == "" {
		return "http://localhost"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Handler returns the console's HTTP handler: the router wrapped in
// cross-origin protection, so every state-changing request from another
// site is refused before any handler runs.
func (s *Server) Handler() http.Handler {
	cop := http.NewCrossOriginProtection()
	if s.public != nil {
		// Behind a proxy that rewrites Host, the browser's Origin is the
		// public URL's.
		if err := cop.AddTrustedOrigin(s.public.Scheme + "://" + s.public.Host); err != nil {
			s.log.Warn("public URL not usable as a trusted origin", "err", err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))
	// Headers and request ids wrap the check so its refusals carry them too.
	return s.requestID(s.securityHeaders(s.accessLog(s.pinHost(cop.Handler(s.routes())))))
}

// pinHost answers 421 to a request whose Host is neither the public URL's
// host nor an IP address, when PublicURL is set. DNS rebinding makes a
// browser send requests for an attacker's name to the console's address;
// their Host is the attacker's name, so they stop here. IP literals (a
// proxy's upstream address, a Prometheus scrape by address) cannot be
// rebound and pass; the health probes pass whatever their Host.
func (s *Server) pinHost(next http.Handler) http.Handler {
	if s.public == nil {
		return next
	}
	want := strings.ToLower(s.public.Hostname())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.Trim(host, "[]"))
		if host == want || net.ParseIP(host) != nil || r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			next.ServeHTTP(w, r)
			return
		}
		s.log.Warn("request for another host refused", "host", r.Host, "path", r.URL.Path, "request_id", requestIDFrom(r.Context()))
		http.Error(w, "this console answers only at "+s.public.Scheme+"://"+s.public.Host+
			" (DIRSYNC_PUBLIC_URL); behind a proxy, pass the Host header on (nginx: proxy_set_header Host $host)", http.StatusMisdirectedRequest)
	})
}

func (s *Server) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	s.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path, "request_id", requestIDFrom(r.Context()))
	http.Error(w, "cross-origin request refused: this form must be sent from the dirsync console itself", http.StatusForbidden)
}

// remoteAddr is the client's IP as the TCP connection shows it.
// X-Forwarded-For is not trusted: behind a proxy every client shares the
// proxy's address, which makes the per-address throttle stricter, never
// weaker.
func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
