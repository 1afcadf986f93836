package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/store"
)

// Delta reads and delta pushes: what is safe, and why.
//
// Reads. The user list of the last read is kept in SQLite (user_cache)
// beside the membership cache, with the latest lastUpdated among its
// users by Okta's own clock (delta_state.users_through). A run then asks
// Okta only for `lastUpdated gt "through − DeltaMargin"`, which returns
// changed users in every status (DEPROVISIONED too), and merges them into
// the kept list. The watermark is Okta's clock, not ours, so our clock's
// skew never matters; the margin covers Okta's own granularity and writes
// that become visible a little after the time they carry. Re-reading the
// users of the margin window is harmless (an upsert of the same values).
// With a native user filter F the source also reads `(F) and lastUpdated
// gt …`: a changed user outside it has left F's result and is dropped
// from the list. Every attribute F can test changes lastUpdated, so an
// unchanged user matches F as it did.
//
// A full read (both user listings, every group's members) happens:
//   - after "Clear sync cache" (the caches and the delta state are gone);
//   - at okta.fullReadHours (default daily);
//   - when the settings the list was read with changed (readFingerprint);
//   - after a failed read (the read invalidates the delta state first);
//   - with overwriteExisting on: a hard-deleted Okta user (DELETE after
//     deprovisioning) vanishes without a lastUpdated change, so only a full
//     list shows it, and with overwrite on a vanished user must be removed
//     from Bitwarden at once. With overwrite off a vanished user stays in
//     the kept list until the next full read: one seen DEPROVISIONED first
//     stays "deleted" (Bitwarden already removed it, sending it again
//     changes nothing); one deprovisioned and deleted between two runs
//     stays live, which Bitwarden does not act on either (with overwrite
//     off a full push would not remove it) and its groups drop it, because
//     Okta's delete moves their lastMembershipUpdated. The one visible
//     effect, an old live entry clashing with a re-created account's email,
//     makes the plan fail; the engine then reads in full and plans again.
//
// Pushes. With overwriteExisting off the server acts only on what an
// import lists, so a run sends only (DeltaImport) the members that are
// new or whose email or deleted flag changed since the last successful
// push, every member sharing an email with one of them (the server's
// invite and link steps look at emails), and the groups that are new,
// renamed, whose member list changed, or that list a member sent (a
// member invited now is added to its groups only when they are sent).
// The stored "last pushed body" and its hash still describe the whole
// state, so the Changes diff, skip-unchanged and the guards work as
// before. A full push happens after "Clear sync cache" (no last body), on
// a full read, after a push that failed or was interrupted
// (delta_state.push_pending), and always with overwriteExisting on (the
// server removes every synced member the import does not list).

// DefaultDeltaMargin is how far before the last seen lastUpdated a delta
// read starts.
const DefaultDeltaMargin = time.Minute

// readFingerprint names every setting that changes what is read or what
// the import holds: a kept user list or last push made under other
// settings is not a base for a delta.
func readFingerprint(s config.Settings) string {
	b, _ := json.Marshal([]any{
		s.Directory.Type, directoryIdentity(s),
		s.Sync.Users, s.Sync.UserFilter, s.Sync.Groups, s.Sync.GroupFilter,
		s.Sync.RemoveDisabled, s.Sync.OverwriteExisting, s.Sync.LargeImport,
		s.Bitwarden.Server, s.Bitwarden.ClientID,
	})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// directoryIdentity is the chosen type's Identity ("" for an unknown
// type).
func directoryIdentity(s config.Settings) string {
	if cur := s.Directory.Current(); cur != nil {
		return cur.Identity()
	}
	return ""
}

func cachedUser(u directory.User) store.CachedUser {
	return store.CachedUser{ID: u.ID, Email: u.Email, Status: u.Status, Deleted: u.Deleted, Disabled: u.Disabled}
}

func directoryUser(c store.CachedUser) directory.User {
	return directory.User{ID: c.ID, Email: c.Email, Status: c.Status, Deleted: c.Deleted, Disabled: c.Disabled}
}

// mergeUsers applies a delta read to the kept list (sorted by id) and
// returns the whole list, sorted, and the kept-list changes to store.
func mergeUsers(kept []store.CachedUser, delta []directory.User, left []string) (all []directory.User, upsert []store.CachedUser, remove []string) {
	byID := make(map[string]int, len(kept))
	for i, c := range kept {
		byID[c.ID] = i
	}
	gone := make(map[string]bool, len(left))
	for _, id := range left {
		if _, ok := byID[id]; ok {
			gone[id] = true
			remove = append(remove, id)
		}
	}
	changed := make(map[string]directory.User, len(delta))
	for _, u := range delta {
		changed[u.ID] = u
		if i, ok := byID[u.ID]; ok && kept[i] == cachedUser(u) {
			continue // re-read in the margin window, unchanged
		}
		upsert = append(upsert, cachedUser(u))
	}
	all = make([]directory.User, 0, len(kept)+len(delta))
	for _, c := range kept {
		if gone[c.ID] {
			continue
		}
		if u, ok := changed[c.ID]; ok {
			all = append(all, u)
			delete(changed, c.ID)
			continue
		}
		all = append(all, directoryUser(c))
	}
	for _, u := range changed {
		all = append(all, u)
	}
	slices.SortFunc(all, func(a, b directory.User) int { return strings.Compare(a.ID, b.ID) })
	return all, upsert, remove
}

// DeltaImport returns the part of cur (a whole import) that differs from
// prev (the last pushed whole import), for a server that acts only on what
// an import lists (overwriteExisting off); see the comment at the top of
// this file for what is included and why. The result is sorted like cur.
func DeltaImport(prev, cur *bitwarden.ImportRequest) *bitwarden.ImportRequest {
	out := &bitwarden.ImportRequest{
		Groups: []bitwarden.ImportGroup{}, Members: []bitwarden.ImportMember{},
		OverwriteExisting: cur.OverwriteExisting, LargeImport: cur.LargeImport,
		InviteUsersAfterProvisioning: cur.InviteUsersAfterProvisioning,
	}
	before := make(map[string]bitwarden.ImportMember, len(prev.Members))
	for _, m := range prev.Members {
		before[m.ExternalID] = m
	}
	emails := map[string]bool{}
	changed := map[string]bool{}
	for _, m := range cur.Members {
		old, ok := before[m.ExternalID]
		if ok && old.Email == m.Email && old.Deleted == m.Deleted {
			continue
		}
		changed[m.ExternalID] = true
		emails[strings.ToLower(m.Email)] = true
		if ok {
			emails[strings.ToLower(old.Email)] = true
		}
	}
	sent := map[string]bool{}
	for _, m := range cur.Members {
		if changed[m.ExternalID] || emails[strings.ToLower(m.Email)] {
			out.Members = append(out.Members, m)
			sent[m.ExternalID] = true
		}
	}
	groupsBefore := make(map[string]bitwarden.ImportGroup, len(prev.Groups))
	for _, g := range prev.Groups {
		groupsBefore[g.ExternalID] = g
	}
	for _, g := range cur.Groups {
		old, ok := groupsBefore[g.ExternalID]
		send := !ok || old.Name != g.Name || !slices.Equal(old.MemberExternalIDs, g.MemberExternalIDs)
		if !send && len(sent) > 0 {
			send = slices.ContainsFunc(g.MemberExternalIDs, func(id string) bool { return sent[id] })
		}
		if send {
			out.Groups = append(out.Groups, g)
		}
	}
	return out
}
