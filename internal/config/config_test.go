package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
)

func TestValidateBaseURL(t *testing.T) {
	ok := []string{"https://acme.okta.com", "https://acme.okta.com:8443", "http://127.0.0.1:9999", "http://localhost:80", "http://[::1]:8080", "https://login.example.co.uk/"}
	for _, u := range ok {
		if err := config.ValidateBaseURL(strings.TrimRight(u, "/")); err != nil {
			t.Errorf("%s rejected: %v", u, err)
		}
	}
	bad := map[string]string{
		"":                            "required",
		"acme.okta.com":               "absolute",
		"http://acme.okta.com":        "https",
		"ftp://acme.okta.com":         "scheme",
		"https://u:p@acme.okta.com":   "user name",
		"https://acme.okta.com/?x=1":  "query",
		"https://acme.okta.com#frag":  "fragment",
		"https://acme.okta.com:99999": "port",
		"http://10.0.0.1":             "https",
	}
	for u, want := range bad {
		err := config.ValidateBaseURL(u)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateBaseURL(%q) = %v, want it to mention %q", u, err, want)
		}
	}
}

func TestValidateEveryField(t *testing.T) {
	// A type no binary has: said on directory.type, naming the types.
	bad := config.Defaults()
	bad.Directory.Type = "nosuch"
	if fe, _ := bad.Validate(true).(config.FieldErrors); !strings.Contains(fe[config.FieldDirectoryType], `unsupported directory type "nosuch"`) ||
		!strings.Contains(fe[config.FieldDirectoryType], `"okta"`) {
		t.Errorf("unknown type: %q", fe[config.FieldDirectoryType])
	}
	s := config.Defaults()
	config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "http://acme.okta.com" })
	config.Edit(&s.Directory, func(o *okta.Settings) { o.Concurrency = 99 })
	config.Edit(&s.Directory, func(o *okta.Settings) { o.RateLimitShare = 1.5 })
	config.Edit(&s.Directory, func(o *okta.Settings) { o.FullReadHours = 500 })
	s.Bitwarden.Server = "mars"
	s.Bitwarden.ClientID = "user.abc"
	s.Sync.IntervalMinutes = 4
	s.Sync.Users, s.Sync.Groups = false, false
	s.Sync.UserFilter = "foo:a"
	s.Sync.GroupFilter = "include:"
	s.Guard.MaxRemovals = -1
	s.Guard.MaxRemovalPercent = 101
	s.Alerts.WebhookURLs = "https://hooks.example.com/a\nhttp://hooks.example.com/b?token=SECRET"
	err := s.Validate(true)
	fe, ok := err.(config.FieldErrors)
	if !ok {
		t.Fatalf("Validate = %v, want FieldErrors", err)
	}
	for _, f := range []string{okta.FieldOrgURL, okta.FieldToken, okta.FieldConcurrency, okta.FieldShare, okta.FieldFullReadHours,
		config.FieldBWServer, config.FieldBWClientID, config.FieldBWClientSecret, config.FieldInterval, config.FieldUsersGroups, config.FieldUserFilter, config.FieldGroupFilter,
		config.FieldMaxRemovals, config.FieldMaxRemovalPct, config.FieldWebhooks} {
		if fe[f] == "" {
			t.Errorf("no error for %s", f)
		}
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("a webhook URL's credential is in the error: %s", fe[config.FieldWebhooks])
	}
	if err := s.Validate(false); err.(config.FieldErrors)[okta.FieldToken] != "" {
		t.Errorf("the token is required when secrets are kept")
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := config.Defaults()
	config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = "tok-123-secret" })
	s.Bitwarden.ClientSecret = "bw-secret-456"
	s.Alerts.WebhookURLs = "https://hooks.slack.com/services/T/B/xyz789"
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("settings", "s", s, "token", okta.Of(s.Directory).Token)
	js, _ := json.Marshal(s)
	var exported bytes.Buffer
	if err := config.WriteFile(&exported, s); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "%+v": fmt.Sprintf("%+v", s), "%#v": fmt.Sprintf("%#v", s), "%s": fmt.Sprintf("%s", okta.Of(s.Directory).Token), //nolint:staticcheck // S1025: %s itself is under test
		"slog": logged.String(), "json": string(js), "export": exported.String(),
	} {
		for _, secret := range []string{"tok-123-secret", "bw-secret-456", "xyz789"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows a secret: %s", name, out)
			}
		}
	}
	if okta.Of(s.Directory).Token.Reveal() != "tok-123-secret" {
		t.Error("Reveal lost the value")
	}
}

