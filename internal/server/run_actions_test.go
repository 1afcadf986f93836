package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// heldEnv is the console over the fakes after a first sync (40 members
// pushed) and a second run that the default guard (10% of 40 = 4) held
// because 10 users were deprovisioned.
type heldEnv struct {
	*dashEnv
	c       *http.Client
	held    int64
	removed []string // emails of the deprovisioned users
	imports int      // imports received before the held run
}

func newHeldEnv(t *testing.T) *heldEnv {
	t.Helper()
	h := &heldEnv{dashEnv: newDashEnv(t, true)}
	h.c = h.client()
	h.login(h.c)
	if r := h.run(t); r.Status != store.StatusSuccess {
		t.Fatalf("first sync: %s %s", r.Status, r.Error)
	}
	h.deprovision(t, 10)
	h.imports = len(h.bw.Imports())
	r := h.run(t)
	if r.Status != store.StatusHeld {
		t.Fatalf("second sync: %s %s, want held", r.Status, r.Error)
	}
	h.held = r.ID
	return h
}

// run does one manual sync and returns its record.
func (h *heldEnv) run(t *testing.T) store.Run {
	t.Helper()
	res, err := h.engine.Run(context.Background(), store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerManual})
	if err != nil && (res == nil || res.Run.ID == 0) {
		t.Fatalf("run: %v", err)
	}
	return res.Run
}

// deprovision marks n active users with an email deprovisioned in Okta.
func (h *heldEnv) deprovision(t *testing.T, n int) {
	t.Helper()
	for _, u := range h.okta.Org().Users {
		if n == 0 {
			return
		}
		if u.Status != oktatest.StatusActive || u.Email == "" {
			continue
		}
		if err := h.okta.SetUserStatus(u.ID, oktatest.StatusDeprovisioned); err != nil {
			t.Fatal(err)
		}
		h.removed = append(h.removed, strings.ToLower(u.Email))
		n--
	}
	if n > 0 {
		t.Fatalf("%d users short", n)
	}
}

