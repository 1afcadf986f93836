// Package oktatest is an in-process fake Okta org served over real HTTP, for
// tests, benchmarks and the console's demo mode. It follows Okta's documented
// behaviour where dirsync depends on it: SSWS auth, opaque page cursors in
// Link headers, page caps, the default user list omitting DEPROVISIONED
// users, the filter= grammar, rate-limit headers and 429s per bucket.
package oktatest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Okta user statuses used by the fake.
const (
	StatusActive        = "ACTIVE"
	StatusStaged        = "STAGED"
	StatusProvisioned   = "PROVISIONED"
	StatusSuspended     = "SUSPENDED"
	StatusDeprovisioned = "DEPROVISIONED"
	StatusLockedOut     = "LOCKED_OUT"
)

// Okta group types.
const (
	GroupTypeOkta = "OKTA_GROUP"
	GroupTypeApp  = "APP_GROUP"
)

// User is one Okta user as the fake stores it.
type User struct {
	ID          string
	Status      string
	Created     time.Time
	LastUpdated time.Time
	Login       string
	Email       string
	FirstName   string
	LastName    string
}

// Group is one Okta group; Members holds user ids sorted ascending (the
// order in which member pages are served).
type Group struct {
	ID                    string
	Type                  string
	Name                  string
	Description           string
	Created               time.Time
	LastUpdated           time.Time
	LastMembershipUpdated time.Time
	Members               []string
}

// Org is a whole fake Okta org. Users and Groups are kept sorted by id, so
// a cursor (the last id served) stays valid while the org changes.
type Org struct {
	Users  []*User
	Groups []*Group
}

// Clone returns a deep copy.
func (o *Org) Clone() *Org {
	if o == nil {
		return &Org{}
	}
	c := &Org{Users: make([]*User, len(o.Users)), Groups: make([]*Group, len(o.Groups))}
	for i, u := range o.Users {
		cu := *u
		c.Users[i] = &cu
	}
	for i, g := range o.Groups {
		cg := *g
		cg.Members = slices.Clone(g.Members)
		c.Groups[i] = &cg
	}
	return c
}

// User returns the user with id, or nil.
func (o *Org) User(id string) *User {
	i, ok := slices.BinarySearchFunc(o.Users, id, func(u *User, id string) int { return cmp.Compare(u.ID, id) })
	if !ok {
		return nil
	}
	return o.Users[i]
}

// Group returns the group with id, or nil.
func (o *Org) Group(id string) *Group {
	i, ok := slices.BinarySearchFunc(o.Groups, id, func(g *Group, id string) int { return cmp.Compare(g.ID, id) })
	if !ok {
		return nil
	}
	return o.Groups[i]
}

