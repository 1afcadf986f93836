// Package sambatest starts a real Samba Active Directory domain controller
// for tests: `samba-tool domain provision` into a temporary directory,
// then `samba --foreground -M single` with only its LDAP server, bound to
// a loopback address of its own, with a throwaway CA for LDAPS and
// StartTLS. .ci/run installs Samba (Debian's samba, samba-ad-dc and
// samba-ad-provision); Require fails a test in CI (CI set) when it is
// missing and skips it elsewhere.
//
// AD's LDAP ports are fixed (389, 636; Samba has no setting for them), so
// each DC takes a random address in 127.128.0.0/9 (Linux answers the whole
// of 127.0.0.0/8 on lo): two test binaries on one machine get two DCs
// that do not meet. Binding 389 needs root, as CI is.
//
// A DC costs about 4 s to provision and under 1 s to start, so a package
// should share one between its tests. Start returns a DC with only the
// provision's accounts and a reader (Reader, ReaderPassword: an ordinary
// domain user, what a real deployment binds as); AddUser and AddGroup
// fill it over LDAPS as the administrator.
package sambatest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	ldap "github.com/go-ldap/ldap/v3"
)

// The test domain.
const (
	Realm  = "AD.TEST"
	Domain = "ADTEST"
	// Base is the domain's root DN.
	Base = "DC=ad,DC=test"
	// Users is the container that AD's defaults search.
	Users = "CN=Users," + Base
	// Admin and AdminPassword are the domain administrator's.
	Admin         = "Administrator@ad.test"
	AdminPassword = "Admin-Secret-1!"
	// Reader and ReaderPassword are an ordinary domain user's, created by
	// Start.
	Reader         = "reader@ad.test"
	ReaderPassword = "Reader-Secret-1!"
	// ProvisionUsers is how many users a fresh DC has under Users:
	// Administrator, Guest, krbtgt, dns-dc1 and the reader.
	ProvisionUsers = 5
)

// UAC values of userAccountControl for accounts added without a password.
const (
	// Enabled is NORMAL_ACCOUNT|PASSWD_NOTREQD.
	Enabled = 544
	// Disabled is Enabled|ACCOUNTDISABLE.
	Disabled = 546
)

// noFsync is the switch of Samba's own test suite (selftest) that makes
// its databases skip fsync: every LDAP add is a transaction, and a
// throwaway DC need not survive a power cut (filling 2,000 users takes
// 6-8 s with it, 40 s without on a loaded 2-core machine).
const noFsync = "TDB_NO_FSYNC=1"

// DC is a running domain controller.
type DC struct {
	// Host is the DC's loopback address; its LDAP ports are 389 and 636.
	Host string
	// CAPEM is the CA that signed the DC's certificate (for Host).
	CAPEM string
	// Conf is the DC's smb.conf (for samba-tool).
	Conf string
	// Proc is the running samba, which a test may stop (SIGSTOP) and
	// continue.
	Proc *os.Process
	// Provision and Startup are how long the two steps took.
	Provision, Startup time.Duration

	dir  string
	stop func()
}

// Path finds one of Samba's programs ("" when it is missing).
func Path(name string) string {
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/"} {
		if p, err := exec.LookPath(dir + name); err == nil {
			return p
		}
	}
	return ""
}

// Available says why a DC cannot start here (nil when it can).
func Available() error {
	switch {
	case Path("samba") == "" || Path("samba-tool") == "":
		return errors.New("Samba's AD DC is not installed: install it with `apt-get install -y --no-install-recommends samba samba-ad-dc samba-ad-provision` (.ci/run does)")
	case os.Geteuid() != 0:
		return errors.New("the Samba AD DC tests need root: Active Directory's LDAP ports (389, 636) are fixed and privileged")
	}
	return nil
}

// Require fails the test in CI when a DC cannot start and skips it
// elsewhere.
func Require(tb testing.TB) {
	tb.Helper()
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
}

