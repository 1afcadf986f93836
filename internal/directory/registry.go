package directory

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dirsync/dirsync/internal/secret"
)

// A directory type is one package under internal/directory that registers
// a Kind in its init function. Everything outside that package — config,
// the engine, the console, the CLI — reaches the type only through the
// Kind and its Settings, so adding a type touches no other package but the
// one blank import that links it in (internal/directory/all).

// Kind describes one directory type.
type Kind struct {
	// Name is the value of directory.type and the key of the type's
	// settings section in the file shape ("okta", "ldap"). Lower case.
	Name string
	// Title names the type in the console and in messages ("Okta",
	// "LDAP / Active Directory").
	Title string
	// Order sorts the console's choice of types (lower first).
	Order int
	// New returns settings holding the type's defaults, as a pointer to
	// the type's settings struct. Its JSON encoding is the type's section
	// of `config export` (secrets redacted by secret.Secret); decoding a
	// section into it is how `config import` and the store read it back.
	New func() Settings
}

// Settings is one directory type's section of a profile
// (directory.<Kind.Name>). Implementations are pointers to a struct.
type Settings interface {
	// Kind returns the type's name (Kind.Name).
	Kind() string
	// Normalize trims values and fills defaults for unset tuning fields,
	// so equal settings compare equal.
	Normalize()
	// Validate checks every field and returns one human, sentence-case
	// message per bad field, keyed by its field path ("ldap.hostname",
	// "okta.orgUrl"); nil or empty when all is well. Secrets are checked
	// for presence only when requireSecrets is true (false when they are
	// kept from the stored profile).
	Validate(requireSecrets bool) map[string]string
	// Secrets returns the write-only fields of these settings, each with
	// a pointer into the receiver and what it is bound to, computed from
	// the receiver's current (normalized) values.
	Secrets() []SecretRef
	// Identity names the directory these settings read (type, host, root
	// or org), so that caches, baselines and held plans made against one
	// directory are never used against another. Normalized settings only.
	Identity() string
	// FullReadEvery is how often a read must ignore every cache (the
	// membership cache, a delta watermark) and read everything; 0 when the
	// type keeps no cache.
	FullReadEvery() time.Duration
	// Fields describes the settings for the console's form and for help
	// texts, in display order.
	Fields() []Field
	// Filters describes the user and group filter grammar of this type
	// and parses filters in it.
	Filters() FilterSyntax
	// Open builds the source for one run.
	Open(env Env) (Source, error)
	// Check tries the connection with these settings — authenticates,
	// counts users and groups, reads a sample user — without reading the
	// whole directory. It answers within ctx's deadline.
	Check(ctx context.Context, env Env) (*CheckResult, error)
	// Explain turns an error of Open, Read or Check into what an admin
	// should check, or nil when the type knows nothing better than the
	// error's own text.
	Explain(err error) *Explanation
}

// SecretRef is one write-only field of a type's settings.
type SecretRef struct {
	// Path is the field path ("okta.token", "ldap.password").
	Path string
	// Name is how messages call it ("the Okta API token").
	Name string
	// Value points at the secret inside the settings.
	Value *secret.Secret
	// BoundTo is the place the secret is sent to, from the settings'
	// current values ("okta\x00https://acme.okta.com"): a stored secret is
	// carried into new settings only while BoundTo is unchanged.
	BoundTo string
	// BoundName names the fields of BoundTo for messages ("the Okta org
	// URL", "the LDAP server's host name and port").
	BoundName string
	// Applies is false when the settings do not use this secret at all
	// (the Okta token and the service app's key exclude each other): a
	// stored secret the new settings do not use is dropped, silently.
	Applies bool
}

// FieldKind is how the console shows a field.
type FieldKind string

// The field kinds.
const (
	FieldText     FieldKind = "text"
	FieldURL      FieldKind = "url"
	FieldNumber   FieldKind = "number"
	FieldBool     FieldKind = "checkbox"
	FieldSecret   FieldKind = "password" // write-only: never shown, "leave empty to keep"
	FieldTextArea FieldKind = "textarea" // multi-line (a CA certificate in PEM)
	FieldSecretTA FieldKind = "secret-textarea"
	FieldChoice   FieldKind = "radio" // one of Options
)

