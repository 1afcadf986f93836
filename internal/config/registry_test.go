package config_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dirsync/dirsync/internal/config"
	"github.com/dirsync/dirsync/internal/directory/dirtest"
)

// fakeFile is a settings file for the fake directory type of dirtest.
func fakeFile(section string) string {
	return `{"directory":{"type":"fake","fake":` + section + `},
	  "bitwarden":{"server":"us","clientId":"organization.x","clientSecret":"bw-secret-1234"}}`
}

// TestFakeKindThroughTheFile: a type config has never heard of is read
// from a settings file, validated by its own rules, written back with its
// secret redacted, and its secret is carried only to the host it was
// entered for — with no line of config naming it.
func TestFakeKindThroughTheFile(t *testing.T) {
	dirtest.Register()
	s, keep, err := config.ParseFileKeep(strings.NewReader(fakeFile(`{"host":" Fake.Example ","password":"p4ssword-1","note":"line 1\nline 2"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if keep.Any() && keep.Has(dirtest.FieldPassword) {
		t.Errorf("keep %+v", keep)
	}
	f, ok := s.Directory.Current().(*dirtest.Settings)
	if !ok || f.Host != "fake.example" || f.Port != dirtest.DefaultPort || f.Password.Reveal() != "p4ssword-1" {
		t.Fatalf("parsed %+v", s.Directory)
	}
	if err := s.Validate(true); err != nil {
		t.Fatalf("valid fake settings refused: %v", err)
	}
	// Its own rules, by its own paths.
	bad := s
	config.Edit(&bad.Directory, func(f *dirtest.Settings) { f.Mode = "realm"; f.Port = 70000 })
	fe, _ := bad.Validate(true).(config.FieldErrors)
	if !strings.Contains(fe[dirtest.FieldRealm], "realm is required") || !strings.Contains(fe[dirtest.FieldPort], "65535") {
		t.Errorf("fake rules: %v", fe)
	}
	if !bytes.Equal([]byte(s.Directory.Type), []byte("fake")) {
		t.Errorf("type %q", s.Directory.Type)
	}

	// Export: the section under its name, the secret redacted.
	var buf bytes.Buffer
	if err := config.WriteFile(&buf, s); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, `"fake": {`) || strings.Contains(out, "p4ssword-1") || !strings.Contains(out, `"password": "[REDACTED]"`) {
		t.Fatalf("export:\n%s", out)
	}
	back, keep, err := config.ParseFileKeep(&buf)
	if err != nil || !keep.Has(dirtest.FieldPassword) {
		t.Fatalf("re-import: %v, keep %+v", err, keep)
	}
	if fe := config.CarrySecrets(s, &back, keep.Has); fe != nil || back.Directory.Current().(*dirtest.Settings).Password.Reveal() != "p4ssword-1" {
		t.Fatalf("carry to the same host: %v", fe)
	}
	// Another host: the stored password is not sent there.
	moved := back
	config.Edit(&moved.Directory, func(f *dirtest.Settings) { f.Host = "evil.example"; f.Password = "" })
	fe = config.CarrySecrets(s, &moved, keep.Has)
	if !strings.Contains(fe[dirtest.FieldPassword], "the fake host or port changed, so enter the fake password again") ||
		moved.Directory.Current().(*dirtest.Settings).Password.IsSet() {
		t.Fatalf("carry to another host: %v", fe)
	}
	if vals := s.SecretValues(); len(vals) != 2 {
		t.Errorf("secret values %d, want the password and the Bitwarden secret", len(vals))
	}

	// The file's checks reach into the section: exact keys, control
	// characters, a 0 that would mean the default.
	for name, tc := range map[string]struct{ section, want string }{
		"unknown key":     {`{"host":"a","pasword":"x"}`, `unknown field "pasword"`},
		"key case":        {`{"HOST":"a"}`, `unknown key "HOST" in directory.fake; keys are case-sensitive: write "host"`},
		"control":         {`{"host":"a\r\nb","password":"x1234"}`, `fake.host: contains a control character`},
		"zero port":       {`{"host":"a","port":0,"password":"x1234"}`, `fake.port: 0 is not a valid value`},
		"number as text":  {`{"host":"a","port":"7000"}`, `port`},
		"section missing": {`null`, `directory.fake: missing`},
	} {
		s, _, err := config.ParseFileKeep(strings.NewReader(fakeFile(tc.section)))
		if err == nil {
			err = s.Validate(true)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// An unknown type names the registered ones, the fake among them.
	u := config.Defaults()
	u.Directory.Type = "nosuch"
	if fe, _ := u.Validate(true).(config.FieldErrors); !strings.Contains(fe[config.FieldDirectoryType], `"fake"`) {
		t.Errorf("unknown type: %q", fe[config.FieldDirectoryType])
	}
}
