package okta

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dirsync/dirsync/internal/directory"
)

// Page sizes: each endpoint's maximum, so a read needs the fewest pages.
const (
	usersPageSize   = 200
	groupsPageSize  = 10000
	membersPageSize = 1000
)

const statusDeprovisioned = "DEPROVISIONED"

// oktaUser holds only the fields dirsync maps; the decoder skips the rest.
type oktaUser struct {
	ID          string    `json:"id"`
	Status      string    `json:"status"`
	LastUpdated time.Time `json:"lastUpdated"`
	Profile     struct {
		Email string `json:"email"`
	} `json:"profile"`
}

type oktaGroup struct {
	ID                    string    `json:"id"`
	LastMembershipUpdated time.Time `json:"lastMembershipUpdated"`
	Profile               struct {
		Name string `json:"name"`
	} `json:"profile"`
	// Embedded holds expand=stats' usersCount (absent on servers that do
	// not send stats).
	Embedded struct {
		Stats struct {
			UsersCount *int `json:"usersCount"`
		} `json:"stats"`
	} `json:"_embedded"`
}

// usersCount is the group's reported member count, -1 when not sent.
func (g *oktaGroup) usersCount() int {
	if n := g.Embedded.Stats.UsersCount; n != nil && *n >= 0 {
		return *n
	}
	return -1
}

func userID(u oktaUser) string     { return u.ID }
func groupID(g oktaGroup) string   { return g.ID }
func memberID(m oktaMember) string { return m.ID }

type oktaMember struct {
	ID string `json:"id"`
}

var _ directory.Source = (*Client)(nil)

