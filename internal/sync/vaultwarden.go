package sync

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dirsync/dirsync/internal/bitwarden"
)

// VaultwardenBatches adapts requests to Vaultwarden, which applies members
// one by one in the order sent and matches them by email
// (ldap_import in src/api/core/public.rs):
//   - a deleted member sent after the live account with its email would
//     revoke that person. So a deleted account sharing a live account's
//     email (a re-created account) is left out: the live one takes the
//     member over by email, externalId and all;
//   - a deleted member without an email (an AD tombstone, whose mail is
//     gone) is left out too: Vaultwarden's OrgImportUserData has
//     `email: String`, so one null email refuses the whole import, and it
//     could match nobody by email anyway. With overwriteExisting the member
//     is still removed, as its externalId is not among those sent.
func VaultwardenBatches(batches []*bitwarden.ImportRequest) []*bitwarden.ImportRequest {
	liveEmails := map[string]bool{}
	for _, b := range batches {
		for _, m := range b.Members {
			if !m.Deleted {
				liveEmails[strings.ToLower(m.Email)] = true
			}
		}
	}
	drop := func(m bitwarden.ImportMember) bool {
		return m.Deleted && (m.Email == "" || liveEmails[strings.ToLower(m.Email)])
	}
	out := make([]*bitwarden.ImportRequest, len(batches))
	for i, b := range batches {
		if !slices.ContainsFunc(b.Members, drop) {
			out[i] = b
			continue
		}
		cp := *b
		cp.Members = slices.DeleteFunc(slices.Clone(b.Members), drop)
		out[i] = &cp
	}
	return out
}

