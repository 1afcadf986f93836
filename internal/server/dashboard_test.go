package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/demo"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/schedule"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// dashEnv is the console with a real engine and worker over a fake Okta
// and a fake Bitwarden.
type dashEnv struct {
	*env
	okta   *oktatest.Server
	bw     *bwtest.Server
	engine *dsync.Engine
	worker *schedule.Worker

	gateMu   sync.Mutex
	gate     chan struct{} // nil: Bitwarden answers at once
	gateOnce *sync.Once
	held     int // requests waiting at the gate
}

// newDashEnv starts the console with an engine and a started worker;
// withSettings saves settings that point at the fakes.
func newDashEnv(t *testing.T, withSettings bool) *dashEnv {
	t.Helper()
	d := &dashEnv{}
	d.okta = oktatest.New(oktatest.Options{})
	t.Cleanup(d.okta.Close)
	d.okta.SetOrg(oktatest.Generate(oktatest.Spec{Users: 40, Groups: 3, MembersPerGroup: 10, Suspended: 2, Seed: 11}))
	d.bw = bwtest.New(bwtest.Options{BeforeAPI: d.waitGate})
	t.Cleanup(d.bw.Close)
	d.env = newEnvWith(t, true, func(st *store.Store, cfg *Config) {
		d.engine = dsync.New(st, "v-test")
		d.worker = schedule.New(d.engine, st, store.DefaultProfile, nil)
		if err := d.worker.Start(context.Background()); err != nil {
			t.Fatalf("start worker: %v", err)
		}
		t.Cleanup(func() {
			d.openGate() // a held push must not block the shutdown
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := d.worker.Shutdown(ctx); err != nil {
				t.Errorf("worker shutdown: %v", err)
			}
		})
		cfg.Engine, cfg.Worker = d.engine, d.worker
	})
	if withSettings {
		s := demo.Settings(d.okta, d.bw)
		s.Sync.IntervalMinutes = 15
		if err := demo.Save(context.Background(), d.st, store.DefaultProfile, s); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// closeGate makes Bitwarden API requests wait until openGate.
func (d *dashEnv) closeGate() {
	d.gateMu.Lock()
	defer d.gateMu.Unlock()
	d.gate, d.gateOnce = make(chan struct{}), &sync.Once{}
}

func (d *dashEnv) openGate() {
	d.gateMu.Lock()
	g, once := d.gate, d.gateOnce
	d.gateMu.Unlock()
	if g != nil {
		once.Do(func() { close(g) })
	}
}

func (d *dashEnv) waitGate(*http.Request) {
	d.gateMu.Lock()
	g := d.gate
	if g != nil {
		d.held++
	}
	d.gateMu.Unlock()
	if g != nil {
		<-g
		d.gateMu.Lock()
		d.held--
		d.gateMu.Unlock()
	}
}

// waitHeld waits until a Bitwarden request is held at the gate: the run
// stands still there.
func (d *dashEnv) waitHeld(t *testing.T) {
	t.Helper()
	dashWait(t, "a Bitwarden request held at the gate", func() bool {
		d.gateMu.Lock()
		defer d.gateMu.Unlock()
		return d.held > 0
	})
}

// dashWait polls cond until it holds or 15 s pass.
func dashWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lastRun is the latest run, or a zero run when there is none.
func (d *dashEnv) lastRun(t *testing.T) store.Run {
	t.Helper()
	r, err := d.st.LastRun(context.Background(), store.DefaultProfile)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("last run: %v", err)
	}
	return r
}

// waitRunsDone waits until n runs exist and none is running.
func (d *dashEnv) waitRunsDone(t *testing.T, n int) {
	t.Helper()
	dashWait(t, "runs to finish", func() bool {
		runs, total, err := d.st.ListRuns(context.Background(), store.DefaultProfile, 100, 0)
		if err != nil || total < n {
			return false
		}
		for _, r := range runs {
			if r.Status == store.StatusRunning {
				return false
			}
		}
		return !d.worker.Status().Running
	})
}

// hasRefresh reports the no-JavaScript refresh. The parser runs with
// scripting on, so <noscript> content is text.
func hasRefresh(d *goquery.Document) bool {
	return strings.Contains(d.Find("noscript").Text(), `http-equiv="refresh"`)
}

func flashText(t *testing.T, e *env, c *http.Client) string {
	t.Helper()
	return testid(e.get(c, "/more").doc(t), "flash-area").Text()
}

func TestDashboardWithoutSettings(t *testing.T) {
	for _, withEngine := range []bool{false, true} {
		name := "no engine"
		if withEngine {
			name = "engine"
		}
		t.Run(name, func(t *testing.T) {
			var e *env
			if withEngine {
				e = newDashEnv(t, false).env
			} else {
				e = newEnv(t, true)
			}
			c := e.client()
			e.login(c)
			r := e.get(c, "/")
			wantStatus(t, r, http.StatusOK)
			d := r.doc(t)
			if testid(d, "no-settings-notice").Length() != 1 {
				t.Fatal("no notice without settings")
			}
			if href, _ := testid(d, "go-settings").Attr("href"); href != "/settings" {
				t.Fatalf("settings link %q", href)
			}
			for _, id := range []string{"sync-now", "test-now", "schedule-start"} {
				if _, disabled := testid(d, id).Attr("disabled"); !disabled && withEngine {
					t.Errorf("%s enabled without settings", id)
				}
			}
			if testid(d, "runs-empty").Length() != 1 || testid(d, "last-run-none").Length() != 1 {
				t.Fatal("empty history not shown")
			}
			if testid(d, "progress-idle").Length() != 1 || hasRefresh(d) {
				t.Fatal("idle dashboard shows a run going on")
			}
			if got := testid(d, "live").Length(); (got == 1) != withEngine {
				t.Fatalf("live section present = %d with engine %v", got, withEngine)
			}
			checkNoInline(t, "dashboard", r.body)
		})
	}
}

func TestDashboardAfterSync(t *testing.T) {
	d := newDashEnv(t, true)
	c := d.client()
	d.login(c)
	res, err := d.engine.Run(context.Background(), store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerManual})
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	r := d.get(c, "/")
	wantStatus(t, r, http.StatusOK)
	doc := r.doc(t)
	if testid(doc, "no-settings-notice").Length() != 0 {
		t.Fatal("notice shown although settings exist")
	}
	id := itoa(int(res.Run.ID))
	if href, _ := testid(doc, "last-run-link").Attr("href"); href != "/history/"+id {
		t.Fatalf("last run link %q", href)
	}
	if got := strings.TrimSpace(testid(doc, "last-run-status").Text()); got != "success" {
		t.Fatalf("last run status %q", got)
	}
	wantCounts := itoa(res.Run.Counts.Members) + " members, " + itoa(res.Run.Counts.Groups) + " groups"
	if got := testid(doc, "last-run-counts").Text(); got != wantCounts || res.Run.Counts.Members == 0 {
		t.Fatalf("counts %q, want %q", got, wantCounts)
	}
	rows := testid(doc, "run-row")
	if rows.Length() != 1 || strings.TrimSpace(rows.Find(`[data-testid="run-trigger"]`).Text()) != "manual" {
		t.Fatalf("runs table: %d rows", rows.Length())
	}
	if testid(doc, "attention-banner").Length() != 0 {
		t.Fatal("banner after a successful run")
	}
	if _, disabled := testid(doc, "sync-now").Attr("disabled"); disabled {
		t.Fatal("Sync now disabled with settings")
	}
	if a, _ := testid(doc, "test-now-form").Attr("action"); a != "/test/run" {
		t.Fatalf("Test now posts to %q", a)
	}
	if got := testid(doc, "schedule-state").Text(); !strings.Contains(got, "Stopped") {
		t.Fatalf("schedule state %q", got)
	}

	// The status fragment (reloaded by htmx when a run ends) is the same
	// content without the layout.
	f := d.get(c, "/dashboard/status")
	wantStatus(t, f, http.StatusOK)
	if strings.Contains(f.body, "<html") || testid(f.doc(t), "run-row").Length() != 1 {
		t.Fatalf("status fragment:\n%s", f.body)
	}
}

