package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

var runsEpoch = time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)

// seedRuns records n finished runs, run i (1-based) started i minutes
// after runsEpoch and lasting i seconds; every 7th failed.
func seedRuns(t testing.TB, st *store.Store, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 1; i <= n; i++ {
		r := store.Run{ProfileID: store.DefaultProfile, Trigger: []string{"schedule", "manual", "cli"}[i%3], StartedAt: runsEpoch.Add(time.Duration(i) * time.Minute)}
		if err := st.CreateRun(ctx, &r); err != nil {
			t.Fatal(err)
		}
		end := r.StartedAt.Add(time.Duration(i) * time.Second)
		r.FinishedAt = &end
		r.Status = store.StatusSuccess
		r.Counts = store.RunCounts{Members: 1000 + i, Groups: i % 13}
		if i%7 == 0 {
			r.Status = store.StatusFailed
			r.Error = fmt.Sprintf("okta: GET /api/v1/users: 401 E0000011 Invalid token provided; run %d %s", i, strings.Repeat("long tail ", 20))
		}
		if err := st.FinishRun(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
}

func runIDs(d *goquery.Document) []int64 {
	var ids []int64
	testid(d, "history-row").Each(func(_ int, s *goquery.Selection) {
		id, _ := strconv.ParseInt(s.AttrOr("data-run-id", ""), 10, 64)
		ids = append(ids, id)
	})
	return ids
}

func TestHistoryPages(t *testing.T) {
	e := newEnv(t, true)
	seedRuns(t, e.st, 120)
	c := e.client()
	e.login(c)

	tests := []struct {
		path          string
		first, last   int64
		current, note string
	}{
		{"/history", 120, 71, "Page 1 of 3", "120 runs · page 1 of 3"},
		{"/history?page=2", 70, 21, "Page 2 of 3", "120 runs · page 2 of 3"},
		{"/history?page=3", 20, 1, "Page 3 of 3", "120 runs · page 3 of 3"},
		{"/history?page=99", 20, 1, "Page 3 of 3", "120 runs · page 3 of 3"},
		{"/history?page=0", 120, 71, "Page 1 of 3", "120 runs · page 1 of 3"},
		{"/history?page=x", 120, 71, "Page 1 of 3", "120 runs · page 1 of 3"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			r := e.get(c, tc.path)
			wantStatus(t, r, http.StatusOK)
			d := r.doc(t)
			ids := runIDs(d)
			if len(ids) == 0 || ids[0] != tc.first || ids[len(ids)-1] != tc.last {
				t.Fatalf("runs %v…, want %d … %d", ids[:min(3, len(ids))], tc.first, tc.last)
			}
			for i := 1; i < len(ids); i++ {
				if ids[i] != ids[i-1]-1 {
					t.Fatalf("not newest first: %d after %d", ids[i], ids[i-1])
				}
			}
			if got := strings.TrimSpace(testid(d, "page-current").Text()); got != tc.current {
				t.Errorf("pager %q, want %q", got, tc.current)
			}
			if got := strings.TrimSpace(testid(d, "history-summary").Text()); got != tc.note {
				t.Errorf("summary %q, want %q", got, tc.note)
			}
		})
	}

	t.Run("row contents", func(t *testing.T) {
		d := e.get(c, "/history?page=3").doc(t)
		row := testid(d, "history-row").FilterFunction(func(_ int, s *goquery.Selection) bool {
			return s.AttrOr("data-run-id", "") == "14"
		})
		cell := func(id string) string { return strings.TrimSpace(row.Find(`[data-testid="` + id + `"]`).Text()) }
		want := map[string]string{
			"run-link": "14", "run-started": "2026-02-01 08:14:00 UTC", "run-trigger": "cli",
			"status-badge": "failed", "run-duration": "14.0 s", "run-members": "1014", "run-groups": "1",
		}
		for id, w := range want {
			if got := cell(id); got != w {
				t.Errorf("%s = %q, want %q", id, got, w)
			}
		}
		if href := row.Find(`[data-testid="run-link"]`).AttrOr("href", ""); href != "/history/14" {
			t.Errorf("run link %q", href)
		}
		errText := cell("run-error")
		if !strings.HasPrefix(errText, "okta: GET /api/v1/users: 401 E0000011") || !strings.HasSuffix(errText, "…") || len([]rune(errText)) > errorExcerptLen+1 {
			t.Errorf("error excerpt %q", errText)
		}
	})

	t.Run("no runs", func(t *testing.T) {
		e2 := newEnv(t, true)
		c2 := e2.client()
		e2.login(c2)
		d := e2.get(c2, "/history").doc(t)
		if testid(d, "history-empty").Length() != 1 || testid(d, "history-pager").Length() != 0 {
			t.Error("an empty history is not explained, or has a pager")
		}
	})
}

func TestRunPage(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	c := e.client()
	e.login(c)

	changes := dsync.Changes{
		MembersAdded:      []dsync.MemberRef{{ExternalID: "00uA", Email: "new@example.com"}},
		MembersDeleted:    []dsync.MemberRef{{ExternalID: "00uB", Email: "gone@example.com"}},
		EmailsChanged:     []dsync.EmailChange{{ExternalID: "00uC", From: "old@example.com", To: "renamed@example.com"}},
		GroupsRenamed:     []dsync.GroupRename{{ExternalID: "00gA", From: "Eng", To: "Engineering"}},
		MembershipChanges: []dsync.MembershipChange{{ExternalID: "00gA", Name: "Engineering", Added: []string{"00uA"}, Removed: []string{"00uD", "00uE"}}},
		Counts: dsync.ChangeCounts{MembersAdded: 700, MembersDeleted: 1, EmailsChanged: 1, GroupsRenamed: 1,
			GroupsChanged: 1, MembershipsAdded: 1, MembershipsRemoved: 2},
		Truncated: true,
		Bitwarden: &dsync.OrgDiff{OrgMembers: 40, SyncedMembers: 30,
			Removals: []dsync.Removal{{ExternalID: "00uB", Email: "gone@example.com", Reason: dsync.RemovalDeleted}},
			Counts:   dsync.OrgDiffCounts{Removals: 1, RemovalsDeleted: 1}},
	}
	cj, _ := json.Marshal(changes)
	tj, _ := json.Marshal(dsync.Timings{ReadMS: 1500, PlanMS: 20, PushMS: 300, TotalMS: 1830})
	done := runsEpoch.Add(1830 * time.Millisecond)
	runs := []store.Run{
		{Trigger: "schedule", Status: store.StatusSuccess, Warnings: []string{"user 00uX left out: no email address in Okta"},
			Changes: cj, Timings: tj, Counts: store.RunCounts{Users: 731, Members: 730, Deleted: 1, Groups: 12}},
		{Trigger: "manual", Status: store.StatusFailed, Error: "okta: GET /api/v1/groups: 403 E0000006 You do not have permission"},
		{Trigger: "schedule", Status: store.StatusHeld, Changes: cj, Counts: store.RunCounts{Removals: 31}},
	}
	for i := range runs {
		r := &runs[i]
		r.ProfileID, r.StartedAt, r.FinishedAt = store.DefaultProfile, runsEpoch, &done
		if err := e.st.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := e.st.FinishRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	path := func(i int) string { return fmt.Sprintf("/history/%d", runs[i].ID) }

	t.Run("success with changes", func(t *testing.T) {
		r := e.get(c, path(0))
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		for id, want := range map[string]string{
			"run-trigger": "schedule", "run-duration": "1.8 s", "run-started": "2026-02-01 08:00:00 UTC",
			"timing-read": "1.5 s", "timing-plan": "20 ms", "timing-push": "300 ms", "timing-total": "1.8 s",
			"count-users": "731",
		} {
			if got := strings.TrimSpace(testid(d, id).First().Text()); got != want {
				t.Errorf("%s = %q, want %q", id, got, want)
			}
		}
		counts := testid(d, "changes-counts")
		for id, want := range map[string]string{
			"members-added": "700", "members-deleted": "1", "memberships-removed": "2", "groups-renamed": "1",
		} {
			if got := strings.TrimSpace(counts.Find(`[data-testid="count-` + id + `"]`).Text()); got != want {
				t.Errorf("changes %s = %q, want %q", id, got, want)
			}
		}
		if got := testid(d, "warning").Text(); !strings.Contains(got, "left out: no email") {
			t.Errorf("warnings %q", got)
		}
		added := testid(d, "changes-members-added")
		if !strings.Contains(added.Text(), "new@example.com") || !strings.Contains(added.Text(), "699 more") {
			t.Errorf("members added list %q", added.Text())
		}
		if got := testid(d, "changes-emails-changed").Text(); !strings.Contains(got, "old@example.com → renamed@example.com") {
			t.Errorf("emails changed %q", got)
		}
		if got := testid(d, "changes-groups-renamed").Text(); !strings.Contains(got, "Eng → Engineering") {
			t.Errorf("groups renamed %q", got)
		}
		m := testid(d, "membership-change").First()
		// Members the record names are shown by email, not by id.
		if !strings.Contains(m.Find(`[data-testid="membership-added"]`).Text(), "new@example.com") ||
			!strings.Contains(m.Find(`[data-testid="membership-removed"]`).Text(), "00uE") {
			t.Errorf("membership change %q", m.Text())
		}
		if testid(d, "changes-truncated").Length() != 1 {
			t.Error("truncation not noted")
		}
		if got := testid(d, "bitwarden-removals").Text(); !strings.Contains(got, "gone@example.com") {
			t.Errorf("Bitwarden removals %q", got)
		}
		if testid(d, "held-explanation").Length() != 0 || testid(d, "run-error").Length() != 0 {
			t.Error("a successful run shows a hold or an error")
		}
	})
	t.Run("failed", func(t *testing.T) {
		d := e.get(c, path(1)).doc(t)
		if got := testid(d, "run-error-message").Text(); !strings.Contains(got, "403 E0000006") {
			t.Errorf("error %q", got)
		}
		if strings.TrimSpace(testid(d, "status-badge").Text()) != "failed" || testid(d, "changes").Length() != 0 {
			t.Error("a failed run without changes shows the wrong status or changes")
		}
	})
	t.Run("held", func(t *testing.T) {
		d := e.get(c, path(2)).doc(t)
		if testid(d, "held-explanation").Length() != 1 || testid(d, "held-actions").Length() != 1 {
			t.Error("a held run is not explained or has no action slot")
		}
		if got := strings.TrimSpace(testid(d, "run-counts").Find(`[data-testid="count-removals"]`).Text()); got != "31" {
			t.Errorf("removals %q", got)
		}
	})
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/history/999999", http.StatusNotFound},
		{"/history/abc", http.StatusBadRequest},
		{"/history/0", http.StatusBadRequest},
		{"/history/-3", http.StatusBadRequest},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := e.get(c, tc.path)
			wantStatus(t, r, tc.status)
			if testid(r.doc(t), "error-page").Length() != 1 {
				t.Error("no error page")
			}
		})
	}
}

