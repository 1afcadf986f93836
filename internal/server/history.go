package server

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
	"github.com/dirsync/dirsync/web"
)

// historyPageSize is the number of runs per History page.
const historyPageSize = 50

// errorExcerptLen is how much of a run's error the History table shows.
const errorExcerptLen = 90

// History filter choices: the values a run's status and trigger take.
var (
	historyStatuses = []string{store.StatusSuccess, store.StatusUnchanged, store.StatusFailed, store.StatusHeld,
		store.StatusApproved, store.StatusDiscarded, store.StatusDryRun, store.StatusInterrupted, store.StatusRunning}
	historyTriggers = []string{dsync.TriggerSchedule, dsync.TriggerManual, dsync.TriggerCLI, dsync.TriggerApproval}
)

// history is GET /history?page=N&status=S&trigger=T: the profile's runs,
// newest first, optionally only those of one status and trigger. A page
// past the end shows the last page; an unknown filter value is ignored.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.RunFilter{Status: q.Get("status"), Trigger: q.Get("trigger")}
	if !slices.Contains(historyStatuses, f.Status) {
		f.Status = ""
	}
	if !slices.Contains(historyTriggers, f.Trigger) {
		f.Trigger = ""
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	runs, total, err := s.runs.ListRunsWhere(r.Context(), store.DefaultProfile, f, historyPageSize, (page-1)*historyPageSize)
	if err != nil {
		s.serverError(w, r, fmt.Errorf("history page %d: %w", page, err))
		return
	}
	pages := max(1, (total+historyPageSize-1)/historyPageSize)
	if page > pages {
		page = pages
		runs, total, err = s.runs.ListRunsWhere(r.Context(), store.DefaultProfile, f, historyPageSize, (page-1)*historyPageSize)
		if err != nil {
			s.serverError(w, r, fmt.Errorf("history page %d: %w", page, err))
			return
		}
		pages = max(1, (total+historyPageSize-1)/historyPageSize)
	}
	v := web.HistoryView{Page: page, Pages: pages, Total: total, Runs: make([]web.HistoryRow, len(runs)),
		Status: f.Status, Trigger: f.Trigger, Statuses: historyStatuses, Triggers: historyTriggers}
	for i, run := range runs {
		c := run.Counts
		v.Runs[i] = web.HistoryRow{
			ID: run.ID, StartedAt: run.StartedAt, Trigger: run.Trigger, Status: run.Status,
			Duration: runDuration(run), Members: c.Members, Groups: c.Groups,
			Invites: c.Invites, Removals: c.Removals, GroupsChanged: c.GroupsChanged,
			Error: excerpt(run.Error, errorExcerptLen),
		}
	}
	s.render(w, r, http.StatusOK, s.page(r, "History", "history"), web.HistoryPage(v))
}

// runDuration is a finished run's length, formatted; "" while running.
func runDuration(r store.Run) string {
	if r.FinishedAt == nil {
		return ""
	}
	return formatDuration(r.FinishedAt.Sub(r.StartedAt))
}

// formatDuration writes a duration the way people read one: "230 ms",
// "4.2 s", "3 min 12 s", "2 h 5 min".
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
}

// excerpt is the start of s on one line, at most n characters.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if n == 0 {
			cut = i
			break
		}
		n--
	}
	return strings.TrimRight(s[:cut], " ") + "…"
}
