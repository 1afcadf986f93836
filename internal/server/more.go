package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/dirsync/dirsync/internal/store"
	"github.com/dirsync/dirsync/web"
)

// moreAuditRows is how many audit entries the More page shows.
const moreAuditRows = 5

// more is GET /more: maintenance actions, the export, the version, links
// to documentation and the latest audit entries.
func (s *Server) more(w http.ResponseWriter, r *http.Request) {
	s.renderMore(w, r, http.StatusOK, "")
}

// renderMore renders the More page with status, and confirmErr next to
// the cache-clear form when it was sent unconfirmed.
func (s *Server) renderMore(w http.ResponseWriter, r *http.Request, status int, confirmErr string) {
	v, err := s.moreView(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v.ConfirmError = confirmErr
	s.render(w, r, status, s.page(r, "More", "more"), web.MorePage(v))
}

func (s *Server) moreView(ctx context.Context) (web.MoreView, error) {
	v := web.MoreView{Version: s.cfg.Version}
	stored, err := s.loadSettings(ctx)
	if err != nil {
		return v, err
	}
	v.HasSettings = stored.Found
	if v.Running, err = s.runningAnywhere(ctx); err != nil {
		return v, err
	}
	entries, total, err := s.runs.ListAudit(ctx, moreAuditRows, 0)
	if err != nil {
		return v, fmt.Errorf("more: list audit: %w", err)
	}
	v.Audit, v.AuditTotal = auditRows(entries), total
	return v, nil
}

// auditRows turns audit entries into table rows.
func auditRows(entries []store.AuditEntry) []web.AuditRow {
	out := make([]web.AuditRow, 0, len(entries))
	for _, e := range entries {
		out = append(out, web.AuditRow{
			At: dashTime(e.At), AtISO: e.At.UTC().Format(time.RFC3339),
			Actor: e.Actor, Action: e.Action, Detail: e.Detail, RemoteAddr: e.RemoteAddr,
		})
	}
	return out
}
