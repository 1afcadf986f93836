package ldap_test

import (
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/ldap"
)

const ldapFile = `{
  "directory": {"type": "ldap", "ldap": {"hostname": "dc1.example.com", "port": 636, "ssl": true,
    "username": "reader@example.com", "password": %s, "rootPath": "dc=example,dc=com", "ad": true}},
  "bitwarden": {"server": "us", "clientId": "organization.1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d", "clientSecret": "s"},
  "sync": {"intervalMinutes": 5, "users": true, "groups": true, "userFilter": "(department=Sales)", "groupFilter": "include:Eng"}
}`

func parse(t *testing.T, password, host string) (config.Settings, config.Kept) {
	t.Helper()
	text := strings.Replace(strings.Replace(ldapFile, "%s", password, 1), "dc1.example.com", host, 1)
	s, keep, err := config.ParseFileKeep(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s, keep
}

// TestConfigFileLDAP: directory.ldap imports through config with BDC's
// names and the LDAP filter grammar; a "[REDACTED]" password is carried
// from the stored settings while the server and bind user stay, and
// refused, with the reason, when the host changed.
func TestConfigFileLDAP(t *testing.T) {
	stored, _ := parse(t, `"bind-secret"`, "dc1.example.com")
	if err := stored.Validate(true); err != nil {
		t.Fatal(err)
	}
	l, ok := stored.Directory.Current().(*ldap.Settings)
	if !ok || l.UserPath != "CN=Users" || l.UserObjectClass != "person" || l.Password.Reveal() != "bind-secret" {
		t.Fatalf("section %#v", stored.Directory.Current())
	}

	same, keep := parse(t, `"[REDACTED]"`, "dc1.example.com")
	if fe := config.CarrySecrets(stored, &same, keep.Has); fe != nil {
		t.Fatalf("same server: %v", fe)
	}
	if got := same.Directory.Current().(*ldap.Settings).Password.Reveal(); got != "bind-secret" {
		t.Errorf("password not carried: %q", got)
	}

	moved, keep := parse(t, `"[REDACTED]"`, "evil.example.net")
	fe := config.CarrySecrets(stored, &moved, keep.Has)
	if msg := fe["ldap.password"]; !strings.Contains(msg, "enter the LDAP bind password again") {
		t.Errorf("moved server: %v", fe)
	}
	if moved.Directory.Current().(*ldap.Settings).Password.IsSet() {
		t.Error("the password went along to another host")
	}

	bad, _ := parse(t, `"x"`, "dc1.example.com")
	bad.Sync.UserFilter = "department=Sales"
	err := bad.Validate(true)
	if err == nil || !strings.Contains(err.Error(), "must be in parentheses") {
		t.Errorf("an Okta-style filter on LDAP: %v", err)
	}
}
