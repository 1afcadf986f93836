package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/internal/store"
)

// TestAuditTrail runs the admin actions and reads them back from /audit.
func TestAuditTrail(t *testing.T) {
	d := newDashEnv(t, true)
	c := d.client()
	// A failed login by a known name and by an unknown one.
	wantStatus(t, d.post(c, "/login", url.Values{"username": {testUser}, "password": {"wrong password!"}}), http.StatusUnauthorized)
	wantStatus(t, d.post(c, "/login", url.Values{"username": {"hunter2-typed-here"}, "password": {"x"}}), http.StatusUnauthorized)
	d.login(c)
	wantStatus(t, d.post(c, "/sync", url.Values{}), http.StatusSeeOther)
	d.waitRunsDone(t, 1)
	wantStatus(t, d.post(c, "/schedule/start", url.Values{}), http.StatusSeeOther)
	wantStatus(t, d.post(c, "/schedule/stop", url.Values{}), http.StatusSeeOther)
	d.waitRunsDone(t, 1)
	wantStatus(t, d.post(c, "/cache/clear", url.Values{"confirm": {"yes"}}), http.StatusSeeOther)
	wantStatus(t, d.post(c, "/settings", validForm()), http.StatusSeeOther)
	wantStatus(t, d.get(c, "/settings/export"), http.StatusOK)
	wantStatus(t, d.post(c, "/logout", url.Values{}), http.StatusSeeOther)
	d.login(c)

	r := d.get(c, "/audit")
	wantStatus(t, r, http.StatusOK)
	checkNoInline(t, "audit", r.body)
	doc := r.doc(t)
	type row struct{ actor, action, detail string }
	var got []row
	testid(doc, "audit-row").Each(func(_ int, s *goquery.Selection) {
		got = append(got, row{
			strings.TrimSpace(s.Find(`[data-testid="audit-actor"]`).Text()),
			strings.TrimSpace(s.Find(`[data-testid="audit-action"]`).Text()),
			strings.TrimSpace(s.Find(`[data-testid="audit-detail"]`).Text()),
		})
	})
	// Newest first.
	want := []row{
		{testUser, "admin.login", ""},
		{testUser, "admin.logout", ""},
		{testUser, "settings.exported", "secrets redacted"},
		{testUser, "settings.saved", ""},
		{testUser, "cache.cleared", ""},
		{testUser, "schedule.stopped", ""},
		{testUser, "schedule.started", "interval 15 minutes"},
		{testUser, "sync.started", "manual sync (Sync now)"},
		{testUser, "admin.login", ""},
		{"", "admin.login_failed", "unknown user name"},
		{testUser, "admin.login_failed", "wrong password"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d audit rows, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].actor != want[i].actor || got[i].action != want[i].action ||
			(want[i].detail != "" && got[i].detail != want[i].detail) {
			t.Errorf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if strings.Contains(r.body, "hunter2-typed-here") {
		t.Fatal("an unknown login name (maybe a password) is in the audit log")
	}
	if got := testid(doc, "audit-page").Text(); !strings.Contains(got, "Page 1 of 1") {
		t.Fatalf("pager %q", got)
	}
}

func TestAuditPagination(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c) // entry 1
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 119 { // entries 2..120
		if err := e.st.AddAudit(context.Background(), store.AuditEntry{At: at.Add(time.Duration(i) * time.Minute), Actor: "bulk", Action: "test.entry", Detail: "n" + itoa(i+2), RemoteAddr: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		query       string
		rows        int
		first, page string
		prev, next  bool
	}{
		{"", 50, "n120", "Page 1 of 3 (120 entries)", false, true},
		{"?page=1", 50, "n120", "Page 1 of 3", false, true},
		{"?page=2", 50, "n70", "Page 2 of 3", true, true},
		{"?page=3", 20, "n20", "Page 3 of 3", true, false},
		{"?page=99", 20, "n20", "Page 3 of 3", true, false},
		{"?page=0", 50, "n120", "Page 1 of 3", false, true},
		{"?page=abc", 50, "n120", "Page 1 of 3", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			r := e.get(c, "/audit"+tc.query)
			wantStatus(t, r, http.StatusOK)
			d := r.doc(t)
			rows := testid(d, "audit-row")
			if rows.Length() != tc.rows {
				t.Fatalf("%d rows, want %d", rows.Length(), tc.rows)
			}
			if got := strings.TrimSpace(rows.First().Find(`[data-testid="audit-detail"]`).Text()); got != tc.first {
				t.Fatalf("first row %q, want %q", got, tc.first)
			}
			if got := testid(d, "audit-page").Text(); !strings.Contains(got, tc.page) {
				t.Fatalf("pager %q, want %q", got, tc.page)
			}
			if (testid(d, "audit-prev").Length() == 1) != tc.prev || (testid(d, "audit-next").Length() == 1) != tc.next {
				t.Fatalf("prev/next links wrong")
			}
		})
	}
	if href, _ := testid(e.get(c, "/audit?page=2").doc(t), "audit-next").Attr("href"); href != "/audit?page=3" {
		t.Fatalf("next link %q", href)
	}
}
