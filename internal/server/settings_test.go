package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
	"github.com/dirsync/dirsync/internal/store"
)

const (
	testToken  = "00aSSWSsecretTokenValue-1234567890"
	testSecret = "bwClientSecretValue0987654321"
)

// validForm is a complete, valid settings form.
func validForm() url.Values {
	return url.Values{
		"directory.type":          {"okta"},
		"okta.orgUrl":             {"https://acme.okta.com/"},
		"okta.token":              {testToken},
		"bitwarden.server":        {"eu"},
		"bitwarden.url":           {""},
		"bitwarden.clientId":      {"organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012"},
		"bitwarden.clientSecret":  {testSecret},
		"sync.intervalMinutes":    {"15"},
		"sync.removeDisabled":     {"on"},
		"sync.users":              {"on"},
		"sync.userFilter":         {"exclude:bot@acme.com"},
		"sync.groups":             {"on"},
		"sync.groupFilter":        {"include:Engineering | type eq \"OKTA_GROUP\""},
		"okta.concurrency":        {"6"},
		"okta.rateLimitShare":     {"0.25"},
		"okta.fullReadHours":      {"12"},
		"guard.maxRemovals":       {"25"},
		"guard.maxRemovalPercent": {"5"},
		"alerts.webhookUrls":      {""},
		// Issue 8's guards and run time limit.
		"guard.maxMembershipRemovals":       {"200"},
		"guard.maxMembershipRemovalPercent": {"5"},
		"guard.maxShrinkPercent":            {"20"},
		"sync.timeoutMinutes":               {"45"},
	}
}

func with(f url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "\x00" {
			out.Del(kv[i])
		} else {
			out.Set(kv[i], kv[i+1])
		}
	}
	return out
}

