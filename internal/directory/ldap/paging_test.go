package ldap

import (
	"testing"

	"github.com/dirsync/dirsync/internal/directory"
)

// TestPageSizeRefused: a server that refuses the page size (OpenLDAP's
// size.pr, result 11) gets smaller pages instead of failing the read.
func TestPageSizeRefused(t *testing.T) {
	findSlapd(t)
	s := startSlapd(t, slapdOptions{ldif: testDirectory(), sizeLimit: 1000, pageLimit: 3})
	cfg := s.config() // pages of 4
	snap := read(t, cfg, directory.ReadOptions{Users: true, Groups: true})
	if len(snap.Users) != 15 || len(snap.Groups) != 8 {
		t.Errorf("read %d users and %d groups, want 15 and 8", len(snap.Users), len(snap.Groups))
	}
	// Users: the refused page, then 8 pages of 2; groups: 4 pages of 2
	// (the smaller size is kept, nothing refused again).
	if snap.Stats.Requests != 13 {
		t.Errorf("%d searches, want 13", snap.Stats.Requests)
	}
}
