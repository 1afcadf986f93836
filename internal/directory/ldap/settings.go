package ldap

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/directory"
)

// Settings is the LDAP type's section of a profile (directory.ldap). Its
// JSON is exactly BDC's field names (Config's), so a BDC configuration
// maps onto it field by field; the password is write-only like every
// secret.
type Settings struct {
	Config
}

var _ directory.Settings = (*Settings)(nil)

// NewSettings returns the settings of a new LDAP directory: empty, so
// that Normalize fills the class and attribute fields by the ad switch,
// and paging on (BDC's default; dirsync pages always).
func NewSettings() *Settings {
	return &Settings{Config: Config{PagedSearch: true}}
}

// UnmarshalJSON decodes BDC-named fields over the receiver's values. With
// ad on, a userPath or groupPath that is absent or null becomes CN=Users,
// and an empty one stays empty (the whole root path): BDC's own rule
// (libs/utils.ts, adjustConfigForSave, fills only null paths).
func (s *Settings) UnmarshalJSON(b []byte) error {
	type plain Settings // no methods: no recursion
	var paths struct {
		UserPath  *string `json:"userPath"`
		GroupPath *string `json:"groupPath"`
	}
	if err := json.Unmarshal(b, (*plain)(s)); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &paths); err != nil {
		return err
	}
	if s.AD {
		if paths.UserPath == nil && s.UserPath == "" {
			s.UserPath = ADUserPath
		}
		if paths.GroupPath == nil && s.GroupPath == "" {
			s.GroupPath = ADGroupPath
		}
	}
	return nil
}

// Kind is "ldap".
func (s *Settings) Kind() string { return KindName }

// Normalize trims the fields and fills the defaults (Config.Normalize).
func (s *Settings) Normalize() { s.Config = s.Config.Normalize() }

// Validate returns one sentence per bad field, keyed "ldap.<BDC name>".
func (s *Settings) Validate(requireSecrets bool) map[string]string {
	out := map[string]string{}
	for _, p := range s.Problems(requireSecrets) {
		path := "ldap." + p.Field
		if p.Field == "startTls" {
			path = FieldSecurity // the form shows ssl and startTls as one choice
		}
		if _, dup := out[path]; !dup {
			out[path] = p.Message
		}
	}
	return out
}

// Secrets is the bind password, bound to where it is sent and as whom:
// the scheme (LDAPS, StartTLS or plain), host, port and bind user.
// Changing any of them drops a stored password, so a password entered
// for one server is never sent to another, nor in clear to the same one.
func (s *Settings) Secrets() []directory.SecretRef {
	c := s.Config.Normalize()
	mode := "plain"
	switch {
	case c.SSL && c.StartTLS:
		mode = "starttls"
	case c.SSL:
		mode = "ldaps"
	}
	return []directory.SecretRef{{
		Path: "ldap.password", Name: "the LDAP bind password",
		Value:     &s.Password,
		BoundTo:   strings.Join([]string{KindName, mode, strings.ToLower(c.Hostname), strconv.Itoa(c.Port), strings.ToLower(c.Username)}, "\x00"),
		BoundName: "the LDAP server's host name, port, connection security or bind user",
		Applies:   true,
	}}
}

// Identity names the server and subtree read.
func (s *Settings) Identity() string {
	c := s.Config.Normalize()
	return strings.Join([]string{KindName, strings.ToLower(c.Hostname), strconv.Itoa(c.Port), normDN(c.RootPath)}, "\x00")
}

// FullReadEvery is 0: every LDAP read is a full one (no caches yet).
func (s *Settings) FullReadEvery() time.Duration { return 0 }

// Open builds the source for one run.
func (s *Settings) Open(env directory.Env) (directory.Source, error) {
	src, err := New(s.Config, env.Logger)
	if err != nil {
		return nil, err
	}
	return src.Observe(env.Observer), nil
}