// GroupByName returns the first group named name, or nil.
func (o *Org) GroupByName(name string) *Group {
	for _, g := range o.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// normalize sorts users, groups and members by id so cursors work.
func (o *Org) normalize() {
	slices.SortFunc(o.Users, func(a, b *User) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(o.Groups, func(a, b *Group) int { return cmp.Compare(a.ID, b.ID) })
	for _, g := range o.Groups {
		slices.Sort(g.Members)
		g.Members = slices.Compact(g.Members)
	}
}

// Spec describes a generated org. Counts of special users are taken from
// the front of the user list in this order: Deprovisioned, Suspended,
// NoEmail, then DuplicateEmails (each shares the email of an ordinary
// ACTIVE user, upper-cased). Special groups are the first LongGroupNames
// (names over 100 characters) then EmptyGroups (no members).
type Spec struct {
	Users           int
	Groups          int
	MembersPerGroup int
	Deprovisioned   int
	Suspended       int
	DuplicateEmails int
	LongGroupNames  int
	EmptyGroups     int
	NoEmail         int
	Seed            int64
}

// Epoch is the base time of generated timestamps.
var Epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

const idChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewID returns an Okta-looking 20-character id with the given 3-character
// prefix ("00u" users, "00g" groups) drawn from r.
func NewID(prefix string, r *rand.Rand) string {
	var b strings.Builder
	b.Grow(20)
	b.WriteString(prefix)
	for b.Len() < 20 {
		b.WriteByte(idChars[r.IntN(len(idChars))])
	}
	return b.String()
}

// Generate builds a deterministic org from spec: the same spec gives the
// same ids, names and memberships.
func Generate(spec Spec) *Org {
	r := rand.New(rand.NewPCG(uint64(spec.Seed), 0x6f6b7461))
	o := &Org{Users: make([]*User, 0, spec.Users), Groups: make([]*Group, 0, spec.Groups)}
	seen := make(map[string]struct{}, spec.Users+spec.Groups)
	uniqueID := func(prefix string) string {
		for {
			id := NewID(prefix, r)
			if _, dup := seen[id]; !dup {
				seen[id] = struct{}{}
				return id
			}
		}
	}
	special := spec.Deprovisioned + spec.Suspended + spec.NoEmail + spec.DuplicateEmails
	for i := range spec.Users {
		t := Epoch.Add(time.Duration(i) * time.Second)
		u := &User{
			ID: uniqueID("00u"), Status: StatusActive, Created: t, LastUpdated: t,
			FirstName: fmt.Sprintf("First%d", i), LastName: fmt.Sprintf("Last%d", i),
			Email: fmt.Sprintf("user%06d@example.com", i),
		}
		if i%10 == 9 {
			// Okta keeps the case the admin typed; dirsync must lower-case it.
			u.Email = strings.ToUpper(u.Email)
		}
		switch {
		case i < spec.Deprovisioned:
			u.Status = StatusDeprovisioned
		case i < spec.Deprovisioned+spec.Suspended:
			u.Status = StatusSuspended
		case i < spec.Deprovisioned+spec.Suspended+spec.NoEmail:
			u.Email = ""
		case i < special:
			// Share the email of an ordinary user further down the list.
			if j := special + (i - (special - spec.DuplicateEmails)); j < spec.Users {
				u.Email = strings.ToUpper(fmt.Sprintf("user%06d@example.com", j))
			}
		}
		u.Login = u.Email
		if u.Login == "" {
			u.Login = fmt.Sprintf("nomail%06d", i)
		}
		o.Users = append(o.Users, u)
	}
	for i := range spec.Groups {
		t := Epoch.Add(time.Duration(i) * time.Minute)
		g := &Group{
			ID: uniqueID("00g"), Type: GroupTypeOkta, Name: fmt.Sprintf("Group %04d", i),
			Description: fmt.Sprintf("Generated group %d", i), Created: t, LastUpdated: t, LastMembershipUpdated: t,
		}
		if i%5 == 4 {
			g.Type = GroupTypeApp
		}
		if i < spec.LongGroupNames {
			g.Name = fmt.Sprintf("Group %04d %s", i, strings.Repeat("with a very long name ", 6))
		}
		if empty := i >= spec.LongGroupNames && i < spec.LongGroupNames+spec.EmptyGroups; !empty && len(o.Users) > 0 {
			n := min(spec.MembersPerGroup, len(o.Users))
			g.Members = make([]string, 0, n)
			// A random start and an odd stride give n distinct users cheaply.
			start, stride := r.IntN(len(o.Users)), 1+2*r.IntN(7)
			picked := make(map[int]struct{}, n)
			for k := 0; len(g.Members) < n; k++ {
				idx := (start + k*stride) % len(o.Users)
				if _, dup := picked[idx]; dup {
					idx = (start + k) % len(o.Users)
					if _, dup := picked[idx]; dup {
						continue
					}
				}
				picked[idx] = struct{}{}
				g.Members = append(g.Members, o.Users[idx].ID)
			}
		}
		o.Groups = append(o.Groups, g)
	}
	o.normalize()
	return o
}