// A real sync over the fakes shows up in History with its changes.
func TestHistoryAfterRealSync(t *testing.T) {
	p := newPreviewEnv(t, previewOrg(), nil)
	eng := p.srv.engine
	if _, err := eng.Run(context.Background(), store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	p.okta.AddUser(oktatest.User{Status: oktatest.StatusActive, Email: "late@example.com", Login: "late@example.com"})
	if _, err := eng.Run(context.Background(), store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerSchedule}); err != nil {
		t.Fatal(err)
	}
	d := p.get(p.c, "/history").doc(t)
	ids := runIDs(d)
	if len(ids) != 2 {
		t.Fatalf("history lists %v", ids)
	}
	r := p.get(p.c, fmt.Sprintf("/history/%d", ids[0]))
	wantStatus(t, r, http.StatusOK)
	rd := r.doc(t)
	if got := strings.TrimSpace(testid(rd, "changes-counts").Find(`[data-testid="count-members-added"]`).Text()); got != "1" {
		t.Errorf("members added %q, want 1", got)
	}
	if !strings.Contains(testid(rd, "changes-members-added").Text(), "late@example.com") {
		t.Error("the new member is not listed")
	}
	if got := strings.TrimSpace(testid(rd, "run-trigger").Text()); got != "schedule" {
		t.Errorf("trigger %q", got)
	}
	// The scheduled run read only the changed users and sent only them.
	if got := countOf(t, r, "okta-read"); !strings.HasPrefix(got, "changed users only") {
		t.Errorf("okta read %q, want a delta read", got)
	}
	if got := countOf(t, r, "push-kind"); got != "changes only (1 members, 0 groups)" {
		t.Errorf("sent %q, want the one new member", got)
	}
	firstPage := p.get(p.c, fmt.Sprintf("/history/%d", ids[1]))
	first := firstPage.doc(t)
	if testid(first, "changes-first").Length() != 1 {
		t.Error("the first push does not say it had nothing to compare with")
	}
	if got := countOf(t, firstPage, "okta-read"); !strings.HasPrefix(got, "full (") {
		t.Errorf("first run's okta read %q, want full", got)
	}
	if got := countOf(t, firstPage, "push-kind"); !strings.HasPrefix(got, "everything (") {
		t.Errorf("first run sent %q, want everything", got)
	}
}
