package okta

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/okta/oktatest"
)

func checkSettings(url string) *Settings {
	s := NewSettings()
	s.OrgURL, s.Token = url, testToken
	s.Normalize()
	return s
}

// TestCheckCountsAndSamples: Check signs in, counts users (the
// deactivated left out, as Okta's list does) and groups, shows a sample
// user, and stops counting at its cap with "more than".
func TestCheckCountsAndSamples(t *testing.T) {
	fake := newFake(t, oktatest.Options{}, oktatest.Generate(oktatest.Spec{Users: 40, Groups: 5, MembersPerGroup: 3, Deprovisioned: 4, Seed: 3}))
	var events []directory.RequestEvent
	res, err := checkSettings(fake.URL).Check(context.Background(), directory.Env{Observer: func(e directory.RequestEvent) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Summary, "with an API token: 36 users (not counting deactivated ones), 5 groups.") {
		t.Errorf("summary %q", res.Summary)
	}
	var sample string
	for _, f := range res.Facts {
		if f.Label == "Sample user" {
			sample = f.Value
		}
	}
	if !strings.Contains(sample, "@example.com (ACTIVE, id 00u") {
		t.Errorf("sample %q", sample)
	}
	if len(events) != 2 || events[0].Kind != KindName {
		t.Errorf("requests %+v, want 2 of kind okta", events)
	}

	big := newFake(t, oktatest.Options{}, oktatest.Generate(oktatest.Spec{Users: checkUserPages*usersPageSize + 50, Groups: 1, Seed: 4}))
	res, err = checkSettings(big.URL).Check(context.Background(), directory.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Summary, "more than 2,000 users") || !strings.Contains(res.Summary, ", 1 group.") {
		t.Errorf("capped summary %q", res.Summary)
	}
}

// TestCheckErrorsExplained: a refused token, a foreign host and a
// deadline fail the check with the type's explanation.
func TestCheckErrorsExplained(t *testing.T) {
	fake := newFake(t, oktatest.Options{}, oktatest.Generate(oktatest.Spec{Users: 3, Groups: 1, Seed: 5}))
	s := checkSettings(fake.URL)
	fake.SetToken("rotated")
	_, err := s.Check(context.Background(), directory.Env{})
	var api *APIError
	if !errors.As(err, &api) || api.Status != http.StatusUnauthorized {
		t.Fatalf("refused token: %v", err)
	}
	ex := s.Explain(err)
	if ex == nil || ex.Summary != "Okta refused the API token." || !strings.Contains(strings.Join(ex.Hints, " "), "Security → API → Tokens") {
		t.Fatalf("explanation %+v", ex)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Fatal("the token is in the error")
	}
	slow := newFake(t, oktatest.Options{Latency: time.Second}, oktatest.Generate(oktatest.Spec{Users: 3, Groups: 1, Seed: 5}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := checkSettings(slow.URL).Check(ctx, directory.Env{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	if ex := s.Explain(errors.New("okta: dial tcp: connection refused")); ex == nil || !strings.Contains(ex.Hints[1], "The network") {
		t.Fatalf("network: %+v", ex)
	}
	if s.Explain(errors.New("something else")) != nil {
		t.Fatal("an unknown error explained")
	}
}

// TestSettingsRules: the moved validation keeps its messages and paths,
// the secrets are bound to the org URL, and the form's choice of sign-in
// drops the other method's fields.
func TestSettingsRules(t *testing.T) {
	s := NewSettings()
	s.OrgURL = "https://acme-admin.okta.com/app"
	fe := s.Validate(true)
	if !strings.Contains(fe[FieldOrgURL], `without "-admin": "https://acme.okta.com"`) || !strings.Contains(fe[FieldToken], "API token is required") {
		t.Fatalf("messages %v", fe)
	}
	s.OrgURL, s.ClientID, s.KeyID, s.Token = "https://acme.okta.com", "0oa1", "k1", "tok"
	var auth directory.Field
	for _, f := range s.Fields() {
		if f.Path == FieldAuthMethod {
			auth = f
		}
	}
	if err := auth.Set(s, AuthToken); err != nil || s.ClientID != "" || s.KeyID != "" || s.Token != "tok" || auth.Get(s) != AuthToken {
		t.Fatalf("token chosen: %v %+v", err, s)
	}
	if err := auth.Set(s, AuthOAuth); err != nil || s.Token != "" || !s.UsesOAuth() {
		t.Fatalf("oauth chosen: %v %+v", err, s)
	}
	if err := auth.Set(s, "magic"); err == nil {
		t.Fatal("an unknown sign-in accepted")
	}
	refs := s.Secrets()
	if len(refs) != 2 || refs[0].BoundTo != "okta\x00https://acme.okta.com" || refs[0].Applies || refs[1].Path != FieldPrivateKey {
		t.Fatalf("secrets %+v", refs)
	}
	if s.Identity() != "https://acme.okta.com" || s.FullReadEvery() != 24*time.Hour {
		t.Fatalf("identity %q, full read %v", s.Identity(), s.FullReadEvery())
	}
}
