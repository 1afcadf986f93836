package config_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/okta"
)

// valid returns settings that pass Validate.
func valid() config.Settings {
	s := config.Defaults()
	config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "https://acme.okta.com" })
	config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = "00abc" })
	s.Bitwarden.ClientID = "organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012"
	s.Bitwarden.ClientSecret = "secret"
	return s
}

func TestOktaOrgURLIsAnOrigin(t *testing.T) {
	good := []string{"https://acme.okta.com", "https://acme.okta.com/", "https://acme.oktapreview.com", "https://login.acme.example", "http://127.0.0.1:8081", "https://acme.okta.com:8443"}
	for _, u := range good {
		if err := okta.ValidateOrgURL(u); err != nil {
			t.Errorf("okta.ValidateOrgURL(%q) = %v", u, err)
		}
	}
	bad := map[string][]string{
		"https://acme.okta.com/admin/dashboard": {"a page of the org", `"https://acme.okta.com"`},
		"https://acme.okta.com/oauth2/default":  {"a page of the org", `"https://acme.okta.com"`},
		"https://acme-admin.okta.com":           {"admin console", `"https://acme.okta.com"`},
		"https://ACME-admin.oktapreview.com/":   {"admin console", `"https://acme.oktapreview.com"`},
		"https://acme.okta.com?x=1":             {"query", "such as"},
		"acme.okta.com":                         {"absolute URL", "such as"},
	}
	for u, wants := range bad {
		err := okta.ValidateOrgURL(u)
		for _, want := range wants {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("okta.ValidateOrgURL(%q) = %v, want it to say %q", u, err, want)
			}
		}
	}
	s := valid()
	config.Edit(&s.Directory, func(o *okta.Settings) { o.OrgURL = "https://acme-admin.okta.com" })
	if fe, _ := s.Validate(true).(config.FieldErrors); fe[okta.FieldOrgURL] == "" {
		t.Error("Validate accepts the admin console's address")
	}
}

func TestControlCharactersInText(t *testing.T) {
	for name, mod := range map[string]func(*config.Settings) string{
		"token with CR LF": func(s *config.Settings) string {
			config.Edit(&s.Directory, func(o *okta.Settings) { o.Token = "00abc\r\nX-Injected: 1" })
			return okta.FieldToken
		},
		"secret with tab": func(s *config.Settings) string {
			s.Bitwarden.ClientSecret = "sec\tret"
			return config.FieldBWClientSecret
		},
		"client id NUL": func(s *config.Settings) string { s.Bitwarden.ClientID += "\x00"; return config.FieldBWClientID },
		"filter with LF": func(s *config.Settings) string {
			s.Sync.UserFilter = "include:a@x.com\nb@x.com"
			return config.FieldUserFilter
		},
		"directory type": func(s *config.Settings) string { s.Directory.Type = "okta\x1b"; return config.FieldDirectoryType },
	} {
		s := valid()
		field := mod(&s)
		fe, _ := s.Validate(true).(config.FieldErrors)
		if fe[field] == "" {
			t.Errorf("%s: no error for %s (%v)", name, field, fe)
			continue
		}
		if strings.Contains(fe[field], "X-Injected") || strings.Contains(fe[field], "sec\tret") {
			t.Errorf("%s: the message repeats the secret: %q", name, fe[field])
		}
	}
	// Line breaks belong in the multi-line fields.
	s := valid()
	s.Alerts.WebhookURLs = "https://hooks.example.com/a\nhttps://hooks.example.com/b"
	if err := s.Validate(true); err != nil {
		t.Errorf("two webhook lines refused: %v", err)
	}
}

