package sync

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dirsync/dirsync/internal/bitwarden"
)

// OrgDiff is what pushing a plan would change in the Bitwarden
// organization, predicted from the organization's members and groups by
// the server's import rules (contract §5). Unlike Changes, which compares
// two import bodies, it compares the import with what Bitwarden holds, so
// it shows members linked by email, owners the server keeps, and group
// members it would ignore. Lists are capped (see Truncated); counts are
// always complete.
type OrgDiff struct {
	// OrgMembers is the organization's member count before the push;
	// SyncedMembers how many of them have an externalId (are synced).
	OrgMembers    int `json:"orgMembers"`
	SyncedMembers int `json:"syncedMembers"`
	// Invites are import members the server would invite.
	Invites []MemberRef `json:"invites"`
	// Removals are members the server would remove from the organization.
	Removals []Removal `json:"removals"`
	// Links are existing members without an externalId that the server
	// would link to an import member by email.
	Links []MemberRef `json:"links"`
	// OwnersKept are owners the import asks to remove, which the server
	// never does.
	OwnersKept []MemberRef `json:"ownersKept"`
	// EmailTaken are live import members that the server neither invites
	// nor links, because their email belongs to a member already linked to
	// another externalId.
	EmailTaken []MemberRef `json:"emailTaken"`
	// GroupsCreated and GroupsRenamed are groups created or renamed by
	// externalId (groups are never deleted).
	GroupsCreated []GroupRef    `json:"groupsCreated"`
	GroupsRenamed []GroupRename `json:"groupsRenamed"`
	// Memberships lists, per group, the members (by email) that would be
	// added to or removed from it.
	Memberships []OrgMembershipChange `json:"memberships"`
	// Ignored lists, per group, the member externalIds the server would
	// ignore because they map to no organization member.
	Ignored []IgnoredMembers `json:"ignored"`
	// Problems are answers the server would refuse the import with (e.g.
	// two organization members with the same externalId).
	Problems  []string      `json:"problems"`
	Counts    OrgDiffCounts `json:"counts"`
	Truncated bool          `json:"truncated"`
}

// OrgDiffCounts are the full sizes of OrgDiff's lists.
type OrgDiffCounts struct {
	Invites            int `json:"invites"`
	Removals           int `json:"removals"`
	RemovalsDeleted    int `json:"removalsDeleted"`
	RemovalsOverwrite  int `json:"removalsOverwrite"`
	Links              int `json:"links"`
	OwnersKept         int `json:"ownersKept"`
	EmailTaken         int `json:"emailTaken"`
	GroupsCreated      int `json:"groupsCreated"`
	GroupsRenamed      int `json:"groupsRenamed"`
	GroupsChanged      int `json:"groupsChanged"`
	MembershipsAdded   int `json:"membershipsAdded"`
	MembershipsRemoved int `json:"membershipsRemoved"`
	Ignored            int `json:"ignored"`
}

// Removal reasons.
const (
	// RemovalDeleted: the import sends the member as deleted.
	RemovalDeleted = "deleted"
	// RemovalOverwrite: overwriteExisting is on and the member's externalId
	// is not in the import.
	RemovalOverwrite = "overwrite"
)

// Removal is a member the push would remove.
type Removal struct {
	ExternalID string `json:"externalId"`
	Email      string `json:"email"`
	Reason     string `json:"reason"`
}

// OrgMembershipChange is one group's membership change, members named by
// email (their externalId when the member has no email yet).
type OrgMembershipChange struct {
	ExternalID string   `json:"externalId"`
	Name       string   `json:"name"`
	Added      []string `json:"added"`
	Removed    []string `json:"removed"`
}

// IgnoredMembers are one group's member externalIds that map to no member.
type IgnoredMembers struct {
	ExternalID  string   `json:"externalId"`
	Name        string   `json:"name"`
	ExternalIDs []string `json:"externalIds"`
}

// Empty reports whether the push would change nothing in Bitwarden.
func (d *OrgDiff) Empty() bool {
	c := d.Counts
	return c.Invites == 0 && c.Removals == 0 && c.Links == 0 && c.GroupsCreated == 0 && c.GroupsRenamed == 0 &&
		c.MembershipsAdded == 0 && c.MembershipsRemoved == 0
}

// simMember and simGroup are the organization as the prediction applies
// the import to it.
type simMember struct {
	id, email, ext string
	owner          bool
}

type simGroup struct {
	id, name, ext string
	members       map[string]bool
}

type orgSim struct {
	members []*simMember
	groups  []*simGroup
	byID    map[string]*simMember
	seq     int
	d       *OrgDiff
	kept    map[string]bool // owners already listed in OwnersKept
}

