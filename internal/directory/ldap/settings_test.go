package ldap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	ldap "github.com/go-ldap/ldap/v3"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/secret"
)

// bdcNames are the JSON names of directory.ldap: exactly BDC's.
var bdcNames = []string{"hostname", "port", "ssl", "startTls", "caCert", "sslAllowUnauthorized", "username", "password",
	"rootPath", "ad", "pagedSearch", "userObjectClass", "groupObjectClass", "userPath", "groupPath", "groupNameAttribute",
	"userEmailAttribute", "memberAttribute", "useEmailPrefixSuffix", "emailPrefixAttribute", "emailSuffix"}

func settingsFor(c Config) *Settings {
	s := &Settings{Config: c}
	s.Normalize()
	return s
}

func TestKindRegistered(t *testing.T) {
	k, ok := directory.Lookup(KindName)
	if !ok || k.Title != "LDAP / Active Directory" || k.Order != 1 {
		t.Fatalf("Lookup(ldap) = %+v, %v", k, ok)
	}
	s := k.New()
	if s.Kind() != "ldap" || s.FullReadEvery() != 0 {
		t.Errorf("New() = %#v", s)
	}
}

// TestSettingsJSONUsesBDCNames: the section's keys are BDC's, nothing
// more; a decoded section round-trips; the password is redacted.
func TestSettingsJSONUsesBDCNames(t *testing.T) {
	in := `{"hostname":"dc1.example.com","port":636,"ssl":true,"startTls":false,"caCert":"","sslAllowUnauthorized":false,
		"username":"reader@example.com","password":"hunter2","rootPath":"dc=example,dc=com","ad":true,"pagedSearch":true,
		"userObjectClass":"person","groupObjectClass":"group","userPath":"OU=Staff","groupPath":"","groupNameAttribute":"name",
		"userEmailAttribute":"mail","memberAttribute":"member","useEmailPrefixSuffix":true,"emailPrefixAttribute":"sAMAccountName",
		"emailSuffix":"@example.com"}`
	s := NewSettings()
	if err := json.Unmarshal([]byte(in), s); err != nil {
		t.Fatal(err)
	}
	s.Normalize()
	if s.Password.Reveal() != "hunter2" || s.UserPath != "OU=Staff" || s.GroupPath != "" || !s.UseEmailPrefixSuffix || s.Port != 636 {
		t.Errorf("decoded %+v", s.Config)
	}
	if fe := s.Validate(true); len(fe) != 0 {
		t.Errorf("Validate: %v", fe)
	}
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	_ = json.Unmarshal(out, &keys)
	var got []string
	for k := range keys {
		got = append(got, k)
	}
	slices.Sort(got)
	want := slices.Clone(bdcNames)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("keys = %v\nwant   %v", got, want)
	}
	if keys["password"] != secret.Redacted || strings.Contains(string(out), "hunter2") {
		t.Errorf("password exported: %s", out)
	}
	back := NewSettings()
	if err := json.Unmarshal(out, back); err != nil {
		t.Fatal(err)
	}
	back.Normalize()
	back.Password = s.Password
	if back.Config != s.Config {
		t.Errorf("round trip:\n%+v\n%+v", back.Config, s.Config)
	}
}

// TestADPathsFollowBDC: with ad on, a path that is absent or null is
// CN=Users, an empty one the whole root (libs/utils.ts).
func TestADPathsFollowBDC(t *testing.T) {
	for in, want := range map[string][2]string{
		`{"ad":true}`: {"CN=Users", "CN=Users"},
		`{"ad":true,"userPath":null,"groupPath":""}`: {"CN=Users", ""},
		`{"ad":true,"userPath":"OU=Staff"}`:          {"OU=Staff", "CN=Users"},
		`{"ad":false}`:                               {"", ""},
	} {
		s := NewSettings()
		if err := json.Unmarshal([]byte(in), s); err != nil {
			t.Fatal(err)
		}
		s.Normalize()
		if s.UserPath != want[0] || s.GroupPath != want[1] {
			t.Errorf("%s: paths %q, %q, want %q", in, s.UserPath, s.GroupPath, want)
		}
		if in == `{"ad":true}` && (s.UserObjectClass != "person" || s.GroupObjectClass != "group" || s.GroupNameAttribute != "name" ||
			s.MemberAttribute != "member" || s.UserEmailAttribute != "mail" || s.EmailPrefixAttribute != "sAMAccountName") {
			t.Errorf("AD defaults: %+v", s.Config)
		}
	}
}

