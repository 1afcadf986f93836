package main

import (
	"strings"
	"testing"
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