// Read reads the org as opts asks and returns a complete snapshot, or an
// error and no snapshot. The user list, the DEPROVISIONED list and the
// group list are read side by side; member reads start as soon as group
// pages arrive. The first error cancels everything else.
//
// Users come sorted by id, de-duplicated (a DEPROVISIONED record wins, as
// it is the later state). Groups come sorted by id with sorted member ids;
// only groups whose name the GroupFilter's set keeps are returned.
//
// The group list asks for expand=stats, and every member list is checked
// against its group's usersCount: a list that comes back short is read
// once more, and one still short is reported in Snapshot.Shortfalls (the
// engine holds such a run); a list longer than the count is a warning (the
// count may lag behind a change). A cached member list whose size does not
// match the count is read again instead of used.
func (c *Client) Read(ctx context.Context, opts directory.ReadOptions) (*directory.Snapshot, error) {
	start := time.Now()
	r := &run{}
	var progressMu sync.Mutex
	progress := func(p directory.Progress) {
		if opts.Progress == nil {
			return
		}
		progressMu.Lock()
		defer progressMu.Unlock()
		opts.Progress(p)
	}
	g, gctx := errgroup.WithContext(ctx)

	// ids holds every id seen once: member lists reuse the users' id
	// strings instead of holding 500k copies (a large org's biggest cost),
	// and idx de-duplicates users across the lists.
	type idRef struct {
		id  string
		idx int32 // index in users, -1 when seen only as a member
	}
	var (
		usersMu     sync.Mutex
		users       []directory.User
		ids         = map[string]idRef{}
		lastUpdated time.Time
	)
	addUsers := func(phase string, page []oktaUser) error {
		usersMu.Lock()
		for _, u := range page {
			if u.LastUpdated.After(lastUpdated) {
				lastUpdated = u.LastUpdated
			}
			mu := mapUser(u)
			ref, seen := ids[mu.ID]
			if seen {
				mu.ID = ref.id
			}
			if seen && ref.idx >= 0 {
				if mu.Deleted {
					users[ref.idx] = mu
				}
				continue
			}
			ids[mu.ID] = idRef{id: mu.ID, idx: int32(len(users))}
			users = append(users, mu)
		}
		n := len(users)
		usersMu.Unlock()
		progress(directory.Progress{Phase: phase, Done: n, Message: fmt.Sprintf("%d users read", n)})
		return nil
	}
	intern := func(page []string) {
		usersMu.Lock()
		defer usersMu.Unlock()
		for i, id := range page {
			if ref, ok := ids[id]; ok {
				page[i] = ref.id
			} else {
				ids[id] = idRef{id: id, idx: -1}
			}
		}
	}
	var delta *deltaRead
	if opts.Users {
		base := c.base + "/api/v1/users?limit=" + fmt.Sprint(usersPageSize)
		if !opts.UsersChangedSince.IsZero() {
			delta = c.startDelta(g, gctx, r, base, opts, func(p []oktaUser) error { return addUsers("users", p) })
		} else if native := opts.UserFilter.Native; native != "" {
			g.Go(func() error {
				return listAll(gctx, c, r, BucketUsers, base+"&filter="+queryEscape(native), usersPageCap, userID,
					func(p []oktaUser) error { return addUsers("users", p) })
			})
		} else {
			g.Go(func() error {
				return listAll(gctx, c, r, BucketUsers, base, usersPageCap, userID, func(p []oktaUser) error { return addUsers("users", p) })
			})
			g.Go(func() error {
				return listAll(gctx, c, r, BucketUsers, base+"&filter="+queryEscape(`status eq "`+statusDeprovisioned+`"`), usersPageCap, userID,
					func(p []oktaUser) error { return addUsers("deprovisioned", p) })
			})
		}
	}

	var (
		groupsMu     sync.Mutex
		groups       []*directory.Group
		memberReads  int
		cachedGroups int
		membersDone  int
		shortfalls   []directory.Shortfall
		warnings     []string
	)
	type job struct {
		g     *directory.Group
		count int // usersCount, -1 when unknown
	}
	if opts.Groups {
		jobs := make(chan job, c.cfg.Concurrency)
		g.Go(func() error {
			defer close(jobs)
			first := c.base + "/api/v1/groups?limit=" + fmt.Sprint(groupsPageSize) + "&expand=stats"
			if native := opts.GroupFilter.Native; native != "" {
				first += "&filter=" + queryEscape(native)
			}
			return listAll(gctx, c, r, BucketGroups, first, groupsPageCap, groupID, func(page []oktaGroup) error {
				for _, og := range page {
					if !opts.GroupFilter.Keeps(og.Profile.Name) {
						continue
					}
					dg := &directory.Group{ID: og.ID, Name: og.Profile.Name, LastMembershipUpdated: og.LastMembershipUpdated}
					count := og.usersCount()
					cached := false
					if opts.Cache != nil {
						// A cached list the count disagrees with is read again.
						if ids, ok := opts.Cache.CachedMembers(og.ID, og.LastMembershipUpdated); ok && (count < 0 || len(ids) == count) {
							// The cache hands its slice over (see
							// directory.MembershipCache); it is kept sorted.
							if !slices.IsSorted(ids) {
								ids = slices.Sorted(slices.Values(ids))
							}
							dg.MemberIDs = ids
							cached = true
						}
					}
					groupsMu.Lock()
					groups = append(groups, dg)
					if cached {
						cachedGroups++
						membersDone++
					}
					groupsMu.Unlock()
					if cached {
						continue
					}
					select {
					case jobs <- job{g: dg, count: count}:
					case <-gctx.Done():
						return gctx.Err()
					}
				}
				groupsMu.Lock()
				n := len(groups)
				groupsMu.Unlock()
				progress(directory.Progress{Phase: "groups", Done: n, Message: fmt.Sprintf("%d groups read", n)})
				return nil
			})
		})
		for range c.cfg.Concurrency {
			g.Go(func() error {
				for j := range jobs {
					dg := j.g
					if err := gctx.Err(); err != nil {
						return err
					}
					ids, err := c.readMembers(gctx, r, dg.ID, j.count, intern)
					if err != nil {
						return err
					}
					reads := 1
					if j.count >= 0 && len(ids) < j.count {
						// Short: read once more before believing either.
						c.logger(ctx).Warn("okta: a group's member list came back shorter than its count; reading it again",
							"group", dg.ID, "read", len(ids), "count", j.count)
						r.retries.Add(1)
						reads++
						if ids, err = c.readMembers(gctx, r, dg.ID, j.count, intern); err != nil {
							return err
						}
					}
					var short *directory.Shortfall
					var warn string
					switch {
					case j.count >= 0 && len(ids) < j.count:
						short = &directory.Shortfall{GroupID: dg.ID, Name: dg.Name, Read: len(ids), Reported: j.count}
					case j.count >= 0 && len(ids) > j.count:
						warn = fmt.Sprintf("group %q (%s): %d members read, %d counted by Okta (the count may lag behind a change)", dg.Name, dg.ID, len(ids), j.count)
					}
					dg.MemberIDs = ids
					groupsMu.Lock()
					if short != nil {
						shortfalls = append(shortfalls, *short)
					}
					if warn != "" {
						warnings = append(warnings, warn)
					}
					memberReads += reads
					membersDone++
					done, total := membersDone, len(groups)
					groupsMu.Unlock()
					progress(directory.Progress{Phase: "members", Done: done, Total: total,
						Message: fmt.Sprintf("members of %d of %d groups read", done, total)})
				}
				return nil
			})
		}
	}

	if err := g.Wait(); err != nil {
		if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return nil, fmt.Errorf("okta: read stopped: %w", ctx.Err())
		}
		return nil, err
	}

	snap := &directory.Snapshot{Users: users, Groups: make([]directory.Group, 0, len(groups))}
	if snap.Users == nil {
		snap.Users = []directory.User{}
	}
	slices.SortFunc(snap.Users, func(a, b directory.User) int { return strings.Compare(a.ID, b.ID) })
	snap.UsersLastUpdated = lastUpdated
	if delta != nil {
		snap.UsersDelta = true
		snap.UsersLeft = delta.left(func(id string) bool { ref, ok := ids[id]; return ok && ref.idx >= 0 })
	}
	for _, dg := range groups {
		if dg.MemberIDs == nil {
			dg.MemberIDs = []string{}
		}
		snap.Groups = append(snap.Groups, *dg)
	}
	slices.SortFunc(snap.Groups, func(a, b directory.Group) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(shortfalls, func(a, b directory.Shortfall) int { return strings.Compare(a.GroupID, b.GroupID) })
	slices.Sort(warnings)
	snap.Shortfalls, snap.Warnings = shortfalls, warnings
	snap.Stats = directory.ReadStats{
		Requests:       int(r.requests.Load()),
		Retries:        int(r.retries.Load()),
		RateLimitWaits: int(r.rateLimitWaits.Load()),
		RateLimitWait:  time.Duration(r.rateLimitWait.Load()),
		MemberReads:    memberReads,
		CachedGroups:   cachedGroups,
		Duration:       time.Since(start),
	}
	c.logger(ctx).Info("okta: read done", "users", len(snap.Users), "groups", len(snap.Groups),
		"requests", snap.Stats.Requests, "retries", snap.Stats.Retries, "duration", snap.Stats.Duration)
	return snap, nil
}

