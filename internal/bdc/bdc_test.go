package bdc

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
)

func convertFile(t *testing.T, name string, o Options) *Result {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Convert(data, o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func doc(t *testing.T, r *Result) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.File(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func paths(ms []Secret) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Path)
	}
	return out
}

func hasLine(lines []string, words string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, words) })
}

func TestConvert(t *testing.T) {
	for _, tc := range []struct {
		file    string
		want    map[string]any
		missing []string
		took    []string
		left    []string
	}{
		{
			file: "okta-keychain.json",
			want: map[string]any{
				"directory": map[string]any{"type": "okta", "okta": map[string]any{"orgUrl": "https://acme.okta.com"}},
				"bitwarden": map[string]any{"server": "us", "clientId": "organization.1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"},
				"sync": map[string]any{"users": true, "groups": true, "intervalMinutes": 60.0, "removeDisabled": true, "overwriteExisting": false,
					"largeImport": false, "inviteUsers": true, "userFilter": "exclude:contractor@acme.com",
					"groupFilter": `include:Engineering,Sales | type eq "OKTA_GROUP"`},
			},
			missing: []string{"bitwarden.clientSecret", "okta.token"},
			took:    []string{"okta.orgUrl: https://acme.okta.com", "from organizationId", "Directory Connector's default"},
			left:    []string{"LDAP / Active Directory configuration that is not the selected directory", "sync state"},
		},
		{
			file: "okta-plaintext-eu.json",
			want: map[string]any{
				"directory": map[string]any{"type": "okta", "okta": map[string]any{"orgUrl": "https://login.acme.example", "token": "00abcdefghijklmnopqrstuvwxyz0123456789ABCD"}},
				"bitwarden": map[string]any{"server": "eu", "clientId": "organization.1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d", "clientSecret": "Xx1Yy2Zz3Ww4Vv5Uu6Tt7Ss8Rr9Qq0"},
				"sync": map[string]any{"users": true, "groups": false, "intervalMinutes": 5.0, "removeDisabled": false, "overwriteExisting": true,
					"largeImport": true, "inviteUsers": true},
			},
			took: []string{"okta.token: from the file", "bitwarden.server: eu", "from apiKeyClientId"},
			left: []string{"sync.interval 2 minutes"},
		},
		{
			file: "ad-keychain.json",
			want: map[string]any{
				"directory": map[string]any{"type": "ldap", "ldap": map[string]any{
					"hostname": "dc1.corp.example.com", "port": 636.0, "ssl": true, "startTls": false, "sslAllowUnauthorized": false,
					"rootPath": "DC=corp,DC=example,DC=com", "username": "svc-bwdc@corp.example.com", "ad": true, "pagedSearch": true,
					"caCert":          mustRead(t, "testdata/corp-ca.pem"),
					"userObjectClass": "person", "groupObjectClass": "group", "groupPath": "OU=Groups", // userPath null: left to the AD default
					"groupNameAttribute": "name", "userEmailAttribute": "mail", "memberAttribute": "member",
					"useEmailPrefixSuffix": true, "emailPrefixAttribute": "sAMAccountName", "emailSuffix": "@corp.example.com",
				}},
				"bitwarden": map[string]any{"server": "https://vault.corp.example.com", "clientId": "organization.0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"},
				"sync": map[string]any{"users": true, "groups": true, "intervalMinutes": 5.0, "removeDisabled": true, "overwriteExisting": false,
					"largeImport": false, "inviteUsers": true,
					"userFilter": "(&(mail=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))", "groupFilter": "(cn=BW-*)"},
			},
			missing: []string{"bitwarden.clientSecret", "ldap.password"},
			took:    []string{"directory: LDAP / Active Directory", "caCert", "bitwarden.server: https://vault.corp.example.com"},
			left:    []string{"Okta configuration that is not the selected", "sync.creationDateAttribute", "sync.revisionDateAttribute"},
		},
		{
			file: "openldap-v3.json",
			want: map[string]any{
				"directory": map[string]any{"type": "ldap", "ldap": map[string]any{
					"hostname": "ldap.example.org", "port": 389.0, "ssl": false, "startTls": false, "sslAllowUnauthorized": false,
					"rootPath": "ou=corp,dc=example,dc=org", "username": "cn=bwdc,ou=services,dc=example,dc=org", "password": "plain-ldap-secret",
					"ad": false, "pagedSearch": false,
					"userObjectClass": "inetOrgPerson", "groupObjectClass": "posixGroup", "userPath": "ou=people", "groupPath": "ou=groups",
					"groupNameAttribute": "cn", "userEmailAttribute": "mail", "memberAttribute": "memberUid",
					"useEmailPrefixSuffix": false, "emailPrefixAttribute": "uid",
				}},
				"bitwarden": map[string]any{"server": "https://bw.example.org", "clientId": "organization.5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c", "clientSecret": "v3-plain-client-secret"},
				"sync": map[string]any{"users": true, "groups": true, "intervalMinutes": 5.0, "removeDisabled": false, "overwriteExisting": false,
					"largeImport": false, "inviteUsers": true},
			},
			took: []string{"ldap.password: from the file", "the base of environmentUrls.api"},
			left: []string{"startTls without ssl", "Google Workspace configuration", "sync.interval", "sync state"},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := convertFile(t, tc.file, Options{})
			if got := doc(t, r); !reflect.DeepEqual(got, tc.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tc.want, "", " ")
				t.Errorf("file:\n%s\nwant:\n%s", g, w)
			}
			if got := paths(r.Missing); !slices.Equal(got, tc.missing) {
				t.Errorf("missing %v, want %v", got, tc.missing)
			}
			for _, w := range tc.took {
				if !hasLine(r.Took, w) {
					t.Errorf("took lacks …%s…: %q", w, r.Took)
				}
			}
			for _, w := range tc.left {
				if !hasLine(r.Left, w) {
					t.Errorf("left out lacks …%s…: %q", w, r.Left)
				}
			}
			for _, l := range append(slices.Clone(r.Took), r.Left...) {
				for _, s := range []string{"plain-ldap-secret", "v3-plain-client-secret", "Xx1Yy2", "00abcdefghij"} {
					if strings.Contains(l, s) {
						t.Errorf("a secret shows in %q", l)
					}
				}
			}
		})
	}
}