func TestSettingsValidate(t *testing.T) {
	good := Config{Hostname: "dc1.example.com", Username: "cn=r,dc=example,dc=com", Password: "p", RootPath: "dc=example,dc=com"}
	if fe := settingsFor(good).Validate(true); len(fe) != 0 {
		t.Fatalf("good settings: %v", fe)
	}
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		path  string
		words string
	}{
		{"no host", func(c *Config) { c.Hostname = "" }, "ldap.hostname", "Enter the LDAP server's host name, such as dc1.example.com."},
		{"url as host", func(c *Config) { c.Hostname = "ldaps://dc1.example.com" }, "ldap.hostname", "without ldap://"},
		{"host:port", func(c *Config) { c.Hostname = "dc1:389" }, "ldap.hostname", "the port has its own field"},
		{"port", func(c *Config) { c.Port = 70000 }, "ldap.port", "from 1 to 65535"},
		{"starttls alone", func(c *Config) { c.StartTLS = true }, FieldSecurity, "StartTLS is on but SSL is off"},
		{"bad CA", func(c *Config) { c.SSL = true; c.CACert = "not a certificate" }, "ldap.caCert", "BEGIN CERTIFICATE"},
		{"no user", func(c *Config) { c.Username = "" }, "ldap.username", "Enter the bind user"},
		{"no password", func(c *Config) { c.Password = "" }, "ldap.password", "Enter the bind user's password."},
		{"root not a DN", func(c *Config) { c.RootPath = "example.com" }, "ldap.rootPath", "is not a DN"},
		{"no root", func(c *Config) { c.RootPath = "" }, "ldap.rootPath", "Enter the root path"},
		{"path not a DN", func(c *Config) { c.UserPath = "people" }, "ldap.userPath", "not a DN relative to the root path"},
		{"class", func(c *Config) { c.UserObjectClass = "(person)" }, "ldap.userObjectClass", "not an LDAP name"},
		{"member attr", func(c *Config) { c.MemberAttribute = "member of" }, "ldap.memberAttribute", "not an LDAP name"},
		{"suffix", func(c *Config) {
			c.UseEmailPrefixSuffix = true
			c.EmailPrefixAttribute = "uid"
			c.EmailSuffix = "example.com"
		}, "ldap.emailSuffix", "Start the email suffix with @"},
	} {
		c := good
		tc.mod(&c)
		fe := settingsFor(c).Validate(true)
		if msg := fe[tc.path]; !strings.Contains(msg, tc.words) {
			t.Errorf("%s: %v, want %s: …%s…", tc.name, fe, tc.path, tc.words)
		}
		for path, msg := range fe {
			if msg == "" || msg[0] < 'A' || msg[0] > 'Z' || !strings.HasSuffix(msg, ".") {
				t.Errorf("%s: %s: %q is not a sentence", tc.name, path, msg)
			}
		}
	}
	c := good
	c.Password = ""
	if fe := settingsFor(c).Validate(false); len(fe) != 0 {
		t.Errorf("password kept from the stored profile: %v", fe)
	}
}

