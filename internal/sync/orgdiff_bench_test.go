package sync

import (
	"context"
	"fmt"
	"testing"

	"github.com/dirsync/dirsync/internal/bitwarden"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/config"
)

// BenchmarkOrgRead measures reading an organization of 5,000 members and
// 2,000 groups (10 members each) from the fake over HTTP, and predicting
// an import that renames every group and changes one member of each.
func BenchmarkOrgRead(b *testing.B) {
	bw := bwtest.New(bwtest.Options{SelfHosted: true})
	defer bw.Close()
	const members, groups = 5000, 2000
	ids := make([]string, members)
	imp := &bitwarden.ImportRequest{LargeImport: true, Members: make([]bitwarden.ImportMember, 0, members)}
	for i := range members {
		ext := fmt.Sprintf("00u%017d", i)
		ids[i] = bw.AddMember(fmt.Sprintf("user%d@corp.example", i), ext, bwtest.User).ID
		imp.Members = append(imp.Members, bitwarden.ImportMember{Email: fmt.Sprintf("user%d@corp.example", i), ExternalID: ext})
	}
	for g := range groups {
		ext := fmt.Sprintf("00g%017d", g)
		mids := make([]string, 0, 10)
		exts := make([]string, 0, 10)
		for k := range 10 {
			i := (g*7 + k*13) % members
			mids = append(mids, ids[i])
			exts = append(exts, fmt.Sprintf("00u%017d", (i+k)%members))
		}
		bw.AddGroup(fmt.Sprintf("Group %d", g), ext, mids...)
		imp.Groups = append(imp.Groups, bitwarden.ImportGroup{Name: fmt.Sprintf("Group %d renamed", g), ExternalID: ext, MemberExternalIDs: exts})
	}
	c, err := bitwarden.New(bitwarden.Config{Server: bw.URL, ClientID: bw.ClientID(), ClientSecret: bw.ClientSecret()})
	if err != nil {
		b.Fatal(err)
	}
	e := &Engine{}
	b.ResetTimer()
	for b.Loop() {
		pr, err := e.predictPush(context.Background(), 0, config.Settings{}, c, &Plan{Batches: batches(imp)})
		if err != nil {
			b.Fatal(err)
		}
		if d := pr.diff; d.Counts.GroupsRenamed != groups {
			b.Fatalf("renamed %d", d.Counts.GroupsRenamed)
		}
	}
}

// BenchmarkPredictLarge predicts a 100,000-member import (50 member
// batches and a group batch) into an organization that already holds
// every member, 1% of them invited, with overwriteExisting on, so the
// master-password checks, SafeBatches and the per-batch rules all run.
func BenchmarkPredictLarge(b *testing.B) {
	const n, groups = 100_000, 2000
	members := make([]bitwarden.Member, n)
	imp := &bitwarden.ImportRequest{LargeImport: true, OverwriteExisting: true, Members: make([]bitwarden.ImportMember, 0, n)}
	for i := range n {
		ext := fmt.Sprintf("00u%017d", i)
		email := fmt.Sprintf("user%d@corp.example", i)
		m := bitwarden.Member{ID: fmt.Sprintf("m%d", i), UserID: fmt.Sprintf("u%d", i), Email: email, ExternalID: ext, Type: bitwarden.MemberTypeUser, Status: bitwarden.MemberStatusConfirmed}
		if i%100 == 0 {
			m.UserID, m.Status = "", bitwarden.MemberStatusInvited
		}
		members[i] = m
		if i%50 != 0 { // 2% left the directory: half of them invited
			imp.Members = append(imp.Members, bitwarden.ImportMember{Email: email, ExternalID: ext})
		}
	}
	gs := make([]bitwarden.Group, groups)
	for g := range groups {
		ext := fmt.Sprintf("00g%017d", g)
		gs[g] = bitwarden.Group{ID: fmt.Sprintf("g%d", g), Name: ext, ExternalID: ext}
		imp.Groups = append(imp.Groups, bitwarden.ImportGroup{Name: ext, ExternalID: ext, MemberExternalIDs: []string{fmt.Sprintf("00u%017d", g*3)}})
	}
	bs := batches(imp)
	b.ResetTimer()
	for b.Loop() {
		safe, kept, _ := SafeBatches(members, bs)
		d := PredictOrgDiffWith(OrgInput{Members: members, Groups: gs, Batches: safe})
		if len(d.Problems) > 0 || len(kept) != 1000 {
			b.Fatalf("problems %v kept %d", d.Problems, len(kept))
		}
	}
}

// BenchmarkPredictVaultwarden predicts, from the last push, a 10,000-member
// import with 500 groups of 200 members (100,000 memberships) on a server
// that lists nothing (Vaultwarden): every group membership is resolved by
// externalId.
func BenchmarkPredictVaultwarden(b *testing.B) {
	const n, groups, per = 10_000, 500, 200
	imp := &bitwarden.ImportRequest{LargeImport: true, Members: make([]bitwarden.ImportMember, 0, n)}
	for i := range n {
		imp.Members = append(imp.Members, bitwarden.ImportMember{Email: fmt.Sprintf("user%d@corp.example", i), ExternalID: fmt.Sprintf("00u%017d", i)})
	}
	for g := range groups {
		ids := make([]string, per)
		for j := range per {
			ids[j] = fmt.Sprintf("00u%017d", (g*per+j)%n)
		}
		ext := fmt.Sprintf("00g%017d", g)
		imp.Groups = append(imp.Groups, bitwarden.ImportGroup{Name: ext, ExternalID: ext, MemberExternalIDs: ids})
	}
	bs := batches(imp)
	b.ResetTimer()
	for b.Loop() {
		if d := PredictVaultwarden(imp, VaultwardenBatches(bs)); d.OrgMemberships != groups*per {
			b.Fatalf("%d memberships before, want %d", d.OrgMemberships, groups*per)
		}
	}
}
