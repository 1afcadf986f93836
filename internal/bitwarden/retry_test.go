package bitwarden_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
)

// waits records the client's retry waits instead of spending them.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return nil
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.d)
}

func retryingClient(t *testing.T, fake *bwtest.Server) (*bitwarden.Client, *waits) {
	t.Helper()
	c := newClient(t, fake, nil)
	w := &waits{}
	bitwarden.SetSleep(c, w.sleep)
	return c, w
}

func TestReadsRetry429HonouringRetryAfter(t *testing.T) {
	fake := newFake(t, bwtest.Options{})
	fake.AddMember("a@x.com", "a", bwtest.User)
	fake.FailReads(2, http.StatusTooManyRequests, "7")
	c, w := retryingClient(t, fake)
	members, err := c.ListMembers(context.Background())
	if err != nil {
		t.Fatalf("ListMembers after two 429s: %v", err)
	}
	if len(members) != 1 {
		t.Errorf("members = %v", members)
	}
	got := w.all()
	if len(got) != 2 || got[0] < 7*time.Second || got[1] < 7*time.Second {
		t.Errorf("waits = %v, want two of at least Retry-After's 7 s", got)
	}
}

func TestReadsRetry5xxWithBackoffThenGiveUp(t *testing.T) {
	fake := newFake(t, bwtest.Options{})
	fake.AddGroup("Eng", "g1")
	fake.FailReads(1, http.StatusBadGateway, "")
	c, w := retryingClient(t, fake)
	if _, err := c.ListGroups(context.Background()); err != nil {
		t.Fatalf("ListGroups after one 502: %v", err)
	}
	if got := w.all(); len(got) != 1 || got[0] <= 0 || got[0] > 2*time.Second {
		t.Errorf("waits = %v, want one short backoff", got)
	}

	fake.FailReads(20, http.StatusServiceUnavailable, "")
	c, w = retryingClient(t, fake)
	_, err := c.ListMembers(context.Background())
	var ae *bitwarden.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Fatalf("error = %v, want the 503 after the retries", err)
	}
	got := w.all()
	if len(got) != 4 {
		t.Fatalf("waits = %v, want 4 (5 attempts)", got)
	}
	if got[3] <= got[0] {
		t.Errorf("waits = %v, want them to grow", got)
	}
}

func TestReadsDoNotRetry4xxOrHonourHugeRetryAfter(t *testing.T) {
	fake := newFake(t, bwtest.Options{})
	fake.FailReads(1, http.StatusForbidden, "")
	c, w := retryingClient(t, fake)
	if _, err := c.ListMembers(context.Background()); err == nil {
		t.Fatal("a 403 read succeeded")
	}
	if got := w.all(); len(got) != 0 {
		t.Errorf("a 403 was retried: waits %v", got)
	}
	fake.FailReads(1, http.StatusTooManyRequests, "3600")
	_, err := c.ListMembers(context.Background())
	if err == nil || !strings.Contains(err.Error(), "asked to wait 1h0m0s") {
		t.Errorf("error = %v, want the long Retry-After named", err)
	}
	if got := w.all(); len(got) != 0 {
		t.Errorf("waited %v for an hour-long Retry-After", got)
	}
}

