// Package config defines a sync profile's settings, their defaults, their
// validation and the JSON shape used by `dirsync config import/export`.
// It is a leaf package so the store, the engine, the CLI and the console
// can share one definition and one set of rules.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/dirsync/dirsync/internal/directory"
	"github.com/dirsync/dirsync/internal/secret"
)

// Settings is everything one sync profile needs.
type Settings struct {
	Directory Directory `json:"directory"`
	Bitwarden Bitwarden `json:"bitwarden"`
	Sync      Sync      `json:"sync"`
	Guard     Guard     `json:"guard"`
	Alerts    Alerts    `json:"alerts"`
}

// Guard is the deletion guard (contract §6): a run that would remove more
// members than the threshold is held for an admin's approval. The
// threshold is the smaller of the two limits; 0 turns a limit off, and
// with both off the guard is off.
type Guard struct {
	// MaxRemovals is an absolute count (default 50).
	MaxRemovals int `json:"maxRemovals"`
	// MaxRemovalPercent is a share of the synced members (default 10).
	MaxRemovalPercent float64 `json:"maxRemovalPercent"`
	// MaxMembershipRemovals and MaxMembershipRemovalPercent (of the group
	// memberships Bitwarden has now) hold a run that would take more
	// people out of groups, and so out of the collections groups grant,
	// than the smaller of the two (defaults 500 and 10; 0 turns one off).
	MaxMembershipRemovals       int     `json:"maxMembershipRemovals"`
	MaxMembershipRemovalPercent float64 `json:"maxMembershipRemovalPercent"`
	// MaxShrinkPercent holds a run whose read returned more than this share
	// fewer live users, or fewer group memberships, than the last
	// successful read with the same filters (default 10; 0 is off): a list
	// that ended early looks exactly like people leaving.
	MaxShrinkPercent float64 `json:"maxShrinkPercent"`
}

// Alerts are where failed, held and recovered runs are reported.
type Alerts struct {
	// WebhookURLs holds one URL per line. Slack and Teams webhook URLs
	// carry their own credentials, so the list is kept as a secret.
	WebhookURLs Secret `json:"webhookUrls"`
}

