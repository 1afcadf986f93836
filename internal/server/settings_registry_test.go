package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/directory/dirtest"
	"github.com/dirsync/dirsync/internal/store"
	dsync "github.com/dirsync/dirsync/internal/sync"
)

// TestFakeKindSettingsForm: a directory type the console has never heard
// of gets its fields in the Settings form (help tied to each input, a
// choice that shows a field, advanced fields folded), its messages by
// path in the error summary, its secret write-only, a preset button, a
// "Check connection" and a Test — with no line of the server naming it.
func TestFakeKindSettingsForm(t *testing.T) {
	dirtest.Register()
	dirtest.SetDirectory("fake.srv", &directory.Snapshot{
		Users:  []directory.User{{ID: "f1", Email: "one@fake.example"}, {ID: "f2", Email: "two@fake.example"}},
		Groups: []directory.Group{{ID: "fg", Name: "Fakes", MemberIDs: []string{"f1"}}},
	})
	t.Cleanup(func() { dirtest.SetDirectory("fake.srv", nil) })
	p := newCheckEnv(t)
	eng := p.srv.engine.(*dsync.Engine)
	p.srv.checks["directory"] = SettingsCheck{Fields: dsync.DirectoryFields(), Run: eng.CheckDirectory, Explain: dsync.ExplainDirectory}

	// The page offers the type and shows its fields.
	d := p.get(p.c, "/settings").doc(t)
	if d.Find(`#f-directory-type option[value="fake"]`).Text() != "Fake directory" {
		t.Fatal("the fake type is not offered")
	}
	sec := testid(d, "section-directory-fake")
	for _, id := range []string{"field-fake.host", "field-fake.port", "field-fake.password", "field-fake.mode-simple", "field-fake.mode-realm"} {
		if sec.Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("%s missing from the fake section", id)
		}
	}
	host := sec.Find(`[data-testid="field-fake.host"]`)
	if desc := host.AttrOr("aria-describedby", ""); !strings.Contains(desc, "help-fake-host") || d.Find("#help-fake-host").Text() != "The fake server's host name." {
		t.Errorf("help not tied: %q", desc)
	}
	if sec.Find(".cond .when.when-1 [data-testid='field-fake.realm']").Length() != 1 {
		t.Error("the realm field is not shown only for the realm mode")
	}
	if testid(d, "advanced-directory-fake").Find("[data-testid='field-fake.note']").Length() != 1 {
		t.Error("the advanced note is not in Advanced")
	}
	if sec.Find(`[data-testid="status-fake.password"]`).Text() != "not set" {
		t.Error("no secret status")
	}

	form := func(kv ...string) map[string][]string {
		return p.fakeForm(append([]string{"directory.type", "fake", "fake.host", "fake.srv", "fake.port", "", "fake.password", dirtest.Password,
			"fake.mode", "simple", "fake.realm", ""}, kv...)...)
	}
	// Its messages, by path, in the summary; the typed secret not echoed.
	r := p.post(p.c, "/settings", form("fake.host", "", "fake.mode", "realm", "fake.port", "x"))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	d = r.doc(t)
	if !strings.Contains(testid(d, "error-fake.host").Text(), "host is required") || !strings.Contains(testid(d, "error-fake.realm").Text(), "realm is required") ||
		!strings.Contains(testid(d, "error-fake.port").Text(), "whole number") {
		t.Fatalf("field errors:\n%s", testid(d, "settings-errors").Text())
	}
	if d.Find(`#settings-errors a[href="#f-fake-host"]`).Length() != 1 || testid(d, "retype-fake.password").Length() != 1 || strings.Contains(r.body, dirtest.Password) {
		t.Fatal("no summary link to the field, no retype note, or the secret echoed")
	}

	// Saved: the type, its fields, its secret sealed; a field hidden by
	// its choice is not read.
	wantStatus(t, p.post(p.c, "/settings", form("fake.realm", "ignored")), http.StatusSeeOther)
	got, err := p.st.LoadSettings(context.Background(), store.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := got.Directory.Current().(*dirtest.Settings)
	if !ok || f.Host != "fake.srv" || f.Port != dirtest.DefaultPort || f.Password.Reveal() != dirtest.Password || f.Realm != "" {
		t.Fatalf("saved %+v", got.Directory)
	}
	d = p.get(p.c, "/settings").doc(t)
	if testid(d, "status-fake.password").Text() != "set" || d.Find(`#f-directory-type option[value="fake"][selected]`).Length() != 1 {
		t.Fatal("the saved type or its secret is not shown")
	}

	// Another host: the stored password is not sent there.
	r = p.post(p.c, "/settings", form("fake.host", "evil.example", "fake.password", ""))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if msg := testid(r.doc(t), "error-fake.password").Text(); !strings.Contains(msg, "enter the fake password again") {
		t.Fatalf("password carried to another host: %q", msg)
	}

	// A preset fills its fields, nothing saved.
	r = p.post(p.c, "/settings/preset", form("preset", "fake:Local", "fake.host", "elsewhere"))
	wantStatus(t, r, http.StatusOK)
	d = r.doc(t)
	if testid(d, "field-fake.host").AttrOr("value", "") != "local.fake" || testid(d, "preset-note").Length() != 1 {
		t.Fatalf("preset not applied:\n%s", r.body)
	}

	// Check connection: the type's own check, stored secret carried.
	r = p.do(p.c, "POST", "/settings/check/directory", form("fake.password", ""), htmxHeaders)
	wantStatus(t, r, http.StatusOK)
	if s := testid(r.doc(t), "check-summary").Text(); testid(r.doc(t), "check-ok").Length() != 1 || !strings.Contains(s, "2 users, 1 groups") {
		t.Fatalf("check:\n%s", r.body)
	}
	// A refused password: the type's explanation.
	r = p.do(p.c, "POST", "/settings/check/directory", form("fake.password", "wrong-one"), htmxHeaders)
	if h := testid(r.doc(t), "check-hint").Text(); !strings.Contains(h, "enter "+dirtest.Password) {
		t.Fatalf("check hint %q:\n%s", h, r.body)
	}
}
