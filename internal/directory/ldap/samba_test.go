package ldap

// A real Samba Active Directory domain controller for the AD tests,
// provisioned and started by the tests themselves: `samba-tool domain
// provision` into a temporary directory, then `samba --foreground` with
// only its LDAP server, bound to a loopback address of its own. .ci/run
// installs it (Debian's samba, samba-ad-dc and samba-ad-provision); without
// it the tests fail in CI (CI set) and skip elsewhere.
//
// AD's LDAP ports are fixed (389, 636; Samba has no setting for them), so
// each test binary takes a random address in 127.0.0.0/8 (Linux answers
// the whole block on lo): two suites running at once on one machine get
// two DCs that do not meet. Binding 389 needs root, as CI is.
//
// Provisioning takes seconds, so the package's tests share one DC,
// provisioned and filled once (sharedSamba) and stopped by TestMain.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	ldap "github.com/go-ldap/ldap/v3"
)

const (
	adRealm   = "AD.TEST"
	adDomain  = "ADTEST"
	adBase    = "DC=ad,DC=test"
	adUsers   = "CN=Users," + adBase
	adAdmin   = "Administrator@ad.test"
	adAdminPW = "Admin-Secret-1!"
	// adReader is an ordinary domain user: what a real deployment binds
	// as.
	adReader   = "reader@ad.test"
	adReaderPW = "Reader-Secret-1!"
	// adBigMembers is the size of the group that AD must send in ranges
	// (its MaxValRange is 1,500).
	adBigMembers = 2000
	// adUserCount is every user under CN=Users: the bulk users, the reader,
	// alice, bob, carol, dave, u01, u02, and the provision's Administrator,
	// Guest, krbtgt and dns-dc1.
	adUserCount = adBigMembers + 11
)

// noFsync is the switch of Samba's own test suite (selftest) that makes
// its databases skip fsync: every LDAP add is a transaction, and a
// throwaway DC need not survive a power cut.
const noFsync = "TDB_NO_FSYNC=1"

// sambaDC is the running DC.
type sambaDC struct {
	ip    string
	caPEM string
	dir   string
	// conf is its smb.conf, for samba-tool.
	conf string
	// proc is the running samba, which a test may stop and continue.
	proc *os.Process
	// goneDN is the deleted user's DN under CN=Deleted Objects.
	goneDN string
	// Timings reported by the tests (and in the helper's note).
	provision, start, filled time.Duration
}

// findSamba fails the test in CI when Samba's DC is missing (or cannot
// bind AD's ports) and skips it elsewhere.
func findSamba(tb testing.TB) {
	tb.Helper()
	msg := ""
	switch {
	case sambaPath("samba") == "" || sambaPath("samba-tool") == "":
		msg = "Samba's AD DC is not installed: install it with `apt-get install -y --no-install-recommends samba samba-ad-dc samba-ad-provision` (.ci/run does)"
	case os.Geteuid() != 0:
		msg = "the Samba AD DC tests need root: Active Directory's LDAP ports (389, 636) are fixed and privileged"
	default:
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

func sambaPath(name string) string {
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/"} {
		if p, err := exec.LookPath(dir + name); err == nil {
			return p
		}
	}
	return ""
}

// freeLoopback picks an address in 127.0.0.0/8 on which nothing answers
// AD's ports.
func freeLoopback(tb env) string {
	tb.Helper()
	for range 50 {
		n, err := rand.Int(rand.Reader, big.NewInt(1<<23))
		if err != nil {
			tb.Fatalf("%v", err)
		}
		v := uint32(n.Int64()) + 1<<23 // 127.128.0.0–127.255.255.255: clear of 127.0.0.1
		ip := net.IPv4(127, byte(v>>16), byte(v>>8), byte(v)).String()
		if v&0xff == 0 || v&0xff == 0xff {
			continue
		}
		busy := false
		for _, port := range []string{"389", "636"} {
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, port), 200*time.Millisecond); err == nil {
				c.Close()
				busy = true
			}
		}
		if !busy {
			return ip
		}
	}
	tb.Fatalf("no free loopback address for the Samba DC after 50 tries")
	return ""
}

