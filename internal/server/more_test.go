package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

func TestMorePage(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	r := e.get(c, "/more")
	wantStatus(t, r, http.StatusOK)
	d := r.doc(t)
	if got := testid(d, "more-version").Text(); got != "v-test" {
		t.Fatalf("version %q", got)
	}
	if testid(d, "export-link").Length() != 0 || testid(d, "export-none").Length() != 1 {
		t.Fatal("export offered without settings")
	}
	links := map[string]bool{}
	testid(d, "doc-link").Each(func(_ int, s *goquery.Selection) { links[s.AttrOr("href", "")] = true })
	for _, want := range []string{"https://developer.okta.com/docs/guides/create-an-api-token/main/", "https://bitwarden.com/help/directory-sync/", "https://github.com/dirsync/dirsync#filters"} {
		if !links[want] {
			t.Errorf("no link to %s", want)
		}
	}
	if _, req := testid(d, "cache-clear-confirm").Attr("required"); !req {
		t.Fatal("the confirmation box is not required")
	}
	// The login is the latest audit entry.
	if got := testid(d, "audit-action").First().Text(); got != "admin.login" {
		t.Fatalf("latest audit action %q", got)
	}
	checkNoInline(t, "more", r.body)

	if _, err := e.st.SaveSettings(context.Background(), store.DefaultProfile, exportSettings()); err != nil {
		t.Fatal(err)
	}
	d = e.get(c, "/more").doc(t)
	if href, _ := testid(d, "export-link").Attr("href"); href != "/settings/export" {
		t.Fatalf("export link %q", href)
	}
}

func exportSettings() config.Settings {
	s := config.Defaults()
	config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "https://acme.okta.com" })
	config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = testToken })
	s.Bitwarden.Server = "eu"
	s.Bitwarden.ClientID = "organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012"
	s.Bitwarden.ClientSecret = testSecret
	s.Alerts.WebhookURLs = "https://hooks.example.com/services/T000/B000/hooksecretvalue"
	s.Sync.UserFilter = "exclude:bot@acme.com"
	s.Normalize()
	return s
}

func TestSettingsExport(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	r := e.get(c, "/settings/export")
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, "/more")

	if _, err := e.st.SaveSettings(context.Background(), store.DefaultProfile, exportSettings()); err != nil {
		t.Fatal(err)
	}
	r = e.get(c, "/settings/export")
	wantStatus(t, r, http.StatusOK)
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".json") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	for _, secret := range []string{testToken, testSecret, "hooksecretvalue"} {
		if strings.Contains(r.body, secret) {
			t.Fatalf("the export holds a secret:\n%s", r.body)
		}
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(r.body), &f); err != nil {
		t.Fatalf("export is not JSON: %v", err)
	}
	if !strings.Contains(r.body, "https://acme.okta.com") || !strings.Contains(r.body, config.RedactedSecret) {
		t.Fatalf("export lacks the settings or the redaction mark:\n%s", r.body)
	}
	// The export reads back as the same settings, secrets kept.
	back, keep, err := config.ParseFileKeep(strings.NewReader(r.body))
	if err != nil {
		t.Fatalf("export does not parse back: %v", err)
	}
	if okta.Of(back.Directory).OrgURL != "https://acme.okta.com" || back.Sync.UserFilter != "exclude:bot@acme.com" || !keep.Has(okta.FieldToken) || !keep.ClientSecret || !keep.Webhooks {
		t.Fatalf("round trip: %+v keep %+v", back.Sync, keep)
	}
}

func TestCacheClear(t *testing.T) {
	d := newDashEnv(t, true)
	c := d.client()
	d.login(c)
	ctx := context.Background()
	if _, err := d.engine.Run(ctx, store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	hash := func() string {
		st, err := d.st.GetSyncState(ctx, store.DefaultProfile)
		if err != nil {
			t.Fatal(err)
		}
		return st.Hash
	}
	if hash() == "" {
		t.Fatal("no hash after a sync")
	}
	for _, form := range []url.Values{{}, {"confirm": {"no"}}, {"confirm": {""}}} {
		r := d.post(c, "/cache/clear", form)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		doc := r.doc(t)
		if !strings.Contains(testid(doc, "cache-clear-error").Text(), "Tick the box") {
			t.Fatalf("no confirmation error:\n%.2000s", r.body)
		}
		if _, invalid := testid(doc, "cache-clear-confirm").Attr("aria-invalid"); !invalid {
			t.Fatal("the box is not marked invalid")
		}
		checkNoInline(t, "more with error", r.body)
		if hash() == "" {
			t.Fatalf("%v cleared the cache", form)
		}
	}
	r := d.post(c, "/cache/clear", url.Values{"confirm": {"yes"}})
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, "/more")
	if h := hash(); h != "" {
		t.Fatalf("hash %q after clearing", h)
	}
	if got := flashText(t, d.env, c); !strings.Contains(got, "Sync cache cleared") {
		t.Fatalf("flash %q", got)
	}
	entries, _, _ := d.st.ListAudit(ctx, 1, 0)
	if len(entries) != 1 || entries[0].Action != "cache.cleared" || entries[0].Actor != testUser {
		t.Fatalf("audit %+v", entries)
	}
	// The next sync sends everything again.
	res, err := d.engine.Run(ctx, store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerManual})
	if err != nil || res.Run.Status != store.StatusSuccess {
		t.Fatalf("sync after clearing: %v, status %q", err, res.Run.Status)
	}
}

func TestCacheClearRefusedWhileRunning(t *testing.T) {
	d := newDashEnv(t, true)
	c := d.client()
	d.login(c)
	ctx := context.Background()
	if _, err := d.engine.Run(ctx, store.DefaultProfile, dsync.Options{Trigger: dsync.TriggerManual}); err != nil {
		t.Fatal(err)
	}
	d.okta.AddUser(oktatest.User{Status: "ACTIVE", Email: "new@example.com", Login: "new@example.com"})
	d.closeGate()
	wantStatus(t, d.post(c, "/sync", url.Values{}), http.StatusSeeOther)
	d.waitHeld(t)
	doc := d.get(c, "/more").doc(t)
	if _, disabled := testid(doc, "cache-clear-submit").Attr("disabled"); !disabled {
		t.Fatal("clear offered during a run")
	}
	r := d.post(c, "/cache/clear", url.Values{"confirm": {"yes"}})
	wantStatus(t, r, http.StatusSeeOther)
	if got := flashText(t, d.env, c); !strings.Contains(got, "A sync is running") {
		t.Fatalf("flash %q", got)
	}
	d.openGate()
	d.waitRunsDone(t, 2)
	if st, _ := d.st.GetSyncState(ctx, store.DefaultProfile); st.Hash == "" {
		t.Fatal("cleared during a run")
	}
}