func TestDashboardLatestTenRuns(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	start := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	for i := range 12 {
		fin := start.Add(time.Duration(i)*time.Hour + 90*time.Second)
		run := store.Run{ProfileID: store.DefaultProfile, Trigger: dsync.TriggerSchedule, Status: store.StatusSuccess,
			StartedAt: start.Add(time.Duration(i) * time.Hour), FinishedAt: &fin, Counts: store.RunCounts{Members: i, Groups: 2}}
		if err := e.st.CreateRun(context.Background(), &run); err != nil {
			t.Fatal(err)
		}
	}
	d := e.get(c, "/").doc(t)
	rows := testid(d, "run-row")
	if rows.Length() != 10 {
		t.Fatalf("%d rows, want 10", rows.Length())
	}
	if first, _ := rows.First().Attr("data-run-id"); first != "12" {
		t.Fatalf("newest first: first row is run %s", first)
	}
	if !strings.Contains(rows.First().Text(), "1 min 30 s") {
		t.Fatalf("duration missing: %q", rows.First().Text())
	}
	if got := testid(d, "all-runs").Text(); !strings.Contains(got, "12") {
		t.Fatalf("link to all runs %q", got)
	}
}

func TestDashboardAttentionBanner(t *testing.T) {
	tests := []struct {
		status, err, want string
		banner            bool
	}{
		{store.StatusFailed, "okta: 401 E0000011 Invalid token provided", "Invalid token provided", true},
		{store.StatusHeld, "", "needs to approve it", true},
		{store.StatusInterrupted, store.InterruptedError, "interrupted", true},
		{store.StatusSuccess, "", "", false},
		{store.StatusUnchanged, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.status, func(t *testing.T) {
			e := newEnv(t, true)
			c := e.client()
			e.login(c)
			fin := e.clock.Now()
			run := store.Run{ProfileID: store.DefaultProfile, Trigger: dsync.TriggerSchedule, Status: tc.status,
				StartedAt: fin.Add(-time.Minute), FinishedAt: &fin, Error: tc.err}
			if err := e.st.CreateRun(context.Background(), &run); err != nil {
				t.Fatal(err)
			}
			d := e.get(c, "/").doc(t)
			b := testid(d, "attention-banner")
			if (b.Length() == 1) != tc.banner {
				t.Fatalf("banner shown = %v, want %v", b.Length() == 1, tc.banner)
			}
			if !tc.banner {
				return
			}
			if !strings.Contains(b.Text(), tc.want) {
				t.Fatalf("banner %q, want %q", b.Text(), tc.want)
			}
			if href, _ := testid(d, "attention-link").Attr("href"); href != "/history/"+itoa(int(run.ID)) {
				t.Fatalf("banner link %q", href)
			}
		})
	}
}

