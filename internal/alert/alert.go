// Package alert reports failed, held and recovered sync runs to webhooks
// (Slack, Teams or anything that takes JSON). An alert goes out when a
// problem starts and when it ends, never again for the same ongoing
// problem; what was last reported is kept in the database, so a restart
// does not repeat it. Webhook URLs carry credentials: they are never
// logged or put in an error, only their host.
package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	gosync "sync"
	"time"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// Events.
const (
	EventFailed    = "failed"
	EventHeld      = "held"
	EventRecovered = "recovered"
	EventTest      = "test"
)

// errRedirect says a webhook answered with a redirect.
var errRedirect = errors.New("the webhook answered with a redirect")

// Alert states kept in the store.
const (
	stateOK     = "ok"
	stateFailed = "failed"
	stateHeld   = "held"
)

// Store is what the notifier needs from the store.
type Store interface {
	LoadSettings(ctx context.Context, profileID int64) (config.Settings, error)
	GetAlertState(ctx context.Context, profileID int64) (store.AlertState, error)
	SaveAlertState(ctx context.Context, st store.AlertState) error
}

// Payload is the JSON body posted to every webhook. Text is what Slack and
// Teams show; the other fields are for anything that parses it.
type Payload struct {
	Event   string      `json:"event"`
	Text    string      `json:"text"`
	Run     *RunSummary `json:"run,omitempty"`
	Profile int64       `json:"profile"`
	Console string      `json:"console,omitempty"`
}

// RunSummary is the run part of a Payload.
type RunSummary struct {
	ID         int64           `json:"id"`
	Status     string          `json:"status"`
	Trigger    string          `json:"trigger"`
	StartedAt  time.Time       `json:"startedAt"`
	FinishedAt *time.Time      `json:"finishedAt"`
	Error      string          `json:"error"`
	Counts     store.RunCounts `json:"counts"`
}

// Delivery is the outcome of posting to one webhook. Host is the only part
// of the URL it names.
type Delivery struct {
	Host   string `json:"host"`
	Status int    `json:"status"` // 0 when no answer arrived
	Tries  int    `json:"tries"`
	Error  string `json:"error,omitempty"`
}

// OK reports whether the webhook took the alert.
func (d Delivery) OK() bool { return d.Error == "" }

// Notifier sends alerts. Set its fields before the first run.
type Notifier struct {
	store Store
	// PublicURL is the console's base URL for links (none when empty).
	PublicURL string
	// Client posts the webhooks (default: a plain client).
	Client *http.Client
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// Tries is the attempts per webhook on 5xx, 429 and network errors
	// (default 3).
	Tries int
	// Backoff is the wait before the second attempt, doubled after each
	// (default 1 s).
	Backoff time.Duration
	// Logger gets one line per delivery (host only).
	Logger *slog.Logger

	mu   gosync.Mutex
	last chan struct{} // closed when the latest queued alert is done
}

// New returns a notifier over st.
func New(st Store, publicURL string, logger *slog.Logger) *Notifier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{store: st, PublicURL: strings.TrimRight(publicURL, "/"), Logger: logger}
}

// OnFinish is the engine hook (append it to Engine.OnFinish). It returns at
// once; the alert, if any, is decided and sent on a goroutine of its own,
// in the order the runs finished. Wait waits for it.
func (n *Notifier) OnFinish(ctx context.Context, res *dsync.Result) {
	if res == nil || res.Run.ID == 0 {
		return
	}
	run := res.Run
	fallback := res.Settings
	n.mu.Lock()
	prev := n.last
	done := make(chan struct{})
	n.last = done
	n.mu.Unlock()
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		n.handle(context.WithoutCancel(ctx), run, fallback)
	}()
}

