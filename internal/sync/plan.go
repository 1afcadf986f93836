package sync

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory"
)

// Bitwarden's limits (contract §4).
const (
	MaxEmailLen     = 256
	MaxGroupNameLen = 100
	MaxBatch        = 2000
)

// Plan is what a sync would send: the import body, how it is split into
// requests, its hash, and everything a preview shows.
type Plan struct {
	// Import is the whole, sorted import body; its JSON is what Hash covers.
	Import *bitwarden.ImportRequest
	// Batches are the requests to send, in order (one unless largeImport
	// splits it). Empty when there is nothing to send.
	Batches []*bitwarden.ImportRequest
	// Hash is the hex SHA-256 of Import's JSON encoding.
	Hash string
	// Users are the directory users kept by the filters, sorted by id, with
	// Deleted already reflecting removeDisabled; Groups likewise (names cut).
	Users  []directory.User
	Groups []directory.Group
	// Warnings are human-readable notes for the run (dropped users, cut
	// names, re-created accounts).
	Warnings []string
	// SkipPush is set when nothing must be sent (an empty result with
	// overwriteExisting off).
	SkipPush bool
	Counts   PlanCounts
}

// PlanCounts summarizes a plan.
type PlanCounts struct {
	Users       int // users in the import
	Deleted     int // of which sent as deleted
	Disabled    int // of which SUSPENDED in the directory
	Groups      int
	Memberships int
	Dropped     int // users left out for a missing or too long email
}

// PlanError is a refusal to build an import: nothing may be sent.
type PlanError struct{ Msg string }

func (e *PlanError) Error() string { return e.Msg }

