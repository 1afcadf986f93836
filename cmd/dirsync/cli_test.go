package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dirsync/dirsync/internal/store"
)

// commandPaths lists every command of the tree as its argument list
// (["config", "import"]), the root's built-in completion command aside.
func commandPaths() [][]string {
	root := (&env{}).rootCmd()
	var out [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			p := append(append([]string{}, path...), sub.Name())
			out = append(out, p)
			walk(sub, p)
		}
	}
	walk(root, nil)
	return out
}

// TestHelpForEveryCommand: `dirsync help CMD`, `CMD --help` and `CMD -h`
// print the usage with every flag and its environment twin, and exit 0.
func TestHelpForEveryCommand(t *testing.T) {
	c := newCLI(t)
	paths := commandPaths()
	if len(paths) < 12 {
		t.Fatalf("only %d commands found: %v", len(paths), paths)
	}
	for _, p := range paths {
		root := (&env{}).rootCmd()
		cmd, _, err := root.Find(p)
		if err != nil {
			t.Fatal(err)
		}
		var flags []*pflag.Flag
		cmd.Flags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f) })
		cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) { flags = append(flags, f) })
		for _, args := range [][]string{append([]string{"help"}, p...), append(append([]string{}, p...), "--help"), append(append([]string{}, p...), "-h")} {
			code, out, stderr := c.run("", args...)
			if code != 0 || !strings.Contains(out, "Usage:") {
				t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, stderr)
				continue
			}
			for _, f := range flags {
				if f.Name == "help" {
					continue
				}
				if !strings.Contains(out, "--"+f.Name) || !strings.Contains(out, "(env "+envName(f.Name)+")") {
					t.Errorf("%q: the help lacks --%s or its twin %s:\n%s", args, f.Name, envName(f.Name), out)
				}
			}
		}
	}
	// The flags the old usage text forgot.
	_, out, _ := c.run("", "serve", "--help")
	for _, want := range []string{"--public-url", "DIRSYNC_PUBLIC_URL", "--log-format", "DIRSYNC_LOG_FORMAT", "--log-level", "DIRSYNC_LOG_LEVEL", "--addr", "DIRSYNC_ADDR", "--db", "DIRSYNC_DB"} {
		if !strings.Contains(out, want) {
			t.Errorf("serve --help lacks %s:\n%s", want, out)
		}
	}
	// The root help documents the exit codes.
	_, out, _ = c.run("", "help")
	if !strings.Contains(out, "5  invalid settings") || !strings.Contains(out, "completion") {
		t.Errorf("dirsync help lacks the exit codes or completion:\n%s", out)
	}
	if code, out, _ := c.run("", "completion", "bash"); code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d", code)
	}
}

