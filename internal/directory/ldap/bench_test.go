package ldap

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/directory"
)

// BenchmarkReadLDAP10k reads 10,000 users in 500 groups (20 direct members
// each; every tenth group also nests the next one) from a local slapd with
// a size limit of 1,000 (AD's MaxPageSize) in pages of 500, and reports
// the searches and wall time of one full read.
func BenchmarkReadLDAP10k(b *testing.B) {
	const users, groups, perGroup = 10000, 500, 20
	findSlapd(b)
	var l ldif
	l.base()
	for i := range users {
		l.user(fmt.Sprintf("user%05d", i), fmt.Sprintf("user%05d@example.com", i))
	}
	for g := range groups {
		var members []string
		for j := range perGroup {
			members = append(members, dnOf(fmt.Sprintf("user%05d", (g*perGroup+j)%users)))
		}
		if g%10 == 0 && g+1 < groups {
			members = append(members, gdn(fmt.Sprintf("group%03d", g+1)))
		}
		l.group(fmt.Sprintf("group%03d", g), members...)
	}
	setup := time.Now()
	s := startSlapd(b, slapdOptions{ldif: l.b.String(), sizeLimit: 1000})
	b.Logf("slapd loaded with %d users and %d groups in %s", users, groups, time.Since(setup).Round(time.Millisecond))
	cfg := s.config()
	cfg.PageSize = 500
	src, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	var snap *directory.Snapshot
	b.ResetTimer()
	for b.Loop() {
		snap, err = src.Read(context.Background(), directory.ReadOptions{Users: true, Groups: true})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if len(snap.Users) != users || len(snap.Groups) != groups {
		b.Fatalf("read %d users and %d groups", len(snap.Users), len(snap.Groups))
	}
	b.ReportMetric(float64(snap.Stats.Requests), "searches/read")
	b.ReportMetric(float64(snap.Stats.Duration.Milliseconds()), "ms/read")
}

// BenchmarkReadADBigGroup reads the 2,000-member group of the Samba AD DC
// (samba_test.go) with the users it matches against: range retrieval in
// two answers of at most 1,500 members, users in pages of 500.
func BenchmarkReadADBigGroup(b *testing.B) {
	dc := sharedSamba(b)
	gf, err := directory.ParseFilter("|(name=Big)")
	if err != nil {
		b.Fatal(err)
	}
	src, err := New(dc.config(), nil)
	if err != nil {
		b.Fatal(err)
	}
	var snap *directory.Snapshot
	for b.Loop() {
		snap, err = src.Read(context.Background(), directory.ReadOptions{Users: true, Groups: true, GroupFilter: gf})
		if err != nil {
			b.Fatal(err)
		}
	}
	if len(snap.Groups) != 1 || len(snap.Groups[0].MemberIDs) != adBigMembers {
		b.Fatalf("read %v", snap.Groups)
	}
	b.ReportMetric(float64(snap.Stats.Requests), "searches/read")
	b.ReportMetric(float64(snap.Stats.Duration.Milliseconds()), "ms/read")
}
