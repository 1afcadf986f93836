// Package dirtest is a tiny directory type for tests of the registry
// plumbing: config, the store, the console and the engine take it through
// import/export, sealing, the Settings form and a sync without a line of
// their own code knowing it. Its source reads an in-memory directory
// (Directories) by host name. Only tests import it; Register adds it.
package dirtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/secret"
)

// Name is the fake type's directory.type.
const Name = "fake"

// Field paths of the fake section.
const (
	FieldHost     = "fake.host"
	FieldPort     = "fake.port"
	FieldPassword = "fake.password"
	FieldMode     = "fake.mode"
	FieldRealm    = "fake.realm"
	FieldNote     = "fake.note"
)

// Settings is the fake type's section: a host and port, a password bound
// to them, a choice that shows a field, and a multi-line note.
type Settings struct {
	Host     string        `json:"host"`
	Port     int           `json:"port,omitempty"`
	Password secret.Secret `json:"password,omitempty"`
	// Mode is "simple" or "realm"; Realm is shown only for "realm".
	Mode  string `json:"mode,omitempty"`
	Realm string `json:"realm,omitempty"`
	Note  string `json:"note,omitempty"`
}

// DefaultPort is fake.port's default.
const DefaultPort = 7000

var (
	once sync.Once
	mu   sync.Mutex
	dirs = map[string]*directory.Snapshot{}
	// Opens counts Open calls; Checks counts Check calls.
	Opens, Checks atomic.Int64
)

// Register adds the fake type once per test binary.
func Register() {
	once.Do(func() {
		directory.Register(directory.Kind{Name: Name, Title: "Fake directory", Order: 90,
			New: func() directory.Settings { return &Settings{Port: DefaultPort, Mode: "simple"} }})
	})
}

// SetDirectory makes host serve snap (nil removes it).
func SetDirectory(host string, snap *directory.Snapshot) {
	mu.Lock()
	defer mu.Unlock()
	if snap == nil {
		delete(dirs, host)
		return
	}
	dirs[host] = snap
}

// Kind implements directory.Settings.
func (s *Settings) Kind() string { return Name }

// Normalize implements directory.Settings.
func (s *Settings) Normalize() {
	s.Host = strings.ToLower(strings.TrimSpace(s.Host))
	s.Realm = strings.TrimSpace(s.Realm)
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	if s.Mode == "" {
		s.Mode = "simple"
	}
}

// Validate implements directory.Settings.
func (s *Settings) Validate(requireSecrets bool) map[string]string {
	fe := map[string]string{}
	if s.Host == "" {
		fe[FieldHost] = "the fake host is required"
	}
	if s.Port < 1 || s.Port > 65535 {
		fe[FieldPort] = fmt.Sprintf("must be a port from 1 to 65535 (got %d)", s.Port)
	}
	if requireSecrets && !s.Password.IsSet() {
		fe[FieldPassword] = "the fake password is required"
	}
	if s.Mode == "realm" && s.Realm == "" {
		fe[FieldRealm] = "a realm is required in realm mode"
	}
	return fe
}

// Secrets implements directory.Settings: the password, bound to host and
// port.
func (s *Settings) Secrets() []directory.SecretRef {
	return []directory.SecretRef{{Path: FieldPassword, Name: "the fake password", Value: &s.Password,
		BoundTo: Name + "\x00" + s.Host + ":" + strconv.Itoa(s.Port), BoundName: "the fake host or port", Applies: true}}
}

// Identity implements directory.Settings.
func (s *Settings) Identity() string { return s.Host + ":" + strconv.Itoa(s.Port) }

// FullReadEvery implements directory.Settings: the fake keeps no cache.
func (s *Settings) FullReadEvery() time.Duration { return 0 }

// Filters implements directory.Settings: BDC's include/exclude grammar.
func (s *Settings) Filters() directory.FilterSyntax {
	return directory.FilterSyntax{UserHelp: "include:… or exclude:… emails", GroupHelp: "include:… or exclude:… names",
		Parse: directory.ParseBDCFilter}
}

// ErrWrongPassword is what the fake source answers to a wrong password.
var ErrWrongPassword = errors.New("fake: the password was refused")

// Password is the password every fake directory accepts.
const Password = "fake-password-1234"

type source struct{ s Settings }