// attrName is an attribute or object class name (RFC 4512 descr) or a
// numeric OID, optionally with options (;binary).
var attrName = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*$`)

// Problems lists every problem of a normalised Config, in the order of
// the form, each with a sentence saying what to do. The password is
// checked for presence only when requireSecrets is true.
func (c Config) Problems(requireSecrets bool) []*ConfigError {
	var out []*ConfigError
	bad := func(field, format string, a ...any) {
		out = append(out, &ConfigError{Field: field, Message: fmt.Sprintf(format, a...)})
	}
	switch h := c.Hostname; {
	case h == "":
		bad("hostname", "Enter the LDAP server's host name, such as dc1.example.com.")
	case strings.Contains(h, "://") || strings.ContainsAny(h, "/ ") || strings.Count(h, ":") == 1:
		bad("hostname", "Enter the host name alone, such as dc1.example.com, without ldap://, a port or a path (the port has its own field).")
	case !validHost(h):
		bad("hostname", "The host name %q has characters a host name cannot have: enter a name such as dc1.example.com or an IP address.", h)
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("port", "Enter a port from 1 to 65535: 389 for LDAP and StartTLS, 636 for LDAPS (AD's global catalog: 3268 and 3269).")
	}
	if c.StartTLS && !c.SSL {
		// BDC uses StartTLS only with ssl on too; alone it is ignored and
		// the connection stays in clear.
		bad("startTls", "StartTLS is on but SSL is off: choose StartTLS or LDAPS under Connection security (in the file, StartTLS is ssl and startTls both true).")
	}
	if c.CACert != "" {
		if _, err := certPool(c.CACert); err != nil {
			bad("caCert", "%s", err)
		}
	}
	if c.Username == "" {
		bad("username", "Enter the bind user: a DN such as cn=reader,dc=example,dc=com, or on Active Directory a name such as reader@example.com.")
	} else if strings.ContainsAny(c.Username, "\r\n") {
		bad("username", "Enter the bind user on one line.")
	}
	if requireSecrets && !c.Password.IsSet() {
		bad("password", "Enter the bind user's password.")
	}
	if c.RootPath == "" {
		bad("rootPath", "Enter the root path (base DN) of the directory, such as dc=example,dc=com.")
	} else if _, err := ldap.ParseDN(c.RootPath); err != nil {
		bad("rootPath", "The root path %q is not a DN: write it as comma-separated parts, such as dc=example,dc=com.", c.RootPath)
	} else if !strings.Contains(strings.ToLower(c.RootPath), "dc=") {
		// BDC's makeSearchPath starts the search base at the first dc=;
		// without one, the paths alone would be the bases.
		bad("rootPath", "The root path %q has no dc= part: dirsync, like Directory Connector, searches from the root path's first dc= part on, such as dc=example,dc=com.", c.RootPath)
	}
	for _, p := range []struct{ field, what, value string }{
		{"userPath", "user path", c.UserPath}, {"groupPath", "group path", c.GroupPath},
	} {
		if p.value == "" {
			continue
		}
		if _, err := ldap.ParseDN(p.value); err != nil {
			bad(p.field, "The %s %q is not a DN relative to the root path: write it as comma-separated parts, such as ou=people or CN=Users, or leave it empty to search the whole root path.", p.what, p.value)
		}
	}
	for _, a := range []struct{ field, what, value, example string }{
		{"userObjectClass", "user object class", c.UserObjectClass, "inetOrgPerson (Active Directory: person)"},
		{"groupObjectClass", "group object class", c.GroupObjectClass, "groupOfNames (Active Directory: group)"},
		{"userEmailAttribute", "email attribute", c.UserEmailAttribute, "mail"},
		{"groupNameAttribute", "group name attribute", c.GroupNameAttribute, "cn (Active Directory: name)"},
		{"memberAttribute", "member attribute", c.MemberAttribute, "member, uniqueMember or memberUid"},
	} {
		if !attrName.MatchString(a.value) {
			bad(a.field, "The %s %q is not an LDAP name: enter one name without spaces or parentheses, such as %s.", a.what, a.value, a.example)
		}
	}
	if c.UseEmailPrefixSuffix {
		if !attrName.MatchString(c.EmailPrefixAttribute) {
			bad("emailPrefixAttribute", "Enter the attribute whose value starts the email address, such as sAMAccountName or uid.")
		}
		switch {
		case c.EmailSuffix == "":
			bad("emailSuffix", "Enter the email suffix added to the prefix, such as @example.com.")
		case !strings.HasPrefix(c.EmailSuffix, "@") || strings.Count(c.EmailSuffix, "@") != 1 || strings.ContainsAny(c.EmailSuffix, " ,;<>"):
			bad("emailSuffix", "Start the email suffix with @ and give a domain, such as @example.com: it is added to the prefix as it is.")
		}
	}
	return out
}

// validHost accepts DNS names and IP addresses (IPv6 with or without
// brackets).
func validHost(h string) bool {
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return true
	}
	for _, r := range h {
		if !(r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}
