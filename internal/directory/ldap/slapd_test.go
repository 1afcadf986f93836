package ldap

// A real OpenLDAP slapd for the tests, started from a generated slapd.conf
// in t.TempDir() on a loopback port and loaded with slapadd. .ci/run
// installs slapd (Debian's slapd and ldap-utils packages); without it the
// tests fail in CI (CI set) and skip elsewhere.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
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

const (
	testSuffix   = "dc=example,dc=com"
	testReaderDN = "cn=reader,dc=example,dc=com"
	testReaderPW = "reader-secret"
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
	dir           string
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

// findSlapd returns slapd's path, failing the test in CI when it is
// missing and skipping it elsewhere.
func findSlapd(tb testing.TB) {
	tb.Helper()
	if p, _ := slapdPaths(); p != "" {
		return
	}
	msg := "OpenLDAP's slapd is not installed: install it with `apt-get install -y slapd ldap-utils` (.ci/run does)"
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// slapdPaths finds slapd and slapadd ("" when slapd is missing).
func slapdPaths() (slapd, slapadd string) {
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

// env is what startSlapd needs of a test: *testing.T and *testing.B, or
// mainEnv for the server the package's tests share.
type env interface {
	Helper()
	Fatalf(format string, a ...any)
	TempDir() string
	Cleanup(func())
}

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

func freePort(tb env) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("%v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startSlapd starts a slapd holding o.ldif and stops it when the test ends.
func startSlapd(tb env, o slapdOptions) *slapd {
	tb.Helper()
	bin, add := slapdPaths()
	if bin == "" {
		tb.Fatalf("slapd is not installed")
	}
	dir := tb.TempDir()
	s := &slapd{dir: dir}
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
	var tlsConf string
	if o.tls {
		ca, cert, key := throwawayCA(tb, "127.0.0.1")
		s.caPEM = ca
		tlsConf = fmt.Sprintf("TLSCACertificateFile %s\nTLSCertificateFile %s\nTLSCertificateKeyFile %s\n",
			write("ca.pem", ca), write("cert.pem", cert), write("key.pem", key))
	}
	if o.sizeLimit == 0 {
		o.sizeLimit = testSizeLimit
	}
	pageLimit := ""
	if o.pageLimit > 0 {
		pageLimit = fmt.Sprintf(" size.pr=%d", o.pageLimit)
	}
	schema := write("dirsync-test.schema", testSchema)
	conf := write("slapd.conf", fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
include %[1]s
pidfile %[2]s/slapd.pid
argsfile %[2]s/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
%[3]s
database mdb
maxsize 1073741824
suffix "%[4]s"
rootdn "cn=admin,%[4]s"
rootpw admin-secret
directory %[2]s/db
sizelimit size.soft=%[5]d size.hard=%[5]d size.prtotal=unlimited%[6]s
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
`, schema, dir, tlsConf, testSuffix, o.sizeLimit, pageLimit))
	data := write("data.ldif", o.ldif)
	if out, err := exec.Command(add, "-q", "-f", conf, "-l", data).CombinedOutput(); err != nil {
		tb.Fatalf("slapadd: %v\n%s", err, out)
	}
	s.port = freePort(tb)
	urls := fmt.Sprintf("ldap://127.0.0.1:%d/", s.port)
	if o.tls {
		s.tlsPort = freePort(tb)
		urls += fmt.Sprintf(" ldaps://127.0.0.1:%d/", s.tlsPort)
	}
	var logBuf bytes.Buffer
	// -d keeps slapd in the foreground, so the test owns the process.
	cmd := exec.Command(bin, "-f", conf, "-h", urls, "-d", "0")
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("%v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			tb.Fatalf("slapd exited: %v\n%s", err, logBuf.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("slapd did not listen on %d within 15 s\n%s", s.port, logBuf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
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