func TestSettingsDefaults(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	r := e.get(c, "/settings")
	wantStatus(t, r, http.StatusOK)
	d := r.doc(t)
	vals := map[string]string{
		"field-okta.orgUrl": "", "field-sync.intervalMinutes": "5", "field-okta.concurrency": "4",
		"field-okta.rateLimitShare": "0.5", "field-bitwarden.clientId": "", "field-sync.userFilter": "",
		"field-okta.fullReadHours": "24", "field-guard.maxRemovals": "50", "field-guard.maxRemovalPercent": "10",
		"field-guard.maxMembershipRemovals": "500", "field-guard.maxMembershipRemovalPercent": "10",
		"field-guard.maxShrinkPercent": "10", "field-sync.timeoutMinutes": "30",
	}
	for id, want := range vals {
		s := testid(d, id)
		if s.Length() != 1 {
			t.Fatalf("%s missing", id)
		}
		if got := s.AttrOr("value", ""); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	checked := map[string]bool{
		"field-bitwarden.server-us": true, "field-bitwarden.server-eu": false, "field-bitwarden.server-self": false,
		"field-sync.users": true, "field-sync.groups": true, "field-sync.removeDisabled": false,
		"field-sync.overwriteExisting": false, "field-sync.largeImport": false,
	}
	for id, want := range checked {
		if _, got := testid(d, id).Attr("checked"); got != want {
			t.Errorf("%s checked = %v, want %v", id, got, want)
		}
	}
	for _, id := range []string{"status-okta.token", "status-bitwarden.clientSecret", "status-alerts.webhookUrls"} {
		if got := testid(d, id).Text(); got != "not set" {
			t.Errorf("%s = %q", id, got)
		}
	}
	if testid(d, "section-advanced").Is("details[open]") {
		t.Error("Advanced is open without errors")
	}
	// Every option has a help line.
	for _, id := range []string{"field-sync.removeDisabled", "field-sync.overwriteExisting", "field-sync.largeImport", "field-sync.users", "field-sync.groups", "field-sync.stageNewMembers"} {
		if help := testid(d, id).Parent().Next().Text(); len(help) < 30 {
			t.Errorf("%s: help %q", id, help)
		}
	}
}

func TestSettingsSaveRoundTrip(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	r := e.post(c, "/settings", validForm())
	wantStatus(t, r, http.StatusSeeOther)
	wantLocation(t, r, "/settings")

	got, err := e.st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Defaults()
	want.Directory.SetSection(&okta.Settings{OrgURL: "https://acme.okta.com", Token: testToken, Concurrency: 6, RateLimitShare: 0.25, FullReadHours: 12})
	want.Bitwarden = config.Bitwarden{Server: "eu", ClientID: "organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012", ClientSecret: testSecret, ImportTimeoutSeconds: config.DefaultImportTimeoutSeconds}
	want.Sync = config.Sync{IntervalMinutes: 15, RemoveDisabled: true, Users: true, UserFilter: "exclude:bot@acme.com",
		Groups: true, GroupFilter: `include:Engineering | type eq "OKTA_GROUP"`, InviteUsers: true, TimeoutMinutes: 45}
	want.Guard = config.Guard{MaxRemovals: 25, MaxRemovalPercent: 5, MaxMembershipRemovals: 200, MaxMembershipRemovalPercent: 5, MaxShrinkPercent: 20}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %+v\nwant    %+v", got, want)
	}

	r = e.get(c, "/settings")
	d := r.doc(t)
	if got := testid(d, "flash-success").Text(); got != "Settings saved" {
		t.Fatalf("flash %q", got)
	}
	if strings.Contains(r.body, testToken) || strings.Contains(r.body, testSecret) {
		t.Fatal("a secret is rendered")
	}
	for id, want := range map[string]string{"status-okta.token": "set", "status-bitwarden.clientSecret": "set"} {
		if testid(d, id).Text() != want {
			t.Errorf("%s = %q", id, testid(d, id).Text())
		}
	}
	if v, ok := testid(d, "field-okta.token").Attr("value"); ok {
		t.Fatalf("token field has value %q", v)
	}
	if testid(d, "field-okta.orgUrl").AttrOr("value", "") != "https://acme.okta.com" || testid(d, "field-okta.rateLimitShare").AttrOr("value", "") != "0.25" {
		t.Fatal("saved values not shown")
	}
	if _, ok := testid(d, "field-bitwarden.server-eu").Attr("checked"); !ok {
		t.Fatal("EU not selected")
	}
	// The flash is shown once.
	if testid(e.get(c, "/settings").doc(t), "flash-success").Length() != 0 {
		t.Fatal("flash shown twice")
	}

	audit, _, err := e.st.ListAudit(context.Background(), 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	var saved *store.AuditEntry
	for i := range audit {
		if audit[i].Action == "settings.saved" {
			saved = &audit[i]
		}
	}
	if saved == nil || saved.Actor != testUser || !strings.Contains(saved.Detail, "okta.orgUrl") {
		t.Fatalf("audit %+v", audit)
	}
	if strings.Contains(saved.Detail, testToken) || strings.Contains(saved.Detail, testSecret) || strings.Contains(saved.Detail, "acme.okta.com") {
		t.Fatalf("audit detail holds values: %q", saved.Detail)
	}
	if strings.Contains(e.logs.String(), testToken) || strings.Contains(e.logs.String(), testSecret) {
		t.Fatal("a secret was logged")
	}
}

func TestSettingsSelfHosted(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	r := e.post(c, "/settings", with(validForm(), "bitwarden.server", "self", "bitwarden.url", "https://vault.example.com/"))
	wantStatus(t, r, http.StatusSeeOther)
	got, _ := e.st.LoadSettings(context.Background(), store.DefaultProfile)
	if got.Bitwarden.Server != "https://vault.example.com" {
		t.Fatalf("server %q", got.Bitwarden.Server)
	}
	d := e.get(c, "/settings").doc(t)
	if _, ok := testid(d, "field-bitwarden.server-self").Attr("checked"); !ok || testid(d, "field-bitwarden.url").AttrOr("value", "") != "https://vault.example.com" {
		t.Fatal("self-hosted not shown")
	}
}

func TestSettingsInvalid(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	tests := []struct {
		name   string
		form   url.Values
		field  string
		substr string
	}{
		{"org url missing", with(validForm(), "okta.orgUrl", ""), "okta.orgUrl", "the URL is required"},
		{"org url http", with(validForm(), "okta.orgUrl", "http://acme.okta.com"), "okta.orgUrl", "must use https"},
		{"org url query", with(validForm(), "okta.orgUrl", "https://acme.okta.com?x=1"), "okta.orgUrl", "must not have a query"},
		{"org url with a path", with(validForm(), "okta.orgUrl", "https://acme.okta.com/admin/dashboard"), "okta.orgUrl", `paste only the part before the path: "https://acme.okta.com"`},
		{"org url of the admin console", with(validForm(), "okta.orgUrl", "https://acme-admin.okta.com"), "okta.orgUrl", `without "-admin": "https://acme.okta.com"`},
		{"token missing", with(validForm(), "okta.token", ""), "okta.token", "the Okta API token is required"},
		{"directory type", with(validForm(), "directory.type", "nosuch"), "directory.type", "unsupported directory type"},
		{"server choice", with(validForm(), "bitwarden.server", "mars"), "bitwarden.server", "choose US, EU or Self-hosted"},
		{"self-hosted empty", with(validForm(), "bitwarden.server", "self"), "bitwarden.server", "enter your self-hosted server's base URL"},
		{"self-hosted http", with(validForm(), "bitwarden.server", "self", "bitwarden.url", "http://vault.example.com"), "bitwarden.server", "must use https"},
		{"client id", with(validForm(), "bitwarden.clientId", "user.1234"), "bitwarden.clientId", "is not an organization client id"},
		{"client secret missing", with(validForm(), "bitwarden.clientSecret", ""), "bitwarden.clientSecret", "client secret is required"},
		{"interval not a number", with(validForm(), "sync.intervalMinutes", "often"), "sync.intervalMinutes", "enter a whole number of minutes"},
		{"interval too small", with(validForm(), "sync.intervalMinutes", "2"), "sync.intervalMinutes", "from 5 to"},
		{"neither users nor groups", with(validForm(), "sync.users", "\x00", "sync.groups", "\x00"), "sync.users", "with neither there is nothing to sync"},
		{"user filter", with(validForm(), "sync.userFilter", "foo:a"), "sync.userFilter", `unknown keyword "foo"`},
		{"group filter native without bar", with(validForm(), "sync.groupFilter", `type eq "APP_GROUP"`), "sync.groupFilter", "put a '|' in front of it"},
		{"concurrency not a number", with(validForm(), "okta.concurrency", "lots"), "okta.concurrency", "enter a whole number from 1 to 32"},
		{"concurrency too big", with(validForm(), "okta.concurrency", "99"), "okta.concurrency", "between 1 and 32"},
		{"share not a number", with(validForm(), "okta.rateLimitShare", "half"), "okta.rateLimitShare", "enter a decimal number"},
		{"share too big", with(validForm(), "okta.rateLimitShare", "1.5"), "okta.rateLimitShare", "at most 1"},
		{"full read hours", with(validForm(), "okta.fullReadHours", "200"), "okta.fullReadHours", "between 1 and 168"},
		{"guard count", with(validForm(), "guard.maxRemovals", "some"), "guard.maxRemovals", "0 turns this limit off"},
		{"guard negative", with(validForm(), "guard.maxRemovals", "-1"), "guard.maxRemovals", "must be 0 (off)"},
		{"guard percent", with(validForm(), "guard.maxRemovalPercent", "150"), "guard.maxRemovalPercent", "from 0 (off) to 100"},
		// NaN and Inf parse as floats; NaN used to pass and fail the save (500).
		{"guard percent NaN", with(validForm(), "guard.maxRemovalPercent", "NaN"), "guard.maxRemovalPercent", "from 0 (off) to 100"},
		{"guard percent Inf", with(validForm(), "guard.maxRemovalPercent", "Inf"), "guard.maxRemovalPercent", "from 0 (off) to 100"},
		{"webhook http", with(validForm(), "alerts.webhookUrls", "http://hooks.example.com/T0/secretpath"), "alerts.webhookUrls", "line 1: the URL for hooks.example.com must use https"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(c, "/settings", tc.form)
			wantStatus(t, r, http.StatusUnprocessableEntity)
			d := r.doc(t)
			// The console shows config's messages as sentences (capital
			// first letter, full stop).
			if got := testid(d, "error-"+tc.field).Text(); !strings.Contains(strings.ToLower(got), strings.ToLower(tc.substr)) {
				t.Fatalf("error-%s = %q, want %q", tc.field, got, tc.substr)
			}
			if testid(d, "settings-errors").Length() != 1 {
				t.Fatal("no summary")
			}
			// Only the broken field is flagged.
			n := 0
			d.Find(".field-error").Each(func(_ int, s *goquery.Selection) {
				if strings.TrimSpace(s.Text()) != "" {
					n++
				}
			})
			if n != 1 {
				t.Fatalf("%d fields flagged, want 1:\n%s", n, r.body)
			}
			// What the admin typed is shown again (except secrets).
			if v := tc.form.Get(tc.field); v != "" && tc.field != "bitwarden.server" && tc.field != "directory.type" && tc.field != "alerts.webhookUrls" {
				if got := testid(d, "field-"+tc.field).AttrOr("value", ""); got != v {
					t.Fatalf("field shows %q, want %q", got, v)
				}
			}
			if strings.Contains(r.body, testToken) || strings.Contains(r.body, testSecret) || strings.Contains(r.body, "secretpath") {
				t.Fatal("a submitted secret is echoed")
			}
			if _, err := e.st.LoadSettings(context.Background(), store.DefaultProfile); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("something was stored: %v", err)
			}
		})
	}
	// Advanced opens when it holds the error.
	r := e.post(c, "/settings", with(validForm(), "okta.concurrency", "0"))
	if !testid(r.doc(t), "section-advanced").Is("details[open]") {
		t.Fatal("Advanced closed while holding an error")
	}
}

