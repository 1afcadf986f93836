package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/directory/ldap/ldaptest"
)

// TestConfigImportFromBDCLDAP moves a BDC LDAP configuration (StartTLS
// with the CA file BDC names, the classes and paths BDC keeps in its sync
// options, the password in the keychain) to dirsync and syncs from the
// real slapd: the same users and groups arrive in Bitwarden, with the
// entries' DNs as externalIds as BDC sends them.
func TestConfigImportFromBDCLDAP(t *testing.T) {
	c := newCLI(t)
	d := ldaptest.NewDirectory()
	alice := d.User("alice", "alice@example.com")
	bob := d.User("bob", "bob@example.com")
	d.Group("eng", alice, bob)
	srv := ldaptest.Start(t, ldaptest.Options{LDIF: d.LDIF(), TLS: true})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte(srv.CAPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	data := c.bdcDataFile(func(m map[string]any) {
		m["directoryType"] = 0
		delete(m, "directoryOkta")
		m["directoryLdap"] = map[string]any{"id": "0a5b", "ssl": true, "startTls": true, "tlsCaPath": ca, "sslCaPath": nil,
			"sslAllowUnauthorized": false, "hostname": srv.Host, "port": srv.Port, "domain": nil, "rootPath": ldaptest.Suffix,
			"currentUser": false, "username": ldaptest.ReaderDN, "password": "[STORED SECURELY]", "ad": false, "pagedSearch": true}
		s := m["sync"].(map[string]any)
		for k, v := range map[string]any{"userObjectClass": "inetOrgPerson", "groupObjectClass": "groupOfNames", "userPath": "ou=people",
			"groupPath": "ou=groups", "groupNameAttribute": "cn", "userEmailAttribute": "mail", "memberAttribute": "member",
			"useEmailPrefixSuffix": false, "emailPrefixAttribute": "", "emailSuffix": nil, "userFilter": "(mail=*)"} {
			s[k] = v
		}
	})
	t.Setenv("DIRSYNC_LDAP_PASSWORD", ldaptest.ReaderPassword)
	code, _, stderr := c.run("", "config", "import", "--from-bdc", data, "--bitwarden-client-secret", c.bw.ClientSecret())
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "took: directory: LDAP / Active Directory") || !strings.Contains(stderr, "caCert") {
		t.Errorf("stderr:\n%s", stderr)
	}
	code, out, _ := c.run("", "config", "export")
	var got map[string]map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("export: exit %d: %s", code, out)
	}
	l, _ := got["directory"]["ldap"].(map[string]any)
	if l["hostname"] != srv.Host || l["startTls"] != true || l["caCert"] != srv.CAPEM || l["password"] != "[REDACTED]" || got["sync"]["userFilter"] != "(mail=*)" {
		t.Errorf("exported %v", got)
	}
	if code, _, stderr := c.run("", "sync"); code != 0 {
		t.Fatalf("sync: exit %d: %s", code, stderr)
	}
	if m, ok := c.bw.MemberByEmail("bob@example.com"); !ok || m.ExternalID != bob {
		t.Errorf("bob: %+v %v", m, ok)
	}
	if g, ok := c.bw.GroupByExternalID("cn=eng,ou=groups," + ldaptest.Suffix); !ok || len(g.MemberIDs) != 2 {
		t.Errorf("eng: %+v %v", g, ok)
	}
}
