package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bdcDataFile writes a Directory Connector data.json (state version 8,
// secrets in the keychain) for the test's fake Okta and Bitwarden.
func (c *cli) bdcDataFile(mod func(m map[string]any)) string {
	c.t.Helper()
	m := map[string]any{
		"stateVersion":   8,
		"directoryType":  3,
		"organizationId": strings.TrimPrefix(c.bw.ClientID(), "organization."),
		"directoryOkta":  map[string]any{"id": "6f1d3e6a", "orgUrl": c.okta.URL, "token": "[STORED SECURELY]"},
		"sync": map[string]any{"users": true, "groups": true, "interval": 30, "userFilter": "", "groupFilter": "",
			"removeDisabled": true, "overwriteExisting": false, "largeImport": false, "inviteUsersAfterProvisioning": true,
			"creationDateAttribute": "", "revisionDateAttribute": ""},
		"environmentUrls": map[string]any{"base": c.bw.URL, "api": nil, "identity": nil, "webVault": nil},
		"lastSyncHash":    "abc=",
	}
	if mod != nil {
		mod(m)
	}
	b, _ := json.Marshal(m)
	p := filepath.Join(c.t.TempDir(), "data.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// TestConfigImportFromBDC: a BDC data file whose secrets are in the
// keychain fails without a terminal, naming the flags and variables and
// saving nothing; with them given (flag and environment twin) it imports
// through the ordinary path, says what it took and left out, and a sync
// then runs with the imported settings.
func TestConfigImportFromBDC(t *testing.T) {
	c := newCLI(t)
	data := c.bdcDataFile(nil)
	code, _, stderr := c.run("", "config", "import", "--from-bdc", data)
	if code != exitBadConf || !strings.Contains(stderr, "--okta-token, or set DIRSYNC_OKTA_TOKEN") ||
		!strings.Contains(stderr, "--bitwarden-client-secret, or set DIRSYNC_BITWARDEN_CLIENT_SECRET") || !strings.Contains(stderr, "nothing was saved") {
		t.Fatalf("without secrets: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(c.db); !os.IsNotExist(err) {
		t.Fatalf("something was saved: %v", err)
	}

	t.Setenv("DIRSYNC_BITWARDEN_CLIENT_SECRET", c.bw.ClientSecret())
	code, _, stderr = c.run("", "config", "import", "--from-bdc", data, "--okta-token", c.okta.Token())
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"took: directory: Okta", "took: okta.orgUrl: " + c.okta.URL, "took: bitwarden.server: " + c.bw.URL,
		"took: bitwarden.clientId: " + c.bw.ClientID() + " (from organizationId)", "left out: Directory Connector's sync state", "settings saved"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, c.okta.Token()) || strings.Contains(stderr, c.bw.ClientSecret()) {
		t.Errorf("a secret is printed:\n%s", stderr)
	}
	code, out, _ := c.run("", "config", "export")
	var got map[string]map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("export: exit %d: %s", code, out)
	}
	if got["sync"]["intervalMinutes"] != 30.0 || got["sync"]["removeDisabled"] != true || got["bitwarden"]["clientId"] != c.bw.ClientID() {
		t.Errorf("exported %v", got)
	}
	if code, _, stderr := c.run("", "sync"); code != 0 {
		t.Fatalf("sync after the import: exit %d: %s", code, stderr)
	}
	if n := len(c.bw.Imports()); n != 1 {
		t.Errorf("%d imports, want 1", n)
	}
}

// TestConfigImportFromBDCRefuses: an unsupported directory type and a
// file that is not BDC's fail with what is wrong; the import's own rules
// apply to what the file held (an http Okta URL is refused).
func TestConfigImportFromBDCRefuses(t *testing.T) {
	c := newCLI(t)
	t.Setenv("DIRSYNC_OKTA_TOKEN", c.okta.Token())
	t.Setenv("DIRSYNC_BITWARDEN_CLIENT_SECRET", c.bw.ClientSecret())
	for name, tc := range map[string]struct {
		mod   func(m map[string]any)
		words string
	}{
		"gsuite":  {func(m map[string]any) { m["directoryType"] = 2 }, "Google Workspace here, which dirsync cannot read yet"},
		"not bdc": {func(m map[string]any) { delete(m, "directoryType"); delete(m, "sync"); delete(m, "directoryOkta") }, "not a Directory Connector data.json"},
		"http":    {func(m map[string]any) { m["directoryOkta"].(map[string]any)["orgUrl"] = "http://acme.okta.com" }, "okta.orgUrl"},
	} {
		code, _, stderr := c.run("", "config", "import", "--from-bdc", c.bdcDataFile(tc.mod))
		if code != exitBadConf || !strings.Contains(stderr, tc.words) || !strings.Contains(stderr, "nothing was saved") {
			t.Errorf("%s: exit %d: %s", name, code, stderr)
		}
	}
	if code, _, stderr := c.run("", "config", "import", "--from-bdc", "/nonexistent/data.json"); code != exitBadConf || !strings.Contains(stderr, "read Directory Connector's data file") {
		t.Errorf("missing file: exit %d: %s", code, stderr)
	}
	if code, _, stderr := c.run("", "config", "import", "--from-bdc", "x", "extra"); code != 2 {
		t.Errorf("a FILE as well: exit %d: %s", code, stderr)
	}
}
