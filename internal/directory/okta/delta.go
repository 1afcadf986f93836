package okta

import (
	"context"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dirsync/dirsync/internal/directory"
)

// filterTime is the timestamp literal Okta's filters take: ISO 8601 with
// milliseconds, like "2013-06-01T00:00:00.000Z".
const filterTime = "2006-01-02T15:04:05.000Z"

// deltaRead is a delta user read in progress: users changed since a time.
//
// Why it is exact: every attribute a native user filter can test (status,
// id, profile.login/email/firstName/lastName, lastUpdated) changes only
// together with the user's lastUpdated, so a user that is not in
// `lastUpdated gt T` matches the filter exactly as it did at the last read.
// For the changed ones, `(F) and lastUpdated gt T` says which still match:
// those are upserted, the rest (in the plain listing only) have left the
// filter's result and are reported in Snapshot.UsersLeft.
type deltaRead struct {
	mu      sync.Mutex
	changed map[string]struct{} // every user changed since T (native filter only)
	native  bool
}

// startDelta adds the delta listings to g. add receives the users that
// belong to the result (changed and matching the native filter, if any).
func (c *Client) startDelta(g *errgroup.Group, ctx context.Context, r *run, base string, opts directory.ReadOptions, add func([]oktaUser) error) *deltaRead {
	since := `lastUpdated gt "` + opts.UsersChangedSince.UTC().Truncate(time.Millisecond).Format(filterTime) + `"`
	d := &deltaRead{}
	native := opts.UserFilter.Native
	if native == "" {
		// A lastUpdated filter returns users in every status, DEPROVISIONED
		// too, so one listing covers what a full read needs two for.
		g.Go(func() error {
			return listAll(ctx, c, r, BucketUsers, base+"&filter="+queryEscape(since), usersPageCap, userID, add)
		})
		return d
	}
	d.native = true
	d.changed = map[string]struct{}{}
	g.Go(func() error {
		return listAll(ctx, c, r, BucketUsers, base+"&filter="+queryEscape(since), usersPageCap, userID, func(p []oktaUser) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			for _, u := range p {
				d.changed[u.ID] = struct{}{}
			}
			return nil
		})
	})
	g.Go(func() error {
		return listAll(ctx, c, r, BucketUsers, base+"&filter="+queryEscape("("+native+") and "+since), usersPageCap, userID, add)
	})
	return d
}

// left returns, sorted, the changed users that are not in the result
// (isUser says whether an id was added as a user).
func (d *deltaRead) left(isUser func(string) bool) []string {
	if !d.native {
		return nil
	}
	var out []string
	for id := range d.changed {
		if !isUser(id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

var _ directory.DeltaReader = (*Client)(nil)

// ReadsUserDeltas implements directory.DeltaReader: Okta's user list
// filters on lastUpdated.
func (c *Client) ReadsUserDeltas() bool { return true }