func TestSettingsSecretsWriteOnly(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	// A new token with an error elsewhere: not echoed, and the admin is told
	// to enter it again.
	r := e.post(c, "/settings", with(validForm(), "okta.orgUrl", "nope"))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if strings.Contains(r.body, testToken) || strings.Contains(r.body, testSecret) {
		t.Fatal("secret echoed after a validation error")
	}
	d := r.doc(t)
	if testid(d, "retype-okta.token").Length() != 1 || testid(d, "retype-bitwarden.clientSecret").Length() != 1 {
		t.Fatal("no note to re-enter the secrets")
	}
	if _, ok := testid(d, "field-okta.token").Attr("value"); ok {
		t.Fatal("token field has a value attribute")
	}

	wantStatus(t, e.post(c, "/settings", validForm()), http.StatusSeeOther)
	// Empty secret fields keep the stored secrets.
	r = e.post(c, "/settings", with(validForm(), "okta.token", "", "bitwarden.clientSecret", "", "sync.intervalMinutes", "30"))
	wantStatus(t, r, http.StatusSeeOther)
	got, err := e.st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if okta.Of(got.Directory).Token.Reveal() != testToken || got.Bitwarden.ClientSecret.Reveal() != testSecret || got.Sync.IntervalMinutes != 30 {
		t.Fatalf("secrets not kept: token %v secret %v interval %d", okta.Of(got.Directory).Token.Reveal() == testToken, got.Bitwarden.ClientSecret.Reveal() == testSecret, got.Sync.IntervalMinutes)
	}
	// With a stored secret, an error elsewhere does not ask for it again.
	r = e.post(c, "/settings", with(validForm(), "okta.token", "", "sync.intervalMinutes", "nope"))
	d = r.doc(t)
	if testid(d, "status-okta.token").Text() != "set" || testid(d, "error-okta.token").Text() != "" {
		t.Fatal("stored token not reported as set")
	}
	if ph := testid(d, "field-okta.token").AttrOr("placeholder", ""); !strings.Contains(ph, "leave empty to keep") {
		t.Fatalf("placeholder %q", ph)
	}
	// A new token replaces the old one.
	wantStatus(t, e.post(c, "/settings", with(validForm(), "okta.token", "replacement-token")), http.StatusSeeOther)
	got, _ = e.st.LoadSettings(context.Background(), store.DefaultProfile)
	if okta.Of(got.Directory).Token.Reveal() != "replacement-token" {
		t.Fatal("token not replaced")
	}
}