// Wait blocks until every alert queued so far is done, or ctx ends.
func (n *Notifier) Wait(ctx context.Context) error {
	n.mu.Lock()
	last := n.last
	n.mu.Unlock()
	if last == nil {
		return nil
	}
	select {
	case <-last:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handle decides whether run starts or ends a problem, sends the alert and
// records the new state. The state is recorded only when every webhook
// took the alert (or there is none), so a failed delivery is tried again
// on the next run.
func (n *Notifier) handle(ctx context.Context, run store.Run, fallback config.Settings) {
	log := n.Logger.With("run", run.ID) // the run id on every line, as the run's own
	var next string
	switch run.Status {
	case store.StatusFailed, store.StatusInterrupted:
		next = stateFailed
	case store.StatusHeld:
		next = stateHeld
	case store.StatusSuccess, store.StatusUnchanged:
		next = stateOK
	default:
		return // dry runs and the like say nothing about health
	}
	cur := stateOK
	st, err := n.store.GetAlertState(ctx, run.ProfileID)
	switch {
	case err == nil:
		cur = st.State
	case !errors.Is(err, store.ErrNotFound):
		log.Warn("alert: cannot read the alert state", "error", err)
		return
	}
	if cur == next {
		return
	}
	event := next
	if next == stateOK {
		event = EventRecovered
	}
	settings, err := n.store.LoadSettings(ctx, run.ProfileID)
	if err != nil {
		settings = fallback
	}
	urls := settings.Alerts.Webhooks()
	delivered := true
	if len(urls) > 0 {
		for _, d := range n.send(ctx, urls, n.payload(event, run)) {
			delivered = delivered && d.OK()
		}
	}
	if !delivered {
		return
	}
	if err := n.store.SaveAlertState(ctx, store.AlertState{ProfileID: run.ProfileID, State: next, RunID: run.ID}); err != nil {
		log.Warn("alert: cannot save the alert state", "error", err)
	}
}

func (n *Notifier) payload(event string, r store.Run) Payload {
	p := Payload{Event: event, Profile: r.ProfileID, Run: &RunSummary{
		ID: r.ID, Status: r.Status, Trigger: r.Trigger, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Error: r.Error, Counts: r.Counts,
	}}
	if n.PublicURL != "" {
		p.Console = fmt.Sprintf("%s/history/%d", n.PublicURL, r.ID)
	}
	switch event {
	case EventFailed:
		p.Text = fmt.Sprintf("dirsync: sync run %d failed: %s", r.ID, r.Error)
	case EventHeld:
		p.Text = fmt.Sprintf("dirsync: sync run %d is held for approval, nothing was sent: %s", r.ID, r.Error)
	case EventRecovered:
		p.Text = fmt.Sprintf("dirsync: syncs work again (run %d: %s)", r.ID, r.Status)
	}
	if p.Console != "" {
		p.Text += " — " + p.Console
	}
	return p
}

// SendTest posts a test alert to urls and reports each delivery; the error
// names the hosts that did not take it.
func (n *Notifier) SendTest(ctx context.Context, urls []string) ([]Delivery, error) {
	if len(urls) == 0 {
		return nil, errors.New("no webhook URL is set")
	}
	p := Payload{Event: EventTest, Profile: store.DefaultProfile, Text: "dirsync: test alert; this webhook receives dirsync's alerts", Console: n.PublicURL}
	ds := n.send(ctx, urls, p)
	var bad []string
	for _, d := range ds {
		if !d.OK() {
			bad = append(bad, d.Host+": "+d.Error)
		}
	}
	if len(bad) > 0 {
		return ds, fmt.Errorf("the test alert was not delivered to %s", strings.Join(bad, "; "))
	}
	return ds, nil
}

// send posts p to every URL, one after the other.
func (n *Notifier) send(ctx context.Context, urls []string, p Payload) []Delivery {
	log := n.Logger
	if p.Run != nil {
		log = log.With("run", p.Run.ID)
	}
	body, err := json.Marshal(p)
	if err != nil {
		log.Error("alert: encode payload", "error", err)
		return []Delivery{{Error: "could not encode the alert"}}
	}
	out := make([]Delivery, 0, len(urls))
	for _, u := range urls {
		d := n.post(ctx, u, body)
		if d.OK() {
			log.Info("alert sent", "event", p.Event, "host", d.Host, "tries", d.Tries)
		} else {
			log.Warn("alert not delivered", "event", p.Event, "host", d.Host, "tries", d.Tries, "error", d.Error)
		}
		out = append(out, d)
	}
	return out
}

// post delivers body to one URL with retries.
func (n *Notifier) post(ctx context.Context, raw string, body []byte) Delivery {
	d := Delivery{Host: "(invalid URL)"}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		d.Error = "not a valid URL"
		return d
	}
	d.Host = u.Host
	client := &http.Client{}
	if n.Client != nil {
		cp := *n.Client
		client = &cp
	}
	// Follow no redirect: a webhook URL is a credential, a redirect could
	// re-post the alert elsewhere (https→http too), and the followed
	// request would carry the webhook URL in its Referer.
	client.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("%w to %s, which dirsync does not follow: use the address it redirects to", errRedirect, req.URL.Host)
	}
	timeout, tries, backoff := n.Timeout, n.Tries, n.Backoff
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if tries <= 0 {
		tries = 3
	}
	if backoff <= 0 {
		backoff = time.Second
	}
	for d.Tries < tries {
		if d.Tries > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				d.Error = "cancelled"
				return d
			case <-t.C:
			}
			backoff *= 2
		}
		d.Tries++
		status, retry, err := n.attempt(ctx, u, body, timeout, client)
		d.Status = status
		if err == nil {
			d.Error = ""
			return d
		}
		d.Error = err.Error()
		if !retry {
			return d
		}
	}
	return d
}

// attempt makes one POST. Errors never include the URL.
func (n *Notifier) attempt(ctx context.Context, u *url.URL, body []byte, timeout time.Duration, client *http.Client) (status int, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, false, errors.New("cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "dirsync")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL
		}
		if errors.Is(err, errRedirect) {
			return 0, false, err
		}
		if ctx.Err() != nil {
			return 0, true, fmt.Errorf("no answer within %s", timeout)
		}
		return 0, true, fmt.Errorf("network error: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return resp.StatusCode, true, fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		return resp.StatusCode, false, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
}