func TestSyncNow(t *testing.T) {
	d := newDashEnv(t, true)
	c := d.client()
	d.login(c)

	r := d.post(c, "/sync", url.Values{})
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, "/")
	d.waitRunsDone(t, 1)
	run := d.lastRun(t)
	if run.Trigger != dsync.TriggerManual || run.Status != store.StatusSuccess {
		t.Fatalf("run: trigger %q status %q error %q", run.Trigger, run.Status, run.Error)
	}
	if got := len(d.bw.Members()); got < 30 {
		t.Fatalf("Bitwarden has %d members after the sync", got)
	}
	if got := flashText(t, d.env, c); !strings.Contains(got, "Sync started") {
		t.Fatalf("flash %q", got)
	}

	// A second Sync now while a run is held at the push says so and starts
	// nothing.
	d.okta.AddUser(oktatest.User{Status: "ACTIVE", Email: "late@example.com", Login: "late@example.com"})
	d.closeGate()
	wantStatus(t, d.post(c, "/sync", url.Values{}), http.StatusSeeOther)
	d.waitHeld(t)
	running := d.get(c, "/")
	doc := running.doc(t)
	if testid(doc, "progress").Length() != 1 || !hasRefresh(doc) {
		t.Fatalf("dashboard does not show the run going on:\n%s", testid(doc, "progress-box").Text())
	}
	r = d.post(c, "/sync", url.Values{})
	wantStatus(t, r, http.StatusSeeOther)
	if got := flashText(t, d.env, c); !strings.Contains(got, "A sync is already running") {
		t.Fatalf("flash %q", got)
	}
	// The worker refuses a second run by itself too (ErrBusy), for the
	// narrow window before the run is recorded.
	if err := d.worker.RunNow(dsync.TriggerManual, dsync.Options{}); err != schedule.ErrBusy {
		t.Fatalf("RunNow during a run: %v", err)
	}
	d.openGate()
	d.waitRunsDone(t, 2)
	if _, total, _ := d.st.ListRuns(context.Background(), store.DefaultProfile, 10, 0); total != 2 {
		t.Fatalf("%d runs, want 2", total)
	}

	entries, _, err := d.st.ListAudit(context.Background(), 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Action == "sync.started" && e.Actor == testUser {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d sync.started audit entries, want 2", n)
	}
}

func TestSyncNowRefused(t *testing.T) {
	t.Run("no settings", func(t *testing.T) {
		d := newDashEnv(t, false)
		c := d.client()
		d.login(c)
		r := d.post(c, "/sync", url.Values{})
		wantStatus(t, r, http.StatusSeeOther)
		wantLocation(t, r, "/settings")
		if got := flashText(t, d.env, c); !strings.Contains(got, "Save the settings") {
			t.Fatalf("flash %q", got)
		}
		if run := d.lastRun(t); run.ID != 0 {
			t.Fatalf("a run was recorded: %+v", run)
		}
	})
	t.Run("running in another process", func(t *testing.T) {
		d := newDashEnv(t, true)
		c := d.client()
		d.login(c)
		ctx := context.Background()
		lock, err := d.st.AcquireRunLock(ctx, store.DefaultProfile, "cli-host:4242:beef", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = lock.Release(context.Background()) })
		other := store.Run{ProfileID: store.DefaultProfile, Trigger: dsync.TriggerCLI}
		if err := d.st.CreateRun(ctx, &other); err != nil {
			t.Fatal(err)
		}
		r := d.post(c, "/sync", url.Values{})
		wantStatus(t, r, http.StatusSeeOther)
		page := d.get(c, "/")
		doc := page.doc(t)
		if got := testid(doc, "flash-area").Text(); !strings.Contains(got, "A sync is already running") {
			t.Fatalf("flash %q", got)
		}
		if !strings.Contains(testid(doc, "progress").Text(), "another dirsync process") || !hasRefresh(doc) {
			t.Fatalf("the other process's run is not shown:\n%s", testid(doc, "progress-box").Text())
		}
		if d.worker.Status().Running {
			t.Fatal("the worker started a run")
		}
		if _, total, _ := d.st.ListRuns(ctx, store.DefaultProfile, 10, 0); total != 1 {
			t.Fatalf("%d runs, want only the other process's", total)
		}
	})
}