// PredictOrgDiff predicts what sending batches, in order, does to an
// organization holding members and groups. It follows the import steps of
// Bitwarden's server (the ones bwtest reproduces): deleted members are
// removed unless owners; with overwriteExisting, every synced member whose
// externalId is not in the request is removed unless an owner; members
// without externalId are linked by email; new members are invited (an
// email already in the organization is skipped); groups are created or
// renamed by externalId and their membership replaced with the listed ids
// that map to current members. Memberships compare every group's members
// before and after, so a removed member also leaves its groups.
func PredictOrgDiff(members []bitwarden.Member, groups []bitwarden.Group, batches []*bitwarden.ImportRequest) *OrgDiff {
	d := &OrgDiff{
		Invites: []MemberRef{}, Removals: []Removal{}, Links: []MemberRef{}, OwnersKept: []MemberRef{},
		EmailTaken: []MemberRef{}, GroupsCreated: []GroupRef{}, GroupsRenamed: []GroupRename{},
		Memberships: []OrgMembershipChange{}, Ignored: []IgnoredMembers{}, Problems: []string{},
	}
	sim := &orgSim{byID: make(map[string]*simMember, len(members)), d: d, kept: map[string]bool{}}
	for _, m := range members {
		sm := &simMember{id: m.ID, email: strings.ToLower(m.Email), ext: m.ExternalID, owner: m.Type == bitwarden.MemberTypeOwner}
		sim.members = append(sim.members, sm)
		sim.byID[m.ID] = sm
		if strings.TrimSpace(m.ExternalID) != "" {
			d.SyncedMembers++
		}
	}
	d.OrgMembers = len(members)
	// Names for the membership lists: every member that ever existed.
	names := make(map[string]string, len(members))
	before := make(map[string]map[string]bool, len(groups))
	for _, g := range groups {
		set := make(map[string]bool, len(g.MemberIDs))
		for _, id := range g.MemberIDs {
			set[id] = true
		}
		before[g.ID] = set
		sim.groups = append(sim.groups, &simGroup{id: g.ID, name: g.Name, ext: g.ExternalID, members: maps.Clone(set)})
	}
	for _, b := range batches {
		if !sim.apply(b) {
			break
		}
	}
	for _, m := range sim.byID {
		names[m.id] = m.email
		if names[m.id] == "" {
			names[m.id] = m.ext
		}
	}
	for _, g := range sim.groups {
		old := before[g.id]
		var added, removed []string
		for id := range g.members {
			if !old[id] {
				added = append(added, names[id])
			}
		}
		for id := range old {
			if !g.members[id] {
				removed = append(removed, orDefault(names[id], id))
			}
		}
		if len(added) == 0 && len(removed) == 0 {
			continue
		}
		slices.Sort(added)
		slices.Sort(removed)
		d.Counts.GroupsChanged++
		d.Counts.MembershipsAdded += len(added)
		d.Counts.MembershipsRemoved += len(removed)
		if len(d.Memberships) < maxListed {
			d.Memberships = append(d.Memberships, OrgMembershipChange{ExternalID: g.ext, Name: g.name,
				Added: capList(orEmpty(added), &d.Truncated), Removed: capList(orEmpty(removed), &d.Truncated)})
		} else {
			d.Truncated = true
		}
	}
	slices.SortFunc(d.Memberships, func(a, b OrgMembershipChange) int {
		return cmp.Or(cmp.Compare(a.ExternalID, b.ExternalID), cmp.Compare(a.Name, b.Name))
	})
	return d
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// listed appends v to list while it is under the cap.
func listed[T any](list *[]T, v T, truncated *bool) {
	if len(*list) < maxListed {
		*list = append(*list, v)
	} else {
		*truncated = true
	}
}

func (s *orgSim) problem(msg string) {
	s.d.Problems = append(s.d.Problems, msg)
}

func (s *orgSim) remove(m *simMember, reason string) {
	i := slices.Index(s.members, m)
	if i < 0 {
		return
	}
	s.members = slices.Delete(s.members, i, i+1)
	for _, g := range s.groups {
		delete(g.members, m.id)
	}
	d := s.d
	d.Counts.Removals++
	if reason == RemovalDeleted {
		d.Counts.RemovalsDeleted++
	} else {
		d.Counts.RemovalsOverwrite++
	}
	listed(&d.Removals, Removal{ExternalID: m.ext, Email: m.email, Reason: reason}, &d.Truncated)
}

func (s *orgSim) keepOwner(m *simMember) {
	if s.kept[m.id] {
		return
	}
	s.kept[m.id] = true
	s.d.Counts.OwnersKept++
	listed(&s.d.OwnersKept, MemberRef{ExternalID: m.ext, Email: m.email}, &s.d.Truncated)
}

// apply applies one import request; false when the server would refuse it
// (later requests are then not sent).
func (s *orgSim) apply(req *bitwarden.ImportRequest) bool {
	d := s.d
	type imp struct{ email, ext string }
	var imported []imp
	var removeExt []string
	importedExt := map[string]bool{}
	for _, m := range req.Members {
		if m.Deleted {
			removeExt = append(removeExt, m.ExternalID)
			continue
		}
		imported = append(imported, imp{email: strings.ToLower(m.Email), ext: m.ExternalID})
		importedExt[m.ExternalID] = true
	}
	existingExt := map[string]*simMember{}
	dict := map[string]string{}
	var withExt, noExt []*simMember
	for _, m := range s.members {
		if strings.TrimSpace(m.ext) == "" {
			noExt = append(noExt, m)
			continue
		}
		if _, dup := existingExt[m.ext]; dup {
			s.problem(fmt.Sprintf("two organization members have the externalId %q: Bitwarden would fail the import (500)", m.ext))
			return false
		}
		withExt = append(withExt, m)
		existingExt[m.ext] = m
		dict[m.ext] = m.id
	}
	// 1. Deleted members.
	for _, ext := range removeExt {
		m, ok := existingExt[ext]
		if !ok || importedExt[ext] {
			continue
		}
		if m.owner {
			s.keepOwner(m)
			continue
		}
		s.remove(m, RemovalDeleted)
	}
	// 2. Overwrite.
	if req.OverwriteExisting {
		for _, m := range withExt {
			if importedExt[m.ext] {
				continue
			}
			if m.owner {
				s.keepOwner(m)
				continue
			}
			s.remove(m, RemovalOverwrite)
			delete(dict, m.ext)
		}
	}
	// 3. Links by email.
	if len(imported) > 0 {
		byEmail := make(map[string]imp, len(imported))
		for _, u := range imported {
			if _, dup := byEmail[u.email]; dup {
				s.problem(fmt.Sprintf("two live import members share the email %s: Bitwarden would fail the import (500)", u.email))
				return false
			}
			byEmail[u.email] = u
		}
		for _, m := range noExt {
			u, ok := byEmail[m.email]
			if !ok {
				continue
			}
			if _, taken := dict[u.ext]; taken {
				s.problem(fmt.Sprintf("the member %s has no externalId but its email belongs to %s, already linked: Bitwarden would fail the import (500)", m.email, u.ext))
				return false
			}
			m.ext = u.ext
			dict[u.ext] = m.id
			d.Counts.Links++
			listed(&d.Links, MemberRef{ExternalID: u.ext, Email: m.email}, &d.Truncated)
		}
	}
	// 4. Invites.
	known := make(map[string]bool, len(dict))
	for ext := range dict {
		known[ext] = true
	}
	emails := make(map[string]bool, len(s.members))
	for _, m := range s.members {
		emails[m.email] = true
	}
	seen := map[string]bool{}
	var invites []imp
	for _, u := range imported {
		if known[u.ext] || seen[u.email] {
			continue
		}
		if emails[u.email] {
			d.Counts.EmailTaken++
			listed(&d.EmailTaken, MemberRef{ExternalID: u.ext, Email: u.email}, &d.Truncated)
			continue
		}
		seen[u.email] = true
		invites = append(invites, u)
	}
	for _, u := range invites {
		s.seq++
		m := &simMember{id: fmt.Sprintf("new:%d", s.seq), email: u.email, ext: u.ext}
		s.members = append(s.members, m)
		s.byID[m.id] = m
		if _, ok := dict[u.ext]; !ok {
			dict[u.ext] = m.id
		}
		d.Counts.Invites++
		listed(&d.Invites, MemberRef{ExternalID: u.ext, Email: u.email}, &d.Truncated)
	}
	// 5. Groups.
	if len(req.Groups) == 0 {
		return true
	}
	seenGroups := make(map[string]bool, len(req.Groups))
	for _, g := range req.Groups {
		if seenGroups[g.ExternalID] {
			s.problem(fmt.Sprintf("the import lists the group %q twice: Bitwarden would fail the import (500)", g.ExternalID))
			return false
		}
		seenGroups[g.ExternalID] = true
	}
	existing := map[string]*simGroup{}
	for _, g := range s.groups {
		if g.ext != "" {
			existing[g.ext] = g
		}
	}
	current := make(map[string]bool, len(s.members))
	for _, m := range s.members {
		current[m.id] = true
	}
	for _, g := range req.Groups {
		set := make(map[string]bool, len(g.MemberExternalIDs))
		var ignored []string
		for _, ext := range g.MemberExternalIDs {
			if id, ok := dict[ext]; ok && current[id] {
				set[id] = true
			} else {
				ignored = append(ignored, ext)
			}
		}
		if len(ignored) > 0 {
			d.Counts.Ignored += len(ignored)
			listed(&d.Ignored, IgnoredMembers{ExternalID: g.ExternalID, Name: g.Name, ExternalIDs: capList(ignored, &d.Truncated)}, &d.Truncated)
		}
		if eg, ok := existing[g.ExternalID]; ok {
			if eg.name != g.Name {
				d.Counts.GroupsRenamed++
				listed(&d.GroupsRenamed, GroupRename{ExternalID: g.ExternalID, From: eg.name, To: g.Name}, &d.Truncated)
				eg.name = g.Name
			}
			eg.members = set
			continue
		}
		s.seq++
		ng := &simGroup{id: fmt.Sprintf("new-group:%d", s.seq), name: g.Name, ext: g.ExternalID, members: set}
		s.groups = append(s.groups, ng)
		existing[ng.ext] = ng
		d.Counts.GroupsCreated++
		listed(&d.GroupsCreated, GroupRef{ExternalID: g.ExternalID, Name: g.Name}, &d.Truncated)
	}
	return true
}
