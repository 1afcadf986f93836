package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/demo"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// receiver is a webhook endpoint that records what it gets and answers
// the statuses queued in fail first, then 200.
type receiver struct {
	*httptest.Server
	mu       gosync.Mutex
	payloads []Payload
	requests int
	fail     []int
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.requests++
		if len(rc.fail) > 0 {
			st := rc.fail[0]
			rc.fail = rc.fail[1:]
			rc.mu.Unlock()
			w.WriteHeader(st)
			return
		}
		var p Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil || r.Header.Get("Content-Type") != "application/json" {
			rc.mu.Unlock()
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rc.payloads = append(rc.payloads, p)
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) events() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, p := range rc.payloads {
		out = append(out, p.Event)
	}
	return out
}

func (rc *receiver) failNext(statuses ...int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.fail = append(rc.fail, statuses...)
}

// hookURL carries a credential, as Slack's do.
func (rc *receiver) hookURL() string { return rc.URL + "/services/T000/B000/secret-hook-token" }

type env struct {
	t      *testing.T
	okta   *oktatest.Server
	bw     *bwtest.Server
	store  *store.Store
	engine *dsync.Engine
	hook   *receiver
	logs   *bytes.Buffer
	token  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, logs: &bytes.Buffer{}}
	e.okta = oktatest.New(oktatest.Options{})
	t.Cleanup(e.okta.Close)
	e.token = e.okta.Token()
	e.okta.SetOrg(oktatest.Generate(oktatest.Spec{Users: 20, Groups: 2, MembersPerGroup: 5, Seed: 1}))
	e.bw = bwtest.New(bwtest.Options{})
	t.Cleanup(e.bw.Close)
	st, err := store.Open(context.Background(), t.TempDir()+"/dirsync.db", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.store = st
	e.hook = newReceiver(t)
	s := demo.Settings(e.okta, e.bw)
	s.Alerts.WebhookURLs = config.Secret(e.hook.hookURL())
	s.Guard = config.Guard{MaxRemovals: 1}
	if err := demo.Save(context.Background(), st, store.DefaultProfile, s); err != nil {
		t.Fatal(err)
	}
	e.engine = dsync.New(st, "test")
	return e
}

func (e *env) notifier() *Notifier {
	n := New(e.store, "https://dirsync.example", slog.New(slog.NewTextHandler(e.logs, nil)))
	n.Backoff = time.Millisecond
	e.engine.OnFinish = []func(context.Context, *dsync.Result){n.OnFinish}
	return n
}

func (e *env) run(n *Notifier, want string) {
	e.t.Helper()
	res, _ := e.engine.Run(context.Background(), store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerSchedule})
	if res.Run.Status != want {
		e.t.Fatalf("run status %s (%s), want %s", res.Run.Status, res.Run.Error, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Wait(ctx); err != nil {
		e.t.Fatal(err)
	}
}

func TestAlertsOncePerProblem(t *testing.T) {
	e := newEnv(t)
	n := e.notifier()
	steps := []struct {
		name       string
		change     func()
		status     string
		wantEvents string
		restart    bool
	}{
		{"first success says nothing", nil, store.StatusSuccess, "", false},
		{"a failure alerts", func() { e.okta.SetToken("rotated") }, store.StatusFailed, "failed", false},
		{"the same failure again is quiet", nil, store.StatusFailed, "failed", false},
		{"after a restart still quiet", nil, store.StatusFailed, "failed", true},
		{"recovery alerts", func() { e.okta.SetToken(e.token) }, store.StatusUnchanged, "failed recovered", false},
		{"staying healthy is quiet", nil, store.StatusUnchanged, "failed recovered", false},
		{"a held run alerts", func() {
			for _, u := range e.okta.Org().Users[:3] {
				_ = e.okta.SetUserStatus(u.ID, oktatest.StatusDeprovisioned)
			}
		}, store.StatusHeld, "failed recovered held", false},
		{"held again is quiet", nil, store.StatusHeld, "failed recovered held", false},
	}
	for _, st := range steps {
		if st.change != nil {
			st.change()
		}
		if st.restart {
			n = e.notifier()
		}
		e.run(n, st.status)
		if got := strings.Join(e.hook.events(), " "); got != st.wantEvents {
			t.Fatalf("%s: events %q, want %q", st.name, got, st.wantEvents)
		}
	}
	p := e.hook.payloads[0]
	if p.Run == nil || p.Run.Status != store.StatusFailed || p.Run.Error == "" || p.Profile != store.DefaultProfile ||
		!strings.HasPrefix(p.Console, "https://dirsync.example/history/") || !strings.Contains(p.Text, "failed") || !strings.Contains(p.Text, p.Console) {
		t.Fatalf("failed payload %+v", p)
	}
	if strings.Contains(e.logs.String(), "secret-hook-token") {
		t.Fatal("the webhook URL was logged")
	}
	// The alert's lines belong to the run that raised it.
	sent := 0
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, "alert sent") {
			sent++
			if !strings.Contains(l, " run=") {
				t.Errorf("an alert line lacks the run id: %s", l)
			}
		}
	}
	if sent == 0 {
		t.Errorf("no alert logged:\n%s", e.logs.String())
	}
}

