package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/store"
)

func auditActions(t *testing.T, st *store.Store) string {
	t.Helper()
	entries, _, err := st.ListAudit(context.Background(), 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Actor + " " + e.Action + " " + e.Detail + "\n")
	}
	return b.String()
}

func TestAccountSessionsAndSignOutOthers(t *testing.T) {
	e := newEnv(t, true)
	c1, c2 := e.client(), e.client()
	e.login(c1)
	e.login(c2)
	r := e.do(c1, "GET", "/account", nil, map[string]string{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"})
	wantStatus(t, r, http.StatusOK)
	d := r.doc(t)
	if n := testid(d, "session-row").Length(); n != 2 {
		t.Fatalf("%d session rows, want 2", n)
	}
	if n := testid(d, "session-current").Length(); n != 1 {
		t.Fatalf("%d sessions marked current, want 1", n)
	}
	if got := testid(d, "session-addr").First().Text(); got != "127.0.0.1" {
		t.Errorf("address %q", got)
	}
	if got := testid(d, "session-browser").First().Text(); !strings.Contains(got, "Go HTTP client") {
		t.Errorf("browser %q", got)
	}
	wantStatus(t, e.post(c1, "/account/sessions/others", url.Values{}), http.StatusSeeOther)
	wantLocation(t, e.get(c2, "/"), "/login")
	wantStatus(t, e.get(c1, "/"), http.StatusOK)
	r = e.get(c1, "/account")
	if n := testid(r.doc(t), "session-row").Length(); n != 1 {
		t.Fatalf("%d session rows after signing out the others, want 1", n)
	}
	if !strings.Contains(auditActions(t, e.st), "admin admin.sessions_ended signed out 1 other session(s)") {
		t.Errorf("no audit entry:\n%s", auditActions(t, e.st))
	}
}

func TestAccountChangePassword(t *testing.T) {
	e := newEnv(t, true)
	c1, c2 := e.client(), e.client()
	e.login(c1)
	e.login(c2)
	const newPassword = "a different long passphrase"
	for _, tc := range []struct {
		name, current, password, confirm, slot, want string
	}{
		{"wrong current", "not my password at all", newPassword, newPassword, "password-error-current", "not your current password"},
		{"mismatch", testPassword, newPassword, newPassword + "x", "password-error-confirm", "differ"},
		{"too short", testPassword, "short", "short", "password-error-password", "at least 12"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(c1, "/account/password", url.Values{"current": {tc.current}, "password": {tc.password}, "confirm": {tc.confirm}})
			wantStatus(t, r, http.StatusUnprocessableEntity)
			if got := testid(r.doc(t), tc.slot).Text(); !strings.Contains(got, tc.want) {
				t.Fatalf("%s = %q, want %q", tc.slot, got, tc.want)
			}
		})
	}
	r := e.post(c1, "/account/password", url.Values{"current": {testPassword}, "password": {newPassword}, "confirm": {newPassword}})
	wantStatus(t, r, http.StatusSeeOther)
	wantStatus(t, e.get(c1, "/"), http.StatusOK) // this session stays
	wantLocation(t, e.get(c2, "/"), "/login")
	c3 := e.client()
	wantStatus(t, e.post(c3, "/login", url.Values{"username": {testUser}, "password": {testPassword}}), http.StatusUnauthorized)
	wantStatus(t, e.post(c3, "/login", url.Values{"username": {testUser}, "password": {newPassword}}), http.StatusSeeOther)
	a := auditActions(t, e.st)
	if !strings.Contains(a, "admin.password_changed") || !strings.Contains(a, "admin.password_change_failed") {
		t.Errorf("audit:\n%s", a)
	}
}

func TestAccountAdmins(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	// The last admin cannot be removed, by anyone.
	if err := e.st.DeleteAdmin(context.Background(), testUser); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("removing the only admin: %v, want ErrLastAdmin", err)
	}
	r := e.post(c, "/account/admins", url.Values{"username": {"Bob"}, "password": {"short"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := testid(r.doc(t), "admin-error-password").Text(); !strings.Contains(got, "at least 12") {
		t.Fatalf("password error %q", got)
	}
	const bobPassword = "bob's long passphrase"
	wantStatus(t, e.post(c, "/account/admins", url.Values{"username": {"Bob"}, "password": {bobPassword}}), http.StatusSeeOther)
	r = e.post(c, "/account/admins", url.Values{"username": {"bob"}, "password": {bobPassword}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := testid(r.doc(t), "admin-error-username").Text(); !strings.Contains(got, "already exists") {
		t.Fatalf("duplicate error %q", got)
	}
	bob := e.client()
	wantStatus(t, e.post(bob, "/login", url.Values{"username": {"bob"}, "password": {bobPassword}}), http.StatusSeeOther)
	wantStatus(t, e.get(bob, "/"), http.StatusOK)
	r = e.get(c, "/account")
	if got := testid(r.doc(t), "admin-name").Length(); got != 2 {
		t.Fatalf("%d admins listed", got)
	}
	// Nobody removes themselves here.
	r = e.post(c, "/account/admins/remove", url.Values{"username": {testUser}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	// Removing bob ends bob's session at once.
	wantStatus(t, e.post(c, "/account/admins/remove", url.Values{"username": {"bob"}}), http.StatusSeeOther)
	wantLocation(t, e.get(bob, "/"), "/login")
	if _, err := e.st.GetAdmin(context.Background(), "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob still exists: %v", err)
	}
	wantStatus(t, e.post(c, "/account/admins/remove", url.Values{"username": {"bob"}}), http.StatusNotFound)
	a := auditActions(t, e.st)
	if !strings.Contains(a, "admin admin.created bob") || !strings.Contains(a, "admin admin.removed bob") {
		t.Errorf("audit:\n%s", a)
	}
}

// TestPasswordResetEndsSessions: a reset from the CLI (another process,
// the same database) ends the sessions at their next request.
func TestPasswordResetEndsSessions(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	h, _ := auth.Hash("another long passphrase", auth.TestParams)
	if err := e.st.SetAdminPassword(context.Background(), testUser, h); err != nil {
		t.Fatal(err)
	}
	r := e.get(c, "/")
	wantLocation(t, r, "/login")
	if got := testid(e.get(c, "/login").doc(t), "flash-info").Text(); !strings.Contains(got, "session has ended") {
		t.Fatalf("flash %q", got)
	}
}