// Webhooks returns the webhook URLs, one per non-empty line.
func (a Alerts) Webhooks() []string {
	var out []string
	for l := range strings.SplitSeq(a.WebhookURLs.Reveal(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Threshold returns how many removals a run of synced members may make
// before it is held, and false when the guard is off.
func (g Guard) Threshold(synced int) (int, bool) {
	return threshold(g.MaxRemovals, g.MaxRemovalPercent, synced)
}

// MembershipThreshold returns how many group memberships a run may remove
// from an organization holding total memberships before it is held, and
// false when that guard is off.
func (g Guard) MembershipThreshold(total int) (int, bool) {
	return threshold(g.MaxMembershipRemovals, g.MaxMembershipRemovalPercent, total)
}

// threshold is the smaller of an absolute limit and a percentage of base;
// a limit of 0 is off, and with both off there is no threshold.
func threshold(abs int, pct float64, base int) (int, bool) {
	limit, on := 0, false
	if abs > 0 {
		limit, on = abs, true
	}
	if pct > 0 {
		p := int(pct * float64(base) / 100)
		if !on || p < limit {
			limit, on = p, true
		}
	}
	return limit, on
}

// Bitwarden holds the organization API key and server.
type Bitwarden struct {
	// Server is "us", "eu" or a self-hosted base URL.
	Server       string `json:"server"`
	ClientID     string `json:"clientId"`
	ClientSecret Secret `json:"clientSecret"`
	// ImportTimeoutSeconds bounds one import request (default 300). A
	// large first import can run for minutes while the server keeps going;
	// an import that times out is never sent again blindly.
	ImportTimeoutSeconds int `json:"importTimeoutSeconds,omitempty"`
}

// Sync holds the sync options (contract §1).
type Sync struct {
	IntervalMinutes   int    `json:"intervalMinutes"`
	RemoveDisabled    bool   `json:"removeDisabled"`
	OverwriteExisting bool   `json:"overwriteExisting"`
	LargeImport       bool   `json:"largeImport"`
	Users             bool   `json:"users"`
	UserFilter        string `json:"userFilter"`
	Groups            bool   `json:"groups"`
	GroupFilter       string `json:"groupFilter"`
	// InviteUsers is sent as inviteUsersAfterProvisioning: false makes
	// Bitwarden add new members as Staged, without an invitation email
	// (an admin invites them later). Default true.
	InviteUsers bool `json:"inviteUsers"`
	// TimeoutMinutes bounds a whole run (default 30): a run past it fails
	// with nothing pushed and gives the run lock back, so that a read that
	// hangs cannot block every later sync.
	TimeoutMinutes int `json:"timeoutMinutes,omitempty"`
}

// Limits and defaults.
const (
	MinIntervalMinutes   = 5
	MaxIntervalMinutes   = 7 * 24 * 60
	DefaultMaxRemovals   = 50
	DefaultMaxRemovalPct = 10.0
	// DefaultImportTimeoutSeconds is bitwarden.importTimeoutSeconds' default.
	DefaultImportTimeoutSeconds = 300
	// MinImportTimeoutSeconds and MaxImportTimeoutSeconds bound it.
	MinImportTimeoutSeconds = 30
	MaxImportTimeoutSeconds = 3600
	// DefaultMaxMembershipRemovals, DefaultMaxMembershipRemovalPct and
	// DefaultMaxShrinkPct are the membership and shrink guards' defaults.
	DefaultMaxMembershipRemovals   = 500
	DefaultMaxMembershipRemovalPct = 10.0
	DefaultMaxShrinkPct            = 10.0
	// DefaultTimeoutMinutes and MaxTimeoutMinutes bound sync.timeoutMinutes.
	DefaultTimeoutMinutes  = 30
	MaxTimeoutMinutes      = 24 * 60
	MaxWebhooks            = 5
	ServerUS               = "us"
	ServerEU               = "eu"
	RedactedSecret         = secret.Redacted
	maxTokenLen            = 4096
	maxFilterLen           = 4096
	organizationIDPrefix   = "organization."
	organizationIDExampleS = "organization.1b2c3d4e-…"
)

// Defaults returns the settings of a new profile.
func Defaults() Settings {
	return Settings{
		Directory: NewDirectory(defaultType()),
		Bitwarden: Bitwarden{Server: ServerUS, ImportTimeoutSeconds: DefaultImportTimeoutSeconds},
		Sync:      Sync{IntervalMinutes: MinIntervalMinutes, Users: true, Groups: true, InviteUsers: true, TimeoutMinutes: DefaultTimeoutMinutes},
		Guard: Guard{MaxRemovals: DefaultMaxRemovals, MaxRemovalPercent: DefaultMaxRemovalPct,
			MaxMembershipRemovals: DefaultMaxMembershipRemovals, MaxMembershipRemovalPercent: DefaultMaxMembershipRemovalPct,
			MaxShrinkPercent: DefaultMaxShrinkPct},
	}
}

// Secret is a string that never prints itself (see package secret).
type Secret = secret.Secret

// FieldErrors maps a field path ("okta.orgUrl", "sync.intervalMinutes")
// to what is wrong with it.
type FieldErrors map[string]string

func (fe FieldErrors) Error() string {
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("invalid settings:")
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s: %s", k, fe[k])
	}
	return b.String()
}

// Field paths used in FieldErrors and by the console's form.
const (
	FieldDirectoryType  = "directory.type"
	FieldBWServer       = "bitwarden.server"
	FieldBWClientID     = "bitwarden.clientId"
	FieldBWClientSecret = "bitwarden.clientSecret"
	FieldImportTimeout  = "bitwarden.importTimeoutSeconds"
	FieldInviteUsers    = "sync.inviteUsers"
	FieldInterval       = "sync.intervalMinutes"
	FieldUserFilter     = "sync.userFilter"
	FieldGroupFilter    = "sync.groupFilter"
	FieldUsersGroups    = "sync.users"
	FieldMaxRemovals    = "guard.maxRemovals"
	FieldMaxRemovalPct  = "guard.maxRemovalPercent"
	// FieldMaxMembershipRemovals and the fields below it are issue 8's
	// guards and run timeout.
	FieldMaxMembershipRemovals   = "guard.maxMembershipRemovals"
	FieldMaxMembershipRemovalPct = "guard.maxMembershipRemovalPercent"
	FieldMaxShrinkPct            = "guard.maxShrinkPercent"
	FieldTimeout                 = "sync.timeoutMinutes"
	FieldWebhooks                = "alerts.webhookUrls"
)

// Normalize trims values and fills defaults for unset tuning fields, so that
// equal settings compare equal.
func (s *Settings) Normalize() {
	s.Directory.normalize()
	if s.Sync.TimeoutMinutes == 0 {
		s.Sync.TimeoutMinutes = DefaultTimeoutMinutes
	}
	if hooks := s.Alerts.Webhooks(); len(hooks) > 0 {
		s.Alerts.WebhookURLs = Secret(strings.Join(hooks, "\n"))
	} else {
		s.Alerts.WebhookURLs = ""
	}
	srv := strings.TrimSpace(s.Bitwarden.Server)
	if l := strings.ToLower(srv); l == ServerUS || l == ServerEU || l == "" {
		srv = l
		if srv == "" {
			srv = ServerUS
		}
	} else {
		srv = strings.TrimRight(srv, "/")
	}
	s.Bitwarden.Server = srv
	s.Bitwarden.ClientID = strings.TrimSpace(s.Bitwarden.ClientID)
	s.Bitwarden.ClientSecret = Secret(strings.TrimSpace(string(s.Bitwarden.ClientSecret)))
	if s.Bitwarden.ImportTimeoutSeconds == 0 {
		s.Bitwarden.ImportTimeoutSeconds = DefaultImportTimeoutSeconds
	}
	s.Sync.UserFilter = strings.TrimSpace(s.Sync.UserFilter)
	s.Sync.GroupFilter = strings.TrimSpace(s.Sync.GroupFilter)
}

// Validate checks every field and returns all problems at once (nil if none).
// Secrets are checked for presence only: Okta documents no token format.
// requireSecrets is false when secrets are kept from the stored profile.
func (s Settings) Validate(requireSecrets bool) error {
	fe := FieldErrors{}
	if cur := s.Directory.Current(); cur == nil {
		fe[FieldDirectoryType] = unsupportedType(s.Directory.Type)
	} else {
		for k, v := range cur.Validate(requireSecrets) {
			fe[k] = v
		}
	}
	filters := s.Directory.Filters()
	if m := s.Guard.MaxRemovals; m < 0 {
		fe[FieldMaxRemovals] = fmt.Sprintf("must be 0 (off) or a positive number of members (got %d)", m)
	}
	if p := s.Guard.MaxRemovalPercent; !(p >= 0 && p <= 100) { // NaN too
		fe[FieldMaxRemovalPct] = fmt.Sprintf("must be from 0 (off) to 100 percent (got %g)", p)
	}
	if m := s.Guard.MaxMembershipRemovals; m < 0 {
		fe[FieldMaxMembershipRemovals] = fmt.Sprintf("must be 0 (off) or a positive number of group memberships (got %d)", m)
	}
	if p := s.Guard.MaxMembershipRemovalPercent; !(p >= 0 && p <= 100) {
		fe[FieldMaxMembershipRemovalPct] = fmt.Sprintf("must be from 0 (off) to 100 percent of the memberships in Bitwarden (got %g)", p)
	}
	if p := s.Guard.MaxShrinkPercent; !(p >= 0 && p <= 100) {
		fe[FieldMaxShrinkPct] = fmt.Sprintf("must be from 0 (off) to 100 percent (got %g)", p)
	}
	if m := s.Sync.TimeoutMinutes; m < 1 || m > MaxTimeoutMinutes {
		fe[FieldTimeout] = fmt.Sprintf("must be a whole number of minutes from 1 to %d (got %d)", MaxTimeoutMinutes, m)
	}
	if hooks := s.Alerts.Webhooks(); len(hooks) > MaxWebhooks {
		fe[FieldWebhooks] = fmt.Sprintf("at most %d webhook URLs (got %d)", MaxWebhooks, len(hooks))
	} else {
		for i, h := range hooks {
			if err := ValidateWebhookURL(h); err != nil {
				fe[FieldWebhooks] = fmt.Sprintf("line %d: %v", i+1, err)
				break
			}
		}
	}
	if err := ValidateServer(s.Bitwarden.Server); err != nil {
		fe[FieldBWServer] = err.Error()
	}
	if err := ValidateClientID(s.Bitwarden.ClientID); err != nil {
		fe[FieldBWClientID] = err.Error()
	}
	if requireSecrets && !s.Bitwarden.ClientSecret.IsSet() {
		fe[FieldBWClientSecret] = "the organization API key's client secret is required (Bitwarden admin console → Settings → Organization info → API key)"
	} else if len(s.Bitwarden.ClientSecret) > maxTokenLen {
		fe[FieldBWClientSecret] = "the client secret is too long"
	}
	if t := s.Bitwarden.ImportTimeoutSeconds; t < MinImportTimeoutSeconds || t > MaxImportTimeoutSeconds {
		fe[FieldImportTimeout] = fmt.Sprintf("must be a whole number of seconds from %d to %d (got %d); large first imports can take minutes, so the default is %d",
			MinImportTimeoutSeconds, MaxImportTimeoutSeconds, t, DefaultImportTimeoutSeconds)
	}
	if m := s.Sync.IntervalMinutes; m < MinIntervalMinutes || m > MaxIntervalMinutes {
		fe[FieldInterval] = fmt.Sprintf("must be a whole number of minutes from %d to %d (got %d)", MinIntervalMinutes, MaxIntervalMinutes, m)
	}
	if !s.Sync.Users && !s.Sync.Groups {
		fe[FieldUsersGroups] = "sync users, groups, or both; with neither there is nothing to sync"
	}
	for field, v := range map[string]string{FieldUserFilter: s.Sync.UserFilter, FieldGroupFilter: s.Sync.GroupFilter} {
		if len(v) > maxFilterLen {
			fe[field] = "the filter is too long"
		} else if _, err := filters.Parse(v, field == FieldUserFilter); err != nil {
			fe[field] = err.Error()
		}
	}
	checkFields(s, fe) // validate.go: NaN/Inf, control characters, any field
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// unsupportedType says that typ is no registered directory type, and
// names the ones there are.
func unsupportedType(typ string) string {
	var names []string
	for _, k := range directory.Kinds() {
		names = append(names, fmt.Sprintf("%q", k.Name))
	}
	switch len(names) {
	case 0:
		return fmt.Sprintf("unsupported directory type %q; this binary has no directory types", typ)
	case 1:
		return fmt.Sprintf("unsupported directory type %q; the only type is %s", typ, names[0])
	}
	return fmt.Sprintf("unsupported directory type %q; the types are %s", typ, strings.Join(names, ", "))
}

// ValidateBaseURL checks a directory or self-hosted server URL: absolute,
// https (http only on loopback hosts), no query, fragment or credentials.
func ValidateBaseURL(raw string) error {
	if raw == "" {
		return errors.New("the URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", raw, unwrapURLError(err))
	}
	if u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%q is not an absolute URL; start it with https://", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%q must not contain a user name or password", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return fmt.Errorf("%q must not have a query (?…) or fragment (#…)", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return fmt.Errorf("%q must use https (http is allowed only for 127.0.0.1, ::1 and localhost)", raw)
		}
	default:
		return fmt.Errorf("%q has scheme %q; use https", raw, u.Scheme)
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q has an invalid port %q", raw, p)
		}
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// IsLoopbackHost reports whether host is 127.0.0.0/8, ::1 or localhost.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ValidateWebhookURL checks an alert webhook URL: https (http only on
// loopback hosts). The message never repeats the URL, which may hold a
// credential.
func ValidateWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errors.New("not an absolute https:// URL")
	}
	if u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
		return fmt.Errorf("the URL for %s must use https", u.Hostname())
	}
	return nil
}