func TestImportIsNeverRetried(t *testing.T) {
	fake := newFake(t, bwtest.Options{})
	fake.FailImport(1, http.StatusServiceUnavailable, "maintenance")
	c, w := retryingClient(t, fake)
	err := c.Import(context.Background(), &bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a"}}})
	if err == nil {
		t.Fatal("a 503 import succeeded")
	}
	if n := len(fake.Imports()); n != 1 || len(w.all()) != 0 {
		t.Errorf("imports = %d, waits %v; an import must be sent once", n, w.all())
	}
}

func TestImportTimeoutIsReportedNotResent(t *testing.T) {
	var mu sync.Mutex
	posts := 0
	mux := http.NewServeMux()
	mux.HandleFunc("POST /identity/connect/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"tok","expires_in":3600,"token_type":"Bearer"}`))
	})
	mux.HandleFunc("POST /api/public/organization/import", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts++
		mu.Unlock()
		_, _ = io.ReadAll(r.Body) // then the server notices the client hang up
		<-r.Context().Done()      // the server keeps going; the client gives up
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	c, err := bitwarden.New(bitwarden.Config{Server: ts.URL, ClientID: bwtest.DefaultClientID, ClientSecret: "x", ImportTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Import(context.Background(), &bitwarden.ImportRequest{})
	var te *bitwarden.ImportTimeoutError
	if !errors.As(err, &te) || te.After != 100*time.Millisecond {
		t.Fatalf("error = %v, want an ImportTimeoutError", err)
	}
	if !strings.Contains(err.Error(), "did not send it again") || !strings.Contains(err.Error(), "bitwarden.importTimeoutSeconds") {
		t.Errorf("message %q does not explain", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if posts != 1 {
		t.Errorf("import sent %d times, want once", posts)
	}
}

func TestDefaultImportTimeoutIsGenerous(t *testing.T) {
	if bitwarden.DefaultImportTimeout < 100*time.Second {
		t.Errorf("default import timeout %v is shorter than Bitwarden cloud's edge (about 100 s)", bitwarden.DefaultImportTimeout)
	}
}

func TestSubscription(t *testing.T) {
	ctx := context.Background()
	cloud := newFake(t, bwtest.Options{})
	seats, maxSeats := 10, 15
	cloud.SetSeats(&seats, &maxSeats)
	sub, err := newClient(t, cloud, nil).Subscription(ctx)
	if err != nil || sub.Seats == nil || *sub.Seats != 10 || sub.MaxAutoscaleSeats == nil || *sub.MaxAutoscaleSeats != 15 {
		t.Fatalf("cloud subscription = %+v, %v", sub, err)
	}
	cloud.SetSeats(nil, nil)
	if sub, err := newClient(t, cloud, nil).Subscription(ctx); err != nil || sub.Seats != nil || sub.MaxAutoscaleSeats != nil {
		t.Errorf("unlimited subscription = %+v, %v", sub, err)
	}
	for name, opts := range map[string]bwtest.Options{"self-hosted": {SelfHosted: true}, "vaultwarden": {Vaultwarden: true}} {
		f := newFake(t, opts)
		if _, err := newClient(t, f, nil).Subscription(ctx); !errors.Is(err, bitwarden.ErrNoSubscription) {
			t.Errorf("%s: error = %v, want ErrNoSubscription", name, err)
		}
	}
}

func TestVaultwardenListingsAreNotListed(t *testing.T) {
	f := newFake(t, bwtest.Options{Vaultwarden: true})
	c := newClient(t, f, nil)
	_, err := c.ListMembers(context.Background())
	if !bitwarden.IsNotListed(err) {
		t.Fatalf("error = %v, want IsNotListed", err)
	}
	if err := c.Import(context.Background(), &bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a"}}}); err != nil {
		t.Fatalf("Vaultwarden import: %v", err)
	}
	if bitwarden.IsNotListed(errors.New("x")) {
		t.Error("any error is IsNotListed")
	}
}

func TestVaultwardenTokenErrorNamesTheReason(t *testing.T) {
	f := newFake(t, bwtest.Options{Vaultwarden: true})
	c := newClient(t, f, func(cfg *bitwarden.Config) { cfg.ClientSecret = "wrong" })
	err := c.CheckToken(context.Background())
	if !errors.Is(err, bitwarden.ErrInvalidClient) || !strings.Contains(err.Error(), "Invalid client_id") {
		t.Errorf("error = %v, want ErrInvalidClient with Vaultwarden's message", err)
	}
}

func TestHintsReadTheAggregateErrors(t *testing.T) {
	f := newFake(t, bwtest.Options{})
	one := 1
	f.SetSeats(&one, nil)
	f.SetSeatPurchaseFails(bitwarden.MsgSeatLimit)
	c := newClient(t, f, nil)
	err := c.Import(context.Background(), &bitwarden.ImportRequest{Members: []bitwarden.ImportMember{{Email: "a@x.com", ExternalID: "a"}, {Email: "b@x.com", ExternalID: "b"}}})
	var ae *bitwarden.APIError
	if !errors.As(err, &ae) || ae.Message != "Errors have occurred." {
		t.Fatalf("error = %v, want the aggregate shape", err)
	}
	if !strings.Contains(ae.Hint(), "no free seats") || !strings.Contains(err.Error(), bitwarden.MsgSeatLimit) {
		t.Errorf("error %q: the hint must come from errors", err)
	}
}
