package server

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/dirsync/dirsync/web"
)

// auditPageSize is how many entries one page of the audit log shows.
const auditPageSize = 50

// auditPage is GET /audit?page=N: the audit log, newest first. A missing
// or malformed page number means the first page; one past the end, the
// last.
func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	entries, total, err := s.runs.ListAudit(r.Context(), auditPageSize, (page-1)*auditPageSize)
	if err != nil {
		s.serverError(w, r, fmt.Errorf("audit page: %w", err))
		return
	}
	pages := max(1, (total+auditPageSize-1)/auditPageSize)
	if page > pages {
		page = pages
		if entries, total, err = s.runs.ListAudit(r.Context(), auditPageSize, (page-1)*auditPageSize); err != nil {
			s.serverError(w, r, fmt.Errorf("audit page: %w", err))
			return
		}
	}
	v := web.AuditView{Rows: auditRows(entries), Page: page, Pages: pages, Total: total}
	s.render(w, r, http.StatusOK, s.page(r, "Audit log", "more"), web.AuditPage(v))
}
