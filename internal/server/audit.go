package server

import (
	"net/http"
	"strconv"

	"github.com/dirsync/dirsync/internal/store"
)

// addAudit records an action. A failure is logged, not shown: the action
// itself has succeeded. detail must never hold secret values.
func (s *Server) addAudit(r *http.Request, actor, action, detail string) {
	e := store.AuditEntry{At: s.now(), Actor: actor, Action: action, Detail: detail, RemoteAddr: remoteAddr(r)}
	if err := s.audit.AddAudit(r.Context(), e); err != nil {
		s.log.Error("write audit entry", "action", action, "err", err, "request_id", requestIDFrom(r.Context()))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
