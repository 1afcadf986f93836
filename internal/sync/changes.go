package sync

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/dirsync/dirsync/internal/bitwarden"
)

// maxListed caps each list in Changes so that a run record stays small; the
// counts are always complete.
var maxListed = 500

// maxGroupsListed and maxIDsListed cap the nested lists (groups with their
// member ids): 100 groups of 100 ids keep a run record near 1 MB even when
// a first sync adds half a million memberships.
var (
	maxGroupsListed = 100
	maxIDsListed    = 100
)

// Changes is what an import changes compared with the previous pushed one.
// It compares import bodies, not Bitwarden's state: it says what dirsync
// sent differently, which is what an admin reads in History.
type Changes struct {
	// First is true when there was no previous push to compare with.
	First             bool               `json:"first"`
	MembersAdded      []MemberRef        `json:"membersAdded"`
	MembersRemoved    []MemberRef        `json:"membersRemoved"`
	MembersDeleted    []MemberRef        `json:"membersDeleted"`
	MembersRestored   []MemberRef        `json:"membersRestored"`
	EmailsChanged     []EmailChange      `json:"emailsChanged"`
	GroupsAdded       []GroupRef         `json:"groupsAdded"`
	GroupsRemoved     []GroupRef         `json:"groupsRemoved"`
	GroupsRenamed     []GroupRename      `json:"groupsRenamed"`
	MembershipChanges []MembershipChange `json:"membershipChanges"`
	Counts            ChangeCounts       `json:"counts"`
	Truncated         bool               `json:"truncated"`
	// Bitwarden is what the push changes in the organization (nil when
	// Bitwarden was not read).
	Bitwarden *OrgDiff `json:"bitwarden,omitempty"`
}

// ChangeCounts are the full sizes of the lists in Changes.
type ChangeCounts struct {
	MembersAdded       int `json:"membersAdded"`
	MembersRemoved     int `json:"membersRemoved"`
	MembersDeleted     int `json:"membersDeleted"`
	MembersRestored    int `json:"membersRestored"`
	EmailsChanged      int `json:"emailsChanged"`
	GroupsAdded        int `json:"groupsAdded"`
	GroupsRemoved      int `json:"groupsRemoved"`
	GroupsRenamed      int `json:"groupsRenamed"`
	GroupsChanged      int `json:"groupsChanged"`
	MembershipsAdded   int `json:"membershipsAdded"`
	MembershipsRemoved int `json:"membershipsRemoved"`
}

// Empty reports whether nothing changed.
func (c *Changes) Empty() bool { return c.Counts == ChangeCounts{} }

// MemberRef names a member.
type MemberRef struct {
	ExternalID string `json:"externalId"`
	Email      string `json:"email"`
}

// EmailChange is a member whose email changed.
type EmailChange struct {
	ExternalID string `json:"externalId"`
	From       string `json:"from"`
	To         string `json:"to"`
}

// GroupRef names a group.
type GroupRef struct {
	ExternalID string `json:"externalId"`
	Name       string `json:"name"`
}

// GroupRename is a group whose name changed.
type GroupRename struct {
	ExternalID string `json:"externalId"`
	From       string `json:"from"`
	To         string `json:"to"`
}

// MembershipChange lists the members added to and removed from one group.
type MembershipChange struct {
	ExternalID string   `json:"externalId"`
	Name       string   `json:"name"`
	Added      []string `json:"added"`
	Removed    []string `json:"removed"`
}

// NoChanges is the Changes of an import equal to the previous one.
func NoChanges() *Changes {
	return &Changes{
		MembersAdded: []MemberRef{}, MembersRemoved: []MemberRef{}, MembersDeleted: []MemberRef{},
		MembersRestored: []MemberRef{}, EmailsChanged: []EmailChange{}, GroupsAdded: []GroupRef{},
		GroupsRemoved: []GroupRef{}, GroupsRenamed: []GroupRename{}, MembershipChanges: []MembershipChange{},
	}
}

