package web

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/a-h/templ"
)

// Page is what the layout needs to frame any page.
type Page struct {
	// Title goes into <title> and is usually the page heading.
	Title string
	// Nav is the key of the active navigation item ("dashboard", "test",
	// "history", "settings", "more") or "" for none.
	Nav string
	// User is the logged-in admin's name; "" hides the user menu and nav.
	User string
	// Flashes are one-time messages shown above the page content.
	Flashes []Flash
	// Version is the build's version, shown in the footer.
	Version string
}

// Flash kinds; each has a style in app.css.
const (
	FlashSuccess = "success"
	FlashInfo    = "info"
	FlashError   = "error"
)

// Flash is a one-time message for the next page the admin sees.
type Flash struct {
	Kind    string
	Message string
}

// NavItem is one entry of the main navigation.
type NavItem struct {
	Key, Label, Href string
}

// NavItems is the main navigation, in order.
var NavItems = []NavItem{
	{Key: "dashboard", Label: "Dashboard", Href: "/"},
	{Key: "test", Label: "Test", Href: "/test"},
	{Key: "history", Label: "History", Href: "/history"},
	{Key: "settings", Label: "Settings", Href: "/settings"},
	{Key: "more", Label: "More", Href: "/more"},
}

// htmxConfig keeps htmx from injecting inline styles or evaluating
// strings as code, both of which the CSP forbids anyway.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}`

// FieldID is the HTML id of the input for a settings field path
// ("okta.orgUrl" → "f-okta-orgUrl").
func FieldID(field string) string { return "f-" + strings.ReplaceAll(field, ".", "-") }

// ErrID is the HTML id of a field's error slot ("okta.orgUrl" →
// "err-okta-orgUrl"); /settings/validate swaps these out of band.
func ErrID(field string) string { return "err-" + strings.ReplaceAll(field, ".", "-") }

// FormErrors maps a field path (or "form" for the whole form) to a message.
type FormErrors map[string]string

// Get returns the message for field, or "".
func (e FormErrors) Get(field string) string { return e[field] }

// LoginForm is the login page's state.
type LoginForm struct {
	Username string
	Next     string
	// Error is shown above the form (wrong credentials, throttled).
	Error string
}

// SetupForm is the first-admin page's state.
type SetupForm struct {
	// State is "form" (valid token), "bad-token" or "done" (an admin exists).
	State    string
	Token    string
	Username string
	Errors   FormErrors
}

// Setup page states.
const (
	SetupStateForm     = "form"
	SetupStateBadToken = "bad-token"
	SetupStateDone     = "done"
)

// Server choices on the settings form.
const (
	ServerChoiceUS   = "us"
	ServerChoiceEU   = "eu"
	ServerChoiceSelf = "self"
)

