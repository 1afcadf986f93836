package ldap

// The Samba AD DC the AD tests share (sambatest starts it), provisioned
// and filled once by the first test that needs it and stopped by TestMain.

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	ldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/directory/ldap/sambatest"
)

const (
	adBase     = sambatest.Base
	adUsers    = sambatest.Users
	adAdmin    = sambatest.Admin
	adAdminPW  = sambatest.AdminPassword
	adReader   = sambatest.Reader
	adReaderPW = sambatest.ReaderPassword
	// adBigMembers is the size of the group that AD must send in ranges
	// (its MaxValRange is 1,500).
	adBigMembers = 2000
	// adUserCount is every user under CN=Users: the provision's and the
	// reader, alice, bob, carol, dave, u01, u02 and the bulk users.
	adUserCount = sambatest.ProvisionUsers + 6 + adBigMembers
	// adDeletedUser is created and deleted by fill.
	adDeletedUser = "gone"
	adOutsideOU   = "OU=Elsewhere," + adBase
)

func adUserDN(name string) string  { return sambatest.UserDN(name) }
func adGroupDN(name string) string { return sambatest.GroupDN(name) }
func adBulkName(i int) string      { return fmt.Sprintf("bulk%04d", i) }

// sambaDC is the shared DC and what fill learnt.
type sambaDC struct {
	*sambatest.DC
	// goneDN is the deleted user's DN under CN=Deleted Objects.
	goneDN string
	filled time.Duration
}

func (dc *sambaDC) dial(user, password string) (*ldap.Conn, error) { return dc.Dial(user, password) }

// config is an AD Config (AD's defaults: person, group, name, member;
// the paths CN=Users) that binds as the reader over LDAPS.
func (dc *sambaDC) config() Config {
	return Config{
		AD: true, Hostname: dc.Host, SSL: true, CACert: dc.CAPEM,
		Username: adReader, Password: adReaderPW, RootPath: adBase,
		UserPath: "CN=Users", GroupPath: "CN=Users",
	}
}

func (dc *sambaDC) sambaTool(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := dc.SambaTool(args...)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// fill adds the test directory over LDAPS as the administrator:
//
//   - users alice (mail in mixed case), bob (disabled: userAccountControl
//     546 = NORMAL_ACCOUNT|PASSWD_NOTREQD|ACCOUNTDISABLE), carol, dave, u01,
//     u02, and 2,000 bulk users, all enabled without a password (544);
//   - Eng ⇄ Backend (a cycle), Top → Left, Right → Bottom (a diamond,
//     Right also has u01), Big (the 2,000 bulk users), Outer → Hidden
//     where Hidden lives outside CN=Users (so the group search does not
//     find it) and holds u02;
//   - the user "gone", created and deleted (AD keeps it under CN=Deleted
//     Objects).
func (dc *sambaDC) fill() error {
	t0 := time.Now()
	c, err := dc.Dial(adAdmin, adAdminPW)
	if err != nil {
		return fmt.Errorf("bind as the administrator: %w", err)
	}
	defer c.Close()
	var errs []error
	user := func(name, mail string, uac int) {
		if _, err := sambatest.AddUser(c, name, mail, uac); err != nil {
			errs = append(errs, err)
		}
	}
	group := func(dn, name string, members ...string) {
		if _, err := sambatest.AddGroup(c, dn, name, members...); err != nil {
			errs = append(errs, err)
		}
	}
	user("alice", "Alice@AD.Test", sambatest.Enabled)
	user("bob", "bob@ad.test", sambatest.Disabled)
	for _, n := range []string{"carol", "dave", "u01", "u02", adDeletedUser} {
		user(n, n+"@ad.test", sambatest.Enabled)
	}
	if err := sambatest.AddUsers(c, adBigMembers, adBulkName); err != nil {
		errs = append(errs, err)
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
	if err := c.Modify(mod); err != nil {
		errs = append(errs, err)
	}
	req := ldap.NewAddRequest(adOutsideOU, nil)
	req.Attribute("objectClass", []string{"organizationalUnit"})
	req.Attribute("ou", []string{"Elsewhere"})
	if err := c.Add(req); err != nil {
		errs = append(errs, err)
	}
	group("CN=Hidden,"+adOutsideOU, "Hidden", adUserDN("u02"))
	group(adGroupDN("Outer"), "Outer", "CN=Hidden,"+adOutsideOU)
	big := make([]string, adBigMembers)
	for i := range big {
		big[i] = adUserDN(adBulkName(i))
	}
	group(adGroupDN("Big"), "Big", big...)
	if len(errs) > 0 {
		return fmt.Errorf("filling the Samba DC: %w", errs[0])
	}

	if err := c.Del(ldap.NewDelRequest(adUserDN(adDeletedUser), nil)); err != nil {
		return err
	}
	res, err := c.Search(ldap.NewSearchRequest("CN=Deleted Objects,"+adBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(sAMAccountName="+adDeletedUser+")", []string{"1.1"}, []ldap.Control{&ldap.ControlMicrosoftShowDeleted{}}))
	if err != nil {
		return err
	}
	if len(res.Entries) != 1 {
		return fmt.Errorf("the deleted user is not under CN=Deleted Objects: %d entries", len(res.Entries))
	}
	dc.goneDN = res.Entries[0].DN
	dc.filled = time.Since(t0)
	return nil
}

var (
	sambaOnce sync.Once
	sharedDC  *sambaDC
	sambaErr  error
)

// sharedSamba is the DC the AD tests share, provisioned and filled by the
// first test that needs it and stopped by TestMain.
func sharedSamba(t testing.TB) *sambaDC {
	t.Helper()
	sambatest.Require(t)
	sambaOnce.Do(func() {
		dc, err := sambatest.Start()
		if err != nil {
			sambaErr = err
			return
		}
		sharedEnv.Cleanup(dc.Close)
		s := &sambaDC{DC: dc}
		if sambaErr = s.fill(); sambaErr != nil {
			return
		}
		sharedDC = s
		fmt.Fprintf(os.Stderr, "samba DC on %s: provisioned in %s, started in %s, filled (%d users) in %s\n",
			dc.Host, dc.Provision.Round(time.Millisecond), dc.Startup.Round(time.Millisecond), adBigMembers+7, s.filled.Round(time.Millisecond))
	})
	if sharedDC == nil {
		t.Fatalf("the shared Samba DC did not start: %v", sambaErr)
	}
	return sharedDC
}

// showAttr is one attribute's value from `samba-tool user|group show`.
func showAttr(out, name string) (string, error) {
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+": "); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("no %s in samba-tool's output", name)
}