func (src source) Read(_ context.Context, _ directory.ReadOptions) (*directory.Snapshot, error) {
	if src.s.Password.Reveal() != Password {
		return nil, ErrWrongPassword
	}
	mu.Lock()
	defer mu.Unlock()
	snap, ok := dirs[src.s.Host]
	if !ok {
		return nil, fmt.Errorf("fake: no directory at %s", src.s.Host)
	}
	c := *snap
	c.Users = append([]directory.User(nil), snap.Users...)
	c.Groups = append([]directory.Group(nil), snap.Groups...)
	return &c, nil
}

// Open implements directory.Settings.
func (s *Settings) Open(directory.Env) (directory.Source, error) {
	Opens.Add(1)
	return source{s: *s}, nil
}

// Check implements directory.Settings.
func (s *Settings) Check(ctx context.Context, env directory.Env) (*directory.CheckResult, error) {
	Checks.Add(1)
	snap, err := source{s: *s}.Read(ctx, directory.ReadOptions{})
	if err != nil {
		return nil, err
	}
	return &directory.CheckResult{Summary: fmt.Sprintf("Signed in to %s: %d users, %d groups.", s.Host, len(snap.Users), len(snap.Groups)),
		Facts: []directory.Fact{{Label: "Host", Value: s.Host}}}, nil
}

// Explain implements directory.Settings.
func (s *Settings) Explain(err error) *directory.Explanation {
	if errors.Is(err, ErrWrongPassword) {
		return &directory.Explanation{Summary: "The fake directory refused the password.", Hints: []string{"The fake password: enter " + Password + "."}}
	}
	return nil
}

// Fields implements directory.Settings.
func (s *Settings) Fields() []directory.Field {
	str := func(p func(*Settings) *string) (func(directory.Settings) string, func(directory.Settings, string) error) {
		return func(x directory.Settings) string { return *p(x.(*Settings)) },
			func(x directory.Settings, v string) error { *p(x.(*Settings)) = strings.TrimSpace(v); return nil }
	}
	hostGet, hostSet := str(func(s *Settings) *string { return &s.Host })
	modeGet, modeSet := str(func(s *Settings) *string { return &s.Mode })
	realmGet, realmSet := str(func(s *Settings) *string { return &s.Realm })
	noteGet, noteSet := str(func(s *Settings) *string { return &s.Note })
	return []directory.Field{
		{Path: FieldHost, Label: "Fake host", Kind: directory.FieldText, Group: "Connection", Help: "The fake server's host name.", Get: hostGet, Set: hostSet,
			Presets: map[string]string{"Local": "local.fake"}},
		{Path: FieldPort, Label: "Fake port", Kind: directory.FieldNumber, Group: "Connection", Help: "The fake server's port.",
			Get: func(x directory.Settings) string { return strconv.Itoa(x.(*Settings).Port) },
			Set: func(x directory.Settings, v string) error {
				x.(*Settings).Port = 0
				if v = strings.TrimSpace(v); v == "" {
					return nil
				}
				n, err := strconv.Atoi(v)
				if err != nil {
					return errors.New("enter a whole number, such as 7000")
				}
				x.(*Settings).Port = n
				return nil
			}},
		{Path: FieldPassword, Label: "Fake password", Kind: directory.FieldSecret, Group: "Authentication", Help: "The fake server's password.",
			Get: func(directory.Settings) string { return "" },
			Set: func(x directory.Settings, v string) error {
				x.(*Settings).Password = secret.Secret(strings.TrimSpace(v))
				return nil
			}},
		{Path: FieldMode, Label: "Fake mode", Kind: directory.FieldChoice, Group: "Authentication", Help: "Simple, or with a realm.",
			Options: []directory.Option{{Value: "simple", Label: "Simple"}, {Value: "realm", Label: "With a realm"}}, Get: modeGet, Set: modeSet},
		{Path: FieldRealm, Label: "Fake realm", Kind: directory.FieldText, Group: "Authentication", Help: "The realm to sign in to.",
			ShownWhen: &directory.Condition{Path: FieldMode, Value: "realm"}, Get: realmGet, Set: realmSet},
		{Path: FieldNote, Label: "Fake note", Kind: directory.FieldTextArea, Advanced: true, Help: "Any note, several lines allowed.", Get: noteGet, Set: noteSet},
	}
}