// SettingsForm is the settings page's state. Numbers are kept as the
// admin typed them so a rejected value is shown back as entered. Secrets
// are never part of it: only whether one is stored.
type SettingsForm struct {
	// DirectoryType is the chosen type (directory.type); DirectoryTypes
	// are every registered type with its fields, in the console's order.
	// All are in the page, so that choosing another type shows its fields
	// at once, without JavaScript (CSS shows the chosen one only), and
	// the server reads only the chosen type's fields.
	DirectoryType  string
	DirectoryTypes []DirectoryType
	// AdvancedPaths are the fields of the Advanced section, which opens
	// when one of them has an error.
	AdvancedPaths []string
	// PresetNote says which preset filled the fields ("" when none).
	PresetNote string
	// UserFilterHelp and GroupFilterHelp are the chosen type's filter
	// grammar (directory.FilterSyntax).
	UserFilterHelp, GroupFilterHelp string
	// FilterHelps are every type's filter grammar, shown by the type
	// switch's CSS (like the type sections), so that choosing another
	// type shows its grammar without a reload or JavaScript.
	FilterHelps []FilterHelp
	// Server is ServerChoiceUS, ServerChoiceEU or ServerChoiceSelf.
	Server    string
	SelfURL   string
	ClientID  string
	SecretSet bool
	// SecretTyped is TokenTyped for the Bitwarden client secret.
	SecretTyped       bool
	Interval          string
	RemoveDisabled    bool
	OverwriteExisting bool
	LargeImport       bool
	Users             bool
	UserFilter        string
	Groups            bool
	GroupFilter       string
	MaxRemovals       string
	MaxRemovalPercent string
	// StageNewMembers shows sync.inviteUsers inverted: checked adds new
	// members as Staged without an invitation (an absent checkbox keeps the
	// server's default, inviting).
	StageNewMembers bool
	// ImportTimeout is bitwarden.importTimeoutSeconds as typed.
	ImportTimeout string
	// MaxMembershipRemovals, MaxMembershipRemovalPercent, MaxShrinkPercent
	// and TimeoutMinutes are issue 8's guards and run time limit, as typed.
	MaxMembershipRemovals       string
	MaxMembershipRemovalPercent string
	MaxShrinkPercent            string
	TimeoutMinutes              string
	// WebhooksSet reports whether alert webhook URLs are stored (they may
	// hold credentials, so they are write-only like the other secrets).
	WebhooksSet bool
	// WebhooksTyped is TokenTyped for the webhook URLs.
	WebhooksTyped bool
	Errors        FormErrors
	// Unplaced are errors of fields this form does not show, listed in
	// the summary so no problem stays invisible.
	Unplaced []string
	// Summary links to each marked field, in the summary at the top.
	Summary []ErrorLink
	// Checks are "Check connection" results by section, shown in place
	// when the check was posted without JavaScript.
	Checks map[string]*CheckView
	// FirstRun is set while no settings were ever saved: the page starts
	// with what the admin needs (Needs) and the focus in the first field.
	FirstRun bool
	Needs    []string
	// NextStep is set once settings are saved but nothing was run or
	// tested yet: the page offers "Run a test".
	NextStep bool
}

// AdvancedOpen reports whether the Advanced section must be open because
// one of its fields has an error.
func (f SettingsForm) AdvancedOpen() bool {
	if f.Errors.Get("bitwarden.importTimeoutSeconds") != "" || f.Errors.Get("sync.timeoutMinutes") != "" {
		return true
	}
	for _, p := range f.AdvancedPaths {
		if f.Errors.Get(p) != "" {
			return true
		}
	}
	return false
}

// DirectoryType is one directory type of the Settings form, with its
// fields (mirroring directory.Kind and its Fields, which web does not
// import).
type DirectoryType struct {
	Name, Title string
	// Index is the type's position, which the CSS that shows only the
	// chosen type's fields matches (app.css, type-0 … type-7).
	Index int
	// Groups are the type's fields outside Advanced, by sub-section.
	Groups []FieldGroup
	// Advanced are the fields folded into the Advanced section.
	Advanced []DirField
	// Presets are the names of the value sets the type offers ("ad").
	Presets []string
}

// TypeClass is the class of a type's option and sections.
func TypeClass(i int) string { return "type-" + strconv.Itoa(i) }

// FieldGroup is a sub-section of a type's fields ("" for the first,
// untitled one).
type FieldGroup struct {
	Name   string
	Fields []DirField
}

// Field kinds of DirField (directory.FieldKind's values).
const (
	KindText     = "text"
	KindURL      = "url"
	KindNumber   = "number"
	KindBool     = "checkbox"
	KindSecret   = "password"
	KindTextArea = "textarea"
	KindSecretTA = "secret-textarea"
	KindChoice   = "radio"
)