func TestRetriesAndUndelivered(t *testing.T) {
	e := newEnv(t)
	n := e.notifier()
	e.okta.SetToken("rotated")

	// Two 500s then a 200: delivered on the third try.
	e.hook.failNext(500, 429)
	e.run(n, store.StatusFailed)
	if got := e.hook.events(); len(got) != 1 || e.hook.requests != 3 {
		t.Fatalf("events %v after %d requests, want 1 after 3", got, e.hook.requests)
	}

	// Recovery never delivered (three 503s): the state stays "failed", so
	// the next healthy run tries again.
	e.okta.SetToken(e.token)
	e.hook.failNext(503, 503, 503)
	e.run(n, store.StatusSuccess)
	if got := e.hook.events(); len(got) != 1 || e.hook.requests != 6 {
		t.Fatalf("events %v after %d requests", got, e.hook.requests)
	}
	e.run(n, store.StatusUnchanged)
	if got := strings.Join(e.hook.events(), " "); got != "failed recovered" {
		t.Fatalf("events %q", got)
	}
}

func TestSendTest(t *testing.T) {
	e := newEnv(t)
	n := e.notifier()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	tests := []struct {
		name      string
		urls      []string
		fail      []int
		wantErr   string
		wantTries int
	}{
		{"delivered", []string{e.hook.hookURL()}, nil, "", 1},
		{"client error is not retried", []string{e.hook.hookURL()}, []int{404}, "HTTP 404", 1},
		{"server errors are retried", []string{e.hook.hookURL()}, []int{500, 500, 500}, "HTTP 500", 3},
		{"no answer", []string{hang.URL + "/secret-hook-token"}, nil, "no answer within", 3},
		{"network error", []string{gone.URL + "/secret-hook-token"}, nil, "network error", 3},
		{"none", nil, nil, "no webhook URL", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.hook.failNext(tc.fail...)
			// Only the hanging hook needs a short timeout; elsewhere a
			// short one turns a slow answer on a loaded machine into a
			// retry (seen: "tries 2, want 1").
			n.Timeout = 10 * time.Second
			if tc.name == "no answer" {
				n.Timeout = 100 * time.Millisecond
			}
			ds, err := n.SendTest(context.Background(), tc.urls)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret-hook-token") {
				t.Fatalf("the error shows the URL: %v", err)
			}
			if len(ds) > 0 && ds[0].Tries != tc.wantTries {
				t.Fatalf("tries %d, want %d", ds[0].Tries, tc.wantTries)
			}
		})
	}
	if ev := e.hook.events(); len(ev) == 0 || ev[0] != EventTest {
		t.Fatalf("events %v", ev)
	}
	if strings.Contains(e.logs.String(), "secret-hook-token") {
		t.Fatal("the webhook URL was logged")
	}
}