// PredictVaultwarden predicts what batches do on a server that lists
// nothing (Vaultwarden), starting from last, the last successful push
// (nil: nothing pushed yet, so the organization's members are unknown).
// The last push's live members are taken as active members, its deleted
// ones as revoked, its groups with their members. Then Vaultwarden's rules
// apply (src/api/core/public.rs): members in the order sent, matched by
// email — deleted ones revoked (counted as removals, reason "revoked") and
// given the sent externalId, live ones restored and given the sent
// externalId, unknown ones invited; groups found or created by externalId
// (never renamed) with their membership rebuilt, which Vaultwarden does
// only when org groups are enabled on the server; with overwriteExisting,
// every member whose externalId is not among the sent members is removed.
// Members dirsync never pushed (owners, manual invites) are unknown to the
// prediction.
func PredictVaultwarden(last *bitwarden.ImportRequest, batches []*bitwarden.ImportRequest) *OrgDiff {
	d := newOrgDiff()
	d.Server, d.Basis = ServerVaultwarden, BasisLastPush
	if last == nil {
		d.Basis = BasisNone
		last = &bitwarden.ImportRequest{}
	}
	sim := newOrgSim(d, len(last.Members), len(last.Groups))
	sim.relinked = map[string]string{}
	byEmail := map[string]*simMember{}
	// Live entries first: a re-created account's deleted twin shares the
	// email of the live member it became.
	ordered := slices.Clone(last.Members)
	slices.SortStableFunc(ordered, func(a, b bitwarden.ImportMember) int {
		if a.Deleted == b.Deleted {
			return 0
		}
		if a.Deleted {
			return 1
		}
		return -1
	})
	for i, m := range ordered {
		email := strings.ToLower(m.Email)
		if email == "" || byEmail[email] != nil {
			continue
		}
		sm := &simMember{id: "vw:" + strconv.Itoa(i), email: email, rawEmail: email, ext: m.ExternalID, revoked: m.Deleted}
		sim.members = append(sim.members, sm)
		sim.byID[sm.id] = sm
		byEmail[email] = sm
		if !m.Deleted {
			sim.emails[email]++
		}
		if sm.ext != "" {
			d.SyncedMembers++
		}
	}
	d.OrgMembers = len(sim.members)
	// byExt is the first member (in the server's order) that is not gone
	// for each externalId, as Vaultwarden finds a group's members. It is
	// rebuilt after each batch's members are applied (they move ext and
	// add members; only the overwrite step, after the groups, removes),
	// so each group membership costs a lookup, not a scan of the org.
	var byExt map[string]*simMember
	indexByExt := func() {
		byExt = make(map[string]*simMember, len(sim.members))
		for _, m := range sim.members {
			if !m.gone && byExt[m.ext] == nil {
				byExt[m.ext] = m
			}
		}
	}
	indexByExt()
	firstByExt := func(ext string) *simMember { return byExt[ext] }
	before := make(map[string][]string, len(last.Groups))
	for i, g := range last.Groups {
		ids := map[string]bool{}
		for _, ext := range g.MemberExternalIDs {
			if m := firstByExt(ext); m != nil {
				ids[m.id] = true
			}
		}
		sg := &simGroup{id: "vwg:" + strconv.Itoa(i), name: g.Name, ext: g.ExternalID, members: slices.Sorted(maps.Keys(ids))}
		before[sg.id] = sg.members
		d.OrgMemberships += len(sg.members)
		sim.groups = append(sim.groups, sg)
		sim.groupsByExt[sg.ext] = sg
	}
	for _, b := range batches {
		for _, u := range b.Members {
			email := strings.ToLower(u.Email)
			m := byEmail[email]
			switch {
			case u.Deleted:
				if m == nil || m.gone {
					continue
				}
				if !m.revoked {
					m.revoked, m.revokedNow = true, true
					d.Counts.Removals++
					d.Counts.RemovalsDeleted++
					listed(&d.Removals, Removal{ExternalID: u.ExternalID, Email: email, Reason: RemovalRevoked}, &d.Truncated)
				}
				m.ext = u.ExternalID
			case m != nil && !m.gone:
				if m.revoked {
					m.revoked, m.revokedNow = false, false
					d.Counts.Restored++
					listed(&d.Restored, MemberRef{ExternalID: u.ExternalID, Email: email}, &d.Truncated)
				}
				if m.ext != u.ExternalID {
					if _, ok := sim.relinked[email]; !ok && m.ext != "" {
						sim.relinked[email] = m.ext
					}
					m.ext = u.ExternalID
				}
			default:
				sim.seq++
				nm := &simMember{id: "new:" + strconv.Itoa(sim.seq), email: email, rawEmail: email, ext: u.ExternalID}
				sim.members = append(sim.members, nm)
				sim.byID[nm.id] = nm
				byEmail[email] = nm
				d.Counts.Invites++
				listed(&d.Invites, MemberRef{ExternalID: u.ExternalID, Email: email}, &d.Truncated)
			}
		}
		indexByExt()
		for _, g := range b.Groups {
			sg := sim.groupsByExt[g.ExternalID]
			if sg == nil {
				sim.seq++
				sg = &simGroup{id: "new-group:" + strconv.Itoa(sim.seq), name: g.Name, ext: g.ExternalID}
				sim.groups = append(sim.groups, sg)
				sim.groupsByExt[sg.ext] = sg
				d.Counts.GroupsCreated++
				listed(&d.GroupsCreated, GroupRef{ExternalID: g.ExternalID, Name: g.Name}, &d.Truncated)
			}
			ids := map[string]bool{}
			for _, ext := range g.MemberExternalIDs {
				if m := firstByExt(ext); m != nil {
					ids[m.id] = true
				} else {
					d.Counts.Ignored++
				}
			}
			sg.members = slices.Sorted(maps.Keys(ids))
		}
		if b.OverwriteExisting {
			sent := map[string]bool{}
			for _, u := range b.Members {
				sent[u.ExternalID] = true
			}
			var missing []*simMember
			for _, m := range sim.members {
				if !m.gone && m.ext != "" && !sent[m.ext] {
					missing = append(missing, m)
				}
			}
			slices.SortFunc(missing, func(a, b *simMember) int { return cmp.Compare(a.ext, b.ext) })
			for _, m := range missing {
				m.gone = true
				d.Counts.Removals++
				d.Counts.RemovalsOverwrite++
				listed(&d.Removals, Removal{ExternalID: m.ext, Email: m.email, Reason: RemovalOverwrite}, &d.Truncated)
			}
		}
	}
	// A member revoked by this push stays in its groups on Vaultwarden but
	// loses access: the membership guard counts it as a removal.
	for _, m := range sim.members {
		if m.revokedNow {
			m.gone = true
		}
	}
	sim.finish(before)
	return d
}
