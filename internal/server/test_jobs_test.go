package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/store"
)

// TestTestRunsInBackground holds the test at its Bitwarden read (the gate)
// and checks that POST /test/run has already answered, the page shows the
// running test (also after a reload, and to a second start), Cancel stops
// it, and a test that may finish shows its result at the address it gave.
func TestTestRunsInBackground(t *testing.T) {
	d := newDashEnv(t, true)
	c := d.client()
	d.login(c)

	d.closeGate()
	r := d.post(c, "/test/run", url.Values{})
	// The answer came while the test is stuck at the gate.
	wantStatus(t, r, http.StatusSeeOther)
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, "/test?id=") {
		t.Fatalf("redirect to %q", loc)
	}
	d.waitHeld(t)
	id := strings.TrimPrefix(loc, "/test?id=")
	for _, path := range []string{loc, "/test"} {
		page := d.get(c, path)
		wantStatus(t, page, http.StatusOK)
		doc := page.doc(t)
		if testid(doc, "test-running-card").Length() != 1 {
			t.Fatalf("%s does not show the running test:\n%.3000s", path, page.body)
		}
		if _, ok := testid(doc, "test-run").Attr("disabled"); !ok {
			t.Errorf("%s: Run a test is not disabled while a test runs", path)
		}
		if !hasRefresh(doc) {
			t.Errorf("%s: no refresh for browsers without JavaScript", path)
		}
	}
	// One test at a time: a second start is sent to the running one.
	r = d.post(c, "/test/run", url.Values{})
	wantLocation(t, r, loc)
	if f := flashText(t, d.env, c); !strings.Contains(f, "already running") {
		t.Errorf("second start flash %q", f)
	}
	// The progress stream names what the test is doing.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", d.ts.URL+"/test/events?id="+id, nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, _ := res.Body.Read(buf)
	res.Body.Close()
	cancel()
	if got := string(buf[:n]); !strings.Contains(got, "event: progress") || !strings.Contains(got, "Bitwarden") {
		t.Errorf("first event %q", got)
	}

	r = d.post(c, "/test/cancel", url.Values{"id": {id}})
	wantLocation(t, r, loc)
	page := d.get(c, loc)
	if testid(page.doc(t), "preview-cancelled").Length() != 1 {
		t.Fatalf("cancelled test page:\n%.3000s", page.body)
	}
	if d.srv.tests.current(store.DefaultProfile) != nil {
		t.Fatal("the cancelled test still counts as running")
	}

	d.openGate()
	r = d.post(c, "/test/run", url.Values{})
	loc = r.Header.Get("Location")
	waitTestDone(t, d.env, strings.TrimPrefix(loc, "/test?id="))
	page = d.get(c, loc)
	doc := page.doc(t)
	if testid(doc, "test-running-card").Length() != 0 || testid(doc, "verdict").Length() != 1 {
		t.Fatalf("finished test page:\n%.3000s", page.body)
	}
	if got := testid(doc, "verdict-text").Text(); !strings.Contains(got, "This sync would invite 40") {
		t.Errorf("verdict %q", got)
	}
	// The stream of an ended test says so at once.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	req, _ = http.NewRequestWithContext(ctx2, "GET", d.ts.URL+"/test/events?id="+strings.TrimPrefix(loc, "/test?id="), nil)
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// The progress and the end are flushed one after the other: read until
	// the end comes (or the 10 s context ends the body).
	var got string
	for !strings.Contains(got, "event: done") {
		n, err := res.Body.Read(buf)
		got += string(buf[:n])
		if err != nil {
			break
		}
	}
	res.Body.Close()
	if !strings.Contains(got, "event: done") {
		t.Errorf("ended test's stream %q", got)
	}
}

// TestTestVerdicts checks the sentence a test leads with: the deletion
// guard's hold, and an unreadable Bitwarden as an error with what to
// check.
func TestTestVerdicts(t *testing.T) {
	h := newHeldEnv(t) // 10 deprovisioned after a first push: the guard holds
	p := &previewEnv{env: h.env, okta: h.okta, bw: h.bw, c: h.c}
	page, _ := p.runTest(nil)
	v := testid(page.doc(t), "verdict")
	if kind, _ := v.Attr("data-kind"); kind != "held" {
		t.Errorf("verdict kind %q", kind)
	}
	if got := v.Find(`[data-testid="verdict-text"]`).Text(); !strings.Contains(got, "remove 10") || !strings.Contains(got, "HELD by the deletion guard") || !strings.Contains(got, "the limit is 4") {
		t.Errorf("held verdict %q", got)
	}
	if got := testid(page.doc(t), "number-removals").Text(); !strings.Contains(got, "10") {
		t.Errorf("removals number %q", got)
	}

	// A wrong client secret: the directory is read, Bitwarden refuses.
	st, err := h.st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	st.Bitwarden.ClientSecret = "wrong-secret"
	if _, err := h.st.SaveSettings(context.Background(), store.DefaultProfile, st); err != nil {
		t.Fatal(err)
	}
	page, _ = p.runTest(nil)
	v = testid(page.doc(t), "verdict")
	if kind, _ := v.Attr("data-kind"); kind != "error" {
		t.Errorf("verdict kind %q: %s", kind, v.Text())
	}
	if got := v.Find(`[data-testid="verdict-text"]`).Text(); !strings.HasPrefix(got, "Bitwarden could not be read") {
		t.Errorf("bitwarden verdict %q", got)
	}
	if got := v.Find(`[data-testid="verdict-hints"]`).Text(); !strings.Contains(got, "client secret") {
		t.Errorf("hints %q", got)
	}
}