// TestFieldsCoverValidation: every path Validate can name is a field of
// the form (so its message links to an input), and each field's Set and
// Get round-trip.
func TestFieldsCoverValidation(t *testing.T) {
	s := settingsFor(Config{})
	paths := map[string]bool{}
	for _, f := range s.Fields() {
		if f.Path == "" || f.Label == "" || f.Help == "" || f.Group == "" || f.Get == nil || f.Set == nil {
			t.Errorf("incomplete field %+v", f)
		}
		paths[f.Path] = true
	}
	bad := Config{Port: -1, StartTLS: true, CACert: "x", UserPath: "x", GroupPath: "y", UserObjectClass: "(", GroupObjectClass: "(",
		UserEmailAttribute: "(", GroupNameAttribute: "(", MemberAttribute: "(", UseEmailPrefixSuffix: true, EmailPrefixAttribute: "(", EmailSuffix: "x"}
	fe := (&Settings{Config: bad}).Validate(true)
	if len(fe) < 12 {
		t.Errorf("only %d problems: %v", len(fe), fe)
	}
	for path := range fe {
		if !paths[path] {
			t.Errorf("Validate names %s, which is no field", path)
		}
	}
	st := NewSettings()
	for _, f := range st.Fields() {
		var v string
		switch f.Kind {
		case directory.FieldBool:
			v = "true"
		case directory.FieldNumber:
			v = "3269"
		case directory.FieldChoice:
			v = SecurityStartTLS
		case directory.FieldSecret:
			v = "pw"
		default:
			v = "x" + f.Path
		}
		if err := f.Set(st, v); err != nil {
			t.Errorf("%s: Set(%q): %v", f.Path, v, err)
		}
		if got := f.Get(st); f.Kind != directory.FieldSecret && got != v {
			t.Errorf("%s: Get = %q after Set(%q)", f.Path, got, v)
		}
	}
	if st.Password.Reveal() != "pw" || !st.SSL || !st.StartTLS || st.Port != 3269 || !st.AD {
		t.Errorf("after Set: %+v", st.Config)
	}
	for _, f := range st.Fields() {
		if f.Path == "ldap.port" {
			if err := f.Set(st, "ldap"); err == nil || !strings.Contains(err.Error(), "whole number") {
				t.Errorf("port Set(ldap): %v", err)
			}
		}
		if f.Path == "ldap.password" {
			_ = f.Set(st, "")
			if st.Password.Reveal() != "pw" {
				t.Error("an empty password field replaced the password")
			}
		}
		if f.Path == "ldap.userObjectClass" && (f.Presets[PresetAD] != "person" || f.Presets[PresetLDAP] != "inetOrgPerson") {
			t.Errorf("presets %v", f.Presets)
		}
	}
}

// TestPasswordBoundToServerAndUser: the password's BoundTo changes with
// the scheme, host, port and bind user, and with nothing else.
func TestPasswordBoundToServerAndUser(t *testing.T) {
	base := Config{Hostname: "dc1.example.com", Username: "CN=r,DC=x", Password: "p", RootPath: "dc=x"}
	bound := func(c Config) string {
		refs := settingsFor(c).Secrets()
		if len(refs) != 1 || refs[0].Path != "ldap.password" || !refs[0].Applies || refs[0].Value == nil {
			t.Fatalf("Secrets() = %+v", refs)
		}
		return refs[0].BoundTo
	}
	b0 := bound(base)
	for name, mod := range map[string]func(*Config){
		"host":     func(c *Config) { c.Hostname = "evil.example.net" },
		"port":     func(c *Config) { c.Port = 3268 },
		"ldaps":    func(c *Config) { c.SSL = true; c.Port = 389 },
		"starttls": func(c *Config) { c.SSL, c.StartTLS = true, true },
		"user":     func(c *Config) { c.Username = "cn=admin,dc=x" },
	} {
		c := base
		mod(&c)
		if bound(c) == b0 {
			t.Errorf("%s changed but the password stays bound", name)
		}
	}
	for name, mod := range map[string]func(*Config){
		"case":     func(c *Config) { c.Hostname = "DC1.example.com"; c.Username = "cn=r,dc=x" },
		"paths":    func(c *Config) { c.UserPath = "ou=staff"; c.RootPath = "dc=y" },
		"explicit": func(c *Config) { c.Port = 389 },
	} {
		c := base
		mod(&c)
		if bound(c) != b0 {
			t.Errorf("%s: the password was unbound", name)
		}
	}
	ref := settingsFor(base).Secrets()[0]
	*ref.Value = "new"
	if ref.Value.Reveal() != "new" {
		t.Error("Value does not point into the settings")
	}
	if a, b := settingsFor(base).Identity(), settingsFor(Config{Hostname: "dc1.example.com", RootPath: "DC=Y"}).Identity(); a == b {
		t.Errorf("identity ignores the root path: %q", a)
	}
}

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		in     string
		native string
		mode   directory.SetMode
		values []string
		err    string
	}{
		{in: ""},
		{in: " (department=Sales) ", native: "(department=Sales)"},
		{in: "(|(l=Paris)(l=Lyon))", native: "(|(l=Paris)(l=Lyon))"},
		{in: "include:Eng, Sales", mode: directory.SetInclude, values: []string{"eng", "sales"}},
		{in: "EXCLUDE:a@x.com | (l=Paris)", mode: directory.SetExclude, values: []string{"a@x.com"}, native: "(l=Paris)"},
		{in: "(department=Sales", err: "not an RFC 4515 filter"},
		{in: "department=Sales", err: "must be in parentheses, such as (department=Sales)"},
		{in: "include:a | l=Paris", err: "after the '|' must be in parentheses"},
		{in: "include:a |", err: "nothing follows the '|'"},
		{in: "foo:a", err: "neither an LDAP filter"},
		{in: "include:", err: "lists no values"},
		{in: "include:a | (l=Paris", err: "not an RFC 4515 filter"},
	} {
		f, err := ParseFilter(tc.in, true)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, directory.ErrFilter) || !strings.Contains(err.Error(), "RFC 4515 LDAP filter in parentheses") {
				t.Errorf("%q: %v, want …%s…", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || f.Native != tc.native || f.Mode != tc.mode || !slices.Equal(f.Values, tc.values) {
			t.Errorf("%q: %+v, %v", tc.in, f, err)
		}
	}
	if f, _ := ParseFilter("include:Eng", false); !f.Keeps("ENG") || f.Keeps("sales") {
		t.Error("the include set does not match case-insensitively")
	}
}