// Diff compares the previous import (nil if none) with the next one.
func Diff(prev, next *bitwarden.ImportRequest) *Changes {
	c := NoChanges()
	if prev == nil {
		c.First = true
		prev = &bitwarden.ImportRequest{}
	}
	add := func(list *[]MemberRef, n *int, m bitwarden.ImportMember) {
		*n++
		if len(*list) < maxListed {
			*list = append(*list, MemberRef{ExternalID: m.ExternalID, Email: m.Email})
		} else {
			c.Truncated = true
		}
	}
	old := make(map[string]bitwarden.ImportMember, len(prev.Members))
	for _, m := range prev.Members {
		old[m.ExternalID] = m
	}
	seen := make(map[string]bool, len(next.Members))
	for _, m := range next.Members {
		seen[m.ExternalID] = true
		o, had := old[m.ExternalID]
		if had && m.Deleted && m.Email == "" {
			// A deleted account that lost its email (an AD tombstone) is
			// still the person pushed before: list them by that email,
			// and their email did not "change".
			m.Email = o.Email
		}
		switch {
		case !had && !m.Deleted:
			add(&c.MembersAdded, &c.Counts.MembersAdded, m)
		case !had && m.Deleted:
			add(&c.MembersDeleted, &c.Counts.MembersDeleted, m)
		case m.Deleted && !o.Deleted:
			add(&c.MembersDeleted, &c.Counts.MembersDeleted, m)
		case !m.Deleted && o.Deleted:
			add(&c.MembersRestored, &c.Counts.MembersRestored, m)
		}
		if had && o.Email != m.Email {
			c.Counts.EmailsChanged++
			if len(c.EmailsChanged) < maxListed {
				c.EmailsChanged = append(c.EmailsChanged, EmailChange{ExternalID: m.ExternalID, From: o.Email, To: m.Email})
			} else {
				c.Truncated = true
			}
		}
	}
	for _, m := range prev.Members {
		if !seen[m.ExternalID] && !m.Deleted {
			add(&c.MembersRemoved, &c.Counts.MembersRemoved, m)
		}
	}

	oldGroups := make(map[string]bitwarden.ImportGroup, len(prev.Groups))
	for _, g := range prev.Groups {
		oldGroups[g.ExternalID] = g
	}
	seenGroups := make(map[string]bool, len(next.Groups))
	for _, g := range next.Groups {
		seenGroups[g.ExternalID] = true
		o, had := oldGroups[g.ExternalID]
		if !had {
			c.Counts.GroupsAdded++
			if len(c.GroupsAdded) < maxListed {
				c.GroupsAdded = append(c.GroupsAdded, GroupRef{ExternalID: g.ExternalID, Name: g.Name})
			} else {
				c.Truncated = true
			}
		} else if o.Name != g.Name {
			c.Counts.GroupsRenamed++
			if len(c.GroupsRenamed) < maxListed {
				c.GroupsRenamed = append(c.GroupsRenamed, GroupRename{ExternalID: g.ExternalID, From: o.Name, To: g.Name})
			} else {
				c.Truncated = true
			}
		}
		added, removed := sortedDiff(o.MemberExternalIDs, g.MemberExternalIDs)
		if len(added) > 0 || len(removed) > 0 {
			c.Counts.GroupsChanged++
			c.Counts.MembershipsAdded += len(added)
			c.Counts.MembershipsRemoved += len(removed)
			if len(c.MembershipChanges) < maxGroupsListed {
				c.MembershipChanges = append(c.MembershipChanges, MembershipChange{
					ExternalID: g.ExternalID, Name: g.Name, Added: capList(added, &c.Truncated), Removed: capList(removed, &c.Truncated),
				})
			} else {
				c.Truncated = true
			}
		}
	}
	for _, g := range prev.Groups {
		if !seenGroups[g.ExternalID] {
			c.Counts.GroupsRemoved++
			if len(c.GroupsRemoved) < maxListed {
				c.GroupsRemoved = append(c.GroupsRemoved, GroupRef{ExternalID: g.ExternalID, Name: g.Name})
			} else {
				c.Truncated = true
			}
		}
	}
	return c
}

func capList(ids []string, truncated *bool) []string {
	if len(ids) > maxIDsListed {
		*truncated = true
		return ids[:maxIDsListed]
	}
	return ids
}

// sortedDiff returns what b has that a lacks and what a has that b lacks.
// Both inputs must be sorted (imports always are).
func sortedDiff(a, b []string) (added, removed []string) {
	if !slices.IsSorted(a) {
		a = slices.Sorted(slices.Values(a))
	}
	if !slices.IsSorted(b) {
		b = slices.Sorted(slices.Values(b))
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i] < b[j]):
			removed = append(removed, a[i])
			i++
		case i >= len(a) || b[j] < a[i]:
			added = append(added, b[j])
			j++
		default:
			i++
			j++
		}
	}
	return added, removed
}

// compressImport gzips an import's JSON for the sync state.
func compressImport(imp *bitwarden.ImportRequest) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err := writeImport(zw, imp); err != nil {
		return nil, fmt.Errorf("sync: compress import: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("sync: compress import: %w", err)
	}
	return buf.Bytes(), nil
}

// decompressImport reverses compressImport; nil in, nil out.
func decompressImport(b []byte) (*bitwarden.ImportRequest, error) {
	if len(b) == 0 {
		return nil, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("sync: read last import: %w", err)
	}
	defer zr.Close()
	var imp bitwarden.ImportRequest
	if err := json.NewDecoder(io.LimitReader(zr, 1<<30)).Decode(&imp); err != nil {
		return nil, fmt.Errorf("sync: read last import: %w", err)
	}
	return &imp, nil
}
