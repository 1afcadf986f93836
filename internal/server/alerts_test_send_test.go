package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/alert"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
	"github.com/dirsync/dirsync/internal/store"
)

// webhookReceiver is an httptest webhook that answers status and keeps
// the payloads it got.
type webhookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []alert.Payload
	paths    []string
}

func newWebhookReceiver(t *testing.T, status int) *webhookReceiver {
	t.Helper()
	wr := &webhookReceiver{}
	wr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p alert.Payload
		_ = json.Unmarshal(b, &p)
		wr.mu.Lock()
		wr.payloads = append(wr.payloads, p)
		wr.paths = append(wr.paths, r.URL.Path)
		wr.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(wr.Close)
	return wr
}

func (wr *webhookReceiver) got() ([]alert.Payload, []string) {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return append([]alert.Payload(nil), wr.payloads...), append([]string(nil), wr.paths...)
}

// newAlertsEnv is the console with a real notifier (no retry waits);
// hooks, when not nil, are saved as the webhook URLs.
func newAlertsEnv(t *testing.T, withNotifier bool, hooks []string) *env {
	t.Helper()
	e := newEnvWith(t, true, func(st *store.Store, cfg *Config) {
		if withNotifier {
			n := alert.New(st, "", nil)
			n.Backoff, n.Timeout = time.Millisecond, 5*time.Second
			cfg.Alerts = n
		}
	})
	if hooks != nil {
		s := config.Defaults()
		config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "https://acme.okta.com" })
		config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = config.Secret(testToken) })
		s.Bitwarden.ClientID = "organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012"
		s.Bitwarden.ClientSecret = config.Secret(testSecret)
		s.Alerts.WebhookURLs = config.Secret(strings.Join(hooks, "\n"))
		s.Normalize()
		if err := s.Validate(true); err != nil {
			t.Fatalf("settings: %v", err)
		}
		if _, err := e.st.SaveSettings(context.Background(), store.DefaultProfile, s); err != nil {
			t.Fatalf("save settings: %v", err)
		}
	}
	return e
}

func TestAlertsTestSend(t *testing.T) {
	ok := newWebhookReceiver(t, http.StatusOK)
	gone := newWebhookReceiver(t, http.StatusNotFound)
	host := func(s *httptest.Server) string { u, _ := url.Parse(s.URL); return u.Host }
	okURL := ok.URL + "/services/T0001/B0002/okSecretToken"
	goneURL := gone.URL + "/webhookb2/goneSecretToken"

	tests := []struct {
		name       string
		notifier   bool
		hooks      []string
		wantKind   map[string][]string // flash kind → substrings, one flash each
		wantAudit  string
		wantPosted int
	}{
		{
			name: "two webhooks", notifier: true, hooks: []string{okURL, goneURL},
			wantKind: map[string][]string{
				"success": {"Test alert to " + host(ok.Server) + ": delivered (HTTP 200)."},
				"error":   {"Test alert to " + host(gone.Server) + ": not delivered — HTTP 404."},
			},
			wantAudit:  "test alert delivered to 1 of 2 webhooks (" + host(ok.Server) + ", " + host(gone.Server) + ")",
			wantPosted: 1,
		},
		{
			name: "none saved", notifier: true, hooks: []string{},
			wantKind: map[string][]string{"info": {"No webhook URL is saved"}},
		},
		{
			name: "no settings at all", notifier: true,
			wantKind: map[string][]string{"info": {"No webhook URL is saved"}},
		},
		{
			name: "no notifier", hooks: []string{okURL},
			wantKind: map[string][]string{"error": {"Alerts are not available in this process."}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := ok.got()
			e := newAlertsEnv(t, tc.notifier, tc.hooks)
			c := e.client()
			e.login(c)
			r := e.post(c, "/settings/alerts/test", url.Values{})
			wantStatus(t, r, http.StatusSeeOther)
			wantLocation(t, r, "/settings")
			page := e.get(c, "/settings")
			d := page.doc(t)
			for kind, wants := range tc.wantKind {
				flashes := testid(d, "flash-"+kind)
				if flashes.Length() != len(wants) {
					t.Errorf("%d %s flashes, want %d: %q", flashes.Length(), kind, len(wants), flashes.Text())
					continue
				}
				for i, w := range wants {
					if got := flashes.Eq(i).Text(); !strings.Contains(got, w) {
						t.Errorf("%s flash %q, want %q", kind, got, w)
					}
				}
			}
			for _, secret := range []string{"SecretToken", "/services/", "/webhookb2/"} {
				if strings.Contains(page.body, secret) {
					t.Errorf("the page shows %q of a webhook URL", secret)
				}
			}
			after, paths := ok.got()
			if n := len(after) - len(before); n != tc.wantPosted {
				t.Fatalf("the receiver got %d test alerts, want %d", n, tc.wantPosted)
			}
			if tc.wantPosted > 0 {
				if p := after[len(after)-1]; p.Event != alert.EventTest || !strings.Contains(p.Text, "test alert") {
					t.Errorf("payload %+v", p)
				}
				if paths[len(paths)-1] != "/services/T0001/B0002/okSecretToken" {
					t.Errorf("posted to %q", paths[len(paths)-1])
				}
			}
			entries, _, err := e.st.ListAudit(context.Background(), 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			var audited []string
			for _, a := range entries {
				if a.Action == "alerts.tested" {
					audited = append(audited, a.Detail)
				}
			}
			switch {
			case tc.wantAudit == "" && len(audited) != 0:
				t.Errorf("audited %q though nothing was sent", audited)
			case tc.wantAudit != "" && (len(audited) != 1 || audited[0] != tc.wantAudit):
				t.Errorf("audit %q, want %q", audited, tc.wantAudit)
			}
			if strings.Contains(e.logs.String(), "SecretToken") {
				t.Error("a webhook URL reached the log")
			}
		})
	}
	if _, paths := gone.got(); len(paths) != 1 {
		t.Errorf("the failing webhook was tried %d times, want once (a 404 is not retried)", len(paths))
	}
}

// The Settings page has the button, in its own form so the settings are
// not sent with it, and a GET sends nothing.
func TestAlertsTestButton(t *testing.T) {
	rcv := newWebhookReceiver(t, http.StatusOK)
	e := newAlertsEnv(t, true, []string{rcv.URL + "/hook"})
	c := e.client()
	e.login(c)
	d := e.get(c, "/settings").doc(t)
	btn := testid(d, "alerts-test")
	if btn.Length() != 1 || btn.AttrOr("form", "") != "alerts-test-form" || btn.Closest(`[data-testid="section-alerts"]`).Length() != 1 {
		t.Fatalf("no test button in the Alerts section: %d", btn.Length())
	}
	f := d.Find("form#alerts-test-form")
	if f.AttrOr("action", "") != "/settings/alerts/test" || f.AttrOr("method", "") != "post" || f.Closest("form#settings-form, form[data-testid=settings-form]").Length() != 0 {
		t.Errorf("test form action %q method %q", f.AttrOr("action", ""), f.AttrOr("method", ""))
	}
	wantStatus(t, e.get(c, "/settings/alerts/test"), http.StatusMethodNotAllowed)
	if p, _ := rcv.got(); len(p) != 0 {
		t.Fatal("a GET sent a test alert")
	}
}
