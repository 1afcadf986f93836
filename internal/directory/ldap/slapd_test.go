package ldap

// A real OpenLDAP slapd for the tests, started from a generated slapd.conf
// in t.TempDir() on a loopback port and loaded with slapadd. .ci/run
// installs slapd (Debian's slapd and ldap-utils packages); without it the
// tests fail in CI (CI set) and skip elsewhere.

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/directory/ldap/ldaptest"
)

const (
	testSuffix   = ldaptest.Suffix
	testReaderDN = ldaptest.ReaderDN
	testReaderPW = ldaptest.ReaderPassword
	// testSizeLimit is the server's size limit: any search that does not
	// page and matches more entries fails.
	testSizeLimit = 5
)

// testSchema adds the two Active Directory attributes the source reads
// (objectGUID as raw octets, userAccountControl as an integer) to OpenLDAP,
// on an auxiliary class, so the GUID and disabled rules run against a real
// server's binary attribute values.
const testSchema = `
attributetype ( 1.3.6.1.4.1.55555.1.1 NAME 'objectGUID'
	EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 SINGLE-VALUE )
attributetype ( 1.3.6.1.4.1.55555.1.2 NAME 'userAccountControl'
	EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.55555.2.1 NAME 'dirsyncTestAccount' AUXILIARY
	MAY ( objectGUID $ userAccountControl ) )
`

type slapd struct {
	port, tlsPort int
	caPEM         string
}

type slapdOptions struct {
	ldif string
	tls  bool // also listen with LDAPS on tlsPort, StartTLS on port
	// sizeLimit is the server's size limit (default testSizeLimit).
	sizeLimit int
	// pageLimit, when > 0, is the largest page the server accepts
	// (OpenLDAP's size.pr).
	pageLimit int
}

// findSlapd fails the test in CI when slapd is missing and skips it
// elsewhere.
func findSlapd(tb testing.TB) {
	tb.Helper()
	ldaptest.Require(tb)
}

// env is what startSlapd needs of a test: *testing.T and *testing.B, or
// mainEnv for the server the package's tests share.
type env = ldaptest.TB

// mainEnv runs a shared server's setup outside a test: Fatalf panics
// (sharedSlapd turns that into the failing test's message) and the
// cleanups run at the end of TestMain.
type mainEnv struct{ cleanups []func() }

func (m *mainEnv) Helper() {}

func (m *mainEnv) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

func (m *mainEnv) TempDir() string {
	d, err := os.MkdirTemp("", "dirsync-slapd-")
	if err != nil {
		panic(err)
	}
	m.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (m *mainEnv) Cleanup(f func()) { m.cleanups = append(m.cleanups, f) }

func (m *mainEnv) close() {
	for i := len(m.cleanups) - 1; i >= 0; i-- {
		m.cleanups[i]()
	}
}

func freePort(tb env) int { return ldaptest.FreePort(tb) }

// startSlapd starts ldaptest's slapd with the AD test schema and this
// package's small default size limit.
func startSlapd(tb env, o slapdOptions) *slapd {
	tb.Helper()
	if o.sizeLimit == 0 {
		o.sizeLimit = testSizeLimit
	}
	srv := ldaptest.Start(tb, ldaptest.Options{LDIF: o.ldif, TLS: o.tls, SizeLimit: o.sizeLimit, PageLimit: o.pageLimit, Schema: testSchema})
	return &slapd{port: srv.Port, tlsPort: srv.TLSPort, caPEM: srv.CAPEM}
}

// config is a Config that binds as the test's reader.
func (s *slapd) config() Config {
	return Config{
		Hostname: "127.0.0.1", Port: s.port, Username: testReaderDN, Password: testReaderPW,
		RootPath: testSuffix, UserPath: "ou=people", GroupPath: "ou=groups", PageSize: testSizeLimit - 1,
	}
}

// throwawayCA makes a CA and a server certificate for host, as PEM.
func throwawayCA(tb env, host string) (caPEM, certPEM, keyPEM string) {
	return ldaptest.CA(tb, host)
}

// ldif builds the test directory's LDIF.
type ldif struct{ b strings.Builder }

func (l *ldif) entry(dn string, attrs ...string) {
	fmt.Fprintf(&l.b, "dn: %s\n", dn)
	for i := 0; i+1 < len(attrs); i += 2 {
		if v, ok := strings.CutPrefix(attrs[i+1], "::"); ok {
			fmt.Fprintf(&l.b, "%s:: %s\n", attrs[i], v)
		} else {
			fmt.Fprintf(&l.b, "%s: %s\n", attrs[i], attrs[i+1])
		}
	}
	l.b.WriteString("\n")
}

// base writes the suffix, the two OUs and the reader account.
func (l *ldif) base() {
	l.entry(testSuffix, "objectClass", "dcObject", "objectClass", "organization", "dc", "example", "o", "Example")
	l.entry("ou=people,"+testSuffix, "objectClass", "organizationalUnit", "ou", "people")
	l.entry("ou=groups,"+testSuffix, "objectClass", "organizationalUnit", "ou", "groups")
	l.entry("ou=posix,"+testSuffix, "objectClass", "organizationalUnit", "ou", "posix")
	l.entry(testReaderDN, "objectClass", "organizationalRole", "objectClass", "simpleSecurityObject",
		"cn", "reader", "userPassword", testReaderPW)
}

// user adds an inetOrgPerson under ou=people; extra are more attribute
// pairs (objectGUID as "::base64").
func (l *ldif) user(uid, mail string, extra ...string) string {
	dn := "uid=" + uid + ",ou=people," + testSuffix
	attrs := []string{"objectClass", "inetOrgPerson"}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i] == "objectGUID" || extra[i] == "userAccountControl" {
			attrs = append(attrs, "objectClass", "dirsyncTestAccount")
			break
		}
	}
	attrs = append(attrs, "uid", uid, "cn", uid, "sn", uid)
	if mail != "" {
		attrs = append(attrs, "mail", mail)
	}
	l.entry(dn, append(attrs, extra...)...)
	return dn
}

// group adds a groupOfNames under ou=groups.
func (l *ldif) group(cn string, members ...string) string {
	dn := "cn=" + cn + ",ou=groups," + testSuffix
	attrs := []string{"objectClass", "groupOfNames", "cn", cn}
	for _, m := range members {
		attrs = append(attrs, "member", m)
	}
	l.entry(dn, attrs...)
	return dn
}

func b64(b []byte) string { return "::" + base64.StdEncoding.EncodeToString(b) }
