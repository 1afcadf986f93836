package oktatest

import (
	"maps"
	"strconv"
	"time"
)

// Faults are misbehaviours the fake can be told to show, for tests of what
// a client does when Okta's answers are not whole or its rate-limit
// headers mislead. The zero value injects nothing.
type Faults struct {
	// Throttle429Every answers every n-th request the budget allows with a
	// 429 whose X-Rate-Limit-Reset is Throttle429Reset after its Date (both
	// whole seconds), while every other answer keeps announcing the
	// window's end: Okta's concurrency limit answers like this.
	Throttle429Every int
	Throttle429Reset time.Duration
	// AnnounceResetIn makes every answer that is not a 429 announce a reset
	// this far ahead (a year: a broken clock or proxy).
	AnnounceResetIn time.Duration
	// UsersEndAfter ends the user list (any filter) after this many users
	// by id: the page that would go past them comes back empty, with no
	// next link, as a list that ended early. 0 is off.
	UsersEndAfter int
	// EmptyFirstPage answers the first page of every list with an empty
	// page whose next link leads to the real first page.
	EmptyFirstPage bool
	// EndlessPath makes the list at this path ("/api/v1/users",
	// "/api/v1/groups" or a group's "/api/v1/groups/{id}/users") hand out a
	// fresh cursor forever: each page repeats the first page, or is empty
	// when EndlessEmpty is set.
	EndlessPath  string
	EndlessEmpty bool
	// CutMembers cuts member lists short: for each group id, the number of
	// member reads still to cut (negative: every read). A cut read's first
	// page serves at most CutMembersTo members (keep it under the page
	// size) and has no next link.
	CutMembers   map[string]int
	CutMembersTo int
	// StatsDelta is added to the usersCount that expand=stats reports for a
	// group (a count that lags behind a change).
	StatsDelta map[string]int

	sinceThrottle int
	endless       int
}

// SetFaults replaces the injected faults (Faults{} clears them).
func (s *Server) SetFaults(f Faults) {
	f.CutMembers = maps.Clone(f.CutMembers)
	f.StatsDelta = maps.Clone(f.StatsDelta)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// cutLocked reports how many members the first page of a read of group
// id may serve (-1: no cut), counting down the reads to cut.
func (s *Server) cutLocked(id string) int {
	n, ok := s.faults.CutMembers[id]
	if !ok || n == 0 {
		return -1
	}
	if n > 0 {
		s.faults.CutMembers[id] = n - 1
	}
	return s.faults.CutMembersTo
}

// endlessLocked reports whether the list at path hands out endless
// cursors, and a fresh cursor id for the next link.
func (s *Server) endlessLocked(path string) (bool, string) {
	if s.faults.EndlessPath == "" || s.faults.EndlessPath != path {
		return false, ""
	}
	s.faults.endless++
	return true, "~" + strconv.Itoa(s.faults.endless)
}
