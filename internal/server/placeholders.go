package server

import (
	"net/http"

	"github.com/dirsync/dirsync/web"
)

// PLACEHOLDERS. The Dashboard, Test preview, History and More pages are
// built separately; these stand-ins keep the navigation working until
// then. Replace each with its own file (dashboard.go, test_preview.go,
// history.go, more.go) and delete it here.

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
