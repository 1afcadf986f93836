package server

import (
	"net/http"

	"github.com/dirsync/dirsync/web"
)

// PLACEHOLDERS. The Dashboard, Test preview, History and More pages are
// built separately; these stand-ins keep the navigation working until
// then. Replace each with its own file (dashboard.go, test_preview.go,
// history.go, more.go) and delete it here.

// dashboard is a placeholder for the Dashboard page.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, s.page(r, "Dashboard", "dashboard"),
		web.Placeholder("Dashboard", "The state of the last sync and the next one will appear here."))
}

// testPreview is a placeholder for the Test (preview) page.
func (s *Server) testPreview(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, s.page(r, "Test", "test"),
		web.Placeholder("Test", "A preview of what a sync would send and change will appear here."))
}

// history is a placeholder for the History page.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, s.page(r, "History", "history"),
		web.Placeholder("History", "Every sync run will be listed here."))
}

// more is a placeholder for the More page.
func (s *Server) more(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, s.page(r, "More", "more"),
		web.Placeholder("More", "Maintenance actions, such as clearing the sync cache, will appear here."))
}
