package sync

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
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

	// Server is ServerBitwarden or ServerVaultwarden (a server that does not
	// list members); Basis says what the prediction starts from.
	Server string `json:"server,omitempty"`
	Basis  string `json:"basis,omitempty"`
	// OrgMemberships is the group memberships the organization holds
	// before the push, summed over groups (the membership guard's base).
	OrgMemberships int `json:"orgMemberships"`
	// Staged is set when new members are added as Staged (sync.inviteUsers
	// off): Invites then lists members staged, not invited.
	Staged bool `json:"staged,omitempty"`
	// CannotRemove are members a full overwrite would remove but Bitwarden
	// refuses to, because they have no master password (invited or staged):
	// the push keeps them (they stay until removed in Bitwarden).
	CannotRemove []MemberRef `json:"cannotRemove,omitempty"`
	// RemovedFirst are members without a master password that the import
	// sends as deleted: with overwriteExisting they are removed by a request
	// of their own before the overwrite, which Bitwarden allows.
	RemovedFirst []MemberRef `json:"removedFirst,omitempty"`
	// Relinks are re-created directory accounts: the member of the old
	// account is replaced by (Bitwarden) or moved to (Vaultwarden) the new
	// account with the same email.
	Relinks []Relink `json:"relinks,omitempty"`
	// Restored are Vaultwarden members revoked before that the push
	// restores (a live account with their email).
	Restored []MemberRef `json:"restored,omitempty"`
	// Seats is what the invites need from the organization's seats; nil
	// when the server does not tell its seats.
	Seats *SeatPlan `json:"seats,omitempty"`
}

// Servers and prediction bases.
const (
	ServerBitwarden   = "bitwarden"
	ServerVaultwarden = "vaultwarden"
	// BasisListing: predicted from the organization's member and group
	// listings, read just now.
	BasisListing = "listing"
	// BasisLastPush: the server lists nothing (Vaultwarden); predicted from
	// the last successful push and Vaultwarden's rules.
	BasisLastPush = "last-push"
	// BasisNone: the server lists nothing and nothing was pushed yet: the
	// organization's members are unknown.
	BasisNone = "none"
)

