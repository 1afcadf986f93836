package sync

import (
	gosync "sync"
	"time"
)

// Event is a progress event of a run, for the console's live view.
type Event struct {
	RunID   int64     `json:"runId"`
	Trigger string    `json:"trigger"`
	Phase   string    `json:"phase"`
	Message string    `json:"message"`
	Done    int       `json:"done"`
	Total   int       `json:"total"`
	Status  string    `json:"status,omitempty"`
	Final   bool      `json:"final"`
	At      time.Time `json:"at"`
}

// hub fans run events out to subscribers and remembers the latest event of
// the run in progress, so a page loaded mid-run can show where it is.
type hub struct {
	mu     gosync.Mutex
	subs   map[chan Event]struct{}
	latest *Event
}

func (h *hub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Final {
		h.latest = nil
	} else {
		h.latest = &ev
	}
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // a slow subscriber misses an event, never blocks a run
		}
	}
}

// Subscribe returns a channel of events of every recorded run and a func
// to unsubscribe.
func (e *Engine) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, 64)
	e.hub.mu.Lock()
	if e.hub.subs == nil {
		e.hub.subs = map[chan Event]struct{}{}
	}
	e.hub.subs[ch] = struct{}{}
	e.hub.mu.Unlock()
	return ch, func() {
		e.hub.mu.Lock()
		delete(e.hub.subs, ch)
		e.hub.mu.Unlock()
	}
}

// Current returns the latest event of the run in progress in this process.
func (e *Engine) Current() (Event, bool) {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	if e.hub.latest == nil {
		return Event{}, false
	}
	return *e.hub.latest, true
}