func TestSettingsCacheClearedFlash(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	wantStatus(t, e.post(c, "/settings", validForm()), http.StatusSeeOther)
	if got := testid(e.get(c, "/settings").doc(t), "flash-success").Text(); got != "Settings saved" {
		t.Fatalf("first save flash %q", got)
	}
	wantStatus(t, e.post(c, "/settings", with(validForm(), "sync.intervalMinutes", "20")), http.StatusSeeOther)
	if got := testid(e.get(c, "/settings").doc(t), "flash-success").Text(); got != "Settings saved" {
		t.Fatalf("interval change flash %q", got)
	}
	wantStatus(t, e.post(c, "/settings", with(validForm(), "okta.orgUrl", "https://other.okta.com")), http.StatusSeeOther)
	want := "Settings saved — the sync cache was cleared because the directory/organization changed"
	if got := testid(e.get(c, "/settings").doc(t), "flash-success").Text(); got != want {
		t.Fatalf("flash %q, want %q", got, want)
	}
}

func TestSettingsValidateEndpoint(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	htmx := func(trigger string) map[string]string {
		return map[string]string{"HX-Request": "true", "HX-Trigger-Name": trigger, "HX-Current-URL": e.ts.URL + "/settings"}
	}
	tests := []struct {
		name    string
		trigger string
		form    url.Values
		slot    string
		substr  string
	}{
		{"filter", "sync.userFilter", with(validForm(), "sync.userFilter", "foo:a"), "sync.userFilter", `invalid filter "foo:a": unknown keyword "foo"; use include or exclude; accepted forms:`},
		{"url", "okta.orgUrl", with(validForm(), "okta.orgUrl", "http://acme.okta.com"), "okta.orgUrl", "must use https"},
		{"self url", "bitwarden.url", with(validForm(), "bitwarden.server", "self", "bitwarden.url", "vault"), "bitwarden.server", "not an absolute URL"},
		{"groups checkbox", "sync.groups", with(validForm(), "sync.users", "\x00", "sync.groups", "\x00"), "sync.users", "nothing to sync"},
		{"fine", "sync.userFilter", validForm(), "sync.userFilter", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(c, "POST", "/settings/validate", tc.form, htmx(tc.trigger))
			wantStatus(t, r, http.StatusOK)
			d := r.doc(t)
			s := testid(d, "error-"+tc.slot)
			if s.Length() != 1 || s.AttrOr("hx-swap-oob", "") != "true" || s.AttrOr("id", "") != "err-"+strings.ReplaceAll(tc.slot, ".", "-") {
				t.Fatalf("no out-of-band slot for %s:\n%s", tc.slot, r.body)
			}
			if got := s.Text(); (tc.substr == "" && got != "") || !strings.Contains(strings.ToLower(got), strings.ToLower(tc.substr)) {
				t.Fatalf("slot %q, want %q", got, tc.substr)
			}
			if strings.Contains(r.body, "<html") || strings.Contains(r.body, testToken) {
				t.Fatal("not a bare fragment, or a secret echoed")
			}
		})
	}
	// A field's error is not shown early while the admin edits another one;
	// an empty token with none stored is flagged only on save.
	r := e.do(c, "POST", "/settings/validate", with(validForm(), "okta.token", "", "okta.orgUrl", "https://acme.okta.com"), htmx("okta.orgUrl"))
	d := r.doc(t)
	if testid(d, "error-okta.token").Length() != 0 || testid(d, "error-okta.orgUrl").Text() != "" {
		t.Fatalf("validate flagged untouched fields:\n%s", r.body)
	}
	// Nothing is saved by validation.
	if _, err := e.st.LoadSettings(context.Background(), store.DefaultProfile); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("validate stored settings: %v", err)
	}
	// The form's fields are wired to the endpoint.
	page := e.get(c, "/settings").doc(t)
	for _, id := range []string{"field-okta.orgUrl", "field-sync.userFilter", "field-sync.groupFilter", "field-bitwarden.url", "field-okta.token", "field-sync.groups"} {
		f := testid(page, id)
		if f.AttrOr("hx-post", "") != "/settings/validate" || f.AttrOr("hx-swap", "") != "none" || f.AttrOr("hx-trigger", "") == "" {
			t.Errorf("%s is not wired for live validation", id)
		}
	}
	if f := testid(page, "settings-form"); f.AttrOr("action", "") != "/settings" || f.AttrOr("method", "") != "post" {
		t.Error("the form does not post to /settings without JavaScript")
	}
}

