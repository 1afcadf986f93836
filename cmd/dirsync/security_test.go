package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
)

// TestConfigImportRedactedSecretBoundToHost: an import that keeps a stored
// secret ("[REDACTED]" or left out) while pointing it at another host is
// refused, naming the field, and nothing is saved.
func TestConfigImportRedactedSecretBoundToHost(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run(c.settingsJSON(nil), "config", "import", "-"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	for _, tc := range []struct {
		name, field string
		mod         func(m map[string]any)
	}{
		{"okta org URL", "okta.token", func(m map[string]any) {
			o := m["directory"].(map[string]any)["okta"].(map[string]any)
			o["orgUrl"], o["token"] = "https://evil.example.com", "[REDACTED]"
		}},
		{"bitwarden server", "bitwarden.clientSecret", func(m map[string]any) {
			b := m["bitwarden"].(map[string]any)
			b["server"] = "https://vault.evil.example.com"
			delete(b, "clientSecret")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := c.run(c.settingsJSON(tc.mod), "config", "import", "-")
			if code != exitBadConf || !strings.Contains(stderr, tc.field+":") || !strings.Contains(stderr, "nothing was saved") {
				t.Fatalf("exit %d, stderr %q; want %d naming %s", code, stderr, exitBadConf, tc.field)
			}
			_, out, _ := c.run("", "config", "export")
			if strings.Contains(out, "evil") {
				t.Fatalf("the refused import was saved:\n%s", out)
			}
		})
	}
	// Keeping the secret with the same host still works.
	code, _, stderr := c.run(c.settingsJSON(func(m map[string]any) {
		m["directory"].(map[string]any)["okta"].(map[string]any)["token"] = "[REDACTED]"
	}), "config", "import", "-")
	if code != 0 {
		t.Fatalf("re-import with the same host: exit %d: %s", code, stderr)
	}
}

// TestTestOutputEscapesControlCharacters: Okta data with terminal escape
// sequences, carriage returns and bidi overrides is printed escaped.
func TestTestOutputEscapesControlCharacters(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run(c.settingsJSON(nil), "config", "import", "-"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	now := time.Now().UTC()
	c.okta.AddUser(oktatest.User{Status: "ACTIVE", Created: now, LastUpdated: now, Login: "evil@example.com",
		Email: "evil\x1b]0;owned\x07\x1b[2J@example.com", FirstName: "E", LastName: "V"})
	gid := c.okta.AddGroup(oktatest.Group{Type: "OKTA_GROUP", Name: "Ops\r\u202eSpoofed", Created: now, LastUpdated: now, LastMembershipUpdated: now})
	_ = gid
	code, out, stderr := c.run("", "test")
	if code != 0 {
		t.Fatalf("test: exit %d: %s", code, stderr)
	}
	if strings.ContainsAny(out+stderr, "\x1b\x07\r\u202e") {
		t.Fatalf("raw control characters in the output:\n%q", out)
	}
	if !strings.Contains(out, `Ops\x0d\u202eSpoofed`) || !strings.Contains(strings.ToLower(out), `evil\x1b]0;owned\x07\x1b[2j@example.com`) {
		t.Fatalf("escaped names not found in:\n%s", out)
	}
}

// TestCLIActionsAudited: config import, cache clear and the admin
// commands write audit rows with actor "cli" and the OS user; admin
// unlock clears a locked-out name.
func TestCLIActionsAudited(t *testing.T) {
	c := newCLI(t)
	const pw = "a long enough passphrase\n"
	steps := [][]string{
		{"config", "import", "-"}, {"cache", "clear"}, {"admin", "create", "alice"}, {"admin", "create", "bob"},
		{"admin", "reset-password", "bob"}, {"admin", "unlock", "alice"}, {"admin", "remove", "bob"},
	}
	for _, args := range steps {
		in := pw
		if args[0] == "config" {
			in = c.settingsJSON(nil)
		}
		if code, _, stderr := c.run(in, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	if code, _, stderr := c.run("", "admin", "remove", "alice"); code == 0 || !strings.Contains(stderr, "last") {
		t.Fatalf("removing the last admin: exit %d: %s", code, stderr)
	}
	st, err := store.Open(context.Background(), c.db, store.Options{KeyFile: filepath.Join(filepath.Dir(c.db), "secret.key")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, _, err := st.ListAudit(context.Background(), 50, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		if e.Actor != "cli" || !strings.HasPrefix(e.RemoteAddr, "os user ") {
			t.Errorf("entry %+v: want actor cli and the OS user", e)
		}
		got[e.Action] = true
	}
	for _, want := range []string{"settings.imported", "cache.cleared", "admin.created", "admin.password_reset", "admin.unlocked", "admin.removed"} {
		if !got[want] {
			t.Errorf("no %s entry; have %v", want, got)
		}
	}
	// Unlock really clears the throttle.
	for range 5 {
		if _, _, err := st.ReserveLogin(context.Background(), "alice", "10.9.9.9", time.Now(), store.DefaultLoginLimits); err != nil {
			t.Fatal(err)
		}
	}
	if _, wait, _ := st.ReserveLogin(context.Background(), "alice", "10.9.9.9", time.Now(), store.DefaultLoginLimits); wait == 0 {
		t.Fatal("not throttled after 5 failures")
	}
	if code, _, stderr := c.run("", "admin", "unlock", "alice"); code != 0 || !strings.Contains(stderr, "5 failed login(s)") {
		t.Fatalf("unlock: exit %d: %s", code, stderr)
	}
	if _, wait, _ := st.ReserveLogin(context.Background(), "alice", "10.9.9.9", time.Now(), store.DefaultLoginLimits); wait != 0 {
		t.Fatalf("still throttled after unlock: %v", wait)
	}
}

// TestEchoedTokenNotOnStderr: an Okta error quoting the Authorization
// header reaches stderr and the history with the token redacted.
func TestEchoedTokenNotOnStderr(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run(c.settingsJSON(nil), "config", "import", "-"); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	tok := c.okta.Token()
	c.okta.FailNextRaw("/api/v1/users", 401, 10, "application/json",
		`{"errorCode":"E0000011","errorSummary":"Invalid token provided: Authorization: SSWS `+tok+`"}`)
	code, out, stderr := c.run("", "sync")
	if code == 0 {
		t.Fatal("the sync succeeded")
	}
	_, hist, _ := c.run("", "history")
	if all := out + stderr + hist; strings.Contains(all, tok) || !strings.Contains(stderr, "[REDACTED]") {
		t.Fatalf("stdout/stderr/history:\n%s\n%s\n%s", out, stderr, hist)
	}
}