// freeLoopback picks an address in 127.128.0.0/9 on which nothing answers
// AD's ports.
func freeLoopback() (string, error) {
	for range 50 {
		n, err := rand.Int(rand.Reader, big.NewInt(1<<23))
		if err != nil {
			return "", err
		}
		v := uint32(n.Int64()) + 1<<23 // clear of 127.0.0.1
		if v&0xff == 0 || v&0xff == 0xff {
			continue
		}
		ip := net.IPv4(127, byte(v>>16), byte(v>>8), byte(v)).String()
		busy := false
		for _, port := range []string{"389", "636"} {
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), 200*time.Millisecond); err == nil {
				_ = c.Close() // only whether it answers mattered
				busy = true
			}
		}
		if !busy {
			return ip, nil
		}
	}
	return "", errors.New("no free loopback address for a Samba DC after 50 tries")
}

// Start provisions a domain in a new temporary directory, starts its DC,
// adds the reader and returns once the reader can bind over LDAPS. Close
// stops it and removes the directory.
func Start() (_ *DC, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dirsync-samba-")
	if err != nil {
		return nil, err
	}
	dc := &DC{dir: dir, stop: func() {}}
	defer func() {
		if err != nil {
			dc.Close()
		}
	}()
	if dc.Host, err = freeLoopback(); err != nil {
		return nil, err
	}
	// Our own CA and a certificate for the DC's address: the one Samba
	// makes itself names DC1.ad.test, which this machine cannot resolve.
	ca, cert, key, err := throwawayCA(dc.Host)
	if err != nil {
		return nil, err
	}
	dc.CAPEM = ca
	tlsDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		return nil, err
	}
	for name, text := range map[string]string{"ca.pem": ca, "cert.pem": cert, "key.pem": key} {
		// Samba refuses a key file that others may read.
		if err := os.WriteFile(filepath.Join(tlsDir, name), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	target := filepath.Join(dir, "dc")
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prov := exec.CommandContext(ctx, Path("samba-tool"), "domain", "provision", //nolint:gosec // G204: the test's own samba-tool
		"--realm="+Realm, "--domain="+Domain, "--server-role=dc", "--dns-backend=NONE",
		"--use-rfc2307", "--host-name=dc1", "--adminpass="+AdminPassword, "--targetdir="+target,
		"--option=interfaces="+dc.Host+"/8", "--option=bind interfaces only=yes")
	prov.Env = append(os.Environ(), noFsync)
	if out, err := prov.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("samba-tool domain provision: %w\n%s", err, out)
	}
	dc.Provision = time.Since(t0)
	dc.Conf = filepath.Join(target, "etc", "smb.conf")

	t0 = time.Now()
	var logBuf syncBuffer
	// Only the LDAP server (no SMB, KDC, DNS, NetBIOS: nothing else to
	// bind), in one process (-M single) that the test owns.
	cmd := exec.Command(Path("samba"), "--foreground", //nolint:gosec // G204: the test's own samba
		"--no-process-group", "-M", "single", "--debug-stdout",
		"-s", dc.Conf,
		"--option=server services=ldap",
		// Everything else in the test's directory: a DC of another test
		// binary must not see this one's pid file or sockets (samba
		// refuses to start beside a live pid file).
		"--option=pid directory="+target, "--option=ncalrpc dir="+filepath.Join(target, "ncalrpc"),
		"--option=winbindd socket directory="+filepath.Join(target, "winbindd"),
		"--option=ntp signd socket directory="+filepath.Join(target, "ntp_signd"),
		"--option=interfaces="+dc.Host+"/8", "--option=bind interfaces only=yes",
		"--option=tls certfile="+filepath.Join(tlsDir, "cert.pem"),
		"--option=tls keyfile="+filepath.Join(tlsDir, "key.pem"),
		"--option=tls cafile="+filepath.Join(tlsDir, "ca.pem"))
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	cmd.Env = append(os.Environ(), noFsync)
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	dc.Proc = cmd.Process
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	dc.stop = func() {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a test may have stopped it
		_ = cmd.Process.Kill()
		<-exited // killed: its exit status says nothing
	}
	// Ready when the administrator can bind over LDAPS.
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := dc.Dial(Admin, AdminPassword)
		if err == nil {
			_ = c.Close() // it binds: that was all
			break
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("samba exited: %w\n%s", waitErr, logBuf.String())
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the Samba DC did not accept an LDAPS bind on %s within 60 s (last error: %w)\n%s", dc.Host, err, logBuf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	dc.Startup = time.Since(t0)
	c, err := dc.Dial(Admin, AdminPassword)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Close() }() // the adds' errors are checked one by one
	req := ldap.NewAddRequest(UserDN("reader"), nil)
	req.Attribute("objectClass", []string{"user"})
	req.Attribute("sAMAccountName", []string{"reader"})
	req.Attribute("userPrincipalName", []string{Reader})
	req.Attribute("unicodePwd", []string{Password(ReaderPassword)})
	req.Attribute("userAccountControl", []string{"512"})
	if err := c.Add(req); err != nil {
		return nil, fmt.Errorf("add the reader: %w", err)
	}
	return dc, nil
}