func TestSettingsWebhooksWriteOnly(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	hooks := "https://hooks.example.com/services/T0/B0/hooksecret\n\n  https://example.webhook.office.com/x/hooksecret2  "
	wantStatus(t, e.post(c, "/settings", with(validForm(), "alerts.webhookUrls", hooks)), http.StatusSeeOther)
	got, _ := e.st.LoadSettings(context.Background(), store.DefaultProfile)
	if w := got.Alerts.Webhooks(); len(w) != 2 || w[1] != "https://example.webhook.office.com/x/hooksecret2" {
		t.Fatalf("webhooks %q", w)
	}
	r := e.get(c, "/settings")
	if strings.Contains(r.body, "hooksecret") || testid(r.doc(t), "status-alerts.webhookUrls").Text() != "set" {
		t.Fatal("webhooks rendered or not reported as set")
	}
	// Empty keeps them; the clear switch removes them.
	wantStatus(t, e.post(c, "/settings", validForm()), http.StatusSeeOther)
	got, _ = e.st.LoadSettings(context.Background(), store.DefaultProfile)
	if len(got.Alerts.Webhooks()) != 2 {
		t.Fatal("empty field did not keep the webhooks")
	}
	wantStatus(t, e.post(c, "/settings", with(validForm(), "alerts.clearWebhooks", "on")), http.StatusSeeOther)
	got, _ = e.st.LoadSettings(context.Background(), store.DefaultProfile)
	if got.Alerts.WebhookURLs.IsSet() {
		t.Fatal("clear did not remove the webhooks")
	}
}

