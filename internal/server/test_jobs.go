package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	dsync "github.com/dirsync/dirsync/internal/sync"
)

// A test reads the whole directory, which against a real Okta can take
// minutes; a reverse proxy would cut a request that long. So a test runs
// in the background as a job: POST /test/run starts it and answers at
// once, the Test page shows its progress (live over /test/events, or by
// refreshing without JavaScript) and then its result. One test runs at a
// time per profile; a reload comes back to it.

// testJob is one test running (or just ended) in the background. Its id
// is also the id its preview gets, so the address the admin was sent to
// shows the result once it is there.
type testJob struct {
	id      string
	user    string
	started time.Time
	unsaved bool
	cancel  context.CancelFunc
	// done is closed when the job has ended and its preview (if any) is
	// in the cache.
	done chan struct{}

	mu        sync.Mutex
	last      dsync.Event
	hasLast   bool
	cancelled bool
	subs      map[chan dsync.Event]struct{}
}

// progress returns the latest event and whether there was one.
func (j *testJob) progress() (dsync.Event, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.last, j.hasLast
}

// publish records ev as the latest and hands it to the subscribers that
// keep up (a slow one misses intermediate events, never the end: that is
// j.done).
func (j *testJob) publish(ev dsync.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.last, j.hasLast = ev, true
	for ch := range j.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// subscribe returns a channel of the job's events and its cancel func.
func (j *testJob) subscribe() (<-chan dsync.Event, func()) {
	ch := make(chan dsync.Event, 16)
	j.mu.Lock()
	j.subs[ch] = struct{}{}
	j.mu.Unlock()
	return ch, func() {
		j.mu.Lock()
		delete(j.subs, ch)
		j.mu.Unlock()
	}
}

// ended reports whether the job has finished.
func (j *testJob) ended() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// testJobs holds the running test of each profile.
type testJobs struct {
	mu      sync.Mutex
	running map[int64]*testJob
	byID    map[string]*testJob // running or ended, until the next start
	wg      sync.WaitGroup
}

// start begins a test for profile unless one is running there; it
// returns the running one and false in that case. run does the work
// with the job's context and progress callback.
func (t *testJobs) start(profile int64, user string, unsaved bool, now time.Time,
	run func(ctx context.Context, j *testJob, progress func(dsync.Event))) (*testJob, bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running == nil {
		t.running, t.byID = map[int64]*testJob{}, map[string]*testJob{}
	}
	if j := t.running[profile]; j != nil {
		return j, false, nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, false, fmt.Errorf("test id: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &testJob{
		id: base64.RawURLEncoding.EncodeToString(b[:]), user: user, started: now, unsaved: unsaved,
		cancel: cancel, done: make(chan struct{}), subs: map[chan dsync.Event]struct{}{},
	}
	// Ended jobs are only kept to answer "cancelled" for their id; drop
	// them when a new one starts.
	for id, old := range t.byID {
		if old.ended() {
			delete(t.byID, id)
		}
	}
	t.running[profile], t.byID[j.id] = j, j
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer cancel()
		run(ctx, j, j.publish)
		t.mu.Lock()
		if t.running[profile] == j {
			delete(t.running, profile)
		}
		t.mu.Unlock()
		close(j.done)
	}()
	return j, true, nil
}

// current returns the profile's running test, if any.
func (t *testJobs) current(profile int64) *testJob {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.running[profile]
}

// get returns the job with this id (running or recently ended).
func (t *testJobs) get(id string) *testJob {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

// cancelAll stops every running test and waits for them to end (at
// shutdown).
func (t *testJobs) cancelAll() {
	t.mu.Lock()
	for _, j := range t.running {
		j.cancel()
	}
	t.mu.Unlock()
	t.wg.Wait()
}