// ValidateServer checks bitwarden.server: "us", "eu" or a base URL.
func ValidateServer(s string) error {
	if s == ServerUS || s == ServerEU {
		return nil
	}
	if err := ValidateBaseURL(s); err != nil {
		return fmt.Errorf(`use "us", "eu" or your self-hosted server's base URL (https://vault.example.com): %v`, err)
	}
	return nil
}

// ValidateClientID checks the organization API key's client id.
func ValidateClientID(id string) error {
	if id == "" {
		return fmt.Errorf("the organization API key's client id is required (%s)", organizationIDExampleS)
	}
	if !strings.HasPrefix(id, organizationIDPrefix) || len(id) == len(organizationIDPrefix) {
		return fmt.Errorf("%q is not an organization client id; it starts with %q (a personal API key, user.…, cannot import)", id, organizationIDPrefix)
	}
	if len(id) > 200 || strings.ContainsAny(id, " \t\r\n") {
		return fmt.Errorf("%q is not a valid client id", id)
	}
	return nil
}

// MaxFileSize is the largest settings file ParseFile reads (1 MiB).
const MaxFileSize = 1 << 20

// File is the JSON shape of `dirsync config import/export`.
type File struct {
	// Directory is {"type":…, "<type>":{…}}: read by parseDirectory
	// against the registered types' settings (directory_file.go).
	Directory json.RawMessage `json:"directory"`
	Bitwarden *fileBitwarden  `json:"bitwarden"`
	Sync      *fileSync       `json:"sync"`
	Guard     *fileGuard      `json:"guard,omitempty"`
	Alerts    *fileAlerts     `json:"alerts,omitempty"`
}

