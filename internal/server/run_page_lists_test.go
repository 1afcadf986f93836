package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// TestRunPageVerdictAndPagedLists records a run with 1,000 invites and a
// membership change named by id, and checks the page: the verdict says
// what the sync did with one source for each number, the invite list
// shows its first entries with a link to the whole list, which is paged
// and searched on the server, and members are named by email.
func TestRunPageVerdictAndPagedLists(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	ch := dsync.Changes{Counts: dsync.ChangeCounts{MembersAdded: 1000, GroupsChanged: 1, MembershipsAdded: 1},
		Bitwarden: &dsync.OrgDiff{OrgMembers: 1000, SyncedMembers: 1000, Counts: dsync.OrgDiffCounts{Invites: 1000, GroupsCreated: 1}}}
	for i := range 1000 {
		ref := dsync.MemberRef{ExternalID: fmt.Sprintf("00u%06d", i), Email: fmt.Sprintf("user%06d@example.com", i)}
		ch.MembersAdded = append(ch.MembersAdded, ref)
		ch.Bitwarden.Invites = append(ch.Bitwarden.Invites, ref)
	}
	ch.MembershipChanges = []dsync.MembershipChange{{ExternalID: "00g1", Name: "Engineering", Added: []string{"00u000007"}}}
	cj, err := json.Marshal(ch)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	end := start.Add(time.Minute)
	run := store.Run{ProfileID: store.DefaultProfile, Trigger: "manual", Status: store.StatusSuccess, StartedAt: start, FinishedAt: &end,
		Changes: cj, Counts: store.RunCounts{Users: 1000, Members: 1000, Groups: 1, Invites: 1000, Batches: 1}}
	if err := e.st.CreateRun(context.Background(), &run); err != nil {
		t.Fatal(err)
	}
	dry := run
	dry.ID, dry.Status = 0, store.StatusDryRun
	if err := e.st.CreateRun(context.Background(), &dry); err != nil {
		t.Fatal(err)
	}

	page := e.get(c, fmt.Sprintf("/history/%d", run.ID))
	wantStatus(t, page, http.StatusOK)
	d := page.doc(t)
	if got := testid(d, "verdict-text").Text(); got != "This sync invited 1000 and created 1 group." {
		t.Errorf("verdict %q", got)
	}
	if got := strings.Join(strings.Fields(testid(d, "number-invites").Text()), " "); got != "1000 invites" {
		t.Errorf("invites number %q", got)
	}
	invites := testid(d, "bitwarden-invites")
	if n := invites.Find(`[data-testid="change-item"]`).Length(); n != 10 {
		t.Errorf("%d invites inline, want 10", n)
	}
	more, _ := invites.Find(`[data-testid="change-list-more"]`).Attr("href")
	if !strings.Contains(more, "list=bitwarden-invites") {
		t.Fatalf("no link to the whole list: %q", more)
	}
	if got := testid(d, "membership-added").Text(); !strings.Contains(got, "user000007@example.com") || strings.Contains(got, "00u000007") {
		t.Errorf("membership named by id: %q", got)
	}
	if got := testid(d, "run-counts").Find(`[data-testid="count-batches"]`).Parent().Text(); !strings.Contains(got, "Imports sent") {
		t.Errorf("batches tile %q", got)
	}

	// The whole list: page 20 of 50 per page is the last one.
	d = e.get(c, fmt.Sprintf("/history/%d?list=bitwarden-invites&page=20", run.ID)).doc(t)
	items := testid(d, "item-page").Find(`[data-testid="change-item"]`)
	if items.Length() != 50 || !strings.Contains(items.Last().Text(), "user000999@example.com") {
		t.Errorf("page 20: %d items, last %q", items.Length(), items.Last().Text())
	}
	d = e.get(c, fmt.Sprintf("/history/%d?list=bitwarden-invites&q=USER00050", run.ID)).doc(t)
	if got := testid(d, "item-matches").Text(); !strings.Contains(got, "10 of 1000") {
		t.Errorf("search matches %q", got)
	}

	// A run that sent nothing does not say it sent an import.
	d = e.get(c, fmt.Sprintf("/history/%d", dry.ID)).doc(t)
	if got := testid(d, "run-counts").Find(`[data-testid="count-batches"]`).Parent().Text(); !strings.Contains(got, "not sent") {
		t.Errorf("dry run's batches tile %q", got)
	}
	if got := testid(d, "verdict-text").Text(); !strings.HasPrefix(got, "A dry run: a sync would invite 1000") {
		t.Errorf("dry-run verdict %q", got)
	}
}
