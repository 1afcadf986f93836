package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// eventsKeepAlive is how often an idle stream sends a comment, so proxies
// and browsers do not close it as dead.
const eventsKeepAlive = 25 * time.Second

// events is GET /events: server-sent events of sync progress for the
// dashboard and the run pages (htmx's sse extension). Each engine event
// becomes a "progress" event whose data is the progress box as HTML; a
// run's start also sends "started" and its end "done" (data: the run id),
// on which the pages reload their status. Runs of other processes sharing
// the database (the CLI, another console) have no engine events here, so
// the stream also watches the store's latest run and reports those the
// same way. The stream ends when the client goes away or at shutdown.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if s.engine == nil {
		http.Error(w, "no sync engine in this process", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	// Subscribe before reading the current state so no event falls in
	// between.
	ch, unsubscribe := s.engine.Subscribe()
	defer unsubscribe()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	// A page loaded mid-run already shows the progress; send it anyway so
	// a reconnecting stream catches up.
	if ev, ok := s.engine.Current(); ok {
		if err := s.writeProgress(w, r, ev); err != nil {
			return
		}
	} else if _, err := fmt.Fprint(w, ": connected\n\n"); err != nil {
		return
	}
	// A page following the approval of a held run (?held=) that ended
	// before the stream connected reloads at once.
	if held, err := strconv.ParseInt(r.URL.Query().Get("held"), 10, 64); err == nil && held > 0 && !s.approvalGoing(r.Context(), held) {
		if _, err := fmt.Fprintf(w, "event: done\ndata: %d\n\n", held); err != nil {
			return
		}
	}
	if err := rc.Flush(); err != nil {
		s.log.Warn("event stream cannot flush", "err", err, "request_id", requestIDFrom(r.Context()))
		return
	}

	keepAlive := time.NewTicker(eventsKeepAlive)
	defer keepAlive.Stop()
	poll := time.NewTicker(s.storePoll)
	defer poll.Stop()
	watch := storeWatch{}
	watch.seen, _ = s.latestRunState(r.Context())
	done := s.streams.doneChan()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-done:
			return
		case <-s.approvals.endedSignal():
			// An approval ended; one refused before its run started has no
			// engine event of its own.
			if _, err := fmt.Fprint(w, "event: done\ndata: 0\n\n"); err != nil {
				return
			}
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case <-poll.C:
			st, err := s.latestRunState(r.Context())
			if err != nil || st == watch.seen {
				continue
			}
			watch.seen = st
			if _, ours := s.engine.Current(); ours {
				continue // this process's run: its events tell
			}
			if st.running {
				p := web.DashProgress{Running: true, Elsewhere: true, RunID: st.id, Trigger: st.trigger, Message: "Running in another process"}
				if err := s.writeEvent(w, r, "progress", web.DashProgressBox(p)); err != nil {
					return
				}
				if _, err := fmt.Fprintf(w, "event: started\ndata: %d\n\n", st.id); err != nil {
					return
				}
			} else {
				p := web.DashProgress{Final: true, RunID: st.id, Status: st.status, Message: dsync.FinalMessage(st.status)}
				if err := s.writeEvent(w, r, "progress", web.DashProgressBox(p)); err != nil {
					return
				}
				if _, err := fmt.Fprintf(w, "event: done\ndata: %d\n\n", st.id); err != nil {
					return
				}
			}
		case ev := <-ch:
			if err := s.writeProgress(w, r, ev); err != nil {
				return
			}
			switch {
			case ev.Final:
				if _, err := fmt.Fprintf(w, "event: done\ndata: %d\n\n", ev.RunID); err != nil {
					return
				}
			case ev.Phase == "start":
				if _, err := fmt.Fprintf(w, "event: started\ndata: %d\n\n", ev.RunID); err != nil {
					return
				}
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// storeWatch is what an event stream last saw of the store's latest run.
type storeWatch struct{ seen runState }

// runState is the latest run's identity and status.
type runState struct {
	id      int64
	status  string
	trigger string
	running bool
}

// latestRunState reads the latest run's state from the store.
func (s *Server) latestRunState(ctx context.Context) (runState, error) {
	run, err := s.runs.LastRun(ctx, store.DefaultProfile)
	if errors.Is(err, store.ErrNotFound) {
		return runState{}, nil
	}
	if err != nil {
		return runState{}, err
	}
	return runState{id: run.ID, status: run.Status, trigger: run.Trigger, running: run.Status == store.StatusRunning}, nil
}

// writeProgress writes one "progress" event: the progress box's HTML,
// one data line per line of HTML.
func (s *Server) writeProgress(w http.ResponseWriter, r *http.Request, ev dsync.Event) error {
	return s.writeEvent(w, r, "progress", web.DashProgressBox(dashProgressOf(ev)))
}

// writeEvent writes one server-sent event whose data is c's HTML, one
// data line per line of HTML.
func (s *Server) writeEvent(w http.ResponseWriter, r *http.Request, name string, c templ.Component) error {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		return fmt.Errorf("render %s event: %w", name, err)
	}
	var out strings.Builder
	out.WriteString("event: " + name + "\n")
	for _, line := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		out.WriteString("data: ")
		out.WriteString(strings.TrimRight(line, "\r"))
		out.WriteString("\n")
	}
	out.WriteString("\n")
	_, err := io.WriteString(w, out.String())
	return err
}