type fileGuard struct {
	MaxRemovals                 *int     `json:"maxRemovals"`
	MaxRemovalPercent           *float64 `json:"maxRemovalPercent"`
	MaxMembershipRemovals       *int     `json:"maxMembershipRemovals"`
	MaxMembershipRemovalPercent *float64 `json:"maxMembershipRemovalPercent"`
	MaxShrinkPercent            *float64 `json:"maxShrinkPercent"`
}

type fileAlerts struct {
	// WebhookURLs: "[REDACTED]" (as exported) keeps the stored list.
	WebhookURLs []string `json:"webhookUrls"`
}

type fileBitwarden struct {
	Server               string  `json:"server"`
	ClientID             string  `json:"clientId"`
	ClientSecret         *string `json:"clientSecret"`
	ImportTimeoutSeconds *int    `json:"importTimeoutSeconds,omitempty"`
}

type fileSync struct {
	IntervalMinutes   *int    `json:"intervalMinutes"`
	RemoveDisabled    *bool   `json:"removeDisabled"`
	OverwriteExisting *bool   `json:"overwriteExisting"`
	LargeImport       *bool   `json:"largeImport"`
	Users             *bool   `json:"users"`
	UserFilter        *string `json:"userFilter"`
	Groups            *bool   `json:"groups"`
	GroupFilter       *string `json:"groupFilter"`
	InviteUsers       *bool   `json:"inviteUsers,omitempty"`
	TimeoutMinutes    *int    `json:"timeoutMinutes,omitempty"`
}

