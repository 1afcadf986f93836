package main

import (
	"strings"
	"testing"
)

// TestCheckCommand: `dirsync check` signs in to the saved directory and
// Bitwarden and says what it found; a refused token fails with exit 1,
// the type's explanation and no token in the output.
func TestCheckCommand(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run("", "check"); code == exitOK || !strings.Contains(stderr, "no database") {
		t.Fatalf("no database: exit %d %q", code, stderr)
	}
	if code, _, stderr := c.run(c.settingsJSON(nil), "config", "import", "-"); code != 0 {
		t.Fatal(stderr)
	}
	code, out, stderr := c.run("", "check")
	if code != exitOK || !strings.Contains(out, "Directory (Okta): ok. Signed in to") || !strings.Contains(out, "28 users (not counting deactivated ones)") ||
		!strings.Contains(out, "3 groups") || !strings.Contains(out, "Sample user:") || !strings.Contains(out, "Bitwarden: ok.") {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, out, _ := c.run("", "check", "--only", "directory"); code != exitOK || strings.Contains(out, "Bitwarden") {
		t.Fatalf("--only directory: exit %d\n%s", code, out)
	}
	if code, _, _ := c.run("", "check", "--only", "okta"); code != exitUsage {
		t.Fatalf("--only okta: exit %d, want %d", code, exitUsage)
	}
	// Okta refuses the token: the check fails with what to check.
	c.okta.SetToken("rotated")
	code, out, _ = c.run("", "check")
	if code != exitFailed || !strings.Contains(out, "Directory (Okta): FAILED. Okta refused the API token.") ||
		!strings.Contains(out, "check: The Okta API token") || !strings.Contains(out, "Bitwarden: ok.") {
		t.Fatalf("refused token: exit %d\n%s", code, out)
	}
	if strings.Contains(out, c.okta.Token()) {
		t.Fatal("a token is in the output")
	}
}
