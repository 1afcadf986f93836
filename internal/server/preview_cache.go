package server

import (
	"container/list"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// Preview cache limits. A preview of a large directory holds every user,
// so only a few are kept, and not for long: a preview describes the
// directory at one moment.
const (
	previewTTL     = 30 * time.Minute
	previewPerUser = 3
	previewMax     = 12
)

// previewCache keeps recent test previews in memory, keyed by a random id
// and owned by the admin who ran them: an admin never sees another
// admin's preview by guessing or sharing its id. It evicts the least
// recently used entry when full, an admin's oldest beyond previewPerUser,
// and any entry older than previewTTL.
type previewCache struct {
	now func() time.Time

	mu   sync.Mutex
	ll   *list.List // of *previewEntry; front = most recently used
	byID map[string]*list.Element
}

type previewEntry struct {
	id      string
	user    string
	created time.Time
	p       *preview
}

func newPreviewCache(now func() time.Time) *previewCache {
	if now == nil {
		now = time.Now
	}
	return &previewCache{now: now, ll: list.New(), byID: map[string]*list.Element{}}
}

// put stores p for user and returns its new id.
func (c *previewCache) put(user string, p *preview) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("preview id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	c.putID(user, id, p)
	return id, nil
}

// putID stores p for user under an id chosen by the caller (a background
// test's, so that the address it sent the admin to shows the result).
func (c *previewCache) putID(user, id string, p *preview) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.expireLocked(now)
	c.byID[id] = c.ll.PushFront(&previewEntry{id: id, user: user, created: now, p: p})
	// Drop the user's oldest previews beyond the per-user limit, then the
	// least recently used of anyone's beyond the total limit.
	n := 0
	for el := c.ll.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*previewEntry); e.user == user {
			n++
			if n > previewPerUser {
				c.removeLocked(el)
			}
		}
		el = next
	}
	for c.ll.Len() > previewMax {
		c.removeLocked(c.ll.Back())
	}
}

// get returns user's preview with this id, or false when it is unknown,
// expired or someone else's.
func (c *previewCache) get(user, id string) (*preview, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(c.now())
	el, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	e := el.Value.(*previewEntry)
	if e.user != user {
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e.p, true
}

// latest returns user's newest preview and its id.
func (c *previewCache) latest(user string) (string, *preview, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(c.now())
	var best *previewEntry
	for el := c.ll.Front(); el != nil; el = el.Next() {
		e := el.Value.(*previewEntry)
		if e.user == user && (best == nil || e.created.After(best.created)) {
			best = e
		}
	}
	if best == nil {
		return "", nil, false
	}
	return best.id, best.p, true
}

// len is the number of entries kept (tests).
func (c *previewCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

func (c *previewCache) expireLocked(now time.Time) {
	for el := c.ll.Front(); el != nil; {
		next := el.Next()
		if now.Sub(el.Value.(*previewEntry).created) >= previewTTL {
			c.removeLocked(el)
		}
		el = next
	}
}

func (c *previewCache) removeLocked(el *list.Element) {
	delete(c.byID, el.Value.(*previewEntry).id)
	c.ll.Remove(el)
}