// TestFlagForms: --flag=value and --flag value, before or after the
// command; each flag also from its environment twin, the command line
// winning.
func TestFlagForms(t *testing.T) {
	c := newCLI(t)
	run := func(args ...string) (int, string, string) {
		t.Helper()
		var out, errb strings.Builder
		code := run(context.Background(), args, strings.NewReader(c.settingsJSON(nil)), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, stderr := run("--db="+c.db, "config", "import", "-"); code != 0 {
		t.Fatalf("--db=PATH before the command: exit %d %s", code, stderr)
	}
	for i := 0; i < 3; i++ {
		if code, _, stderr := run("sync", "--db", c.db, "--dry-run"); code != 0 {
			t.Fatalf("--db PATH after the command: exit %d %s", code, stderr)
		}
	}
	code, out, stderr := run("history", "--db="+c.db, "--limit=2", "--json")
	if code != 0 || strings.Count(out, `"id"`) != 2 {
		t.Fatalf("history --limit=2: exit %d %s %s", code, out, stderr)
	}
	t.Setenv("DIRSYNC_DB", c.db)
	t.Setenv("DIRSYNC_LIMIT", "1")
	if code, out, stderr := run("history", "--json"); code != 0 || strings.Count(out, `"id"`) != 1 {
		t.Fatalf("DIRSYNC_DB and DIRSYNC_LIMIT: exit %d %s %s", code, out, stderr)
	}
	if code, out, _ := run("history", "--json", "--limit", "3"); code != 0 || strings.Count(out, `"id"`) != 3 {
		t.Fatalf("the flag does not win over DIRSYNC_LIMIT: %s", out)
	}
	t.Setenv("DIRSYNC_LIMIT", "many")
	if code, _, stderr := run("history"); code != exitUsage || !strings.Contains(stderr, "DIRSYNC_LIMIT") {
		t.Fatalf("a bad DIRSYNC_LIMIT: exit %d %s", code, stderr)
	}
	t.Setenv("DIRSYNC_LIMIT", "")
	for _, args := range [][]string{{"-db=x", "history"}, {"--db=", "history"}, {"history", "--limit"}} {
		if code, _, stderr := run(args...); code != exitUsage || !strings.Contains(stderr, "dirsync help") {
			t.Errorf("%q: exit %d %s", args, code, stderr)
		}
	}
	if _, _, stderr := run("-db=x", "history"); !strings.Contains(stderr, "two dashes") {
		t.Errorf("-db=x: %s", stderr)
	}
}

// TestExitCodes: the README's table, one row at a time.
func TestExitCodes(t *testing.T) {
	c := newCLI(t)
	// 5: a database without settings (an admin was created first).
	if code, _, stderr := c.run("correct horse battery\n", "admin", "create", "alice"); code != 0 {
		t.Fatal(stderr)
	}
	for _, args := range [][]string{{"sync"}, {"test"}, {"config", "export"}} {
		if code, _, stderr := c.run("", args...); code != exitBadConf || !strings.Contains(stderr, "no settings saved") {
			t.Errorf("%q without settings: exit %d %s, want 5", args, code, stderr)
		}
	}
	// 5: an invalid settings file.
	if code, _, _ := c.run(`{"directory":{}}`, "config", "import", "-"); code != exitBadConf {
		t.Errorf("invalid settings file: exit %d, want 5", code)
	}
	if code, _, stderr := c.run(c.settingsJSON(nil), "config", "import", "-"); code != 0 {
		t.Fatal(stderr)
	}
	// 5: stored settings that are no longer valid (as after an upgrade
	// tightened a rule): sync and test refuse them.
	st, err := store.Open(context.Background(), c.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	saved, err := st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	bad := saved
	bad.Sync.IntervalMinutes = 1
	if _, err := st.SaveSettings(context.Background(), store.DefaultProfile, bad); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"sync"}, {"test"}} {
		if code, _, stderr := c.run("", args...); code != exitBadConf || !strings.Contains(stderr, "sync.intervalMinutes") {
			t.Errorf("%q with invalid stored settings: exit %d %s, want 5", args, code, stderr)
		}
	}
	if _, err := st.SaveSettings(context.Background(), store.DefaultProfile, saved); err != nil {
		t.Fatal(err)
	}
	// 0, then 3 while another holder has the run lease.
	if code, _, stderr := c.run("", "sync"); code != exitOK {
		t.Fatalf("sync: exit %d %s", code, stderr)
	}
	lock, err := st.AcquireRunLock(context.Background(), store.DefaultProfile, "another process", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := c.run("", "sync"); code != exitLocked || !strings.Contains(stderr, "already running") {
		t.Errorf("sync while locked: exit %d %s, want 3", code, stderr)
	}
	// The cache cannot be cleared under a running sync (it would save its
	// state afterwards and undo the clear), as the console refuses too.
	if code, _, stderr := c.run("", "cache", "clear"); code != exitLocked || !strings.Contains(stderr, "a sync is running; nothing was cleared") {
		t.Errorf("cache clear while locked: exit %d %s, want 3", code, stderr)
	}
	if err := lock.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// 1: the run failed.
	c.okta.SetToken("rotated")
	if code, _, _ := c.run("", "sync"); code != exitFailed {
		t.Errorf("failed run: exit %d, want 1", code)
	}
	// 2: a wrong command line. (4 is TestSyncApproveAndDiscard's.)
	if code, _, _ := c.run("", "sync", "--dry-run", "--approve", "1"); code != exitUsage {
		t.Errorf("--dry-run with --approve: exit %d, want 2", code)
	}
}

// TestCommandsNeedingADatabaseCreateNothing: a mistyped --db is an error
// naming the path; no folder, database or key appears.
func TestCommandsNeedingADatabaseCreateNothing(t *testing.T) {
	c := newCLI(t)
	dir := filepath.Join(t.TempDir(), "typo")
	db := filepath.Join(dir, "dirsync.db")
	for _, args := range [][]string{{"history"}, {"config", "export"}, {"test"}, {"sync"}, {"sync", "--dry-run"}, {"cache", "clear"}, {"admin", "reset-password", "alice"}} {
		code, _, stderr := c.run("correct horse battery\n", append([]string{"--db", db}, args...)...)
		if code == exitOK || !strings.Contains(stderr, "no database at "+db) {
			t.Errorf("%q on a missing database: exit %d %q", args, code, stderr)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("%q created %s", args, dir)
		}
	}
}

// TestMissingKeyIsRefused: secret.key lost beside a database holding
// sealed secrets is an error naming it, never a new key.
func TestMissingKeyIsRefused(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run(c.settingsJSON(nil), "config", "import", "-"); code != 0 {
		t.Fatal(stderr)
	}
	key := filepath.Join(filepath.Dir(c.db), "secret.key")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"history"}, {"sync"}, {"config", "import", "-"}} {
		code, _, stderr := c.run(c.settingsJSON(nil), args...)
		if code == exitOK || !strings.Contains(stderr, key) || !strings.Contains(stderr, "restore") {
			t.Errorf("%q without the key: exit %d %q", args, code, stderr)
		}
		if _, err := os.Stat(key); !os.IsNotExist(err) {
			t.Fatalf("%q created a new key", args)
		}
	}
}