// TestCheckConnection runs Check against the real slapd: the bind works,
// the counts are those of the fixture, the sample is a real user, and the
// missing email and the plain connection are not warned about (one user
// lacks mail; the connection is loopback).
func TestCheckConnection(t *testing.T) {
	srv := sharedSlapd(t)
	s := settingsFor(srv.config())
	res, err := s.Check(context.Background(), directory.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Summary, "15 users, 8 groups") {
		t.Errorf("summary %q", res.Summary)
	}
	facts := map[string]string{}
	for _, f := range res.Facts {
		facts[f.Label] = f.Value
	}
	if facts["Sample user"] != "bob@example.com (externalId "+bobID+")" { // the first by id
		t.Errorf("sample %q", facts["Sample user"])
	}
	if facts["Users"] != "15 (14 with an email address, 1 disabled)" {
		t.Errorf("users %q", facts["Users"])
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "1 of the 15 users have no email address in mail") {
		t.Errorf("warnings %q", res.Warnings)
	}

	// LDAPS without verification: it works, and says so.
	c := srv.config()
	c.Port, c.SSL, c.SSLAllowUnauthorized = srv.tlsPort, true, true
	res, err = settingsFor(c).Check(context.Background(), directory.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "not verified") }) {
		t.Errorf("no warning about verification: %q", res.Warnings)
	}

	// Nothing under the paths: warned, not failed.
	c = srv.config()
	c.UserObjectClass, c.GroupObjectClass = "posixAccount", "posixGroup"
	res, err = settingsFor(c).Check(context.Background(), directory.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Summary, "0 users, 0 groups") || len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "found no posixAccount entries") {
		t.Errorf("empty: %q %q", res.Summary, res.Warnings)
	}
}

// TestCheckFailuresExplained: a wrong password, a wrong CA, a missing base
// and a closed port each fail Check, and Explain names what to fix.
func TestCheckFailuresExplained(t *testing.T) {
	srv := sharedSlapd(t)
	otherCA, _, _ := throwawayCA(t, "127.0.0.1")
	closed := freePort(t)
	for _, tc := range []struct {
		name          string
		mod           func(*Config)
		summary, hint string
	}{
		{"password", func(c *Config) { c.Password = "wrong" }, "refused the bind user or its password", "Check the password"},
		{"CA", func(c *Config) { c.Port, c.SSL, c.CACert = srv.tlsPort, true, otherCA }, "CA this machine does not trust", "CA certificate"},
		{"system CA", func(c *Config) { c.Port, c.SSL = srv.tlsPort, true }, "CA this machine does not trust", "CA certificate"},
		{"StartTLS CA", func(c *Config) { c.SSL, c.StartTLS, c.CACert = true, true, otherCA }, "CA this machine does not trust", "CA certificate"},
		{"name", func(c *Config) { c.Hostname, c.Port, c.SSL, c.CACert = "localhost", srv.tlsPort, true, srv.caPEM }, "issued for another name", "Server host name"},
		{"LDAPS on the LDAP port", func(c *Config) { c.SSL, c.CACert = true, srv.caPEM }, "TLS handshake", "matches the port"},
		{"base", func(c *Config) { c.UserPath = "ou=nowhere" }, "search base does not exist", "User path"},
		{"port", func(c *Config) { c.Port = closed }, "refused the connection", "Check the port"},
	} {
		c := srv.config()
		tc.mod(&c)
		s := settingsFor(c)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := s.Check(ctx, directory.Env{})
		cancel()
		if err == nil {
			t.Errorf("%s: Check succeeded", tc.name)
			continue
		}
		ex := s.Explain(err)
		if ex == nil || !strings.Contains(ex.Summary, tc.summary) || !slices.ContainsFunc(ex.Hints, func(h string) bool { return strings.Contains(h, tc.hint) }) {
			t.Errorf("%s: %v\nexplained as %+v", tc.name, err, ex)
		}
		if strings.Contains(fmt.Sprint(err, ex), "reader-secret") {
			t.Errorf("%s: the password shows in the error", tc.name)
		}
	}
}