// TestConvertFillsAndImports: the given secrets fill what the keychain
// kept, and the result passes dirsync's own import (every rule of it).
func TestConvertFillsAndImports(t *testing.T) {
	r := convertFile(t, "okta-keychain.json", Options{Secrets: map[string]string{"okta.token": "tok", "bitwarden.clientSecret": "sec"}})
	if len(r.Missing) != 0 {
		t.Fatalf("still missing %v", paths(r.Missing))
	}
	s, _, err := config.ParseFileKeep(bytes.NewReader(r.File()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(true); err != nil {
		t.Fatal(err)
	}
	if okta.Of(s.Directory).Token.Reveal() != "tok" || s.Bitwarden.ClientSecret.Reveal() != "sec" || s.Sync.IntervalMinutes != 60 ||
		!s.Sync.RemoveDisabled || s.Sync.GroupFilter != `include:Engineering,Sales | type eq "OKTA_GROUP"` || s.Bitwarden.Server != "us" {
		t.Errorf("imported %+v", s)
	}

	r = convertFile(t, "okta-keychain.json", Options{})
	r.Fill("okta.token", "tok2")
	if got := paths(r.Missing); !slices.Equal(got, []string{"bitwarden.clientSecret"}) {
		t.Errorf("after Fill: missing %v", got)
	}
}

func TestConvertRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		data, words string
	}{
		"entra":       {string(mustRead(t, "testdata/entra.json")), "Microsoft Entra ID"},
		"not json":    {"directoryType=3", "not a JSON object"},
		"not bdc":     {`{"directory":{"type":"okta"}}`, "neither directoryType nor an account"},
		"no type":     {`{"stateVersion":8,"sync":{"users":true}}`, "no directory type"},
		"unknown":     {`{"stateVersion":8,"directoryType":9}`, "unknown directory type 9"},
		"bad account": {`{"activeUserId":"u1"}`, "holds no settings"},
	} {
		_, err := Convert([]byte(tc.data), Options{})
		if err == nil || !strings.Contains(err.Error(), tc.words) {
			t.Errorf("%s: %v, want …%s…", name, err, tc.words)
		}
	}
}

// TestConvertCAFile: a CA file that cannot be read is left out with what
// to do; the paths follow BDC (sslCaPath for LDAPS, tlsCaPath for
// StartTLS).
func TestConvertCAFile(t *testing.T) {
	data := []byte(`{"directoryType":0,"directoryLdap":{"hostname":"h","ssl":true,"startTls":true,"sslCaPath":"/ldaps.pem","tlsCaPath":"/starttls.pem"}}`)
	var asked []string
	r, err := Convert(data, Options{ReadFile: func(p string) ([]byte, error) {
		asked = append(asked, p)
		return nil, errors.New("no such file")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(asked, []string{"/starttls.pem"}) || !hasLine(r.Left, "tlsCaPath /starttls.pem: the file cannot be read here") {
		t.Errorf("asked %v; left %q", asked, r.Left)
	}
	if !hasLine(r.Left, "sync: the file has no sync options") {
		t.Errorf("left %q", r.Left)
	}
}

func TestServerOf(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]any
		want string
	}{
		{nil, "us"},
		{map[string]any{"base": "https://vault.bitwarden.com"}, "us"},
		{map[string]any{"base": "https://vault.bitwarden.eu/"}, "eu"},
		{map[string]any{"api": "https://api.bitwarden.eu", "identity": "https://identity.bitwarden.eu"}, "eu"},
		{map[string]any{"base": "https://bw.example.com/"}, "https://bw.example.com"},
		{map[string]any{"api": "https://api.example.com", "identity": "https://id.example.com"}, ""},
	} {
		if got, note := serverOf(tc.env); got != tc.want || note == "" {
			t.Errorf("%v: %q (%s), want %q", tc.env, got, note, tc.want)
		}
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