// TestHealthcheck: exit 0 only when /readyz answers 200.
func TestHealthcheck(t *testing.T) {
	c := newCLI(t)
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		w.Write([]byte("database: ok\n"))
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(addr, ":")
	if code, out, stderr := c.run("", "healthcheck", "--addr", addr); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("healthcheck of a ready console: exit %d %s %s", code, out, stderr)
	}
	// The image listens on 0.0.0.0 (DIRSYNC_ADDR): asked on loopback.
	t.Setenv("DIRSYNC_ADDR", "0.0.0.0:"+port)
	if code, _, stderr := c.run("", "healthcheck"); code != 0 {
		t.Errorf("healthcheck with DIRSYNC_ADDR=0.0.0.0:%s: exit %d %s", port, code, stderr)
	}
	status = http.StatusServiceUnavailable
	if code, _, stderr := c.run("", "healthcheck"); code != exitFailed || !strings.Contains(stderr, "503") {
		t.Errorf("healthcheck of an unready console: exit %d %s", code, stderr)
	}
	srv.Close()
	if code, _, stderr := c.run("", "healthcheck"); code != exitFailed || !strings.Contains(stderr, "not ready") {
		t.Errorf("healthcheck with nothing listening: exit %d %s", code, stderr)
	}
	if code, _, _ := c.run("", "healthcheck", "--addr", "nonsense"); code != exitUsage {
		t.Errorf("healthcheck --addr nonsense: exit %d, want 2", code)
	}
}

// TestAdminPasswordFromDevNull: stdin from /dev/null is no terminal (it is
// a character device, which the old check took for one): no prompt, and a
// clear error.
func TestAdminPasswordFromDevNull(t *testing.T) {
	c := newCLI(t)
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	var out, errb strings.Builder
	code := run(context.Background(), []string{"--db", c.db, "admin", "create", "alice"}, null, &out, &errb)
	if code == exitOK || strings.Contains(errb.String(), "Password for") || !strings.Contains(errb.String(), "no password given") {
		t.Errorf("admin create < /dev/null: exit %d %q", code, errb.String())
	}
}

// TestConfigImportSizeLimit: a file over the limit is refused with the
// limit in the message, not cut short into "unexpected EOF".
func TestConfigImportSizeLimit(t *testing.T) {
	c := newCLI(t)
	big := `{"directory":{"type":"okta","okta":{"orgUrl":"https://acme.okta.com","token":"` + strings.Repeat("x", 10<<20) + `"}}}`
	code, _, stderr := c.run(big, "config", "import", "-")
	if code != exitBadConf || !strings.Contains(stderr, "1 MiB limit") || strings.Contains(stderr, "EOF") {
		t.Errorf("a 10 MB settings file: exit %d %q", code, stderr)
	}
}

// TestConfigImportRefusesWhatCannotWork: an org URL with a path or the
// admin host, a token with a line break, a key in the wrong case and a 0
// that would mean the default: exit 5, the field named, nothing stored.
func TestConfigImportRefusesWhatCannotWork(t *testing.T) {
	c := newCLI(t)
	okta := func(k string, v any) func(m map[string]any) {
		return func(m map[string]any) { m["directory"].(map[string]any)["okta"].(map[string]any)[k] = v }
	}
	for name, tc := range map[string]struct {
		mod  func(m map[string]any)
		want string
	}{
		"org url with a path":   {okta("orgUrl", "https://acme.okta.com/admin/dashboard"), `okta.orgUrl: "https://acme.okta.com/admin/dashboard" is a page of the org`},
		"admin console":         {okta("orgUrl", "https://acme-admin.okta.com"), `without "-admin": "https://acme.okta.com"`},
		"token with CR LF":      {okta("token", "00abc\r\nX-Evil: 1"), "okta.token: contains a control character"},
		"zero concurrency":      {okta("concurrency", 0), "okta.concurrency: 0 is not a valid value"},
		"wrong-case key ORGURL": {okta("ORGURL", "https://acme.okta.com"), `unknown key "ORGURL" in directory.okta; keys are case-sensitive: write "orgUrl"`},
	} {
		code, _, stderr := c.run(c.settingsJSON(tc.mod), "config", "import", "-")
		if code != exitBadConf || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d %q, want 5 and %q", name, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "X-Evil") {
			t.Errorf("%s: the token is repeated: %s", name, stderr)
		}
	}
	if code, _, stderr := c.run("", "config", "export"); code == exitOK {
		t.Errorf("something was stored: %s", stderr)
	}
}
