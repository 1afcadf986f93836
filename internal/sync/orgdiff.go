package sync

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
