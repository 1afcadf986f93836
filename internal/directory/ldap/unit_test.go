package ldap

import (
	"errors"
	"strings"
	"testing"

	ldap "github.com/go-ldap/ldap/v3"
)

func TestGUIDString(t *testing.T) {
	if got := guidString(bobGUID); got != bobID {
		t.Errorf("guidString = %s, want %s", got, bobID)
	}
	e := ldap.NewEntry("cn=x,dc=y", nil)
	e.Attributes = append(e.Attributes, &ldap.EntryAttribute{Name: "objectGUID", ByteValues: [][]byte{{1, 2, 3}}})
	if _, err := externalID(e); err == nil || !strings.Contains(err.Error(), "3 bytes long") {
		t.Errorf("short objectGUID: %v", err)
	}
	if id, _ := externalID(ldap.NewEntry("CN=Ann,DC=y", nil)); id != "CN=Ann,DC=y" {
		t.Errorf("no objectGUID: id %q, want the DN as sent", id)
	}
}

// TestSearchBase pins BDC's makeSearchPath, quirks included.
func TestSearchBase(t *testing.T) {
	for _, c := range []struct{ root, path, want string }{
		{"DC=Example,DC=com", "CN=Users", "CN=Users,dc=example,dc=com"},
		{"dc=example,dc=com", "", "dc=example,dc=com"},
		{"ou=corp,dc=example,dc=com", "ou=people", "ou=people,dc=example,dc=com"},
		{"o=example", "ou=people", "ou=people"},
		{"", "", ""},
	} {
		if got := searchBase(c.root, c.path); got != c.want {
			t.Errorf("searchBase(%q, %q) = %q, want %q", c.root, c.path, got, c.want)
		}
	}
}

func TestNormalizeAndValidate(t *testing.T) {
	ad := Config{AD: true, Hostname: "dc1.example.com", SSL: true, Username: "r@example.com", Password: "p"}.Normalize()
	if ad.UserObjectClass != "person" || ad.GroupObjectClass != "group" || ad.MemberAttribute != "member" ||
		ad.UserEmailAttribute != "mail" || ad.GroupNameAttribute != "name" || ad.UserPath != "" ||
		ad.GroupPath != "" || ad.Port != 636 {
		t.Errorf("AD defaults: %+v", ad)
	}
	gen := Config{Hostname: "h", UserPath: " ou=people ", Username: "u", Password: "p", RootPath: "dc=h"}.Normalize()
	if gen.UserObjectClass != "inetOrgPerson" || gen.GroupObjectClass != "groupOfNames" || gen.GroupNameAttribute != "cn" ||
		gen.UserPath != "ou=people" || gen.GroupPath != "" || gen.Port != 389 || gen.PageSize != 500 {
		t.Errorf("generic defaults: %+v", gen)
	}
	if err := gen.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	for field, c := range map[string]Config{
		"hostname": {Hostname: "ldap://h:389"},
		"port":     {Hostname: "h", Port: 70000},
		"startTls": {Hostname: "h", StartTLS: true},
		"username": {Hostname: "h"},
		"caCert":   {Hostname: "h", Username: "u", Password: "p", CACert: "not pem"},
	} {
		err := c.Normalize().Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != field || !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want a ConfigError for it", field, err)
		}
	}
}

func TestRangedMembersFailTheRead(t *testing.T) {
	s := &Source{cfg: Config{AD: true}.Normalize()}
	e := ldap.NewEntry("CN=Big,CN=Users,DC=x", map[string][]string{"member;range=0-1499": {"CN=a,DC=x"}, "name": {"Big"}})
	if _, _, err := s.mapGroup(e, nil, nil); err == nil || !strings.Contains(err.Error(), "range retrieval") {
		t.Errorf("ranged member attribute: %v, want the read to fail", err)
	}
}

func TestNormDN(t *testing.T) {
	if a, b := normDN("UID=Dave, OU=People,DC=Example,DC=Com"), normDN("uid=dave,ou=people,dc=example,dc=com"); a != b {
		t.Errorf("%q != %q", a, b)
	}
	if a, b := normDN(`cn=a\,b,dc=x`), normDN(`cn=a\2cb,dc=x`); a != b {
		t.Errorf("escapes: %q != %q", a, b)
	}
}