// Close stops the DC and removes its directory.
func (dc *DC) Close() {
	dc.stop()
	_ = os.RemoveAll(dc.dir)
}

// Dial binds to the DC over LDAPS, verifying it against CAPEM.
func (dc *DC) Dial(user, password string) (*ldap.Conn, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(dc.CAPEM))
	c, err := ldap.DialURL("ldaps://"+net.JoinHostPort(dc.Host, "636"),
		ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool, ServerName: dc.Host, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return nil, err
	}
	// A DC that hangs fails the test, not the test binary's timeout.
	c.SetTimeout(time.Minute)
	if err := c.Bind(user, password); err != nil {
		_ = c.Close() // the bind's error is the one that matters
		return nil, err
	}
	return c, nil
}

// SambaTool runs samba-tool against the DC's database.
func (dc *DC) SambaTool(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, Path("samba-tool"), append(args, "-s", dc.Conf)...).CombinedOutput() //nolint:gosec // G204: a test's samba-tool call
	if err != nil {
		return "", fmt.Errorf("samba-tool %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// UserDN is the DN of the account name under Users.
func UserDN(name string) string { return "CN=" + name + "," + Users }

// GroupDN is the DN of a group under Users.
func GroupDN(name string) string { return "CN=" + name + "," + Users }

// Password is a unicodePwd value: the password in quotes, UTF-16LE.
func Password(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// AddUser adds the account name under Users with userAccountControl uac
// (Enabled or Disabled: no password) and mail ("" for none), returning
// its DN.
func AddUser(c *ldap.Conn, name, mail string, uac int) (string, error) {
	dn := UserDN(name)
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"user"})
	req.Attribute("sAMAccountName", []string{name})
	req.Attribute("userPrincipalName", []string{name + "@ad.test"})
	req.Attribute("userAccountControl", []string{strconv.Itoa(uac)})
	if mail != "" {
		req.Attribute("mail", []string{mail})
	}
	if err := c.Add(req); err != nil {
		return "", fmt.Errorf("add %s: %w", dn, err)
	}
	return dn, nil
}

// AddUsers adds users name(0) … name(n-1), enabled, with mail
// name(i)@ad.test, over a few requests in flight at once (go-ldap's Conn
// multiplexes them).
func AddUsers(c *ldap.Conn, n int, name func(int) string) error {
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		next     = make(chan int)
	)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				if _, err := AddUser(c, name(i), name(i)+"@ad.test", Enabled); err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return firstErr
}

// AddGroup adds a global security group at dn with the given member DNs
// (which must exist: AD checks), returning dn.
func AddGroup(c *ldap.Conn, dn, name string, members ...string) (string, error) {
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"group"})
	req.Attribute("sAMAccountName", []string{name})
	if len(members) > 0 {
		req.Attribute("member", members)
	}
	if err := c.Add(req); err != nil {
		return "", fmt.Errorf("add %s: %w", dn, err)
	}
	return dn, nil
}

// syncBuffer is a bytes.Buffer that the process's output and the test
// may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// throwawayCA makes a CA and a server certificate for host, as PEM.
func throwawayCA(host string) (caPEM, certPEM, keyPEM string, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dirsync test AD CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", "", err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP(host)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", "", "", err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", "", err
	}
	enc := func(typ string, b []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})) }
	return enc("CERTIFICATE", caDER), enc("CERTIFICATE", der), enc("PRIVATE KEY", keyDER), nil
}