// Kept says which secrets a settings file left to the stored profile.
type Kept struct {
	ClientSecret, Webhooks bool
	// Directory holds the paths of the directory section's kept secrets
	// ("okta.token").
	Directory map[string]bool
}

// Any reports whether any secret was left to the stored profile.
func (k Kept) Any() bool { return k.ClientSecret || k.Webhooks || len(k.Directory) > 0 }

// Has reports whether the secret at path was left to the stored profile
// (the keep function of CarrySecrets).
func (k Kept) Has(path string) bool {
	switch path {
	case FieldBWClientSecret:
		return k.ClientSecret
	case FieldWebhooks:
		return k.Webhooks
	}
	return k.Directory[path]
}

// ParseFileKeep reads a settings file strictly: unknown fields, wrong
// types and trailing data are errors naming the field. Missing sync
// options take their defaults. A secret given as "[REDACTED]" (from
// `config export`) or left out means "keep the stored one": keep reports
// which were kept, and the caller fills them from the stored profile
// (CarrySecrets) before Validate.
func ParseFileKeep(r io.Reader) (s Settings, keep Kept, err error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return s, keep, fmt.Errorf("settings file: %w", err)
	}
	if len(b) > MaxFileSize {
		return s, keep, fmt.Errorf("settings file: larger than the %d MiB limit; a settings file is a few KiB, so check that this is the right file", MaxFileSize>>20)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return s, keep, fmt.Errorf("settings file: %s", describeJSONError(err))
	}
	if dec.More() {
		return s, keep, errors.New("settings file: unexpected data after the JSON object")
	}
	if err := checkKeys(b, reflect.TypeOf(f), ""); err != nil { // validate.go
		return s, keep, err
	}
	s = Defaults()
	fe := FieldErrors{}
	if err := parseDirectory(f.Directory, &s, &keep, fe); err != nil { // directory_file.go
		return s, keep, err
	}
	if f.Bitwarden == nil {
		fe["bitwarden"] = `missing; add {"server":"us","clientId":…,"clientSecret":…}`
	} else {
		b := f.Bitwarden
		s.Bitwarden.Server = b.Server
		s.Bitwarden.ClientID = b.ClientID
		setInt(&s.Bitwarden.ImportTimeoutSeconds, b.ImportTimeoutSeconds)
		if b.ClientSecret == nil || *b.ClientSecret == RedactedSecret {
			keep.ClientSecret = true
		} else {
			s.Bitwarden.ClientSecret = Secret(*b.ClientSecret)
		}
	}
	if y := f.Sync; y != nil {
		setInt(&s.Sync.IntervalMinutes, y.IntervalMinutes)
		setBool(&s.Sync.RemoveDisabled, y.RemoveDisabled)
		setBool(&s.Sync.OverwriteExisting, y.OverwriteExisting)
		setBool(&s.Sync.LargeImport, y.LargeImport)
		setBool(&s.Sync.Users, y.Users)
		setBool(&s.Sync.Groups, y.Groups)
		setBool(&s.Sync.InviteUsers, y.InviteUsers)
		if y.UserFilter != nil {
			s.Sync.UserFilter = *y.UserFilter
		}
		if y.GroupFilter != nil {
			s.Sync.GroupFilter = *y.GroupFilter
		}
		setInt(&s.Sync.TimeoutMinutes, y.TimeoutMinutes)
	}
	if g := f.Guard; g != nil {
		setInt(&s.Guard.MaxRemovals, g.MaxRemovals)
		if g.MaxRemovalPercent != nil {
			s.Guard.MaxRemovalPercent = *g.MaxRemovalPercent
		}
		setInt(&s.Guard.MaxMembershipRemovals, g.MaxMembershipRemovals)
		if g.MaxMembershipRemovalPercent != nil {
			s.Guard.MaxMembershipRemovalPercent = *g.MaxMembershipRemovalPercent
		}
		if g.MaxShrinkPercent != nil {
			s.Guard.MaxShrinkPercent = *g.MaxShrinkPercent
		}
	}
	if a := f.Alerts; a != nil && !(len(a.WebhookURLs) == 1 && a.WebhookURLs[0] == RedactedSecret) {
		s.Alerts.WebhookURLs = Secret(strings.Join(a.WebhookURLs, "\n"))
	} else if a != nil {
		keep.Webhooks = true
	}
	if len(fe) > 0 {
		return s, keep, fe
	}
	s.Normalize()
	return s, keep, nil
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}