// BuildPlan applies the filters and the contract's §4 rules to a snapshot.
// It never talks to the network; it is deterministic for a given snapshot,
// whatever order the directory returned things in.
func BuildPlan(snap *directory.Snapshot, s config.Settings) (*Plan, error) {
	filters := s.Directory.Filters()
	userFilter, err := filters.Parse(s.Sync.UserFilter, true)
	if err != nil {
		return nil, err
	}
	groupFilter, err := filters.Parse(s.Sync.GroupFilter, false)
	if err != nil {
		return nil, err
	}
	p := &Plan{Users: []directory.User{}, Groups: []directory.Group{}}

	// Groups first: the group set narrows users.
	if s.Sync.Groups {
		for _, g := range snap.Groups {
			if !groupFilter.Keeps(g.Name) {
				continue
			}
			if cut, ok := cutUTF16(g.Name, MaxGroupNameLen); ok {
				p.Warnings = append(p.Warnings, fmt.Sprintf("group %s: name cut to %d characters (Bitwarden's limit): %q", g.ID, MaxGroupNameLen, cut))
				g.Name = cut
			}
			p.Groups = append(p.Groups, g)
		}
		slices.SortFunc(p.Groups, func(a, b directory.Group) int { return cmp.Compare(a.ID, b.ID) })
		p.Groups = slices.CompactFunc(p.Groups, func(a, b directory.Group) bool { return a.ID == b.ID })
	}

	if s.Sync.Users {
		var inKeptGroup map[string]bool
		if s.Sync.Groups && groupFilter.HasSet() {
			inKeptGroup = map[string]bool{}
			for _, g := range p.Groups {
				for _, id := range g.MemberIDs {
					inKeptGroup[id] = true
				}
			}
		}
		seen := make(map[string]bool, len(snap.Users))
		for _, u := range snap.Users {
			if seen[u.ID] {
				continue
			}
			seen[u.ID] = true
			u.Email = normalizeEmail(u.Email)
			u.Deleted = u.Deleted || (s.Sync.RemoveDisabled && u.Disabled)
			if !userFilter.Keeps(u.Email) {
				continue
			}
			if inKeptGroup != nil && !u.Deleted && !inKeptGroup[u.ID] {
				continue
			}
			switch {
			case u.Email == "" && u.Deleted:
				// A deleted account without an email (an AD tombstone, whose
				// mail attribute is gone) is still sent, with email null:
				// Bitwarden removes a deleted member by externalId, and so
				// does BDC (buildUser keeps deleted users without email).
			case u.Email == "":
				p.Warnings = append(p.Warnings, fmt.Sprintf("user %s (%s) left out: no email address in the directory", u.ID, u.Status))
				p.Counts.Dropped++
				continue
			case len(u.Email) > MaxEmailLen:
				p.Warnings = append(p.Warnings, fmt.Sprintf("user %s left out: email longer than %d characters (%.40s…)", u.ID, MaxEmailLen, u.Email))
				p.Counts.Dropped++
				continue
			}
			p.Users = append(p.Users, u)
		}
		slices.SortFunc(p.Users, func(a, b directory.User) int { return cmp.Compare(a.ID, b.ID) })
		if err := p.dedupeEmails(); err != nil {
			return nil, err
		}
	}

	// Group members: with users synced, list only members that are in the
	// import, so a user left out by a filter gains no group access.
	kept := map[string]bool{}
	for _, u := range p.Users {
		kept[u.ID] = true
	}
	imp := &bitwarden.ImportRequest{
		Groups:            make([]bitwarden.ImportGroup, 0, len(p.Groups)),
		Members:           make([]bitwarden.ImportMember, 0, len(p.Users)),
		OverwriteExisting: s.Sync.OverwriteExisting,
		LargeImport:       s.Sync.LargeImport,
		// Always sent, so the request says what it does (the server's
		// default is true).
		InviteUsersAfterProvisioning: &s.Sync.InviteUsers,
	}
	for i := range p.Groups {
		g := &p.Groups[i]
		ids := make([]string, 0, len(g.MemberIDs))
		for _, id := range g.MemberIDs {
			if !s.Sync.Users || kept[id] {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
		g.MemberIDs = ids
		imp.Groups = append(imp.Groups, bitwarden.ImportGroup{Name: g.Name, ExternalID: g.ID, MemberExternalIDs: ids})
		p.Counts.Memberships += len(ids)
	}
	live := 0
	for _, u := range p.Users {
		imp.Members = append(imp.Members, bitwarden.ImportMember{Email: u.Email, ExternalID: u.ID, Deleted: u.Deleted})
		if u.Deleted {
			p.Counts.Deleted++
		} else {
			live++
		}
		if u.Disabled {
			p.Counts.Disabled++
		}
	}
	p.Counts.Users = len(p.Users)
	p.Counts.Groups = len(p.Groups)
	p.Import = imp

	// Hash the JSON as it is encoded, without holding the whole body.
	h := sha256.New()
	if err := writeImport(h, imp); err != nil {
		return nil, fmt.Errorf("sync: encode import: %w", err)
	}
	p.Hash = hex.EncodeToString(h.Sum(nil))

	if !s.Sync.LargeImport && (live > MaxBatch || len(imp.Groups) > MaxBatch) {
		return nil, &PlanError{Msg: fmt.Sprintf(
			"the import has %d members and %d groups; Bitwarden takes at most %d of each in one import: turn on the \"large import\" option (sync.largeImport) to send it in batches",
			live, len(imp.Groups), MaxBatch)}
	}
	if len(imp.Members) == 0 && len(imp.Groups) == 0 && !imp.OverwriteExisting {
		p.SkipPush = true
		return p, nil
	}
	p.Batches = batches(imp)
	return p, nil
}

// dedupeEmails enforces Bitwarden's rule that no two live members share an
// email. Two live accounts sharing one stop the run. A deleted account
// sharing a live one's email — a re-created account, the old one
// DEPROVISIONED — stays in the import as deleted, whichever order Okta
// returned them in: Bitwarden removes the old account's member (matched by
// externalId) and invites the new one, so the person ends as one member
// linked to the new id, in its groups, in one run. (Vaultwarden matches
// members by email and would revoke the person for the deleted twin, so
// the engine leaves twins out there: VaultwardenBatches.)
func (p *Plan) dedupeEmails() error {
	byEmail := make(map[string][]int, len(p.Users))
	for i, u := range p.Users {
		if u.Email != "" { // deleted accounts without one share nothing
			byEmail[u.Email] = append(byEmail[u.Email], i)
		}
	}
	var clashes, twins []string
	for email, idx := range byEmail {
		if len(idx) < 2 {
			continue
		}
		var live, dead []string
		for _, i := range idx {
			if p.Users[i].Deleted {
				dead = append(dead, p.Users[i].ID)
			} else {
				live = append(live, p.Users[i].ID)
			}
		}
		switch {
		case len(live) > 1:
			clashes = append(clashes, fmt.Sprintf("%s (directory ids %s)", email, strings.Join(live, ", ")))
		case len(live) == 1:
			slices.Sort(dead)
			twins = append(twins, fmt.Sprintf("%s: the deleted directory account %s is sent as deleted and the active account %s takes its place (a re-created account)", email, strings.Join(dead, ", "), live[0]))
		}
	}
	if len(clashes) > 0 {
		slices.Sort(clashes)
		return &PlanError{Msg: "two or more active users in the directory share an email, which Bitwarden refuses; fix them in the directory or exclude one with the user filter: " + strings.Join(clashes, "; ")}
	}
	slices.Sort(twins)
	p.Warnings = append(p.Warnings, twins...)
	slices.Sort(p.Warnings)
	return nil
}

// batches splits an import into requests of at most MaxBatch members and
// MaxBatch groups. Members go first so the groups' member ids resolve.
// overwriteExisting makes Bitwarden remove every synced member missing from
// that request, so it may only ride on a request that lists every member:
// with it on, all members travel in the first request (largeImport lets the
// server take more than 2000) and only the groups are split.
func batches(imp *bitwarden.ImportRequest) []*bitwarden.ImportRequest {
	if len(imp.Members) <= MaxBatch && len(imp.Groups) <= MaxBatch {
		return []*bitwarden.ImportRequest{imp}
	}
	var out []*bitwarden.ImportRequest
	newReq := func() *bitwarden.ImportRequest {
		return &bitwarden.ImportRequest{Groups: []bitwarden.ImportGroup{}, Members: []bitwarden.ImportMember{}, LargeImport: true,
			InviteUsersAfterProvisioning: imp.InviteUsersAfterProvisioning}
	}
	if imp.OverwriteExisting {
		first := newReq()
		first.Members = imp.Members
		first.OverwriteExisting = true
		out = append(out, first)
	} else {
		for m := range slices.Chunk(imp.Members, MaxBatch) {
			r := newReq()
			r.Members = m
			out = append(out, r)
		}
	}
	for g := range slices.Chunk(imp.Groups, MaxBatch) {
		r := newReq()
		r.Groups = g
		out = append(out, r)
	}
	return out
}

// cutUTF16 cuts s to at most n UTF-16 code units (how Bitwarden's .NET
// server measures length) without splitting a character.
func cutUTF16(s string, n int) (string, bool) {
	units := 0
	for i, r := range s {
		w := utf16.RuneLen(r)
		if w < 0 {
			w = 1
		}
		if units+w > n {
			return s[:i], true
		}
		units += w
	}
	return s, false
}

// normalizeEmail trims and lower-cases; sources already do, but the
// duplicate check must not depend on it.
func normalizeEmail(e string) string {
	t := strings.TrimSpace(e)
	for i := 0; i < len(t); i++ {
		if c := t[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(t)
		}
	}
	return t
}