// TestNumbersMustBeFinite: NaN and ±Inf pass no range check by accident
// (they used to pass guard.maxRemovalPercent and fail the save with a 500).
func TestNumbersMustBeFinite(t *testing.T) {
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for field, set := range map[string]func(*config.Settings){
			config.FieldMaxRemovalPct: func(s *config.Settings) { s.Guard.MaxRemovalPercent = x },
			okta.FieldShare:           func(s *config.Settings) { config.Edit(&s.Directory, func(o *okta.Settings) { o.RateLimitShare = x }) },
		} {
			s := valid()
			set(&s)
			fe, _ := s.Validate(true).(config.FieldErrors)
			if fe[field] == "" {
				t.Errorf("%s = %v accepted", field, x)
			}
			if _, err := json.Marshal(s); err == nil && fe[field] == "" {
				t.Errorf("%s = %v: settings that cannot be stored pass", field, x)
			}
		}
	}
	s := valid()
	s.Guard.MaxRemovalPercent, s.Guard.MaxRemovals = 0, 0 // 0 is "off" here
	if err := s.Validate(true); err != nil {
		t.Errorf("the guard's 0 (off) refused: %v", err)
	}
}

const goodFile = `{"directory":{"type":"okta","okta":{"orgUrl":"https://acme.okta.com","token":"00abc"}},
 "bitwarden":{"server":"us","clientId":"organization.1b2c3d4e-aaaa-bbbb-cccc-123456789012","clientSecret":"s"},
 "sync":{"intervalMinutes":15}}`

func TestSettingsFileKeysAreExact(t *testing.T) {
	if _, _, err := config.ParseFileKeep(strings.NewReader(goodFile)); err != nil {
		t.Fatalf("good file: %v", err)
	}
	for in, want := range map[string]string{
		strings.Replace(goodFile, `"orgUrl"`, `"ORGURL"`, 1):                           `unknown key "ORGURL" in directory.okta; keys are case-sensitive: write "orgUrl"`,
		strings.Replace(goodFile, `"bitwarden"`, `"Bitwarden"`, 1):                     `unknown key "Bitwarden" at the top level; keys are case-sensitive: write "bitwarden"`,
		strings.Replace(goodFile, `"intervalMinutes"`, `"intervalminutes"`, 1):         `write "intervalMinutes"`,
		strings.Replace(goodFile, `"sync":{`, `"guard":{"MaxRemovals":1},"sync":{`, 1): `in guard`,
		strings.Replace(goodFile, `"token"`, `"tokn"`, 1):                              `unknown field "tokn"`,
	} {
		_, _, err := config.ParseFileKeep(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFileKeep = %v, want it to say %q", err, want)
		}
	}
}

// TestSettingsFileZeroWhereItMeansNothing: a 0 that would silently become
// the default is refused; leaving the key out gives the default; the
// guard's 0 means "off" and is kept.
func TestSettingsFileZeroWhereItMeansNothing(t *testing.T) {
	for _, key := range []string{"concurrency", "rateLimitShare", "fullReadHours"} {
		in := strings.Replace(goodFile, `"token":"00abc"`, `"token":"00abc","`+key+`":0`, 1)
		_, _, err := config.ParseFileKeep(strings.NewReader(in))
		fe, _ := err.(config.FieldErrors)
		if msg := fe["okta."+key]; !strings.Contains(msg, "0 is not a valid value") || !strings.Contains(msg, "default") {
			t.Errorf("%s: 0 gives %v", key, err)
		}
	}
	s, _, err := config.ParseFileKeep(strings.NewReader(goodFile))
	if err != nil || okta.Of(s.Directory).Concurrency != okta.DefaultConcurrency || okta.Of(s.Directory).RateLimitShare != okta.DefaultRateLimitShare || okta.Of(s.Directory).FullReadHours != okta.DefaultFullReadHours {
		t.Errorf("left out, the tuning fields are not their defaults: %+v %v", okta.Of(s.Directory), err)
	}
	in := strings.Replace(goodFile, `"sync":{`, `"guard":{"maxRemovals":0,"maxRemovalPercent":0},"sync":{`, 1)
	if s, _, err := config.ParseFileKeep(strings.NewReader(in)); err != nil || s.Guard.MaxRemovals != 0 || s.Guard.MaxRemovalPercent != 0 {
		t.Errorf("the guard's 0 (off): %+v %v", s.Guard, err)
	}
}