// DirField is one field of a directory type as the form shows it.
type DirField struct {
	Path, Label, Help, Kind, Placeholder string
	Options                              []FieldOption
	// Value is the value shown ("" for a secret); Checked is a checkbox's.
	Value   string
	Checked bool
	// Set and Typed are a secret's: stored, and typed but not saved.
	Set, Typed bool
	Error      string
	StepsTitle string
	Steps      []string
	// Dependents are the fields shown only for one of this field's values
	// (directory.Field.ShownWhen), each with When set.
	Dependents []DirField
	// When is a dependent's CSS class: "when-N" for the Nth option of a
	// choice, "when-on" / "when-off" for a checkbox.
	When string
}

// FieldOption is one choice of a choice field.
type FieldOption struct {
	Value, Label string
	Index        int
}

// OptClass is the class of a choice's Nth option.
func OptClass(i int) string { return "opt-" + strconv.Itoa(i) }

// ErrorPage is a plain error page's content.
type ErrorPage struct {
	Status  int
	Heading string
	Message string
	// RequestID lets an admin match the page to the server log.
	RequestID string
}

// textTrigger validates a text field shortly after typing stops, and on change.
const textTrigger = "input changed delay:500ms, change"

// liveValidate makes a field post its form to /settings/validate; the
// answer only swaps error slots out of band.
func liveValidate(trigger string) templ.Attributes {
	return templ.Attributes{
		"hx-post":    "/settings/validate",
		"hx-trigger": trigger,
		"hx-swap":    "none",
		"hx-sync":    "this:replace",
	}
}

// ErrorLink is one entry of an error summary: the message, linking to the
// field it is about.
type ErrorLink struct {
	Href, Text string
}

// HelpID is the HTML id of a field's help text, which its input names in
// aria-describedby ("okta.orgUrl" → "help-okta-orgUrl").
func HelpID(field string) string { return "help-" + strings.ReplaceAll(field, ".", "-") }

// Sentence presents a validation message as a sentence: a capital first
// letter, no backslash-escaped quotes, and a full stop.
// config's messages are written to also read well after a field name on
// the command line ("okta.orgUrl: must be …"); the console shows them
// alone.
func Sentence(msg string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return ""
	}
	// %q-quoted values inside quoted values: show the inner quotes as
	// typed, not backslash-escaped.
	msg = strings.ReplaceAll(msg, `\"`, `"`)
	r, size := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[size:]
	if last, _ := utf8.DecodeLastRuneInString(msg); !strings.ContainsRune(".!?)", last) {
		msg += "."
	}
	return msg
}

// inputType is the HTML input type of a one-line field. Numbers are text
// (inputmode decimal): a browser's number input would drop what the
// admin typed when it is not a number, instead of letting the server say
// what is wrong with it.
func inputType(kind string) string {
	if kind == KindURL {
		return "url"
	}
	return "text"
}

// textareaPlaceholder is a multi-line field's placeholder: for a stored
// secret, how to keep it.
func textareaPlaceholder(fl DirField) string {
	if fl.Kind == KindSecretTA && fl.Set {
		return "leave empty to keep the current one"
	}
	return fl.Placeholder
}

// PresetLabel names a preset on its button: short names are
// abbreviations ("ad" → "AD", "ldap" → "LDAP").
func PresetLabel(name string) string {
	if len(name) <= 4 {
		return strings.ToUpper(name)
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// ClearTyped forgets every "typed but not saved" note: the page answers
// something other than a failed save (a check, a preset).
func (f *SettingsForm) ClearTyped() {
	f.SecretTyped, f.WebhooksTyped = false, false
	for i := range f.DirectoryTypes {
		t := &f.DirectoryTypes[i]
		for g := range t.Groups {
			clearTyped(t.Groups[g].Fields)
		}
		clearTyped(t.Advanced)
	}
}

func clearTyped(fs []DirField) {
	for i := range fs {
		fs[i].Typed = false
		clearTyped(fs[i].Dependents)
	}
}

// FilterHelp is one directory type's filter grammar for the form.
type FilterHelp struct {
	// Index is the type's index (its type-N class).
	Index int
	// User and Group are the help texts of the user and group filter.
	User, Group string
}
