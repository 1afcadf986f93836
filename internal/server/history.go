package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

// historyPageSize is the number of runs per History page.
const historyPageSize = 50

// errorExcerptLen is how much of a run's error the History table shows.
const errorExcerptLen = 90

// history is GET /history?page=N: every run of the profile, newest first.
// A page past the end shows the last page.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	runs, total, err := s.runs.ListRuns(r.Context(), store.DefaultProfile, historyPageSize, (page-1)*historyPageSize)
	if err != nil {
		s.serverError(w, r, fmt.Errorf("history page %d: %w", page, err))
		return
	}
	pages := max(1, (total+historyPageSize-1)/historyPageSize)
	if page > pages {
		page = pages
		runs, total, err = s.runs.ListRuns(r.Context(), store.DefaultProfile, historyPageSize, (page-1)*historyPageSize)
		if err != nil {
			s.serverError(w, r, fmt.Errorf("history page %d: %w", page, err))
			return
		}
		pages = max(1, (total+historyPageSize-1)/historyPageSize)
	}
	v := web.HistoryView{Page: page, Pages: pages, Total: total, Runs: make([]web.HistoryRow, len(runs))}
	for i, run := range runs {
		v.Runs[i] = web.HistoryRow{
			ID: run.ID, StartedAt: run.StartedAt, Trigger: run.Trigger, Status: run.Status,
			Duration: runDuration(run), Members: run.Counts.Members, Groups: run.Counts.Groups,
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
