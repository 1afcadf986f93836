// Package ldaptest starts a real OpenLDAP slapd for tests outside package
// ldap (the engine's, the console's browser tests): on a loopback port,
// from a generated slapd.conf in the test's temporary directory, loaded
// with slapadd, stopped when the test ends. .ci/run installs slapd
// (Debian's slapd and ldap-utils); without it Require fails the test in CI
// (CI set) and skips it elsewhere.
//
// Package ldap's own tests keep their helper (slapd_test.go), which also
// adds the Active Directory attributes to the schema; this one serves
// plain inetOrgPerson and groupOfNames directories.
package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The directory's suffix and the read-only account the tests bind as.
const (
	Suffix         = "dc=example,dc=com"
	ReaderDN       = "cn=reader," + Suffix
	ReaderPassword = "reader-secret"
	// AdminDN and AdminPassword are the server's rootdn, for tests that
	// change the directory between runs.
	AdminDN       = "cn=admin," + Suffix
	AdminPassword = "admin-secret"
)

// TB is what Start and CA need of a test: *testing.T and *testing.B, or a
// TestMain's own stand-in for a server shared by a package's tests (its
// Fatalf may panic; its cleanups run when TestMain ends).
type TB interface {
	Helper()
	Fatalf(format string, a ...any)
	TempDir() string
	Cleanup(func())
}

// Options say what the server holds and speaks.
type Options struct {
	// LDIF is the directory (see Directory).
	LDIF string
	// TLS also listens with LDAPS on TLSPort and offers StartTLS on
	// Port, with a certificate for 127.0.0.1 from a throwaway CA.
	TLS bool
	// SizeLimit is the server's size limit (0: unlimited): a search that
	// does not page and matches more entries fails; paged searches have
	// no limit. (OpenLDAP's size.pr, a cap on the page size, is not set:
	// slapd refuses a larger page size with adminLimitExceeded instead of
	// capping it as Active Directory does.)
	SizeLimit int
	// PageLimit, when > 0, is the largest page the server accepts
	// (OpenLDAP's size.pr): a larger one is refused with result 11.
	PageLimit int
	// Schema, when set, is more schema (attributetype/objectclass
	// definitions) loaded after the standard ones.
	Schema string
}

// Server is a running slapd.
type Server struct {
	Host          string // 127.0.0.1
	Port, TLSPort int
	// CAPEM is the CA that signed the server's certificate (TLS only).
	CAPEM string
}

// paths finds slapd and slapadd ("" when slapd is missing).
func paths() (slapd, slapadd string) {
	for _, dir := range []string{"", "/usr/sbin/"} {
		p, err := exec.LookPath(dir + "slapd")
		if err != nil {
			continue
		}
		a, err := exec.LookPath(dir + "slapadd")
		if err != nil {
			a = filepath.Join(filepath.Dir(p), "slapadd")
		}
		return p, a
	}
	return "", ""
}

