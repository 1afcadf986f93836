// Package directory holds the neutral model that every directory source
// (Okta today) maps into, the Source interface the sync engine reads through,
// and the BDC-compatible filter grammar.
package directory

import (
	"context"
	"time"
)

// User is one directory account, already mapped to Bitwarden's terms.
type User struct {
	// ID is the directory's stable id (Okta user id); it becomes the
	// Bitwarden externalId, so it must never change for an account.
	ID string `json:"externalId"`
	// Email is trimmed and lower-cased; it may be empty (the engine drops
	// such users with a warning).
	Email string `json:"email"`
	// Status is the directory's raw status (ACTIVE, SUSPENDED, …), kept for
	// display.
	Status string `json:"status"`
	// Deleted is true for DEPROVISIONED accounts.
	Deleted bool `json:"deleted"`
	// Disabled is true for SUSPENDED accounts.
	Disabled bool `json:"disabled"`
}

// Group is one directory group with the ids of its member users.
type Group struct {
	ID        string   `json:"externalId"`
	Name      string   `json:"name"`
	MemberIDs []string `json:"memberExternalIds"`
	// LastMembershipUpdated is Okta's lastMembershipUpdated; the membership
	// cache re-reads members only when it moves.
	LastMembershipUpdated time.Time `json:"lastMembershipUpdated"`
}

// Snapshot is the complete result of one successful read. A source never
// returns a partial snapshot: any failed page fails the whole read.
type Snapshot struct {
	Users  []User    `json:"users"`
	Groups []Group   `json:"groups"`
	Stats  ReadStats `json:"stats"`
	// Shortfalls are groups whose member list stayed shorter than the
	// member count the directory reports for them, even when read again.
	// The engine holds a run with any: the read may be missing members.
	Shortfalls []Shortfall `json:"shortfalls,omitempty"`
	// Warnings are doubts about the read that do not stop it (a member
	// list longer than its group's count).
	Warnings []string `json:"warnings,omitempty"`
	// UsersDelta is set when the read was a delta (ReadOptions.
	// UsersChangedSince): Users then holds only the users changed since,
	// that still match the native user filter, and UsersLeft the ids of
	// changed users that no longer match it. The caller merges both into
	// the user list it keeps.
	UsersDelta bool     `json:"usersDelta,omitempty"`
	UsersLeft  []string `json:"usersLeft,omitempty"`
	// UsersLastUpdated is the latest lastUpdated among the users read, by
	// the directory's own clock (zero when no user was read): the next
	// delta starts from it, so the local clock's skew never matters.
	UsersLastUpdated time.Time `json:"usersLastUpdated,omitzero"`
}

// Shortfall is one group whose member list came back short.
type Shortfall struct {
	GroupID string `json:"groupId"`
	Name    string `json:"name"`
	// Read is how many members the list returned; Reported is the count
	// the directory reports for the group.
	Read     int `json:"read"`
	Reported int `json:"reported"`
}

// ReadStats describes the cost of a read, for history and benchmarks.
type ReadStats struct {
	Requests       int           `json:"requests"`
	Retries        int           `json:"retries"`
	RateLimitWaits int           `json:"rateLimitWaits"`
	RateLimitWait  time.Duration `json:"rateLimitWait"`
	// MemberReads counts groups whose members were read from the directory;
	// CachedGroups those whose members came from the membership cache.
	MemberReads  int           `json:"memberReads"`
	CachedGroups int           `json:"cachedGroups"`
	Duration     time.Duration `json:"duration"`
}

// ReadOptions says what to read.
type ReadOptions struct {
	Users  bool
	Groups bool
	// UserFilter's native part is sent to the directory; its set part is
	// applied by the engine.
	UserFilter Filter
	// GroupFilter's native part is sent to the directory; its set part is
	// applied by the source too, so members of dropped groups are never read.
	GroupFilter Filter
	// UsersChangedSince, when non-zero, makes the user read a delta: only
	// users whose lastUpdated is after it are read (Okta:
	// filter=lastUpdated gt "…", which returns every status, DEPROVISIONED
	// too). With a native user filter F the source also reads
	// `(F) and lastUpdated gt "…"`, so that a changed user who no longer
	// matches F is reported in Snapshot.UsersLeft. The caller subtracts its
	// own safety margin before passing the time.
	UsersChangedSince time.Time
	// IncludeDeleted asks for the soft-deleted users too where the
	// directory keeps them apart and reading them costs a search of its
	// own: Active Directory's CN=Deleted Objects, read with the
	// show-deleted control, as Deleted users. BDC reads them only on test
	// runs and with overwriteExisting (its sync service calls
	// getEntries(force || overwriteExisting, test), and the LDAP service
	// skips the deleted search unless force || test:
	// bitwarden/directory-connector,
	// libs/services/directory-services/ldap-directory.service.ts): a
	// deleted object stays for the tombstone lifetime (180 days), so an
	// ordinary sync would send every account deleted in the last months
	// on every run. The engine sets it the same way; Okta ignores it (it
	// always reads DEPROVISIONED users).
	IncludeDeleted bool
	// Cache, when set, supplies member lists of groups whose
	// LastMembershipUpdated has not moved since they were cached.
	Cache MembershipCache
	// Progress, when set, receives coarse progress events. It must not block.
	Progress func(Progress)
}

// Progress is a coarse progress event of a read.
type Progress struct {
	Phase   string `json:"phase"` // "users", "deprovisioned", "deleted", "groups", "members"
	Done    int    `json:"done"`
	Total   int    `json:"total"` // 0 when unknown
	Message string `json:"message"`
}

// MembershipCache supplies a group's member ids as last read, when the group's
// lastMembershipUpdated equals the cached one. The returned slice is handed
// over: the source keeps it in the snapshot and the cache must not change it.
type MembershipCache interface {
	CachedMembers(groupID string, lastMembershipUpdated time.Time) ([]string, bool)
}

// Source reads a directory.
type Source interface {
	Read(ctx context.Context, opts ReadOptions) (*Snapshot, error)
}

// DeltaReader is a Source that can read only the users changed since a
// time (ReadOptions.UsersChangedSince). The engine asks a source for a
// delta only when it is one; every other source gets full reads.
type DeltaReader interface {
	Source
	// ReadsUserDeltas reports whether Read honours UsersChangedSince.
	ReadsUserDeltas() bool
}
