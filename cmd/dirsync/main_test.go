package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
)

type cli struct {
	t    *testing.T
	db   string
	okta *oktatest.Server
	bw   *bwtest.Server
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	t.Setenv("DIRSYNC_SECRET_KEY_FILE", "")
	c := &cli{t: t, db: filepath.Join(t.TempDir(), "nested", "dirsync.db")}
	c.okta = oktatest.New(oktatest.Options{})
	t.Cleanup(c.okta.Close)
	c.okta.SetOrg(oktatest.Generate(oktatest.Spec{Users: 30, Groups: 3, MembersPerGroup: 5, Deprovisioned: 2, Suspended: 2, Seed: 9}))
	c.bw = bwtest.New(bwtest.Options{})
	t.Cleanup(c.bw.Close)
	return c
}

// run runs dirsync with the test's database and returns exit code, stdout
// and stderr.
func (c *cli) run(stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"--db", c.db}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func (c *cli) settingsJSON(mod func(m map[string]any)) string {
	m := map[string]any{
		"directory": map[string]any{"type": "okta", "okta": map[string]any{"orgUrl": c.okta.URL + "/", "token": c.okta.Token()}},
		"bitwarden": map[string]any{"server": c.bw.URL, "clientId": c.bw.ClientID(), "clientSecret": c.bw.ClientSecret()},
		"sync": map[string]any{"intervalMinutes": 15, "removeDisabled": true, "overwriteExisting": false,
			"largeImport": false, "users": true, "userFilter": "", "groups": true, "groupFilter": ""},
	}
	if mod != nil {
		mod(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestConfigImportExport(t *testing.T) {
	c := newCLI(t)
	code, _, stderr := c.run(c.settingsJSON(nil), "config", "import", "-")
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(c.db), "secret.key")); err != nil {
		t.Errorf("no secret.key next to the database: %v", err)
	}
	code, out, stderr := c.run("", "config", "export")
	if code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	if strings.Contains(out, c.okta.Token()) || strings.Contains(out, c.bw.ClientSecret()) {
		t.Fatalf("export shows a secret:\n%s", out)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, out)
	}
	okta := got["directory"].(map[string]any)["okta"].(map[string]any)
	if okta["orgUrl"] != c.okta.URL || okta["token"] != "[REDACTED]" {
		t.Errorf("export okta %v (want trailing slash trimmed, token redacted)", okta)
	}
	if got["sync"].(map[string]any)["intervalMinutes"].(float64) != 15 {
		t.Errorf("interval not kept: %v", got["sync"])
	}
	// The redacted export imports back and keeps the stored secrets.
	f := filepath.Join(t.TempDir(), "settings.json")
	os.WriteFile(f, []byte(out), 0o600)
	if code, _, stderr := c.run("", "config", "import", f); code != 0 {
		t.Fatalf("re-import of the export: exit %d: %s", code, stderr)
	}
	if code, _, stderr := c.run("", "sync"); code != 0 {
		t.Fatalf("sync after re-import: exit %d: %s", code, stderr)
	}
}

