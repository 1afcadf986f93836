package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dirsync/dirsync/internal/auth"
	"github.com/dirsync/dirsync/internal/bitwarden/bwtest"
	"github.com/dirsync/dirsync/internal/browsertest"
	"github.com/dirsync/dirsync/internal/directory/ldap/ldaptest"
	"github.com/dirsync/dirsync/internal/store"
)

// TestBrowserLDAPSettingsToSync sets up an LDAP directory in the console
// against a real slapd (StartTLS, a throwaway CA pasted as PEM): choose
// LDAP / Active Directory in Settings, fill its fields, Check connection
// (the bind, the counts and a sample user), save, Test (the preview lists
// the LDAP users), Sync now into the fake Bitwarden, and the org holds
// the users with their DNs as externalIds and the group.
func TestBrowserLDAPSettingsToSync(t *testing.T) {
	d := ldaptest.NewDirectory()
	alice := d.User("alice", "alice@example.com")
	bob := d.User("bob", "bob@example.com")
	carol := d.User("carol", "carol@example.com")
	d.Group("engineering", alice, bob, carol)
	srv := ldaptest.Start(t, ldaptest.Options{LDIF: d.LDIF(), TLS: true})
	bw := bwtest.New(bwtest.Options{})
	t.Cleanup(bw.Close)
	a, base := startConsole(t, time.Minute)
	b := browsertest.Start(t, 3*time.Minute)

	const user, password = "alice", "a long enough passphrase"
	hash, err := auth.Hash(password, auth.TestParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.CreateAdmin(context.Background(), user, hash); err != nil {
		t.Fatal(err)
	}
	b.Do("log in",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(sel("login-form")),
		chromedp.SendKeys(sel("login-username"), user),
		chromedp.SendKeys(sel("login-password"), password),
		chromedp.Click(sel("login-submit")),
		chromedp.WaitVisible(sel("nav-links")),
	)
	b.Do("choose LDAP and fill its fields",
		chromedp.Navigate(base+"/settings"),
		chromedp.WaitVisible(sel("settings-form")),
		chromedp.SetValue(sel("field-directory.type"), "ldap"),
		chromedp.WaitVisible(sel("field-ldap.hostname")),
		chromedp.SendKeys(sel("field-ldap.hostname"), srv.Host),
		chromedp.SetValue(sel("field-ldap.port"), fmt.Sprint(srv.Port)),
		chromedp.Click(sel("field-ldap.ssl-starttls")),
		chromedp.SetValue(sel("field-ldap.caCert"), srv.CAPEM),
		chromedp.SendKeys(sel("field-ldap.rootPath"), ldaptest.Suffix),
		chromedp.SendKeys(sel("field-ldap.username"), ldaptest.ReaderDN),
		chromedp.SendKeys(sel("field-ldap.password"), ldaptest.ReaderPassword),
		chromedp.SendKeys(sel("field-ldap.userPath"), "ou=people"),
		chromedp.SendKeys(sel("field-ldap.groupPath"), "ou=groups"),
	)
	// The filter help follows the chosen type without a reload: LDAP's
	// RFC 4515 grammar shows, Okta's native filter does not.
	b.WaitJS("the filter help is LDAP's", `(() => { const shown = [...document.querySelectorAll('[data-testid^="filter-help-"]')].filter(e => e.getClientRects().length > 0).map(e => e.textContent).join(' | '); return shown.includes('memberOf=') && !shown.includes('Okta') })()`, 10*time.Second)
	b.Do("Check connection",
		chromedp.Click(sel("check-button-directory")),
		chromedp.WaitVisible(sel("check-ok")),
	)
	if s := b.Text("check-summary"); !strings.Contains(s, "3 users, 1 group") {
		t.Errorf("check summary %q", s)
	}
	if s := b.Text("check-result-directory"); !strings.Contains(s, "alice@example.com (externalId "+alice+")") {
		t.Errorf("check result lacks the sample user: %q", s)
	}
	if os.Getenv("DIRSYNC_SCREENSHOTS") != "" {
		b.Do("show the LDAP section", chromedp.ScrollIntoView(sel("section-directory-ldap")))
		shots(t, b, "settings-ldap")
	}
	b.Do("fill Bitwarden and save",
		chromedp.Click(sel("field-bitwarden.server-self")),
		chromedp.SendKeys(sel("field-bitwarden.url"), bw.URL),
		chromedp.SendKeys(sel("field-bitwarden.clientId"), bw.ClientID()),
		chromedp.SendKeys(sel("field-bitwarden.clientSecret"), bw.ClientSecret()),
		chromedp.Click(sel("settings-save")),
		chromedp.WaitVisible(sel("flash-success")),
	)
	html, _ := chromedp.Run(b.Ctx, chromedp.OuterHTML("html"))
	if strings.Contains(html, ldaptest.ReaderPassword) {
		t.Fatal("the Settings page shows the bind password after saving")
	}
	b.Do("Test lists the LDAP users",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(sel("test-now")),
		chromedp.Click(sel("test-now")),
		chromedp.WaitVisible(sel("preview-users")),
	)
	if s := b.Text("preview-users"); !strings.Contains(s, "bob@example.com") || !strings.Contains(s, "carol@example.com") {
		t.Errorf("preview %q", s)
	}
	if len(bw.Imports()) != 0 {
		t.Fatal("Test sent an import")
	}
	b.Do("Sync now",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(sel("sync-now")),
		chromedp.Click(sel("sync-now")),
		chromedp.WaitVisible(`#flash .flash`),
	)
	waitRuns(t, a, "the LDAP sync", func(runs []store.Run) bool {
		return len(runs) == 1 && runs[0].Status == store.StatusSuccess
	})
	if m, ok := bw.MemberByEmail("bob@example.com"); !ok || m.ExternalID != bob {
		t.Errorf("bob in Bitwarden: %+v %v", m, ok)
	}
	if g, ok := bw.GroupByExternalID("cn=engineering,ou=groups," + ldaptest.Suffix); !ok || g.Name != "engineering" || len(g.MemberIDs) != 3 {
		t.Errorf("group: %+v %v", g, ok)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("browser errors: %q", p)
	}
}
