package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// dashRecentRuns is how many runs the dashboard lists.
const dashRecentRuns = 10

// dashErrorExcerpt is how much of a run's error the dashboard shows; the
// run's page has all of it.
const dashErrorExcerpt = 240

// dashboard is GET /: the state of the schedule, the running sync and the
// latest runs.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	v, err := s.dashboardView(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, s.page(r, "Dashboard", "dashboard"), web.DashboardPage(v))
}

// dashboardStatus is GET /dashboard/status: the part of the dashboard a
// run's start and end refresh (htmx, on the event stream's "started" and
// "done").
func (s *Server) dashboardStatus(w http.ResponseWriter, r *http.Request) {
	v, err := s.dashboardView(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var ended []web.Flash
	if l := v.Last; l != nil && !v.Progress.Running {
		kind := web.FlashInfo
		switch l.Status {
		case store.StatusSuccess, store.StatusUnchanged:
			kind = web.FlashSuccess
		case store.StatusFailed, store.StatusInterrupted:
			kind = web.FlashError
		}
		ended = []web.Flash{{Kind: kind, Message: fmt.Sprintf("Run #%d ended: %s.", l.ID, dsync.FinalMessage(l.Status))}}
	}
	s.renderFragment(w, r, http.StatusOK, web.DashboardStatusUpdate(v, ended))
}

// dashboardView gathers the dashboard's state.
func (s *Server) dashboardView(ctx context.Context) (web.DashboardView, error) {
	var v web.DashboardView
	stored, err := s.loadSettings(ctx)
	if err != nil {
		return v, err
	}
	v.HasSettings = stored.Found
	v.Live = s.engine != nil

	runs, total, err := s.runs.ListRuns(ctx, store.DefaultProfile, dashRecentRuns, 0)
	if err != nil {
		return v, fmt.Errorf("dashboard: list runs: %w", err)
	}
	v.TotalRuns = total
	for _, run := range runs {
		v.Runs = append(v.Runs, s.dashRun(run))
	}
	if len(v.Runs) > 0 {
		last := v.Runs[0]
		v.Last = &last
		switch last.Status {
		case store.StatusFailed, store.StatusHeld, store.StatusInterrupted:
			v.Attention = &last
		}
	}

	if s.worker != nil {
		st := s.worker.Status()
		v.Schedule = web.DashSchedule{Available: true, Enabled: st.Enabled, LastError: st.LastError}
		if stored.Found && stored.Sync.IntervalMinutes > 0 {
			v.Schedule.Interval = dashInterval(stored.Sync.IntervalMinutes)
		}
		if st.Enabled && !st.NextRun.IsZero() {
			v.Schedule.NextRun = dashWhen(st.NextRun, s.now())
			v.Schedule.NextRunISO = st.NextRun.UTC().Format(time.RFC3339)
		}
	}
	v.Progress = s.dashProgress(runs)
	return v, nil
}

// dashProgress is the run going on: this process's (from the engine's
// latest event or the worker), or another process's (a run recorded as
// running that this process is not doing, such as a CLI sync).
func (s *Server) dashProgress(runs []store.Run) web.DashProgress {
	if s.engine != nil {
		if ev, ok := s.engine.Current(); ok {
			return dashProgressOf(ev)
		}
	}
	if s.worker != nil && s.worker.Status().Running {
		return web.DashProgress{Running: true, Message: "Starting"}
	}
	if len(runs) > 0 && runs[0].Status == store.StatusRunning {
		return web.DashProgress{Running: true, Elsewhere: true, RunID: runs[0].ID, Trigger: runs[0].Trigger, Message: "Running in another process"}
	}
	return web.DashProgress{}
}

// dashProgressOf turns an engine event into what the page shows.
func dashProgressOf(ev dsync.Event) web.DashProgress {
	p := web.DashProgress{RunID: ev.RunID, Trigger: ev.Trigger, Message: ev.Message, Done: ev.Done, Total: ev.Total}
	if p.Done > p.Total {
		p.Done = p.Total
	}
	if ev.Final {
		p.Final, p.Status = true, ev.Status
	} else {
		p.Running = true
	}
	return p
}

// dashRun is a run as the dashboard shows it.
func (s *Server) dashRun(run store.Run) web.DashRun {
	d := web.DashRun{
		ID: run.ID, Trigger: run.Trigger, Status: run.Status,
		Started:    dashTime(run.StartedAt),
		StartedISO: run.StartedAt.UTC().Format(time.RFC3339),
		Members:    run.Counts.Members, Groups: run.Counts.Groups,
		Error: dashExcerpt(run.Error, dashErrorExcerpt),
	}
	if run.FinishedAt != nil {
		d.Duration = dashDuration(run.FinishedAt.Sub(run.StartedAt))
	}
	return d
}

// runningAnywhere reports a run going on in this process or, as the run
// history shows, in another one sharing the database.
func (s *Server) runningAnywhere(ctx context.Context) (bool, error) {
	if s.worker != nil && s.worker.Status().Running {
		return true, nil
	}
	if s.engine != nil {
		if _, ok := s.engine.Current(); ok {
			return true, nil
		}
	}
	last, err := s.runs.LastRun(ctx, store.DefaultProfile)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check for a running sync: %w", err)
	}
	return last.Status == store.StatusRunning, nil
}

func dashTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// dashWhen is a time with how far away it is ("in 4 min").
func dashWhen(t, now time.Time) string {
	d := t.Sub(now)
	switch {
	case d < time.Minute:
		return dashTime(t) + " (any moment now)"
	default:
		return dashTime(t) + " (in " + dashDuration(d.Round(time.Minute)) + ")"
	}
}

// dashInterval is "every N minutes" in the simplest unit.
func dashInterval(minutes int) string {
	switch {
	case minutes == 1:
		return "every minute"
	case minutes == 24*60:
		return "every day"
	case minutes == 60:
		return "every hour"
	case minutes%60 == 0:
		return fmt.Sprintf("every %d hours", minutes/60)
	}
	return fmt.Sprintf("every %d minutes", minutes)
}

// dashDuration is a short human duration: 850 ms, 4.2 s, 3 min 5 s,
// 2 h 10 min.
func dashDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0 ms"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Hour:
		m, sec := int(d/time.Minute), int((d%time.Minute)/time.Second)
		if sec == 0 {
			return fmt.Sprintf("%d min", m)
		}
		return fmt.Sprintf("%d min %d s", m, sec)
	}
	h, m := int(d/time.Hour), int((d%time.Hour)/time.Minute)
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// dashExcerpt cuts s to at most n runes, marking the cut.
func dashExcerpt(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