// Require fails the test in CI when slapd is missing, and skips it
// elsewhere.
func Require(tb testing.TB) {
	tb.Helper()
	if p, _ := paths(); p != "" {
		return
	}
	msg := "OpenLDAP's slapd is not installed: install it with `apt-get install -y slapd ldap-utils` (.ci/run does)"
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// FreePort returns a loopback port nothing listens on (for a server
// that must be absent).
func FreePort(tb TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("%v", err)
	}
	defer func() { _ = l.Close() }() // only its port was wanted
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts a slapd holding o.LDIF and stops it when the test ends.
// A *testing.T or *testing.B is skipped (failed in CI) when slapd is
// missing; another TB fails.
func Start(tb TB, o Options) *Server {
	tb.Helper()
	if t, ok := tb.(testing.TB); ok {
		Require(t)
	}
	bin, add := paths()
	if bin == "" {
		tb.Fatalf("slapd is not installed")
	}
	dir := tb.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		tb.Fatalf("%v", err)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			tb.Fatalf("%v", err)
		}
		return p
	}
	s := &Server{Host: "127.0.0.1"}
	var tlsConf string
	if o.TLS {
		ca, cert, key := CA(tb, s.Host)
		s.CAPEM = ca
		tlsConf = fmt.Sprintf("TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n",
			write("ca.pem", ca), write("cert.pem", cert), write("key.pem", key))
	}
	limit := "unlimited"
	if o.SizeLimit > 0 {
		limit = fmt.Sprint(o.SizeLimit)
	}
	pageLimit := ""
	if o.PageLimit > 0 {
		pageLimit = fmt.Sprintf(" size.pr=%d", o.PageLimit)
	}
	schema := ""
	if o.Schema != "" {
		schema = "include " + write("extra.schema", o.Schema) + "\n"
	}
	conf := write("slapd.conf", fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
%[6]spidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
%[2]s
database mdb
maxsize 1073741824
suffix "%[3]s"
rootdn "cn=admin,%[3]s"
rootpw %[5]s
directory %[1]s/db
sizelimit size.soft=%[4]s size.hard=%[4]s size.prtotal=unlimited%[7]s
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
`, dir, tlsConf, Suffix, limit, AdminPassword, schema, pageLimit))
	data := write("data.ldif", o.LDIF)
	if out, err := exec.Command(add, "-q", "-f", conf, "-l", data).CombinedOutput(); err != nil { //nolint:gosec // G204: the test's own slapadd
		tb.Fatalf("slapadd: %v\n%s", err, out)
	}
	s.Port = FreePort(tb)
	urls := fmt.Sprintf("ldap://127.0.0.1:%d/", s.Port)
	if o.TLS {
		s.TLSPort = FreePort(tb)
		urls += fmt.Sprintf(" ldaps://127.0.0.1:%d/", s.TLSPort)
	}
	var logBuf bytes.Buffer
	// -d keeps slapd in the foreground, so the test owns the process.
	cmd := exec.Command(bin, "-f", conf, "-h", urls, "-d", "0") //nolint:gosec // G204: the test's own slapd
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("%v", err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill() // it may have exited already
		<-exited               // killed: its exit status says nothing
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), time.Second)
		if err == nil {
			_ = c.Close() // it listens: that was all
			break
		}
		select {
		case <-exited:
			tb.Fatalf("slapd exited: %v\n%s", waitErr, logBuf.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("slapd did not listen on %d within 15 s\n%s", s.Port, logBuf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// CA makes a throwaway CA and a server certificate for host, as PEM.
func CA(tb TB, host string) (caPEM, certPEM, keyPEM string) {
	tb.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dirsync test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	enc := func(typ string, b []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})) }
	return enc("CERTIFICATE", caDER), enc("CERTIFICATE", der), enc("PRIVATE KEY", keyDER)
}

// Directory builds a test directory's LDIF: the suffix, ou=people and
// ou=groups, and the reader account (NewDirectory), then users and groups.
type Directory struct{ b strings.Builder }

// NewDirectory starts a directory with its base entries.
func NewDirectory() *Directory {
	d := &Directory{}
	d.Entry(Suffix, "objectClass", "dcObject", "objectClass", "organization", "dc", "example", "o", "Example")
	d.Entry("ou=people,"+Suffix, "objectClass", "organizationalUnit", "ou", "people")
	d.Entry("ou=groups,"+Suffix, "objectClass", "organizationalUnit", "ou", "groups")
	d.Entry(ReaderDN, "objectClass", "organizationalRole", "objectClass", "simpleSecurityObject",
		"cn", "reader", "userPassword", ReaderPassword)
	return d
}

// Entry adds an entry with attribute/value pairs.
func (d *Directory) Entry(dn string, attrs ...string) {
	fmt.Fprintf(&d.b, "dn: %s\n", dn)
	for i := 0; i+1 < len(attrs); i += 2 {
		fmt.Fprintf(&d.b, "%s: %s\n", attrs[i], attrs[i+1])
	}
	d.b.WriteString("\n")
}

// User adds an inetOrgPerson under ou=people (no mail when mail is "")
// and returns its DN, which is its externalId.
func (d *Directory) User(uid, mail string) string {
	dn := "uid=" + uid + ",ou=people," + Suffix
	attrs := []string{"objectClass", "inetOrgPerson", "uid", uid, "cn", uid, "sn", uid}
	if mail != "" {
		attrs = append(attrs, "mail", mail)
	}
	d.Entry(dn, attrs...)
	return dn
}

// Group adds a groupOfNames under ou=groups with member DNs and returns
// its DN.
func (d *Directory) Group(cn string, members ...string) string {
	dn := "cn=" + cn + ",ou=groups," + Suffix
	attrs := []string{"objectClass", "groupOfNames", "cn", cn}
	for _, m := range members {
		attrs = append(attrs, "member", m)
	}
	d.Entry(dn, attrs...)
	return dn
}

// LDIF is the directory so far.
func (d *Directory) LDIF() string { return d.b.String() }
