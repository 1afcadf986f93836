package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/dirsync/dirsync/internal/alert"
	"github.com/dirsync/dirsync/web"
)

// AlertSender sends the Settings page's test alert; *alert.Notifier
// satisfies it.
type AlertSender interface {
	SendTest(ctx context.Context, urls []string) ([]alert.Delivery, error)
}

// alertsTestSend is POST /settings/alerts/test: post a test alert to the
// saved webhook URLs and flash one line per URL with its host and the
// result. Webhook URLs carry credentials, so nothing but the host of each
// is ever shown, logged or audited.
func (s *Server) alertsTestSend(w http.ResponseWriter, r *http.Request) {
	// Back to the top of Settings, where the flashes are.
	const back = "/settings"
	if s.alerts == nil {
		s.flash(r, web.FlashError, "Alerts are not available in this process.")
		s.redirect(w, r, back)
		return
	}
	stored, err := s.loadSettings(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if stored.KeyMismatch {
		s.flash(r, web.FlashError, "The saved webhook URLs cannot be read with this master key; enter them again and save the settings.")
		s.redirect(w, r, back)
		return
	}
	urls := stored.Alerts.Webhooks()
	if len(urls) == 0 {
		s.flash(r, web.FlashInfo, "No webhook URL is saved, so no test alert was sent. Enter one under Alerts and save the settings first.")
		s.redirect(w, r, back)
		return
	}
	// The error only repeats what the deliveries say.
	ds, _ := s.alerts.SendTest(r.Context(), urls)
	delivered := 0
	var hosts []string
	for _, d := range ds {
		hosts = append(hosts, d.Host)
		if d.OK() {
			delivered++
			s.flash(r, web.FlashSuccess, deliveryLine(d))
		} else {
			s.flash(r, web.FlashError, deliveryLine(d))
		}
	}
	s.addAudit(r, sessionFrom(r).user, "alerts.tested",
		fmt.Sprintf("test alert delivered to %d of %d webhooks (%s)", delivered, len(ds), strings.Join(hosts, ", ")))
	s.redirect(w, r, back)
}

// deliveryLine is one webhook's result: its host and what happened.
func deliveryLine(d alert.Delivery) string {
	tries := ""
	if d.Tries > 1 {
		tries = fmt.Sprintf(" after %d tries", d.Tries)
	}
	if d.OK() {
		return fmt.Sprintf("Test alert to %s: delivered (HTTP %d)%s.", d.Host, d.Status, tries)
	}
	return fmt.Sprintf("Test alert to %s: not delivered — %s%s.", d.Host, d.Error, tries)
}
