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
	r.Get("/metrics", s.metrics()) // metrics.go (optional bearer token)
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

			// --- Account: sessions, password, admins ---
			r.Get("/account", s.account)                               // account.go
			r.Post("/account/sessions/others", s.accountSignOutOthers) // account.go
			r.Post("/account/password", s.accountPassword)             // account.go
			r.Post("/account/admins", s.accountAddAdmin)               // account.go
			r.Post("/account/admins/remove", s.accountRemoveAdmin)     // account.go

			// --- Dashboard and sync actions ---
			r.Get("/", s.dashboard)                       // dashboard.go
			r.Get("/dashboard/status", s.dashboardStatus) // dashboard.go
			r.Get("/events", s.events)                    // events.go (SSE)
			r.Post("/sync", s.syncNow)                    // sync_now.go
			r.Post("/schedule/start", s.scheduleStart)    // schedule_toggle.go
			r.Post("/schedule/stop", s.scheduleStop)      // schedule_toggle.go

			// --- Test preview ---
			r.Get("/test", s.testPreview)        // test_preview.go
			r.Post("/test/run", s.testRun)       // test_preview.go (starts a background job)
			r.Post("/test/cancel", s.testCancel) // test_preview.go
			r.Get("/test/events", s.testEvents)  // test_preview.go (SSE)

			// --- History ---
			r.Get("/history", s.history)                  // history.go
			r.Get("/history/{id}", s.runPage)             // run_page.go
			r.Post("/history/{id}/approve", s.runApprove) // run_actions.go
			r.Post("/history/{id}/discard", s.runDiscard) // run_actions.go

			// --- Settings ---
			r.Get("/settings", s.settingsShow)                // settings.go
			r.Post("/settings", s.settingsSave)               // settings_save.go
			r.Post("/settings/validate", s.settingsValidate)  // settings_validate.go
			r.Post("/settings/alerts/test", s.alertsTestSend) // alerts_test_send.go
			// A section's "Check connection": an htmx fragment, or the page.
			r.Post("/settings/check/{section}", s.settingsCheck) // settings_check.go
			r.Post("/settings/preset", s.settingsPreset)         // settings_preset.go

			// --- More ---
			r.Get("/more", s.more)                      // more.go
			r.Post("/cache/clear", s.cacheClear)        // cache_clear.go
			r.Get("/settings/export", s.settingsExport) // more_export.go
			r.Get("/audit", s.auditPage)                // audit_page.go
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
