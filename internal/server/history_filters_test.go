package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/store"
)

// seedMixedRuns records runs of several statuses and triggers; run 2 (a
// failed manual one) and run 3 (a successful CLI one with changes) are
// the ones the filters pick.
func seedMixedRuns(t *testing.T, st *store.Store) {
	t.Helper()
	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for i, r := range []store.Run{
		{Trigger: "schedule", Status: store.StatusSuccess, Counts: store.RunCounts{Invites: 1}},
		{Trigger: "manual", Status: store.StatusFailed, Error: "okta: 401"},
		{Trigger: "cli", Status: store.StatusSuccess, Counts: store.RunCounts{Invites: 3, Removals: 2, GroupsChanged: 1}},
		{Trigger: "schedule", Status: store.StatusUnchanged},
	} {
		r.ProfileID = store.DefaultProfile
		r.StartedAt = start.Add(time.Duration(i) * time.Hour)
		end := r.StartedAt.Add(time.Minute)
		r.FinishedAt = &end
		if err := st.CreateRun(context.Background(), &r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHistoryFiltersAndChanges checks History's status and trigger
// filters (kept by the pager), the changes column, and that times carry
// their UTC value in the tooltip for browsers without JavaScript.
func TestHistoryFiltersAndChanges(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	seedMixedRuns(t, e.st)
	for path, want := range map[string]string{
		"/history":                            "4,3,2,1",
		"/history?status=failed":              "2",
		"/history?trigger=schedule":           "4,1",
		"/history?status=success&trigger=cli": "3",
		"/history?status=bogus":               "4,3,2,1",
	} {
		r := e.get(c, path)
		wantStatus(t, r, http.StatusOK)
		var got []string
		for _, n := range testid(r.doc(t), "history-row").Nodes {
			for _, a := range n.Attr {
				if a.Key == "data-run-id" {
					got = append(got, a.Val)
				}
			}
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s: runs %v, want %s", path, got, want)
		}
	}
	d := e.get(c, "/history?trigger=cli").doc(t)
	if got := strings.TrimSpace(testid(d, "run-changes").Text()); got != "+3 −2, 1 group" {
		t.Errorf("changes column %q", got)
	}
	if got := testid(d, "history-summary").Text(); !strings.HasPrefix(got, "1 run ·") {
		t.Errorf("summary %q", got)
	}
	if got := testid(d, "run-started").Find("time").AttrOr("title", ""); got != "2026-03-01 10:00:00 UTC" {
		t.Errorf("time tooltip %q", got)
	}
	if d := e.get(c, "/history?status=held").doc(t); !strings.Contains(testid(d, "history-empty").Text(), "No run matches") {
		t.Error("an empty filter result is not explained")
	}
}

// TestBrowserHistoryLocalTimeAndRows shows History in Chromium set to
// Berlin time: times read in local time with a relative hint (UTC in the
// tooltip), the filters work, and a click anywhere on a row opens its run.
func TestBrowserHistoryLocalTimeAndRows(t *testing.T) {
	e := newEnv(t, true)
	seedMixedRuns(t, e.st)
	b := browsertest.Start(t, 60*time.Second)
	sel := browsertest.Sel
	b.Do("Berlin time", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"})
		return err
	}))
	b.Do("log in",
		chromedp.Navigate(e.ts.URL+"/history"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), testUser),
		chromedp.SendKeys(sel("login-password"), testPassword),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("history-table")),
	)
	b.WaitJS("local times", `!!document.querySelector('time[data-localized]')`, 10*time.Second)
	local, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](`document.querySelector('[data-run-id="1"] time').textContent`))
	if err != nil {
		t.Fatal(err)
	}
	// 08:00 UTC on 1 March is 09:00 in Berlin; the run was long ago.
	if !strings.Contains(local, "09:00:00") || !strings.Contains(local, "ago") {
		t.Errorf("local time %q", local)
	}
	b.Do("filter failed runs",
		chromedp.SetValue(sel("filter-status"), "failed"),
		chromedp.Click(sel("filter-apply")),
		// The filtered page, not the one it replaces.
		chromedp.WaitNotPresent(`[data-run-id="1"]`),
		chromedp.WaitVisible(`[data-run-id="2"]`),
	)
	b.Do("click a row's trigger cell", chromedp.Click(`[data-run-id="2"] [data-testid="run-trigger"]`), chromedp.WaitVisible(sel("run-page")))
	if got := b.Text("page-heading"); !strings.HasPrefix(got, "Run 2") {
		t.Errorf("opened %q", got)
	}
	if problems := b.Problems(); len(problems) > 0 {
		t.Fatalf("browser reported errors (CSP violations?): %q", problems)
	}
}