func TestConfigImportRejectsEveryBadField(t *testing.T) {
	c := newCLI(t)
	bad := c.settingsJSON(func(m map[string]any) {
		m["directory"].(map[string]any)["okta"].(map[string]any)["orgUrl"] = "http://acme.okta.com"
		m["bitwarden"].(map[string]any)["server"] = "mars"
		m["bitwarden"].(map[string]any)["clientId"] = "user.123"
		s := m["sync"].(map[string]any)
		s["intervalMinutes"] = 2
		s["userFilter"] = "foo:a"
		s["groupFilter"] = "include:a:b"
	})
	code, _, stderr := c.run(bad, "config", "import", "-")
	if code == 0 {
		t.Fatal("bad settings were accepted")
	}
	for _, want := range []string{"okta.orgUrl", "must use https", "bitwarden.server", "bitwarden.clientId", "sync.intervalMinutes", "sync.userFilter", `unknown keyword "foo"`, "sync.groupFilter", "nothing was saved"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code, _, stderr := c.run("", "config", "export"); code == 0 || !strings.Contains(stderr, "no settings saved") {
		t.Errorf("something was stored: exit %d %s", code, stderr)
	}
	for name, in := range map[string]string{
		"not json":      "{",
		"unknown field": `{"directory":{"type":"okta","okta":{"orgUrl":"https://a.okta.com","token":"x","tokn":1}}}`,
		"wrong type":    strings.Replace(c.settingsJSON(nil), `"intervalMinutes":15`, `"intervalMinutes":"15"`, 1),
		"empty":         "",
	} {
		code, _, stderr := c.run(in, "config", "import", "-")
		if code == 0 || stderr == "" {
			t.Errorf("%s: exit %d stderr %q", name, code, stderr)
		}
	}
}

func TestSyncTestHistoryCacheClear(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run(c.settingsJSON(nil), "config", "import", "-"); code != 0 {
		t.Fatal(stderr)
	}
	// test --json prints exactly the documented shape and sends nothing.
	code, out, stderr := c.run("", "test", "--json")
	if code != 0 {
		t.Fatalf("test: exit %d: %s", code, stderr)
	}
	var preview struct {
		Users  []map[string]any `json:"users"`
		Groups []map[string]any `json:"groups"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&preview); err != nil {
		t.Fatalf("test --json output: %v\n%s", err, out)
	}
	if len(preview.Users) != 30 || len(preview.Groups) != 3 {
		t.Fatalf("preview: %d users, %d groups", len(preview.Users), len(preview.Groups))
	}
	keys := func(m map[string]any) string {
		var k []string
		for x := range m {
			k = append(k, x)
		}
		return fmt.Sprint(slices.Sorted(slices.Values(k)))
	}
	if got := keys(preview.Users[0]); got != "[deleted disabled email externalId]" {
		t.Errorf("user keys %s", got)
	}
	if got := keys(preview.Groups[0]); got != "[externalId memberExternalIds name]" {
		t.Errorf("group keys %s", got)
	}
	deleted, disabled := 0, 0
	for _, u := range preview.Users {
		if u["deleted"] == true {
			deleted++
		}
		if u["disabled"] == true {
			disabled++
		}
	}
	if deleted != 4 || disabled != 2 { // removeDisabled sends the 2 suspended as deleted too
		t.Errorf("deleted %d disabled %d, want 4 and 2", deleted, disabled)
	}
	if len(c.bw.Imports()) != 0 {
		t.Fatal("test sent an import")
	}

	// sync --json prints the run record.
	code, out, stderr = c.run("", "sync", "--json")
	if code != 0 {
		t.Fatalf("sync: exit %d: %s", code, stderr)
	}
	var run map[string]any
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		t.Fatalf("sync --json: %v\n%s", err, out)
	}
	for _, k := range []string{"id", "status", "trigger", "startedAt", "finishedAt", "counts", "warnings", "error"} {
		if _, ok := run[k]; !ok {
			t.Errorf("run record lacks %q: %s", k, out)
		}
	}
	if run["status"] != "success" || run["trigger"] != "cli" {
		t.Errorf("run %v", run)
	}
	code, out, _ = c.run("", "sync", "--json")
	if code != 0 || !strings.Contains(out, `"status": "unchanged"`) {
		t.Errorf("second sync: exit %d %s", code, out)
	}
	code, out, _ = c.run("", "sync", "--dry-run")
	if code != 0 || !strings.Contains(out, "dry-run") {
		t.Errorf("dry run: exit %d %s", code, out)
	}
	if code, _, stderr := c.run("", "cache", "clear"); code != 0 {
		t.Fatal(stderr)
	}
	if code, _, _ := c.run("", "sync"); code != 0 || len(c.bw.Imports()) != 2 {
		t.Errorf("sync after cache clear: exit %d, imports %d (want 2)", code, len(c.bw.Imports()))
	}

	code, out, _ = c.run("", "history", "--json", "--limit", "2")
	var runs []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 2 || runs[0]["status"] != "success" || runs[1]["status"] != "dry-run" {
		t.Errorf("history --json: exit %d %s", code, out)
	}
	code, out, _ = c.run("", "history")
	if code != 0 || !strings.Contains(out, "(4 of 4 runs)") {
		t.Errorf("history: %s", out)
	}

	// A failing sync exits non-zero with the reason on stderr.
	c.okta.SetToken("rotated")
	code, _, stderr = c.run("", "sync")
	if code == 0 || !strings.Contains(stderr, "E0000011") {
		t.Errorf("failing sync: exit %d stderr %s", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{{"bogus"}, {"sync", "--nope"}, {"history", "--limit", "0"}, {"config"}, {"cache"}, {"test", "extra"}} {
		code, _, stderr := c.run("", args...)
		if code != exitUsage || !strings.Contains(stderr, "dirsync help") {
			t.Errorf("%v: exit %d stderr %q", args, code, stderr)
		}
	}
	if code, _, stderr := c.run("", "sync"); code == 0 || !strings.Contains(stderr, "no database at") {
		t.Errorf("sync without a database: exit %d %s", code, stderr)
	}
}

func TestAdminCommands(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run("short\n", "admin", "create", "alice"); code == 0 || !strings.Contains(stderr, "at least 12") {
		t.Errorf("weak password: exit %d %s", code, stderr)
	}
	if code, _, stderr := c.run("correct horse battery\n", "admin", "create", "Alice"); code != 0 {
		t.Fatalf("create: %s", stderr)
	}
	if code, _, stderr := c.run("correct horse battery\n", "admin", "create", "alice"); code == 0 || !strings.Contains(stderr, "already exists") {
		t.Errorf("duplicate: exit %d %s", code, stderr)
	}
	if code, _, stderr := c.run("another long password\n", "admin", "reset-password", "alice"); code != 0 {
		t.Errorf("reset: %s", stderr)
	}
	if code, _, stderr := c.run("another long password\n", "admin", "reset-password", "bob"); code == 0 || !strings.Contains(stderr, "no admin") {
		t.Errorf("reset unknown: exit %d %s", code, stderr)
	}
}

func TestTestShowsBitwardenChanges(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run(c.settingsJSON(nil), "config", "import", "-"); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr := c.run("", "test")
	if code != 0 {
		t.Fatalf("test: exit %d %s", code, stderr)
	}
	// removeDisabled is on: 26 active users to invite, none to remove yet.
	if !strings.Contains(out, "In Bitwarden: 26 to invite, 0 to remove") {
		t.Errorf("test output lacks the Bitwarden changes:\n%s", out)
	}
	if code, _, _ := c.run("", "sync"); code != 0 {
		t.Fatal("sync failed")
	}
	c.okta.SetUserStatus(c.okta.Org().Users[20].ID, "DEPROVISIONED")
	_, out, _ = c.run("", "test")
	if !strings.Contains(out, "1 to remove") || !strings.Contains(out, "would remove "+strings.ToLower(c.okta.Org().Users[20].Email)) {
		t.Errorf("test output does not name the removal:\n%s", out)
	}
}

// TestServeFromTheCommandLine starts `dirsync serve` as an operator would:
// the address from DIRSYNC_ADDR, the database from DIRSYNC_DB, JSON logs;
// a cancelled context (SIGINT/SIGTERM in main) shuts it down cleanly.
func TestServeFromTheCommandLine(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	db := filepath.Join(t.TempDir(), "env", "serve.db")
	t.Setenv("DIRSYNC_ADDR", addr)
	t.Setenv("DIRSYNC_DB", db)
	t.Setenv("DIRSYNC_SECRET_KEY_FILE", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--log-format", "json"}, strings.NewReader(""), io.Discard, &stderr)
	}()

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console did not come up on %s: %v\n%s", addr, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("DIRSYNC_DB was not used: %v", err)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
	var sawSetup, sawRequest bool
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", line)
		}
		msg, _ := rec["msg"].(string)
		sawSetup = sawSetup || strings.Contains(msg, "/setup?token=")
		if msg == "request" && rec["request_id"] != nil && rec["path"] == "/healthz" {
			sawRequest = true
		}
	}
	if !sawSetup || !sawRequest {
		t.Errorf("logs lack the set-up link (%v) or a request line with its id (%v):\n%s", sawSetup, sawRequest, stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dirsync test names what the console's Bitwarden facts show: the members
// a full overwrite cannot remove, staged members, the seats.
func TestTestPrintsServerFacts(t *testing.T) {
	c := newCLI(t)
	in := c.settingsJSON(func(m map[string]any) {
		s := m["sync"].(map[string]any)
		s["overwriteExisting"], s["inviteUsers"] = true, false
	})
	if code, _, stderr := c.run(in, "config", "import", "-"); code != 0 {
		t.Fatal(stderr)
	}
	c.bw.AddMemberWith(bwtest.Member{Email: "left@corp.example", ExternalID: "00ugone", Type: bwtest.User, Status: bwtest.Invited})
	seats := 100
	c.bw.SetSeats(&seats, nil)
	code, out, stderr := c.run("", "test")
	if code != 0 {
		t.Fatalf("test: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"cannot remove left@corp.example", "remove them in Bitwarden, or they stay", "added as Staged", "seats: 1 in use of 100"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