// Field describes one setting for the console.
type Field struct {
	// Path is the field path ("ldap.hostname"); the form's input name and
	// the key of Validate's messages.
	Path string
	// Label is the form label ("Server host name").
	Label string
	// Help is the help text shown under the input (tied to it with
	// aria-describedby).
	Help string
	// Kind is the input kind.
	Kind FieldKind
	// Placeholder is an example value, never a default.
	Placeholder string
	// Options are the choices of a FieldChoice (value → label, in order).
	Options []Option
	// Group, when set, puts the field in a sub-section ("Connection",
	// "Authentication", "Users", "Groups", "Advanced") of the type's
	// settings.
	Group string
	// ShownWhen, when set, shows the field only while another field
	// (a checkbox or choice, by path) has the given value, e.g.
	// {"okta.auth", "oauth"}. The form keeps hidden fields' values.
	ShownWhen *Condition
	// Advanced fields are folded away by default.
	Advanced bool
	// StepsTitle and Steps, when set, are a step-by-step guide shown
	// folded before the input (setting up an Okta service app): plain
	// sentences, in order.
	StepsTitle string
	Steps      []string
	// Presets are values this field takes when a preset is chosen
	// (Preset name → value), e.g. the AD switch filling
	// userObjectClass "person".
	Presets map[string]string
	// Get reads the field's current value from the settings as the form
	// shows it ("" for a secret).
	Get func(Settings) string
	// Set writes a submitted form value into the settings; it reports a
	// message when the value cannot even be parsed ("must be a whole
	// number"). A secret field left empty is not set (the stored one is
	// kept when still bound to the same place).
	Set func(s Settings, value string) error
}

// Option is one choice of a FieldChoice.
type Option struct {
	Value, Label string
}

// Condition is a field's value that shows another field.
type Condition struct {
	Path, Value string
}

// FilterSyntax is a type's user and group filter grammar.
type FilterSyntax struct {
	// Help shows the accepted forms for the console and for error
	// messages.
	UserHelp, GroupHelp string
	// Parse parses a user filter (users true) or group filter. The
	// returned Filter's Native part is handed to the source as it is; the
	// engine applies its set part (include/exclude lists).
	Parse func(expr string, users bool) (Filter, error)
}

// Env is what a source gets from the process that runs it.
type Env struct {
	// UserAgent identifies dirsync in HTTP requests ("dirsync/1.2.3").
	UserAgent string
	// Logger is the fallback logger; a run's own logger travels in the
	// context (logctx).
	Logger *slog.Logger
	// Redact lists every secret value of the profile, for scrubbing error
	// texts that came from elsewhere.
	Redact []string
	// Observer, when set, sees every request the source makes (metrics).
	Observer func(RequestEvent)
}

// RequestEvent is one request a source made to its directory.
type RequestEvent struct {
	// Kind is the directory type (Kind.Name).
	Kind string
	// Method is the HTTP method or LDAP operation ("GET", "search").
	Method string
	// Path has no query; Bucket is a low-cardinality family ("users",
	// "groups", "members"), better suited as a metric label.
	Path   string
	Bucket string
	// Status is the HTTP status or LDAP result code; 0 when the request
	// failed in transport.
	Status   int
	Duration time.Duration
	// RateLimitRemaining and RateLimitLimit are -1 when the directory
	// says nothing about rate limits.
	RateLimitRemaining int
	RateLimitLimit     int
}

// CheckResult is what a successful Check found.
type CheckResult struct {
	// Summary is one sentence ("Signed in to acme.okta.com: 1,204 users,
	// 87 groups.").
	Summary string
	// Facts are label → value lines shown under it, in order.
	Facts []Fact
	// Warnings are things that work but look wrong ("no user has an
	// email address in mail").
	Warnings []string
}

// Fact is one label/value line of a CheckResult.
type Fact struct {
	Label, Value string
}

// Explanation is what an admin should check after an error.
type Explanation struct {
	// Summary is one sentence naming what failed ("Okta refused the API
	// token.").
	Summary string
	// Hints are what to check, most likely first.
	Hints []string
}

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Kind{}
)

// Register adds a directory type. It panics on a duplicate or incomplete
// Kind: registration happens in init functions, where a mistake must stop
// the binary at once.
func Register(k Kind) {
	if k.Name == "" || k.Title == "" || k.New == nil {
		panic("directory.Register: Kind needs Name, Title and New")
	}
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[k.Name]; dup {
		panic(fmt.Sprintf("directory.Register: type %q registered twice", k.Name))
	}
	kinds[k.Name] = k
}

// Lookup returns the registered type of that name.
func Lookup(name string) (Kind, bool) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	k, ok := kinds[name]
	return k, ok
}

// Kinds returns every registered type, by Order then Name.
func Kinds() []Kind {
	kindsMu.RLock()
	out := make([]Kind, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k)
	}
	kindsMu.RUnlock()
	slices.SortFunc(out, func(a, b Kind) int {
		if a.Order != b.Order {
			return a.Order - b.Order
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}