// TestEveryValidationErrorHasASlot guards against config gaining a field
// whose errors the page would not show next to a field.
func TestEveryValidationErrorHasASlot(t *testing.T) {
	bad := config.Settings{}
	config.Edit(&bad.Directory, func(o *okta.Settings) { o.Concurrency = -1 })
	config.Edit(&bad.Directory, func(o *okta.Settings) { o.RateLimitShare = -1 })
	config.Edit(&bad.Directory, func(o *okta.Settings) { o.FullReadHours = -1 })
	bad.Guard = config.Guard{MaxRemovals: -1, MaxRemovalPercent: -1}
	bad.Sync.UserFilter, bad.Sync.GroupFilter = "x", "y"
	bad.Alerts.WebhookURLs = "ftp://x"
	err := bad.Validate(true)
	fe, ok := err.(config.FieldErrors)
	if !ok || len(fe) < 10 {
		t.Fatalf("Validate = %v", err)
	}
	for k := range fe {
		if slotOf(k) == "" {
			t.Errorf("no error slot on the settings page for %q", k)
		}
	}
}

// sync.inviteUsers is shown inverted ("stage new members"), so a form that
// lacks the checkbox keeps inviting; bitwarden.importTimeoutSeconds has a
// default, a range and a field-specific message.
func TestSettingsInviteUsersAndImportTimeout(t *testing.T) {
	e := newEnv(t, true)
	c := e.client()
	e.login(c)
	form := validForm()
	form.Set("sync.stageNewMembers", "on")
	form.Set("bitwarden.importTimeoutSeconds", "900")
	wantStatus(t, e.post(c, "/settings", form), http.StatusSeeOther)
	got, err := e.st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sync.InviteUsers || got.Bitwarden.ImportTimeoutSeconds != 900 {
		t.Fatalf("stored inviteUsers %v, importTimeoutSeconds %d", got.Sync.InviteUsers, got.Bitwarden.ImportTimeoutSeconds)
	}
	form.Set("bitwarden.importTimeoutSeconds", "5")
	r := e.post(c, "/settings", form)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	d := r.doc(t)
	if msg := testid(d, "error-bitwarden.importTimeoutSeconds").Text(); !strings.Contains(msg, "from 30 to 3600") {
		t.Errorf("timeout error = %q", msg)
	}
}
