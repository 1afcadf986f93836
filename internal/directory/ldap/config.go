// Package ldap is the LDAP and Active Directory source: it reads users and
// groups from any LDAPv3 server (OpenLDAP, 389 DS, FreeIPA, Active
// Directory, Samba AD) with github.com/go-ldap/ldap/v3 and maps them into
// the neutral model of package directory, with the semantics of Bitwarden
// Directory Connector's LDAP service (BDC, bitwarden/directory-connector,
// src/services/ldap-directory.service.ts), so that the same settings give
// the same Bitwarden result:
//
//   - externalId is the entry's objectGUID as BDC's mixed-endian GUID
//     string when the entry has one (Active Directory), else its DN;
//   - a user is disabled when userAccountControl has bit 2 set;
//   - the email is the email attribute, else (with useEmailPrefixSuffix)
//     the prefix attribute followed by the suffix, trimmed and lower-cased;
//   - a group's name is groupNameAttribute, else cn; its members are the
//     values of memberAttribute: DNs of users read by the user search,
//     DNs of other groups (nested groups), or bare uids (posixGroup
//     memberUid), matched case-insensitively against the users' uid;
//   - the raw RFC 4515 part of a filter is ANDed with the object class.
//
// Beyond BDC: every search is paged (a server's size limit never cuts a
// read short) with a time limit per search; the context cancels a read at
// once (the connection is closed); nested groups are flattened with cycle
// and diamond protection (BDC recurses forever on a cycle); member DNs are
// compared in their normalised form, not byte for byte; TLS verifies the
// server's certificate by default, against a CA given as PEM if set; an
// Active Directory group too large for one answer is read whole by range
// retrieval (BDC cuts it at 1,500 members), and a range that cannot be
// followed fails the read rather than cut the group; on AD, nested groups
// are resolved by the server's in-chain rule; AD's deleted users are read
// from CN=Deleted Objects with the show-deleted control when the engine
// asks (ReadOptions.IncludeDeleted: test runs and overwriteExisting, as
// BDC). The AD rules are tested against a real Samba AD DC.
//
// Not yet here: delta reads (DirSync, syncrepl, uSNChanged).
//
// The package registers the directory type "ldap" (kind.go): Settings is
// the directory.ldap section with BDC's field names (settings.go), its
// form fields and AD presets, its filter grammar (filter.go), "Check
// connection" (check.go) and the hints for LDAP's errors (explain.go).
package ldap

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dirsync/dirsync/internal/secret"
)

// Config is one LDAP directory's settings. The JSON names are BDC's, so a
// BDC data file's LDAP section maps onto it field by field.
type Config struct {
	// Hostname and Port say where the server listens (Port 0: 636 with
	// SSL and no StartTLS, else 389).
	Hostname string `json:"hostname"`
	Port     int    `json:"port"`
	// SSL turns on TLS: LDAPS (TLS from the first byte) unless StartTLS is
	// set too, in which case the connection starts in plain LDAP and is
	// upgraded before the bind (BDC's meaning of the two switches).
	SSL      bool `json:"ssl"`
	StartTLS bool `json:"startTls"`
	// CACert is a PEM bundle of the CAs that may sign the server's
	// certificate; empty means the system's roots.
	CACert string `json:"caCert"`
	// SSLAllowUnauthorized skips certificate verification (BDC's "do not
	// verify" switch). Off by default: the bind password would otherwise go
	// to whoever answers.
	SSLAllowUnauthorized bool `json:"sslAllowUnauthorized"`
	// Username is the bind DN (or, on AD, a UPN such as
	// reader@example.com); Password its password. Both are required. The
	// password is a secret.Secret so that printing a Config never shows it.
	Username string        `json:"username"`
	Password secret.Secret `json:"password"`
	// RootPath is the base DN, e.g. dc=example,dc=com.
	RootPath string `json:"rootPath"`
	// AD fills the empty attribute and class fields with Active
	// Directory's defaults (see Normalize).
	AD bool `json:"ad"`
	// PagedSearch is BDC's switch; it is kept for import and export, but
	// dirsync always pages.
	PagedSearch bool `json:"pagedSearch"`

	UserObjectClass    string `json:"userObjectClass"`
	GroupObjectClass   string `json:"groupObjectClass"`
	UserPath           string `json:"userPath"`
	GroupPath          string `json:"groupPath"`
	GroupNameAttribute string `json:"groupNameAttribute"`
	UserEmailAttribute string `json:"userEmailAttribute"`
	MemberAttribute    string `json:"memberAttribute"`
	// UseEmailPrefixSuffix builds the email of a user without
	// UserEmailAttribute from EmailPrefixAttribute's value and EmailSuffix
	// (which includes the "@", as in BDC).
	UseEmailPrefixSuffix bool   `json:"useEmailPrefixSuffix"`
	EmailPrefixAttribute string `json:"emailPrefixAttribute"`
	EmailSuffix          string `json:"emailSuffix"`

	// PageSize is the number of entries asked for per page (default 500;
	// AD's MaxPageSize is 1,000).
	PageSize int `json:"-"`
	// SearchTimeLimit bounds each search request (one page), both on the
	// server (the request's time limit, whole seconds) and on the client
	// (default 2 minutes).
	SearchTimeLimit time.Duration `json:"-"`
	// DialTimeout bounds connecting (default 30 s).
	DialTimeout time.Duration `json:"-"`
}

