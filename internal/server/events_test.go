package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/internal/store"
)

// sseEvent is one server-sent event.
type sseEvent struct {
	name, data string
}

// sseStream reads events from an open /events response.
type sseStream struct {
	res *http.Response
	rd  *bufio.Reader
}

// openEvents opens /events for the logged-in client c; the stream ends
// when ctx does.
func openEvents(t *testing.T, ctx context.Context, e *env, c *http.Client) *sseStream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	return &sseStream{res: res, rd: bufio.NewReader(res.Body)}
}

// next returns the next event, skipping comments; io.EOF when the
// stream ends.
func (s *sseStream) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.name == "" && data == nil {
				continue // a comment block ended
			}
			ev.data = strings.Join(data, "\n")
			return ev, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

func TestEventsStreamProgressAndDone(t *testing.T) {
	d := newDashEnv(t, true)
	c := d.client()
	d.login(c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := openEvents(t, ctx, d.env, c)

	wantStatus(t, d.post(c, "/sync", url.Values{}), http.StatusSeeOther)
	var progress []string
	var final, done, started sseEvent
	for done.name == "" {
		ev, err := s.next()
		if err != nil {
			t.Fatalf("stream ended before the run did (%d progress events): %v", len(progress), err)
		}
		switch ev.name {
		case "progress":
			progress = append(progress, ev.data)
			if strings.Contains(ev.data, `data-testid="progress-final"`) {
				final = ev
			}
		case "done":
			done = ev
		case "started":
			started = ev
		default:
			t.Fatalf("unexpected event %q", ev.name)
		}
	}
	run := d.lastRun(t)
	if done.data != itoa(int(run.ID)) {
		t.Fatalf("done data %q, want run id %d", done.data, run.ID)
	}
	if final.name == "" {
		t.Fatal("no final progress event before done")
	}
	if started.data != itoa(int(run.ID)) {
		t.Fatalf("started data %q, want run id %d", started.data, run.ID)
	}
	running := 0
	for _, p := range progress {
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		if testid(doc, "progress").Length() == 1 {
			running++
			if testid(doc, "progress-bar").Length() != 1 || strings.TrimSpace(testid(doc, "progress-message").Text()) == "" {
				t.Fatalf("progress event without bar or message:\n%s", p)
			}
		}
	}
	if running == 0 {
		t.Fatalf("no running-progress event among %d", len(progress))
	}
	if !strings.Contains(final.data, "success") {
		t.Fatalf("final event:\n%s", final.data)
	}
	if run.Status != store.StatusSuccess {
		t.Fatalf("run status %q", run.Status)
	}
}

// TestEventsCatchUp checks that a stream opened mid-run starts with the
// current progress.
func TestEventsCatchUp(t *testing.T) {
	d := newDashEnv(t, true)
	c := d.client()
	d.login(c)
	d.closeGate()
	wantStatus(t, d.post(c, "/sync", url.Values{}), http.StatusSeeOther)
	d.waitHeld(t)
	cur, ok := d.engine.Current()
	if !ok {
		t.Fatal("no current event while the run is held")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := openEvents(t, ctx, d.env, c)
	ev, err := s.next()
	if err != nil {
		t.Fatal(err)
	}
	if ev.name != "progress" {
		t.Fatalf("first event %q", ev.name)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(ev.data))
	if err != nil {
		t.Fatal(err)
	}
	if got := testid(doc, "progress-message").Text(); cur.Message == "" || !strings.Contains(got, cur.Message) {
		t.Fatalf("first event shows %q, want the current %q", got, cur.Message)
	}
	d.openGate()
	for ev.name != "done" {
		if ev, err = s.next(); err != nil {
			t.Fatalf("no done event: %v", err)
		}
	}
}

func TestEventsEndAtShutdown(t *testing.T) {
	d := newDashEnv(t, true)
	c := d.client()
	d.login(c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := openEvents(t, ctx, d.env, c)
	d.srv.CloseStreams()
	for {
		_, err := s.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("stream did not end cleanly: %v", err)
		}
	}
	// Streams opened after shutdown began end at once.
	s = openEvents(t, ctx, d.env, c)
	if _, err := s.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("a stream opened after shutdown: %v", err)
	}
}

func TestEventsWithoutEngine(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	wantStatus(t, e.get(c, "/events"), http.StatusServiceUnavailable)
}