// TestExplainADBindCodes: AD's sub-codes of result 49 each get their own
// first hint; other codes map to what to check.
func TestExplainADBindCodes(t *testing.T) {
	s := settingsFor(Config{Hostname: "dc1", AD: true})
	for code, words := range map[string]string{
		"52e": "password is wrong", "775": "locked out", "533": "disabled", "532": "expired", "525": "does not know the bind user",
	} {
		err := fmt.Errorf("the bind failed: %w", ldap.NewError(ldap.LDAPResultInvalidCredentials,
			errors.New("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data "+code+", v4563")))
		ex := s.Explain(err)
		if ex == nil || len(ex.Hints) < 2 || !strings.Contains(ex.Hints[0], words) || !strings.Contains(ex.Summary, "password") {
			t.Errorf("data %s: %+v", code, ex)
		}
	}
	for code, words := range map[uint16]string{
		ldap.LDAPResultInsufficientAccessRights: "may not read", ldap.LDAPResultStrongAuthRequired: "encrypted connection",
		ldap.LDAPResultSizeLimitExceeded: "size limit", ldap.LDAPResultTimeLimitExceeded: "time limit",
	} {
		if ex := s.Explain(ldap.NewError(code, errors.New("x"))); ex == nil || !strings.Contains(ex.Summary, words) {
			t.Errorf("code %d: %+v", code, ex)
		}
	}
	if ex := s.Explain(ldap.NewError(ldap.LDAPResultAdminLimitExceeded, errors.New("illegal pagedResults page size"))); ex == nil || !strings.Contains(ex.Summary, "small pages") {
		t.Errorf("page size refused: %+v", ex)
	}
	if ex := s.Explain(ldap.NewError(ldap.LDAPResultAdminLimitExceeded, errors.New("x"))); ex == nil || !strings.Contains(ex.Summary, "size limit") {
		t.Errorf("admin limit: %+v", ex)
	}
	if ex := s.Explain(errors.New("something else")); ex != nil {
		t.Errorf("unknown error explained: %+v", ex)
	}
	if ex := s.Explain(fmt.Errorf("x: %w", context.DeadlineExceeded)); ex == nil || !strings.Contains(ex.Summary, "in time") {
		t.Errorf("deadline: %+v", ex)
	}
}

// TestExplainStartTLSRefused: a server without TLS answers the StartTLS
// request with an error result; Explain says to configure TLS or use LDAPS.
func TestExplainStartTLSRefused(t *testing.T) {
	port := refuseStartTLSServer(t)
	s := settingsFor(Config{Hostname: "127.0.0.1", Port: port, SSL: true, StartTLS: true, Username: "cn=x,dc=x", Password: "p", RootPath: "dc=x"})
	_, err := s.Check(context.Background(), directory.Env{})
	if ex := s.Explain(err); err == nil || ex == nil || !strings.Contains(ex.Summary, "refused StartTLS") {
		t.Errorf("%v: %+v", err, ex)
	}
}

// refuseStartTLSServer answers every extended request with
// protocolError (2), as OpenLDAP does without a certificate.
func refuseStartTLSServer(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				p, err := ber.ReadPacket(c)
				if err != nil || len(p.Children) < 2 {
					return
				}
				resp := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
				resp.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, p.Children[0].Value, "MessageID"))
				ext := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedResponse, nil, "Extended Response")
				ext.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(ldap.LDAPResultProtocolError), "resultCode"))
				ext.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "matchedDN"))
				ext.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "unsupported extended operation", "diagnosticMessage"))
				resp.AppendChild(ext)
				_, _ = c.Write(resp.Bytes())
				_, _ = ber.ReadPacket(c) // wait for the client to hang up
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}