// WriteFile writes settings in the import shape with secrets redacted.
func WriteFile(w io.Writer, s Settings) error {
	red := func(sec Secret) *string {
		v := ""
		if sec.IsSet() {
			v = RedactedSecret
		}
		return &v
	}
	dir, err := json.Marshal(s.Directory) // secrets redacted by secret.Secret
	if err != nil {
		return err
	}
	f := File{
		Directory: dir,
		Bitwarden: &fileBitwarden{Server: s.Bitwarden.Server, ClientID: s.Bitwarden.ClientID, ClientSecret: red(s.Bitwarden.ClientSecret), ImportTimeoutSeconds: &s.Bitwarden.ImportTimeoutSeconds},
		Sync: &fileSync{
			IntervalMinutes: &s.Sync.IntervalMinutes, RemoveDisabled: &s.Sync.RemoveDisabled,
			OverwriteExisting: &s.Sync.OverwriteExisting, LargeImport: &s.Sync.LargeImport,
			Users: &s.Sync.Users, UserFilter: &s.Sync.UserFilter, Groups: &s.Sync.Groups, GroupFilter: &s.Sync.GroupFilter,
			InviteUsers:    &s.Sync.InviteUsers,
			TimeoutMinutes: &s.Sync.TimeoutMinutes,
		},
		Guard: &fileGuard{MaxRemovals: &s.Guard.MaxRemovals, MaxRemovalPercent: &s.Guard.MaxRemovalPercent,
			MaxMembershipRemovals: &s.Guard.MaxMembershipRemovals, MaxMembershipRemovalPercent: &s.Guard.MaxMembershipRemovalPercent,
			MaxShrinkPercent: &s.Guard.MaxShrinkPercent},
		Alerts: &fileAlerts{WebhookURLs: []string{}},
	}
	if s.Alerts.WebhookURLs.IsSet() {
		f.Alerts.WebhookURLs = []string{RedactedSecret}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be a %s, not a JSON %s", te.Field, te.Type.String(), te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("not valid JSON at byte %d: %v", se.Offset, se)
	case errors.Is(err, io.EOF):
		return "the file is empty"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ") + "; check the spelling against `dirsync config export`"
	}
	return err.Error()
}

// SameDirectory reports whether two settings read the same directory; when
// it changes, the sync cache must be cleared.
func SameDirectory(a, b Settings) bool {
	if a.Directory.Type != b.Directory.Type {
		return false
	}
	x, y := a.Directory.Current(), b.Directory.Current()
	if x == nil || y == nil {
		return x == nil && y == nil
	}
	return x.Identity() == y.Identity()
}

// SameOrganization reports whether two settings push to the same Bitwarden
// organization.
func SameOrganization(a, b Settings) bool {
	return a.Bitwarden.Server == b.Bitwarden.Server && a.Bitwarden.ClientID == b.Bitwarden.ClientID
}