func (h *heldEnv) getRun(t *testing.T, id int64) store.Run {
	t.Helper()
	r, err := h.st.GetRun(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (h *heldEnv) path(id int64, action string) string {
	if action == "" {
		return fmt.Sprintf("/history/%d", id)
	}
	return fmt.Sprintf("/history/%d/%s", id, action)
}

var confirmed = url.Values{"confirm": {"yes"}}

// follow posts form to path, wants a 303 to want (any when ""), and
// returns the page it leads to.
func (h *heldEnv) follow(t *testing.T, path string, form url.Values, want string) resp {
	t.Helper()
	r := h.post(h.c, path, form)
	wantStatus(t, r, http.StatusSeeOther)
	if want != "" {
		wantLocation(t, r, want)
	}
	return h.get(h.c, r.Header.Get("Location"))
}

// approve posts a confirmed approval of id, wants the immediate 303 to
// the held run's page, waits for the background approval to end and
// returns that page.
func (h *heldEnv) approve(t *testing.T, id int64) *goquery.Document {
	t.Helper()
	r := h.post(h.c, h.path(id, "approve"), confirmed)
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, h.path(id, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.srv.approvals.wait(ctx, id)
	return h.get(h.c, h.path(id, "")).doc(t)
}

// outcome is the held run page's note on how its approval ended.
func outcome(d *goquery.Document) string {
	return strings.TrimSpace(testid(d, "approval-outcome").Text())
}

// audits returns the audit entries with action.
func (h *heldEnv) audits(t *testing.T, action string) []store.AuditEntry {
	t.Helper()
	all, _, err := h.st.ListAudit(context.Background(), 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func TestHeldRunPage(t *testing.T) {
	h := newHeldEnv(t)
	d := h.get(h.c, h.path(h.held, "")).doc(t)
	if got := strings.TrimSpace(testid(d, "held-removals").Text()); got != "10" {
		t.Errorf("removals %q, want 10", got)
	}
	if got := testid(d, "held-limit").Text(); !strings.Contains(got, "4 removals") || !strings.Contains(got, "10% of 40 synced members") {
		t.Errorf("limit %q", got)
	}
	if got := testid(d, "held-reason").Text(); !strings.Contains(got, "would remove 10 of 40 members") {
		t.Errorf("reason %q", got)
	}
	list := testid(d, "held-removal").Text()
	for _, email := range h.removed {
		if !strings.Contains(list, email) {
			t.Errorf("removal list lacks %s: %q", email, list)
		}
	}
	if n := testid(d, "held-removal").Length(); n != 10 {
		t.Errorf("%d removals listed, want 10", n)
	}
	for _, id := range []string{"approve-form", "approve-confirm", "approve-submit", "discard-form", "discard-confirm", "discard-submit"} {
		if testid(d, id).Length() != 1 {
			t.Errorf("no %s", id)
		}
	}
	if a := testid(d, "approve-form").AttrOr("action", ""); a != h.path(h.held, "approve") || testid(d, "approve-form").AttrOr("method", "") != "post" {
		t.Errorf("approve form posts to %q", a)
	}
	if _, req := testid(d, "approve-confirm").Attr("required"); !req {
		t.Error("the approve box is not required")
	}
	if testid(d, "run-error").Length() != 0 {
		t.Error("a held run is shown as an error")
	}
}

func TestApproveHeldRun(t *testing.T) {
	h := newHeldEnv(t)
	members := len(h.bw.Members())

	t.Run("GET does not act", func(t *testing.T) {
		for _, a := range []string{"approve", "discard"} {
			wantStatus(t, h.get(h.c, h.path(h.held, a)), http.StatusMethodNotAllowed)
		}
		if h.getRun(t, h.held).Status != store.StatusHeld || len(h.bw.Imports()) != h.imports {
			t.Fatal("a GET acted on the held run")
		}
	})
	t.Run("confirmation required", func(t *testing.T) {
		for _, form := range []url.Values{{}, {"confirm": {"no"}}} {
			r := h.post(h.c, h.path(h.held, "approve"), form)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			d := r.doc(t)
			if got := testid(d, "approve-error").Text(); !strings.Contains(got, "Tick the box") {
				t.Errorf("approve error %q", got)
			}
			if testid(d, "discard-error").Text() != "" {
				t.Error("the discard box complains too")
			}
			if _, inv := testid(d, "approve-confirm").Attr("aria-invalid"); !inv {
				t.Error("the box is not marked invalid")
			}
		}
		if h.getRun(t, h.held).Status != store.StatusHeld || len(h.bw.Imports()) != h.imports {
			t.Fatal("an unconfirmed approval acted")
		}
	})

	var pushed int64
	t.Run("approve", func(t *testing.T) {
		d := h.approve(t, h.held)
		last, err := h.st.LastRun(context.Background(), store.DefaultProfile)
		if err != nil {
			t.Fatal(err)
		}
		pushed = last.ID
		want := fmt.Sprintf("Run %d approved: pushed as run %d.", h.held, pushed)
		if got := outcome(d); !strings.HasPrefix(got, want) || testid(d, "approval-outcome").AttrOr("data-kind", "") != "success" {
			t.Errorf("outcome %q, want %q", got, want)
		}
		if href := testid(d, "approval-run").AttrOr("href", ""); href != h.path(pushed, "") {
			t.Errorf("the outcome links to %q", href)
		}
		if last.Status != store.StatusSuccess || last.Trigger != dsync.TriggerApproval {
			t.Errorf("approval run %s/%s %s", last.Trigger, last.Status, last.Error)
		}
		if n := len(h.bw.Imports()); n != h.imports+1 {
			t.Errorf("%d imports after approval, want %d", n, h.imports+1)
		}
		if n := len(h.bw.Members()); n != members-10 {
			t.Errorf("org has %d members, want %d", n, members-10)
		}
		if a := h.audits(t, "run.approved"); len(a) != 1 || a[0].Actor != testUser ||
			a[0].Detail != fmt.Sprintf("run %d, pushed as run %d", h.held, pushed) {
			t.Errorf("audit %+v", a)
		}
	})
	t.Run("approved run shows who and when", func(t *testing.T) {
		d := h.get(h.c, h.path(h.held, "")).doc(t)
		if got := strings.TrimSpace(testid(d, "status-badge").First().Text()); got != "approved" {
			t.Errorf("status %q", got)
		}
		note := testid(d, "resolution-note").Text()
		if !strings.Contains(note, "approved by admin (console, 2026-03-01 09:00 UTC)") || !strings.Contains(note, fmt.Sprintf("pushed by run %d", pushed)) {
			t.Errorf("resolution %q", note)
		}
		if href := testid(d, "resolution-pushed-by").AttrOr("href", ""); href != h.path(pushed, "") {
			t.Errorf("pushed-by link %q", href)
		}
		if testid(d, "approve-form").Length()+testid(d, "discard-form").Length()+testid(d, "held-explanation").Length() != 0 {
			t.Error("an approved run still offers the actions")
		}
		if testid(d, "run-error").Length() != 0 {
			t.Error("an approved run shows its hold reason as an error")
		}
	})

	// Every refusal flashes why and goes back, acting on nothing.
	imports := len(h.bw.Imports())
	for _, tc := range []struct {
		name, action string
		id           int64
		want         string
	}{
		{"approve twice", "approve", h.held, fmt.Sprintf("Run %d was not approved: run %d is approved", h.held, h.held)},
		{"discard an approved run", "discard", h.held, fmt.Sprintf("Run %d was not discarded: run %d is approved", h.held, h.held)},
		{"approve a pushed run", "approve", pushed, fmt.Sprintf("Run %d was not approved: run %d is success", pushed, pushed)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := h.follow(t, h.path(tc.id, tc.action), confirmed, h.path(tc.id, "")).doc(t)
			if got := testid(d, "flash-error").Text(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("flash %q, want %q…", got, tc.want)
			}
		})
	}
	t.Run("unconfirmed on a run that is not held", func(t *testing.T) {
		d := h.follow(t, h.path(h.held, "discard"), url.Values{}, h.path(h.held, "")).doc(t)
		if got := testid(d, "flash-error").Text(); !strings.Contains(got, "is approved, not held") {
			t.Errorf("flash %q", got)
		}
	})
	if len(h.bw.Imports()) != imports || h.getRun(t, h.held).Status != store.StatusApproved {
		t.Fatal("a refused action acted")
	}
	if n := len(h.audits(t, "run.approved")) + len(h.audits(t, "run.discarded")); n != 1 {
		t.Fatalf("%d audit entries, want the one approval", n)
	}
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/history/999999/approve", http.StatusNotFound},
		{"/history/abc/approve", http.StatusBadRequest},
		{"/history/0/discard", http.StatusBadRequest},
	} {
		t.Run(tc.path, func(t *testing.T) {
			wantStatus(t, h.post(h.c, tc.path, confirmed), tc.status)
		})
	}
}

func TestDiscardHeldRun(t *testing.T) {
	h := newHeldEnv(t)
	r := h.post(h.c, h.path(h.held, "discard"), url.Values{})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := testid(r.doc(t), "discard-error").Text(); !strings.Contains(got, "Tick the box") {
		t.Errorf("discard error %q", got)
	}
	if h.getRun(t, h.held).Status != store.StatusHeld {
		t.Fatal("an unconfirmed discard acted")
	}
	d := h.follow(t, h.path(h.held, "discard"), confirmed, h.path(h.held, "")).doc(t)
	if got := testid(d, "flash-success").Text(); got != fmt.Sprintf("Run %d discarded; nothing was sent.", h.held) {
		t.Errorf("flash %q", got)
	}
	if got := strings.TrimSpace(testid(d, "status-badge").First().Text()); got != "discarded" {
		t.Errorf("status %q", got)
	}
	if note := testid(d, "resolution-note").Text(); !strings.Contains(note, "discarded by admin (console, 2026-03-01 09:00 UTC)") {
		t.Errorf("resolution %q", note)
	}
	if testid(d, "approve-form").Length() != 0 {
		t.Error("a discarded run can still be approved")
	}
	if len(h.bw.Imports()) != h.imports {
		t.Error("discarding pushed")
	}
	if a := h.audits(t, "run.discarded"); len(a) != 1 || a[0].Detail != fmt.Sprintf("run %d", h.held) {
		t.Errorf("audit %+v", a)
	}
	d = h.follow(t, h.path(h.held, "approve"), confirmed, h.path(h.held, "")).doc(t)
	if got := testid(d, "flash-error").Text(); !strings.Contains(got, "is discarded") {
		t.Errorf("approving a discarded run: flash %q", got)
	}
	if len(h.bw.Imports()) != h.imports {
		t.Error("approving a discarded run pushed")
	}
}

// A directory that changed since the hold is held again as a new run.
func TestApproveChangedDirectoryHoldsAgain(t *testing.T) {
	h := newHeldEnv(t)
	h.deprovision(t, 1)
	d := h.approve(t, h.held)
	last, err := h.st.LastRun(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if last.Status != store.StatusHeld || last.ID == h.held {
		t.Fatalf("latest run %d %s, want a new held run", last.ID, last.Status)
	}
	want := fmt.Sprintf("The directory changed since run %d was held; the new plan was held again as run %d — review it.", h.held, last.ID)
	if got := outcome(d); !strings.HasPrefix(got, want) {
		t.Errorf("outcome %q, want %q", got, want)
	}
	if href := testid(d, "approval-run").AttrOr("href", ""); href != h.path(last.ID, "") {
		t.Errorf("the outcome links to %q", href)
	}
	d = h.get(h.c, h.path(last.ID, "")).doc(t)
	if got := strings.TrimSpace(testid(d, "held-removals").Text()); got != "11" {
		t.Errorf("new held run removes %q, want 11", got)
	}
	if len(h.bw.Imports()) != h.imports {
		t.Error("a changed directory was pushed")
	}
	old := h.get(h.c, h.path(h.held, "")).doc(t)
	if note := testid(old, "resolution-note").Text(); !strings.Contains(note, fmt.Sprintf("superseded by run %d", last.ID)) {
		t.Errorf("old held run's note %q", note)
	}
}

// Refusals the engine decides under its lock: a run is busy, a newer run
// is held, the push fails.
func TestApproveRefusals(t *testing.T) {
	h := newHeldEnv(t)
	ctx := context.Background()

	t.Run("lock busy", func(t *testing.T) {
		lock, err := h.st.AcquireRunLock(ctx, store.DefaultProfile, "another process", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Release(ctx)
		d := h.follow(t, h.path(h.held, "discard"), confirmed, h.path(h.held, "")).doc(t)
		if got := testid(d, "flash-error").Text(); !strings.Contains(got, "A sync is running right now") {
			t.Errorf("discard: flash %q", got)
		}
		// The lock is not a run in the history, so the approval starts
		// and the engine refuses it under the lock.
		if got := outcome(h.approve(t, h.held)); !strings.Contains(got, "A sync is running right now") {
			t.Errorf("approve: outcome %q", got)
		}
		if h.getRun(t, h.held).Status != store.StatusHeld {
			t.Fatal("the held run changed while the lock was taken")
		}
	})
	t.Run("push fails", func(t *testing.T) {
		h.bw.FailImport(1, http.StatusBadRequest, "You cannot import this much data at once.")
		got := outcome(h.approve(t, h.held))
		if !strings.Contains(got, fmt.Sprintf("Approving run %d failed in run", h.held)) || !strings.Contains(got, "still held") ||
			!strings.Contains(got, "You cannot import this much data at once.") {
			t.Errorf("flash %q", got)
		}
		if h.getRun(t, h.held).Status != store.StatusHeld {
			t.Fatal("a failed approval did not leave the run held")
		}
	})
	t.Run("not the latest held run", func(t *testing.T) {
		done := time.Now().UTC()
		newer := &store.Run{ProfileID: store.DefaultProfile, Trigger: "cli", Status: store.StatusHeld, StartedAt: done, FinishedAt: &done,
			Held: []byte(`{"hash":"x"}`)}
		if err := h.st.CreateRun(ctx, newer); err != nil {
			t.Fatal(err)
		}
		if err := h.st.FinishRun(ctx, newer); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("run %d is not the latest held run (run %d is)", h.held, newer.ID)
		if got := outcome(h.approve(t, h.held)); !strings.Contains(got, want) {
			t.Errorf("flash %q, want it to say %q", got, want)
		}
	})
	if len(h.audits(t, "run.approved")) != 0 {
		t.Error("a refused approval was audited")
	}
}

// Without an engine in the process the actions answer 503.
func TestHeldActionsWithoutEngine(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	ctx := context.Background()
	done := time.Now().UTC()
	run := &store.Run{ProfileID: store.DefaultProfile, Trigger: "cli", Status: store.StatusHeld, StartedAt: done, FinishedAt: &done}
	if err := e.st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := e.st.FinishRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"approve", "discard"} {
		wantStatus(t, e.post(c, fmt.Sprintf("/history/%d/%s", run.ID, a), confirmed), http.StatusServiceUnavailable)
	}
}

// TestMembershipHeldRunPageListsGroups: a run the membership guard holds
// says why and lists, per group, who would leave it.
func TestMembershipHeldRunPageListsGroups(t *testing.T) {
	h := &heldEnv{dashEnv: newDashEnv(t, true)}
	h.c = h.client()
	h.login(h.c)
	if r := h.run(t); r.Status != store.StatusSuccess {
		t.Fatalf("first sync: %s %s", r.Status, r.Error)
	}
	var g *oktatest.Group
	for _, og := range h.okta.Org().Groups {
		if g == nil || len(og.Members) > len(g.Members) {
			g = og
		}
	}
	if g == nil || len(g.Members) < 4 {
		t.Fatal("no group to empty")
	}
	if err := h.okta.SetMembers(g.ID, nil); err != nil {
		t.Fatal(err)
	}
	r := h.run(t)
	if r.Status != store.StatusHeld {
		t.Fatalf("run %s %q, want held", r.Status, r.Error)
	}
	d := h.get(h.c, h.path(r.ID, "")).doc(t)
	if got := testid(d, "held-reason").Text(); !strings.Contains(got, fmt.Sprintf("would remove %d of", len(g.Members))) || !strings.Contains(got, "group memberships in Bitwarden") {
		t.Errorf("reason %q", got)
	}
	list := testid(d, "bitwarden-memberships").Text()
	if !strings.Contains(list, g.Name) {
		t.Errorf("the held run's page does not list the group %q: %q", g.Name, list)
	}
	u := h.okta.Org().User(g.Members[0])
	if u == nil || !strings.Contains(list, strings.ToLower(u.Email)) {
		t.Errorf("the held run's page does not name %v among those leaving %q: %q", u, g.Name, list)
	}
}

// TestApproveRunsInBackground holds the approval at its Bitwarden read
// (a slow Bitwarden): the POST answers at once with the held run's page,
// which follows the approval (live, and a refresh without JavaScript) and
// offers no second approval; a second POST starts none; once the push
// has gone through, the page says how it ended and the audit log has it.
func TestApproveRunsInBackground(t *testing.T) {
	h := newHeldEnv(t)
	h.closeGate()
	defer h.openGate()
	start := time.Now()
	r := h.post(h.c, h.path(h.held, "approve"), confirmed)
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, h.path(h.held, ""))
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("the approval POST took %s", el)
	}
	j := h.srv.approvals.get(h.held)
	if j == nil || j.finished() {
		t.Fatal("no approval going on after the POST")
	}
	d := h.get(h.c, h.path(h.held, "")).doc(t)
	if testid(d, "approval-running").Length() != 1 || !hasRefresh(d) {
		t.Fatalf("the held run's page does not follow the approval:\n%.3000s", d.Text())
	}
	if src := testid(d, "approval-live").AttrOr("sse-connect", ""); src != fmt.Sprintf("/events?held=%d", h.held) {
		t.Errorf("the page listens to %q", src)
	}
	if testid(d, "approve-form").Length() != 0 {
		t.Error("the page offers a second approval while one goes")
	}
	if got := testid(d, "verdict-detail").Text(); !strings.Contains(got, "approval is under way") {
		t.Errorf("the verdict still says %q while the approval goes", got)
	}
	r = h.post(h.c, h.path(h.held, "approve"), confirmed)
	wantStatus(t, r, http.StatusSeeOther)
	if got := testid(h.get(h.c, r.Header.Get("Location")).doc(t), "flash-info").Text(); !strings.Contains(got, "already being approved") {
		t.Errorf("second approval: flash %q", got)
	}
	if h.srv.approvals.get(h.held) != j {
		t.Error("a second approval started")
	}
	if n := len(h.bw.Imports()); n != h.imports {
		t.Fatalf("%d imports before the gate opened", n)
	}
	h.openGate()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.srv.approvals.wait(ctx, h.held)
	last, err := h.st.LastRun(ctx, store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if last.Status != store.StatusSuccess || last.Trigger != dsync.TriggerApproval {
		t.Fatalf("approval run %s/%s %s", last.Trigger, last.Status, last.Error)
	}
	d = h.get(h.c, h.path(h.held, "")).doc(t)
	if got, want := outcome(d), fmt.Sprintf("Run %d approved: pushed as run %d.", h.held, last.ID); !strings.HasPrefix(got, want) {
		t.Errorf("outcome %q, want %q", got, want)
	}
	if testid(d, "approval-running").Length() != 0 {
		t.Error("the page still shows the approval running")
	}
	if n := len(h.bw.Imports()); n != h.imports+1 {
		t.Errorf("%d imports, want one more than %d", n, h.imports)
	}
	a := h.audits(t, "run.approved")
	if len(a) != 1 || a[0].Detail != fmt.Sprintf("run %d, pushed as run %d", h.held, last.ID) {
		t.Errorf("audit %+v", a)
	}
}

// TestApproveEventsSayDone: a page that follows an approval which ended
// before its event stream connected is told "done" at once, so it never
// shows "Approving…" for good.
func TestApproveEventsSayDone(t *testing.T) {
	h := newHeldEnv(t)
	h.approve(t, h.held)
	req, err := http.NewRequest("GET", h.ts.URL+fmt.Sprintf("/events?held=%d", h.held), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := h.c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "event: done") {
		n, err := res.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("stream ended without done: %v; read %q", err, got.String())
		}
	}
}

// TestApprovalWaitedForAtShutdown: shutdown waits for a background
// approval; one still pushing past the wait is stopped and recorded (not
// left "running" for the next process to find).
func TestApprovalWaitedForAtShutdown(t *testing.T) {
	h := newHeldEnv(t)
	h.closeGate()
	defer h.openGate()
	wantStatus(t, h.post(h.c, h.path(h.held, "approve"), confirmed), http.StatusSeeOther)
	j := h.srv.approvals.get(h.held)
	if j == nil || j.finished() {
		t.Fatal("no approval going on after the POST")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := h.srv.WaitApprovals(ctx, 30*time.Second)
	if err == nil || !j.finished() {
		t.Fatalf("WaitApprovals: %v, finished %v: want the approval stopped and ended", err, j.finished())
	}
	last, lerr := h.st.LastRun(context.Background(), store.DefaultProfile)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if last.Trigger != dsync.TriggerApproval || last.Status == store.StatusRunning || last.Status == store.StatusSuccess {
		t.Errorf("approval run %s/%s %q: want it ended and recorded as stopped", last.Trigger, last.Status, last.Error)
	}
	if n := len(h.bw.Imports()); n != h.imports {
		t.Errorf("%d imports, want none more than %d", n, h.imports)
	}
	// With nothing going, it returns at once.
	if err := h.srv.WaitApprovals(context.Background(), time.Second); err != nil {
		t.Errorf("idle WaitApprovals: %v", err)
	}
}