// Defaults of a generic LDAP server (OpenLDAP's standard schema).
const (
	DefaultUserObjectClass    = "inetOrgPerson"
	DefaultGroupObjectClass   = "groupOfNames"
	DefaultGroupNameAttribute = "cn"
	DefaultUserEmailAttribute = "mail"
	DefaultMemberAttribute    = "member"
)

// Active Directory's defaults, the ones BDC presets when "AD" is on.
const (
	ADUserObjectClass    = "person"
	ADGroupObjectClass   = "group"
	ADGroupNameAttribute = "name"
	ADUserEmailAttribute = "mail"
	ADMemberAttribute    = "member"
	// ADEmailPrefixAttribute is the prefix attribute BDC sets with AD on.
	ADEmailPrefixAttribute = "sAMAccountName"
	// ADUserPath and ADGroupPath are the paths a new AD configuration
	// starts with. BDC fills them only when they are null
	// (libs/utils.ts, adjustConfigForSave); an empty path searches the
	// whole root, so Normalize leaves empty paths alone and the settings
	// layer fills a missing one (see Settings.UnmarshalJSON).
	ADUserPath  = "CN=Users"
	ADGroupPath = "CN=Users"
)

const (
	defaultPageSize        = 500
	defaultSearchTimeLimit = 2 * time.Minute
	defaultDialTimeout     = 30 * time.Second
)

// Normalize trims the fields and fills the empty class and attribute
// fields with their defaults: Active Directory's when AD is on, else a
// generic server's. Empty paths stay empty: they mean the root path.
func (c Config) Normalize() Config {
	for _, s := range []*string{&c.Hostname, &c.Username, &c.RootPath, &c.UserObjectClass, &c.GroupObjectClass,
		&c.UserPath, &c.GroupPath, &c.GroupNameAttribute, &c.UserEmailAttribute, &c.MemberAttribute,
		&c.EmailPrefixAttribute, &c.EmailSuffix} {
		*s = strings.TrimSpace(*s)
	}
	def := func(s *string, generic, ad string) {
		if *s == "" {
			if c.AD {
				*s = ad
			} else {
				*s = generic
			}
		}
	}
	def(&c.UserObjectClass, DefaultUserObjectClass, ADUserObjectClass)
	def(&c.GroupObjectClass, DefaultGroupObjectClass, ADGroupObjectClass)
	def(&c.GroupNameAttribute, DefaultGroupNameAttribute, ADGroupNameAttribute)
	def(&c.UserEmailAttribute, DefaultUserEmailAttribute, ADUserEmailAttribute)
	def(&c.MemberAttribute, DefaultMemberAttribute, ADMemberAttribute)
	def(&c.EmailPrefixAttribute, "", ADEmailPrefixAttribute)
	if c.CACert = strings.TrimSpace(strings.ReplaceAll(c.CACert, "\r\n", "\n")); c.CACert != "" {
		c.CACert += "\n"
	}
	if c.Port == 0 {
		c.Port = 389
		if c.SSL && !c.StartTLS {
			c.Port = 636
		}
	}
	if c.PageSize <= 0 {
		c.PageSize = defaultPageSize
	}
	if c.SearchTimeLimit <= 0 {
		c.SearchTimeLimit = defaultSearchTimeLimit
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = defaultDialTimeout
	}
	return c
}

// ErrConfig matches every settings error of this package with errors.Is.
var ErrConfig = errors.New("invalid LDAP settings")

// ConfigError is one field that is wrong, with what to do about it.
type ConfigError struct {
	Field   string // the JSON name
	Message string
}

func (e *ConfigError) Error() string { return e.Message }

// Is lets errors.Is(err, ErrConfig) match.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Validate checks a normalised Config and returns the first problem (see
// Problems for all of them).
func (c Config) Validate() error {
	if ps := c.Problems(true); len(ps) > 0 {
		return ps[0]
	}
	return nil
}

// address is the server's URL.
func (c Config) address() string {
	scheme := "ldap"
	if c.SSL && !c.StartTLS {
		scheme = "ldaps"
	}
	host := c.Hostname
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s://%s:%d", scheme, host, c.Port)
}

// tlsConfig verifies the server against CACert (or the system's roots)
// and Hostname, unless SSLAllowUnauthorized.
func (c Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{
		ServerName:         strings.Trim(c.Hostname, "[]"),
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.SSLAllowUnauthorized, //nolint:gosec // the user's explicit "do not verify" switch, off by default
	}
	if c.CACert != "" {
		pool, err := certPool(c.CACert)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func certPool(pemText string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pemText)) {
		return nil, errors.New("The CA certificate is not a PEM certificate: paste the CA's certificate including the -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines.")
	}
	return pool, nil
}

// searchBase is BDC's makeSearchPath: the part of RootPath from its first
// "dc=" on (lower-cased), prefixed with path; a RootPath without "dc="
// makes path alone the base. Kept exactly, odd as it is (an "ou=…" before
// the first dc= is dropped), so a BDC configuration searches the same
// subtree here.
func searchBase(rootPath, path string) string {
	root := strings.ToLower(strings.TrimSpace(rootPath))
	i := strings.Index(root, "dc=")
	if i < 0 {
		return strings.TrimSpace(path)
	}
	base := root[i:]
	if p := strings.TrimSpace(path); p != "" {
		base = p + "," + base
	}
	return base
}