func TestParseFile(t *testing.T) {
	in := `{"directory":{"type":"okta","okta":{"orgUrl":"https://acme.okta.com/","token":"t"}},
	        "bitwarden":{"server":"EU","clientId":"organization.x","clientSecret":"[REDACTED]"},
	        "sync":{"intervalMinutes":30,"groups":false},
	        "guard":{"maxRemovals":0},
	        "alerts":{"webhookUrls":["https://a.example.com/x"]}}`
	s, keep, err := config.ParseFileKeep(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if keep.Has(okta.FieldToken) || !keep.ClientSecret || keep.Webhooks {
		t.Errorf("keep %+v", keep)
	}
	if okta.Of(s.Directory).OrgURL != "https://acme.okta.com" || s.Bitwarden.Server != "eu" || s.Sync.IntervalMinutes != 30 || s.Sync.Groups || !s.Sync.Users {
		t.Errorf("parsed %+v", s)
	}
	if s.Guard.MaxRemovals != 0 || s.Guard.MaxRemovalPercent != config.DefaultMaxRemovalPct {
		t.Errorf("guard %+v", s.Guard)
	}
	if got := s.Alerts.Webhooks(); len(got) != 1 {
		t.Errorf("webhooks %v", got)
	}
	// The export parses back to the same settings (secrets kept).
	var buf bytes.Buffer
	s.Bitwarden.ClientSecret = "x"
	config.WriteFile(&buf, s)
	back, keep, err := config.ParseFileKeep(&buf)
	if err != nil || !keep.Has(okta.FieldToken) || !keep.ClientSecret || !keep.Webhooks {
		t.Fatalf("re-import: %v keep %+v", err, keep)
	}
	config.Edit(&back.Directory, func(o *okta.Settings) { o.Token = okta.Of(s.Directory).Token })
	back.Bitwarden.ClientSecret, back.Alerts = s.Bitwarden.ClientSecret, s.Alerts
	if fmt.Sprint(back) != fmt.Sprint(s) || !reflect.DeepEqual(back.Directory, s.Directory) || back.Sync != s.Sync || back.Guard != s.Guard {
		t.Errorf("round trip changed settings:\n%+v\n%+v", back, s)
	}
	for name, bad := range map[string]string{
		"unknown":  `{"directory":{"type":"okta","okta":{"orgUrl":"x"}},"bitwarden":{},"extra":1}`,
		"type":     `{"sync":{"users":"yes"}}`,
		"trailing": `{"directory":null} {}`,
		"missing":  `{}`,
	} {
		if _, _, err := config.ParseFileKeep(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestGuardThreshold(t *testing.T) {
	cases := []struct {
		g      config.Guard
		synced int
		want   int
		on     bool
	}{
		{config.Guard{MaxRemovals: 50, MaxRemovalPercent: 10}, 100, 10, true},
		{config.Guard{MaxRemovals: 50, MaxRemovalPercent: 10}, 10000, 50, true},
		{config.Guard{MaxRemovalPercent: 10}, 100, 10, true},
		{config.Guard{MaxRemovals: 50}, 100, 50, true},
		{config.Guard{}, 100, 0, false},
		{config.Guard{MaxRemovals: 50, MaxRemovalPercent: 10}, 5, 0, true},
	}
	for _, c := range cases {
		got, on := c.g.Threshold(c.synced)
		if got != c.want || on != c.on {
			t.Errorf("%+v.Threshold(%d) = %d,%v want %d,%v", c.g, c.synced, got, on, c.want, c.on)
		}
	}
}

func TestInviteUsersAndImportTimeout(t *testing.T) {
	d := config.Defaults()
	if !d.Sync.InviteUsers || d.Bitwarden.ImportTimeoutSeconds != config.DefaultImportTimeoutSeconds || config.DefaultImportTimeoutSeconds != 300 {
		t.Fatalf("defaults inviteUsers %v importTimeoutSeconds %d", d.Sync.InviteUsers, d.Bitwarden.ImportTimeoutSeconds)
	}
	base := `{"directory":{"type":"okta","okta":{"orgUrl":"https://acme.okta.com","token":"t"}},
	        "bitwarden":{"server":"us","clientId":"organization.x","clientSecret":"s"%s},"sync":{%s}}`
	// Left out: the defaults.
	s, _, err := config.ParseFileKeep(strings.NewReader(fmt.Sprintf(base, "", "")))
	if err != nil || !s.Sync.InviteUsers || s.Bitwarden.ImportTimeoutSeconds != 300 {
		t.Fatalf("parsed %+v %v", s, err)
	}
	s, _, err = config.ParseFileKeep(strings.NewReader(fmt.Sprintf(base, `,"importTimeoutSeconds":900`, `"inviteUsers":false`)))
	if err != nil || s.Sync.InviteUsers || s.Bitwarden.ImportTimeoutSeconds != 900 {
		t.Fatalf("parsed %+v %v", s, err)
	}
	var buf bytes.Buffer
	if err := config.WriteFile(&buf, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"importTimeoutSeconds": 900`) || !strings.Contains(buf.String(), `"inviteUsers": false`) {
		t.Errorf("export lacks the settings:\n%s", buf.String())
	}
	for _, bad := range []int{10, 4000, -1} {
		s.Bitwarden.ImportTimeoutSeconds = bad
		err := s.Validate(false)
		var fe config.FieldErrors
		if !errors.As(err, &fe) || !strings.Contains(fe[config.FieldImportTimeout], "from 30 to 3600") {
			t.Errorf("timeout %d: %v", bad, err)
		}
	}
}

func TestMembershipGuardThresholdAndDefaults(t *testing.T) {
	d := config.Defaults()
	if g := d.Guard; g.MaxMembershipRemovals != 500 || g.MaxMembershipRemovalPercent != 10 || g.MaxShrinkPercent != 10 || d.Sync.TimeoutMinutes != 30 {
		t.Fatalf("defaults %+v timeout %d", g, d.Sync.TimeoutMinutes)
	}
	for _, c := range []struct {
		g     config.Guard
		total int
		want  int
		on    bool
	}{
		{d.Guard, 2404, 240, true},
		{d.Guard, 100000, 500, true},
		{config.Guard{MaxMembershipRemovals: 500}, 2404, 500, true},
		{config.Guard{MaxMembershipRemovalPercent: 10}, 2404, 240, true},
		{config.Guard{}, 2404, 0, false},
	} {
		if got, on := c.g.MembershipThreshold(c.total); got != c.want || on != c.on {
			t.Errorf("%+v.MembershipThreshold(%d) = %d,%v want %d,%v", c.g, c.total, got, on, c.want, c.on)
		}
	}
	s := config.Defaults()
	s.Guard.MaxMembershipRemovals = -1
	s.Guard.MaxMembershipRemovalPercent = 101
	s.Guard.MaxShrinkPercent = -5
	s.Sync.TimeoutMinutes = 0
	fe, _ := s.Validate(false).(config.FieldErrors)
	for _, f := range []string{config.FieldMaxMembershipRemovals, config.FieldMaxMembershipRemovalPct, config.FieldMaxShrinkPct, config.FieldTimeout} {
		if fe[f] == "" {
			t.Errorf("no error for %s", f)
		}
	}
	// A file sets them, and an export carries them back.
	in := `{"directory":{"type":"okta","okta":{"orgUrl":"https://acme.okta.com","token":"t"}},
	        "bitwarden":{"server":"us","clientId":"organization.x","clientSecret":"s"},
	        "sync":{"timeoutMinutes":45},
	        "guard":{"maxMembershipRemovals":0,"maxMembershipRemovalPercent":5,"maxShrinkPercent":20}}`
	got, _, err := config.ParseFileKeep(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Guard; g.MaxMembershipRemovals != 0 || g.MaxMembershipRemovalPercent != 5 || g.MaxShrinkPercent != 20 || got.Sync.TimeoutMinutes != 45 {
		t.Fatalf("parsed guard %+v timeout %d", g, got.Sync.TimeoutMinutes)
	}
	var buf bytes.Buffer
	if err := config.WriteFile(&buf, got); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"maxMembershipRemovals": 0`, `"maxMembershipRemovalPercent": 5`, `"maxShrinkPercent": 20`, `"timeoutMinutes": 45`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("export lacks %s:\n%s", want, buf.String())
		}
	}
}
