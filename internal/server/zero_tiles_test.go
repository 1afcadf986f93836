package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/store"
)

// noZeros fails when the verdict's numbers line or a counts grid of the
// page shows a zero: a tile for nothing, or a claim ("0 users read") that
// a run which never read cannot make.
func noZeros(t *testing.T, what string, d *goquery.Document) {
	t.Helper()
	testid(d, "verdict-numbers").Find("li strong").Each(func(_ int, s *goquery.Selection) {
		if strings.TrimSpace(s.Text()) == "0" {
			t.Errorf("%s: a zero in the verdict's numbers: %q", what, strings.Join(strings.Fields(testid(d, "verdict-numbers").Text()), " "))
		}
	})
	d.Find("dl.counts dd").Each(func(_ int, s *goquery.Selection) {
		if strings.TrimSpace(s.Text()) == "0" {
			id, _ := s.Attr("data-testid")
			t.Errorf("%s: a zero tile %s", what, id)
		}
	})
}

// TestNoZeroTiles walks the pages with numbers lines — a test with groups
// off, a run that failed before reading, the dashboard and History — and
// wants no zero among them.
func TestNoZeroTiles(t *testing.T) {
	t.Run("test preview, groups off", func(t *testing.T) {
		p := newPreviewEnv(t, previewOrg(), func(s *config.Settings) { s.Sync.Groups = false })
		page, _ := p.runTest(nil)
		d := page.doc(t)
		if testid(d, "verdict-numbers").Length() != 1 {
			t.Fatalf("no numbers line:\n%.2000s", page.body)
		}
		noZeros(t, "test", d)
		if testid(d, "number-groups").Length() != 0 || testid(d, "count-cannot-remove").Length() != 0 {
			t.Error("a zero count is shown")
		}
	})

	t.Run("a run that failed before reading", func(t *testing.T) {
		e := newEnv(t, true)
		c := e.client()
		e.login(c)
		ctx := context.Background()
		at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		run := &store.Run{ProfileID: store.DefaultProfile, Trigger: "schedule", Status: store.StatusFailed, StartedAt: at, FinishedAt: &at,
			Error: "okta: GET /api/v1/users: 401 Unauthorized: E0000011 Invalid token provided"}
		if err := e.st.CreateRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		if err := e.st.FinishRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		r := e.get(c, fmt.Sprintf("/history/%d", run.ID))
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		noZeros(t, "run page", d)
		if testid(d, "number-users").Length() != 0 {
			t.Error("a run that read nothing says how many users it read")
		}
		d = e.get(c, "/history").doc(t)
		for _, id := range []string{"run-members", "run-groups"} {
			if got := strings.TrimSpace(testid(d, id).First().Text()); got != "—" {
				t.Errorf("History's %s is %q for a run that read nothing, want —", id, got)
			}
		}
		d = e.get(c, "/").doc(t)
		if testid(d, "last-run-counts").Length() != 0 {
			t.Errorf("the dashboard says %q of a run that read nothing", testid(d, "last-run-counts").Text())
		}
	})
}
