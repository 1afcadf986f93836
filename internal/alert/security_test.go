package alert

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	gosync "sync"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// TestWebhookRedirectNotFollowed: a webhook answering 307/308/302 is not
// followed (the target never sees the alert nor a Referer), the delivery
// fails once with an error saying why, and it is not retried.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	e := newEnv(t)
	n := e.notifier()
	var mu gosync.Mutex
	var got []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.Header.Get("Referer"))
		mu.Unlock()
	}))
	t.Cleanup(target.Close)
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusFound} {
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere", code)
		}))
		ds, err := n.SendTest(context.Background(), []string{hook.URL + "/services/secret-hook-token"})
		hook.Close()
		if err == nil || !strings.Contains(err.Error(), "redirect") || strings.Contains(err.Error(), "secret-hook-token") {
			t.Fatalf("%d: error %v, want a redirect refusal without the URL", code, err)
		}
		if len(ds) != 1 || ds[0].Tries != 1 {
			t.Fatalf("%d: deliveries %+v, want one try", code, ds)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) > 0 {
		t.Fatalf("the redirect target was called: %v", got)
	}
}

// TestEchoedTokenRedactedEverywhere: Okta's JSON error quoting the
// Authorization header leaves no token in the run record, the database
// file, the alert or the logs.
func TestEchoedTokenRedactedEverywhere(t *testing.T) {
	e := newEnv(t)
	n := e.notifier()
	var hookBodies []string
	var mu gosync.Mutex
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p Payload
		_ = json.NewDecoder(r.Body).Decode(&p)
		b, _ := json.Marshal(p)
		mu.Lock()
		hookBodies = append(hookBodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	s, err := e.store.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	s.Alerts.WebhookURLs = config.Secret(hook.URL + "/hook")
	if _, err := e.store.SaveSettings(context.Background(), store.DefaultProfile, s); err != nil {
		t.Fatal(err)
	}
	echo := `{"errorCode":"E0000011","errorSummary":"Invalid token provided: Authorization: SSWS ` + e.token + `","errorId":"oae1","errorCauses":[{"errorSummary":"header was SSWS ` + e.token + `"}]}`
	e.okta.FailNextRaw("/api/v1/users", http.StatusUnauthorized, 10, "application/json", echo)
	res, _ := e.engine.Run(context.Background(), store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerSchedule})
	if err := n.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if res.Run.Status != store.StatusFailed || !strings.Contains(res.Run.Error, "[REDACTED]") {
		t.Fatalf("run %s: %q, want a failure with the token redacted", res.Run.Status, res.Run.Error)
	}
	rec, err := e.store.GetRun(context.Background(), res.Run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rec.Error, e.token) {
		t.Fatalf("the stored run error holds the token: %q", rec.Error)
	}
	mu.Lock()
	bodies := strings.Join(hookBodies, "\n")
	mu.Unlock()
	if len(hookBodies) == 0 || strings.Contains(bodies, e.token) {
		t.Fatalf("alert bodies %q: want one, without the token", bodies)
	}
	if strings.Contains(e.logs.String(), e.token) {
		t.Fatal("the token is in the logs")
	}
	e.store.Close()
	for _, f := range []string{e.store.Path(), e.store.Path() + "-wal"} {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), e.token) {
			t.Fatalf("%s holds the token in plaintext", f)
		}
	}
}