// Relink is a re-created account: one person, a new directory id.
type Relink struct {
	Email string `json:"email"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// SeatPlan is the seat arithmetic of Bitwarden's invite step
// (OrganizationService.SaveUsersSendInvitesAsync and CanScaleAsync).
type SeatPlan struct {
	// Seats are the seats paid for before the push; MaxAutoscale the most
	// cloud buys by itself (nil: no limit).
	Seats        int  `json:"seats"`
	MaxAutoscale *int `json:"maxAutoscale,omitempty"`
	// InUse are the seats held before the push (invited, accepted and
	// confirmed members).
	InUse int `json:"inUse"`
	// Needed are the seats the invites need beyond the free ones; Buys is
	// how many of them cloud would buy.
	Needed int `json:"needed"`
	Buys   int `json:"buys"`
	// Refused is the server's refusal, when the seats cannot be had.
	Refused string `json:"refused,omitempty"`
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
	CannotRemove       int `json:"cannotRemove,omitempty"`
	RemovedFirst       int `json:"removedFirst,omitempty"`
	Relinks            int `json:"relinks,omitempty"`
	Restored           int `json:"restored,omitempty"`
}

// Removal reasons.
const (
	// RemovalDeleted: the import sends the member as deleted.
	RemovalDeleted = "deleted"
	// RemovalOverwrite: overwriteExisting is on and the member's externalId
	// is not in the import.
	RemovalOverwrite = "overwrite"
	// RemovalRevoked: Vaultwarden revokes a member sent as deleted (it
	// loses access but stays listed); counted as a removal by the guard.
	RemovalRevoked = "revoked"
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
		c.MembershipsAdded == 0 && c.MembershipsRemoved == 0 && c.Restored == 0 && c.Relinks == 0
}

// simMember and simGroup are the organization as the prediction applies
// the import to it. Removed members stay in the slices, flagged gone, so a
// removal costs O(1) instead of a slice delete and a pass over every group;
// group sets drop gone members when they are read.
type simMember struct {
	id, email, ext string
	rawEmail       string // as Bitwarden stores it: links compare it exactly
	owner          bool
	gone           bool
	noMP           bool // invited, staged or without userId: no master password
	seat           bool // holds a seat (invited, accepted, confirmed)
	revoked        bool // Vaultwarden: revoked, still listed
	revokedNow     bool // Vaultwarden: revoked by this push
}

type simGroup struct {
	id, name, ext string
	members       []string // sorted member ids
}

// orgSim keeps the indexes each import step needs, updated as members come
// and go, so that a 100,000-member import in 50 batches does not rebuild
// maps of the whole organization per batch.
type orgSim struct {
	members     []*simMember // creation order, gone ones included
	groups      []*simGroup
	byID        map[string]*simMember
	byExt       map[string]*simMember // live members with an externalId
	emails      map[string]int        // live members per lower-cased email
	noExt       []*simMember          // members that had no externalId (may since be linked or gone)
	groupsByExt map[string]*simGroup
	seq         int
	d           *OrgDiff
	kept        map[string]bool // owners already listed in OwnersKept
	// Seats: nil when unknown; paid grows as cloud buys.
	seats        *int
	maxAutoscale *int
	occupied     int
	// removedDeleted are this request's deleted removals, for the
	// overwrite step's master-password check.
	removedNow []*simMember
	// relinked: Vaultwarden members whose externalId a push changed (email
	// → the id before).
	relinked map[string]string
}

// OrgInput is what a prediction starts from: the organization as the
// Public API lists it, the seats where the server tells them, and the
// requests to send, in order.
type OrgInput struct {
	Members      []bitwarden.Member
	Groups       []bitwarden.Group
	Subscription *bitwarden.Subscription
	Batches      []*bitwarden.ImportRequest
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
	return PredictOrgDiffWith(OrgInput{Members: members, Groups: groups, Batches: batches})
}

func newOrgDiff() *OrgDiff {
	return &OrgDiff{
		Invites: []MemberRef{}, Removals: []Removal{}, Links: []MemberRef{}, OwnersKept: []MemberRef{},
		EmailTaken: []MemberRef{}, GroupsCreated: []GroupRef{}, GroupsRenamed: []GroupRename{},
		Memberships: []OrgMembershipChange{}, Ignored: []IgnoredMembers{}, Problems: []string{},
	}
}

func newOrgSim(d *OrgDiff, members, groups int) *orgSim {
	return &orgSim{
		byID: make(map[string]*simMember, members), byExt: make(map[string]*simMember, members),
		emails: make(map[string]int, members), groupsByExt: make(map[string]*simGroup, groups),
		d: d, kept: map[string]bool{},
	}
}

// PredictOrgDiffWith is PredictOrgDiff with the organization's seats: with
// a subscription, the invites' seat needs are checked as Bitwarden cloud
// does (buy up to the autoscale limit, refuse past it).
func PredictOrgDiffWith(in OrgInput) *OrgDiff {
	members, groups, batches := in.Members, in.Groups, in.Batches
	d := newOrgDiff()
	d.Server, d.Basis = ServerBitwarden, BasisListing
	sim := newOrgSim(d, len(members), len(groups))
	dupExt := ""
	for _, m := range members {
		sm := &simMember{id: m.ID, email: strings.ToLower(m.Email), rawEmail: m.Email, ext: m.ExternalID, owner: m.Type == bitwarden.MemberTypeOwner,
			noMP: m.MayLackMasterPassword(), seat: m.Status == bitwarden.MemberStatusInvited || m.Status == bitwarden.MemberStatusAccepted || m.Status == bitwarden.MemberStatusConfirmed}
		if sm.seat {
			sim.occupied++
		}
		sim.members = append(sim.members, sm)
		sim.byID[m.ID] = sm
		sim.emails[sm.email]++
		if strings.TrimSpace(m.ExternalID) == "" {
			sim.noExt = append(sim.noExt, sm)
			continue
		}
		d.SyncedMembers++
		if _, dup := sim.byExt[sm.ext]; dup && dupExt == "" {
			dupExt = sm.ext
		}
		sim.byExt[sm.ext] = sm
	}
	d.OrgMembers = len(members)
	if sub := in.Subscription; sub != nil && sub.Seats != nil {
		seats := *sub.Seats
		sim.seats, sim.maxAutoscale = &seats, sub.MaxAutoscaleSeats
		d.Seats = &SeatPlan{Seats: seats, MaxAutoscale: sub.MaxAutoscaleSeats, InUse: sim.occupied}
	}
	before := make(map[string][]string, len(groups))
	for _, g := range groups {
		ids := slices.Compact(slices.Sorted(slices.Values(g.MemberIDs)))
		before[g.ID] = ids
		d.OrgMemberships += len(ids)
		sg := &simGroup{id: g.ID, name: g.Name, ext: g.ExternalID, members: ids}
		sim.groups = append(sim.groups, sg)
		if sg.ext != "" {
			sim.groupsByExt[sg.ext] = sg
		}
	}
	if dupExt != "" && len(batches) > 0 {
		// The server builds a dictionary of externalIds per import.
		sim.problem(fmt.Sprintf("two organization members have the externalId %q: Bitwarden would fail the import (500)", dupExt))
	} else {
		for _, b := range batches {
			if !b.Invites() {
				d.Staged = true
			}
			if !sim.apply(b) {
				break
			}
		}
	}
	sim.finish(before)
	return d
}

// finish compares every group's members before and after, and pairs
// re-created accounts.
func (sim *orgSim) finish(before map[string][]string) {
	d := sim.d
	name := func(id string) string {
		m := sim.byID[id]
		if m == nil {
			return id
		}
		return orDefault(orDefault(m.email, m.ext), id)
	}
	live := func(id string) bool { m := sim.byID[id]; return m != nil && !m.gone }
	for _, g := range sim.groups {
		// Both lists are sorted: walk them side by side. A member in both
		// that the import removed from the organization left the group.
		old, cur := before[g.id], g.members
		var added, removed []string
		i, j := 0, 0
		for i < len(old) || j < len(cur) {
			switch {
			case j >= len(cur) || (i < len(old) && old[i] < cur[j]):
				removed = append(removed, name(old[i]))
				i++
			case i >= len(old) || cur[j] < old[i]:
				if live(cur[j]) {
					added = append(added, name(cur[j]))
				}
				j++
			default:
				if !live(old[i]) {
					removed = append(removed, name(old[i]))
				}
				i++
				j++
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
		if len(d.Memberships) < maxGroupsListed {
			d.Memberships = append(d.Memberships, OrgMembershipChange{ExternalID: g.ext, Name: g.name,
				Added: capList(orEmpty(added), &d.Truncated), Removed: capList(orEmpty(removed), &d.Truncated)})
		} else {
			d.Truncated = true
		}
	}
	slices.SortFunc(d.Memberships, func(a, b OrgMembershipChange) int {
		return cmp.Or(cmp.Compare(a.ExternalID, b.ExternalID), cmp.Compare(a.Name, b.Name))
	})
	sim.pairRelinks()
}

// pairRelinks names the re-created accounts: a member removed (or revoked)
// as deleted whose email a new member of another id takes in the same push.
func (sim *orgSim) pairRelinks() {
	gone := map[string]string{} // email → old externalId
	for _, m := range sim.members {
		if (m.gone || m.revoked) && m.ext != "" {
			gone[m.email] = m.ext
		}
	}
	for _, m := range sim.members {
		if m.gone || m.revoked || m.ext == "" {
			continue
		}
		if old, ok := sim.relinked[m.email]; ok && old != m.ext {
			sim.addRelink(m.email, old, m.ext)
			continue
		}
		if old, ok := gone[m.email]; ok && old != m.ext && strings.HasPrefix(m.id, "new:") {
			sim.addRelink(m.email, old, m.ext)
		}
	}
}

func (sim *orgSim) addRelink(email, from, to string) {
	sim.d.Counts.Relinks++
	listed(&sim.d.Relinks, Relink{Email: email, From: from, To: to}, &sim.d.Truncated)
}

func (s *orgSim) remove(m *simMember, reason string) {
	if m.gone {
		return
	}
	m.gone = true
	if m.seat {
		s.occupied--
	}
	if s.byExt[m.ext] == m {
		delete(s.byExt, m.ext)
	}
	if s.emails[m.email]--; s.emails[m.email] <= 0 {
		delete(s.emails, m.email)
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

// apply applies one import request; false means the server would refuse
// it (the problem is recorded) and later batches are not sent.
func (s *orgSim) apply(req *bitwarden.ImportRequest) bool {
	d := s.d
	type imp struct{ email, ext string }
	var imported []imp
	var removeExt []string
	importedExt := make(map[string]bool, len(req.Members))
	for _, m := range req.Members {
		if m.Deleted {
			removeExt = append(removeExt, m.ExternalID)
			continue
		}
		imported = append(imported, imp{email: strings.ToLower(m.Email), ext: m.ExternalID})
		importedExt[m.ExternalID] = true
	}
	// The server's ext→id dictionary for this request: the live synced
	// members, plus those this request removes as deleted (they stay in
	// it), minus overwrite removals, plus links and invites.
	removedDeleted := map[string]string{}
	dict := func(ext string) (string, bool) {
		if m, ok := s.byExt[ext]; ok {
			return m.id, true
		}
		id, ok := removedDeleted[ext]
		return id, ok
	}
	// 1. Deleted members.
	s.removedNow = s.removedNow[:0]
	for _, ext := range removeExt {
		m, ok := s.byExt[ext]
		if !ok || importedExt[ext] {
			continue
		}
		if m.owner {
			s.keepOwner(m)
			continue
		}
		s.remove(m, RemovalDeleted)
		removedDeleted[ext] = m.id
		s.removedNow = append(s.removedNow, m)
	}
	// 2. Overwrite: refused when a member it would remove — the members
	// just removed as deleted included, since the server works on its
	// snapshot — has no master password
	// (ImportOrganizationUsersAndGroupsCommand.OverwriteExisting).
	if req.OverwriteExisting {
		var missing []*simMember
		for _, m := range s.byExt {
			if !importedExt[m.ext] {
				missing = append(missing, m)
			}
		}
		slices.SortFunc(missing, func(a, b *simMember) int { return cmp.Compare(a.ext, b.ext) })
		for _, m := range append(slices.Clone(s.removedNow), missing...) {
			if !m.owner && m.noMP {
				s.problem(fmt.Sprintf("%s has no master password (invited, staged or SSO), so Bitwarden would refuse the full overwrite (400 \"%s\") after removing the members sent as deleted", orDefault(m.email, m.ext), bitwarden.MsgPreventUserRemoval))
				return false
			}
		}
		for _, m := range missing {
			if m.owner {
				s.keepOwner(m)
				continue
			}
			s.remove(m, RemovalOverwrite)
		}
	}
	// 3. Links by email, compared exactly with the stored email (the
	// import's emails are lower-cased); two unlinked members with one email
	// make the server's dictionary fail (500).
	if len(imported) > 0 {
		unlinked := map[string]bool{}
		for _, m := range s.noExt {
			if m.gone || strings.TrimSpace(m.ext) != "" {
				continue
			}
			if unlinked[m.rawEmail] {
				s.problem(fmt.Sprintf("two organization members without externalId have the email %s: Bitwarden would fail the import (500)", m.rawEmail))
				return false
			}
			unlinked[m.rawEmail] = true
		}
	}
	if len(imported) > 0 && len(s.noExt) > 0 {
		byEmail := make(map[string]imp, len(imported))
		for _, u := range imported {
			if _, dup := byEmail[u.email]; dup {
				s.problem(fmt.Sprintf("two live import members share the email %s: Bitwarden would fail the import (500)", u.email))
				return false
			}
			byEmail[u.email] = u
		}
		still := s.noExt[:0]
		for _, m := range s.noExt {
			if m.gone || strings.TrimSpace(m.ext) != "" {
				continue
			}
			u, ok := byEmail[m.rawEmail]
			if !ok {
				still = append(still, m)
				continue
			}
			if _, taken := dict(u.ext); taken {
				s.problem(fmt.Sprintf("the member %s has no externalId but its email belongs to %s, already linked: Bitwarden would fail the import (500)", m.email, u.ext))
				return false
			}
			m.ext = u.ext
			s.byExt[u.ext] = m
			d.Counts.Links++
			listed(&d.Links, MemberRef{ExternalID: u.ext, Email: m.email}, &d.Truncated)
		}
		s.noExt = still
	} else if len(imported) > 0 {
		seen := make(map[string]bool, len(imported))
		for _, u := range imported {
			if seen[u.email] {
				s.problem(fmt.Sprintf("two live import members share the email %s: Bitwarden would fail the import (500)", u.email))
				return false
			}
			seen[u.email] = true
		}
	}
	// 4. Invites: an email already in the organization is skipped.
	seen := map[string]bool{}
	var invites []imp
	for _, u := range imported {
		if _, known := dict(u.ext); known || seen[u.email] {
			continue
		}
		if s.emails[u.email] > 0 {
			d.Counts.EmailTaken++
			listed(&d.EmailTaken, MemberRef{ExternalID: u.ext, Email: u.email}, &d.Truncated)
			continue
		}
		seen[u.email] = true
		invites = append(invites, u)
	}
	staged := !req.Invites()
	if !staged && s.seats != nil && len(invites) > 0 {
		// SaveUsersSendInvitesAsync: seats needed beyond the free ones;
		// CanScaleAsync: cloud buys them up to the autoscale limit.
		needed := len(invites) - (*s.seats - s.occupied)
		if needed > 0 {
			sp := d.Seats
			sp.Needed += needed
			if s.maxAutoscale != nil && *s.maxAutoscale < *s.seats+needed {
				sp.Refused = fmt.Sprintf("the push invites %d new members but the organization has %d seats with %d in use, and Bitwarden buys seats only up to the autoscale limit of %d: it would answer \"%s\"",
					len(invites), *s.seats, s.occupied, *s.maxAutoscale, bitwarden.MsgSeatLimit)
				s.problem(sp.Refused)
				return false
			}
			*s.seats += needed
			sp.Buys += needed
		}
	}
	for _, u := range invites {
		s.seq++
		m := &simMember{id: "new:" + strconv.Itoa(s.seq), email: u.email, rawEmail: u.email, ext: u.ext, noMP: true, seat: !staged}
		if m.seat {
			s.occupied++
		}
		s.members = append(s.members, m)
		s.byID[m.id] = m
		s.byExt[u.ext] = m
		s.emails[u.email]++
		d.Counts.Invites++
		listed(&d.Invites, MemberRef{ExternalID: u.ext, Email: u.email}, &d.Truncated)
	}
	// 5. Groups.
	if len(req.Groups) == 0 {
		return true
	}
	if ext := s.dupGroupExt(); ext != "" {
		s.problem(fmt.Sprintf("two Bitwarden groups have the externalId %q: Bitwarden would fail the import (500) after the member changes; give one of them another externalId or delete it", ext))
		return false
	}
	seenGroups := make(map[string]bool, len(req.Groups))
	for _, g := range req.Groups {
		if seenGroups[g.ExternalID] {
			s.problem(fmt.Sprintf("the import lists the group %q twice: Bitwarden would fail the import (500)", g.ExternalID))
			return false
		}
		seenGroups[g.ExternalID] = true
	}
	for _, g := range req.Groups {
		set := make([]string, 0, len(g.MemberExternalIDs))
		var ignored []string
		for _, ext := range g.MemberExternalIDs {
			if id, ok := dict(ext); ok && !s.byID[id].gone {
				set = append(set, id)
			} else {
				ignored = append(ignored, ext)
			}
		}
		slices.Sort(set)
		set = slices.Compact(set)
		if len(ignored) > 0 {
			d.Counts.Ignored += len(ignored)
			if len(d.Ignored) < maxGroupsListed {
				d.Ignored = append(d.Ignored, IgnoredMembers{ExternalID: g.ExternalID, Name: g.Name, ExternalIDs: capList(ignored, &d.Truncated)})
			} else {
				d.Truncated = true
			}
		}
		if eg, ok := s.groupsByExt[g.ExternalID]; ok {
			if eg.name != g.Name {
				d.Counts.GroupsRenamed++
				listed(&d.GroupsRenamed, GroupRename{ExternalID: g.ExternalID, From: eg.name, To: g.Name}, &d.Truncated)
				eg.name = g.Name
			}
			eg.members = set
			continue
		}
		s.seq++
		ng := &simGroup{id: "new-group:" + strconv.Itoa(s.seq), name: g.Name, ext: g.ExternalID, members: set}
		s.groups = append(s.groups, ng)
		s.groupsByExt[ng.ext] = ng
		d.Counts.GroupsCreated++
		listed(&d.GroupsCreated, GroupRef{ExternalID: g.ExternalID, Name: g.Name}, &d.Truncated)
	}
	return true
}

// dupGroupExt is an externalId two existing groups share ("" if none).
func (s *orgSim) dupGroupExt() string {
	seen := map[string]bool{}
	for _, g := range s.groups {
		if strings.TrimSpace(g.ext) == "" || strings.HasPrefix(g.id, "new-group:") {
			continue
		}
		if seen[g.ext] {
			return g.ext
		}
		seen[g.ext] = true
	}
	return ""
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