func TestScheduleStartStop(t *testing.T) {
	ctx := context.Background()
	t.Run("no settings", func(t *testing.T) {
		d := newDashEnv(t, false)
		c := d.client()
		d.login(c)
		r := d.post(c, "/schedule/start", url.Values{})
		wantStatus(t, r, http.StatusSeeOther)
		wantLocation(t, r, "/settings")
		if on, _ := d.st.GetSchedule(ctx, store.DefaultProfile); on {
			t.Fatal("schedule enabled without settings")
		}
		if got := flashText(t, d.env, c); !strings.Contains(got, "Save the settings before starting automatic sync") {
			t.Fatalf("flash %q", got)
		}
	})
	t.Run("start and stop", func(t *testing.T) {
		d := newDashEnv(t, true)
		c := d.client()
		d.login(c)
		// A run first, so the schedule's next run is one interval away
		// rather than due at once.
		if _, err := d.engine.Run(ctx, store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerManual}); err != nil {
			t.Fatal(err)
		}
		r := d.post(c, "/schedule/start", url.Values{})
		wantStatus(t, r, http.StatusSeeOther)
		wantLocation(t, r, "/")
		if on, _ := d.st.GetSchedule(ctx, store.DefaultProfile); !on {
			t.Fatal("schedule not enabled in the store")
		}
		doc := d.get(c, "/").doc(t)
		if got := testid(doc, "flash-area").Text(); !strings.Contains(got, "every 15 minutes") {
			t.Fatalf("flash %q", got)
		}
		if got := testid(doc, "schedule-state").Text(); !strings.Contains(got, "Running every 15 minutes") {
			t.Fatalf("schedule state %q", got)
		}
		if testid(doc, "next-run").Length() != 1 || testid(doc, "schedule-stop").Length() != 1 || testid(doc, "schedule-start").Length() != 0 {
			t.Fatal("running schedule: no next run or no stop button")
		}

		r = d.post(c, "/schedule/stop", url.Values{})
		wantStatus(t, r, http.StatusSeeOther)
		if on, _ := d.st.GetSchedule(ctx, store.DefaultProfile); on {
			t.Fatal("schedule still enabled in the store")
		}
		doc = d.get(c, "/").doc(t)
		if got := testid(doc, "schedule-state").Text(); !strings.Contains(got, "Stopped") {
			t.Fatalf("schedule state %q", got)
		}
		if testid(doc, "schedule-start").Length() != 1 || testid(doc, "next-run").Length() != 0 {
			t.Fatal("stopped schedule: no start button, or a next run")
		}
		want := []string{"schedule.stopped", "schedule.started"}
		entries, _, _ := d.st.ListAudit(ctx, 2, 0)
		for i, e := range entries {
			if e.Action != want[i] || e.Actor != testUser {
				t.Fatalf("audit %d: %s by %s, want %s", i, e.Action, e.Actor, want[i])
			}
		}
	})
}

// TestPOSTOnlyActions checks that a GET (a link, an image, a prefetch)
// changes nothing.
func TestPOSTOnlyActions(t *testing.T) {
	d := newDashEnv(t, true)
	c := d.client()
	d.login(c)
	ctx := context.Background()
	if _, err := d.engine.Run(ctx, store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/sync", "/schedule/start", "/schedule/stop", "/cache/clear"} {
		t.Run(p, func(t *testing.T) {
			wantStatus(t, d.get(c, p), http.StatusMethodNotAllowed)
		})
	}
	if _, total, _ := d.st.ListRuns(ctx, store.DefaultProfile, 10, 0); total != 1 || d.worker.Status().Running {
		t.Fatalf("a GET started a run (%d runs)", total)
	}
	if on, _ := d.st.GetSchedule(ctx, store.DefaultProfile); on {
		t.Fatal("a GET enabled the schedule")
	}
	if st, _ := d.st.GetSyncState(ctx, store.DefaultProfile); st.Hash == "" {
		t.Fatal("a GET cleared the cache")
	}
}
