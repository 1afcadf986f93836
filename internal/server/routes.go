package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes lists every route of the console. Add a page by adding its
// handler file and one line under the right heading.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()

	// --- Probes and static assets: no session, no login ---
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Handle("/static/*", s.static())

	r.Group(func(r chi.Router) {
		r.Use(s.withSession)

		// --- Login and first-admin setup: open to everyone ---
		r.Get("/login", s.loginShow)
		r.Post("/login", s.loginSubmit)
		r.Get("/setup", s.setupShow)
		r.Post("/setup", s.setupSubmit)

		// --- Everything else needs a logged-in admin ---
		r.Group(func(r chi.Router) {
			r.Use(s.requireLogin)

			r.Post("/logout", s.logout)

			// --- Dashboard (placeholder: dashboard.go) ---
			r.Get("/", s.dashboard)

			// --- Test preview (placeholder: test_preview.go) ---
			r.Get("/test", s.testPreview)

			// --- History (placeholder: history.go) ---
			r.Get("/history", s.history)

			// --- Settings ---
			r.Get("/settings", s.settingsShow)               // settings.go
			r.Post("/settings", s.settingsSave)              // settings_save.go
			r.Post("/settings/validate", s.settingsValidate) // settings_validate.go

			// --- More (placeholder: more.go) ---
			r.Get("/more", s.more)
		})
	})

	// Unknown paths need a login too, so they reveal nothing to strangers.
	notFound := s.withSession(s.requireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "Page not found", "There is no page at this address.")
	})))
	r.NotFound(notFound.ServeHTTP)
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	})
	return r
}