// startSamba provisions a domain in a temporary directory, starts its DC
// and stops it at cleanup.
func startSamba(tb env) *sambaDC {
	tb.Helper()
	dir := tb.TempDir()
	dc := &sambaDC{dir: dir, ip: freeLoopback(tb)}
	// Our own CA and a certificate for the DC's address: the one Samba
	// makes itself names DC1.ad.test, which this machine cannot resolve.
	ca, cert, key := throwawayCA(tb, dc.ip)
	dc.caPEM = ca
	tlsDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		tb.Fatalf("%v", err)
	}
	for name, text := range map[string]string{"ca.pem": ca, "cert.pem": cert, "key.pem": key} {
		// Samba refuses a key file that others may read.
		if err := os.WriteFile(filepath.Join(tlsDir, name), []byte(text), 0o600); err != nil {
			tb.Fatalf("%v", err)
		}
	}
	target := filepath.Join(dir, "dc")
	t0 := time.Now()
	provCtx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prov := exec.CommandContext(provCtx, sambaPath("samba-tool"), "domain", "provision",
		"--realm="+adRealm, "--domain="+adDomain, "--server-role=dc", "--dns-backend=NONE",
		"--use-rfc2307", "--host-name=dc1", "--adminpass="+adAdminPW, "--targetdir="+target,
		"--option=interfaces="+dc.ip+"/8", "--option=bind interfaces only=yes")
	prov.Env = append(os.Environ(), noFsync)
	if out, err := prov.CombinedOutput(); err != nil {
		tb.Fatalf("samba-tool domain provision: %v\n%s", err, out)
	}
	dc.provision = time.Since(t0)
	dc.conf = filepath.Join(target, "etc", "smb.conf")

	t0 = time.Now()
	var logBuf syncBuffer
	// Only the LDAP server (no SMB, KDC, DNS, NetBIOS: nothing else to
	// bind), in one process (-M single) that the test owns.
	cmd := exec.Command(sambaPath("samba"), "--foreground", "--no-process-group", "-M", "single", "--debug-stdout",
		"-s", dc.conf,
		"--option=server services=ldap",
		// Everything else in the test's directory: a DC of another test
		// binary must not see this one's pid file or sockets (samba
		// refuses to start beside a live pid file).
		"--option=pid directory="+target, "--option=ncalrpc dir="+filepath.Join(target, "ncalrpc"),
		"--option=winbindd socket directory="+filepath.Join(target, "winbindd"),
		"--option=ntp signd socket directory="+filepath.Join(target, "ntp_signd"),
		"--option=interfaces="+dc.ip+"/8", "--option=bind interfaces only=yes",
		"--option=tls certfile="+filepath.Join(tlsDir, "cert.pem"),
		"--option=tls keyfile="+filepath.Join(tlsDir, "key.pem"),
		"--option=tls cafile="+filepath.Join(tlsDir, "ca.pem"))
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	cmd.Env = append(os.Environ(), noFsync)
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("%v", err)
	}
	dc.proc = cmd.Process
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	// Ready when the administrator can bind over LDAPS.
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := dc.dial(adAdmin, adAdminPW)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			tb.Fatalf("samba exited: %v\n%s", err, logBuf.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the Samba DC did not accept an LDAPS bind on %s within 60 s (last error: %v)\n%s", dc.ip, err, logBuf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	dc.start = time.Since(t0)
	return dc
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

// dial binds to the DC over LDAPS, verifying it against the test's CA.
func (dc *sambaDC) dial(user, password string) (*ldap.Conn, error) {
	cfg := Config{Hostname: dc.ip, SSL: true, CACert: dc.caPEM}.Normalize()
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	c, err := ldap.DialURL("ldaps://"+net.JoinHostPort(dc.ip, "636"), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, err
	}
	// A DC that hangs fails the setup, not the test binary's timeout.
	c.SetTimeout(time.Minute)
	if err := c.Bind(user, password); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// config is an AD Config (AD's defaults: CN=Users, person, group, name,
// member) that binds as the reader over LDAPS.
func (dc *sambaDC) config() Config {
	return Config{
		AD: true, Hostname: dc.ip, SSL: true, CACert: dc.caPEM,
		Username: adReader, Password: adReaderPW, RootPath: adBase,
		UserPath: "CN=Users", GroupPath: "CN=Users",
	}
}

// Who is in the test domain.
const (
	adDeletedUser = "gone"
	adOutsideOU   = "OU=Elsewhere," + adBase
)

func adUserDN(name string) string  { return "CN=" + name + "," + adUsers }
func adBulkName(i int) string      { return fmt.Sprintf("bulk%04d", i) }
func adGroupDN(name string) string { return "CN=" + name + "," + adUsers }

// adPassword is a unicodePwd value: the password in quotes, UTF-16LE.
func adPassword(pw string) string {
	u := utf16.Encode([]rune(`"` + pw + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// fill adds the test directory over LDAPS as the administrator:
//
//   - users alice (mail in mixed case), bob (disabled: userAccountControl
//     546 = NORMAL_ACCOUNT|PASSWD_NOTREQD|ACCOUNTDISABLE), carol, dave, u01,
//     u02, and 2,000 bulk users, all enabled without a password
//     (544); the reader, with a password;
//   - Eng ⇄ Backend (a cycle), Top → Left, Right → Bottom (a diamond,
//     Right also has u01), Big (the 2,000 bulk users), Outer → Hidden
//     where Hidden lives outside CN=Users (so the group search does not
//     find it) and holds u02;
//   - the user "gone", created and deleted (AD keeps it under CN=Deleted
//     Objects).
func (dc *sambaDC) fill(tb env) {
	tb.Helper()
	t0 := time.Now()
	c, err := dc.dial(adAdmin, adAdminPW)
	if err != nil {
		tb.Fatalf("bind as the administrator: %v", err)
	}
	defer c.Close()
	add := func(dn string, attrs map[string][]string) error {
		req := ldap.NewAddRequest(dn, nil)
		for k, v := range attrs {
			req.Attribute(k, v)
		}
		if err := c.Add(req); err != nil {
			return fmt.Errorf("add %s: %w", dn, err)
		}
		return nil
	}
	user := func(name, mail, uac string) error {
		attrs := map[string][]string{
			"objectClass": {"user"}, "sAMAccountName": {name}, "userPrincipalName": {name + "@ad.test"},
			"userAccountControl": {uac},
		}
		if mail != "" {
			attrs["mail"] = []string{mail}
		}
		return add(adUserDN(name), attrs)
	}
	must := func(err error) {
		if err != nil {
			tb.Fatalf("filling the Samba DC: %v", err)
		}
	}
	must(add(adUserDN("reader"), map[string][]string{
		"objectClass": {"user"}, "sAMAccountName": {"reader"}, "userPrincipalName": {adReader},
		"unicodePwd": {adPassword(adReaderPW)}, "userAccountControl": {"512"},
	}))
	must(user("alice", "Alice@AD.Test", "544"))
	must(user("bob", "bob@ad.test", "546"))
	must(user("carol", "carol@ad.test", "544"))
	must(user("dave", "dave@ad.test", "544"))
	must(user("u01", "u01@ad.test", "544"))
	must(user("u02", "u02@ad.test", "544"))
	must(user(adDeletedUser, "gone@ad.test", "544"))

	// The bulk users, over a few requests in flight at once (go-ldap's
	// Conn multiplexes them).
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
		next     = make(chan int)
	)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				if err := user(adBulkName(i), adBulkName(i)+"@ad.test", "544"); err != nil {
					errOnce.Do(func() { firstErr = err })
				}
			}
		})
	}
	for i := range adBigMembers {
		next <- i
	}
	close(next)
	wg.Wait()
	must(firstErr)

	group := func(dn, name string, members ...string) {
		attrs := map[string][]string{"objectClass": {"group"}, "sAMAccountName": {name}}
		if len(members) > 0 {
			attrs["member"] = members
		}
		must(add(dn, attrs))
	}
	// Groups that others nest come first: AD checks that members exist.
	group(adGroupDN("Bottom"), "Bottom", adUserDN("dave"))
	group(adGroupDN("Left"), "Left", adGroupDN("Bottom"))
	group(adGroupDN("Right"), "Right", adGroupDN("Bottom"), adUserDN("u01"))
	group(adGroupDN("Top"), "Top", adGroupDN("Left"), adGroupDN("Right"))
	group(adGroupDN("Backend"), "Backend", adUserDN("carol"))
	group(adGroupDN("Eng"), "Eng", adUserDN("alice"), adUserDN("bob"), adGroupDN("Backend"))
	// Close the cycle.
	mod := ldap.NewModifyRequest(adGroupDN("Backend"), nil)
	mod.Add("member", []string{adGroupDN("Eng")})
	must(c.Modify(mod))
	must(add(adOutsideOU, map[string][]string{"objectClass": {"organizationalUnit"}, "ou": {"Elsewhere"}}))
	group("CN=Hidden,"+adOutsideOU, "Hidden", adUserDN("u02"))
	group(adGroupDN("Outer"), "Outer", "CN=Hidden,"+adOutsideOU)
	big := make([]string, adBigMembers)
	for i := range big {
		big[i] = adUserDN(adBulkName(i))
	}
	group(adGroupDN("Big"), "Big", big...)

	must(c.Del(ldap.NewDelRequest(adUserDN(adDeletedUser), nil)))
	res, err := c.Search(ldap.NewSearchRequest("CN=Deleted Objects,"+adBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(sAMAccountName="+adDeletedUser+")", []string{"1.1"}, []ldap.Control{&ldap.ControlMicrosoftShowDeleted{}}))
	must(err)
	if len(res.Entries) != 1 {
		tb.Fatalf("the deleted user is not under CN=Deleted Objects: %d entries", len(res.Entries))
	}
	dc.goneDN = res.Entries[0].DN
	dc.filled = time.Since(t0)
}

var (
	sambaOnce sync.Once
	sharedDC  *sambaDC
	sambaErr  string
)

// sharedSamba is the DC the AD tests share, provisioned and filled by the
// first test that needs it and stopped by TestMain.
func sharedSamba(t testing.TB) *sambaDC {
	t.Helper()
	findSamba(t)
	sambaOnce.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				sambaErr = fmt.Sprint(r)
			}
		}()
		dc := startSamba(sharedEnv)
		dc.fill(sharedEnv)
		sharedDC = dc
		fmt.Fprintf(os.Stderr, "samba DC on %s: provisioned in %s, started in %s, filled (%d users) in %s\n",
			dc.ip, dc.provision.Round(time.Millisecond), dc.start.Round(time.Millisecond), adBigMembers+8, dc.filled.Round(time.Millisecond))
	})
	if sharedDC == nil {
		t.Fatalf("the shared Samba DC did not start: %s", sambaErr)
	}
	return sharedDC
}

// sambaTool runs samba-tool against the DC's database.
func (dc *sambaDC) sambaTool(tb testing.TB, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, sambaPath("samba-tool"), append(args, "-s", dc.conf)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("samba-tool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

var errNoAttr = errors.New("attribute not in samba-tool's output")

// showAttr is one attribute's value from `samba-tool user|group show`.
func showAttr(out, name string) (string, error) {
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+": "); ok {
			return v, nil
		}
	}
	return "", errNoAttr
}