// Page caps of the lists (see pageCap).
var (
	usersPageCap  = pageCap(maxOrgObjects, usersPageSize)
	groupsPageCap = pageCap(maxOrgObjects, groupsPageSize)
)

// readMembers reads one group's member ids. count is the group's
// usersCount (-1 when unknown); the page cap allows twice it, as a count
// may lag, or the whole org without one.
func (c *Client) readMembers(ctx context.Context, r *run, groupID string, count int, intern func([]string)) ([]string, error) {
	first := c.base + "/api/v1/groups/" + url.PathEscape(groupID) + "/users?limit=" + fmt.Sprint(membersPageSize)
	ids := []string{}
	maxPages := pageCap(maxOrgObjects, membersPageSize)
	if count >= 0 {
		maxPages = pageCap(2*count, membersPageSize)
	}
	err := listAll(ctx, c, r, BucketMembers, first, maxPages, memberID, func(page []oktaMember) error {
		start := len(ids)
		for _, m := range page {
			ids = append(ids, m.ID)
		}
		intern(ids[start:])
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil
}

// knownStatuses lets every user share one copy of its status string.
var knownStatuses = map[string]string{}

func init() {
	for _, s := range []string{"ACTIVE", "STAGED", "PROVISIONED", "RECOVERY", "LOCKED_OUT", "PASSWORD_EXPIRED", "SUSPENDED", statusDeprovisioned} {
		knownStatuses[s] = s
	}
}

func mapUser(u oktaUser) directory.User {
	status := u.Status
	if s, ok := knownStatuses[status]; ok {
		status = s
	}
	return directory.User{
		ID:       u.ID,
		Email:    strings.ToLower(strings.TrimSpace(u.Profile.Email)),
		Status:   status,
		Deleted:  u.Status == statusDeprovisioned,
		Disabled: u.Status == "SUSPENDED",
	}
}
